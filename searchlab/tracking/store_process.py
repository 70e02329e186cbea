"""The MLflow client of a study's driver, in a process of its own.

MLflow's client does its work in Python: importing it costs seconds of CPU, and each call
(SQLAlchemy sessions for a database store, HTTP for a server) takes milliseconds under the GIL.
In Ray Tune's driver that time is taken from Tune's own loop, which starts and ends trials. So
the driver talks to MLflow through :class:`StoreClient`: the same calls as ``MlflowClient`` (the
ones searchlab makes), sent over a pipe to a helper process that imports MLflow, opens the store
(:func:`searchlab.tracking.store.open_store`) and makes them. The calling thread waits on the
pipe without holding the GIL; the driver never imports MLflow.

Arguments and answers are plain data: metrics, params and tags go as tuples, runs, experiments
and metrics come back as :class:`types.SimpleNamespace` with the attributes MLflow's entities
have (``run.info.run_id``, ``run.data.tags``, ``page.token``...). An MLflow error comes back as
:class:`StoreError` with MLflow's message. The helper ends with the driver (its stdin closes).
"""

from __future__ import annotations

import atexit
import os
import pickle
import struct
import subprocess
import sys
import threading
import weakref
from types import SimpleNamespace
from typing import Any

_HEADER = struct.Struct("<Q")


