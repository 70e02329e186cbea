"""Browser tests in headless Debian Chromium (Playwright drives it; no browser download).

Skipped with a reason when /usr/bin/chromium (``apt-get install chromium``) or the python
``playwright`` package is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from searchlab.dashboard import figures_in

pytestmark = pytest.mark.slow


def test_report_renders_offline_without_console_errors(browser, report: Path,
                                                       tmp_path: Path) -> None:
    expected = figures_in(report.read_text(encoding="utf-8"))
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(180_000)  # 5 MB of inline plotly.js on a busy 2-core machine
    errors: list[str] = []
    outside: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

    def only_the_file(route) -> None:  # the page must not need the network
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_file)
    page.goto(report.as_uri())
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length == {len(expected)}")
    drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => ({
        types: gd.data.map(t => t.type || 'scatter'),
        names: gd.data.map(t => t.name || ''),
        title: gd.layout.title && gd.layout.title.text,
        width: gd.getBoundingClientRect().width,
        height: gd.getBoundingClientRect().height,
        svgs: gd.querySelectorAll('svg.main-svg').length,
    }))""")
    assert [d["title"] for d in drawn] == [f["layout"]["title"]["text"] for f in expected]
    for d, f in zip(drawn, expected, strict=True):
        assert d["types"] == [t["type"] for t in f["data"]], d["title"]
        assert d["names"] == [t.get("name", "") for t in f["data"]], d["title"]
        assert d["width"] > 600 and d["height"] > 200 and d["svgs"] > 0, d
    bands = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .filter(gd => gd.layout.title.text.includes('cumulative regret'))
        .map(gd => gd.querySelectorAll('.scatterlayer .trace path.js-fill').length)""")
    assert bands == [4, 4], "one shaded confidence band per CDT tuner, for each bandit"
    assert page.locator(".parcoords").count() == 3  # one per study of ordinary trials
    stored = page.locator("section#analysis")
    titles = stored.locator(".js-plotly-plot .gtitle").all_text_contents()
    assert titles == ["bandit-cdt: summary", "lr-free-suite: performance profile of time to target",
                      "lr-free-suite: solved", "lr-free-suite: summary", "stn-reference: summary"]
    assert "adam_tuned: reached the target on 100% of workloads" in stored.inner_text()
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, "/tmp/dashboard.png")
    stored.screenshot(path=str(tmp_path / "analysis.png"))
    shutil.copy(tmp_path / "analysis.png", "/tmp/dashboard_analysis.png")
    page.close()
    assert errors == []
    assert outside == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_ui(fake_store, tmp_path: Path) -> Iterator[str]:
    """A real ``mlflow ui`` on the fake store, on a free loopback port; stopped by process id."""
    port = _free_port()
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true",
               MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")  # no background job workers
    log = (tmp_path / "mlflow-ui.log").open("w")
    mlflow_cli = [sys.executable, "-m", "mlflow"]
    server = subprocess.Popen(
        [*mlflow_cli, "ui", "--backend-store-uri", fake_store.uri, "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow ui did not come up:\n"
                            + (tmp_path / "mlflow-ui.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        # The server's workers share its process group (start_new_session): stop them together.
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=20)
        try:
            os.killpg(server.pid, signal.SIGKILL)  # any worker left behind in the group
        except ProcessLookupError:
            pass
        log.close()


def test_mlflow_ui_lists_the_trials_of_a_study(browser, mlflow_ui: str, fake_store,
                                                 tmp_path: Path) -> None:
    execution = fake_store.studies["mnist-asha"]["executions"][1]  # the newest, 20 trials
    trial_ids = [f"trial_1{i:03d}" for i in range(execution["n_trials"])]
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.set_default_timeout(120_000)
    page.goto(f"{mlflow_ui}/#/experiments")
    page.get_by_text("Model training", exact=True).click()  # MLflow 3: the classic runs view
    page.get_by_role("link", name="mnist-asha", exact=True).click()
    parent = page.locator('[role="row"]', has_text="mnist-asha-2").first
    parent.wait_for()
    close_assistant = page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')
    if close_assistant.count():
        close_assistant.first.click()
    # The trials are nested under the study's parent run: expand it.
    parent.locator('[col-id="attributes.`Run Name`"] button').first.click()
    page.get_by_text(trial_ids[0], exact=True).wait_for()
    page.wait_for_timeout(500)
    names = {text.split("\n")[-1] for text in
             page.locator('[col-id="attributes.`Run Name`"]').all_inner_texts()}
    assert set(trial_ids) <= names
    assert "mnist-asha-1" in names  # the older execution, still collapsed
    shot = tmp_path / "mlflow_ui.png"
    page.screenshot(path=str(shot))
    shutil.copy(shot, "/tmp/mlflow_ui.png")
    page.close()
