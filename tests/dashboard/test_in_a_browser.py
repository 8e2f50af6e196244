"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against a
real ``shipyard ui`` on 127.0.0.1 over a seeded project (drift, a firing alert, two
model versions, two dataset versions with quarantined rows).

It opens the overview, follows a model's link, measures the drift chart Chromium drew
(its dots mapped back through the chart's domains land on the monitoring runs'
figures), acknowledges the alert and promotes a version with the admin token and a
reason, and finds the audit entries on the pages. Every page: no console error, no
serious or critical axe-core violation (axe.min.js from the axe-playwright-python
wheel, injected into the page), a screenshot in ``$SHIPYARD_TEST_ARTIFACTS``.
One browser, one server, one project for the module.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from act_support import ADMIN
from dashboard_support import seed

from helpers import missing_backend
from page_support import FLAGS, artifacts
from shipyard.config.example_data import write_loans_batch
from shipyard.project import Project

pytestmark = pytest.mark.slow
SERIOUS = ("serious", "critical")
TIMEOUT_MS = 120_000  # a busy two-core machine: generous, never a measure of speed


@dataclass
class Site:
    """The running dashboard, its project, one browser page and what it logged."""

    url: str
    project: Project
    page: Any
    shots: Path
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        self.errors.clear()
        answer = self.page.goto(self.url + path, wait_until="load")
        assert answer is not None
        return answer

    def check(self, name: str, *, console_ok: tuple[str, ...] = (), axe: bool = True) -> None:
        """No console error, no serious or critical axe violation (``axe``: a template
        not scanned before); a screenshot."""
        self.page.screenshot(path=str(self.shots / f"dashboard-{name}.png"), full_page=True)
        errors = [e for e in self.errors if not any(ok in e for ok in console_ok)]
        self.errors.clear()
        assert errors == [], f"{name}: console errors {errors}"
        if not axe:
            return
        # evaluated through the DevTools protocol: the page's CSP (no inline script) stays on
        self.page.evaluate(_axe().read_text() + "\n;void 0")
        found = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"
        )
        bad = [v for v in found if v["impact"] in SERIOUS]
        assert bad == [], f"{name}: axe-core found {bad}"


def _console(message: Any, errors: list[str]) -> None:
    """Keep a console error (a failed fetch of the icon the layout names counts too)."""
    if message.type != "error":
        return
    errors.append(f"{message.text} ({(message.location or {}).get('url', '?')})")


def _axe() -> Path:
    try:
        import axe_playwright_python
    except ImportError:
        missing_backend("no axe-core: pip install axe-playwright-python (the dev extra has it)")
    found = Path(axe_playwright_python.__file__).parent / "axe.min.js"
    assert found.read_text()[:40].startswith("/*! axe v4"), "the wheel ships axe-core"
    return found


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        missing_backend("no Chromium: apt-get install chromium (.ci/run does)")
    return str(found)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("browser") / "proj"
    seeded = seed(folder).project
    write_loans_batch(folder / "batch2.csv", rows=300, seed=8, first_id=601)
    seeded.ingest("loans", folder / "batch2.csv")  # loans@2, with its own quarantined rows
    seeded.evaluate("risk@2")  # the challenger passes: promotable
    try:
        yield seeded
    finally:
        seeded.close()


@pytest.fixture(scope="module")
def server(project: Project) -> Iterator[str]:
    env = {**os.environ, "SHIPYARD_ADMIN_TOKEN": ADMIN, "SHIPYARD_ACTOR": "server"}
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "ui", "--port", "0"],
        cwd=project.root, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, f"shipyard ui said {line!r}"
        yield found[0]
    finally:
        process.terminate()
        process.wait(timeout=60)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture(scope="module")
