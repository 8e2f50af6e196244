"""The exported Prometheus rules, run by ``promtool test rules``: one case per kind of rule.

For every kind of rule the project file allows, the test writes input series with
the metric names and labels the server exports (``serving.metrics.SPECS``; the slow
test beside this file takes them from a real ``/metrics``) that cross the rule's
threshold from minute 60 on, and checks with ``alert_rule_test`` that the alert is
quiet before, still pending just before its ``for`` ends and firing with its labels
just after; and that its ``window`` is the one read: a counted breach older than the
window no longer fires while one inside it still does, and a figure the server
computes in-process is read over the rule's window only (``window`` label).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from monitor_support import PROJECT

from shipyard.cli import cli
from shipyard.config import parse_config
from shipyard.errors import ConfigError
from shipyard.monitoring.prometheus import duration, prometheus_rules, windows
from shipyard.serving.metrics import LATENCY_BUCKETS, SPECS, Metrics

MONITORING = "1h"  # the model's monitoring.window in PROJECT
WINDOW = "30m"  # each rule's own window: another one, so reading the wrong one shows
FOR = 5  # minutes
START = 60  # the minute the trouble starts
END = 70  # the minute it ends, in the cases where it is over
LENGTH = 180  # minutes of series
ALERT = "ShipyardRiskWatched"
PREDICT = "/v1/models/{name}/predict"
RULES_AT = "      - {name: drift, when: drift}\n"


@dataclass(frozen=True)
class Figure:
    """One input series: per minute ``healthy`` and ``trouble`` (counters: increments)."""

    metric: str
    labels: dict[str, str]
    healthy: float
    trouble: float


@dataclass(frozen=True)
class Kind:
    rule: str  # the rule's own keys (when, above/below, causes, features)
    figures: tuple[Figure, ...]

    @property
    def counted(self) -> bool:
        """Counters and histograms (read with rate over the window), not in-process gauges."""
        return SPECS[_family(self.figures[0].metric)].kind != "gauge"


def _requests(status: str, healthy: float, trouble: float) -> Figure:
    labels = {"model": "risk", "route": PREDICT, "status": status}
    return Figure("shipyard_requests_total", labels, healthy, trouble)


def _latency(healthy: tuple[float, float], trouble: tuple[float, float]) -> tuple[Figure, ...]:
    """The duration histogram: (fast, slow) requests a minute, fast under 5 ms, slow 0.25-0.5 s."""
    out = []
    for le in [*LATENCY_BUCKETS, "+Inf"]:
        bound = float("inf") if le == "+Inf" else float(le)
        fast, slow = (bound >= 0.005), (bound >= 0.5)
        labels = {"model": "risk", "version": "1", "path": "model", "le": str(le)}
        out.append(
            Figure(
                "shipyard_request_duration_seconds_bucket",
                labels,
                fast * healthy[0] + slow * healthy[1],
                fast * trouble[0] + slow * trouble[1],
            )
        )
    return tuple(out)


def _gauge(metric: str, labels: dict[str, str], healthy: float, trouble: float) -> Figure:
    return Figure(metric, {"model": "risk", **labels}, healthy, trouble)


ANSWERED = _requests("200", 100, 100)
DEGRADED = (  # in trouble most rows come from the fallback: over the threshold in a minute
    Figure(
        "shipyard_predictions_total", {"model": "risk", "version": "1", "path": "model"}, 100, 50
    ),
    Figure(
        "shipyard_predictions_total", {"model": "risk", "version": "1", "path": "default"}, 0, 5000
    ),
    Figure(
        "shipyard_degraded_total", {"model": "risk", "path": "default", "reason": "error"}, 0, 5000
    ),
)
SLOW = _latency((100, 0), (100, 10_000))
QUALITY = {"feature": "amount"}


def _quality(figure: str) -> Kind:
    return Kind(
        f"when: {figure}, above: 0.2",
        (
            _gauge("shipyard_feature_quality", {**QUALITY, "figure": figure}, 0.0, 0.5),
            _gauge("shipyard_feature_quality", {"feature": "age", "figure": figure}, 0.0, 0.0),
        ),
    )


KINDS: dict[str, Kind] = {
    "error_rate": Kind("when: error_rate, above: 0.01", (ANSWERED, _requests("500", 0, 100))),
    "rejected_rate": Kind("when: rejected_rate, above: 0.01", (ANSWERED, _requests("422", 0, 100))),
    "shed_rate": Kind(
        "when: shed_rate, above: 0.01",
        (
            ANSWERED,
            _requests("429", 0, 100),
            Figure("shipyard_shed_total", {"model": "risk", "reason": "over_capacity"}, 0, 100),
        ),
    ),
    "degraded_rate": Kind("when: degraded_rate, above: 0.05", DEGRADED),
    "degraded_rate_causes": Kind("when: degraded_rate, causes: [error], above: 0.05", DEGRADED),
    "latency_p50": Kind("when: latency_p50, above: 50", SLOW),
    "latency_p95": Kind("when: latency_p95, above: 50", SLOW),
    "latency_p99": Kind("when: latency_p99, above: 50", SLOW),
    "over_budget_rate": Kind(
        "when: over_budget_rate, above: 0.1",
        (_gauge("shipyard_service_figure", {"figure": "over_budget_rate"}, 0.0, 0.5),),
    ),
    "drift": Kind(
        "when: drift",
        (
            _gauge("shipyard_drift_detected", {"feature": "amount", "kind": "feature"}, 0, 1),
            _gauge("shipyard_drift_detected", {"feature": "age", "kind": "feature"}, 0, 0),
        ),
    ),
    "drift_of_features": Kind(
        "when: drift, features: [amount]",
        (
            _gauge("shipyard_drift_detected", {"feature": "amount", "kind": "feature"}, 0, 1),
            _gauge("shipyard_drift_detected", {"feature": "age", "kind": "feature"}, 1, 1),
        ),
    ),
    "prediction_drift": Kind(
        "when: prediction_drift",
        (_gauge("shipyard_drift_detected", {"feature": "prediction", "kind": "prediction"}, 0, 1),),
    ),
    "null_rate": _quality("null_rate"),
    "out_of_range": _quality("out_of_range"),
    "unseen_categories": _quality("unseen_categories"),
    "roc_auc": Kind(
        "when: roc_auc, below: 0.7",
        (_gauge("shipyard_model_metric", {"metric": "roc_auc"}, 0.9, 0.5),),
    ),
    "log_loss": Kind(
        "when: log_loss, above: 0.6",
        (_gauge("shipyard_model_metric", {"metric": "log_loss"}, 0.3, 0.9),),
    ),
}


def _family(metric: str) -> str:
    return metric.removesuffix("_bucket")


def _config_text(rule: str, *, window: str = WINDOW, hold: str = f"{FOR}m") -> str:
    """PROJECT with the one rule ``watched`` in place of its alerts."""
    text = PROJECT % {"hook": "http://127.0.0.1:9"}
    head, _, _ = text.partition(RULES_AT)
    return f"{head}      - {{name: watched, {rule}, window: {window}, for: {hold}}}\n"


def _series(figure: Figure, minutes: range, *, counted: bool, window: str | None) -> dict[str, str]:
    """A promtool input series: the figure in trouble during ``minutes``, healthy otherwise."""
    labels = dict(figure.labels)
    if window is not None:
        labels["window"] = window
    expected = set(SPECS[_family(figure.metric)].labels) | ({"le"} if "le" in labels else set())
    assert set(labels) == expected, f"{figure.metric}: the server labels it {sorted(expected)}"
    values, total = [], 0.0
    for minute in range(LENGTH + 1):
        now = figure.trouble if minute in minutes else figure.healthy
        if counted:  # a counter: 0 at the start, then this minute's increment added
            total += now if minute else 0.0
        values.append(f"{total if counted else now:g}")
    selector = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{figure.metric}{{{selector}}}", "values": " ".join(values)}


def _inputs(kind: Kind, minutes: range, *, other: range = range(0)) -> list[dict[str, str]]:
    """Every figure of ``kind``; a gauge twice: over the rule's window (in trouble during
    ``minutes``) and over the monitoring window (in trouble during ``other``)."""
    if kind.counted:
        return [_series(f, minutes, counted=True, window=None) for f in kind.figures]
    return [
        _series(f, span, counted=False, window=w)
        for f in kind.figures
        for w, span in ((WINDOW, minutes), (MONITORING, other))
    ]


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have promtool (Debian's prometheus package)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def promtool_test(folder: Path, rules: str, tests: list[dict[str, Any]]) -> None:
    """Run ``promtool check rules`` and ``promtool test rules`` on ``rules``; fail with its words."""
    promtool = _promtool()
    (folder / "rules.yml").write_text(rules)
    document = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    (folder / "tests.yml").write_text(yaml.safe_dump(document, sort_keys=False, width=1 << 20))
    for command in (["check", "rules", "rules.yml"], ["test", "rules", "tests.yml"]):
        proc = subprocess.run([promtool, *command], cwd=folder, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _at(minute: int, rule: dict[str, Any] | None) -> dict[str, Any]:
    """An ``alert_rule_test``: at ``minute`` the alert fires with the rule's labels, or not."""
    fired = [{"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}] if rule else []
    return {"eval_time": f"{minute}m", "alertname": ALERT, "exp_alerts": fired}


@pytest.mark.parametrize("name", list(KINDS))
def test_each_kind_of_rule_fires_after_its_for_and_over_its_window(
    name: str, tmp_path: Path
) -> None:
    kind = KINDS[name]
    rules = prometheus_rules(parse_config(_config_text(kind.rule), environ={}))
    [rule] = yaml.safe_load(rules)["groups"][0]["rules"]
    assert rule["for"] == f"{FOR}m" and f"over {WINDOW}" in rule["annotations"]["summary"]
    ongoing = range(START, LENGTH + 1)
    fires = {  # quiet before; pending until its `for` is over; then firing, with its labels
        "interval": "1m",
        "input_series": _inputs(kind, ongoing),
        "alert_rule_test": [
            _at(START - 1, None),
            _at(START + FOR - 1, None),
            _at(START + FOR, rule),
            _at(LENGTH, rule),
        ],
    }
    if kind.counted:  # a breach inside the window fires; once older than the window, not
        last = 30  # minutes in WINDOW
        window = {
            "interval": "1m",
            "input_series": _inputs(kind, range(START, END)),
            "alert_rule_test": [_at(END + last - 5, rule), _at(END + last + 1, None)],
        }
    else:  # the server's figure over another window (the monitoring one) is not read
        window = {
            "interval": "1m",
            "input_series": _inputs(kind, range(0), other=ongoing),
            "alert_rule_test": [_at(START + FOR + 10, None), _at(LENGTH, None)],
        }
    promtool_test(tmp_path, rules, [fires, window])


def test_a_figure_with_nothing_to_judge_resolves_its_alert(tmp_path: Path) -> None:
    """The server drops a window's series when the run could not judge it (too few labels):
    a stale series fires nothing, so the alert resolves, as in ``shipyard monitor``."""
    kind = KINDS["roc_auc"]
    rules = prometheus_rules(parse_config(_config_text(kind.rule), environ={}))
    [rule] = yaml.safe_load(rules)["groups"][0]["rules"]
    [series, _] = _inputs(kind, range(START, LENGTH + 1))
    values = series["values"].split()
    series["values"] = " ".join([*values[:END], "stale"])
    test = {
        "interval": "1m",
        "input_series": [series],
        "alert_rule_test": [_at(END - 1, rule), _at(END + 1, None)],
    }
    promtool_test(tmp_path, rules, [test])


def test_replicas_are_not_added_up(tmp_path: Path) -> None:
    """Every replica that monitors exports the same figures: one feature drifted on two
    replicas is one drifted feature, and `above: 1` waits for a second one."""
    rules = prometheus_rules(parse_config(_config_text("when: drift, above: 1"), environ={}))
    [rule] = yaml.safe_load(rules)["groups"][0]["rules"]

    def drifted(feature: str, instance: str, minutes: range) -> dict[str, str]:
        figure = _gauge("shipyard_drift_detected", {"feature": feature, "kind": "feature"}, 0, 1)
        series = _series(figure, minutes, counted=False, window=WINDOW)
        series["series"] = series["series"].replace("}", f',instance="{instance}"}}', 1)
        return series

    test = {
        "interval": "1m",
        "input_series": [
            drifted("amount", "a:8000", range(0, LENGTH + 1)),
            drifted("amount", "b:8000", range(0, LENGTH + 1)),
            drifted("age", "b:8000", range(START, LENGTH + 1)),
        ],
        "alert_rule_test": [_at(START - 1, None), _at(START + FOR, rule)],
    }
    promtool_test(tmp_path, rules, [test])


# -- windows and durations --------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "exported"),
    [("30s", "30s"), ("90m", "90m"), ("36h", "36h"), ("1d", "1d"), ("14d", "2w"), (1.5, "1500ms")],
)
def test_windows_are_written_exactly(written: Any, exported: str) -> None:
    text = _config_text("when: error_rate, above: 0.01", window=str(written))
    [rule] = yaml.safe_load(prometheus_rules(parse_config(text, environ={})))["groups"][0]["rules"]
    assert f"[{exported}]" in rule["expr"]


def test_the_server_computes_every_window_a_rule_on_its_figures_names() -> None:
    text = _config_text("when: roc_auc, below: 0.7", window="1d").replace(
        "      - {name: watched",
        "      - {name: late, when: error_rate, above: 0.1, window: 2d}\n"
        "      - {name: same, when: drift, window: 60m}\n"
        "      - {name: watched",
    )
    model = parse_config(text, environ={}).models["risk"]
    assert [duration(w) for w in windows(model)] == ["1h", "1d"]  # not the counted rule's


@pytest.mark.parametrize(
    ("rule", "window", "hold", "said"),
    [
        ("when: roc_auc, below: 0.7", "0", "5m", "models.risk.alerts[0].window: expected a window above 0"),
        ("when: error_rate, above: 0.1", "1.5ms", "5m", "models.risk.alerts[0].window: expected a whole number of milliseconds"),
        ("when: drift", "1h", "0.0001", "models.risk.alerts[0].for: expected a whole number of milliseconds"),
    ],
)  # fmt: skip
def test_a_window_prometheus_cannot_write_is_refused(
    rule: str, window: str, hold: str, said: str, tmp_path: Path
) -> None:
    (tmp_path / "shipyard.yaml").write_text(_config_text(rule, window=window, hold=hold))
    with pytest.raises(ConfigError, match=r"^" + said.replace("[", r"\[").replace("]", r"\]")):
        prometheus_rules(parse_config(_config_text(rule, window=window, hold=hold), environ={}))
    target = tmp_path / "rules.yml"
    result = CliRunner().invoke(
        cli, ["-C", str(tmp_path), "alerts", "export", "-o", str(target)], catch_exceptions=False
    )
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {said}"), result.output
    assert "Traceback" not in result.output and not target.exists()


def test_a_window_that_is_not_a_duration_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text(
        _config_text("when: roc_auc, below: 0.7", window="1 day")
    )
    result = CliRunner().invoke(cli, ["-C", str(tmp_path), "alerts", "export"])
    assert result.exit_code == 2
    [problem] = [line for line in result.output.splitlines() if "alerts[0].window" in line]
    assert problem.endswith(
        "models.risk.alerts[0].window: expected a duration like '30s', '15m', '1h', '1d' or "
        "'1w', got '1 day'"
    )  # said once, on one line


def test_export_warns_when_no_server_exports_what_a_rule_reads(tmp_path: Path) -> None:
    text = _config_text("when: roc_auc, below: 0.7")
    (tmp_path / "shipyard.yaml").write_text(text)
    result = CliRunner().invoke(cli, ["-C", str(tmp_path), "alerts", "export"])
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "warning: risk/watched read figures only a server" in said
    assert "set server.monitor_every" in said
    (tmp_path / "shipyard.yaml").write_text(
        text.replace("server: {", "server: {monitor_every: 5m, ", 1)
    )
    result = CliRunner().invoke(cli, ["-C", str(tmp_path), "alerts", "export"])
    assert result.exit_code == 0 and "warning:" not in result.output


# -- what the server exports --------------------------------------------------------------


def test_a_run_replaces_its_windows_figures_and_leaves_the_others() -> None:
    metrics = Metrics()
    auc = ("shipyard_model_metric", ("risk", "roc_auc", "1h"), 0.6)
    auc_day = ("shipyard_model_metric", ("risk", "roc_auc", "1d"), 0.8)
    other = ("shipyard_model_metric", ("fraud", "roc_auc", "1h"), 0.9)
    for name, labels, value in (auc, auc_day, other):
        metrics.set(name, labels, value)
    metrics.replace("risk", "1h", [("shipyard_monitor_last_run_timestamp_seconds", ("risk",), 5)])
    text = metrics.render()
    assert 'shipyard_model_metric{model="risk",metric="roc_auc",window="1h"}' not in text
    assert 'shipyard_model_metric{model="risk",metric="roc_auc",window="1d"} 0.8' in text
    assert 'shipyard_model_metric{model="fraud",metric="roc_auc",window="1h"} 0.9' in text
    assert 'shipyard_monitor_last_run_timestamp_seconds{model="risk"} 5' in text
