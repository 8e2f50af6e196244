"""The prediction log as a query (issue #19, item 6): ``project.predictions(...)`` and
``shipyard predictions`` over the log a real serving run wrote (see ``query_support``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner, Result
from query_support import AGES_V1, AMOUNTS_V1, AMOUNTS_V2, LABELS, Served, serve_and_log

import shipyard
from shipyard.cli import cli
from shipyard.errors import NotFoundError
from shipyard.predlog import PREDICTIONS, count_rows, read_rows
from shipyard.predlog.query import PredictionLog
from shipyard.predlog.where import QueryError
from shipyard.project import Project

COLUMNS = [
    "time", "prediction_id", "version", "prediction", "probabilities", "path", "degraded",
    "reason", "latency_ms", "source", "run_id", "amount", "age",
]  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return serve_and_log(tmp_path_factory.mktemp("query") / "proj")


@pytest.fixture
def project(served: Served) -> Iterator[Project]:
    with shipyard.open(served.folder) as opened:
        yield opened


def run(served: Served, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(served.folder), "predictions", *args])


# -- the Python API -------------------------------------------------------------------


def test_every_logged_answer_comes_back_newest_first_with_what_answered(
    project: Project, served: Served
) -> None:
    frame = project.predictions("risk")
    assert frame.columns == COLUMNS
    assert frame.height == len(AMOUNTS_V1) + len(AMOUNTS_V2)
    assert frame["time"].is_sorted(descending=True)
    ids = frame["prediction_id"].to_list()
    assert set(ids[:2]) == set(served.risk_v2)  # the newest: after the champion moved to v2
    assert set(ids[2:]) == set(served.risk_v1)
    by_id = {row["prediction_id"]: row for row in frame.iter_rows(named=True)}
    for i, pid in enumerate(served.risk_v1):
        assert (by_id[pid]["amount"], by_id[pid]["age"]) == (AMOUNTS_V1[i], AGES_V1[i])
        assert by_id[pid]["version"] == 1
        assert by_id[pid]["path"] == "model" and by_id[pid]["degraded"] is False
        assert len(by_id[pid]["probabilities"]) == 2
    assert {by_id[pid]["version"] for pid in served.risk_v2} == {2}


def test_version_where_and_limit_narrow_it(project: Project, served: Served) -> None:
    assert set(project.predictions("risk", version=2)["prediction_id"]) == set(served.risk_v2)
    wanted = {
        pid
        for pid, amount, age in zip(served.risk_v1, AMOUNTS_V1, AGES_V1, strict=True)
        if amount > 1000 and age >= 30
    }
    found = project.predictions("risk", version=1, where="amount > 1000 and age >= 30")
    assert set(found["prediction_id"]) == wanted
    newest = project.predictions("risk", limit=3)
    assert newest.height == 3
    assert newest["time"].to_list() == project.predictions("risk")["time"].to_list()[:3]
    rows = PredictionLog(project.artifacts, project.config).select(
        "risk", where="amount < 1000", limit=1
    )
    assert rows.frame.height == 1
    assert rows.matched == sum(a < 1000 for a in AMOUNTS_V1 + AMOUNTS_V2)  # counted in all


def test_with_feedback_joins_the_labels_sent_back(project: Project, served: Served) -> None:
    frame = project.predictions("risk", with_feedback=True)
    labels = dict(zip(frame["prediction_id"], frame["label"], strict=True))
    for i, pid in enumerate(served.risk_v1):
        assert labels[pid] == LABELS.get(i)  # None: no label yet
    assert all(labels[pid] is None for pid in served.risk_v2)
    wrong = project.predictions("risk", with_feedback=True, where="label != prediction")
    expected = {served.risk_v1[i] for i, label in LABELS.items() if label is False}
    assert set(wrong["prediction_id"]) == expected  # every answer here was True
    assert frame.filter(pl.col("label").is_not_null())["labelled_at"].null_count() == 0


def test_fallback_only_keeps_the_answers_a_fallback_gave(project: Project, served: Served) -> None:
    frame = project.predictions("faulty", fallback_only=True)
    assert set(frame["prediction_id"]) == set(served.faulty_fallback)
    assert frame["degraded"].to_list() == [True, True]
    assert set(frame["path"]) <= {"rules", "default", "cache"} and frame["reason"].null_count() == 0
    rules = frame.filter(pl.col("amount") > 500_000).to_dicts()[0]
    assert (rules["path"], rules["prediction"], rules["probabilities"]) == (
        "rules",
        True,
        [0.1, 0.9],
    )


def test_the_span_reads_only_its_time(project: Project) -> None:
    assert project.predictions("risk", since="1h").height == 8
    assert project.predictions("risk", since=timedelta(days=7)).height == 8
    assert project.predictions("risk", until="2020-01-01T00:00").height == 0
    newest = project.predictions("risk", limit=1)["time"][0]
    after = (newest - timedelta(microseconds=1)).isoformat()
    assert project.predictions("risk", since=after).height == 2  # the v2 request's rows
    assert project.predictions("risk", where=f"time > '{after}'").height == 2


def test_the_reader_pushes_the_version_into_each_segment(project: Project) -> None:
    """``versions`` prunes by the segments' statistics: the v2 segment alone is decoded."""
    start, end = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    assert count_rows(project.artifacts, PREDICTIONS, "risk", start, end, versions=[2]) == 2
    only = read_rows(project.artifacts, PREDICTIONS, "risk", start, end, versions=[1, 2])
    assert only.height == 8
    kept = read_rows(
        project.artifacts, PREDICTIONS, "risk", start, end, newest=1,
        keep=lambda rows: rows.filter(pl.col("amount") < 1000),
    )  # fmt: skip
    assert kept["amount"].to_list() == [40.0]  # the newest row of those kept


