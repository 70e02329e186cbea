"""Fake searchlab studies written into a real MLflow SQLite store, exactly as searchlab lays
them out: one experiment per study, a parent run per execution (``searchlab.role=study``) and a
nested child run per trial (``searchlab.role=trial``) with per-epoch metrics."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

T0_MS = (int(time.time()) - 12 * 3600) * 1000  # the first study started 12 hours ago
CHROMIUM = Path(os.environ.get("SEARCHLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SEARCH_SPACE_YAML = """\
name: {name}
metric: {metric}
mode: {mode}
space:
  lr: {{loguniform: [1.0e-4, 1.0e-1]}}
  batch_size: {{choice: [32, 64, 128]}}
"""


@dataclass
class FakeStore:
    uri: str
    path: Path
    studies: dict[str, dict] = field(default_factory=dict)  # name -> facts for assertions


class _Writer:
    def __init__(self, uri: str, artifacts: Path) -> None:
        from mlflow import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        self.artifacts = artifacts

    def experiment(self, name: str) -> str:
        return self.client.create_experiment(name,
                                             artifact_location=(self.artifacts / name).as_uri())

    def parent(self, exp_id: str, name: str, start_ms: int, tags: dict[str, str],
               study_yaml: str, tmp: Path) -> str:
        run = self.client.create_run(exp_id, start_time=start_ms, run_name=name,
                                     tags={"searchlab.role": "study", "searchlab.version": "0.1.0",
                                           **tags})
        f = tmp / f"{run.info.run_id}" / "study.yaml"
        f.parent.mkdir(parents=True)
        f.write_text(study_yaml)
        self.client.log_artifact(run.info.run_id, str(f))
        return run.info.run_id

    def trial(self, exp_id: str, parent: str, trial_id: str, status: str, start_ms: int,
              end_ms: int | None, params: dict[str, object],
              metrics: dict[str, list[tuple[int, int, float]]], tags: dict[str, str]) -> str:
        from mlflow.entities import Metric, Param, RunTag

        run = self.client.create_run(exp_id, start_time=start_ms, run_name=trial_id, tags={
            "mlflow.parentRunId": parent, "searchlab.role": "trial",
            "searchlab.trial_id": trial_id, "searchlab.status": status, **tags})
        run_id = run.info.run_id
        batch = [Metric(key, float(v), int(ts), int(step))
                 for key, points in metrics.items() for step, ts, v in points]
        for i in range(0, max(len(batch), 1), 900):
            self.client.log_batch(
                run_id, metrics=batch[i:i + 900],
                params=[Param(k, str(v)) for k, v in params.items()] if i == 0 else [],
                tags=[RunTag("mlflow.runName", trial_id)] if i == 0 else [])
        if end_ms is not None:
            mlflow_status = {"failed": "FAILED", "diverged": "FAILED"}.get(status, "FINISHED")
            self.client.set_terminated(run_id, status=mlflow_status, end_time=end_ms)
        return run_id

    def store_analysis(self, parent: str, analysis: object) -> None:
        """As the runner stores a method's summary: through the real Tracker."""
        from searchlab.tracking.tracker import Tracker

        tracker = Tracker(self.uri)
        tracker.parent_run_id = parent
        tracker.store_analysis(analysis)  # type: ignore[arg-type]

    def finish_parent(self, parent: str, end_ms: int, best_trial: str, best_run: str) -> None:
        self.client.set_tag(parent, "searchlab.best_trial_id", best_trial)
        self.client.set_tag(parent, "searchlab.best_run_id", best_run)
        self.client.set_terminated(parent, status="FINISHED", end_time=end_ms)


def _slots(n_slots: int, start_ms: int):
    """A tiny scheduler: each trial takes the slot that frees first."""
    free = [start_ms] * n_slots

    def take(duration_ms: int) -> tuple[int, int]:
        i = int(np.argmin(free))
        begin = free[i] + 150
        free[i] = begin + duration_ms
        return begin, free[i]

    return take


