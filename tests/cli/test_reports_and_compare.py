"""`shipyard reports …` and `shipyard models compare` on one project with three versions,
two evaluations and a monitoring run, through the CLI and the Python API."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner, Result
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import shipyard
from shipyard.cli import cli
from shipyard.project import Project

PROJECT = """\
project: reports-test
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float, min: 0}
      age: {type: int, min: 18, max: 120}
      country: {type: category, categories: [DE, FR, PL, US]}
      defaulted: {type: bool}
models:
  risk:
    owner: {name: risk-team, file: alerts.jsonl}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
    latency_budget_ms: 5000
    gates: {roc_auc: {min: 0.6}}
    evaluation: {allow_unrecorded_holdout: true}
  other:
    owner: {name: risk-team, file: alerts.jsonl}
    task: binary_classification
    dataset: loans
    features: [amount, age, country]
"""
FEATURES = ["amount", "age", "country"]


def _loans(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(9, 0.6, n)
    return pl.DataFrame(
        {
            "amount": amount,
            "age": rng.integers(18, 80, n),
            "country": rng.choice(["DE", "FR", "PL", "US"], n),
            "defaulted": amount / 40_000 + rng.normal(0, 0.2, n) > 0.35,
        }
    )


def _fit(frame: pl.DataFrame, c: float, *, shuffle: bool = False) -> object:
    rows = frame.to_pandas()
    target = (
        rows["defaulted"].sample(frac=1.0, random_state=0).to_numpy()
        if shuffle
        else rows["defaulted"]
    )
    encode = make_column_transformer((OneHotEncoder(), ["country"]), remainder="passthrough")
    return make_pipeline(encode, LogisticRegression(C=c, max_iter=1000)).fit(rows[FEATURES], target)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """risk@1 passes its evaluation (champion), @2 (labels shuffled) fails it, @3 is the
    challenger, never evaluated; one monitoring run over an empty window."""
    folder = tmp_path_factory.mktemp("reports") / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    frame = _loans(400, 1)
    with shipyard.open(folder) as opened:
        opened.ingest("loans", frame)
        same = {"cost": 0.5}  # equal in every version: folded unless --all
        opened.register(_fit(frame, 1.0), "risk", dataset="loans@1",
                        metrics={"roc_auc": 0.91, **same}, params={"C": 1.0})  # fmt: skip
        opened.register(_fit(frame, 0.01, shuffle=True), "risk", dataset="loans@1",
                        metrics={"roc_auc": 0.52, **same}, params={"C": 0.01})  # fmt: skip
        opened.register(_fit(frame, 1.0), "risk", dataset="loans@1",
                        metrics={"roc_auc": 0.93, **same}, params={"C": 1.0, "note": "x"})  # fmt: skip
        assert opened.evaluate("risk@1").report.passed
        assert not opened.evaluate("risk@2").report.passed
        opened.promote("risk@1")
        opened.models.alias("risk@3", "challenger")
        opened.monitor("risk", notify=False)
        yield opened


def run(project: Project, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(project.root), *args], catch_exceptions=False)


# -- reports ---------------------------------------------------------------------------


def test_reports_list_every_report_newest_first_with_its_verdict(project: Project) -> None:
    listed = json.loads(run(project, "reports", "list", "--json").stdout)
    assert [(r["id"], r["kind"], r["subject"]) for r in listed] == [
        ("mon-1", "monitoring", "risk"),
        ("eval-2", "evaluation", "risk@2"),
        ("eval-1", "evaluation", "risk@1"),
    ]
    assert listed[1]["passed"] is False and listed[1]["verdict"].startswith("failed: ")
    assert "roc_auc" in listed[1]["verdict"]
    assert listed[2]["verdict"] == "passed" and listed[2]["passed"] is True
    assert listed[0]["verdict"] == "no predictions in the window" and listed[0]["passed"] is None
    for entry in listed:
        assert Path(entry["path"]).is_file() and entry["path"].endswith(".html")
    assert json.loads(run(project, "reports", "list", "other", "--json").stdout) == []
    assert len(json.loads(run(project, "reports", "list", "--limit", "1", "--json").stdout)) == 1
    assert project.reports.list("risk") == project.reports.list()


def test_reports_table_keeps_each_path_whole_in_a_narrow_pipe(project: Project) -> None:
    result = run(project, "reports", "list", "risk")  # CliRunner: no terminal, 80 columns
    assert result.exit_code == 0
    paths = [e.path for e in project.reports.list()]
    assert all(len(p) > 80 for p in paths)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["id", "kind", "model", "created", "(UTC)", "verdict", "path"]
    for line, path in zip(lines[1:], paths, strict=True):
        assert line.endswith("  " + path)


def test_reports_open_prints_the_path_and_nothing_else(project: Project) -> None:
    entry = project.reports.get("eval-2")
    assert (entry.kind, entry.model, entry.version) == ("evaluation", "risk", 2)
    result = run(project, "reports", "open", "eval-2")
    assert result.exit_code == 0 and result.stdout == entry.path + "\n"
    assert "<html" in Path(entry.path).read_text().lower()
    assert run(project, "reports", "open", "MON-1", "--no-browser").stdout.strip().endswith(".html")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reports", "open", "eval-9"], "no report 'eval-9': there is no evaluation #9"),
        (["reports", "open", "mon-7"], "no report 'mon-7': there is no monitoring #7"),
        (["reports", "open", "7"], "no report '7': a report id is eval-N"),
        (["reports", "open", "eval-0"], "no report 'eval-0'"),
        (["reports", "list", "nope"], "no such model 'nope'"),
        (["models", "compare", "nope"], "no such model 'nope'"),
        (["models", "compare", "risk", "9"], "model 'risk' has no version '9'; it has 1, 2, 3"),
        (["models", "compare", "risk", "1", "best"], "model 'risk' has no alias 'best'"),
        (["models", "compare", "risk", "--latest", "0"], "0 is not in the range"),
    ],
)
def test_unknown_ids_models_and_versions_get_one_line_and_exit_2(
    project: Project, args: list[str], message: str
) -> None:
    result = run(project, *args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stdout == ""
    if args[0] != "models" or "--latest" not in args:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    if args[:2] == ["reports", "open"]:
        assert "'shipyard reports list'" in result.stderr


def test_a_report_missing_from_the_store_is_said_not_opened(project: Project) -> None:
    page = Path(project.reports.get("mon-1").path)
    kept = page.read_bytes()
    page.unlink()
    try:
        result = run(project, "reports", "open", "mon-1")
    finally:
        page.write_bytes(kept)
    assert result.exit_code == 2 and result.stdout == ""
    assert "report mon-1 (monitoring of risk) is missing" in result.stderr
    assert "shipyard monitor risk" in result.stderr


def test_reports_open_starts_a_browser_only_on_a_terminal(project: Project, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    browser.chmod(0o755)
    env = {**os.environ, "BROWSER": str(browser), "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [
        sys.executable,
        "-m",
        "shipyard",
        "-C",
        str(project.root),
        "reports",
        "open",
        "eval-1",
    ]
    piped = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout == project.reports.get("eval-1").path + "\n"
    assert not opened.exists()  # stdout is a pipe: the path only
    leader, follower = pty.openpty()
    try:
        on_terminal = subprocess.run(
            command, env=env, stdout=follower, stderr=subprocess.PIPE, timeout=120
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert on_terminal.returncode == 0, on_terminal.stderr
    for _ in range(600):  # the browser command runs beside the CLI: give it time
        if opened.exists() and opened.read_text():
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert opened.read_text() == Path(project.reports.get("eval-1").path).as_uri()


# -- models compare -----------------------------------------------------------------------


def test_compare_defaults_to_champion_challenger_and_newest(project: Project) -> None:
    result = json.loads(run(project, "models", "compare", "risk", "--json").stdout)
    assert result["versions"] == [1, 2, 3]
    assert result["aliases"] == {"1": ["champion"], "2": [], "3": ["challenger"]}
    rows = {(r["section"], r["name"]): r for r in result["rows"]}
    assert rows["param", "C"]["values"] == {"1": 1.0, "2": 0.01, "3": 1.0}
    assert rows["param", "C"]["differs"] is True
    assert rows["param", "note"]["values"] == {"1": None, "2": None, "3": "x"}
    assert rows["metric", "roc_auc"]["best"] == 3
    assert rows["metric", "cost"]["differs"] is False
    assert rows["version", "dataset"]["values"] == {"1": "loans@1", "2": "loans@1", "3": "loans@1"}
    assert rows["evaluation", "verdict"]["values"] == {
        "1": "passed", "2": "failed", "3": "not evaluated",
    }  # fmt: skip
    assert rows["evaluation", "failed"]["values"]["2"] == "gate roc_auc"
    assert rows["evaluation", "report"]["values"] == {"1": "eval-1", "2": "eval-2", "3": None}
    assert rows["evaluated", "roc_auc"]["values"]["1"] > rows["evaluated", "roc_auc"]["values"]["2"]
    assert "metric.cost" not in result["differing"] and "param.C" in result["differing"]
    # the newest one only, with the champion and challenger
    narrow = json.loads(run(project, "models", "compare", "risk", "--latest", "1", "--json").stdout)
    assert narrow["versions"] == [1, 3]


def test_compare_named_versions_and_the_python_api(project: Project) -> None:
    picked = json.loads(run(project, "models", "compare", "risk", "2", "champion", "--json").stdout)
    assert picked["versions"] == [1, 2]
    typed = project.compare("risk", [2, "@1", "champion"])
    assert typed.versions == [1, 2] and typed.model == "risk"
    row = typed.row("metric", "roc_auc")
    assert row is not None and row.values == (0.91, 0.52) and row.best == 1 and row.differs
    assert [r.name for r in typed.section("param")] == ["C"]
    assert typed.as_dict() == picked


def test_compare_marks_differences_and_folds_equal_rows_in_plain_output(project: Project) -> None:
    plain = run(project, "models", "compare", "risk").stdout
    flat = " ".join(plain.split())
    assert "* C 1.0 0.01 1.0" in flat
    assert "* roc_auc 0.9100 0.5200 0.9300" in flat
    assert "* verdict passed failed not evaluated" in flat
    assert "dataset loans@1 loans@1 loans@1" in flat and "* dataset" not in flat
    assert " cost " not in flat and "equal in every version hidden (--all shows them)" in flat
    everything = " ".join(run(project, "models", "compare", "risk", "--all").stdout.split())
    assert "cost 0.5000 0.5000 0.5000" in everything and "* cost" not in everything
    assert "\x1b[" not in plain  # no colour without a terminal


def test_models_show_has_each_metric_history(project: Project) -> None:
    card = json.loads(run(project, "models", "show", "risk@2", "--json").stdout)
    assert card["metric_history"]["roc_auc"] == [
        {"version": 1, "value": 0.91},
        {"version": 2, "value": 0.52},
        {"version": 3, "value": 0.93},
    ]
    text = " ".join(run(project, "models", "show", "risk@2").stdout.split())
    assert "roc_auc v1 0.9100 → v2 0.5200 → v3 0.9300" in text
    assert "cost v1 0.5000 → v2 0.5000 → v3 0.5000" in text