def test_bad_queries_are_refused_with_what_to_do(project: Project) -> None:
    with pytest.raises(NotFoundError, match=r"no model named 'rsk'.*did you mean 'risk'"):
        project.predictions("rsk")
    with pytest.raises(QueryError, match="since must be a duration back from now like"):
        project.predictions("risk", since="yesterday")
    with pytest.raises(QueryError, match="the span is empty"):
        project.predictions("risk", since="2026-01-02", until="2026-01-01")
    with pytest.raises(QueryError, match=r"column 'amout'.*did you mean 'amount'"):
        project.predictions("risk", where="amout > 1")
    with pytest.raises(QueryError, match="limit must be"):
        project.predictions("risk", limit=0)


def test_a_model_never_served_has_an_empty_log(project: Project) -> None:
    frame = project.predictions("bare")
    assert frame.height == 0 and frame.columns == COLUMNS


# -- the command line -----------------------------------------------------------------


def test_json_gives_records_newest_first(served: Served) -> None:
    result = run(served, "risk", "--json", "--version", "1", "--with-feedback", "--limit", "100")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    ids = [r["prediction_id"] for r in records]
    assert ids == served.risk_v1[2:] + served.risk_v1[:2]  # the second request's rows first
    assert {r["version"] for r in records} == {1}
    labelled = {r["prediction_id"]: r["label"] for r in records}
    assert labelled[served.risk_v1[0]] is True and labelled[served.risk_v1[3]] is None
    assert datetime.fromisoformat(records[0]["time"]).tzinfo is not None


def test_csv_and_parquet_hold_the_same_rows(served: Served, tmp_path: Path) -> None:
    result = run(served, "risk", "--csv", "--where", "amount >= 2000")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(float(r["amount"]) for r in rows) == sorted(
        a for a in AMOUNTS_V1 + AMOUNTS_V2 if a >= 2000
    )
    assert rows[0].keys() == set(COLUMNS)
    out = tmp_path / "rows.parquet"
    written = run(served, "risk", "--parquet", str(out), "--where", "amount >= 2000")
    assert written.exit_code == 0, written.output
    frame = pl.read_parquet(out)
    assert sorted(frame["prediction_id"]) == sorted(r["prediction_id"] for r in rows)
    assert frame.schema["probabilities"] == pl.List(pl.Float64)
    assert [p.name for p in tmp_path.iterdir()] == ["rows.parquet"]  # nothing half-written


def test_the_table_is_whole_when_piped_and_counts_what_matched(served: Served) -> None:
    result = run(served, "risk", "--limit", "2", "--where", "amount > 100", "--with-feedback")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [*COLUMNS, "label", "labelled_at"]  # one line, not wrapped
    assert len(lines) == 4  # the header, two rows, the footer
    assert lines[-1] == (
        "the newest 2 of 6 predictions of risk in the whole log matching 'amount > 100', "
        "newest first (--limit N for more)"
    )


def test_bad_input_is_one_line_and_exit_2(served: Served) -> None:
    for args, says in [
        (["rsk"], "error: no model named 'rsk' in the project file (did you mean 'risk'?)"),
        (["risk", "--since", "soon"], "error: since must be a duration back from now"),
        (["risk", "--where", "amount >"], "error: cannot read the filter 'amount >' at position 9"),
        (["risk", "--where", "amout > 1"], "error: the filter 'amout > 1' names column 'amout'"),
    ]:
        result = run(served, *args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(says), result.stderr
        assert "Traceback" not in result.output
    both = run(served, "risk", "--json", "--csv")
    assert both.exit_code == 2 and "choose one of --json and --csv" in both.stderr


def test_an_empty_log_says_how_to_fill_it(served: Served) -> None:
    result = run(served, "bare", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert "no predictions logged for bare yet; serve it with 'shipyard serve bare'" in (
        result.stderr
    )
