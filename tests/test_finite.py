"""NaN and infinities are refused everywhere a study file gives a number (unless the key says
what they mean), and sizes are positive: each with its file:line at validate, never at run time.

The per-model test iterates the registries, so a new method, searcher or stopping rule is covered
without editing it."""

from __future__ import annotations

import math
import types
import typing

import pytest
from pydantic import BaseModel, ValidationError

from searchlab import methods, searchers, stopping
from searchlab.errors import SpecError
from searchlab.spec import models
from searchlab.spec.parse import parse_text

SEARCH = "name: t\nworkload: sphere\nmetric: {name: loss, mode: min}\n" \
         "space: {x: {uniform: [0, 1]}}\nbudget: {trials: 3}\n"


@pytest.mark.parametrize("text, where, words", [
    # the cases
    ("name: t\nmethod: {name: deep_ga, hidden: [16, -3]}\n", "2: method.hidden", "positive"),
    ("name: t\nmethod: {name: deep_ga, hidden: [0]}\n", "2: method.hidden", "positive"),
    ("name: t\nmethod: {name: deep_ga, target_score: .nan}\n", "2: method.target_score",
     "finite"),
    ("name: t\nmethod: {name: deep_ga}\nsearch: {algorithm: random}\n", "3: search",
     "nothing to search"),
    ("name: t\nmethod: {name: lr_free, max_tau: .inf}\n", "2: method.max_tau", "finite"),
    ("name: t\nmethod: {name: lr_free, sensitivity_lrs: [.nan, 1]}\n",
     "2: method.sensitivity_lrs[0]", "finite"),
    ("name: t\nmethod: {name: cdt, zooming: {confidence: .inf}}\n",
     "2: method.zooming.confidence", "finite"),
    # the generic base configuration: every block's numbers
    ("name: t\nmethod: {name: deep_ga, sigma: .inf}\n", "2: method.sigma", "finite"),
    ("name: t\nmethod: {name: stn, lr: .nan, data: digits}\nspace: {dropout1: {uniform: [0, 1]}}\n",
     "2: method.lr", "finite"),
    ("name: t\nmethod: {name: stn, init: {dropout1: .inf}, data: digits}\n"
     "space: {dropout1: {uniform: [0, 1]}}\n", "2: method.init.dropout1", "finite"),
    (SEARCH.replace("trials: 3", "trials: 3, time_limit: .inf"), "5: budget.time_limit",
     "finite"),
    (SEARCH + "resources: {cpu: .nan}\n", "6: resources.cpu", "finite"),
    (SEARCH + "resources: {worker_gpu: -.inf}\n", "6: resources.worker_gpu", "finite"),
    (SEARCH + "stopping: {scheduler: asha, reduction_factor: .inf}\n",
     "6: stopping.reduction_factor", "finite"),
    (SEARCH + "stopping: {scheduler: pbt, quantile_fraction: .nan}\n",
     "6: stopping.quantile_fraction", "finite"),
    (SEARCH + "stopping: {scheduler: predictive, delta: .nan}\n", "6: stopping.delta", "finite"),
    # the space and the known points
    (SEARCH.replace("x: {uniform: [0, 1]}", "x: {uniform: [0, 1]}, c: .nan"), "4: space.c",
     "finite"),
    (SEARCH.replace("x: {uniform: [0, 1]}", "x: {uniform: [0, 1]}, c: {constant: .inf}"),
     "4: space.c.constant", "finite"),
    (SEARCH.replace("x: {uniform: [0, 1]}", "x: {uniform: [0, .inf]}"), "4: space.x.uniform[1]",
     "finite"),
    (SEARCH + "search: {algorithm: random, points: [{x: .nan}]}\n", "6: search.points[0].x",
     "[0.0, 1.0]"),
    # sizes
    (SEARCH + "search: {algorithm: random, seed: -5}\n", "6: search.seed", "greater than"),
    (SEARCH + "stopping: {scheduler: predictive, rungs: [0, 2]}\n", "6: stopping.rungs[0]",
     "greater than or equal to 1"),
])
def test_non_finite_numbers_and_non_positive_sizes_are_refused_with_their_line(text, where,
                                                                               words):
    with pytest.raises(SpecError) as e:
        parse_text(text, "s.yaml")
    lines = e.value.lines()
    assert any(line.startswith(f"s.yaml:{where}: ") and words in line for line in lines), lines


def _float_fields(model: type[BaseModel]) -> list[str]:
    """The fields of ``model`` that hold one number (float or float | None)."""
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        members = typing.get_args(ann) if typing.get_origin(ann) in (typing.Union,
                                                                        types.UnionType) else (ann,)
        if float in members:
            out.append(name)
    return out


def _settings_models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = [models.BudgetSpec, models.ResourcesSpec]
    for registry in (methods.REGISTRY, searchers.REGISTRY, stopping.REGISTRY):
        found += [registry.load(name).settings_model for name in registry]
    return found


@pytest.mark.parametrize("model", _settings_models(), ids=lambda m: m.__name__)
def test_every_float_setting_of_every_registered_extension_refuses_nan_and_infinity(model):
    for name in _float_fields(model):
        for bad in (math.nan, math.inf, -math.inf):
            with pytest.raises(ValidationError) as e:
                model.model_validate({name: bad})
            assert any(err["loc"][:1] == (name,) and "finite" in err["msg"]
                       for err in e.value.errors()), (model.__name__, name, e.value.errors())
