"""The Ray-free core of a stopping rule searchlab writes itself.

A :class:`TrialRule` is told every result of every trial (its id, its flat config, the epoch and
the value of the study's metric) and answers whether to stop the trial now. It knows nothing of
Ray: tests drive it with scripted fake trials, and one thin adapter
(:class:`searchlab.stopping.adapter.RuleScheduler`) makes it a Ray Tune ``TrialScheduler``, as Ray's
own ASHA keeps its algorithm in ``_Bracket``. The predictive rule
(:class:`searchlab.predictive.core.PredictiveRule`) is one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any


class TrialRule(ABC):
    """Decisions on trials from their reported values, free of Ray."""

    @abstractmethod
    def on_result(self, trial_id: str, config: Mapping[str, Any], epoch: int,
                  value: float) -> bool:
        """A trial reported ``value`` after ``epoch`` epochs (1-based; a trial restarted from
        its beginning reports epoch 1 again). True: stop it now."""

    def on_end(self, trial_id: str, config: Mapping[str, Any], epoch: int | None,
               value: float | None) -> None:  # noqa: B027 - optional hook
        """The trial ended (ran to its end, was stopped, or failed), with its last result when
        it had one."""

    @property
    def ready(self) -> bool:
        """Whether the rule decides yet; until then the adapter's fallback rule may."""
        return True

    def describe(self) -> str:
        """One line on the rule's state (Tune's debug string)."""
        return type(self).__name__

    def state(self) -> dict[str, Any]:
        """What :meth:`load` needs to continue (picklable)."""
        return {}

    def load(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Continue from :meth:`state`."""
