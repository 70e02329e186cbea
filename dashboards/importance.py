"""Parameter importance by fANOVA (Optuna's ``FanovaImportanceEvaluator``).

The completed trials of each study are replayed into an in-memory Optuna study, with each
parameter's distribution inferred from the values seen, and their final values as objective.
As in Optuna, only parameters present in every trial are assessed, so conditional parameters
(such as ``optimizer.sgd.momentum``) are left out.
"""

from __future__ import annotations

import math

import optuna
import plotly.graph_objects as go
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from searchlab.dashboard import StudyData, Trial

from ._common import log_scaled, numeric_column, parse_number, trial_studies

TITLE = "Parameter importance"
ORDER = 40

MIN_TRIALS = 4
SEED = 0
#: fANOVA's cost grows with the trials (its trees with them): a larger study is assessed on this
#: many of its completed trials, drawn at random (seeded), and the title says so
MAX_TRIALS = 200


def applies(studies: list[StudyData]) -> bool:
    return any(_usable(s) for s in trial_studies(studies))


def importances(trials: list[Trial], metric: str, mode: str) -> dict[str, float]:
    """fANOVA importance of each shared, varying parameter (normalised to sum to 1)."""
    distributions = infer_distributions(trials)
    study = optuna.create_study(direction="minimize" if mode == "min" else "maximize")
    for t in trials:
        value = t.final(metric)
        assert value is not None  # callers pass scored trials
        params = {n: _typed(t.params[n], d) for n, d in distributions.items()}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=distributions, value=value))
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=SEED)
    return optuna.importance.get_param_importances(study, evaluator=evaluator)


def infer_distributions(trials: list[Trial]) -> dict[str, BaseDistribution]:
    """Distributions for the parameters every trial has and that take more than one value."""
    shared = set.intersection(*(set(t.params) for t in trials)) if trials else set()
    out: dict[str, BaseDistribution] = {}
    for name in sorted(shared):
        values = [t.params[name] for t in trials]
        if len(set(values)) < 2:
            continue
        if numeric_column(values):
            numbers = [parse_number(v) for v in values]
            nums = [x for x in numbers if x is not None]
            if all(float(x).is_integer() and "." not in v and "e" not in v.lower()
                   for x, v in zip(nums, values, strict=True)):
                out[name] = IntDistribution(int(min(nums)), int(max(nums)))
            else:
                out[name] = FloatDistribution(min(nums), max(nums), log=log_scaled(nums))
        else:
            out[name] = CategoricalDistribution(sorted(set(values)))
    return out


def render(studies: list[StudyData]) -> list[go.Figure]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    figures = []
    for study in trial_studies(studies):
        trials = _usable(study)
        if not trials:
            continue
        metric = study.metric
        assert metric is not None
        shown = f"{len(trials)} completed trials"
        if len(trials) > MAX_TRIALS:
            import random

            shown = f"a random {MAX_TRIALS} of its {len(trials)} completed trials"
            trials = random.Random(SEED).sample(trials, MAX_TRIALS)
        scores = importances(trials, metric, study.mode)
        names = sorted(scores, key=scores.get)  # type: ignore[arg-type]
        fig = go.Figure(go.Bar(
            x=[scores[n] for n in names], y=names, orientation="h",
            marker={"color": "#1f77b4"}, text=[f"{scores[n]:.2f}" for n in names],
            textposition="outside", hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        ))
        fig.update_layout(
            title=f"{study.name}: fANOVA importance for {metric} ({shown})",
            height=max(260, 90 + 36 * len(names)), template="plotly_white",
            xaxis={"title": "share of explained variance", "range": [0, 1.1]},
            margin={"l": 160},
        )
        figures.append(fig)
    return figures


def _usable(study: StudyData) -> list[Trial]:
    metric = study.metric
    if not metric:
        return []
    trials = [t for t in study.trials if t.status == "completed" and t.final(metric) is not None]
    if len(trials) < MIN_TRIALS or len(infer_distributions(trials)) < 2:
        return []  # with one varying parameter there is nothing to rank
    return trials


def _typed(text: str, distribution: BaseDistribution) -> object:
    if isinstance(distribution, IntDistribution):
        return int(float(text))
    if isinstance(distribution, FloatDistribution):
        value = float(text)
        return value if math.isfinite(value) else distribution.low
    return text
