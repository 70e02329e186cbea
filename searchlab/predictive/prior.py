"""A cold-start prior: a final-value predictor trained on the curves of *other* tasks.

Baker et al. (2017) fit their regressors on the study's own finished trials, so nothing can be
stopped before ``min_finished`` trials have run to the end (on LCBench with two slots about 800
epochs). Learning curves of different tasks share their shape far more than their level, so a
predictor of the *gain still to come* (``y_T - y_t``, as in :mod:`~searchlab.predictive.predictor`)
trained on curves of other tasks is a usable prior from the first epoch on; the study's own
finished trials take over once there are enough of them (the scheduler's ``takeover``).

:class:`TaskCurves` holds such a corpus, labelled by task (an LCBench task, or another workload
read from MLflow); :class:`PriorPredictor` fits one model per number of observed epochs on it and
calibrates it *across tasks*: its residuals come from grouped cross-validation in which every fold
leaves out whole tasks, so the conformal probabilities (:mod:`~searchlab.predictive.calibration`)
describe a task the model has not seen, the situation of a new study.

Corpora: :func:`lcbench_corpus` samples curves of every LCBench task from the YAHPO surrogate
(leave-one-task-out: pass the study's task in ``exclude``), :func:`mlflow_corpus` reads finished
trials of earlier studies of other workloads. A corpus can be saved to and loaded from ``.npz``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold, KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from searchlab.predictive.features import FeatureBuilder
from searchlab.predictive.predictor import REGRESSORS, Prediction, make_regressor


@dataclass(frozen=True)
class TaskCurves:
    """Full learning curves of several tasks: ``curves[i]`` of ``configs[i]`` on ``tasks[i]``."""

    configs: list[dict[str, Any]]
    curves: np.ndarray  # (n, epochs)
    tasks: list[str]

    def __post_init__(self) -> None:
        if not (len(self.configs) == len(self.curves) == len(self.tasks)):
            raise ValueError("configs, curves and tasks differ in length")

    @property
    def epochs(self) -> int:
        return int(self.curves.shape[1])

    def without(self, tasks: Iterable[str]) -> TaskCurves:
        """The corpus less the curves of ``tasks`` (leave-one-task-out)."""
        drop = {str(t) for t in tasks}
        keep = [i for i, t in enumerate(self.tasks) if t not in drop]
        return TaskCurves([self.configs[i] for i in keep], self.curves[keep],
                          [self.tasks[i] for i in keep])

    def __add__(self, other: TaskCurves) -> TaskCurves:
        t = min(self.epochs, other.epochs) if len(self.curves) and len(other.curves) else max(
            self.epochs, other.epochs)
        parts = [c[:, :t] for c in (self.curves, other.curves) if len(c)]
        return TaskCurves(self.configs + other.configs,
                          np.concatenate(parts) if parts else np.zeros((0, t)),
                          self.tasks + other.tasks)

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, configs=np.array(json.dumps(self.configs)),
                            tasks=np.array(json.dumps(self.tasks)),
                            curves=self.curves.astype(np.float32))

    @classmethod
    def load(cls, path: str | Path) -> TaskCurves:
        with np.load(path, allow_pickle=False) as data:
            return cls(json.loads(str(data["configs"])), np.asarray(data["curves"], dtype=float),
                       json.loads(str(data["tasks"])))


def lcbench_corpus(per_task: int = 40, epochs: int = 52, exclude: Iterable[str] = (),
                   seed: int = 30_000, prefix: str = "") -> TaskCurves:
    """``per_task`` curves of every LCBench task but ``exclude``, from the YAHPO surrogate.

    Configurations are drawn with seed ``seed + task`` (the benchmark's pools use 10_000 +
    task); hyperparameter keys get ``prefix`` (e.g. ``"hp."`` to match a nested Tune config).
    """
    from searchlab.workloads.lcbench import sample_configs, surrogate

    model = surrogate()
    drop = {str(t) for t in exclude}
    configs: list[dict[str, Any]] = []
    curves, tasks = [], []
    for task in model.tasks:
        if task in drop:
            continue
        sampled = sample_configs(per_task, seed=seed + int(task))
        curves.append(model.curves(task, sampled, epochs))
        configs += [{f"{prefix}{k}": v for k, v in c.items()} for c in sampled]
        tasks += [task] * per_task
    return TaskCurves(configs, np.concatenate(curves), tasks)


def mlflow_corpus(tracking_uri: str | None, workloads: Sequence[str], metric: str, max_t: int,
                  max_runs: int = 1000) -> TaskCurves:
    """Finished trials of earlier studies of each of ``workloads`` (one task per workload)."""
    from searchlab.predictive.curves import from_mlflow

    configs: list[dict[str, Any]] = []
    curves: list[list[float]] = []
    tasks: list[str] = []
    for name in workloads:
        c, y = from_mlflow(tracking_uri, name, metric, max_t, max_runs)
        configs += c
        curves += y
        tasks += [name] * len(c)
    return TaskCurves(configs, np.array(curves, dtype=float).reshape(len(curves), max_t), tasks)


_FLOOR = 1e-3  # added to |residual| before its log (values are on the metric's scale)


def _scale_model() -> Any:
    return make_pipeline(StandardScaler(), Ridge(alpha=10.0))


@dataclass
class _Model:
    features: FeatureBuilder
    model: Any
    residuals: np.ndarray  # final - prediction, predicted with the curve's task left out
    scale: Any  # ridge on the features -> log |residual|
    scores: np.ndarray  # residuals / their task-held-out predicted scale

    def spread(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.scale.predict(x))


class PriorPredictor:
    """Predicts a curve's final value from curves of other tasks, calibrated across tasks.

    Args:
        corpus: the curves to learn from (at least two tasks for task-grouped calibration).
        max_t: the study's full length; corpus curves are cut to it (they need as many epochs).
        regressor: as for :class:`~searchlab.predictive.predictor.CurvePredictor`.
        use_config: also use the hyperparameters as features (sensible when the corpus has the
            study's hyperparameters, as LCBench tasks do; off for other workloads).
        normalized: scale residuals by a per-curve spread learned from them (a volatile curve
            gets a wider distribution than a flat one), else one distribution per ``t`` (the
            default: on the five LCBench development tasks the scaled version stopped late
            bloomers, whose early curve looks calm, at epoch 1 or 2).
        folds: task-grouped cross-validation folds for the residuals.
        seed: for regressors that use one.
    """

    def __init__(self, corpus: TaskCurves, max_t: int, *, regressor: str = "svr",
                 use_config: bool = True, normalized: bool = False, folds: int = 5,
                 seed: int = 0) -> None:
        if regressor not in REGRESSORS:
            raise ValueError(f"regressor must be one of {REGRESSORS}, not {regressor!r}")
        if corpus.epochs < max_t:
            raise ValueError(f"prior curves have {corpus.epochs} epochs, the study runs {max_t}")
        if len(corpus.curves) < 10:
            raise ValueError(f"a prior needs at least 10 curves, got {len(corpus.curves)}")
        self.max_t, self.regressor, self.use_config = max_t, regressor, use_config
        self.normalized = normalized
        self.folds, self.seed = folds, seed
        self._configs = corpus.configs if use_config else [{} for _ in corpus.configs]
        self._curves = corpus.curves[:, :max_t]
        self._groups = np.array(corpus.tasks)
        self._models: dict[int, _Model] = {}
        self._keys: dict[frozenset[str], dict[str, str]] = {}  # study keys -> {corpus: study}

    @property
    def n(self) -> int:
        return len(self._curves)

    @property
    def tasks(self) -> list[str]:
        return sorted(set(self._groups.tolist()))

    def model(self, t: int) -> _Model:
        if not 1 <= t <= self.max_t:
            raise ValueError(f"t must be in 1..{self.max_t}, not {t}")
        if t not in self._models:
            features = FeatureBuilder.fit(self._configs)
            X = features.transform_many(self._configs, self._curves, t)
            gain = self._curves[:, -1] - self._curves[:, t - 1]
            groups = len(set(self._groups.tolist()))
            cv: Any = (GroupKFold(min(self.folds, groups)) if groups > 1
                       else KFold(min(self.folds, self.n), shuffle=True, random_state=self.seed))
            held_out = cross_val_predict(make_regressor(self.regressor, X.shape[1], self.seed),
                                         X, gain, cv=cv, groups=self._groups if groups > 1
                                         else None)
            model = make_regressor(self.regressor, X.shape[1], self.seed).fit(X, gain)
            residuals = gain - held_out
            # locally weighted conformal scores (Lei et al. 2018, section 5.2), used when
            # ``normalized``: a ridge on the same features predicts log |residual|; it too is
            # cross-validated by task, so every score is computed for a task it did not see
            target = np.log(np.abs(residuals) + _FLOOR)
            log_scale = cross_val_predict(_scale_model(), X, target, cv=cv,
                                          groups=self._groups if groups > 1 else None)
            scale = _scale_model().fit(X, target)
            self._models[t] = _Model(features, model, residuals, scale,
                                     residuals / np.exp(log_scale))
        return self._models[t]

    def residuals(self, t: int) -> np.ndarray:
        """Residuals of predictions for tasks left out of training, after ``t`` epochs seen."""
        return self.model(t).residuals

    def _study_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The study's configuration under the corpus's keys: a corpus key matches a study key
        equal to it or ending in ``.<key>`` (a nested Tune config, flattened)."""
        if not self.use_config:
            return {}
        study_keys = frozenset(config)
        if study_keys not in self._keys:
            corpus_keys = {k for c in self._configs for k in c}
            mapping = {}
            for key in corpus_keys:
                match = [s for s in study_keys if s == key or s.endswith("." + key)]
                if match:
                    mapping[key] = min(match, key=len)
            self._keys[study_keys] = mapping
        return {k: config[s] for k, s in self._keys[study_keys].items()}

    def predict(self, config: Mapping[str, Any], curve: Sequence[float]) -> Prediction:
        """Point prediction and its spread (the RMSE of the task-held-out residuals, scaled to
        this curve when ``normalized``) after ``len(curve)`` epochs."""
        mean, residuals = self.distribution(config, curve)
        return Prediction(mean, float(np.sqrt(np.mean(residuals**2))))

    def distribution(self, config: Mapping[str, Any], curve: Sequence[float]
                     ) -> tuple[float, np.ndarray]:
        """Point prediction and the residuals to add to it: the conformal distribution of the
        final value of a trial that reported ``curve`` so far."""
        t = len(curve)
        fitted = self.model(t)
        x = fitted.features.transform(self._study_config(config), curve)[None, :]
        mean = float(curve[-1]) + float(fitted.model.predict(x)[0])
        if not self.normalized:
            return mean, fitted.residuals
        return mean, fitted.scores * float(fitted.spread(x)[0])
