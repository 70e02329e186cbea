"""Property-based fuzzing of the study-file parser through the CLI's own entry point.

Every generated document either validates (and `searchlab validate` prints its plan) or fails
with exactly one `searchlab: error:` line and exit status 2 - never a traceback.
"""

from __future__ import annotations

import io
import string
from contextlib import redirect_stderr, redirect_stdout

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchlab.cli import main
from searchlab.spec.parse import MAX_ERRORS

VALID = {
    "name": "fuzz",
    "workload": "sphere",
    "metric": {"name": "loss", "mode": "min"},
    "space": {"x1": {"uniform": [-1.0, 1.0]},
              "opt": {"choice": {"a": {"m": {"int": [1, 4]}}, "b": {}}}},
    "search": {"algorithm": "random", "seed": 0},
    "stopping": {"scheduler": "asha", "grace_period": 1},
    "budget": {"trials": 4, "concurrency": 1, "max_epochs": 3},
}
KEYS = ["name", "workload", "metric", "space", "search", "stopping", "budget", "resources",
        "tracking", "method", "storage", "mode", "uniform", "choice", "grid", "int", "qint",
        "loguniform", "trials", "scheduler", "algorithm", "sampler", "step", "log", "gpu", "cpu",
        "max_epochs", "time_limit", "namee", "spaec", "x1", "__option__", ""]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["min", "max", "asha", "optuna", "grid", "tpe", "1e400", "-0", "30m", "nan"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=20,
)


def _paths(d, prefix=()):
    yield prefix
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, prefix + (k,))


@st.composite
def mutated(draw):
    """The valid study with one part replaced, removed, or a key added, somewhere in the tree."""
    import copy

    doc = copy.deepcopy(VALID)
    paths = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(paths))
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(values)
    elif action == "delete":
        del parent[path[-1]]
    else:
        parent[draw(st.sampled_from(KEYS))] = draw(values)
    return yaml.safe_dump(doc, allow_unicode=True).encode()


def deep(n: int) -> bytes:
    return ("a:\n" + "".join("  " * i + "b:\n" for i in range(1, n)) + "  " * n + "1\n").encode()


documents = st.one_of(
    mutated(),
    st.binary(max_size=200),  # anything, non-UTF-8 included
    st.text(alphabet=string.printable + "{}[]:-#&*!|>'\"%@`\t", max_size=200).map(str.encode),
    values.map(lambda v: yaml.safe_dump(v).encode()),
    st.integers(10, 200).map(deep),
    st.sampled_from([b"name: [unclosed", b"\xff\xfe\x00", b"a: &x [*x]", b"%YAML 9.9\n---\na: 1",
                     b"!!python/object:os.system {}", b"\x00\x01"]),
)


def validate(tmp_path, blob: bytes) -> tuple[int, str, str]:
    p = tmp_path / "fuzz.yaml"
    p.write_bytes(blob)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["validate", str(p)])
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(documents)
def test_any_document_is_either_a_plan_or_clear_errors(tmp_path, blob):
    code, out, err = validate(tmp_path, blob)  # an exception here fails the test: a traceback
    if code == 0:
        assert "valid study" in out and "stopping" in out and err == ""
    else:
        assert code == 2
        lines = err.strip().splitlines()  # every error in the file, one line each
        assert 1 <= len(lines) <= MAX_ERRORS + 1, err
        assert "Traceback" not in err
        for line in lines:
            assert line.startswith("searchlab: error: ") and len(line) < 600, err
            assert str(tmp_path / "fuzz.yaml") in line  # it names the file


def test_the_unmutated_document_is_valid(tmp_path):
    code, out, _ = validate(tmp_path, yaml.safe_dump(VALID).encode())
    assert code == 0 and "opt: one of a, b" in out
