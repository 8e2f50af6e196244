"""Monitoring runs end to end: a live server's logs, a stored reference, alerts to a real webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from monitor_support import Receiver, loans, make_project, traffic

import shipyard
from shipyard.project import Project


def test_a_calm_window_has_verdicts_and_fires_nothing(
    monitored: Project, receiver: Receiver
) -> None:
    frame = loans(600, 1)
    with traffic(monitored) as t:
        ids = t.predict(frame)
        t.label(ids, frame["defaulted"].to_list())
    run = monitored.monitor("risk")
    report = run.report
    assert report.rows == 600
    assert report.reference.startswith("risk@1 trained on loans@1")
    assert [f.feature for f in report.drift] == ["amount", "age", "country"]
    assert report.drifted == []
    assert [f.method for f in report.drift] == ["wasserstein", "wasserstein", "cohen_w"]
    assert all(f.mde is not None and f"at {f.rows:,} rows" in f.decision for f in report.drift)
    assert report.performance.labelled == 600 and report.performance.metrics["roc_auc"] > 0.8
    assert report.service.requests == 3 and report.service.latency_p95 is not None
    assert run.alerts == [] and receiver.messages == []
    stored = monitored.monitoring.runs("risk")
    assert stored[0].id == run.id and stored[0].rows == 600
    assert monitored.artifacts.get(run.html_key).startswith(b"<!doctype html>")
    history = monitored.monitoring.history("risk", kind="drift", feature="amount")
    assert history and history[0].statistic in ("wasserstein", "ks")


def test_drift_and_a_performance_drop_page_once_then_resolve(
    monitored: Project, receiver: Receiver
) -> None:
    drifted = loans(600, 2, shift=0.8)
    with traffic(monitored) as t:
        ids = t.predict(drifted)
        t.label(ids, [not v for v in drifted["defaulted"].to_list()])  # the world turned around
    first = monitored.monitor("risk")
    assert set(first.report.drifted) >= {"amount", "age"}
    assert first.report.performance.metrics["roc_auc"] < 0.7
    fired = {a.rule: a for a in first.alerts}
    assert fired["drift"].state == "firing" and fired["auc"].state == "firing"
    paths = sorted(path for path, _ in receiver.messages)
    assert paths == ["/oncall", "/owner"]  # auc has its own route; drift goes to the owner
    owner = dict(receiver.messages)["/owner"]
    assert (
        owner["status"] == "firing" and owner["rule"] == "drift" and owner["owner"] == "risk-team"
    )
    assert "amount" in owner["message"] and owner["severity"] == "warning"

    again = monitored.monitor("risk")
    assert again.alerts == [] and len(receiver.messages) == 2  # still firing: nobody paged twice
    assert {a.rule for a in monitored.monitoring.alerts.list()} == {"drift", "auc"}

    calm = loans(600, 3)
    with traffic(monitored) as t:
        ids = t.predict(calm)
        t.label(ids, calm["defaulted"].to_list())
    later = monitored.monitor("risk", rows=600)
    assert later.report.rows == 600 and later.report.drifted == []
    assert later.report.performance.labelled == 600  # only the labels of the rows read
    assert {a.rule: a.state for a in later.alerts} == {"drift": "resolved", "auc": "resolved"}
    resolved = [m for _, m in receiver.messages if m["status"] == "resolved"]
    assert sorted(m["rule"] for m in resolved) == ["auc", "drift"]
    assert monitored.monitoring.alerts.list() == []


def test_for_holds_an_alert_pending_and_ack_stops_reminders(
    monitored: Project, receiver: Receiver
) -> None:
    frame = loans(300, 4).with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0)
        .then(None)
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    with traffic(monitored) as t:
        t.predict(frame)
    now = datetime.now(UTC)
    first = monitored.monitor("risk", now=now)
    assert [a.state for a in first.alerts if a.rule == "nulls"] == ["pending"]
    [pending] = [a for a in monitored.monitoring.alerts.list() if a.rule == "nulls"]
    assert pending.state == "pending" and pending.value == 0.5
    assert not any(m["rule"] == "nulls" for _, m in receiver.messages)

    held = monitored.monitor("risk", now=now + timedelta(minutes=11), window=7200)
    assert [a.state for a in held.alerts if a.rule == "nulls"] == ["firing"]
    assert [m["rule"] for _, m in receiver.messages].count("nulls") == 1

    monitored.monitoring.alerts.ack(pending.id, now=now, reason="on it")
    monitored.monitor("risk", now=now + timedelta(hours=2), window=4 * 3600)
    assert [m["rule"] for _, m in receiver.messages].count(
        "nulls"
    ) == 1  # acknowledged: no reminder
    acked = monitored.monitoring.alerts.get(pending.id)
    assert acked.acked_by and acked.state == "firing"
    assert any(e.action == "alert.acked" for e in monitored.audit())


def test_reminders_repeat_while_an_alert_fires_unacknowledged(
    monitored: Project, receiver: Receiver
) -> None:
    drifted = loans(400, 5, shift=0.8)
    with traffic(monitored) as t:
        t.predict(drifted)
    now = datetime.now(UTC)
    monitored.monitor("risk", now=now)
    monitored.monitor("risk", now=now + timedelta(minutes=30), window=7200)
    monitored.monitor("risk", now=now + timedelta(minutes=61), window=7200)
    statuses = [m["status"] for _, m in receiver.messages if m["rule"] == "drift"]
    assert statuses == ["firing", "reminder"]


def test_labels_for_unknown_ids_and_duplicates_are_counted_not_used(monitored: Project) -> None:
    frame = loans(100, 6)
    with traffic(monitored) as t:
        ids = t.predict(frame)
        labels = frame["defaulted"].to_list()
        t.label(ids, labels)
        t.label(ids[:10], [not v for v in labels[:10]])  # corrected labels: the newest wins
        t.label(["nope-1", "nope-2"], [True, False])
    performance = monitored.monitor("risk").report.performance
    assert performance.labels == 112
    assert performance.duplicates == 10
    assert performance.unknown_ids == 2
    assert performance.labelled == 100
    assert performance.label_delay_s["max"] >= 0


def test_an_empty_window_says_so_and_changes_no_alert(
    monitored: Project, receiver: Receiver
) -> None:
    run = monitored.monitor("risk")
    assert run.report.rows == 0
    assert run.report.drift == [] and "no predictions" in run.report.notes[0]
    assert run.report.performance.note == "no labels arrived in the window"
    assert run.alerts == [] and receiver.messages == []


def test_one_row_all_nulls_and_unseen_categories(monitored: Project) -> None:
    with traffic(monitored) as t:
        t.predict(loans(1, 7))
    one = monitored.monitor("risk").report
    assert all(f.drifted is None and "judged from 30" in f.reason for f in one.drift)

    frame = loans(200, 8).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("amount"),
        pl.Series("country", ["UK"] * 50 + ["DE"] * 150),
    )
    with traffic(monitored) as t:
        t.predict(frame)
    report = monitored.monitor("risk", rows=200).report
    amount = next(f for f in report.drift if f.feature == "amount")
    assert amount.drifted is None and amount.rows == 0
    quality = {q.feature: q for q in report.quality}
    assert quality["amount"].null_rate == 1.0
    assert quality["country"].unseen_categories == 0.25
    assert quality["country"].unseen_examples == {"UK": 50}


def test_refused_requests_are_counted_per_field(monitored: Project) -> None:
    with traffic(monitored) as t:
        t.predict(loans(50, 9))
        bad = t.client.post(
            "/v1/models/risk/predict", json=[{"amount": "12,5", "age": 17, "country": "DE"}]
        )
        assert bad.status_code == 422
    report = monitored.monitor("risk").report
    assert report.service.rejected == 1 and report.service.rejected_rate == 0.5
    quality = {q.feature: q.rejected for q in report.quality}
    assert quality == {"amount": 1, "age": 1, "country": 0}


def test_previous_window_as_the_reference(monitored: Project) -> None:
    with traffic(monitored) as t:
        t.predict(loans(300, 10))
    empty = monitored.monitor("risk", reference="previous").report
    assert empty.drift == [] and "previous window is empty" in " ".join(empty.notes)
    later = datetime.now(UTC) + timedelta(hours=1)
    report = monitored.monitor("risk", reference="previous", now=later).report
    assert report.rows == 0  # the traffic is now in the previous window, none in this one


def test_a_version_without_a_dataset_is_profiled_on_demand_or_says_why(monitored: Project) -> None:
    from sklearn.dummy import DummyClassifier

    frame = loans(200, 11)
    bare = monitored.register(
        DummyClassifier(strategy="prior").fit(
            frame.drop("defaulted").to_pandas(), frame["defaulted"]
        ),
        "risk",
    )
    assert monitored.monitoring.reference(bare) is None
    monitored.models.alias(bare.ref, "champion")
    with traffic(monitored) as t:
        t.predict(frame)
    report = monitored.monitor("risk").report
    assert report.drift == [] and "no training dataset" in " ".join(report.notes)
    assert np.isclose(report.service.degraded_rate, 0.0)


def test_a_rule_with_its_own_window_is_judged_over_it(tmp_path: Path, receiver: Receiver) -> None:
    """As its exported Prometheus rule is: a drift rule over a day still sees the morning's
    drifted rows when the monitoring window (an hour) holds none."""
    project = make_project(tmp_path / "proj", receiver.url)
    try:
        file = project.root / "shipyard.yaml"
        file.write_text(
            file.read_text().replace(
                "      - {name: drift, when: drift}\n",
                "      - {name: drift, when: drift}\n"
                "      - {name: drift-today, when: drift, window: 1d}\n",
            )
        )
        with shipyard.open(project.root) as reopened:
            with traffic(reopened) as t:
                t.predict(loans(600, 2, shift=3.0))
            later = datetime.now(UTC) + timedelta(hours=3)
            run = reopened.monitor("risk", now=later, notify=False)
            assert run.report.rows == 0  # the hour before `later` is empty
            # the rule without a window of its own had nothing to judge in the hour
            assert [(a.rule, a.state) for a in run.alerts] == [("drift-today", "firing")]
    finally:
        project.close()