def _write_search(w: _Writer, tmp: Path, name: str, *, scheduler: str, searcher: str,
                  executions: list[int], seed: int, start_ms: int, running: int = 0) -> dict:
    """An MNIST-like study on val_accuracy with a conditional space; ASHA stops trials early."""
    rng = np.random.default_rng(seed)
    exp = w.experiment(name)
    facts: dict = {"executions": [], "metric": "val_accuracy", "mode": "max"}
    for ex_i, n_trials in enumerate(executions):
        ex_start = start_ms + ex_i * 3_600_000
        parent = w.parent(exp, f"{name}-{ex_i + 1}", ex_start, {
            "searchlab.method": "search", "searchlab.searcher": searcher,
            "searchlab.scheduler": scheduler, "searchlab.spec_hash": f"{seed:08x}{ex_i}",
            "searchlab.workload": "mnist_mlp", "searchlab.metric": "val_accuracy",
            "searchlab.mode": "max"},
            SEARCH_SPACE_YAML.format(name=name, metric="val_accuracy", mode="max"), tmp)
        take = _slots(4, ex_start)
        finals: dict[str, tuple[float, str, int]] = {}
        statuses = []
        for i in range(n_trials):
            trial_id = f"trial_{ex_i}{i:03d}"
            lr = float(10 ** rng.uniform(-4, -1))
            opt = str(rng.choice(["sgd", "adam"]))
            params: dict[str, object] = {"lr": round(lr, 6),
                                         "batch_size": int(rng.choice([32, 64, 128])),
                                         "dropout": round(float(rng.uniform(0, 0.5)), 3),
                                         "optimizer": opt}
            if opt == "sgd":
                params["optimizer.sgd.momentum"] = round(float(rng.uniform(0.5, 0.99)), 3)
            quality = (0.985 - 0.05 * (math.log10(lr) + 2.5) ** 2
                       - 0.08 * float(params["dropout"]) ** 2)
            status, epochs = "completed", 9
            if i == 3:
                status, epochs = "failed", 0
            elif i == 5:
                status, epochs = "diverged", 3
            elif i == 7 and scheduler == "fifo":
                status, epochs = "timed_out", 6
            elif running and i >= n_trials - running and ex_i == len(executions) - 1:
                status, epochs = "running", 4
            elif scheduler == "asha":
                for rung in (1, 3):
                    if rng.random() < 0.55 and quality < 0.975:
                        status, epochs = "early_stopped", rung
                        break
            epoch_ms = int(rng.uniform(8_000, 14_000) * (64 / int(params["batch_size"])) ** 0.3)
            begin, end = take(max(epochs, 1) * epoch_ms + 2_000)
            metrics: dict[str, list[tuple[int, int, float]]] = {}
            for e in range(1, epochs + 1):
                ts = begin + e * epoch_ms
                if status == "diverged":  # as searchlab logs it: the worst value, at the end
                    acc = 0.1 + 0.02 * rng.random() if e < epochs else -math.inf
                    loss = 2.3 * 10 ** e if e < epochs else math.nan  # MLflow stores NaN
                else:
                    acc = quality * (1 - math.exp(-e / 1.7)) + rng.normal(0, 0.004)
                    loss = max(0.02, 2.3 * math.exp(-e / 1.5) + (1 - quality))
                metrics.setdefault("val_accuracy", []).append((e, ts, acc))
                metrics.setdefault("val_loss", []).append((e, ts, loss))
                metrics.setdefault("time_total_s", []).append((e, ts, e * epoch_ms / 1000))
            end_ms = None if status == "running" else end
            run_id = w.trial(exp, parent, trial_id, status, begin, end_ms, params, metrics,
                             {"searchlab.method": "search", "searchlab.workload": "mnist_mlp"})
            statuses.append(status)
            if metrics and status != "diverged":
                finals[run_id] = (metrics["val_accuracy"][-1][2], trial_id,
                                  metrics["val_accuracy"][-1][1])
        best_run = max(finals, key=lambda r: finals[r][0])
        w.finish_parent(parent, max(v[2] for v in finals.values()) + 1_000, finals[best_run][1],
                        best_run)
        facts["executions"].append({"parent": parent, "n_trials": n_trials, "statuses": statuses,
                                    "best_value": finals[best_run][0], "best_run": best_run})
    return facts


