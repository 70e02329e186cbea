"""tune_run's one reach into Ray's private API: the callback census skipped (no MLflow in the
driver). Pinned so that a Ray release that moves it fails here, not silently."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap


def test_the_ray_private_api_tag_callbacks_is_there():
    from ray.air._internal import usage
    from ray.tune import tune as tune_module

    assert callable(usage.tag_callbacks)
    # looked up on the module when tune.run runs, so replacing the attribute takes effect
    assert "air_usage.tag_callbacks(" in inspect.getsource(tune_module.run)


def test_a_study_with_callbacks_keeps_mlflow_out_of_the_driver(tmp_path):
    script = textwrap.dedent("""
        import sys
        import ray
        from ray import tune
        from searchlab.execution.ray_start import init_local
        from searchlab.execution.tune_run import callbacks_not_counted
        from ray.air._internal import usage

        def objective(config):
            tune.report({"loss": config["x"]})

        original = usage.tag_callbacks
        init_local(1)
        with callbacks_not_counted():
            tune.run(objective, config={"x": tune.uniform(0, 1)}, num_samples=2, verbose=0,
                     storage_path=sys.argv[1], callbacks=[tune.Callback()])
        ray.shutdown()
        print("restored", usage.tag_callbacks is original)
        print("mlflow", "mlflow" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "restored True" in out.stdout
    assert "mlflow False" in out.stdout
