"""`shipyard retrain`, `runs list/show`, `rollback`, `worker` and `promote`'s evidence."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import shipyard
from maintenance.worker_support import (
    set_retrain,
    shipyard_exe,
    wait_for,
    with_champion,
    write_project,
)
from shipyard.cli import cli
from shipyard.maintenance.lease import Lease
from shipyard.maintenance.worker import LEASE


def run(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(folder), *args], catch_exceptions=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """risk@1 is the champion; its policy waits for approval (no shadow)."""
    folder = write_project(tmp_path / "proj", "{promote: approve}")
    with_champion(folder).close()
    return folder


def test_retrain_prints_the_run_and_runs_list_and_show_tell_it(folder: Path) -> None:
    assert "no retraining runs yet" in run(folder, "runs", "list").output
    done = run(folder, "retrain", "risk", "--reason", "new data arrived")
    assert done.exit_code == 0, done.output
    for said in (
        "run #1 of risk: awaiting approval",
        "trigger     manual (new data arrived)",
        "data        loans@1",
        "candidate   risk@2",
        "champion    risk@1",
        "pass gates: every gate passed",
        "roc_auc",
        "decision    not yet",
    ):
        assert said in done.output, said
    listed = run(folder, "runs", "list")
    assert "awaiting_approval" in listed.output and "1→2" in listed.output
    assert run(folder, "runs", "list", "risk", "--limit", "1").output == listed.output
    [record] = json.loads(run(folder, "runs", "list", "--json").stdout)
    assert record["id"] == 1 and record["state"] == "awaiting_approval"
    assert record["candidate"] == 2 and record["champion"] == 1
    shown = run(folder, "runs", "show", "1")
    for said in (
        "trigger",
        "feedback    none used (labels: dataset)",
        "holder",
        "took",
        "steps",
        "train: risk@2",
    ):
        assert said in shown.output, said
    detail = json.loads(run(folder, "runs", "show", "1", "--json").stdout)
    assert detail["trigger"] == "manual" and detail["dataset"] == "loans@1"
    assert [c["name"] for c in detail["checks"]][:1] == ["gates"]
    assert [s["step"] for s in detail["steps"]][:3] == ["running", "data", "train"]


def test_promote_shows_the_candidates_run_before_it_moves_the_alias(folder: Path) -> None:
    run(folder, "retrain", "risk")
    promoted = run(folder, "promote", "risk@2", "--to", "champion")
    assert promoted.exit_code == 0, promoted.output
    out = promoted.output
    assert "risk@2 is the candidate of run #1 (manual, awaiting approval)" in out
    assert out.index("pass gates") < out.index("risk@champion → version 2 (was 1)")
    assert "checks: gate roc_auc pass" in out  # the figures of the check
    as_json = json.loads(run(folder, "promote", "risk@2", "--json").stdout)
    assert as_json["to"] == 2 and as_json["run"]["id"] == 1
    assert as_json["run"]["checks"][0]["name"] == "gates"
    plain = run(folder, "promote", "risk@1", "--force", "--reason", "back", "--json")
    assert "run" not in json.loads(plain.stdout)  # risk@1 was no run's candidate


def test_a_shadowing_runs_comparison_is_shown(folder: Path) -> None:
    set_retrain(folder, "{promote: approve, labels: feedback, shadow: {requests: 100}}")
    started = run(folder, "retrain", "risk")
    assert started.exit_code == 0 and "shadowing" in started.output, started.output
    assert "feedback    no labelled predictions since " in started.output  # nothing served yet
    shown = run(folder, "runs", "show", "1")
    assert "comparison" in shown.output
    detail = json.loads(run(folder, "runs", "show", "1", "--json").stdout)
    assert detail["state"] == "shadowing" and detail["comparison"] is not None
    evidence = run(folder, "promote", "risk@2", "--force", "--reason", "hotfix")
    assert "risk@2 is the candidate of run #1 (manual, shadowing)" in evidence.output
    assert "comparison" in evidence.output


def test_a_rejected_candidate_exits_1_with_why(folder: Path) -> None:
    file = folder / "shipyard.yaml"
    file.write_text(file.read_text().replace("roc_auc: {min: 0.5}", "roc_auc: {min: 0.999}"))
    refused = run(folder, "retrain", "risk")
    assert refused.exit_code == 1
    assert "rejected" in refused.output and "FAIL gates" in refused.output
    assert json.loads(run(folder, "runs", "show", "1", "--json").stdout)["state"] == "rejected"
    assert shipyard.open(folder).models.registry.aliases("risk") == {"champion": 1}


def test_retrain_while_a_run_is_going_names_it_and_exits_1(folder: Path) -> None:
    project = shipyard.open(folder)
    (folder / "hold").write_text("")
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(run=project.retrain("risk")))
    thread.start()
    try:
        wait_for("the first run's training step", lambda: list(folder.glob("training-*")))
        busy = run(folder, "retrain", "risk")
        assert busy.exit_code == 1
        [going] = project.maintenance.runs("risk")
        assert f"#{going.id}" in busy.output and going.holder in busy.output
        assert busy.output.startswith("error: ") and "Traceback" not in busy.output
    finally:
        (folder / "hold").unlink()
        thread.join(timeout=120)
        project.close()
    assert outcome["run"].state == "awaiting_approval"


def test_a_run_awaiting_approval_can_be_rejected_and_frees_the_model(folder: Path) -> None:
    run(folder, "retrain", "risk")
    blocked = run(folder, "retrain", "risk")
    assert blocked.exit_code == 1 and "shipyard runs reject 1 --reason" in blocked.output
    assert run(folder, "runs", "reject", "1").exit_code == 2  # --reason is required
    said_no = run(folder, "runs", "reject", "1", "--reason", "the data looks wrong")
    assert said_no.exit_code == 0, said_no.output
    assert "run #1 of risk: rejected" in said_no.output
    record = json.loads(run(folder, "runs", "show", "1", "--json").stdout)
    assert record["state"] == "rejected" and record["decision"] == "rejected"
    project = shipyard.open(folder)
    try:
        assert project.models.registry.aliases("risk") == {"champion": 1}  # challenger gone
        [event] = [e for e in project.audit(subject="risk") if e.action == "retrain.rejected"]
        assert event.reason == "rejected by hand: the data looks wrong"
    finally:
        project.close()
    again = run(folder, "runs", "reject", "1", "--reason", "twice")
    assert again.exit_code == 1 and "run #1 of risk is rejected" in again.output
    assert run(folder, "runs", "reject", "99", "--reason", "x").exit_code == 2
    # a rejected candidate is promoted only by force
    refused = run(folder, "promote", "risk@2", "--to", "champion")
    assert refused.exit_code == 1, refused.output
    assert "risk@2 was rejected by retraining run #1: rejected by hand: the data looks" in (
        refused.output
    )
    assert "--force --reason" in refused.output
    assert run(folder, "retrain", "risk").exit_code == 0  # the lock was released
    blank = run(folder, "runs", "reject", "2", "--reason", "  ")
    assert blank.exit_code == 1 and "a rejection needs a reason" in blank.output
    forced = run(folder, "promote", "risk@2", "--force", "--reason", "we checked by hand")
    assert forced.exit_code == 0, forced.output


def test_a_hand_promotion_ends_the_guard_of_the_version_it_replaces(tmp_path: Path) -> None:
    folder = write_project(
        tmp_path / "proj", "{promote: approve, guard: {duration: 1h, alerts: [errors]}}"
    )
    with_champion(folder).close()
    run(folder, "retrain", "risk")
    assert run(folder, "promote", "risk@2", "--to", "champion").exit_code == 0
    project = shipyard.open(folder)
    try:
        assert project.maintenance.run(1).state == "guarding"
        busy = run(folder, "retrain", "risk")
        assert busy.exit_code == 1 and "run #1 (guarding)" in busy.output
        assert "shipyard rollback risk --reason TEXT" in busy.output
        assert "runs reject" not in busy.output  # a guarding run cannot be rejected
        project.promote("risk@1", force=True, reason="back to the old one, by hand")
        first = project.maintenance.run(1)
        assert first.state == "promoted" and first.steps[-1]["step"] == "superseded"
        [guard] = [r for r in project.maintenance.runs("risk") if r.id != 1]
        assert guard.state == "guarding" and guard.candidate == 1  # the new champion's guard
    finally:
        project.close()


def test_rollback_needs_a_reason_and_an_earlier_champion(folder: Path) -> None:
    no_reason = run(folder, "rollback", "risk")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    nothing = run(folder, "rollback", "risk", "--reason", "bad")
    assert nothing.exit_code == 1 and "no earlier champion" in nothing.output
    run(folder, "retrain", "risk")
    run(folder, "promote", "risk@2")
    back = run(folder, "rollback", "risk", "--reason", "v2 misbehaves")
    assert back.exit_code == 0, back.output
    assert "risk@champion → version 1 (was 2), rolled back" in back.output
    run(folder, "promote", "risk@2")
    as_json = json.loads(
        run(folder, "rollback", "risk", "--to", "1", "--reason", "again", "--json").stdout
    )
    assert as_json == {"model": "risk", "alias": "champion", "from": 2, "to": 1}
    assert run(folder, "rollback", "nope", "--reason", "x").exit_code == 2


def test_unknown_names_are_usage_errors(folder: Path) -> None:
    for args in (("retrain", "nope"), ("runs", "list", "nope"), ("runs", "show", "7")):
        result = run(folder, *args)
        assert result.exit_code == 2, args
        assert result.output.startswith("error: ") and "hint: " in result.output, args


def test_worker_once_acts_only_with_the_lease(folder: Path) -> None:
    set_retrain(folder, "{promote: approve}")
    with shipyard.open(folder) as project:
        other = Lease(project.metadata, LEASE, holder="elsewhere:1", seconds=60)
        assert other.acquire()
        waited = run(folder, "worker", "--once")
        assert waited.exit_code == 0
        assert "the worker lease is held by elsewhere:1 until" in waited.output
        other.release()
        acted = run(folder, "worker", "--once")
        assert acted.exit_code == 0 and "held by" not in acted.output
        assert other.held_by() is None  # released on the way out


@pytest.mark.timeout(600)
def test_the_real_executable_retrains_and_lists(folder: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}

    def shipyard_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [shipyard_exe(), "-C", str(folder), *args],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip

    done = shipyard_cli("retrain", "risk", "--reason", "cron", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["state"] == "awaiting_approval" and record["reason"] == "cron"
    busy_free = shipyard_cli("runs", "list", "--json")
    assert [r["id"] for r in json.loads(busy_free.stdout)] == [record["id"]]
    missing = shipyard_cli("runs", "show", "99")
    assert missing.returncode == 2 and missing.stderr.startswith("error: no retraining run #99")
