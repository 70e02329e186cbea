"""The ``method: {name: cdt, ...}`` block of a study file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from searchlab.methods.base import MethodSettings
from searchlab.methods.cdt.bandits import BANDITS

BanditName = Literal["linucb", "lints", "ucbglm", "glmts", "linucb_reg"]
TunerName = Literal["cdt", "cdt_paper", "cdt_no_restart", "cdt_soft", "cdt_detect", "cdt_detect_only",
                    "theoretical", "op", "op_authors", "tl", "tl_authors", "oracle"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _EnvBase(_Strict):
    name: str | None = Field(None, description="label in results (default: derived from the kind)")
    horizon: int = Field(14_000, ge=10, le=10_000_000, description="rounds T")

    @property
    def label(self) -> str:
        return self.name or self._default_label()

    def _default_label(self) -> str:
        raise NotImplementedError

    def params(self) -> dict:
        """Keyword arguments of :func:`searchlab.methods.cdt.simulate.make_environment`."""
        return self.model_dump(exclude={"name"})


class SyntheticEnv(_EnvBase):
    """The paper's synthetic bandit: contexts and theta* uniform in [-1/sqrt(d), 1/sqrt(d)]."""

    kind: Literal["linear", "logistic"] = "linear"
    arms: int = Field(120, ge=2, le=100_000, description="K")
    dim: int = Field(25, ge=1, le=10_000, description="d")
    noise: float = Field(0.5, ge=0, description="linear: Gaussian noise standard deviation")

    def _default_label(self) -> str:
        return f"{self.kind}-K{self.arms}-d{self.dim}"


class NonStationaryEnv(_EnvBase):
    """Linear synthetic bandit whose regime changes at known rounds (see NonStationaryBandit).

    Default: four phases of 3,500 rounds, each on fresh coordinates, alternating 'fixed arms, noise
    1.0' (exploring pays: the best rate is large) and 'fresh uniform contexts, noise 0.05' (the
    best rate is near zero)."""

    kind: Literal["nonstationary"]
    arms: int = Field(120, ge=2, le=100_000)
    dim: int = Field(25, ge=1, le=10_000)
    change_points: list[int] = Field([3_500, 7_000, 10_500], description="rounds where a phase starts")
    phase_noise: list[float] = Field([1.0, 0.05, 1.0, 0.05], description="noise sd of each phase")
    redraw_theta: bool = Field(False, description="draw a fresh theta* at every change point")
    fresh_subspace: bool = Field(True, description="each phase's contexts use their own coordinates")
    phase_fixed_arms: list[bool] | None = Field(
        [True, False, True, False],
        description="per phase: the same arm vectors every round (low diversity, exploration pays)")
    jitter: float = Field(0.1, ge=0, description="fixed-arm phases: context noise relative to the arms")

    @model_validator(mode="after")
    def _phases(self) -> NonStationaryEnv:
        if len(self.phase_noise) != len(self.change_points) + 1:
            raise ValueError(f"phase_noise needs {len(self.change_points) + 1} entries "
                             f"(one per phase), got {len(self.phase_noise)}")
        if self.phase_fixed_arms is not None and len(self.phase_fixed_arms) != len(self.phase_noise):
            raise ValueError(f"phase_fixed_arms needs {len(self.phase_noise)} entries (one per phase)")
        if sorted(self.change_points) != self.change_points or any(
                not 0 < c < self.horizon for c in self.change_points):
            raise ValueError("change_points must increase and lie inside (0, horizon)")
        return self

    def _default_label(self) -> str:
        return f"nonstationary-K{self.arms}-d{self.dim}"


class ClassificationEnv(_EnvBase):
    """A classification data set as a bandit (classes are arms, reward 1 for the right class)."""

    kind: Literal["classification"]
    dataset: Literal["digits", "iris", "wine", "breast_cancer", "fashion_mnist"] = "digits"
    pca_dim: int = Field(8, ge=1, le=784, description="features kept after PCA")
    horizon: int = Field(5_000, ge=10, le=10_000_000)

    def _default_label(self) -> str:
        return f"{self.dataset}-pca{self.pca_dim}"


EnvironmentSettings = Annotated[SyntheticEnv | NonStationaryEnv | ClassificationEnv,
                                Field(discriminator="kind")]


class RangeSettings(_Strict):
    """The interval one hyperparameter is searched in, and how [0, 1] maps onto it."""

    low: float
    high: float
    scale: Literal["linear", "log"] = "log"

    @model_validator(mode="after")
    def _order(self) -> RangeSettings:
        if not self.low < self.high:
            raise ValueError(f"need low < high, got [{self.low}, {self.high}]")
        if self.scale == "log" and self.low <= 0:
            raise ValueError("a log scale needs low > 0")
        return self


