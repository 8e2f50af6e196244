"""The CLI in-process (click's runner): messages, exit codes, --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import shipyard.evaluation.run as evaluation_run
from helpers import all_commands
from shipyard import __version__
from shipyard.cli import cli

Run = Callable[..., Result]


@pytest.fixture
def run() -> Run:
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_version(run: Run) -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_every_command_has_help(run: Run) -> None:
    for name, command in all_commands(cli).items():
        assert command.help, f"'shipyard {name}' has no help text"
        assert run(*name.split(), "--help").exit_code == 0


def test_init_writes_a_project_that_doctor_accepts(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    result = run("init", str(folder))
    assert result.exit_code == 0, result.output
    assert (folder / "shipyard.yaml").exists()
    assert ".shipyard/" in (folder / ".gitignore").read_text()
    result = run("-C", str(folder), "doctor")
    assert result.exit_code == 0, result.output
    assert "all checks passed" in result.output


def test_init_refuses_to_overwrite(run: Run, project_dir: Path) -> None:
    result = run("init", str(project_dir))
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert "--force" in result.output
    assert run("init", "--force", str(project_dir)).exit_code == 0


def test_doctor_json(run: Run, project_dir: Path) -> None:
    result = run("-C", str(project_dir), "doctor", "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["project"] == "test-project"
    assert {c["name"] for c in report["checks"]} == {
        "project file",
        "database connect",
        "database write",
        "artifact store",
        "alert delivery",
        "environment",  # no champion yet to compare with this environment
        "training function default-risk",  # credit_model:train imports
    }
    assert report["versions"]["shipyard"] == __version__
    assert report["database"].startswith(f"sqlite:///{project_dir}")


def test_doctor_reports_an_unreachable_database_without_a_traceback(
    run: Run, project_dir: Path
) -> None:
    env = {"SHIPYARD_DATABASE_URL": "postgresql://app:hunter2@127.0.0.1:1/x"}
    result = run("-C", str(project_dir), "doctor", env=env)
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


def test_missing_project_file(run: Run, tmp_path: Path) -> None:
    result = run("-C", str(tmp_path), "doctor")
    assert result.exit_code == 2
    assert "no shipyard.yaml" in result.output
    assert f"shipyard init {tmp_path}" in result.output
    assert "Traceback" not in result.output


def test_a_wrong_project_file_lists_each_problem(run: Run, tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text("project: x\nstorage:\n  databse: 1\n  artifacts: 5\n")
    result = run("-C", str(tmp_path), "doctor")
    assert result.exit_code == 2
    assert "storage.databse: unknown key (did you mean 'database'?)" in result.output
    assert "storage.artifacts: expected a folder path" in result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    from shipyard.errors import ProjectNotFoundError

    with pytest.raises(ProjectNotFoundError):
        CliRunner().invoke(cli, ["--debug", "-C", str(tmp_path), "doctor"], catch_exceptions=False)


def test_audit_lists_events(run: Run, project_dir: Path) -> None:
    from shipyard import open_project

    with open_project(project_dir) as project:
        project.record("model.registered", "fraud", detail={"version": 1}, reason="first")
    result = run("-C", str(project_dir), "audit", "--json")
    assert result.exit_code == 0
    [event] = json.loads(result.output)
    assert (event["action"], event["subject"], event["reason"]) == (
        "model.registered",
        "fraud",
        "first",
    )
    assert "model.registered" in run("-C", str(project_dir), "audit").output


@pytest.mark.slow  # the demo serves its champion on 127.0.0.1 (EmbeddedServer) and sends traffic
@pytest.mark.timeout(900)  # the whole lifecycle: generous, so a busy machine is not a failure
def test_demo_json_runs_the_lifecycle(run: Run, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = run("demo", "--dir", str(folder), "--no-serve", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["skipped"] == []  # every act ran, on a busy machine too
    assert summary["doctor"]["ok"] is True
    first, second = summary["ingests"]
    assert first["version"]["ref"] == "loans@1"
    assert second["version"]["ref"] == "loans@2"
    for ingest in (first, second):
        report = ingest["report"]
        assert report["accepted"] + report["quarantined"] == report["received"]
        assert report["quarantined"] > 0
    assert summary["quarantine_sample"][0]["_reasons"]
    assert summary["diff"]["added"] == second["report"]["accepted"]
    assert [m["ref"] for m in summary["models"]] == [f"default-risk@{n}" for n in (1, 2, 3)]
    assert [m["source"] for m in summary["models"]] == ["train", "train", "register"]
    failed = {e["ref"]: set(e["failed"]) for e in summary["evaluations"]}
    verdicts = {e["ref"]: e["passed"] for e in summary["evaluations"]}
    # monotonic: passes every check (latency is judged on the model's own time)
    assert failed["default-risk@1"] == set()
    # unconstrained: fails the directional test
    assert "directional amount +10000 → up" in failed["default-risk@2"]
    assert verdicts["default-risk@1"]  # the first champion (the loop moves it on)
    assert len(summary["refused"]) == sum(not v for v in verdicts.values())
    assert all("refusing to promote" in message for message in summary["refused"])
    actions = [e["action"] for e in summary["audit_events"]]  # newest first
    # up to the first promotion (the loop's events are newer)
    lifecycle = actions[len(actions) - 1 - actions[::-1].index("model.promoted") :]
    assert lifecycle[:3] == ["model.promoted", "alias.set", "model.evaluated"]
    assert lifecycle.count("model.evaluated") == 3 and lifecycle.count("model.registered") == 3
    assert actions[-1] == "project.created"
    serving = summary["serving"]
    assert [b["status"] for b in serving["bad_requests"]] == [422, 400, 404]
    assert "rows[0].amount: expected a number" in serving["bad_requests"][0]["problems"][0]
    assert sum(serving["answered"].values()) == 200
    failing = serving["while_failing"]
    assert failing.get("cache") == 5 and failing.get("rules") == 1 and failing.get("default") == 15
    assert serving["breaker_while_failing"] == "open" and serving["breaker_after"] == "closed"
    assert serving["degraded_example"]["degraded"] is True
    assert serving["feedback_accepted"] == 100 and serving["log_segments"] >= 1
    assert serving["drifting"] == {"predictions": 600, "labels": 600}
    monitoring = summary["monitoring"]
    assert {"amount", "age"} <= set(monitoring["drifted"])
    assert monitoring["metrics"]["roc_auc"] < 0.7 and monitoring["labelled"] == 700
    # the owner's webhook got each alert exactly once; a second run sent nothing
    assert sorted((m["rule"], m["status"]) for m in monitoring["webhook_messages"]) == [
        ("auc", "firing"),
        ("drift", "firing"),
    ]
    assert monitoring["messages_after_second_run"] == 0 and monitoring["second_run_changed"] == []
    assert Path(monitoring["report"]).read_text().startswith("<!doctype html>")
    # the loop (tests/test_demo_maintenance.py checks every step)
    loop = summary["maintenance"]
    runs = {run["id"]: run for run in loop["runs"]}
    retrained = runs[loop["first_run"]]
    assert retrained["trigger"].startswith("alert:") and retrained["feedback"]["rows"] == 700
    assert retrained["state"] == "promoted" and retrained["decided_by"] == "policy:auto"
    assert summary["champion"] == f"default-risk@{retrained['candidate']}"
    assert [(r["trigger"], r["state"], r["decided_by"]) for r in runs.values()].count(
        ("manual-promotion", "rolled_back", "guard")
    ) == 1
    audited = [event["action"] for event in loop["audit"]]
    assert {"retrain.started", "retrain.promoted", "guard.rolled_back"} <= set(audited)


def test_demo_refuses_a_folder_with_files(run: Run, project_dir: Path) -> None:
    result = run("demo", "--dir", str(project_dir))
    assert result.exit_code == 2
    assert "not empty" in result.output


SLOW = {  # every version far over its budget: no champion, as on a machine that is too slow
    "waits_known": 1.0,
    **{
        f"{kind}_{clock}p{q}_ms": 60_000.0
        for kind in ("single", "batch")
        for clock in ("", "wall_", "cpu_")
        for q in (50, 99)
    },
}


@pytest.mark.slow  # the demo's webhook receiver listens on 127.0.0.1
@pytest.mark.timeout(900)  # the acts up to promotion: generous, so a busy machine is not a failure
def test_a_demo_without_a_champion_names_each_skipped_act_and_exits_1(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation_run, "_latency", lambda *_args: dict(SLOW))
    folder = tmp_path / "demo"
    result = run("demo", "--dir", str(folder), "--no-serve")
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())  # the terminal wraps long lines
    assert "the demo did not run its whole story" in output
    for act in ("promotion", "serving", "monitoring", "maintenance"):
        assert f"skipped {act}: " in output, act
    assert "default-risk@1 failed latency p99 single row" in output
    assert "so there is no champion skipped serving: no champion to serve" in output
    # no command for a champion that does not exist, nor for acts that did not run
    assert "@champion" not in output and "monitor default-risk" not in output
    assert "runs list" not in output and "champion now none" in output
    assert f"shipyard -C {folder} models show default-risk," in output
    assert "Traceback" not in result.output


@pytest.mark.slow  # the demo's webhook receiver listens on 127.0.0.1
@pytest.mark.timeout(900)  # the acts up to promotion: generous, so a busy machine is not a failure
def test_a_demo_without_a_champion_says_so_in_json_and_exits_1(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluation_run, "_latency", lambda *_args: dict(SLOW))
    result = run("demo", "--dir", str(tmp_path / "demo"), "--no-serve", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert [act.split(":")[0] for act in summary["skipped"]] == [
        "promotion", "serving", "monitoring", "maintenance"
    ]  # fmt: skip
    assert summary["champion"] is None and summary["serving"] is None
    assert summary["monitoring"] is None and summary["maintenance"] is None
    assert all(not e["passed"] for e in summary["evaluations"])
