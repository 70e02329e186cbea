"""Optuna through Ray Tune's ``OptunaSearch``, define-by-run, so conditional spaces are native:
a trial suggests only the parameters of the options it chose."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from searchlab.searchers.base import (
    RaySearcherSuggester,
    SearchContext,
    Searcher,
    SearchSettings,
    Suggester,
    continued_seed,
    first_grid_param,
)
from searchlab.spec.space import Choice, Conditional, Constant, Float, Int, Space

if TYPE_CHECKING:
    from searchlab.spec.models import Study

#: samplers that optimize several objectives (a Pareto front)
MULTI_OBJECTIVE = ("tpe", "gp", "nsga2", "random", "qmc")


def suggest_optuna(space: Space, trial: Any, prefix: str = "") -> dict[str, Any]:
    """Optuna define-by-run: suggest every active parameter; return the constants."""
    constants: dict[str, Any] = {}
    for name, p in space.params.items():
        flat = prefix + name
        if isinstance(p, Constant):
            constants[flat] = p.value
        elif isinstance(p, Conditional):
            opt = trial.suggest_categorical(flat, list(p.options))
            constants.update(suggest_optuna(p.options[opt], trial, f"{flat}.{opt}."))
        elif isinstance(p, Choice):
            trial.suggest_categorical(flat, list(p.values))
        elif isinstance(p, Int):
            trial.suggest_int(flat, p.low, p.high, step=p.step, log=p.log)
        elif isinstance(p, Float):
            trial.suggest_float(flat, p.low, p.high, log=p.log, step=p.step)
    return constants


class OptunaSettings(SearchSettings):
    sampler: Literal["tpe", "cmaes", "gp", "nsga2", "random", "qmc"] = "tpe"
    startup: int | None = Field(
        None, ge=1, description="tpe/gp: random trials before the model takes over "
                                "(default: a third of budget.trials, between 2 and 10)")

    @model_validator(mode="after")
    def _startup(self) -> OptunaSettings:
        if self.startup is not None and self.sampler not in ("tpe", "gp"):
            raise ValueError("search.startup applies to optuna's tpe and gp samplers only")
        return self


class OptunaSearch(Searcher[OptunaSettings]):
    name: ClassVar[str] = "optuna"
    settings_model: ClassVar[type[SearchSettings]] = OptunaSettings
    takes_points: ClassVar[bool] = True  # enqueued: Optuna learns from them

    @property
    def sampler(self) -> str:
        return self.settings.sampler

    @property
    def several_objectives(self) -> bool:
        return self.settings.sampler in MULTI_OBJECTIVE

    def check(self, space: Space, study: Study) -> None:
        grid = first_grid_param(space)
        if grid is not None:
            raise ValueError(f"optuna cannot enumerate grid parameter '{grid}'; write it as "
                             "{choice: [...]} or use search.algorithm random/grid")

    def build(self, space: Space, ctx: SearchContext) -> Suggester:
        import functools

        from ray.tune.search.optuna import OptunaSearch as RayOptunaSearch

        s = self.settings
        metric: str | list[str] = ctx.metric
        mode: str | list[str] = ctx.mode
        if len(ctx.objectives) > 1:
            metric, mode = [m for m, _ in ctx.objectives], [d for _, d in ctx.objectives]
        # a study that goes on: the trials it ran first, as Optuna's enqueued trials (Ray's
        # points_to_evaluate), so that replaying their asks and results through Ray's wrapper
        # makes them complete trials of the Optuna study, which TPE, GP and CMA-ES model;
        # known points not asked yet follow
        known = [*ctx.asked, *ctx.points[len(ctx.asked):]]
        searcher = RayOptunaSearch(
            space=functools.partial(suggest_optuna, space), metric=metric, mode=mode,
            sampler=sampler(s.sampler, continued_seed(s.seed, len(ctx.asked)),
                            startup_trials(s.startup, ctx.trials)),
            points_to_evaluate=[_suggested(space, p) for p in known] or None)
        return RaySearcherSuggester(searcher, space, ctx.trials)


def _suggested(space: Space, point: dict[str, Any]) -> dict[str, Any]:
    """A flat config without its constants: the values Optuna's trial would suggest."""
    constants = {n for n, p in space.walk() if isinstance(p, Constant)}
    return {k: v for k, v in point.items() if k not in constants}


def startup_trials(given: int | None, trials: int | None) -> int:
    """Random trials before TPE or GP model: as given, else a third of the budget, 2 to 10
    (Optuna's own default, 10, would leave a 10-trial study without a model at all)."""
    if given is not None:
        return given
    return 10 if trials is None else max(2, min(10, trials // 3))


def sampler(name: str, seed: int | None, startup: int = 10) -> Any:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                          n_startup_trials=startup)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.RandomSampler(seed=seed)
