"""``shipyard doctor`` fails for an owner or route that names a destination nothing can carry."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from shipyard.cli import cli

EXAMPLE_OWNER = "owner: {name: risk-team, file: alerts.jsonl}"


def _doctor(folder: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(folder), "doctor"])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _edit(folder: Path, old: str, new: str) -> None:
    file = folder / "shipyard.yaml"
    text = file.read_text()
    assert old in text
    file.write_text(text.replace(old, new))


def test_init_example_reaches_its_owner_and_doctor_says_so(project_dir: Path) -> None:
    assert EXAMPLE_OWNER in (project_dir / "shipyard.yaml").read_text()
    result = CliRunner().invoke(cli, ["-C", str(project_dir), "doctor", "--json"])
    assert result.exit_code == 0, result.output
    [check] = [c for c in json.loads(result.output)["checks"] if c["name"] == "alert delivery"]
    assert check["ok"] is True


def test_an_owner_only_by_email_without_smtp_is_an_error(project_dir: Path) -> None:
    _edit(project_dir, EXAMPLE_OWNER, "owner: {name: risk-team, email: risk@example.com}")
    code, out = _doctor(project_dir)
    assert code == 1
    assert "alert delivery" in out and "FAILED" in out
    flat = " ".join(out.split())  # the table wraps its cells
    assert "models.default-risk.owner (risk-team): email risk@example.com cannot be sent" in flat
    assert "set alerting.smtp in shipyard.yaml" in flat


def test_the_mail_server_makes_the_email_owner_reachable(project_dir: Path) -> None:
    _edit(project_dir, EXAMPLE_OWNER, "owner: {name: risk-team, email: risk@example.com}")
    _edit(
        project_dir,
        "alerting:\n",
        "alerting:\n  smtp: {host: mail.example.com, port: 587, from: shipyard@example.com}\n",
    )
    code, out = _doctor(project_dir)
    assert code == 0, out


def test_a_route_with_email_without_smtp_is_an_error(project_dir: Path) -> None:
    _edit(
        project_dir, "alerting:\n", "alerting:\n  routes: {oncall: {email: [oncall@example.com]}}\n"
    )
    code, out = _doctor(project_dir)
    assert code == 1
    assert "alerting.routes.oncall: email oncall@example.com cannot be sent" in " ".join(
        out.split()
    )
