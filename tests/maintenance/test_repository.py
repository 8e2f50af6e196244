"""The runs' repository: one lock per model, taken by one of many at once; each change with
its audit event; a run that ends lets go of its lock. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipyard.maintenance import RunInProgressError
from shipyard.maintenance.records import Check
from shipyard.maintenance.repository import RunStore
from shipyard.storage import MetadataStore, history


@pytest.fixture
def runs(database_url: str, tmp_path: Path) -> Iterator[RunStore]:
    store = MetadataStore(database_url, root=tmp_path)
    yield RunStore(store)
    store.close()


T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_run_takes_its_model_s_lock_and_says_so(runs: RunStore) -> None:
    run = runs.start("risk", trigger="schedule", reason="weekly", champion=3, now=T0, holder="a:1")
    assert (run.state, run.trigger, run.reason, run.champion) == (
        "running",
        "schedule",
        "weekly",
        3,
    )
    assert (run.started_at, run.heartbeat_at, run.holder) == (T0, T0, "a:1")
    assert runs.holding("risk") == (run.id, "a:1", T0)
    [event] = history(runs.store, subject="risk")
    assert (event.action, event.detail["run"], event.reason) == (
        "retrain.started",
        run.id,
        "weekly",
    )
    other = runs.start("fraud", trigger="manual", reason=None, champion=None, now=T0)
    assert other.id != run.id  # another model's run is not held up


def test_a_second_run_of_a_model_is_refused_with_who_and_since(runs: RunStore) -> None:
    first = runs.start("risk", trigger="manual", reason=None, champion=1, now=T0, holder="a:1")
    with pytest.raises(RunInProgressError) as info:
        runs.start("risk", trigger="schedule", reason=None, champion=1, now=T0, holder="b:2")
    assert info.value.message == (
        f"a retraining run of 'risk' is already going: run #{first.id} (running), held by a:1 "
        "since 2026-12-01 12:00:00 UTC"
    )
    assert len(runs.recent("risk")) == 1


def test_two_at_once_make_one_run(runs: RunStore) -> None:
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def go(i: int) -> None:
        barrier.wait()
        try:
            runs.start("risk", trigger="manual", reason=None, champion=1, now=T0, holder=f"h:{i}")
            outcomes.append("started")
        except RunInProgressError:
            outcomes.append("refused")

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["refused", "refused", "refused", "started"]
    assert len(runs.recent("risk")) == 1


def test_each_change_is_recorded_and_an_ended_run_lets_go(runs: RunStore) -> None:
    run = runs.start("risk", trigger="manual", reason=None, champion=1, now=T0)
    later = T0 + timedelta(minutes=1)
    check = Check("gates", True, {"roc_auc": 0.8}, "every gate passed")
    shadowing = runs.update(
        run.id, step="shadowing", note="until 50", state="shadowing", candidate=2,
        checks=[check], shadow_since=later, action="retrain.shadowing", now=later,
    )  # fmt: skip
    assert (shadowing.state, shadowing.candidate, shadowing.checks) == ("shadowing", 2, [check])
    assert shadowing.steps[-1] == {
        "step": "shadowing",
        "at": later.isoformat(),
        "detail": "until 50",
    }
    assert shadowing.finished_at is None and runs.holding("risk") is not None
    done = runs.update(
        run.id, step="rejected", state="rejected", decision="rejected", decided_by="policy",
        action="retrain.rejected", reason="too slow", now=later,
    )  # fmt: skip
    assert (done.finished_at, done.decision) == (later, "rejected")
    assert runs.holding("risk") is None
    assert [e.action for e in history(runs.store, subject="risk")] == [
        "retrain.rejected", "retrain.shadowing", "retrain.started",
    ]  # fmt: skip
    assert [r.id for r in runs.active()] == []
    assert runs.start("risk", trigger="manual", reason=None, champion=1, now=later).id > run.id


def test_a_heartbeat_moves_only_the_heartbeat(runs: RunStore) -> None:
    run = runs.start("risk", trigger="manual", reason=None, champion=1, now=T0)
    runs.beat(run.id, T0 + timedelta(seconds=5))
    again = runs.get(run.id)
    assert again.heartbeat_at == T0 + timedelta(seconds=5) and again.updated_at == T0
