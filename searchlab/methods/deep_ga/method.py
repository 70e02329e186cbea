"""``method: {name: deep_ga, ...}``: GA runs as Ray Tune trials.

A GA run is one trial running :func:`.workload.deep_ga_workload` (one report per generation; the
population sharded over the pool workers of the study's ``resources`` block). Without a study
``space`` the method asks for ``seeds`` runs of the configured GA. With a ``space`` over GA settings (``sigma``,
``truncation``, ``population``, ``novelty_weight``, ...) it hands the run to plain search
(``searchlab.methods.search.search_run``), so the study's searcher picks GA settings and its
scheduler (ASHA, ...) stops unpromising GA runs; the ``method:`` block is the base config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from searchlab.methods.base import (
    Analysis,
    FixedTrials,
    Method,
    MethodRun,
    MethodSettings,
    MethodTraits,
    Objective,
    TrialRequest,
    TrialResult,
    invalid,
)
from searchlab.methods.deep_ga.settings import DeepGASettings
from searchlab.methods.deep_ga.workload import REFERENCE
from searchlab.results import best_first

if TYPE_CHECKING:
    from searchlab.spec.models import Study

METRIC = "elite_score"
SEARCHABLE = ("sigma", "truncation", "population", "novelty_weight", "novelty_k", "archive_prob",
              "episodes", "elite_candidates", "elite_episodes", "hidden", "activation")


class DeepGAMethod(Method[DeepGASettings]):
    name: ClassVar[str] = "deep_ga"
    settings_model: ClassVar[type[MethodSettings]] = DeepGASettings
    TRAITS: ClassVar[MethodTraits] = MethodTraits(space="optional", takes_searcher=True,
                                                  draws_own_analysis=True)

    def check(self, study: Study) -> None:
        if study.space is not None:
            names = [name for name, _ in study.space.walk()]
            bad = [n for n in names if n not in SEARCHABLE]
            if bad:
                raise invalid(f"deep_ga can search {', '.join(SEARCHABLE)}; not "
                              f"{', '.join(bad)}", "space", bad[0])
            if self.settings.seeds != 1:
                raise invalid("with a space, each sampled GA run uses first_seed; remove 'seeds'",
                              "method", "seeds")

    def objective(self, study: Study) -> Objective:
        return Objective(METRIC, "max")

    def preflight(self, study: Study) -> None:
        from searchlab.preflight import missing

        s = self.settings
        why = ((missing("minatar") if s.env.startswith("minatar:") else None)
               or (missing("gymnasium", "ale_py") if s.env.startswith("atari:") else None)
               or (missing("torch") if s.backend == "torch" else None))
        if why:
            raise ValueError(f"{s.env} ({s.backend} backend): {why}")

    def describe(self, study: Study) -> list[str]:
        s = self.settings
        runs = ("GA runs sampled from the space" if study.space
                else f"{s.seeds} GA runs (seeds {s.first_seed}..)")
        mode = ("GA-NS" if s.novelty_weight >= 1 else
                f"GA, novelty weight {s.novelty_weight:g}" if s.novelty_weight > 0 else "GA")
        return [f"{runs} of {mode} on {s.env}: population {s.population}, truncation "
                f"{s.truncation}, sigma {s.sigma:g}, up to {s.generations} generations"]

    def start(self, study: Study) -> MethodRun:
        from searchlab.methods.search import search_run

        s = self.settings
        if study.space is None:
            return _SeedRuns(s)
        inner = search_run(study, workload=REFERENCE, length=s.generations, metric=METRIC,
                           mode="max", resources=None,
                           base_config={**s.ga_config(), "seed": s.first_seed},
                           tags={"method": "deep_ga"})
        return _Searched(inner)


class _SeedRuns(FixedTrials):
    """``seeds`` runs of one GA configuration."""

    def __init__(self, s: DeepGASettings) -> None:
        super().__init__([
            TrialRequest(config={**s.ga_config(), "seed": seed}, length=s.generations,
                         workload=REFERENCE, tags={"method": "deep_ga", "seed": str(seed)})
            for seed in range(s.first_seed, s.first_seed + s.seeds)])

    def summarize(self, results: list[TrialResult]) -> Analysis:
        return summarize(results)


class _Searched(MethodRun):
    """Plain search over GA settings, summarised as GA runs."""

    def __init__(self, inner: MethodRun) -> None:
        self.inner = inner

    def ask(self, trial_id: str) -> TrialRequest | None:
        return self.inner.ask(trial_id)

    def tell(self, trial_id: str, result: TrialResult) -> None:
        self.inner.tell(trial_id, result)

    def report(self, trial_id: str, metrics: dict[str, float]) -> None:
        self.inner.report(trial_id, metrics)

    @property
    def done(self) -> bool:
        return self.inner.done

    @property
    def total(self) -> int | None:
        return self.inner.total

    def summarize(self, results: list[TrialResult]) -> Analysis:
        return summarize(results)


def summarize(results: list[TrialResult]) -> Analysis:
    """A table of GA runs and the learning curves (elite score against frames)."""
    rows: list[dict[str, Any]] = []
    configs = [r.request.config for r in results]
    varied = [k for k in SEARCHABLE  # the GA settings that differ between runs (the searched ones)
              if len({repr(c.get(k)) for c in configs}) > 1]
    for r in results:
        m = r.metrics
        rows.append({"trial_id": r.trial_id, "seed": r.request.config.get("seed"),
                     "status": r.status, "generations": len(r.history),
                     "elite_score": m.get("elite_score"), "best_score": m.get("best_score"),
                     "final_score": m.get("final_score"), "frames": m.get("frames"),
                     "wall_time": m.get("wall_time"), "solved": m.get("solved"),
                     **{k: r.request.config.get(k) for k in varied}})
    analysis = Analysis(tables={"ga_runs": rows}, tags={"method": "deep_ga"})
    scored = [row for row in rows if row["elite_score"] is not None]
    if scored:
        # the order of the results table and `searchlab show`: ties by fewer epochs, then id
        epochs = {r.trial_id: r.metrics.get("epoch", len(r.history)) for r in results}
        best = best_first(scored, "max", value=lambda row: row["elite_score"],
                          epochs=lambda row: epochs[row["trial_id"]],
                          trial_id=lambda row: row["trial_id"])[0]
        analysis.metrics["best_elite_score"] = float(best["elite_score"])
        finals = [row["final_score"] for row in rows if row["final_score"] is not None]
        if finals:
            analysis.metrics["mean_final_score"] = sum(finals) / len(finals)
        solved = [row["solved"] for row in rows if row["solved"] is not None]
        if solved:
            analysis.metrics["solved_runs"] = float(sum(solved))
        analysis.text = (f"{len(rows)} GA runs; best elite score {best['elite_score']:.4g} "
                         f"(trial {best['trial_id']})")
    analysis.figures["learning_curves"] = _curves(results)
    return analysis


def _curves(results: list[TrialResult]) -> dict[str, Any]:
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in results:
        xs = [h.get("frames", h.get("epoch")) for h in r.history]
        fig.add_trace(go.Scatter(x=xs, y=[h.get("elite_score") for h in r.history],
                                 mode="lines", name=f"{r.trial_id} (seed {r.request.config.get('seed')})"))
    fig.update_layout(title="Deep GA: elite score against frames", xaxis_title="frames",
                      yaxis_title="elite score")
    return fig.to_dict()
