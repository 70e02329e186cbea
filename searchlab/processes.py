"""Child process groups that searchlab starts (the MLflow UI and server) and must stop."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End a child's whole process group (a server and its workers): SIGTERM, then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # workers still shutting down, or a stuck server
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
