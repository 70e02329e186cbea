"""The Ray evaluation pool on the test session's real local Ray cluster (``ray_cluster``)."""

from __future__ import annotations

import os
import sys

import pytest
from ray import cloudpickle

from searchlab.execution.pool import PoolError, RayPool, close_pool, make_pool
from searchlab.methods.base import TrialResources
from searchlab.workloads.api import SerialPool

# pytest imports this module under a name the Ray workers cannot import: send its functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def square(cache, x):
    return x * x


def count(cache, x):
    """How many items this worker has seen, over every call (the cache outlives a call)."""
    cache["n"] = cache.get("n", 0) + 1
    return (cache["worker_index"], cache["n"], x)


def whoami(cache, x):
    return (cache["worker_index"], cache["node_id"], cache["device"], os.getpid(),
            os.environ.get("CUDA_VISIBLE_DEVICES"))


def batch_info(cache, batch):
    return [(cache["worker_index"], len(batch), x) for x in batch]


def table_lookup(cache, x):
    """A typical use: build something once per worker, then use it for every item."""
    if "table" not in cache:
        cache["table"] = {i: (i * 7919) % 104729 for i in range(1000)}
    return cache["table"][x % 1000] + x


def table_batch(cache, batch):
    return [table_lookup(cache, x) for x in batch]


def fail_on_13(cache, x):
    if x == 13:
        raise ValueError(f"thirteen is unlucky (got {x})")
    return x


def fail_batch(cache, batch):
    raise KeyError("missing")


def die(cache, x):
    os._exit(3)


@pytest.fixture(scope="module")
def pool(ray_cluster):
    # half a CPU each: the module holds it throughout, and the tests below that start pools of
    # their own (a Tune trial's group of 1.75 CPUs, two 1-CPU workers) need room beside it on the
    # session's 4 CPUs, also while the actors of the test before are still being stopped (Ray
    # frees a killed actor's resources a moment later)
    with RayPool(workers=2, worker_cpu=0.5) as p:
        yield p


def test_map_keeps_order_and_spreads_items_over_workers(pool):
    items = list(range(23))
    assert pool.size == 2
    assert pool.map(square, items) == [x * x for x in items]
    owners = [r[0] for r in pool.map(whoami, items)]
    # one contiguous slice per worker: 12 items on worker 0, then 11 on worker 1
    assert owners == [0] * 12 + [1] * 11


def test_each_worker_is_its_own_process_with_its_own_device_and_node(pool, ray_cluster):
    rows = pool.map(whoami, [0, 1])
    assert [r[0] for r in rows] == [0, 1]
    assert rows[0][3] != rows[1][3] != os.getpid()
    assert {r[2] for r in rows} == {"cpu"}
    assert [r[4] for r in rows] == ["", ""]  # no GPU from Ray: no GPU visible
    node = ray_cluster.get_runtime_context().get_node_id()
    assert [r[1] for r in rows] == pool.node_ids == [node, node]
    assert pool.devices == ["cpu", "cpu"]


def test_cache_persists_between_calls_on_the_same_worker(pool):
    before = pool.map(count, [0, 1])  # one item per worker
    after = pool.map(count, list(range(4)))  # two per worker
    (w0, n0, _), (w1, n1, _) = before
    assert (w0, w1) == (0, 1)
    assert after == [(0, n0 + 1, 0), (0, n0 + 2, 1), (1, n1 + 1, 2), (1, n1 + 2, 3)]


def test_map_batches_gives_each_worker_one_contiguous_slice(pool):
    out = pool.map_batches(batch_info, list(range(7)))
    assert out == [(0, 4, 0), (0, 4, 1), (0, 4, 2), (0, 4, 3), (1, 3, 4), (1, 3, 5), (1, 3, 6)]
    # fewer items than workers: only the first worker is called
    assert pool.map_batches(batch_info, ["a"]) == [(0, 1, "a")]


def test_empty_input(pool):
    assert pool.map(square, []) == []
    assert pool.map_batches(batch_info, []) == []


def test_serial_and_ray_pools_give_identical_results(pool):
    items = list(range(-50, 151))
    serial = SerialPool()
    assert pool.map(table_lookup, items) == serial.map(table_lookup, items)
    assert pool.map_batches(table_batch, items) == serial.map_batches(table_batch, items)
    assert pool.map(square, items[:1]) == serial.map(square, items[:1]) == [2500]


def test_an_error_in_a_worker_names_the_worker_item_and_exception(pool):
    with pytest.raises(PoolError) as e:
        pool.map(fail_on_13, list(range(20)))
    line = str(e.value)
    assert "\n" not in line
    assert line.startswith("pool worker 1 of 2 (node ")
    assert "failed on item 13: ValueError: thirteen is unlucky (got 13) (at test_pool.py:" in line
    assert e.value.worker == 1 and e.value.error_type == "ValueError"
    assert "Traceback" in e.value.remote_traceback and "fail_on_13" in e.value.remote_traceback
    with pytest.raises(PoolError, match=r"pool worker 0 of 2 .* failed on its batch "
                                        r"\(items 0\.\.1\): KeyError: 'missing'"):
        pool.map_batches(fail_batch, [1, 2, 3])
    # the pool still works afterwards
    assert pool.map(square, [3, 4, 5]) == [9, 16, 25]