class ZoomingSettings(_Strict):
    """Zooming Thompson sampling with restarts (the CDT tuner)."""

    confidence: float = Field(
        0.3, gt=0, description="radius constant c in r = c sqrt(log H / (n+1)) (scaled space [0,1]^p); "
        "the paper's reference code uses sqrt(13/2) with log T, which keeps one point active for ~200 rounds")
    warmup: int = Field(30, ge=0, description="rounds of random arms before tuning (the paper's T1)")
    restart_period: int | None = Field(
        None, ge=1, description="H, rounds between restarts; default T^((p+2)/(p+3)) for p hyperparameters "
        "(cdt_paper, cdt_soft, cdt_detect); cdt and cdt_detect_only restart periodically only if it is set")
    restart_discount: float | None = Field(
        None, ge=0, lt=1, description="soft restarts: at a periodic restart keep the active points and "
        "their means and multiply their counts by this gamma (floored at min(n, 1)); default: each "
        "tuner's own -- cdt_paper: hard restarts, cdt_soft and cdt_detect: 0.2")
    detect_window: int | None = Field(
        None, ge=2, description="change detection: restart when the last w residuals r - m_a differ "
        "in mean or variance from the earlier ones; default: each tuner's own -- cdt, cdt_detect and "
        "cdt_detect_only: 200, the others: off")
    detect_threshold: float | None = Field(
        None, gt=0, description="z-score that signals a change (default 5.0)")
    detect_discount: float | None = Field(
        None, ge=0, lt=1, description="a detected change restarts softly with this gamma; "
        "default: a hard restart")
    ranges: dict[str, RangeSettings] | None = Field(
        None, description="search interval per hyperparameter name (default: the bandit's, log scale: "
        "alpha [0.01, 5], v [0.001, 4] (LinTS; GLM-TS [0.01, 4]), lam [0.01, 10])")


class CDTSettings(MethodSettings):
    """Which environments, bandits and tuners to compare, over how many seeds."""

    environments: list[EnvironmentSettings] = Field(default_factory=lambda: [SyntheticEnv()], min_length=1)
    bandits: list[BanditName] = Field(["linucb", "lints"], min_length=1)
    tuners: list[TunerName] = Field(
        ["cdt", "cdt_paper", "theoretical", "op", "tl_authors"], min_length=1,
        description="cdt: the default CDT, hard restarts only on a detected change in the rewards (better "
        "than periodic restarts on stationary problems, see docs/cdt.md); cdt_paper: the paper's hard "
        "restart every H; also cdt_no_restart, cdt_soft, cdt_detect, cdt_detect_only (the same as cdt, "
        "its name before it became the default); op / tl: OP (Gaussian TS, each candidate once first) and "
        "TL (EXP3 on rewards rescaled to [0, 1]) as defined here; op_authors / tl_authors: the paper's "
        "authors' definitions (Beta-Bernoulli TS on the reward clipped to [0, 1]; EXP3 on the raw "
        "reward; the better TL in benchmarks/cdt_regret.py, so the default list has it); 'oracle': "
        "the best fixed value in hindsight")
    seeds: int = Field(20, ge=1, le=100_000, description="runs per (environment, bandit, tuner)")
    first_seed: int = Field(0, ge=0)
    regularization: float = Field(1.0, gt=0, description="lambda of the one-hyperparameter bandits")
    zooming: ZoomingSettings = ZoomingSettings()
    candidates: dict[str, list[float]] = Field(
        {"alpha": [0.5, 1, 3, 5, 7], "v": [0.5, 1, 3, 5, 7], "lam": [0.1, 1, 10]},
        description="OP/TL candidate values per hyperparameter, ours and the authors' (the paper's set by default)")
    oracle_grid: dict[str, list[float]] = Field(
        {"alpha": [0, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5], "v": [0, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4],
         "lam": [0.1, 1, 10]},
        description="values tried by the best-fixed-in-hindsight oracle ('oracle' tuner)")
    chunks: int = Field(200, ge=1, le=100_000, description="points of the regret curve sent to MLflow")

    @model_validator(mode="after")
    def _names(self) -> CDTSettings:
        for b in self.bandits:
            names = [h.name for h in BANDITS[b].hyperparams]
            for block, tuners in (("candidates", {"op", "op_authors", "tl", "tl_authors"}),
                                 ("oracle_grid", {"oracle"})):
                table = getattr(self, block)
                missing = [n for n in names if n not in table]
                if tuners & set(self.tuners) and missing:
                    raise ValueError(f"{block} has no values for {', '.join(missing)} (bandit {b})")
        known = {h.name for b in BANDITS.values() for h in b.hyperparams}
        for n in (self.zooming.ranges or {}):
            if n not in known:
                raise ValueError(f"zooming.ranges: unknown hyperparameter '{n}'; use one of {', '.join(sorted(known))}")
        return self