class StoreError(Exception):
    """An error the MLflow client raised in the helper process (its type and message)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _send(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _recv(stream: Any) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    (n,) = _HEADER.unpack(head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


class PagedList(list):
    """A page of ``search_runs``, with the token of the next one (None: the last)."""

    token: str | None = None


_OPEN: weakref.WeakSet[StoreClient] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """At exit: every helper finishes its call and ends, and is waited for."""
    for client in list(_OPEN):
        client.close()


class StoreClient:
    """``MlflowClient`` for ``uri``, served by a helper process (see the module docstring)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._niceness = 0
        self._start()
        _OPEN.add(self)

    def background(self, niceness: int = 10) -> None:
        """From now on the helper yields the CPU to the driver: ``niceness`` above the driver's.

        While a study runs, the helper writes what the writer queued, in the background; at the
        driver's own priority it took CPU from Tune's loop on a machine with few cores, where
        every trial starts and ends. Its work is not lost, only done when the driver waits (and
        all of it before the study's end, which waits for the writer)."""
        self._niceness = niceness
        self._renice()

    def _renice(self) -> None:
        if self._proc is None or not self._niceness or not hasattr(os, "setpriority"):
            return
        try:
            mine = os.getpriority(os.PRIO_PROCESS, 0)
            os.setpriority(os.PRIO_PROCESS, self._proc.pid, min(19, mine + self._niceness))
        except OSError:  # gone, or not ours to change: it simply runs at the driver's priority
            pass

    def _start(self) -> None:
        env = {**os.environ, "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
        self._proc = subprocess.Popen([sys.executable, "-m", "searchlab.tracking.store_process",
                                       self.uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      env=env)
        try:
            kind, answer = _recv(self._proc.stdout)
        except EOFError:
            raise StoreError("EOFError", "the MLflow helper process ended as it started "
                                         "(see its output above)") from None
        if kind == "error":
            self.close()
            raise StoreError(*answer)
        self._renice()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()  # it died (killed, out of memory): a fresh one
            assert self._proc is not None
            try:
                _send(self._proc.stdin, (name, args, kwargs))
                kind, answer = _recv(self._proc.stdout)
            except (EOFError, BrokenPipeError, OSError) as e:
                raise StoreError(type(e).__name__, "the MLflow helper process ended") from None
        if kind == "error":
            raise StoreError(*answer)
        return answer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.call(name, *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def __del__(self) -> None:
        """Unused now: the helper ends once its stdin closes (after the call it is making)."""
        try:
            if self._proc is not None and self._proc.stdin is not None:
                self._proc.stdin.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


# ---------------------------------------------------------------------------- the helper
def _run(r: Any) -> SimpleNamespace:
    info = r.info
    return SimpleNamespace(
        info=SimpleNamespace(run_id=info.run_id, run_name=info.run_name, status=info.status,
                             lifecycle_stage=info.lifecycle_stage,
                             experiment_id=info.experiment_id, start_time=info.start_time,
                             end_time=info.end_time, artifact_uri=info.artifact_uri),
        data=SimpleNamespace(tags=dict(r.data.tags), params=dict(r.data.params),
                             metrics=dict(r.data.metrics)))


def _experiment(e: Any) -> SimpleNamespace | None:
    if e is None:
        return None
    return SimpleNamespace(experiment_id=e.experiment_id, name=e.name,
                           lifecycle_stage=e.lifecycle_stage, tags=dict(e.tags),
                           artifact_location=e.artifact_location)


class _Handler:
    """The calls the driver makes, on a real ``MlflowClient``, answered with plain data."""

    def __init__(self, uri: str) -> None:
        from searchlab.tracking.store import fail_fast, open_store

        fail_fast()
        self.client = open_store(uri)

    def log_batch(self, run_id: str, metrics: list = (), params: list = (),  # type: ignore[assignment]
                  tags: list = ()) -> None:  # type: ignore[assignment]
        from mlflow.entities import Metric, Param, RunTag

        self.client.log_batch(run_id, metrics=[Metric(k, v, ts, s) for k, v, ts, s in metrics],
                              params=[Param(k, v) for k, v in params],
                              tags=[RunTag(k, v) for k, v in tags])

    def search_runs(self, *args: Any, **kwargs: Any) -> PagedList:
        page = self.client.search_runs(*args, **kwargs)
        out = PagedList(_run(r) for r in page)
        out.token = page.token
        return out

    def get_metric_history(self, run_id: str, key: str) -> list[SimpleNamespace]:
        return [SimpleNamespace(key=m.key, value=m.value, step=m.step, timestamp=m.timestamp)
                for m in self.client.get_metric_history(run_id, key)]

    def create_run(self, *args: Any, **kwargs: Any) -> SimpleNamespace:
        """Only ``info`` (what it was given is known to the caller): a small answer, as the
        writer makes one per trial."""
        run = _run(self.client.create_run(*args, **kwargs))
        run.data = SimpleNamespace(tags={}, params={}, metrics={})
        return run

    def get_run(self, run_id: str) -> SimpleNamespace:
        return _run(self.client.get_run(run_id))

    def get_experiment(self, experiment_id: str) -> SimpleNamespace | None:
        return _experiment(self.client.get_experiment(experiment_id))

    def get_experiment_by_name(self, name: str) -> SimpleNamespace | None:
        return _experiment(self.client.get_experiment_by_name(name))

    def __getattr__(self, name: str) -> Any:  # the rest answer nothing, or a string
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            answer = method(*args, **kwargs)
            return answer if answer is None or isinstance(answer, (str, int, float)) else None

        return call


def main() -> None:
    import signal

    # Ctrl-C and SIGTERM reach the driver's whole process group: the driver decides what is
    # still written (an interrupted study marks its runs KILLED), and this helper ends when the
    # driver closes its stdin (or dies: a kill -9 of the group ends it too)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # the protocol owns stdout: whatever MLflow prints goes to stderr
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    try:
        handler = _Handler(sys.argv[1])
    except Exception as e:  # noqa: BLE001 - said to the driver, which says it in one line
        _send(out, ("error", (type(e).__name__, str(e) or repr(e))))
        return
    _send(out, ("ready", None))
    while True:
        try:
            name, args, kwargs = _recv(inp)
        except EOFError:
            # the driver is gone, or done: every call is committed, nothing is buffered, so end
            # now; tearing down MLflow's modules as the interpreter exits takes about 0.4 s, which
            # the driver's exit would wait for
            sys.stderr.flush()
            out.close()
            os._exit(0)
        try:
            answer = getattr(handler, name)(*args, **kwargs)
            _send(out, ("ok", answer))
        except Exception as e:  # noqa: BLE001 - every MLflow error goes back to the caller
            _send(out, ("error", (type(e).__name__, str(e) or repr(e))))


if __name__ == "__main__":
    # through the module's own name, so that what is pickled (PagedList) names it, not __main__
    from searchlab.tracking.store_process import main as _main

    _main()
