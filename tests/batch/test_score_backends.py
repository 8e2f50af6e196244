"""``shipyard score`` on PostgreSQL and S3: the run record, the log and the quarantine."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from batch_support import frame, make_project
from click.testing import CliRunner

from shipyard.cli import cli


@pytest.mark.postgres
@pytest.mark.s3
def test_score_on_postgres_and_s3(
    tmp_path: Path, postgres_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/team")
    project = make_project(tmp_path / "proj")
    try:
        assert project.metadata.backend == "postgresql"
        source = tmp_path / "rows.csv"
        frame(500, bad=1).to_csv(source, index=False)
        out = tmp_path / "answers.parquet"
        result = CliRunner().invoke(
            cli,
            ["-C", str(project.root), "score", "risk", str(source), "--out", str(out),
             "--id", "loan_id", "--chunk-rows", "120", "--workers", "1", "--json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        shown = json.loads(result.output)
        assert shown["status"] == "succeeded"
        assert shown["rows"] == {"in": 500, "scored": 450, "quarantined": 50}
        assert shown["quarantine_path"].startswith(f"s3://{s3_bucket}/team/batch/risk/")
        assert project.artifacts.exists(shown["quarantine"])
        assert all(project.artifacts.exists(k) for k in shown["segments"])
        answers = pd.read_parquet(out)
        logged = project.predictions("risk", source="batch", run=shown["run_id"])
        assert sorted(logged["prediction_id"]) == sorted(answers["prediction_id"])
        assert project.batch.run(shown["run_id"]).actor == shown["actor"]
    finally:
        project.close()