def _write_cdt(w: _Writer, tmp: Path, name: str, start_ms: int) -> dict:
    """CDT as searchlab's adapter logs it: one run per (environment, bandit, tuner, seed), the
    oracle's fixed grid values as tuner 'fixed', per chunk ``cum_regret``, ``round`` and the
    chosen hyperparameter (``alpha`` for linucb, ``v`` for lints); CDT's own ``summarize`` stores
    its tables (``final_regret``, ``best_fixed``) and text on the parent run."""
    from searchlab.methods.base import TrialRequest, TrialResult
    from searchlab.methods.cdt.adapter import summarize

    rng = np.random.default_rng(7)
    results: list[TrialResult] = []
    exp = w.experiment(name)
    parent = w.parent(exp, f"{name}-1", start_ms, {
        "searchlab.method": "cdt", "searchlab.searcher": "grid", "searchlab.scheduler": "fifo",
        "searchlab.spec_hash": "cdt00001", "searchlab.workload": "cdt",
        "searchlab.lead": "analysis",
        "searchlab.metric": "cum_regret", "searchlab.mode": "min"},
        "name: bandit-cdt\nmethod: cdt\n", tmp)
    slope = {("cdt", "-"): 0.7, ("theoretical", "-"): 2.2, ("op", "-"): 1.0,
             ("fixed", "{hp}=0.1"): 1.3, ("fixed", "{hp}=1"): 0.9}
    bandits = {"linucb": "alpha", "lints": "v"}
    chunks, seeds = 12, 3
    best = (math.inf, "", "")
    end_all = start_ms
    take = _slots(4, start_ms)
    for bandit, hp in bandits.items():
        for (tuner, fixed_grid), k in slope.items():
            fixed = fixed_grid.format(hp=hp)
            for seed in range(seeds):
                trial_id = f"{bandit}_{tuner}_{fixed.replace('=', '')}_s{seed}"
                begin, end = take(chunks * 800)
                regret, m = 0.0, {"cum_regret": [], "round": [], hp: []}
                for c in range(1, chunks + 1):
                    regret += k * 10 / math.sqrt(c) * rng.uniform(0.7, 1.3)
                    ts = begin + c * 800
                    m["cum_regret"].append((c, ts, regret))
                    m["round"].append((c, ts, c * 250.0))
                    chosen = float(fixed.split("=")[1]) if tuner == "fixed" else \
                        max(0.01, k / math.sqrt(c) + rng.normal(0, 0.05))
                    m[hp].append((c, ts, chosen))
                m["seconds"] = [(chunks, end, (end - begin) / 1000)]
                m["time_total_s"] = [(chunks, end, (end - begin) / 1000)]
                run_id = w.trial(exp, parent, trial_id, "completed", begin, end,
                                 {"environment": "linear-d5", "bandit": bandit, "tuner": tuner,
                                  "seed": seed, "fixed": fixed, "chunks": chunks}, m,
                                 {"searchlab.method": "cdt", "searchlab.workload": "cdt"})
                if regret < best[0]:
                    best = (regret, trial_id, run_id)
                end_all = max(end_all, end)
                config = {"environment": "linear-d5", "bandit": bandit, "tuner": tuner,
                          "seed": seed, "fixed": fixed}
                results.append(TrialResult(trial_id, TrialRequest(config, chunks), "completed",
                                           {"cum_regret": regret}))
    analysis = summarize(results)  # CDT's own summary: tables and text
    analysis.tags.update(analysis.lead_tags())  # as the runner does for draws_own_analysis
    w.store_analysis(parent, analysis)
    w.finish_parent(parent, end_all + 1_000, best[1], best[2])
    return {"parent": parent, "bandits": bandits, "tuners": ["cdt", "op", "theoretical"],
            "best_fixed": "{hp}=1", "seeds": seeds, "chunks": chunks}


