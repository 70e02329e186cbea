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
    _scroll_through(page)  # WebGL figures are drawn as they come on screen
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length == "
                           f"{len(expected)}")
    drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
      .map(gd => ({
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
    assert titles == ["bandit-cdt: summary", "lr-free-suite: solved", "lr-free-suite: summary",
                      "stn-reference: summary"]
    lead = page.locator("section#lead").locator(".js-plotly-plot .gtitle").all_text_contents()
    assert lead == ["bandit-cdt: final_regret (analysis/final_regret.json)",
                    "lr-free-suite: time_to_target (analysis/time_to_target.json)",
                    "lr-free-suite: performance profile of time to target",
                    "stn-reference: stn_result (analysis/stn_result.json)",
                    "stn-reference: STN: learned schedules and validation loss (plain runs "
                    "dashed)"]
    assert "adam_tuned: reached the target on 100% of workloads" in stored.inner_text()
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copy(shot, "/tmp/dashboard.png")
    stored.screenshot(path=str(tmp_path / "analysis.png"))
    shutil.copy(tmp_path / "analysis.png", "/tmp/dashboard_analysis.png")
    page.close()
    assert errors == []
    assert outside == []


def _scroll_through(page) -> list[dict]:
    """Bring every figure on screen in turn, as a reader scrolling down; for each WebGL figure,
    once drawn: its WebGL contexts (lost or not) and a screenshot (PNG bytes)."""
    figures = page.locator(".sl-figure")
    seen = []
    for i in range(figures.count()):
        fig = figures.nth(i)
        fig.scroll_into_view_if_needed()
        if fig.get_attribute("data-webgl") != "yes":
            continue
        page.wait_for_function("el => el.dataset.drawn === 'yes' && el.querySelector('canvas')",
                               arg=fig.element_handle())
        page.wait_for_timeout(300)  # the lines are drawn a frame after the canvases appear
        seen.append({"id": fig.get_attribute("id"), "contexts": fig.evaluate(_CONTEXTS),
                     "png": fig.screenshot()})
    return seen


_CONTEXTS = """el => Array.from(el.querySelectorAll('canvas')).map(c => {
    const gl = c.getContext('webgl') || c.getContext('experimental-webgl');
    return gl ? (gl.isContextLost() ? 'lost' : 'live') : 'none';
})"""


def _lines_drawn(png: bytes) -> int:
    """Coloured (Viridis) pixels between the first and last axes of a parallel-coordinates
    figure, where only its WebGL lines are: none when its context was lost."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = img.size
    area = img.crop((int(0.08 * w), int(0.3 * h), int(0.8 * w), int(0.9 * h)))
    return sum(1 for r, g, b in area.getdata() if max(r, g, b) - min(r, g, b) > 80)


def test_twelve_studies_every_plot_is_drawn(browser, twelve_studies: Path,
                                            tmp_path: Path) -> None:
    """With 6 studies the first parallel-coordinates plot was blank: Chromium keeps about 16
    WebGL contexts ("Too many active WebGL contexts. Oldest context will be lost."). WebGL
    figures are drawn while on screen, a few at a time, and drawn again when scrolled back to."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(180_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"page error: {e}"))
    page.goto(twelve_studies.as_uri())
    expected = figures_in(twelve_studies.read_text(encoding="utf-8"))
    seen = _scroll_through(page)
    assert len(seen) == 12 == sum(f["data"][0]["type"] == "parcoords" for f in expected)
    for fig in seen:
        assert fig["contexts"] and set(fig["contexts"]) == {"live"}, fig["id"]
        assert _lines_drawn(fig["png"]) > 200, fig["id"]
    # every other figure (SVG) is drawn at once
    drawn = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
    assert drawn >= len(expected) - 12
    # back to the first: drawn again, and never more WebGL contexts alive than a browser keeps
    first = page.locator(f"#{seen[0]['id']}")
    first.scroll_into_view_if_needed()
    page.wait_for_function("el => el.dataset.drawn === 'yes' && el.querySelector('canvas')",
                           arg=first.element_handle())
    page.wait_for_timeout(300)
    assert _lines_drawn(first.screenshot()) > 200
    assert set(first.evaluate(_CONTEXTS)) == {"live"}
    live = page.evaluate("""() => Array.from(document.querySelectorAll('canvas')).filter(c => {
        const gl = c.getContext('webgl'); return gl && !gl.isContextLost(); }).length""")
    assert live <= 16, live
    (tmp_path / "first.png").write_bytes(first.screenshot())
    shutil.copy(tmp_path / "first.png", "/tmp/dashboard_twelve_first.png")
    page.close()
    assert not [m for m in console if "Too many active WebGL contexts" in m], console
    assert not [m for m in console if m.startswith(("error", "page error"))], console


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
