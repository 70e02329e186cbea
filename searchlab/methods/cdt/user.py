"""Your own bandit under CDT: the protocol its class follows, and the wrapper that plays it.

A user's bandit is a class named in the study file as ``"package.module:Class"``
(``method.bandits: [{name: ..., class: ..., hyperparameters: {...}}]``, docs/cdt.md "On your own
problem")::

    class MyBandit:
        def __init__(self, dim: int, arms: int, rng: numpy.random.Generator, **args): ...
        def select(self, contexts: numpy.ndarray, hyper: dict[str, float]) -> int: ...
        def update(self, arm: int, context: numpy.ndarray, reward: float) -> None: ...
        # optional, for the 'theoretical' tuner: the values the bandit's regret bound prescribes
        def theoretical(self, t: int, sigma: float, delta: float,
                        theta_norm: float) -> dict[str, float]: ...

- ``__init__``: one instance per run, before the first round. ``dim`` is the context length d,
  ``arms`` the number of arms K, ``rng`` a generator seeded from the run's seed (draw all the
  bandit's randomness from it: runs are then reproducible), ``args`` the study file's
  ``args:`` mapping (fixed settings that are not tuned).
- ``select``: every round. ``contexts`` is the K x d array of the arms' contexts; ``hyper``
  maps every hyperparameter declared in the study file to the value to use this round (CDT
  changes them from round to round). Returns the arm to pull, an integer in [0, K).
- ``update``: after every round, with the pulled arm, its context (a d-vector) and the reward it
  paid. During CDT's warm-up (its first ``zooming.warmup`` rounds) arms are pulled at random and
  only ``update`` is called.
- ``theoretical(t, sigma, delta, theta_norm)``: round ``t`` (from 1), the environment's noise
  scale, the confidence level and the bound on ``||theta*||``; returns a value for every
  hyperparameter. Only the ``theoretical`` tuner calls it; without it that tuner is refused.

The class is imported and its signatures checked when the study file is validated, and one
instance is built and plays one round on every environment of the study (with each
hyperparameter at the middle of its range), so a broken bandit fails ``searchlab validate``
with the study file's line instead of failing every trial.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from searchlab.methods.cdt.bandits import Bandit, HyperParam


class UserBandit(Bandit):
    """A user's bandit object behind the built-in bandits' interface (``select(X, h, z)``,
    ``update(x, r, arm)``, ``theoretical``)."""

    def __init__(self, cls: type, label: str, space: Sequence[HyperParam], d: int, arms: int,
                 rng: np.random.Generator, args: Mapping[str, Any] | None = None) -> None:
        self.name = label  # type: ignore[misc]  # an instance's name: the study file's label
        self.hyperparams = tuple(space)  # type: ignore[misc]
        self.names = [h.name for h in self.hyperparams]
        self.d, self.K, self.label = d, arms, label
        self.obj = cls(dim=d, arms=arms, rng=rng, **dict(args or {}))
        self._select, self._update = self.obj.select, self.obj.update

    def select(self, X: np.ndarray, h: np.ndarray, z: np.ndarray) -> int:
        a = self._select(X, dict(zip(self.names, h.tolist())))
        try:
            arm = int(a)
        except (TypeError, ValueError):
            arm = -1
        if arm != a or not 0 <= arm < self.K:
            raise ValueError(f"bandit '{self.label}': select returned {a!r}, not an arm index "
                             f"in [0, {self.K})")
        return arm

    def update(self, x: np.ndarray, r: float, arm: int = -1) -> None:
        self._update(arm, x, float(r))

    def theoretical(self, t: int, sigma: float, delta: float = 0.05,
                    theta_norm: float = 1.0) -> np.ndarray:
        values = self.obj.theoretical(t, sigma, delta, theta_norm)
        missing = [n for n in self.names if not isinstance(values, Mapping) or n not in values]
        if missing:
            raise ValueError(f"bandit '{self.label}': theoretical() must return a mapping with "
                             f"{', '.join(self.names)}; missing {', '.join(missing)}")
        return np.array([float(values[n]) for n in self.names])


def check_class(cls: Any, ref: str, args: Mapping[str, Any] | None = None) -> None:
    """Raise ValueError (one line) unless ``cls`` follows the protocol above (its constructor
    too, with ``args``, unless that is None)."""
    if not inspect.isclass(cls):
        raise ValueError(f"'{ref}' is a {type(cls).__name__}, not a class")
    for method, params in (("select", "contexts, hyper"), ("update", "arm, context, reward")):
        fn = getattr(cls, method, None)
        if not callable(fn):
            raise ValueError(f"'{ref}' has no method {method}(self, {params}) (docs/cdt.md)")
        _bindable(fn, ref, f"{method}(self, {params})", [None] * (params.count(",") + 2))
    if args is not None:
        check_init(cls, ref, args)


def check_init(cls: Any, ref: str, args: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``cls(dim=, arms=, rng=, **args)`` can be called."""
    _bindable(cls, ref, "__init__(self, dim, arms, rng" + "".join(f", {k}" for k in args) + ")",
              [], {"dim": 1, "arms": 2, "rng": None, **args})


def has_theoretical(cls: Any) -> bool:
    return callable(getattr(cls, "theoretical", None))


def _bindable(fn: Any, ref: str, wanted: str, args: list[Any],
              kwargs: dict[str, Any] | None = None) -> None:
    try:
        inspect.signature(fn).bind(*args, **(kwargs or {}))
    except TypeError as e:
        raise ValueError(f"'{ref}' must define {wanted}: {e}") from None
    except ValueError:
        pass  # no signature to read (a C extension): the smoke round decides


def smoke_round(bandit: Mapping[str, Any], environment: Mapping[str, Any]) -> None:
    """Build a user's bandit (its spec, see ``UserBanditSettings.spec``) on an environment and
    play one round with every hyperparameter at the middle of its range; ValueError (one line)
    saying which step failed and how."""
    from searchlab.methods.cdt.simulate import make_bandit, make_environment

    rng = np.random.default_rng([0, 0])
    env = make_environment(environment, rng)
    step = "building it"
    try:
        b = make_bandit(bandit, env, 0)
        block = next(env.blocks(rng, 1))
        X = block.contexts[0]
        h = np.array([hp.value(0.5) for hp in b.hyperparams])
        step = "select"
        a = b.select(X, h, np.zeros(env.d))
        step = "update"
        b.update(X[a], float(block.rewards[0, a]), a)
        if isinstance(b, UserBandit) and has_theoretical(type(b.obj)):
            step = "theoretical"
            b.theoretical(1, env.sigma, 0.05, env.theta_norm)
    except Exception as e:  # noqa: BLE001 - the user's code: say where it failed, in one line
        message = (str(e).strip().splitlines() or [""])[0][:300]
        if step in ("select", "theoretical") and isinstance(e, ValueError) and \
                message.startswith(f"bandit '{bandit['label']}'"):
            raise ValueError(message) from None  # the wrapper's own check says it all
        raise ValueError(f"{step} raised {type(e).__name__}: {message} (a {env.K}-arm, "
                         f"{env.d}-dimensional round)") from None