def _write_predictive(w: _Writer, tmp: Path, name: str, start_ms: int) -> dict:
    """A CIFAR-like study on val_loss (min) under the predictive scheduler."""
    rng = np.random.default_rng(11)
    exp = w.experiment(name)
    parent = w.parent(exp, f"{name}-1", start_ms, {
        "searchlab.method": "predictive", "searchlab.searcher": "random",
        "searchlab.scheduler": "predictive", "searchlab.spec_hash": "pred0001",
        "searchlab.workload": "cifar10_cnn", "searchlab.metric": "val_loss",
        "searchlab.mode": "min"},
        SEARCH_SPACE_YAML.format(name=name, metric="val_loss", mode="min"), tmp)
    take = _slots(3, start_ms)
    best_so_far = math.inf
    best = (math.inf, "", "")
    n_completed = 0
    end_all = start_ms
    for i in range(14):
        trial_id = f"trial_{i:03d}"
        lr = float(10 ** rng.uniform(-4, -1))
        final = 0.45 + 0.25 * (math.log10(lr) + 2.5) ** 2 + rng.normal(0, 0.03)
        epochs, status, reason = 12, "completed", None
        curve, preds, pbeat = [], [], []
        for e in range(1, 13):
            loss = final + 1.6 * math.exp(-e / 3)
            pred = final + rng.normal(0, 0.25 / e)
            p = (float(1 / (1 + math.exp((pred - best_so_far) * 12)))
                 if math.isfinite(best_so_far) else 1.0)
            curve.append(loss)
            preds.append(pred)
            pbeat.append(p)
            if e >= 3 and p < 0.05:
                epochs, status, reason = (e, "early_stopped",
                                          f"p_beat_best={p:.3f}<0.05 at epoch {e}")
                break
        begin, end = take(epochs * 20_000 + 3_000)
        ts = [begin + e * 20_000 for e in range(1, epochs + 1)]
        metrics = {"val_loss": [(e + 1, ts[e], curve[e]) for e in range(epochs)],
                   "predicted_final": [(e + 1, ts[e], preds[e]) for e in range(epochs)],
                   "p_beat_best": [(e + 1, ts[e], pbeat[e]) for e in range(epochs)],
                   "time_total_s": [(e + 1, ts[e], (e + 1) * 20.0) for e in range(epochs)]}
        tags = {"searchlab.method": "predictive", "searchlab.workload": "cifar10_cnn"}
        if reason:
            tags["searchlab.stop_reason"] = reason
        run_id = w.trial(exp, parent, trial_id, status, begin, end,
                         {"lr": round(lr, 6), "batch_size": int(rng.choice([64, 128]))},
                         metrics, tags)
        if status == "completed":
            n_completed += 1
            best_so_far = min(best_so_far, curve[-1])
            if curve[-1] < best[0]:
                best = (curve[-1], trial_id, run_id)
        end_all = max(end_all, end)
    w.finish_parent(parent, end_all + 1_000, best[1], best[2])
    return {"n_completed": n_completed, "n_trials": 14}


LR_FREE_TIMES = {  # optimizer -> workload -> time to target in seconds (None: never reached)
    "adam_tuned": {"mnist": 40.0, "cifar10": 300.0, "imdb": 90.0, "wmt": 900.0},
    "dadapt": {"mnist": 50.0, "cifar10": 280.0, "imdb": None, "wmt": 1000.0},
    "prodigy": {"mnist": 45.0, "cifar10": 330.0, "imdb": 85.0, "wmt": None},
}


