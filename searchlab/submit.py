"""``searchlab submit``: send a study file and its workload code to a Ray cluster as a job.

A submitted study runs as ``searchlab run FILE`` on the cluster's head node: the same study file
runs unchanged locally and on a cluster. The study file and the user's workload code travel as
the job's runtime environment (``working_dir``); the tracking URI travels as the job's
``MLFLOW_TRACKING_URI``. Nothing is sent before the study file is valid.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from searchlab.cluster import LOOPBACK, _address, _call, _client, _follow
from searchlab.errors import SearchlabError

#: never packaged: local results and stores, version control, caches
EXCLUDES = [".searchlab", ".git", "results", "__pycache__", "*.pyc", ".venv", "venv",
            ".mypy_cache", ".pytest_cache", ".ruff_cache", "mlruns", "mlartifacts", "*.db"]
#: seconds a submission waits for a cluster that is still starting (its job agent not up)
SUBMIT_PATIENCE = 60.0
#: the most a package may hold (the files Ray would send, after EXCLUDES and .gitignore): half
#: of what Ray uploads at most (512 MiB), where Ray starts warning that the upload may fail
MAX_PACKAGE_BYTES = 256 * 1024 * 1024


class _TooBig(Exception):
    pass


def check_package(root: Path, limit: int = MAX_PACKAGE_BYTES) -> int:
    """The bytes Ray would package from ``root``, walking it as Ray does (its excludes and
    .gitignore files) and stopping at ``limit``: the filesystem root, the home directory and a
    directory holding more than ``limit`` are refused before anything is read or sent."""
    import logging

    from ray._private.ray_constants import RAY_RUNTIME_ENV_IGNORE_GITIGNORE
    from ray._private.runtime_env.packaging import _dir_travel, _get_excludes

    if root == Path(root.anchor) or root == Path.home().resolve():
        what = "filesystem root" if root == Path(root.anchor) else "home directory"
        raise SearchlabError(f"refusing to package {root} (the {what}): pass --working-dir with "
                             "your project's directory")
    total = 0

    def add(path: Path) -> None:
        nonlocal total
        if path.is_file():
            total += path.stat().st_size
            if total > limit:
                raise _TooBig

    quiet = logging.getLogger("searchlab.package")  # Ray logs each path it gives up on
    quiet.disabled = True
    gitignore = os.environ.get(RAY_RUNTIME_ENV_IGNORE_GITIGNORE, "0") != "1"
    try:
        _dir_travel(root, [_get_excludes(root, EXCLUDES)], add, include_gitignore=gitignore,
                    logger=quiet)
    except _TooBig:
        raise SearchlabError(f"refusing to package {root}: it holds more than "
                             f"{limit >> 20} MiB besides the excluded files; pass --working-dir "
                             "with a smaller directory, or list large files in a .gitignore"
                             ) from None
    except (OSError, RecursionError) as e:
        raise SearchlabError(f"cannot package {root}: {e}") from None
    return total


def _is_loopback(address: str) -> bool:
    host = urlparse(address if "://" in address else f"x://{address}").hostname or address
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_local_store(uri: str) -> bool:
    scheme = urlparse(uri).scheme
    return scheme in ("", "file", "sqlite") or len(scheme) == 1  # a path, or C:\ on Windows


def plan_package(study_file: Path, workload_path: str | None,
                 working_dir: str | None) -> tuple[Path, str, list[str]]:
    """The directory to package, the study file's path inside it, and warnings.

    A relative ``workload.path`` is found as ``searchlab run`` finds it (from the study file's
    directory, else from the current one); the package is the smallest directory holding both
    the study file and that code, so the job finds the code at the same place relative to the
    study file."""
    from searchlab.spec.parse import workload_dir

    warnings: list[str] = []
    study_file = study_file.resolve()
    relative_code = bool(workload_path) and not os.path.isabs(workload_path or "")
    code: Path | None = None
    if relative_code:
        code = workload_dir(workload_path, str(study_file))  # type: ignore[arg-type]
        if code is None:
            raise SearchlabError(f"workload.path '{workload_path}' is not a directory (relative "
                                 f"paths start at the study file's directory, {study_file.parent})")
    if working_dir:
        root = Path(working_dir).resolve()
        if not root.is_dir():
            raise SearchlabError(f"--working-dir {working_dir} is not a directory")
    elif code is not None:
        root = Path(os.path.commonpath([study_file.parent, code]))
        if root == Path(root.anchor) or root == Path.home().resolve():
            raise SearchlabError(f"the study file and workload.path '{workload_path}' share only "
                                 f"{root}, too much to package; pass --working-dir")
    else:
        root = study_file.parent
    try:
        inside = study_file.relative_to(root)
    except ValueError:
        raise SearchlabError(f"{study_file} is outside the packaged directory {root}; pass "
                             "--working-dir with a directory that contains it") from None
    if code is not None:
        try:
            code.relative_to(root)
        except ValueError:
            raise SearchlabError(f"workload.path '{workload_path}' ({code}) is outside the "
                                 f"packaged directory {root}; pass --working-dir with a "
                                 "directory that contains both") from None
    elif workload_path:
        absolute = Path(workload_path).resolve()
        try:
            absolute.relative_to(root)
            warnings.append(f"workload.path '{workload_path}' is absolute: the job imports from "
                            "that path, which must exist on every node (a relative path is "
                            "packaged)")
        except ValueError:
            warnings.append(f"workload.path '{workload_path}' is absolute and outside {root}: it "
                            "is not packaged and must exist on every node of the cluster")
    return root, inside.as_posix(), warnings


def _tracking(args: argparse.Namespace, study: Any, address: str) -> tuple[str | None, list[str]]:
    """The MLFLOW_TRACKING_URI the job gets (None: none set), and warnings."""
    from searchlab.tracking.store import default_uri, redact

    if not study.tracking.enabled:
        return None, []
    warnings: list[str] = []
    if args.tracking_uri and study.tracking.uri and args.tracking_uri != study.tracking.uri:
        raise SearchlabError(f"the study file sets tracking.uri ({redact(study.tracking.uri)}), "
                             "which wins over --tracking-uri; drop one of them")
    explicit = args.tracking_uri or study.tracking.uri
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI")
    local_cluster = _is_loopback(address)
    if uri is None:
        if not local_cluster:
            raise SearchlabError(
                f"no shared MLflow tracking server for the job on {redact(address)}: pass "
                "--tracking-uri http://HOST:5000 with a server every node reaches (`searchlab "
                "server`), set MLFLOW_TRACKING_URI, or set tracking.enabled: false")
        uri = default_uri()  # same machine: the store a local `searchlab run` would use
        warnings.append(f"tracking to {redact(uri)} on this machine (no --tracking-uri)")
    elif _is_local_store(uri):
        if not local_cluster and not explicit:
            raise SearchlabError(
                f"MLFLOW_TRACKING_URI is a local store ({redact(uri)}) but the cluster at "
                f"{redact(address)} is remote: its head node would write to a file there that "
                "nobody else sees; pass --tracking-uri http://HOST:5000 (`searchlab server`)")
        if not local_cluster:
            warnings.append(f"tracking to {redact(uri)}: a file on the cluster's head node, "
                            "not shared with this machine or other nodes")
    elif not local_cluster and _is_loopback(urlparse(uri).hostname or ""):
        warnings.append(f"tracking URI {redact(uri)} is a loopback address: the job on the "
                        "cluster looks for MLflow on the head node itself")
    return uri, warnings


def cmd_submit(args: argparse.Namespace) -> int:
    from searchlab.spec.parse import load_study
    from searchlab.tracking.store import redact

    loaded = load_study(args.file)  # nothing is sent before the file is valid
    study = loaded.study
    wpath = study.workload.path if study.workload is not None else None
    address = _address(args)
    root, inside, warnings = plan_package(Path(args.file), wpath, args.working_dir)
    check_package(root)
    if study.workload is not None:  # the workload imports here as it will there: fail early
        from searchlab.workloads import check_signature, resolve

        code = loaded.workload_path or wpath
        check_signature(resolve(study.workload.ref, code, study.workload.function),
                        study.workload.function, study.workload.args)
    from searchlab.preflight import method_references

    method_references(loaded)  # the "module:name" references the method's settings name, too
    uri, more = _tracking(args, study, address)
    warnings += more

    entry = ["searchlab", "run", inside, "--quiet"]
    if args.storage:
        entry += ["--storage", args.storage]
    if args.restart:
        entry.append("--restart")
    # trials stay in the job's directory (the unpacked package, on every node) instead of Tune's
    # per-trial directory, so that relative paths (workload.path, data files) resolve there
    env = {"PYTHONUNBUFFERED": "1", "RAY_CHDIR_TO_TRIAL_DIR": "0"}
    if uri:
        env["MLFLOW_TRACKING_URI"] = uri
    runtime_env = {"working_dir": str(root), "excludes": EXCLUDES, "env_vars": env}

    client = _client(address)  # connection errors name the address
    for w in warnings:
        print(f"searchlab: warning: {w}", file=sys.stderr)
    kwargs: dict[str, Any] = {"entrypoint": shlex.join(entry), "runtime_env": runtime_env}
    if args.job_id:
        kwargs["submission_id"] = args.job_id
    job = _call(address, "job submission", client.submit_job, patience=SUBMIT_PATIENCE, **kwargs)
    where = redact(address)
    if args.no_wait:
        print(job)
        print(f"searchlab: submitted study '{study.name}' to {where} as job {job} "
              f"(packaged {root}); follow it with: searchlab logs {job} --follow --address "
              f"{shlex.quote(where)}", file=sys.stderr)
        return 0
    print(f"searchlab: submitted study '{study.name}' to {where} as job {job} (packaged {root}); "
          "following its logs (Ctrl-C stops following, not the job)", file=sys.stderr)
    print(job)
    sys.stdout.flush()
    return _follow(client, address, job)


# ---------------------------------------------------------------------------- server
