"""Reports in a real browser: one headless Chromium run per page measures what it drew and
saves a screenshot.

Chromium loads a copy of the page with a script that measures every chart (its
``aria-label``) — the plot area and its domains, the dots, bars, cells, curves and
threshold lines, the axis labels — and writes the measures into the page; the
DOM comes back through ``--dump-dom`` in the same run that takes the screenshot.
Screenshots go to ``$SHIPYARD_TEST_ARTIFACTS`` when set (CI keeps that folder),
else to the test's own temporary folder.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from helpers import missing_backend

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

# what Chromium drew, per chart (its aria-label), in the page's pixels
MEASURE = """<script>
const drawn = {};
const box = (el) => { const b = el.getBBox(); return [b.x, b.y, b.width, b.height]; };
const num = (el, name) => parseFloat(el.getAttribute(name));
for (const svg of document.querySelectorAll("svg[aria-label]")) {
  const area = svg.querySelector(".plot-area");
  drawn[svg.getAttribute("aria-label")] = {
    frame: box(area),
    x_domain: area.getAttribute("data-x-domain").split(" ").map(Number),
    y_domain: area.getAttribute("data-y-domain").split(" ").map(Number),
    x_label: svg.querySelector(".x-label").textContent,
    y_label: svg.querySelector(".y-label").textContent,
    ticks: [...svg.querySelectorAll(".x-tick, .y-tick")].map((t) => t.textContent),
    curves: [...svg.querySelectorAll("path.series")].map((path) => {
      const points = [];
      for (let at = 0; at <= path.getTotalLength(); at += 0.5) {
        const p = path.getPointAtLength(at);
        points.push([p.x, p.y]);
      }
      return points;
    }),
    dots: [...svg.querySelectorAll("circle.point")].map(box),
    bars: [...svg.querySelectorAll("rect.bar")].map((r) => ({
      box: box(r), fill: getComputedStyle(r).fill, label: r.getAttribute("data-label"),
      series: r.getAttribute("data-series"), value: num(r, "data-value"),
    })),
    whiskers: [...svg.querySelectorAll("line.whisker")].map(box),
    cells: [...svg.querySelectorAll("rect.cell")].map((r) => [...box(r), num(r, "data-value")]),
    cell_text: [...svg.querySelectorAll("text.cell-value")].map((t) => t.textContent),
    thresholds: [...svg.querySelectorAll("line.threshold")].map((l) => ({
      box: box(l), axis: l.getAttribute("data-axis"), value: num(l, "data-value"),
    })),
  };
}
const out = document.createElement("pre");
out.id = "drawn";
out.hidden = true;
out.textContent = JSON.stringify(drawn);
document.body.append(out);
</script>"""
PASS, FAIL = "rgb(24, 121, 78)", "rgb(198, 40, 40)"  # charts.PASS and charts.FAIL


def chromium() -> str:
    found = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if not found:
        missing_backend("no Chromium: apt-get install chromium (.ci/run does)")
    return str(found)


def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: ``$SHIPYARD_TEST_ARTIFACTS`` if set, else ``tmp_path``."""
    chosen = os.environ.get("SHIPYARD_TEST_ARTIFACTS")
    folder = Path(chosen) if chosen else tmp_path / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(
    page: Path, shot: Path, work: Path, *, height: int = 2400
) -> tuple[str, dict[str, Any]]:
    """One Chromium run over ``page``: the DOM it rendered, what it measured of each chart,
    and a screenshot saved to ``shot``."""
    measured = work / f"{page.stem}.measured.html"
    measured.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = subprocess.run(
        [
            chromium(), *FLAGS, f"--user-data-dir={work / 'profile'}",
            f"--window-size=1200,{height}", f"--screenshot={shot}", "--dump-dom",
            measured.as_uri(),
        ],
        capture_output=True, text=True, timeout=300, cwd=work,
    ).stdout  # fmt: skip
    found = re.search(r'<pre id="drawn" hidden="">(.*?)</pre>', dom, flags=re.S)
    assert found, f"the browser ran no script: {dom[:300]!r}"
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 30_000, "a page with charts, not a blank one"
    return dom, json.loads(html.unescape(found[1]))


def value_at(plot: dict[str, Any], x: float, y: float) -> tuple[float, float]:
    """A drawn point, from the page's pixels back into the chart's units."""
    left, top, width, height = plot["frame"]
    (x0, x1), (y0, y1) = plot["x_domain"], plot["y_domain"]
    return x0 + (x - left) / width * (x1 - x0), y0 + (top + height - y) / height * (y1 - y0)


def centre(box: list[float]) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def chart(plots: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The one chart whose label starts with ``prefix``."""
    [found] = [plot for label, plot in plots.items() if label.startswith(prefix)]
    assert found["x_label"] and found["y_label"], "both axes labelled"
    return found
