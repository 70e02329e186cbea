"""Learning-rate-free optimizers scored the AlgoPerf way (Kasimbeg et al. 2025, "How far away are
truly hyperparameter-free learning algorithms?").

Layout (Ray-free; the method speaks the ask/tell protocol of :mod:`searchlab.methods.base`):

- :mod:`.scoring` -- AlgoPerf time to target, medians, 4x cut-off, performance profiles, scores.
- :mod:`.optimizers` -- DoG, D-Adaptation, Prodigy, Mechanic, schedule-free AdamW, Lion, AdamW,
  NadamW from their packages, with literature defaults and calibration spaces.
- :mod:`.workloads` -- five small workloads on one training loop; :mod:`.synthetic` for tests.
- :mod:`.method` / :mod:`.settings` / :mod:`.figures` -- the ``lr_free`` method and its analysis.
"""

from typing import Any

#: the library a workload of your own uses (docs/lr_free.md, "On your own problem")
__all__ = ["Problem", "build_optimizer", "train"]


def __getattr__(name: str) -> Any:  # imported when used: torch only for those who train
    if name in __all__:
        from searchlab.methods.lr_free import workloads

        return getattr(workloads, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