def test_a_dead_worker_is_a_clear_error_and_close_is_idempotent(ray_cluster):
    p = RayPool(workers=1, worker_cpu=0.5)
    with pytest.raises(PoolError, match=r"^pool worker 0 of 1 \(node \w+\) failed: \w+"):
        p.map(die, [1])
    p.close()
    p.close()
    with pytest.raises(PoolError, match="closed"):
        p.map(square, [1])


def test_gpu_workers_see_their_own_gpu_but_use_cuda_only_when_torch_has_it(ray_cluster):
    # the session cluster has one logical GPU and no CUDA: two half-GPU workers share GPU 0
    with RayPool(workers=2, worker_cpu=0.5, worker_gpu=0.5) as p:
        rows = p.map(whoami, [0, 1])
    assert [r[4] for r in rows] == ["0", "0"]
    import torch

    assert {r[2] for r in rows} == {"cuda" if torch.cuda.is_available() else "cpu"}


def test_a_pool_larger_than_the_cluster_is_refused(ray_cluster):
    with pytest.raises(ValueError, match="100 pool workers with 1 CPU each need 100 CPUs; "
                                         "the Ray cluster has 4"):
        RayPool(workers=100)
    with pytest.raises(ValueError, match="at least one worker"):
        RayPool(workers=0)


def test_make_pool(ray_cluster):
    serial = make_pool(None)
    assert isinstance(serial, SerialPool)
    assert serial.map(whoami, [1])[0][:3] == (0, ray_cluster.get_runtime_context().get_node_id(),
                                              "cpu")
    assert isinstance(make_pool(TrialResources(workers=0)), SerialPool)
    close_pool(serial)
    p = make_pool(TrialResources(workers=1, worker_cpu=0.5))
    try:
        assert isinstance(p, RayPool) and p.size == 1
        assert p.map(square, [2, 3]) == [4, 9]
    finally:
        close_pool(p)
    with pytest.raises(PoolError, match="closed"):
        p.map(square, [1])


def placement(cache, x):
    import ray

    ctx = ray.get_runtime_context()
    return ctx.get_placement_group_id(), ctx.get_assigned_resources()


def pool_trial(config):
    import ray
    from ray import tune

    group = ray.util.get_current_placement_group()
    pool = make_pool(TrialResources(workers=2))
    try:
        tune.report({"group": group.id.hex(), "where": pool.map(placement, [0, 1])})
    finally:
        close_pool(pool)


def test_inside_a_tune_trial_the_workers_take_bundles_of_the_trials_group(ray_cluster, tmp_path):
    from ray import tune

    bundles = [{"CPU": 1}, {"CPU": 0.5}, {"CPU": 0.25, "GPU": 0.5}]
    # bounded: a group the cluster cannot place would otherwise keep Tune waiting for ever (and keep
    # what it holds); with a budget Tune ends the trial and gives its resources back
    tuner = tune.Tuner(tune.with_resources(pool_trial, tune.PlacementGroupFactory(bundles)),
                       tune_config=tune.TuneConfig(time_budget_s=150),
                       run_config=tune.RunConfig(storage_path=str(tmp_path), name="pool",
                                                 verbose=0))
    result = tuner.fit()[0]
    assert result.error is None, result.error
    assert "where" in result.metrics, (f"the trial did not report within 150 s; the cluster had "
                                       f"{ray_cluster.available_resources()} free")
    (group0, res0), (group1, res1) = result.metrics["where"]
    assert group0 == group1 == result.metrics["group"]
    # each worker holds exactly its own bundle's resources
    assert res0 == {"CPU": 0.5} and res1 == {"CPU": 0.25, "GPU": 0.5}


def niceness_of_threads(cache, x):
    """The niceness of every thread of this worker process (Linux keeps one per thread)."""
    tids = [int(t) for t in os.listdir("/proc/self/task")]
    return sorted({os.getpriority(os.PRIO_PROCESS, t) for t in tids})


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux only")
def test_workers_run_at_the_callers_niceness_not_rays(ray_cluster):
    """Ray starts workers at nice 15 unless told otherwise (RAY_worker_niceness, which
    init_local sets to 0 for the clusters searchlab starts): beside nice-0 jobs such a worker gets
    ~1/28 of a core's share (docs/pool.md, "Under load"). The pool's workers take the caller's
    niceness whatever the cluster's setting."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    with RayPool(workers=2, worker_cpu=1, niceness=None) as left:
        rays = left.map(niceness_of_threads, [0, 1])
    if os.environ.get("RAY_worker_niceness") is None:  # what the fix is about: the thread that
        assert left.niceness == [15, 15]                 # runs the tasks is at 15
        assert all(15 in threads for threads in rays)
    with RayPool(workers=2, worker_cpu=1) as pool:
        if pool.niceness != [mine, mine] and os.geteuid() != 0:
            pytest.skip("raising a process's priority is not permitted here")
        assert pool.niceness == [mine, mine]
        assert pool.map(niceness_of_threads, [0, 1]) == [[mine], [mine]]


def test_clusters_searchlab_starts_run_workers_at_nice_0(monkeypatch):
    from searchlab.execution.ray_start import worker_priority_env

    monkeypatch.delenv("RAY_worker_niceness", raising=False)
    worker_priority_env()
    assert os.environ["RAY_worker_niceness"] == "0"
    monkeypatch.setenv("RAY_worker_niceness", "5")  # the user's choice is kept
    worker_priority_env()
    assert os.environ["RAY_worker_niceness"] == "5"