def _write_lr_free(w: _Writer, tmp: Path, name: str, start_ms: int) -> dict:
    """A benchmark-suite method (learning-rate-free optimizers) whose child runs are suite cells
    and whose summary is a stored analysis: a table, two figures (one untitled) and a text."""
    import plotly.graph_objects as go

    from searchlab.methods.base import Analysis

    exp = w.experiment(name)
    parent = w.parent(exp, f"{name}-1", start_ms, {
        "searchlab.method": "lr_free", "searchlab.searcher": "grid", "searchlab.scheduler": "fifo",
        "searchlab.spec_hash": "lrf00001", "searchlab.workload": "suite",
        "searchlab.metric": "time_to_target", "searchlab.mode": "min",
        # its analysis is the result: the "Result" panel draws this table and figure first
        "searchlab.lead": "analysis", "searchlab.lead_table": "time_to_target",
        "searchlab.lead_figures": "performance_profile"}, "name: lr-free\n", tmp)
    rows, k, best = [], 0, (math.inf, "", "")
    for opt, per_workload in LR_FREE_TIMES.items():
        for workload, t in per_workload.items():
            k += 1
            begin = start_ms + k * 5_000
            metrics = {"time_total_s": [(1, begin + 4_000, 4.0)]}
            if t is not None:
                metrics["time_to_target"] = [(1, begin + 4_000, t)]
            run_id = w.trial(exp, parent, f"{opt}_{workload}", "completed", begin, begin + 4_500,
                             {"optimizer": opt, "workload": workload, "seed": 0}, metrics,
                             {"searchlab.method": "lr_free", "searchlab.workload": workload})
            if t is not None and t < best[0]:
                best = (t, f"{opt}_{workload}", run_id)
            rows.append({"optimizer": opt, "workload": workload, "time_to_target": t})
    solved = {o: sum(t is not None for t in ws.values()) / len(ws)
              for o, ws in LR_FREE_TIMES.items()}
    profile = go.Figure([go.Scatter(x=[1, 4], y=[v / 2, v], mode="lines", name=o,
                                    line={"shape": "hv"}) for o, v in solved.items()])
    profile.update_layout(title="performance profile of time to target",
                          xaxis={"title": "τ", "type": "log"}, yaxis_title="fraction of workloads")
    bars = go.Figure(go.Bar(x=list(solved), y=list(solved.values()), name="solved"))
    analysis = Analysis(
        metrics={f"solved.{o}": v for o, v in solved.items()},
        tables={"time_to_target": rows},
        figures={"performance_profile": profile.to_dict(), "solved": bars.to_dict()},
        text="\n".join(f"{o}: reached the target on {v:.0%} of workloads"
                       for o, v in solved.items()))
    w.store_analysis(parent, analysis)
    w.finish_parent(parent, start_ms + (k + 2) * 5_000, best[1], best[2])
    return {"parent": parent, "rows": rows, "solved": solved, "optimizers": sorted(LR_FREE_TIMES)}


def _write_stn(w: _Writer, tmp: Path, name: str, start_ms: int) -> dict:
    """STN: an STN run and the plain run of the same seed (per epoch a dropout and the validation
    loss), and STN's own stored summary of them (searchlab.methods.stn.analysis)."""
    from searchlab.methods.base import TrialRequest, TrialResult
    from searchlab.methods.stn.analysis import summarize

    exp = w.experiment(name)
    parent = w.parent(exp, f"{name}-1", start_ms, {
        "searchlab.method": "stn", "searchlab.spec_hash": "stn00001", "searchlab.workload": "stn",
        "searchlab.metric": "val_loss", "searchlab.mode": "min"}, "name: stn-reference\n", tmp)
    curves = {"stn": ([0.50, 0.40, 0.34, 0.31], [0.05, 0.05, 0.12, 0.20]),
              "plain": ([0.50, 0.41, 0.36, 0.35], [0.05, 0.05, 0.05, 0.05])}
    results, best = [], (math.inf, "", "")
    for k, (variant, (losses, dropout)) in enumerate(curves.items()):
        begin = start_ms + k * 1_000
        history = [{"epoch": e + 1, "val_loss": v, "dropout": d, "cpu_seconds": 10.0 * (e + 1)}
                   for e, (v, d) in enumerate(zip(losses, dropout))]
        run_id = w.trial(exp, parent, variant, "completed", begin, begin + 60_000,
                         {"variant": variant, "seed": 0},
                         {key: [(h["epoch"], begin + h["epoch"] * 10_000, h[key]) for h in history]
                          for key in ("val_loss", "dropout", "cpu_seconds")},
                         {"searchlab.method": "stn", "stn.variant": variant})
        best = min(best, (min(losses), variant, run_id))
        results.append(TrialResult(variant, TrialRequest({"variant": variant, "seed": 0}, 4),
                                   "completed", history[-1], history))
    analysis = summarize(results, ["dropout"], {"dropout": 0.05}, "mlp, 4 epochs")
    analysis.tags.update(analysis.lead_tags())  # as the runner does for draws_own_analysis
    w.store_analysis(parent, analysis)
    w.finish_parent(parent, start_ms + 70_000, best[1], best[2])
    return {"parent": parent, "minus_plain": min(curves["stn"][0]) - min(curves["plain"][0]),
            "headline": analysis.headline}


