"""One writer per study: a second driver on a running study is refused, naming the holder.

Two locks, both taken before the study's state is read:

* **the storage directory**: an OS file lock (``filelock``, ``flock`` on POSIX) on
  ``<storage>/.<study>.lock``, with the holder (host, process id, since when) in
  ``<storage>/.<study>.holder.json``. The kernel lets go of the lock when the process dies, even
  by ``kill -9``; the holder file it leaves behind says who ran the study before.
* **the MLflow experiment**, for drivers on other machines with other storage: a lease in an
  experiment tag ``searchlab.lock.<study>`` (holder, and a heartbeat every
  :data:`HEARTBEAT_S` seconds). A lease whose process is gone (same host, same boot) or whose
  heartbeat is older than :data:`STALE_S` seconds is taken over; MLflow has no compare-and-set,
  so a new holder writes its lease, and :data:`SETTLE_S` later (while its Ray and Tune start,
  :meth:`StudyLock.confirm_lease`) reads it back, before any trial: of two drivers that start at
  the same moment, the later write wins and the other one refuses.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from searchlab.errors import SearchlabError

HEARTBEAT_S = float(os.environ.get("SEARCHLAB_LOCK_HEARTBEAT_S", "15"))
STALE_S = float(os.environ.get("SEARCHLAB_LOCK_STALE_S", str(4 * HEARTBEAT_S)))
SETTLE_S = 1.0
TAG = "searchlab.lock."


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None where /proc is missing
    or the process is gone."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        btime = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                     if line.startswith("btime "))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


@dataclass
class Holder:
    """Who runs a study: this is written into the lock's holder file and the MLflow lease."""

    host: str
    pid: int
    since: float
    boot: str = ""
    started: float | None = None  # the process's own start time (pid reuse)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    heartbeat: float = 0.0

    @classmethod
    def me(cls) -> Holder:
        now = time.time()
        return cls(socket.gethostname(), os.getpid(), now, _boot_id(), _process_start(os.getpid()),
                   heartbeat=now)

    @classmethod
    def parse(cls, text: str | None) -> Holder | None:
        try:
            d = json.loads(text or "")
            return cls(str(d["host"]), int(d["pid"]), float(d["since"]), str(d.get("boot", "")),
                       d.get("started"), str(d.get("id", "")), float(d.get("heartbeat") or 0))
        except (ValueError, KeyError, TypeError):
            return None

    def dump(self) -> str:
        return json.dumps(asdict(self))

    def on_this_machine(self) -> bool:
        return self.host == socket.gethostname() and (not self.boot or self.boot == _boot_id())

    def process_alive(self) -> bool:
        """Its process still runs (only meaningful on this machine)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        started = _process_start(self.pid)
        if started is None or self.started is None:
            return True
        return abs(started - self.started) < 2.0  # another process has that pid now

    def live(self, now: float | None = None) -> bool:
        """Still running the study: its process is there (this machine), or its heartbeat is
        fresh (another machine)."""
        if self.on_this_machine():
            return self.process_alive()
        return (now or time.time()) - self.heartbeat < STALE_S

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"driver pid {self.pid} on {self.host}, since {since}"


def _busy(study: str, holder: Holder | None, where: str) -> SearchlabError:
    who = holder.describe() if holder else "another driver, starting"
    extra = ""
    if holder and not holder.on_this_machine():
        age = time.time() - holder.heartbeat
        extra = f", last heartbeat {age:.0f} s ago"
    return SearchlabError(
        f"study '{study}' is already running ({who}{extra}; {where}); one driver per study: wait "
        "for it to end, stop it, or give this run another study name")


class StudyLock:
    """The study's lock: :meth:`acquire` the file lock once the storage directory is known,
    :meth:`lease` in MLflow once the experiment is, :meth:`release` at the end (both)."""

    def __init__(self, root: Path, study: str) -> None:
        self.root, self.study = Path(root), study
        self.me = Holder.me()
        self.took_over: Holder | None = None  # the dead holder this driver replaced
        self._file: Any = None
        self._lease: tuple[Any, str] | None = None  # (MlflowClient, experiment id)
        self._unconfirmed: tuple[float, Holder | None, Any] | None = None  # see confirm_lease
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    @property
    def lock_path(self) -> Path:
        return self.root / f".{self.study}.lock"

    @property
    def holder_path(self) -> Path:
        return self.root / f".{self.study}.holder.json"

    # ------------------------------------------------------------------ the storage directory
    def acquire(self, out: Any = None) -> None:
        """Take the storage directory's lock, or raise :class:`SearchlabError` naming the
        driver that holds it."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            holder = Holder.parse(_read(self.holder_path))
            raise _busy(self.study, holder, f"lock {self.lock_path}") from None
        self._file = lock
        earlier = Holder.parse(_read(self.holder_path))
        if earlier is not None and earlier.id != self.me.id:
            self._taken_over(earlier, out)
        tmp = self.holder_path.with_suffix(".tmp")
        tmp.write_text(self.me.dump())
        tmp.replace(self.holder_path)

    def _taken_over(self, earlier: Holder, out: Any) -> None:
        if self.took_over is not None and self.took_over.id == earlier.id:
            return  # said once
        self.took_over = earlier
        if out is not None:
            out.write(f"searchlab: study '{self.study}' was left locked by {earlier.describe()}"
                      f", which is gone ({self._how_gone(earlier)}); taking it over\n")

    @staticmethod
    def _how_gone(earlier: Holder) -> str:
        if earlier.on_this_machine():
            return "killed?"
        return f"no heartbeat for {time.time() - earlier.heartbeat:.0f} s"

    # ------------------------------------------------------------------ the MLflow lease
    def lease(self, client: Any, experiment_id: str, out: Any = None, *,
              confirm_later: bool = False) -> None:
        """Take the study's lease in its MLflow experiment, or raise naming its live holder.
        A heartbeat thread keeps it fresh until :meth:`release`.

        The lease is written, then read back :data:`SETTLE_S` later (:meth:`confirm_lease`).
        ``confirm_later``: where no earlier holder is found, return at once and let the caller
        confirm before anything runs, so that the wait overlaps its own start-up; a lease taken
        over from an earlier holder is always confirmed here."""
        key = TAG + self.study
        current = Holder.parse(client.get_experiment(experiment_id).tags.get(key))
        if current is not None and current.id != self.me.id and current.live():
            raise _busy(self.study, current, f"MLflow experiment tag {key}")
        self.me.heartbeat = time.time()
        client.set_experiment_tag(experiment_id, key, self.me.dump())
        # released with the rest (only while it still names us), confirmed or not
        self._lease = (client, experiment_id)
        self._unconfirmed = (time.monotonic() + SETTLE_S,
                             current if current is not None and current.id != self.me.id
                             else None, out)
        if not confirm_later or current is not None:
            self.confirm_lease()

    def confirm_lease(self) -> None:
        """Read the lease back once :data:`SETTLE_S` have passed since it was written: a driver
        that read the tag as we did has written by then, and the later write wins. Raises
        naming the winner; else starts the heartbeat. Does nothing without a lease to confirm."""
        if self._unconfirmed is None or self._lease is None:
            return
        (ready_at, earlier, out), self._unconfirmed = self._unconfirmed, None
        client, experiment_id = self._lease
        key = TAG + self.study
        time.sleep(max(0.0, ready_at - time.monotonic()))
        now = Holder.parse(client.get_experiment(experiment_id).tags.get(key))
        if now is None or now.id != self.me.id:
            self._lease = None  # the tag is the other driver's now
            raise _busy(self.study, now, f"MLflow experiment tag {key}")
        if earlier is not None:
            self._taken_over(earlier, out)
        self._beat = threading.Thread(target=self._heartbeat, name="searchlab-lock", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            assert self._lease is not None
            client, experiment_id = self._lease
            self.me.heartbeat = time.time()
            try:
                client.set_experiment_tag(experiment_id, TAG + self.study, self.me.dump())
            except Exception:  # noqa: BLE001 - MLflow is away: the writer says so
                pass

    # ------------------------------------------------------------------ both
    def release(self) -> None:
        self._stop.set()
        self._unconfirmed = None
        if self._beat is not None:
            self._beat.join(timeout=5)
            self._beat = None
        if self._lease is not None:
            client, experiment_id = self._lease
            self._lease = None
            key = TAG + self.study
            try:
                current = Holder.parse(client.get_experiment(experiment_id).tags.get(key))
                if current is not None and current.id == self.me.id:
                    client.set_experiment_tag(experiment_id, key, "")
            except Exception:  # noqa: BLE001 - unreachable: the lease goes stale by itself
                pass
        if self._file is not None:
            try:
                self.holder_path.unlink()
            except OSError:
                pass
            self._file.release()
            self._file = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None
