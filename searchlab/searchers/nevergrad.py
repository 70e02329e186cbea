"""Nevergrad through Ray Tune's ``NevergradSearch``; a conditional choice becomes a nested
``Choice`` of ``Dict`` parametrizations. The optimizer gets the study's budget (``NGOpt`` and
others choose their algorithm from it and refuse to run without one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from searchlab.searchers.base import (
    RaySearcherSuggester,
    SearchContext,
    Searcher,
    SearchSettings,
    Suggester,
    continued_seed,
    first_grid_param,
)
from searchlab.spec.space import OPTION_KEY, Choice, Conditional, Constant, Float, Int, Param, Space

if TYPE_CHECKING:
    from searchlab.spec.models import Study


def to_nevergrad(space: Space) -> Any:
    import nevergrad as ng

    def param(p: Param) -> Any:
        if isinstance(p, Constant):
            return p.value
        if isinstance(p, Conditional):
            return ng.p.Choice([ng.p.Dict(**{OPTION_KEY: o}, **items(s))
                                for o, s in p.options.items()])
        if isinstance(p, Choice):
            return ng.p.Choice(list(p.values))
        if isinstance(p, Int):
            if p.step > 1 or (p.high - p.low) < 16:
                return ng.p.TransitionChoice(list(range(p.low, p.high + 1, p.step)))
            cls = ng.p.Log if p.log else ng.p.Scalar
            return cls(lower=p.low, upper=p.high).set_integer_casting()
        if not isinstance(p, Float):
            raise TypeError(f"unknown parameter {p!r}")
        if p.step:
            n = int(round((p.high - p.low) / p.step))
            return ng.p.TransitionChoice([p.low + i * p.step for i in range(n + 1)])
        return (ng.p.Log if p.log else ng.p.Scalar)(lower=p.low, upper=p.high)

    def items(s: Space) -> dict[str, Any]:
        return {name: param(p) for name, p in s.params.items()}

    return ng.p.Dict(**items(space))


class NevergradSettings(SearchSettings):
    sampler: Literal["ngopt", "cma", "oneplusone", "de", "pso", "random"] = "ngopt"


class NevergradSearch(Searcher[NevergradSettings]):
    name: ClassVar[str] = "nevergrad"
    settings_model: ClassVar[type[SearchSettings]] = NevergradSettings

    @property
    def sampler(self) -> str:
        return self.settings.sampler

    def check(self, space: Space, study: Study) -> None:
        grid = first_grid_param(space)
        if grid is not None:
            raise ValueError(f"nevergrad cannot enumerate grid parameter '{grid}'; write it as "
                             "{choice: [...]} or use search.algorithm random/grid")

    def build(self, space: Space, ctx: SearchContext) -> Suggester:
        import nevergrad as ng
        from ray.tune.search.nevergrad import NevergradSearch as RayNevergradSearch

        optimizer = {
            "ngopt": ng.optimizers.NGOpt, "cma": ng.optimizers.CMA,
            "oneplusone": ng.optimizers.OnePlusOne, "de": ng.optimizers.DE,
            "pso": ng.optimizers.PSO, "random": ng.optimizers.RandomSearch,
        }[self.settings.sampler]
        parametrization = to_nevergrad(space)
        seed = continued_seed(self.settings.seed, len(ctx.asked))
        if seed is not None:
            parametrization.random_state.seed(seed)
        # a study that goes on: the trials it ran first, as Ray's points_to_evaluate (Nevergrad's
        # suggest), asked again in order and told their results as they are replayed
        searcher = RayNevergradSearch(
            space=parametrization, optimizer=optimizer, metric=ctx.metric, mode=ctx.mode,
            optimizer_kwargs={"num_workers": ctx.concurrency, "budget": ctx.trials or 1},
            points_to_evaluate=[space.nest(c) for c in ctx.asked] or None)
        return RaySearcherSuggester(searcher, space, ctx.trials)
