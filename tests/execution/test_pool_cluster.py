"""One Ray Tune trial's evaluation pool spread over a real two-node cluster.

A Ray head (``ray start --head``) and a second node (``ray start --address``) run on 127.0.0.1,
each with a temp directory of its own (``searchlab.execution.ray_start.LocalCluster``, as in
``tests/test_cluster.py``: everything started is stopped by process id, never by ``ray stop``).
The nodes are told apart by a custom resource each (``node_a`` on the head, ``node_b`` on the
second node), and
the trial's placement group puts one worker bundle on each, so a pool that ignored the trial's
bundles could not pass by luck. The trial runs in a driver process of its own, so this test
leaves the test session's own Ray cluster alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DRIVER = '''
import json
import sys
import time

import ray
from ray import tune

from searchlab.execution.pool import close_pool, make_pool
from searchlab.methods.base import TrialResources


def where(cache, item):
    return cache["node_id"]


def trial(config):
    group = ray.util.get_current_placement_group()
    bundle_nodes = ray.util.placement_group_table(group)["bundles_to_node_id"]
    pool = make_pool(TrialResources(workers=2, worker_cpu=1))
    try:
        tune.report({"item_nodes": pool.map(where, list(range(8))),
                     "worker_nodes": pool.node_ids,
                     "bundle_nodes": [bundle_nodes[i] for i in range(3)],
                     "trial_node": ray.get_runtime_context().get_node_id()})
    finally:
        close_pool(pool)


ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
deadline = time.monotonic() + 120
while len([n for n in ray.nodes() if n["Alive"]]) < 2 and time.monotonic() < deadline:
    time.sleep(0.5)
nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes() if n["Alive"]}
bundles = [{"CPU": 1}, {"CPU": 1, "node_a": 0.1}, {"CPU": 1, "node_b": 0.1}]
tuner = tune.Tuner(
    tune.with_resources(trial, tune.PlacementGroupFactory(bundles, strategy="SPREAD")),
    run_config=tune.RunConfig(storage_path=sys.argv[2], name="pool", verbose=0))
result = tuner.fit()[0]
print(json.dumps({"nodes": nodes, "error": str(result.error) if result.error else None,
                  **(result.metrics if result.error is None else {})}))
'''


@pytest.fixture(scope="module")
def two_nodes():
    """A Ray head with ``node_a`` and a second node with ``node_b``, 3 CPUs each, on 127.0.0.1."""
    from searchlab.execution.ray_start import LocalCluster

    env = dict(os.environ)
    # the tests' workload module, importable by every worker on both nodes
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).parents[1]),
                                                    env.get("PYTHONPATH")) if p)
    with LocalCluster([3, 3], resources=[{"node_a": 1}, {"node_b": 1}], env=env,
                      prefix="slp") as cluster:
        yield {"address": cluster.address, "env": cluster.env, "tmp": cluster.tmp}
        cluster.stop()
        for p in cluster.procs:
            assert p.poll() is not None, f"{p.args[:3]} still running"


@pytest.mark.slow
def test_one_trials_pool_uses_workers_on_both_nodes(two_nodes, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    r = subprocess.run([sys.executable, str(driver), two_nodes["address"], str(tmp_path / "tune")],
                       capture_output=True, text=True, env=two_nodes["env"], timeout=300)
    assert r.returncode == 0 and r.stdout.strip(), r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["error"] is None, out["error"]
    head = next(n for n, res in out["nodes"].items() if "node_a" in res)
    node = next(n for n, res in out["nodes"].items() if "node_b" in res)
    assert head != node
    # worker i sits in bundle i + 1 of the trial's group: one on each node
    assert out["worker_nodes"] == out["bundle_nodes"][1:] == [head, node]
    # the items went to both: the first half on the head's worker, the second on the other
    assert out["item_nodes"] == [head] * 4 + [node] * 4
    assert out["trial_node"] == out["bundle_nodes"][0]


STUDY = """name: pool-2nodes
workload: {function: "test_workloads_lib:pool_nodes", path: "%s"}
metric: {name: distinct_nodes, mode: max}
space: {x: {choice: [1]}}
budget: {trials: 1}
resources: {cpu: 1, workers: 2, worker_cpu: 2}
tracking: {uri: "sqlite:///%s/m.db"}
"""


@pytest.mark.slow
def test_a_study_asks_for_a_pool_and_its_trial_uses_both_nodes(two_nodes, tmp_path):
    """The whole path: the study file's resources -> a placement group of 1 + 2 bundles -> the
    trial's ctx.pool. Each worker takes 2 of a node's 3 CPUs, so the two must sit on different
    nodes."""
    from searchlab_testing import child_runs

    tests = Path(__file__).parents[1]
    study = tmp_path / "pool.yaml"
    study.write_text(STUDY % (tests, tmp_path))
    r = subprocess.run([sys.executable, "-m", "searchlab", "run", str(study), "--address",
                        two_nodes["address"], "--storage", str(tmp_path / "store")],
                       capture_output=True, text=True, env=two_nodes["env"], timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    client, children, _ = child_runs(f"sqlite:///{tmp_path}/m.db", "pool-2nodes")
    assert len(children) == 1
    metrics = children[0].data.metrics
    assert metrics["workers"] == 2 and metrics["distinct_nodes"] == 2
