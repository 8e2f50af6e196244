"""`shipyard evaluate` and `shipyard promote` through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from helpers import relax_latency
from shipyard.cli import cli
from shipyard.demo import write_loans_batch


def run(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(folder), *args], catch_exceptions=False)


@pytest.fixture
def trained(project_dir: Path) -> Path:
    relax_latency(project_dir)
    write_loans_batch(project_dir / "b.csv", rows=2500, seed=1)
    run(project_dir, "data", "ingest", "loans", str(project_dir / "b.csv"))
    run(project_dir, "train", "default-risk")
    run(project_dir, "train", "default-risk", "--param", "monotonic=false")
    return project_dir


def test_evaluate_prints_each_check_and_exits_by_the_verdict(trained: Path) -> None:
    passed = run(trained, "evaluate", "default-risk@1")
    assert passed.exit_code == 0, passed.output
    assert (
        "PASSED" in passed.output and "gate roc_auc" in passed.output and "report:" in passed.output
    )
    failed = run(trained, "evaluate", "default-risk@2")
    assert failed.exit_code == 1
    assert "FAIL" in failed.output and "directional amount" in failed.output
    assert re.search(r"score\s+change=", failed.output)  # the failing rows are shown
    report = json.loads(run(trained, "evaluate", "default-risk@2", "--json").stdout)
    assert report["passed"] is False and report["html"].endswith(".html")


def test_promote_is_gated(trained: Path) -> None:
    run(trained, "evaluate", "default-risk@2")
    refused = run(trained, "promote", "default-risk@2", "--to", "champion")
    assert refused.exit_code == 2
    assert "refusing to promote default-risk@2 to champion" in refused.output
    assert "directional amount" in refused.output
    no_reason = run(trained, "promote", "default-risk@2", "--force")
    assert no_reason.exit_code == 2 and "--force needs --reason" in no_reason.output
    forced = json.loads(
        run(trained, "promote", "default-risk@2", "--force", "--reason", "hotfix", "--json").stdout
    )
    assert forced == {
        "model": "default-risk",
        "alias": "champion",
        "from": None,
        "to": 2,
        "forced": True,
    }
    run(trained, "evaluate", "default-risk@1")
    promoted = run(trained, "promote", "default-risk@1")
    assert (
        promoted.exit_code == 0 and "default-risk@champion → version 1 (was 2)" in promoted.output
    )
