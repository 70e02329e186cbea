"""A PostgreSQL server of searchlab's own, for one machine: ``searchlab server``'s database.

It uses the system's PostgreSQL (Debian package ``postgresql``; ``scripts/setup.sh`` installs
it): ``initdb`` makes a database cluster in a directory of the caller's, ``pg_ctl`` starts and
stops it. It listens on 127.0.0.1 only (no Unix socket), and only the role ``searchlab`` may log
in, with a random password kept in files readable by the owner alone (``password`` and a
libpq ``pgpass`` file, which ``PGPASSFILE`` names for clients): the password never appears on a
command line, in a URI or in a log. PostgreSQL refuses to run as root; run as root, searchlab
runs it as the system user ``postgres``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from searchlab.errors import SearchlabError

USER = "searchlab"
DATABASE = "mlflow"
SYSTEM_USER = "postgres"  # who runs the server when searchlab runs as root


def binaries() -> Path | None:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres``: on PATH, else Debian's
    ``/usr/lib/postgresql/<version>/bin`` (the newest); None when PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    candidates = [Path(found).resolve().parent] if found else []
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    candidates += versions[::-1]
    for d in candidates:
        if all((d / b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as PostgreSQL binds it: the
        try:  # connections of a server that just stopped (TIME_WAIT) leave the port to it
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class LocalPostgres:
    """The database cluster in ``directory`` (made on first :meth:`start`)."""

    directory: Path

    def __post_init__(self) -> None:
        self.directory = Path(self.directory).resolve()
        self.bin = binaries()
        self.port = 0

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def passfile(self) -> Path:
        return self.directory / "pgpass"

    @property
    def settings(self) -> Path:
        return self.directory / "searchlab-postgres.json"

    def uri(self, database: str = DATABASE) -> str:
        """The SQLAlchemy URI, without the password (libpq reads it from ``PGPASSFILE``)."""
        from searchlab.tracking.store import sql_driver

        return sql_driver(f"postgresql://{USER}@127.0.0.1:{self.port}/{database}")

    def env(self) -> dict[str, str]:
        """What a client process needs in its environment to log in."""
        return {"PGPASSFILE": str(self.passfile)}

    # ------------------------------------------------------------------ running it
    def _as_owner(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        runuser = shutil.which("runuser") or shutil.which("setpriv")
        if runuser is None:
            raise SearchlabError("PostgreSQL does not run as root and neither runuser nor setpriv "
                                 "is there to run it as user 'postgres'; run as another user")
        if runuser.endswith("runuser"):
            return [runuser, "-u", SYSTEM_USER, "--"]
        import pwd

        pw = pwd.getpwnam(SYSTEM_USER)
        return [runuser, f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        assert self.bin is not None
        full = [*self._as_owner(), str(self.bin / cmd[0]), *cmd[1:]]
        r = subprocess.run(full, capture_output=True, text=True, timeout=180,
                           cwd=str(self.directory))
        if check and r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"]
            raise SearchlabError(f"PostgreSQL: {cmd[0]} failed: {tail[0][:300]} (log: {self.log})")
        return r

    def _own(self, *paths: Path) -> None:
        """As root, hand the server's files to the user that runs it."""
        if os.geteuid() != 0:
            return
        import pwd

        pw = pwd.getpwnam(SYSTEM_USER)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid)

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        """A fresh database cluster: role ``searchlab`` with a random password."""
        if self.bin is None:
            raise SearchlabError("PostgreSQL is not installed (Debian: apt-get install "
                                 "postgresql; scripts/setup.sh does it); or pass "
                                 "--backend-store-uri")
        self.directory.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        pwfile = self.directory / "password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        self._own(self.directory, pwfile)
        if os.geteuid() == 0:
            probe = subprocess.run([*self._as_owner(), "test", "-w", str(self.directory)])
            if probe.returncode != 0:
                raise SearchlabError(
                    f"PostgreSQL does not run as root; searchlab runs it as user "
                    f"'{SYSTEM_USER}', who cannot reach {self.directory} (make its parent "
                    "directories traversable, o+x, or use another directory)")
        self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
                  "--auth-host=scram-sha-256", "--auth-local=reject", "-E", "UTF8",
                  "--locale=C")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("\n# searchlab: loopback only, no Unix socket, enough connections for\n"
                    "# MLflow's server workers and drivers\n"
                    "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                    "max_connections = 200\n")

    def _password(self) -> str:
        return (self.directory / "password").read_text().strip()

    def start(self) -> str:
        """Start it (making it first if need be), make the ``mlflow`` database; the URI."""
        if not self.initialized():
            self.init()
        saved = _read_json(self.settings)
        port = int(saved.get("port") or 0)
        if self.running():
            self.port = port
        else:
            self.port = port if port and _port_free(port) else _free_port()
            self.log.touch()
            self._own(self.log)
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "120",
                      "-o", f"-p {self.port}", "start")
        _write_json(self.settings, {"port": self.port})
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"127.0.0.1:{self.port}:*:{USER}:{self._password()}\n")
        self.create_database(DATABASE)
        return self.uri()

    def running(self) -> bool:
        if self.bin is None or not self.initialized():
            return False
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def stop(self) -> None:
        if self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "120", "stop")

    def restart(self) -> None:
        """Stop and start again on the same port (what an operator's restart does)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-m", "fast", "-w",
                  "-t", "120", "-o", f"-p {self.port}", "restart")

    def create_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=USER,
                                password=self._password(), dbname="postgres", connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))
