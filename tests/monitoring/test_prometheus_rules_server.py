"""The exported rules against what a real ``shipyard serve`` exports at ``/metrics``.

One server that monitors in the background gets drifted traffic, refused requests and
labels that make its ROC AUC poor. Its ``/metrics``, scraped once, is the input of
``promtool test rules``: every exported rule fires exactly when ``shipyard monitor``
finds its condition on the same rows, so the names and labels the rules read are the
ones the server writes. Then the same rows judged two hours later: the server's
figures over its one-hour monitoring window are gone (nothing to judge), those over
the day a rule asks for are not, and only that rule fires.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from monitor_support import Receiver, loans, make_project
from test_prometheus_rules import promtool_test

import shipyard
from shipyard.monitoring import exported_figures
from shipyard.monitoring.prometheus import prometheus_rules
from shipyard.monitoring.rules import evaluate
from shipyard.serving.app import ServingApp
from shipyard.serving.embedded import EmbeddedServer
from shipyard.serving.metrics import SPECS, Metrics

ALERTS = """\
    alerts:
      - {name: drift, when: drift}
      - {name: auc, when: roc_auc, below: 0.7, window: 1d, for: 10m}
      - {name: auc_hour, when: roc_auc, below: 0.7}
      - {name: nulls, when: null_rate, above: 0.2, window: 1d}
      - {name: refused, when: rejected_rate, above: 0.1, window: 5m}
      - {name: errors, when: error_rate, above: 0.01}
      - {name: degraded, when: degraded_rate, above: 0.05}
      - {name: slow, when: latency_p99, above: 5000}
      - {name: budget, when: over_budget_rate, above: 0.5, window: 1d}
"""
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?P<labels>\{.*\})? (?P<value>\S+)$")
AUC = 'shipyard_model_metric{model="risk",metric="roc_auc",window="%s"}'


def _series(scrape: str) -> list[dict[str, str]]:
    """Every sample of a scrape as a promtool input series over an hour: a gauge stays at
    its value, a counter or histogram grows to it evenly (so its rate's shares are the
    scrape's shares)."""
    out = []
    for line in scrape.splitlines():
        found = SAMPLE.match(line)
        if found is None:
            continue
        name, value = found["name"], float(found["value"])
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in SPECS else name
        gauge = SPECS[family].kind == "gauge"
        values = f"{value!r}x60" if gauge else f"0+{value / 60!r}x60"
        out.append({"series": name + (found["labels"] or ""), "values": values})
    return out


def _expect(rules: list[dict[str, Any]], firing: set[str], keys: list[str]) -> list[dict[str, Any]]:
    """At minute 60, each rule's alert fires (with its labels) when its key is in ``firing``."""
    out = []
    for key, rule in zip(keys, rules, strict=True):
        fired = {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}
        out.append(
            {
                "eval_time": "60m",
                "alertname": rule["alert"],
                "exp_alerts": [fired] * (key in firing),
            }
        )
    return out


@pytest.mark.slow
def test_exported_rules_read_what_the_server_exports(tmp_path: Path, receiver: Receiver) -> None:
    project = make_project(tmp_path / "proj", receiver.url)
    text = project.file.read_text()
    head, _, _ = text.partition("    alerts:\n")
    project.file.write_text(head.replace("server: {", "server: {monitor_every: 0.5, ", 1) + ALERTS)
    project.close()
    project = shipyard.open(tmp_path / "proj")
    try:
        drifted = loans(300, 41, shift=0.8)
        rows = drifted.select("amount", "age", "country").to_dicts()
        app = ServingApp(project, {"risk": "champion"}, environ={})
        with EmbeddedServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as c:
            for _ in range(3):  # refused: 3 of 4 prediction requests
                bad = c.post("/v1/models/risk/predict", json=[{**rows[0], "age": "old"}])
                assert bad.status_code == 422, bad.text
            answer = c.post("/v1/models/risk/predict", json=rows)
            assert answer.status_code == 200, answer.text
            wrong = [not v for v in drifted["defaulted"].to_list()]  # a poor ROC AUC
            feedback = [
                {"prediction_id": i, "label": label}
                for i, label in zip(answer.json()["prediction_ids"], wrong, strict=True)
            ]
            assert c.post("/v1/models/risk/feedback", json=feedback).status_code == 202
            deadline, scrape = time.monotonic() + 90, ""
            while time.monotonic() < deadline:  # a background run after the labels came
                scrape = c.get("/metrics").text
                if all(AUC % w in scrape for w in ("1h", "1d")):
                    break
                time.sleep(0.2)
        assert all(AUC % w in scrape for w in ("1h", "1d")), scrape
        assert 'window="1d"' in scrape and 'window="5m"' not in scrape  # a counted rule's

        config = project.config.models["risk"]
        keys = [rule.key for rule in config.alerts]
        rules_text = prometheus_rules(project.config)
        rules = yaml.safe_load(rules_text)["groups"][0]["rules"]
        run = project.monitor("risk", notify=False)  # the same rows, judged in-process
        firing = {c.rule.key for c in (evaluate(r, run.report) for r in config.alerts) if c.active}
        assert {"drift", "auc", "auc_hour", "refused"} <= firing
        assert not firing & {"nulls", "errors", "degraded", "slow", "budget"}
        live = {"interval": "1m", "input_series": _series(scrape)}
        live["alert_rule_test"] = _expect(rules, firing, keys)
        promtool_test(tmp_path, rules_text, [live])

        # two hours on: nothing in the monitoring window, everything in the day
        later = project.monitor("risk", now=datetime.now(UTC) + timedelta(hours=2), notify=False)
        figures = exported_figures(project.monitoring, config, later)
        assert set(figures) == {"1h", "1d"}
        assert [name for name, _, _ in figures["1h"]] == [
            "shipyard_monitor_last_run_timestamp_seconds"
        ]
        day = {(name, labels[1]): value for name, labels, value in figures["1d"]}
        assert day[("shipyard_model_metric", "roc_auc")] < 0.7
        assert day[("shipyard_drift_detected", "amount")] == 1.0
        metrics = Metrics()
        for name, labels, value in _all(project, config, run):  # what the server had
            metrics.set(name, labels, value)
        for window, series in figures.items():  # as the server's monitoring loop does
            metrics.replace("risk", window, series)
        hours_on = {"interval": "1m", "input_series": _series(metrics.render())}
        hours_on["alert_rule_test"] = _expect(rules, {"auc"}, keys)
        promtool_test(tmp_path, rules_text, [hours_on])
    finally:
        project.close()


def _all(project: Any, config: Any, run: Any) -> list[tuple[str, tuple[str, ...], float]]:
    """The figures of ``run`` over every window."""
    return [
        s for series in exported_figures(project.monitoring, config, run).values() for s in series
    ]
