"""Random and grid search through Ray Tune's variant generator (``generate_variants``), with the
space translated to Ray's ``param_space`` language here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from searchlab.searchers.base import SearchContext, Searcher, SearchSettings, Suggester
from searchlab.spec.space import OPTION_KEY, Choice, Conditional, Constant, Float, Int, Space

if TYPE_CHECKING:
    from searchlab.spec.models import Study


def to_ray(space: Space, grid: bool = False) -> dict[str, Any]:
    """Ray Tune param_space. ``grid=True`` enumerates choices, ints and grids."""
    from ray import tune

    out: dict[str, Any] = {}
    for name, p in space.params.items():
        if isinstance(p, Constant):
            out[name] = p.value
        elif isinstance(p, Conditional):
            opts = [{OPTION_KEY: o, **to_ray(s, grid)} for o, s in p.options.items()]
            out[name] = tune.grid_search(opts) if grid else tune.choice(opts)
        elif isinstance(p, Choice):
            vals = list(p.values)
            out[name] = tune.grid_search(vals) if (grid or p.grid) else tune.choice(vals)
        elif isinstance(p, Int):
            if grid:
                out[name] = tune.grid_search(list(range(p.low, p.high + 1, p.step)))
            elif p.log:
                out[name] = tune.lograndint(p.low, p.high + 1)
            elif p.step > 1:
                out[name] = tune.qrandint(p.low, p.high, p.step)
            else:
                out[name] = tune.randint(p.low, p.high + 1)
        elif isinstance(p, Float):
            if p.step:
                out[name] = (tune.qloguniform if p.log else tune.quniform)(p.low, p.high, p.step)
            else:
                out[name] = (tune.loguniform if p.log else tune.uniform)(p.low, p.high)
    return out


class VariantSuggester(Suggester):
    """Configs from Ray's variant generator: ``rounds`` passes over the param_space (each pass
    enumerates its grid parameters and samples the rest), seeded once for the whole study."""

    def __init__(self, space: Space, param_space: dict[str, Any], rounds: int,
                 seed: int | None) -> None:
        import numpy as np

        self.space, self.param_space, self.rounds = space, param_space, rounds
        self.random_state = np.random.RandomState(seed)
        self._variants = self._generate()
        self.total = _grid_points(space) * rounds

    def _generate(self) -> Iterator[dict[str, Any]]:
        from ray.tune.search.variant_generator import generate_variants

        for _ in range(self.rounds):
            for _, spec in generate_variants({"config": self.param_space},
                                             random_state=self.random_state):
                yield spec["config"]

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = next(self._variants, None)
        return None if config is None else self.space.flatten(config)


def _grid_points(space: Space) -> int:
    """Points per pass of random search: the product of the grid parameters' sizes."""
    n = 1
    for _, p in space.walk():
        if isinstance(p, Choice) and p.grid:
            n *= len(p.values)
    return n


class RandomSettings(SearchSettings):
    """Random search takes only a seed and known points."""


class RandomSearch(Searcher[RandomSettings]):
    name: ClassVar[str] = "random"
    settings_model: ClassVar[type[SearchSettings]] = RandomSettings

    @property
    def several_objectives(self) -> bool:
        return True  # it ignores results

    def build(self, space: Space, ctx: SearchContext) -> Suggester:
        # each pass enumerates {grid: ...} parameters; budget.trials counts passes, as in Ray
        return VariantSuggester(space, to_ray(space), ctx.trials or 1, self.settings.seed)


class GridSettings(SearchSettings):
    repeats: int = Field(1, ge=1, le=100_000, description="samples per grid point")


class GridSearch(Searcher[GridSettings]):
    name: ClassVar[str] = "grid"
    settings_model: ClassVar[type[SearchSettings]] = GridSettings
    enumerates: ClassVar[bool] = True

    @property
    def several_objectives(self) -> bool:
        return True  # it ignores results

    def check(self, space: Space, study: Study) -> None:
        if space.grid_size() is None:
            cont = next(n for n, p in space.walk() if isinstance(p, Float))
            raise ValueError(f"grid search cannot enumerate the continuous parameter '{cont}'; "
                             "give it as {grid: [...]} or use random/optuna/nevergrad")

    def build(self, space: Space, ctx: SearchContext) -> Suggester:
        repeats = self.settings.repeats
        s = VariantSuggester(space, to_ray(space, grid=True), repeats, self.settings.seed)
        s.total = (space.grid_size() or 1) * repeats
        return s
