"""The ``method: {name: cdt, ...}`` block of a study file."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from searchlab import refs
from searchlab.methods.base import MethodSettings
from searchlab.methods.cdt.bandits import BANDITS, HyperParam

BanditName = Literal["linucb", "lints", "ucbglm", "glmts", "linucb_reg"]
TunerName = Literal["cdt", "cdt_paper", "cdt_no_restart", "cdt_soft", "cdt_detect",
                    "cdt_detect_only", "theoretical", "op", "op_authors", "tl", "tl_authors",
                    "oracle"]


class _Strict(BaseModel):
    # NaN and infinities are refused in every number of CDT's settings (issue 23)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _file(path: str, info: ValidationInfo) -> str:
    """A data file named in the study file, as an absolute path (relative: from the study
    file's directory, see :mod:`searchlab.refs`)."""
    return str(refs.locate(path, refs.study_file_of(info.context)))


class _EnvBase(_Strict):
    name: str | None = Field(None, description="label in results (default: derived from the kind)")
    horizon: int = Field(14_000, ge=10, le=10_000_000, description="rounds T")

    @property
    def label(self) -> str:
        return self.name or self._default_label()

    @property
    def rounds(self) -> int:
        """T, the number of rounds a run plays."""
        return self.horizon

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
    change_points: list[int] = Field([3_500, 7_000, 10_500],
                                     description="rounds where a phase starts")
    phase_noise: list[Annotated[float, Field(ge=0)]] = Field(
        [1.0, 0.05, 1.0, 0.05], description="noise sd of each phase")
    redraw_theta: bool = Field(False, description="draw a fresh theta* at every change point")
    fresh_subspace: bool = Field(True,
                                 description="each phase's contexts use their own coordinates")
    phase_fixed_arms: list[bool] | None = Field(
        [True, False, True, False],
        description="per phase: the same arm vectors every round (low diversity, exploration pays)")
    jitter: float = Field(0.1, ge=0,
                          description="fixed-arm phases: context noise relative to the arms")

    @model_validator(mode="after")
    def _phases(self) -> NonStationaryEnv:
        if len(self.phase_noise) != len(self.change_points) + 1:
            raise ValueError(f"phase_noise needs {len(self.change_points) + 1} entries "
                             f"(one per phase), got {len(self.phase_noise)}")
        if (self.phase_fixed_arms is not None
                and len(self.phase_fixed_arms) != len(self.phase_noise)):
            raise ValueError(f"phase_fixed_arms needs {len(self.phase_noise)} entries (one per "
                             "phase)")
        if sorted(self.change_points) != self.change_points or any(
                not 0 < c < self.horizon for c in self.change_points):
            raise ValueError("change_points must increase and lie inside (0, horizon)")
        return self

    def _default_label(self) -> str:
        return f"nonstationary-K{self.arms}-d{self.dim}"


class ClassificationEnv(_EnvBase):
    """A classification data set as a bandit (classes are arms, reward 1 for the right class):
    a bundled one (``dataset``) or the user's own file (``file``, its class in the column
    ``label_column``)."""

    kind: Literal["classification"]
    dataset: Literal["digits", "iris", "wine", "breast_cancer", "fashion_mnist"] | None = Field(
        None, description="a bundled data set (default digits, unless file is given)")
    file: str | None = Field(
        None, description="your data set: a CSV (a label column, numeric features), .npz "
        "(features, labels) or .npy (label last) file, relative to the study file")
    label_column: str = Field("label", min_length=1,
                              description="the CSV column that holds the class")
    pca_dim: int = Field(8, ge=1, le=784, description="features kept after PCA")
    horizon: int = Field(5_000, ge=10, le=10_000_000)

    @field_validator("file")
    @classmethod
    def _check_file(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _file(v, info)

    @model_validator(mode="after")
    def _source(self) -> ClassificationEnv:
        if self.file is not None and self.dataset is not None:
            raise ValueError("give either dataset (a bundled data set) or file (yours), not both")
        if self.file is not None:
            from searchlab.methods.cdt.datafiles import load_classification

            load_classification(self.file, self.label_column)  # readable, numeric, 2+ classes
        elif "label_column" in self.model_fields_set:
            raise ValueError("label_column names a column of your file; it needs file:")
        return self

    def params(self) -> dict:
        p = self.model_dump(exclude={"name", "label_column"})
        if self.file is None:
            p.pop("file")
        else:
            p.pop("dataset")
            p["label"] = self.label_column
        return p

    def _default_label(self) -> str:
        from pathlib import Path

        source = Path(self.file).stem if self.file else (self.dataset or "digits")
        return f"{source}-pca{self.pca_dim}"


class DataEnv(_EnvBase):
    """Your contextual data as a bandit: per row a context and every arm's reward (CSV, .npz or
    .npy; the formats: :mod:`searchlab.methods.cdt.datafiles`)."""

    kind: Literal["data"]
    file: str = Field(description="the data file, relative to the study file")
    horizon: int | None = Field(  # type: ignore[assignment]
        None, ge=10, le=10_000_000, description="rounds T (default: the file's number of rows)")
    arms: int | None = Field(None, ge=2, le=100_000,
                             description="K; needed for a .npy file (its last K columns)")
    order: Literal["random", "file"] = Field(
        "random", description="random: each round draws a row at random (each seed its own "
        "sequence); file: the rows in the file's order, once")
    normalize: bool = Field(True, description="scale contexts so the largest has norm 1")

    @field_validator("file")
    @classmethod
    def _check_file(cls, v: str, info: ValidationInfo) -> str:
        return _file(v, info)

    @model_validator(mode="after")
    def _data(self) -> DataEnv:
        from searchlab.methods.cdt.datafiles import load_contextual

        data = load_contextual(self.file, self.arms)
        if self.order == "file" and self.rounds > data.rows:
            raise ValueError(f"horizon {self.rounds} is longer than {self.file} ({data.rows} "
                             "rows) with order: file")
        if self.horizon is None and data.rows < 10:
            raise ValueError(f"{self.file} has {data.rows} rows; give a horizon of at least 10")
        return self

    @property
    def rounds(self) -> int:
        if self.horizon is not None:
            return self.horizon
        from searchlab.methods.cdt.datafiles import load_contextual

        return load_contextual(self.file, self.arms).rows

    def params(self) -> dict:
        return {**self.model_dump(exclude={"name"}), "horizon": self.rounds}

    def _default_label(self) -> str:
        from pathlib import Path

        return Path(self.file).stem


EnvironmentSettings = Annotated[SyntheticEnv | NonStationaryEnv | ClassificationEnv | DataEnv,
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
        0.3, gt=0,
        description="radius constant c in r = c sqrt(log H / (n+1)) (scaled space [0,1]^p); "
        "the paper's reference code uses sqrt(13/2) with log T, which keeps one point active for "
        "~200 rounds")
    warmup: int = Field(30, ge=0,
                        description="rounds of random arms before tuning (the paper's T1)")
    restart_period: int | None = Field(
        None, ge=1,
        description="H, rounds between restarts; default T^((p+2)/(p+3)) for p hyperparameters "
        "(cdt_paper, cdt_soft, cdt_detect); cdt and cdt_detect_only restart periodically only if "
        "it is set")
    restart_discount: float | None = Field(
        None, ge=0, lt=1,
        description="soft restarts: at a periodic restart keep the active points and "
        "their means and multiply their counts by this gamma (floored at min(n, 1)); default: each "
        "tuner's own -- cdt_paper: hard restarts, cdt_soft and cdt_detect: 0.2")
    detect_window: int | None = Field(
        None, ge=2,
        description="change detection: restart when the last w residuals r - m_a differ "
        "in mean or variance from the earlier ones; default: each tuner's own -- cdt, cdt_detect "
        "and cdt_detect_only: 200, the others: off")
    detect_threshold: float | None = Field(
        None, gt=0, description="z-score that signals a change (default 5.0)")
    detect_discount: float | None = Field(
        None, ge=0, lt=1, description="a detected change restarts softly with this gamma; "
        "default: a hard restart")
    ranges: dict[str, RangeSettings] | None = Field(
        None,
        description="search interval per hyperparameter name (default: the bandit's, log scale: "
        "alpha [0.01, 5], v [0.001, 4] (LinTS; GLM-TS [0.01, 4]), lam [0.01, 10])")


HYPER_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class UserBanditSettings(_Strict):
    """Your own bandit class (the protocol: :mod:`searchlab.methods.cdt.user`) and the
    hyperparameters CDT tunes for it."""

    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                      description="its label in the results")
    path: str | None = Field(
        None, validate_default=True,
        description="the directory to import the class from, relative to the study file "
        "(default: the study file's directory)")
    cls: str = Field(alias="class", description="'package.module:Class'")
    args: dict[str, Any] = Field({}, validate_default=True,
                                 description="keyword arguments of the class (not tuned)")
    hyperparameters: dict[Annotated[str, Field(pattern=HYPER_NAME)], RangeSettings] = Field(
        min_length=1, description="name -> {low, high, scale}: the box CDT searches (scale log "
        "unless given); select() gets a value for each, every round")

    @field_validator("path")
    @classmethod
    def _folder(cls, v: str | None, info: ValidationInfo) -> str:
        study_file = refs.study_file_of(info.context)
        return str(refs.locate(v, study_file, directory=True) if v else refs.study_dir(study_file))

    @field_validator("cls")
    @classmethod
    def _importable(cls, v: str, info: ValidationInfo) -> str:
        from searchlab.methods.cdt.user import check_class

        if "path" in info.data:  # else the path was refused: that error is reported
            check_class(refs.import_ref(v, info.data["path"]), v, None)
        return v

    @field_validator("args")
    @classmethod
    def _arguments(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        from searchlab.methods.cdt.user import check_init

        if "path" in info.data and "cls" in info.data:
            check_init(refs.import_ref(info.data["cls"], info.data["path"]), info.data["cls"], v)
        return v

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, v: str) -> str:
        if v in BANDITS:
            raise ValueError(f"'{v}' is a built-in bandit; choose another name")
        return v

    def bandit_class(self) -> type:
        return refs.import_ref(self.cls, self.path)

    @property
    def space(self) -> tuple[HyperParam, ...]:
        return tuple(HyperParam(n, r.low, r.high, r.scale) for n, r in self.hyperparameters.items())

    def spec(self) -> dict[str, Any]:
        """What :func:`searchlab.methods.cdt.simulate.make_bandit` builds it from (JSON-able)."""
        return {"label": self.name, "class": self.cls, "path": self.path, "args": dict(self.args),
                "hyperparameters": {n: r.model_dump() for n, r in self.hyperparameters.items()}}


def _bandit_kind(v: Any) -> str:
    return "user" if isinstance(v, (dict, UserBanditSettings)) else "builtin"


BanditSettings = Annotated[Annotated[BanditName, Tag("builtin")]
                           | Annotated[UserBanditSettings, Tag("user")],
                           Discriminator(_bandit_kind)]


def spread(r: RangeSettings, n: int = 5) -> list[float]:
    """``n`` values evenly spread over a range in its scale, both ends included."""
    hp = HyperParam("x", r.low, r.high, r.scale)
    return [float(f"{hp.value(u):.4g}") for u in (i / (n - 1) for i in range(n))]


class CDTSettings(MethodSettings):
    """Which environments, bandits and tuners to compare, over how many seeds."""

    # NaN and infinities are refused in every number (issue 23)
    model_config = ConfigDict(allow_inf_nan=False)

    environments: list[EnvironmentSettings] = Field(default_factory=lambda: [SyntheticEnv()],
                                                    min_length=1)
    bandits: list[BanditSettings] = Field(
        ["linucb", "lints"], min_length=1,
        description="built-in names (linucb, lints, ucbglm, glmts, linucb_reg) and your own "
        "bandits ({name, class, hyperparameters, path, args}; docs/cdt.md 'On your own problem')")
    tuners: list[TunerName] = Field(
        ["cdt", "cdt_paper", "theoretical", "op", "tl_authors"], min_length=1,
        description="cdt: the default CDT, hard restarts only on a detected change in the rewards "
        "(better than periodic restarts on stationary problems, see docs/cdt.md); cdt_paper: the "
        "paper's hard restart every H; also cdt_no_restart, cdt_soft, cdt_detect, cdt_detect_only "
        "(the same as cdt, its name before it became the default); op / tl: OP (Gaussian TS, each "
        "candidate once first) and TL (EXP3 on rewards rescaled to [0, 1]) as defined here; "
        "op_authors / tl_authors: the paper's authors' definitions (Beta-Bernoulli TS on the "
        "reward clipped to [0, 1]; EXP3 on the raw reward; the better TL in "
        "benchmarks/cdt_regret.py, so the default list has it); 'oracle': the best fixed value in "
        "hindsight")
    seeds: int = Field(20, ge=1, le=100_000, description="runs per (environment, bandit, tuner)")
    first_seed: int = Field(0, ge=0)
    regularization: float = Field(1.0, gt=0, description="lambda of the one-hyperparameter bandits")
    zooming: ZoomingSettings = ZoomingSettings()
    candidates: dict[str, Annotated[list[float], Field(min_length=1)]] = Field(
        {"alpha": [0.5, 1, 3, 5, 7], "v": [0.5, 1, 3, 5, 7], "lam": [0.1, 1, 10]},
        description="OP/TL candidate values per hyperparameter, ours and the authors' (the "
        "paper's set by default); your bandits' hyperparameters not named here get 5 values "
        "spread over their range")
    oracle_grid: dict[str, Annotated[list[float], Field(min_length=1)]] = Field(
        {"alpha": [0, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5], "v": [0, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4],
         "lam": [0.1, 1, 10]},
        description="values tried by the best-fixed-in-hindsight oracle ('oracle' tuner: every "
        "combination, one run each per seed); your bandits' hyperparameters not named in the "
        "oracle_grid the study file writes get 5 values spread over their range")
    chunks: int = Field(200, ge=1, le=100_000,
                        description="points of the regret curve sent to MLflow")

    # ---- per bandit: a built-in name or your own bandit
    @staticmethod
    def bandit_label(b: str | UserBanditSettings) -> str:
        return b if isinstance(b, str) else b.name

    @staticmethod
    def bandit_space(b: str | UserBanditSettings) -> tuple[HyperParam, ...]:
        return BANDITS[b].hyperparams if isinstance(b, str) else b.space

    def _values(self, block: str, b: str | UserBanditSettings) -> dict[str, list[float]]:
        table: dict[str, list[float]] = getattr(self, block)
        if isinstance(b, str):
            return {h.name: table[h.name] for h in BANDITS[b].hyperparams if h.name in table}
        written = block in self.model_fields_set
        return {n: table[n] if written and n in table else spread(r)
                for n, r in b.hyperparameters.items()}

    def oracle_values(self, b: str | UserBanditSettings) -> dict[str, list[float]]:
        """The oracle's values per hyperparameter of bandit ``b`` (their product is its grid)."""
        return self._values("oracle_grid", b)

    def candidate_values(self, b: str | UserBanditSettings) -> dict[str, list[float]]:
        """OP's and TL's candidate values per hyperparameter of bandit ``b``."""
        return self._values("candidates", b)

    @model_validator(mode="after")
    def _names(self) -> CDTSettings:
        labels = [self.bandit_label(b) for b in self.bandits]
        twice = sorted({x for x in labels if labels.count(x) > 1})
        if twice:
            raise ValueError(f"bandits: '{twice[0]}' is listed twice")
        for b in self.bandits:
            names = [h.name for h in self.bandit_space(b)]
            label = self.bandit_label(b)
            for block, tuners in (("candidates", {"op", "op_authors", "tl", "tl_authors"}),
                                 ("oracle_grid", {"oracle"})):
                table = self._values(block, b)
                missing = [n for n in names if n not in table]
                if tuners & set(self.tuners) and missing:
                    raise ValueError(f"{block} has no values for {', '.join(missing)} "
                                     f"(bandit {label})")
            if "theoretical" in self.tuners and not isinstance(b, str):
                from searchlab.methods.cdt.user import has_theoretical

                if not has_theoretical(b.bandit_class()):
                    raise ValueError(f"tuner 'theoretical' needs bandit '{label}' ({b.cls}) to "
                                     "define theoretical(t, sigma, delta, theta_norm); define it "
                                     "or remove 'theoretical' from tuners")
        known = {h.name for b in BANDITS.values() for h in b.hyperparams}
        known |= {h.name for b in self.bandits for h in self.bandit_space(b)}
        for n in (self.zooming.ranges or {}):
            if n not in known:
                raise ValueError(f"zooming.ranges: unknown hyperparameter '{n}'; use one of "
                                 f"{', '.join(sorted(known))}")
        return self


def check_bandits_play(s: CDTSettings) -> None:
    """Every user bandit plays one round on every environment of the study (built from seed 0,
    each hyperparameter at the middle of its range); ValueError pointing at the bandit's entry
    (``method.bandits.<i>``) when it cannot."""
    from searchlab.methods.base import invalid
    from searchlab.methods.cdt.user import smoke_round

    for i, b in enumerate(s.bandits):
        if isinstance(b, str):
            continue
        for env in s.environments:
            try:
                smoke_round(b.spec(), env.params())
            except ValueError as e:
                raise invalid(f"bandit '{b.name}' ({b.cls}) on environment '{env.label}': {e}",
                              "method", "bandits", i) from None


def plan(s: CDTSettings) -> list[str]:
    """What ``searchlab validate`` says about the environments and bandits of a study."""
    lines = []
    for env in s.environments:
        where = f", {env.file}" if getattr(env, "file", None) else ""
        lines.append(f"env        {env.label}: {env.kind}, {env.rounds} rounds{where}")
    ranges = s.zooming.ranges or {}
    for b in s.bandits:
        space = ", ".join(f"{h.name} [{r.low:g}, {r.high:g}] {r.scale}" for h in s.bandit_space(b)
                          for r in [ranges.get(h.name, h)])
        grid = s.oracle_values(b)
        size = math.prod(len(v) for v in grid.values()) if "oracle" in s.tuners else 0
        what = "built-in" if isinstance(b, str) else f"{b.cls} from {b.path}"
        lines.append(f"bandit     {s.bandit_label(b)}: {what}; CDT searches {space}"
                     + (f"; oracle: {size} fixed values" if size else ""))
    return lines