def site(server: str, project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    executable = _chromium()
    _axe()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_backend("no Playwright: pip install playwright (the dev extra has it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=[f for f in FLAGS if f != "--headless"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(TIMEOUT_MS)
        found = Site(server, project, page, artifacts(tmp_path_factory.mktemp("shots")))
        page.on("console", lambda m: _console(m, found.errors))
        page.on("pageerror", lambda e: found.errors.append(f"uncaught: {e}"))
        page.on(
            "response",
            lambda r: r.status >= 400 and found.errors.append(f"{r.status} from {r.url}"),
        )
        try:
            yield found
        finally:
            browser.close()


def test_the_overview_links_to_a_model_whose_drift_chart_is_drawn_from_its_runs(
    site: Site,
) -> None:
    site.open("/ui")
    row = site.page.locator('tr[data-model="risk"]')
    assert row.locator("td.champion").inner_text() == "v1"
    assert row.locator("td.health .badge").inner_text() != "healthy"  # drift fires
    site.check("overview")

    row.get_by_role("link", name="risk").click()
    site.page.wait_for_url(site.url + "/ui/models/risk")
    drawn = site.page.evaluate(MEASURE)
    [label] = [k for k in drawn if k.startswith("amount: drift per run")]
    chart = drawn[label]
    runs = sorted(
        (p.at.timestamp(), p.statistic, p.value)
        for p in site.project.monitoring.history("risk", kind="drift", limit=4000)
        if p.name == "amount" and p.threshold is not None and p.value is not None
    )
    assert len(runs) == 2 and len(chart["dots"]) == len(runs)
    expected = [(t, _up(value, statistic)) for t, statistic, value in runs]
    points = sorted(_value_at(chart, x + w / 2, y + h / 2) for x, y, w, h in chart["dots"])
    (x0, x1), (y0, y1) = chart["x_domain"], chart["y_domain"]
    for (t, v), (dx, dy) in zip(expected, points, strict=True):
        assert abs(dx - t) <= (x1 - x0) * 0.02 + 1, (dx, t)
        assert abs(dy - v) <= (y1 - y0) * 0.02, (dy, v)
    site.check("model-risk")


def test_the_dataset_page_shows_counts_quarantine_and_diff(site: Site) -> None:
    log = site.project.data.log("loans")
    site.open("/ui/datasets/loans")
    for version in log:
        row = site.page.locator(f'#versions-table tr[data-version="{version.version}"]')
        assert row.locator("td.received").inner_text() == f"{version.rows_received:,}"
        assert row.locator("td.accepted").inner_text() == f"{version.rows_accepted:,}"
        assert (
            row.locator("td.quarantined").inner_text().startswith(f"{version.rows_quarantined:,} ")
        )
    newest = log[0]
    shown = site.page.locator("#quarantine-table tbody tr")
    assert shown.count() == min(newest.rows_quarantined, 50) > 0
    first = site.project.data.quarantine(newest.ref).row(0, named=True)
    assert shown.first.locator("ul.reasons li").all_inner_texts() == first["_reasons"]
    site.check("dataset-loans")

    site.page.get_by_role("link", name="diff with v1").click()
    site.page.wait_for_url(re.compile(r".*\?diff=1\.\.2.*"))
    diff = site.project.data.diff("loans@1", "loans@2")
    summary = site.page.locator("#diff-summary").inner_text()
    assert f"{diff.added:,} added, {diff.removed:,} removed" in summary
    site.check("dataset-loans-diff")


def test_acknowledge_and_promote_with_the_token_and_a_reason(site: Site) -> None:
    [alert] = site.project.monitoring.alerts.list(model="risk")
    site.open("/ui/models/risk")
    site.page.get_by_role("navigation", name="Main").get_by_role("link", name="Actions").click()
    site.page.wait_for_url(site.url + "/ui/models/risk/actions")
    site.check("actions-risk")

    # a wrong token: refused in words with 401; nothing changes
    form = site.page.locator("#promote-form")
    form.get_by_label("Version").select_option("2")
    form.get_by_label("Reason").fill("v2 is better")
    form.get_by_label("Admin token").fill("not-the-token")
    with site.page.expect_navigation() as refused:
        form.get_by_role("button", name="Promote").click()
    assert refused.value is not None and refused.value.status == 401
    assert site.page.locator("p.message").inner_text() == "the admin token is wrong"
    site.check("refused", console_ok=("401",))
    assert site.project.models.registry.aliases("risk")["champion"] == 1

    site.page.get_by_role("link", name="Back to the form").click()
    ack = site.page.locator(f'form[data-alert="{alert.id}"]')
    ack.get_by_label("Reason").fill("looking into the amount shift")
    ack.get_by_label("Your name").fill("Dana")
    ack.get_by_label("Admin token").fill(ADMIN)
    ack.get_by_role("button", name=f"Acknowledge #{alert.id}").click()
    site.page.wait_for_url(site.url + "/ui/models/risk/actions")
    assert site.page.locator("#flash").inner_text() == (
        f"Done: alert #{alert.id} (risk {alert.rule}) acknowledged by Dana via dashboard"
    )
    assert site.project.monitoring.alerts.get(alert.id).acked_by == "Dana via dashboard"

    form = site.page.locator("#promote-form")
    form.get_by_label("Version").select_option("2")
    form.get_by_label("Reason").fill("v2 passed; <b>safer</b> on amount")
    form.get_by_label("Your name").fill("Dana")
    form.get_by_label("Admin token").fill(ADMIN)
    form.get_by_role("button", name="Promote").click()
    site.page.wait_for_url(site.url + "/ui/models/risk/actions")
    assert site.page.locator("#flash").inner_text() == "Done: risk@2 is now the champion (was v1)"
    assert site.page.locator("#champion").inner_text() == "v2"
    audit = site.page.locator("#action-audit tbody tr")
    assert [audit.nth(i).locator("td").all_inner_texts()[1:] for i in range(3)][0::2] == [
        ["Dana via dashboard", "model.promoted", "risk", "v2 passed; <b>safer</b> on amount"],
        ["Dana via dashboard", "alert.acked", f"risk/{alert.rule}",
         "looking into the amount shift"],
    ]  # fmt: skip
    site.check("actions-done")
    site.page.reload()
    assert site.page.locator("#flash").count() == 0  # shown once

    site.open("/ui/models/risk")  # the model page's own audit trail has the promotion
    newest = site.page.locator("#audit-table tbody tr").first.locator("td").all_inner_texts()
    assert newest[1:] == [
        "Dana via dashboard",
        "model.promoted",
        "risk",
        "v2 passed; <b>safer</b> on amount",
    ]
    # ... and the acknowledgement of its alert, whose subject is the model's rule
    rows = site.page.locator("#audit-table tbody tr")
    trail = [rows.nth(i).locator("td").all_inner_texts()[1:] for i in range(rows.count())]
    assert ["Dana via dashboard", "alert.acked", f"risk/{alert.rule}",
            "looking into the amount shift"] in trail  # fmt: skip
    assert site.project.models.registry.aliases("risk")["champion"] == 2
    site.check("model-risk-after", axe=False)  # the model page's template: scanned above


def _up(value: float, statistic: str) -> float:
    """The drift chart's y: a p-value as -log10(p), so up is more drift."""
    return -math.log10(max(value, 1e-16)) if statistic in ("ks", "chi2") else value


def _value_at(chart: dict[str, Any], x: float, y: float) -> tuple[float, float]:
    left, top, width, height = chart["frame"]
    (x0, x1), (y0, y1) = chart["x_domain"], chart["y_domain"]
    return x0 + (x - left) / width * (x1 - x0), y0 + (top + height - y) / height * (y1 - y0)


# what Chromium drew of each chart, in the page's pixels (as tests/page_support.py measures)
MEASURE = """() => {
  const drawn = {};
  const box = (el) => { const b = el.getBBox(); return [b.x, b.y, b.width, b.height]; };
  for (const svg of document.querySelectorAll("svg[aria-label]")) {
    const area = svg.querySelector(".plot-area");
    if (!area) continue;
    drawn[svg.getAttribute("aria-label")] = {
      frame: box(area),
      x_domain: area.getAttribute("data-x-domain").split(" ").map(Number),
      y_domain: area.getAttribute("data-y-domain").split(" ").map(Number),
      dots: [...svg.querySelectorAll("circle.point")].map(box),
    };
  }
  return drawn;
}"""