@pytest.fixture(scope="session")
def fake_store(tmp_path_factory: pytest.TempPathFactory) -> FakeStore:
    return write_fake_store(tmp_path_factory.mktemp("mlflow"))


def write_fake_store(root: Path, uri: str | None = None) -> FakeStore:
    """Six studies in one SQLite store (or the store at ``uri``): two plain searches on the same
    metric (one with two executions), CDT (with its stored analysis), the predictive scheduler,
    a method known only by its stored analysis (learning-rate-free optimizers), and STN (its own
    panel)."""
    uri = uri or f"sqlite:///{root / 'mlflow.db'}"
    w = _Writer(uri, root / "artifacts")
    tmp = root / "staging"
    store = FakeStore(uri=uri, path=root / "mlflow.db")
    hour = 3_600_000
    store.studies["mnist-asha"] = _write_search(w, tmp, "mnist-asha", scheduler="asha",
                                                searcher="optuna", executions=[10, 20], seed=1,
                                                start_ms=T0_MS)
    store.studies["mnist-random"] = _write_search(w, tmp, "mnist-random", scheduler="fifo",
                                                  searcher="random", executions=[16], seed=2,
                                                  start_ms=T0_MS + 3 * hour, running=1)
    store.studies["bandit-cdt"] = _write_cdt(w, tmp, "bandit-cdt", T0_MS + 4 * hour)
    store.studies["cifar-predictive"] = _write_predictive(w, tmp, "cifar-predictive",
                                                          T0_MS + 5 * hour)
    store.studies["lr-free-suite"] = _write_lr_free(w, tmp, "lr-free-suite", T0_MS + 6 * hour)
    store.studies["stn-reference"] = _write_stn(w, tmp, "stn-reference", T0_MS + 7 * hour)
    return store


@pytest.fixture(scope="session")
def report(fake_store: FakeStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report over every fake study, built once."""
    from searchlab.dashboard import build_report

    out = tmp_path_factory.mktemp("report") / "report.html"
    return build_report(list(fake_store.studies), str(out), fake_store.uri)


@pytest.fixture(scope="session")
def twelve_studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report over 12 searched studies: 12 parallel-coordinates figures, 3 WebGL contexts each,
    twice what a browser keeps alive (about 16)."""
    from searchlab.dashboard import build_report

    root = tmp_path_factory.mktemp("twelve")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    writer = _Writer(uri, root / "artifacts")
    names = [f"study-{i:02d}" for i in range(12)]
    for i, name in enumerate(names):
        _write_search(writer, root / "staging", name, scheduler="fifo", searcher="random",
                      executions=[8], seed=i + 1, start_ms=T0_MS + i * 3_600_000)
    return build_report(names, str(root / "report.html"), uri)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} "
                    "(apt-get install chromium, or set SEARCHLAB_CHROMIUM)")
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="python playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
