"""The report: every panel found in ``dashboards/`` drawn into one self-contained HTML page."""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
import importlib
import importlib.util
import json
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from searchlab.dashboard.data import DashboardError, StudyData, load_studies, shown_uri, statuses_of
from searchlab.methods.base import HEADLINE_TAG
from searchlab.methods.base import leads as method_leads

PANELS_PACKAGE = "searchlab_dashboards"
# The repository layout: dashboards/ next to the searchlab package.
PANELS_DIR = Path(__file__).resolve().parent.parent.parent / "dashboards"

def load_panels(folder: Path | None = None) -> list[ModuleType]:
    """The panel modules, in ``ORDER``.

    Without ``folder``: the ``dashboards/`` folder next to the ``searchlab`` package in use (a
    source checkout: the panels that go with this code), else the installed
    ``searchlab_dashboards`` package.
    """
    package = _panels_package(folder)
    panels = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        missing = [a for a in ("TITLE", "applies", "render") if not hasattr(module, a)]
        if missing:
            raise TypeError(f"panel {module.__file__} lacks {', '.join(missing)}")
        panels.append(module)
    return sorted(panels, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def _panels_package(folder: Path | None) -> ModuleType:
    if folder is None:
        if PANELS_PACKAGE in sys.modules:
            return sys.modules[PANELS_PACKAGE]
        if (PANELS_DIR / "__init__.py").is_file():
            return _import_folder(PANELS_PACKAGE, PANELS_DIR)
        return importlib.import_module(PANELS_PACKAGE)
    folder = folder.resolve()
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
    return _import_folder(f"_searchlab_panels_{digest}", folder)


def _import_folder(name: str, folder: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    init = folder / "__init__.py"
    if not init.is_file():
        raise DashboardError(f"no dashboard panels at {folder} (missing __init__.py)")
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None  # a file location always has both
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


@dataclass
class _Section:
    title: str
    anchor: str
    description: str
    figures: list[Any] = field(default_factory=list)


def build_report(
    experiments: list[str],
    output: str | Path,
    tracking_uri: str | None = None,
    *,
    panels_dir: Path | None = None,
) -> Path:
    """Write one self-contained HTML report comparing ``experiments``; returns its path."""
    studies = load_studies(experiments, tracking_uri)
    sections, skipped = [], []
    for panel in load_panels(panels_dir):
        if not panel.applies(studies):
            skipped.append(panel.TITLE)
            continue
        figures = list(panel.render(studies))
        if figures:
            anchor = panel.__name__.rsplit(".", 1)[-1]
            doc = (panel.__doc__ or "").strip().split("\n\n")[0].replace("``", "")
            sections.append(_Section(panel.TITLE, anchor, " ".join(doc.split()), figures))
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(studies, sections, skipped, tracking_uri), encoding="utf-8")
    return path


def _page(studies: list[StudyData], sections: list[_Section], skipped: list[str],
          tracking_uri: str | None) -> str:
    from plotly.offline import get_plotlyjs

    esc = html.escape
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    title = "searchlab report: " + ", ".join(s.name for s in studies)
    nav = "".join(f'<a href="#{s.anchor}">{esc(s.title)}</a>' for s in sections)
    body = [_summary_table(studies)]
    n = 0
    for section in sections:
        body.append(f'<section id="{section.anchor}"><h2>{esc(section.title)}</h2>')
        if section.description:
            body.append(f'<p class="doc">{esc(section.description)}</p>')
        for fig in section.figures:
            n += 1
            body.append(f'<div class="sl-figure" id="fig-{n}"></div>')
            body.append(f'<script type="application/json" class="sl-figure-json" '
                        f'data-target="fig-{n}">{_json_in_script(fig.to_json())}</script>')
        body.append("</section>")
    if skipped:
        body.append('<p class="skipped">Panels with nothing to show for these studies: '
                    + esc(", ".join(skipped)) + ".</p>")
    return _TEMPLATE.format(
        title=esc(title),
        css=_CSS,
        plotlyjs=_script_safe(get_plotlyjs()),
        heading=esc(title),
        meta=esc(f"generated {now} from MLflow at {shown_uri(tracking_uri)}"),
        nav=nav,
        body="\n".join(body),
        boot=_BOOT,
    )


def _summary_table(studies: list[StudyData]) -> str:
    esc = html.escape
    head = ("<tr><th>study</th><th>execution</th><th>method</th><th>searcher</th>"
            "<th>scheduler</th><th>metric</th><th>trials</th><th>by status</th>"
            "<th>best</th><th>best trial</th></tr>")
    rows = []
    for study in studies:
        for ex in study.executions:
            counts: dict[str, int] = {}
            for t in ex.trials:
                counts[t.status] = counts.get(t.status, 0) + 1
            by_status = ", ".join(f"{counts[s]} {s}" for s in statuses_of(ex.trials))
            best = next((t for t in ex.trials if t.run_id == ex.best_run_id), None)
            best_value = best.final(ex.metric) if best is not None and ex.metric else None
            leads = method_leads(ex.tags)  # the method's own result, not one trial
            headline = ex.tags.get(HEADLINE_TAG) or "see Result"
            cells = [
                study.name, ex.run_name, ex.method, ex.tags.get("searchlab.searcher", "–"),
                ex.tags.get("searchlab.scheduler", "–"),
                f"{ex.metric or ''} ({ex.mode})" if ex.metric else "",
                str(len(ex.trials)), by_status,
                headline if leads else "" if best_value is None else f"{best_value:.6g}",
                "–" if leads else ex.tags.get("searchlab.best_trial_id", ""),
            ]
            rows.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    return f'<table class="summary">{head}{"".join(rows)}</table>'


def _script_safe(text: str) -> str:
    """JavaScript that cannot close the <script> element it is embedded in."""
    return text.replace("</script", "<\\/script")


def _json_in_script(text: str) -> str:
    """JSON with every ``<`` escaped: it cannot end or comment out its <script> element."""
    return text.replace("<", "\\u003c")


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1280px; padding: 0 24px 48px; color: #1f2933; }
header { border-bottom: 1px solid #d9dee4; padding: 16px 0 8px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 4px; }
.meta, .doc, .skipped { color: #5c6b7a; font-size: 13px; margin: 4px 0 8px; }
nav a { margin-right: 14px; font-size: 13px; color: #2563eb; text-decoration: none; }
table.summary { border-collapse: collapse; font-size: 13px; margin-top: 16px; width: 100%; }
table.summary th, table.summary td { border-bottom: 1px solid #e5e9ee; padding: 4px 8px;
       text-align: left; }
table.summary th { background: #f4f6f8; }
.sl-figure { width: 100%; margin: 8px 0 16px; }
"""

#: WebGL figures (parcoords takes three contexts) drawn at once: a browser keeps about 16 WebGL
#: contexts and loses the oldest past that, which left a page of several studies with blank plots
MAX_LIVE_WEBGL = 4

_BOOT = """
(function () {
  var config = {responsive: true, displaylogo: false};
  // trace types plotly draws with WebGL
  var GL = new RegExp("^(parcoords|splom|scattergl|scatterpolargl|heatmapgl|pointcloud|" +
    "scatter3d|surface|mesh3d|cone|streamtube|volume|isosurface|scattermap|choroplethmap|" +
    "densitymap|scattermapbox|choroplethmapbox|densitymapbox)$");
  var MAX_LIVE = MAX_LIVE_WEBGL;
  var live = [];  // drawn WebGL figures, least recently drawn first
  function usesGL(fig) {
    return fig.data.some(function (t) { return GL.test(t.type || "scatter"); });
  }
  function release(el) {  // free its contexts now, not at the next garbage collection
    el.querySelectorAll("canvas").forEach(function (c) {
      var gl = c.getContext("webgl") || c.getContext("experimental-webgl");
      var lose = gl && gl.getExtension("WEBGL_lose_context");
      if (lose) lose.loseContext();
    });
    Plotly.purge(el);
    el.dataset.drawn = "no";
  }
  function draw(el) {
    var at = live.indexOf(el);
    if (at >= 0) { live.splice(at, 1); live.push(el); return; }
    while (live.length >= MAX_LIVE) {  // an off-screen one first, else the oldest
      var off = live.filter(function (f) { return f.dataset.visible !== "yes"; });
      var old = off.length ? off[0] : live[0];
      live.splice(live.indexOf(old), 1);
      release(old);
    }
    live.push(el);
    Plotly.newPlot(el, el.slFigure.data, el.slFigure.layout, config);
    el.dataset.drawn = "yes";
  }
  var seen = new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      e.target.dataset.visible = e.isIntersecting ? "yes" : "no";
      if (e.isIntersecting) draw(e.target);
    });
  }, {rootMargin: "100px 0px"});
  document.querySelectorAll("script.sl-figure-json").forEach(function (node) {
    var fig = JSON.parse(node.textContent);
    var el = document.getElementById(node.dataset.target);
    if (usesGL(fig)) {  // drawn while on screen (see MAX_LIVE)
      el.slFigure = fig;
      el.dataset.webgl = "yes";
      el.dataset.drawn = "no";
      el.style.minHeight = ((fig.layout && fig.layout.height) || 450) + "px";
      seen.observe(el);
    } else {
      Plotly.newPlot(el, fig.data, fig.layout, config);
    }
  });
})();
""".replace("MAX_LIVE_WEBGL", str(MAX_LIVE_WEBGL))

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{css}</style>
<script>{plotlyjs}</script>
</head>
<body>
<header>
<h1>{heading}</h1>
<p class="meta">{meta}</p>
<nav>{nav}</nav>
</header>
{body}
<script>{boot}</script>
</body>
</html>
"""


def figures_in(page: str) -> list[dict[str, Any]]:
    """The plotly figures (data and layout, as JSON) embedded in a report page, in page order."""
    marker = 'class="sl-figure-json"'
    figures = []
    for chunk in page.split(marker)[1:]:
        start = chunk.index(">") + 1
        end = chunk.index("</script>", start)
        figures.append(json.loads(chunk[start:end]))
    return figures
