"""Per registered method: every top-level key of the study file it does not use is refused with
the file and the line of the key; every key it uses is accepted. The parser decides this in one
place from the method's declared traits; this test states the expected answer per method
independently, so a wrong trait shows up here."""

from __future__ import annotations

import pytest

from searchlab import methods
from searchlab.errors import SpecError
from searchlab.spec.parse import _TOP_KEYS, parse_text

#: the smallest valid study of each method
MINIMAL = {
    "search": "name: m\nworkload: sphere\nmetric: {name: loss, mode: min}\n"
              "space: {x1: {uniform: [-1, 1]}}\nbudget: {trials: 2}\n",
    "cdt": "name: m\nmethod: {name: cdt, seeds: 1}\n",
    "deep_ga": "name: m\nmethod: {name: deep_ga, population: 8, truncation: 2}\n",
    "stn": "name: m\nmethod: {name: stn, data: digits}\nspace: {dropout1: {uniform: [0, 0.9]}}\n",
    "lr_free": "name: m\nmethod: {name: lr_free}\n",
}
#: the top-level keys each method has no use for
UNUSED = {
    "search": set(),
    "cdt": {"workload", "metric", "space", "search"},
    "deep_ga": {"workload", "metric", "search"},  # search: without a space there is nothing
    "stn": {"workload", "metric", "search"},
    "lr_free": {"workload", "metric", "space", "search"},
}
#: a valid value of every top-level key (a method may need its own)
SAMPLE = {
    "description": "description: a study",
    "workload": "workload: sphere",
    "metric": "metric: {name: loss, mode: min}",
    "space": "space: {x1: {uniform: [-1, 1]}}",
    "search": "search: {algorithm: random, seed: 3}",
    "stopping": "stopping: {scheduler: median}",
    "method": "method: search",
    "budget": "budget: {concurrency: 2}",
    "resources": "resources: {cpu: 1}",
    "tracking": "tracking: {enabled: false}",
    "storage": "storage: results",
}
OWN_SAMPLE = {("deep_ga", "space"): "space: {sigma: {uniform: [0.01, 0.1]}}\nbudget: {trials: 2}"}


def test_every_registered_method_has_a_case():
    assert set(MINIMAL) == set(UNUSED) == set(methods.REGISTRY)
    assert set(SAMPLE) == set(_TOP_KEYS) - {"name"}


@pytest.mark.parametrize("name", list(methods.REGISTRY))
def test_every_top_level_key_a_method_does_not_use_is_refused_with_its_line(name):
    base = MINIMAL[name]
    parse_text(base, "m.yaml")  # valid as it is
    written = {line.split(":")[0] for line in base.splitlines()}
    for key in sorted(set(SAMPLE) - written):
        text = base + OWN_SAMPLE.get((name, key), SAMPLE[key]) + "\n"
        line = base.count("\n") + 1
        if key in UNUSED[name]:
            with pytest.raises(SpecError, match=f"does not use '{key}'") as e:
                parse_text(text, "m.yaml")
            assert (e.value.file, e.value.line, e.value.path) == ("m.yaml", line, key), key
            assert "\n" not in str(e.value)
        else:
            parse_text(text, "m.yaml")  # used: accepted


@pytest.mark.parametrize("name", [n for n in methods.REGISTRY if n != "search"])
def test_budget_keys_a_method_ignores_are_refused(name):
    """A method that lists its own trials refuses budget.trials; one whose trials have lengths of
    their own refuses budget.max_epochs unless a stopping rule reads it."""
    base = MINIMAL[name]
    with pytest.raises(SpecError, match="lists its own trials"):
        parse_text(base + "budget: {trials: 4}\n", "m.yaml")
    with pytest.raises(SpecError, match="budget.max_epochs is only the horizon") as e:
        parse_text(base + "budget: {max_epochs: 4}\n", "m.yaml")
    assert e.value.path == "budget.max_epochs"
    parse_text(base + "budget: {max_epochs: 4}\nstopping: {scheduler: asha}\n", "m.yaml")


def test_what_search_needs_is_required():
    for key in ("workload", "metric", "space"):
        text = "".join(line + "\n" for line in MINIMAL["search"].splitlines()
                       if not line.startswith(key))
        with pytest.raises(SpecError, match=f"missing required key '{key}'"):
            parse_text(text, "m.yaml")
    with pytest.raises(SpecError, match="missing budget.trials"):
        parse_text(MINIMAL["search"].replace("budget: {trials: 2}\n", ""), "m.yaml")
    with pytest.raises(SpecError, match="remove budget.trials"):
        parse_text(MINIMAL["search"].replace("uniform: [-1, 1]", "grid: [-1, 1]")
                   + "search: {algorithm: grid}\n", "m.yaml")
