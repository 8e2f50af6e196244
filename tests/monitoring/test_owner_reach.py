"""Every alert reaches its owner or says loudly why not; every record names who took it.

An owner reachable only by e-mail without ``alerting.smtp`` is refused by
``monitor`` at its first alert (exit 2, the alert recorded, the message still
owed); ``alerts list`` is one line per alert and ``alerts show`` the whole record;
the webhook body, the CLI and ``--json`` name the owner and each channel.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from monitor_support import Receiver, loans, make_project, traffic

from shipyard.cli import cli
from shipyard.project import Project

OWNER = '    owner: {name: risk-team, webhook: "%s/owner"}\n'


def _run(folder: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(folder), *args])
    assert "Traceback" not in result.output and "internal error" not in result.output
    return result.exit_code, result.output


def _owner(folder: Path, hook: str, owner: str) -> None:
    file = folder / "shipyard.yaml"
    text = file.read_text()
    assert OWNER % hook in text
    file.write_text(text.replace(OWNER % hook, f"    owner: {owner}\n"))


def _drift(tmp_path: Path, receiver: Receiver, owner: str | None = None) -> Path:
    project = make_project(tmp_path / "proj", receiver.url)
    try:
        if owner is not None:
            _owner(project.root, receiver.url, owner)
        with traffic(project) as t:
            t.predict(loans(400, 30, shift=0.8))
    finally:
        project.close()
    return tmp_path / "proj"


def test_an_owner_only_by_email_without_smtp_is_refused_loudly_and_kept_owed(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _drift(tmp_path, receiver, "{name: risk-team, email: risk@example.com}")
    code, out = _run(folder, "monitor", "risk")
    assert code == 2, out
    assert "alert #1 to email:risk@example.com: NOT CONFIGURED" in out
    [error] = [line for line in out.splitlines() if line.startswith("error:")]
    assert "alert #1 of risk did not reach its owner risk-team" in error
    assert "email:risk@example.com is not configured" in error and "alerting.smtp" in error
    assert out.count("alerting.smtp") == 1  # why and what to set: once, in the error
    logged = [r for r in caplog.records if "did not reach its owner" in r.getMessage()]
    assert logged == []  # not logged as well: the command says it

    code, out = _run(folder, "alerts", "show", "1", "--json")
    alert = json.loads(out)
    assert alert["owner"] == "risk-team" and alert["owed"] == "firing"  # tried again next run
    said = {(d["channel"], d["status"]) for d in alert["deliveries"]}
    assert said == {("email:risk@example.com", "not configured"), ("log:owner", "sent")}

    code, out = _run(folder, "monitor", "risk")  # still refused: nothing changed
    assert code == 2 and "did not reach its owner risk-team" in out
    code, out = _run(folder, "doctor")
    assert code == 1
    flat = " ".join(out.split())  # the table wraps its cells
    assert "models.risk.owner (risk-team): email risk@example.com cannot be sent" in flat
    assert "set alerting.smtp" in flat


def test_the_webhook_body_and_the_record_name_the_owner_and_each_channel(
    monitored: Project, receiver: Receiver
) -> None:
    with traffic(monitored) as t:
        t.predict(loans(400, 31, shift=0.8))
    code, out = _run(monitored.root, "monitor", "risk")
    assert code == 0, out
    [(path, body)] = [(p, b) for p, b in receiver.messages if b["rule"] == "drift"]
    assert path == "/owner" and body["owner"] == "risk-team"
    webhook = f"webhook:{receiver.url}/…"
    assert body["deliveries"] == [
        {"channel": webhook, "status": "sending"},
        {"channel": "log:owner", "status": "sending"},
    ]
    code, out = _run(monitored.root, "alerts", "list", "--json")
    [alert] = json.loads(out)
    assert alert["owner"] == "risk-team"
    assert [(d["channel"], d["status"], d["kind"]) for d in alert["deliveries"]] == [
        (webhook, "sent", "firing"),
        ("log:owner", "sent", "firing"),
    ]
    code, out = _run(monitored.root, "alerts", "show", str(alert["id"]))
    assert code == 0, out
    assert "owner:" in out and "risk-team" in out
    assert f"firing to {webhook}: sent" in out and "firing to log:owner: sent" in out
    assert f"{receiver.url}/owner" not in out  # a webhook's path can be its secret


def test_alerts_list_prints_one_line_per_alert(tmp_path: Path, receiver: Receiver) -> None:
    folder = _drift(tmp_path, receiver)
    assert _run(folder, "monitor", "risk")[0] == 0
    code, out = _run(folder, "alerts", "list")
    assert code == 0, out
    header, *rows, hint = out.splitlines()
    assert header.split() == ["id", "model", "rule", "severity", "status", "since", "owner"]
    [row] = rows  # the drift alert, its long message behind `alerts show`
    assert row.split()[:5] == ["#1", "risk", "drift", "warning", "firing"]
    assert row.split()[-1] == "risk-team"
    assert "alerts show ID" in hint


def test_a_file_channel_takes_every_message_as_a_json_line(
    tmp_path: Path, receiver: Receiver
) -> None:
    folder = _drift(tmp_path, receiver, "{name: risk-team, file: alerts/risk.jsonl}")
    code, out = _run(folder, "monitor", "risk")
    assert code == 0, out
    assert "alert #1 to file:alerts/risk.jsonl: sent" in out
    [line] = (folder / "alerts/risk.jsonl").read_text().splitlines()
    message = json.loads(line)
    assert (message["rule"], message["status"], message["owner"]) == (
        "drift",
        "firing",
        "risk-team",
    )
    assert {"channel": "file:alerts/risk.jsonl", "status": "sending"} in message["deliveries"]
