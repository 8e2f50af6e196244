"""The dashboard on PostgreSQL and S3: the same pages, read through the other backends.

The seeded project of ``dashboard_support.seed`` with its registry, runs and alerts in a
real PostgreSQL and its log, reports and datasets in a real S3 API (moto); the pages'
figures are checked against the project's own reads, as on SQLite and a local folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from dashboard_support import OWNER, Pages, row_of, seed, text_of


@pytest.mark.postgres
@pytest.mark.s3
def test_every_page_on_postgres_and_s3(
    tmp_path: Path, postgres_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/dash")
    seeded = seed(tmp_path / "proj")
    project = seeded.project
    pages = Pages(project)
    try:
        assert project.metadata.backend == "postgresql"
        assert project.artifacts.url.startswith("s3://")
        overview = pages.get("/ui")
        assert overview.status_code == 200
        risk = row_of(overview.text, "data-model", "risk")
        assert (risk["owner"], risk["champion"], risk["challenger"]) == (OWNER, "v1", "v2")
        assert risk["health"] == "warning"
        # the live figures read the log's segments on S3 (served rows only)
        assert float(risk["rpm"]) == pytest.approx(len(seeded.latencies) * 60 / 900, abs=0.01)
        p99 = float(np.quantile(seeded.latencies, 0.99, method="higher"))
        assert risk["p99"] == f"{p99:g} ms / 40 ms budget"
        loans = row_of(overview.text, "data-dataset", "loans")
        assert loans["rows"] == f"{project.data.show('loans@latest').rows:,}"

        page = pages.get("/ui/models/risk")
        assert page.status_code == 200
        text = text_of(page.text)
        run = project.monitoring.runs("risk", limit=1)[0]
        assert f"Latest run #{run.id}" in text
        # the drift chart's dots are the runs' stored figures
        over_time = page.text.split('id="over-time"', 1)[1].split('id="alerts"', 1)[0]
        drawn = re.findall(
            r"<circle class='point' data-series='amount' data-x='([^']+)'", over_time
        )
        stored = project.monitoring.history("risk", kind="drift", feature="amount")
        assert sorted(float(x) for x in drawn) == sorted(
            p.at.timestamp() for p in stored if p.threshold is not None
        )
        assert re.search(r'<figure data-feature="amount">.*?class=.bar.', page.text, re.S)
        alert = project.monitoring.alerts.list(model="risk")[0]
        assert alert.message in text
        # a stored report is fetched from S3 and served under /ui/reports
        for report in ("eval-1", "mon-2"):
            shown = pages.get(f"/ui/reports/{report}")
            assert shown.status_code == 200 and "<html" in shown.text.lower(), report

        dataset = pages.get("/ui/datasets/loans")
        assert dataset.status_code == 200
        version = project.data.show("loans@1")
        assert f"{version.rows_received:,}" in text_of(dataset.text)
    finally:
        pages.close()
        project.close()
