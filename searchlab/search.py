"""Searchers: the study's ``search`` block -> a Ray Tune searcher and param_space.

Every algorithm enters through Ray Tune's searcher interface: random and grid through
``BasicVariantGenerator``, Optuna through ``OptunaSearch`` (define-by-run, so conditional spaces
are native), Nevergrad through ``NevergradSearch`` (nested ``Choice`` of ``Dict``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from searchlab.spec.models import SearchSpec
from searchlab.spec.space import Space


@dataclass
class SearchPlan:
    searcher: Any  # a ray.tune Searcher, or None for Ray's default variant generator
    param_space: dict[str, Any]
    num_samples: int


def build_search(search: SearchSpec, space: Space, trials: int | None, metric: str, mode: str,
                 concurrency: int) -> SearchPlan:
    algo = search.algorithm
    if algo == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        gen = BasicVariantGenerator(random_state=search.seed, max_concurrent=0)
        return SearchPlan(gen, space.to_ray(), trials or 1)
    if algo == "grid":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        gen = BasicVariantGenerator(random_state=search.seed)
        return SearchPlan(gen, space.to_ray(grid=True), search.repeats)
    if algo == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        searcher = OptunaSearch(space=space.suggest_optuna, metric=metric, mode=mode,
                                sampler=_optuna_sampler(search.sampler_name, search.seed))
        return SearchPlan(searcher, {}, trials or 1)
    if algo == "nevergrad":
        import nevergrad as ng
        from ray.tune.search.nevergrad import NevergradSearch

        optimizer = {
            "ngopt": ng.optimizers.NGOpt, "cma": ng.optimizers.CMA,
            "oneplusone": ng.optimizers.OnePlusOne, "de": ng.optimizers.DE,
            "pso": ng.optimizers.PSO, "random": ng.optimizers.RandomSearch,
        }[search.sampler_name]
        parametrization = space.to_nevergrad()
        if search.seed is not None:
            parametrization.random_state.seed(search.seed)
        searcher = NevergradSearch(space=parametrization, optimizer=optimizer, metric=metric,
                                   mode=mode, optimizer_kwargs={"num_workers": concurrency})
        return SearchPlan(searcher, {}, trials or 1)
    raise ValueError(f"unknown search algorithm {algo}")


def _optuna_sampler(name: str, seed: int | None) -> Any:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)
