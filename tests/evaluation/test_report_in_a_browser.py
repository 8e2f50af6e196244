"""The HTML report opens in a real browser (headless Chromium) and shows its plots."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from helpers import missing_backend
from shipyard.project import Project

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium() -> str:
    found = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if not found:
        missing_backend("no Chromium: apt-get install chromium (.ci/run does)")
    return str(found)


def test_the_report_renders_its_plots(eval_project: Project, tmp_path: Path) -> None:
    browser = chromium()
    result = eval_project.evaluate("default-risk@2")
    page = Path(result.html_url)
    profile = tmp_path / "profile"
    common = [browser, *FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert "default-risk@2" in dom.stdout and "FAILED" in dom.stdout
    for title in (
        "ROC curve",
        "Precision-recall curve",
        "Calibration",
        "roc_auc per slice",
        "Confusion matrix",
    ):
        assert title in dom.stdout, f"{title} missing from the rendered page"
    shot = tmp_path / "report.png"
    subprocess.run(
        [*common, "--window-size=1200,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        env={**os.environ},
    )
    assert shot.exists() and shot.stat().st_size > 20_000  # a page with plots, not a blank one
