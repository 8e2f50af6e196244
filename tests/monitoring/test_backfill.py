"""``shipyard monitor --data DATASET@V [--every 1mo]``: a dataset version scored and judged,
one window or one verdict per calendar month, kept as runs; a back-fill pages nobody."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from backfill_support import DRIFTED, MONTHS, make_backfill_project, stamped
from click.testing import CliRunner
from monitor_support import loans, traffic

from shipyard.cli import cli
from shipyard.project import Project

NEW_YORK = ZoneInfo("America/New_York")


def _run(project: Project, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(project.root), *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def backfilled(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Project, dict[str, Any]]]:
    """The project, and the back-fill of ``loans@2`` by month as ``--json`` printed it."""
    project = make_backfill_project(tmp_path_factory.mktemp("backfill") / "proj")
    try:
        code, out = _run(
            project, "monitor", "risk", "--data", "loans@2", "--every", "1mo", "--json"
        )
        assert code == 0, out
        found = json.loads(out)
        # what the back-fill did to alert state, before any other test moves it
        found["alerts after"] = project.monitoring.alerts.list(model="risk", every=True)
        found["owner paged"] = (project.root / "owner-alerts.jsonl").exists()
        yield project, found
    finally:
        project.close()


def test_exactly_the_drifted_months_are_flagged_and_every_row_is_counted_once(
    backfilled: tuple[Project, dict[str, Any]],
) -> None:
    project, found = backfilled
    periods = {p["period"]: p for p in found["periods"]}
    assert list(periods) == [f"2024-0{m}" for m in range(1, 9)]
    flagged = [label for label, p in periods.items() if p["verdict"] == "drifted"]
    assert flagged == DRIFTED
    assert periods["2024-06"]["verdict"] == "no rows" and periods["2024-06"]["rows"] == 0
    assert periods["2024-08"]["verdict"] == "too few rows"
    assert "12 rows; drift is judged from 30" in periods["2024-08"]["note"]
    for label in ("2024-01", "2024-02", "2024-03"):
        assert periods[label]["verdict"] == "ok" and periods[label]["drifted"] == []
    for label in DRIFTED:  # the numeric features moved, the country mix did not
        assert set(periods[label]["drifted"]) == {"amount", "age"}
        assert periods[label]["would_fire"] == ["drift"]
    rows = {m: n for m, (n, _) in MONTHS.items()}
    assert sum(p["rows"] for p in found["periods"]) == found["rows"] == sum(rows.values())
    assert found["rows"] == project.data.show("loans@2").rows
    for m, n in rows.items():
        assert periods[f"2024-0{m}"]["rows"] == n
    # real performance: the dataset's target column is each row's label
    assert (
        periods["2024-01"]["labelled"] == 300 and periods["2024-01"]["performance"]["roc_auc"] > 0.7
    )
    assert found["window"]["dataset"] == "loans@2" and found["window"]["scored_by"] == "risk@1"


def test_each_period_is_kept_as_a_run_spanning_its_month(
    backfilled: tuple[Project, dict[str, Any]],
) -> None:
    project, found = backfilled
    kept = {r.id: r for r in project.monitoring.runs("risk")}
    for period in found["periods"]:
        if period["rows"] == 0:
            assert period["run_id"] is None  # an empty month is reported, not stored
            continue
        run = kept[period["run_id"]]
        assert run.window_start == datetime.fromisoformat(period["start"])
        assert run.window_end == datetime.fromisoformat(period["end"])
        assert run.rows == period["rows"]
        assert run.summary["scope"]["period"] == period["period"]
    drift = project.monitoring.history("risk", kind="drift", feature="amount")
    assert {f.at.strftime("%Y-%m") for f in drift} >= {"2024-02", "2024-05", "2024-08"}
    code, out = _run(project, "reports", "list", "--json")
    assert code == 0, out
    assert len([r for r in json.loads(out) if r.get("kind", "monitoring") == "monitoring"]) >= 7


def test_the_reports_say_what_the_window_was_and_draw_drift_over_the_months(
    backfilled: tuple[Project, dict[str, Any]],
) -> None:
    project, found = backfilled
    page = project.artifacts.get(found["html_key"]).decode()
    assert "risk by 1mo" in page and "3 of 8 periods drifted" in page
    assert "2024-06" in page and "no rows" in page and "alert state is not moved" in page
    assert page.count("<svg") >= 2  # amount and age over the months
    april = next(p for p in found["periods"] if p["period"] == "2024-04")
    report = project.artifacts.get(april["html_key"]).decode()
    assert (
        "window: dataset loans@2, 1,812 rows, scored by risk@1; period 2024-04 (300 rows)" in report
    )


def test_a_backfill_pages_nobody_and_one_window_alerts_as_a_live_run(
    backfilled: tuple[Project, dict[str, Any]],
) -> None:
    project, found = backfilled
    assert found["alerts after"] == [] and not found["owner paged"]
    run = project.monitor("risk", data="loans@2")  # the whole version, as one window
    assert run.report.said == "dataset loans@2, 1,812 rows, scored by risk@1"
    assert set(run.drifted) == {"amount", "age"}
    [alert] = project.monitoring.alerts.list(model="risk")
    assert alert.rule == "drift" and alert.state == "firing"
    assert "risk: 2 of 3 features drifted" in (project.root / "owner-alerts.jsonl").read_text()


def test_the_terminal_table_has_one_line_per_period(
    backfilled: tuple[Project, dict[str, Any]],
) -> None:
    project, _ = backfilled
    code, out = _run(project, "monitor", "risk@1", "--data", "loans@2", "--every", "3mo")
    assert code == 0, out
    flat = " ".join(out.split())
    assert "risk by 3mo: dataset loans@2, 1,812 rows, scored by risk@1" in flat
    for said in ("2024-01..2024-03", "2024-04..2024-06", "2024-07..2024-09", "900", "600", "312"):
        assert said in flat
    assert "drifted" in flat and "would" in flat  # the verdict cell may wrap; --json has it whole
    assert "a back-fill moves no alert state" in flat


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--data", "other@1"], 1, "dataset other@1 does not fit risk: lacks risk's feature column(s) age"),
        (["--data", "flat@1", "--every", "1mo"], 2, "the rows have no timestamp to cut into periods"),
        (["--data", "loans@9"], 2, "dataset 'loans' has no version '9'"),
        (["--data", "loans@2", "--by", "arrival"], 2, "a dataset's rows have no arrival time"),
        (["--every", "1mo"], 2, "to cut history into calendar months add --by event_time"),
        (["--data", "loans@2", "--every", "1mo", "--window", "1h"], 2, "--window with --every periods"),
        (["--data", "loans@2", "--rows", "5"], 2, "--rows picks the live log's newest rows"),
        (["--data", "loans@2", "--reference", "previous"], 2, "are compared with the training data"),
        (["--data", "loans@2", "--every", "1y"], 2, "expected a period like '1mo', '7d' or '1d'"),
        (["--data", "loans@2", "--every", "1h"], 2, "periods; at most 1,000"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(
    backfilled: tuple[Project, dict[str, Any]], args: list[str], code: int, message: str
) -> None:
    project, _ = backfilled
    before = len(project.monitoring.runs("risk", limit=1000))
    exit_code, out = _run(project, "monitor", "risk", *args)
    assert exit_code == code, out
    assert message in " ".join(out.split())
    assert "Traceback" not in out
    assert len(project.monitoring.runs("risk", limit=1000)) == before


def test_two_models_and_one_dataset_is_a_usage_error(
    backfilled: tuple[Project, dict[str, Any]],
) -> None:
    project, _ = backfilled
    code, out = _run(project, "monitor", "risk", "risk", "--data", "loans@2")
    assert code == 2 and "judge one model" in out


def test_the_help_says_both_meanings_of_every() -> None:
    out = " ".join(CliRunner().invoke(cli, ["monitor", "--help"]).output.split())
    assert "keep monitoring live, once per this interval" in out
    assert "cut the rows into calendar periods (1mo, 7d, 1d; UTC)" in out


def test_a_period_run_is_found_by_its_path(backfilled: tuple[Project, dict[str, Any]]) -> None:
    project, found = backfilled
    key = found["periods"][0]["html_key"]
    assert Path(project.monitoring.link(key)).name.endswith(".html")


@pytest.fixture(scope="module")
def scored(backfilled: tuple[Project, dict[str, Any]]) -> str:
    """The id of a real ``shipyard score`` run of ``loans@2`` (every row logged)."""
    project, _ = backfilled
    code, out = _run(project, "score", "risk", "--data", "loans@2", "--json")
    assert code == 0, out
    return str(json.loads(out)["run_id"])


def test_a_batch_run_back_fills_like_its_dataset(
    backfilled: tuple[Project, dict[str, Any]], scored: str
) -> None:
    """The run's logged answers, timed by the scored version's timestamp column: the same
    months, the same rows, the same verdicts as scoring the version in memory."""
    project, by_data = backfilled
    code, out = _run(project, "monitor", "risk", "--run", scored, "--every", "1mo", "--json")
    assert code == 0, out
    by_run = json.loads(out)
    assert by_run["window"]["run"] == scored and by_run["window"]["timed_by"] == "applied_at"
    assert [(p["period"], p["rows"], p["verdict"]) for p in by_run["periods"]] == [
        (p["period"], p["rows"], p["verdict"]) for p in by_data["periods"]
    ]
    assert by_run["rows"] == project.batch.run(scored).rows_scored


def test_one_batch_run_as_one_window(
    backfilled: tuple[Project, dict[str, Any]], scored: str
) -> None:
    project, _ = backfilled
    code, out = _run(project, "monitor", "risk", "--run", scored, "--json", "--no-notify")
    assert code == 0, out
    report = json.loads(out)["report"]
    assert report["scope"]["said"] == f"batch run {scored} of loans@2, 1,812 rows, scored by risk@1"
    assert report["rows"] == 1812 and set(report["drifted"]) == {"amount", "age"}
    assert report["versions"] == {"1": 1812}


def test_rows_without_the_event_time_are_left_out_and_said(
    backfilled: tuple[Project, dict[str, Any]], scored: str
) -> None:
    """The batch run's rows in the log carry no applied_at (only its id would be a
    passthrough field): cut by event time, they are counted out, not guessed."""
    project, _ = backfilled
    code, out = _run(project, "monitor", "risk", "--by", "event_time", "--every", "1mo", "--json")
    assert code == 0, out
    found = json.loads(out)
    assert "1,812 row(s) without a readable 'applied_at': left out" in found["notes"]
    code, out = _run(project, "monitor", "risk", "--by", "event_time", "--no-notify")
    assert code == 0, out
    assert "window: prediction log of risk" in " ".join(out.split())


def test_a_run_that_did_not_succeed_is_refused_with_why(
    backfilled: tuple[Project, dict[str, Any]], tmp_path: Path
) -> None:
    project, _ = backfilled
    # a line that is not UTF-8, past the header's read (8 KB): the run starts, then fails
    broken = tmp_path / "broken.csv"
    lines = ["amount,age,country", *[f"{1000 + i},{30 + i % 40},DE" for i in range(1000)]]
    broken.write_bytes("\n".join(lines).encode() + b"\n1000,30,\xff\xfe\n")
    code, out = _run(project, "score", "risk", str(broken), "--chunk-rows", "100")
    assert code != 0, out
    failed = next(r for r in project.batch.list("risk") if r.status == "failed")
    before = len(project.monitoring.runs("risk", limit=1000))
    code, out = _run(project, "monitor", "risk", "--run", failed.run_id)
    flat = " ".join(out.split())
    assert code == 2 and f"batch run {failed.run_id} of risk@1 failed: " in flat, out
    assert "only a run that succeeded is in the prediction log" in flat
    assert "Traceback" not in out
    code, out = _run(project, "monitor", "risk", "--run", "20260101T000000-nope")
    assert code == 2 and "no batch run '20260101T000000-nope'" in out
    code, out = _run(project, "monitor", "risk@1", "--run", failed.run_id)
    assert code == 2 and "name the model without a version" in out
    code, out = _run(project, "monitor", "risk", "--run", failed.run_id, "--data", "loans@2")
    assert code == 2 and "one source of rows, not both" in out
    assert len(project.monitoring.runs("risk", limit=1000)) == before


# -- what a server logged: requests by the event time they carried, feedback on a run --


@pytest.fixture(scope="module")
def served(backfilled: tuple[Project, dict[str, Any]], scored: str) -> tuple[Project, str]:
    """A server answered 150 requests from February 2024 and 150 shifted ones from May
    (their ``applied_at`` written in New York time), labels came for February's; a batch
    run scored ``loans@2`` and labels came for 200 of its January answers."""
    project, _ = backfilled
    run_id = scored
    january = project.data.load("loans@2").head(200).get_column("defaulted").to_list()
    with traffic(project) as t:
        for month, shift, seed in ((2, 0.0, 21), (5, 0.6, 22)):
            frame = stamped(loans(150, seed, shift=shift), 2024, month, seed)
            records = frame.select("amount", "age", "country").to_dicts()
            for record, at in zip(records, frame.get_column("applied_at"), strict=True):
                record["applied_at"] = at.astimezone(NEW_YORK).isoformat()
            answer = t.client.post("/v1/models/risk/predict", json=records)
            assert answer.status_code == 200, answer.text
            if month == 2:
                t.label(answer.json()["prediction_ids"], frame.get_column("defaulted").to_list())
        t.label([f"{run_id}-{row}" for row in range(1, 201)], january)
    return project, run_id


def test_the_log_is_cut_by_the_event_time_the_requests_carried(
    served: tuple[Project, str],
) -> None:
    project, _ = served
    code, out = _run(project, "monitor", "risk", "--by", "event_time", "--every", "1mo", "--json")
    assert code == 0, out
    found = json.loads(out)
    assert found["window"]["timed_by"] == "applied_at"
    periods = {p["period"]: p for p in found["periods"]}
    # the batch run's rows are in the log too, timed by when they were logged: only served
    # rows carry an applied_at, so only they are cut here
    assert list(periods) == ["2024-02", "2024-03", "2024-04", "2024-05"]
    assert periods["2024-02"]["rows"] == 150 and periods["2024-02"]["verdict"] == "ok"
    assert periods["2024-03"]["verdict"] == periods["2024-04"]["verdict"] == "no rows"
    assert periods["2024-05"]["rows"] == 150 and periods["2024-05"]["verdict"] == "drifted"
    assert periods["2024-02"]["labelled"] == 150 and "roc_auc" in periods["2024-02"]["performance"]
    assert periods["2024-05"]["labelled"] == 0
    code, out = _run(project, "monitor", "risk", "--by", "arrival", "--every", "1d", "--json")
    assert code == 0, out
    [today] = json.loads(out)["periods"]  # every request, and the batch run, arrived today
    assert today["rows"] == 300 + 1812


def test_feedback_on_a_batch_run_is_joined_to_its_answers(served: tuple[Project, str]) -> None:
    project, run_id = served
    code, out = _run(project, "monitor", "risk", "--run", run_id, "--json", "--no-notify")
    assert code == 0, out
    performance: dict[str, Any] = json.loads(out)["report"]["performance"]
    assert performance["labelled"] == 200 and performance["unknown_ids"] == 0
    assert performance["metrics"]["accuracy"] > 0.7
    code, out = _run(project, "monitor", "risk", "--run", run_id, "--every", "1mo", "--json")
    labelled = {p["period"]: p["labelled"] for p in json.loads(out)["periods"]}
    assert labelled["2024-01"] == 200 and sum(labelled.values()) == 200
    assert 0.5 < performance["metrics"]["roc_auc"] <= 1.0


# -- the cluster's storage: PostgreSQL and S3 -----------------------------------------


@pytest.mark.postgres
@pytest.mark.s3
def test_a_backfill_and_a_run_on_postgres_and_s3(
    tmp_path: Path, postgres_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same back-fill with the metadata in PostgreSQL and the artifacts (the dataset,
    the log, the reports) on S3: the drifted quarters flagged, each kept as a run there."""
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/team")
    project = make_backfill_project(tmp_path / "proj", others=False)
    try:
        assert project.metadata.backend == "postgresql"
        found = project.monitor("risk", data="loans@2", every="3mo")  # quarters: 3 periods
        assert [(p.period.label, p.verdict) for p in found.periods] == [
            ("2024-01..2024-03", "ok"),
            ("2024-04..2024-06", "drifted"),
            ("2024-07..2024-09", "drifted"),
        ]
        assert found.rows == project.data.show("loans@2").rows
        kept = {r.id: r for r in project.monitoring.runs("risk")}
        for period in found.periods:
            if period.run_id is not None:
                assert kept[period.run_id].window_start == period.period.start
        assert "2 of 3 periods drifted" in project.artifacts.get(found.html_key or "").decode()
        assert project.monitoring.alerts.list(model="risk", every=True) == []
        record = project.score("risk", data="loans@2")
        run = project.monitor("risk", run=record.run_id, notify=False)  # one window
        assert run.report.rows == found.rows and set(run.drifted) == {"amount", "age"}
    finally:
        project.close()


