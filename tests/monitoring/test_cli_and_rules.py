"""`shipyard monitor` and `shipyard alerts` through the CLI; rule checks; Prometheus export."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from monitor_support import PROJECT, Receiver, loans, traffic

from shipyard.cli import cli
from shipyard.config import parse_config
from shipyard.errors import ConfigError
from shipyard.monitoring.prometheus import prometheus_rules
from shipyard.project import Project


def _run(project: Project, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-C", str(project.root), *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_monitor_alerts_list_and_ack_through_the_cli(
    monitored: Project, receiver: Receiver
) -> None:
    with traffic(monitored) as t:
        t.predict(loans(400, 30, shift=0.8))
    code, out = _run(monitored, "monitor", "risk")
    assert code == 0, out
    assert "DRIFTED" in out and "alert #1 drift FIRING" in out and "report:" in out
    code, out = _run(monitored, "monitor", "risk", "--json", "--no-notify", "--rows", "100")
    document = json.loads(out)
    assert document["report"]["rows"] == 100 and document["deliveries"] == []
    code, out = _run(monitored, "alerts", "list", "--json")
    [alert] = json.loads(out)
    assert alert["rule"] == "drift" and alert["state"] == "firing"
    code, out = _run(monitored, "alerts", "ack", str(alert["id"]), "--reason", "looking")
    assert code == 0 and "acknowledged" in out
    code, out = _run(monitored, "alerts", "list")
    assert "drift" in out and "firing" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["monitor", "nope"], "no model named 'nope'"),
        (["monitor", "risk", "--window", "soon"], "expected a duration"),
        (["monitor", "risk", "--rows", "0"], "0 is not in the range"),
        (["alerts", "ack", "42"], "no alert #42"),
        (["alerts", "list", "--model", "nope"], "no model named 'nope'"),
    ],
)
def test_bad_input_gets_a_message_and_a_non_zero_exit(
    monitored: Project, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(cli, ["-C", str(monitored.root), *args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_monitor_runs_as_a_real_process(monitored: Project) -> None:
    shipyard = Path(os.sys.executable).with_name("shipyard")
    proc = subprocess.run(
        [str(shipyard), "-C", str(monitored.root), "monitor", "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["report"]["rows"] == 0


BAD_RULES = [
    ("{when: drfit}", "'drfit' is not something an alert can watch (did you mean 'drift'?)"),
    ("{when: roc_auc}", "needs exactly one of 'above' or 'below'"),
    ("{when: latency_p99, above: 50, below: 10}", "needs exactly one of 'above' or 'below'"),
    ("{when: drift, below: 2}", "'below' has no meaning here"),
    (
        "{when: drift, features: [amunt]}",
        "'amunt' is not a feature of this model (did you mean 'amount'?)",
    ),
    ("{when: drift, route: pager}", "no route named 'pager'"),
    ("{when: drift, for: soon}", "expected a duration like"),
    ("{when: drift, severity: loud}", "severity"),
]


@pytest.mark.parametrize(("rule", "message"), BAD_RULES)
def test_a_bad_alert_rule_is_refused_with_its_path(rule: str, message: str) -> None:
    text = PROJECT % {"hook": "http://127.0.0.1:9"}
    text = text.replace(
        "      - {name: nulls, when: null_rate, above: 0.2, for: 10m}", f"      - {rule}"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ={})
    assert message in str(caught.value) and "models.risk.alerts" in str(caught.value)


def test_an_smtp_password_must_be_an_environment_reference() -> None:
    text = (PROJECT % {"hook": "http://127.0.0.1:9"}).replace(
        "  repeat: 1h\n",
        "  repeat: 1h\n  smtp: {host: mail, from: a@b.io, username: u, password: hunter2}\n",
    )
    with pytest.raises(ConfigError, match="reference to an environment variable"):
        parse_config(text, environ={})


def test_prometheus_rules_are_valid_and_promtool_accepts_them(tmp_path: Path) -> None:
    text = (PROJECT % {"hook": "http://127.0.0.1:9"}).replace(
        "      - {name: nulls, when: null_rate, above: 0.2, for: 10m}",
        "      - {name: nulls, when: null_rate, above: 0.2, for: 10m, features: [amount]}\n"
        "      - {name: slow, when: latency_p99, above: 50, window: 5m}\n"
        "      - {name: errors, when: error_rate, above: 0.01}\n"
        "      - {name: degraded, when: degraded_rate, above: 0.05}\n"
        "      - {name: budget, when: over_budget_rate, above: 0.1}\n"
        "      - {name: preds, when: prediction_drift, severity: info}",
    )
    rules = prometheus_rules(parse_config(text, environ={}))
    document = yaml.safe_load(rules)
    [group] = document["groups"]
    by_name = {rule["alert"]: rule for rule in group["rules"]}
    assert by_name["ShipyardRiskNulls"]["for"] == "10m"
    assert 'feature=~"amount"' in by_name["ShipyardRiskNulls"]["expr"]
    assert by_name["ShipyardRiskAuc"]["labels"] == {
        "severity": "critical", "model": "risk", "owner": "risk-team", "route": "oncall",
    }  # fmt: skip
    assert "histogram_quantile(0.99" in by_name["ShipyardRiskSlow"]["expr"]
    assert "[5m]" in by_name["ShipyardRiskSlow"]["expr"]
    path = tmp_path / "rules.yml"
    path.write_text(rules)
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have promtool (Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 8 rules found" in proc.stdout


def test_alerts_export_writes_a_file(monitored: Project, tmp_path: Path) -> None:
    target = tmp_path / "rules.yml"
    code, _ = _run(monitored, "alerts", "export", "-o", str(target))
    assert code == 0 and yaml.safe_load(target.read_text())["groups"][0]["name"] == "shipyard-risk"