def test_a_period_flagged_on_its_predictions_alone_says_so_in_the_table() -> None:
    """The terminal's "drifted" cell names what the verdict rests on: features, the
    model's outputs, all features together (not "-" beside a "drifted" verdict)."""
    from types import SimpleNamespace

    from shipyard.cli.monitoring_cmds import _what_drifted

    def period(features: list[str], predicted: list[str], joint: bool | None) -> object:
        report = SimpleNamespace(
            prediction_drift=[SimpleNamespace(feature=f, drifted=True) for f in predicted],
            multivariate=None if joint is None else SimpleNamespace(drifted=joint),
        )
        return SimpleNamespace(drifted=features, report=report)

    assert _what_drifted(period([], ["score"], None)) == "prediction score"  # type: ignore[arg-type]
    assert _what_drifted(period(["age"], [], True)) == "age, all features together"  # type: ignore[arg-type]
    assert _what_drifted(SimpleNamespace(drifted=[], report=None)) == "-"  # type: ignore[arg-type]


def test_rows_of_a_file_without_a_readable_event_time_are_counted_in_the_notes(
    backfilled: tuple[Project, dict[str, Any]], tmp_path: Path
) -> None:
    # 2 of 200 rows with an empty or unreadable applied_at were dropped without a word
    project, _ = backfilled
    rows = stamped(loans(200, 7), 2024, 2, 7).with_columns(
        pl.col("applied_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    rows = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("")).when(pl.int_range(pl.len()) == 9)
        .then(pl.lit("last tuesday")).otherwise(pl.col("applied_at")).alias("applied_at")
    )  # fmt: skip
    source = tmp_path / "batch.csv"
    rows.drop("defaulted").write_csv(source)
    code, out = _run(project, "score", "risk", str(source), "--json")
    assert code == 0, out
    run = str(json.loads(out)["run_id"])
    said = "2 rows had no readable event time (applied_at) and are in no period"
    code, out = _run(project, "monitor", "risk", "--run", run, "--every", "3mo", "--json")
    assert code == 0, out
    found = json.loads(out)
    assert said in found["notes"] and found["rows"] == 198
    code, out = _run(project, "monitor", "risk", "--run", run, "--every", "3mo")
    assert code == 0, out
    assert said in " ".join(out.split())
