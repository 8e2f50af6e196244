"""The project's alert rules as Prometheus alerting rules, for teams that page through
Alertmanager, and the figures a monitoring server exports for them.

Each rule is honoured over its own ``window`` (default ``monitoring.window``) and
holds for its ``for``; how depends on where the figure comes from:

- **Counted by every worker** (``error_rate``, ``rejected_rate``, ``shed_rate``,
  ``degraded_rate``): shares of ``rate(...[window])`` of the counters every
  ``shipyard serve`` worker exports at ``/metrics``. Rates of requests are over
  prediction requests and, as in ``shipyard monitor``, leave out 401, 403 and 415
  (refused before validation); a shed request (a 429, or a 503 while draining, both
  counted in ``shipyard_shed_total``) is neither an error nor a refusal.
- **Latency quantiles**: ``histogram_quantile`` over ``rate(...[window])`` of the
  request duration histogram (interpolated within its buckets).
- **Computed in-process** (drift, data quality, metrics from feedback, the share of
  requests over budget): a server that monitors in the background
  (``server.monitor_every``) computes them over the model's monitoring window and
  over every other window a rule on them names, and exports each as a gauge with a
  ``window`` label (``shipyard_drift_detected``, ``shipyard_feature_quality``,
  ``shipyard_model_metric``, ``shipyard_service_figure``); a rule reads only its
  window's series. A window with nothing to judge (no rows, too few labels) has no
  series, so its alert resolves, as in ``shipyard monitor``.

A window or ``for`` Prometheus cannot write (not above 0, not a whole number of
milliseconds) is refused with a :class:`ConfigError`, not rounded.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import yaml

from shipyard.config.schema import (
    DRIFT_FIGURES,
    QUALITY_FIGURES,
    AlertRule,
    ModelConfig,
    ProjectConfig,
)
from shipyard.errors import ConfigError, first_line

from .cbpe import PREFIX
from .report import MonitorReport
from .window import Window

if TYPE_CHECKING:
    from .api import Monitoring
    from .records import MonitorRun

logger = logging.getLogger(__name__)

QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}
COUNTED = ("error_rate", "rejected_rate", "shed_rate", "degraded_rate")
PREDICTION_ROUTES = ".*/predict|.*/infer|/invocations"
NOT_TRAFFIC = "401|403|415"  # refused before validation: any web page can send them

Series = tuple[str, tuple[str, ...], float]
"""One gauge for ``/metrics``: ``(metric, label values, value)``."""


def prometheus_rules(config: ProjectConfig, models: list[str] | None = None) -> str:
    """A rules file (YAML) with one group per model; ``promtool check rules`` accepts it.

    Raises :class:`ConfigError` naming the key when a rule's window or ``for`` is not
    a duration Prometheus can write.
    """
    groups = []
    for name, model in config.models.items():
        if models and name not in models:
            continue
        rules = [_rule(name, model, index, rule) for index, rule in enumerate(model.alerts)]
        if rules:
            groups.append({"name": f"shipyard-{name}", "rules": rules})
    return yaml.safe_dump({"groups": groups}, sort_keys=False, width=120)


def in_process(rule: AlertRule) -> bool:
    """Whether the rule reads a figure only background monitoring computes (not a counter)."""
    return rule.when not in QUANTILES and rule.when not in COUNTED


def unexported(config: ProjectConfig, models: list[str] | None = None) -> list[str]:
    """``model/rule`` of each exported rule that reads gauges no server of this project
    exports, because none monitors in the background (``server.monitor_every`` is off)."""
    if config.server.monitor_every:
        return []
    return [
        f"{name}/{rule.key}"
        for name, model in config.models.items()
        if not models or name in models
        for rule in model.alerts
        if in_process(rule)
    ]


def windows(model: ModelConfig) -> list[float]:
    """The windows a monitoring server computes the model's figures over, in seconds:
    ``monitoring.window`` first, then each other window a rule on those figures names."""
    found = [model.monitoring.window]
    for rule in model.alerts:
        if in_process(rule) and rule.window is not None and rule.window not in found:
            found.append(rule.window)
    return found


def duration(seconds: float) -> str:
    """``seconds`` as Prometheus writes a duration (``90m``, ``1d``, ``1500ms``), exactly.

    Raises ``ValueError`` for a duration Prometheus cannot write: one not a whole
    number of milliseconds (a time series has millisecond timestamps).
    """
    ms = round(seconds * 1000)
    if seconds < 0 or abs(ms - seconds * 1000) > 1e-6 * max(1.0, seconds * 1000):
        raise ValueError(
            f"expected a whole number of milliseconds (Prometheus durations are), got {seconds:g} s"
        )
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def _rule(name: str, model: ModelConfig, index: int, rule: AlertRule) -> dict[str, Any]:
    at = f"models.{name}.alerts[{index}]"
    if rule.window is not None:
        window = _range(rule.window, f"{at}.window")
    else:
        window = _range(model.monitoring.window, f"models.{name}.monitoring.window (rule {at})")
    out: dict[str, Any] = {
        "alert": _alert_name(name, rule.key),
        "expr": _expr(name, rule, window),
    }
    if rule.hold > 0:
        try:
            out["for"] = duration(rule.hold)
        except ValueError as exc:
            raise ConfigError(f"{at}.for: {exc}; write e.g. '30s' or '15m'") from None
    out["labels"] = {
        "severity": rule.severity,
        "model": name,
        "owner": model.owner.name,
        "route": rule.route or "owner",
    }
    what = rule.when if rule.causes is None else f"{rule.when} ({', '.join(rule.causes)})"
    if rule.when in DRIFT_FIGURES:
        bound = f"more than {rule.above or 0:g} drifted"
    else:
        bound = f"above {rule.above:g}" if rule.above is not None else f"below {rule.below:g}"
    source = "as the server monitors it" if in_process(rule) else "at /metrics"
    out["annotations"] = {
        "summary": f"{name}: {what} {bound} over {window}",
        "description": f"shipyard alert '{rule.key}' of model {name} (owner {model.owner.name}), "
        f"over the last {window} {source}; see `shipyard monitor {name} --window {window}` "
        "and its report",
    }
    return out


def _range(seconds: float, key: str) -> str:
    """A rule's window as a Prometheus range, or a one-line ``ConfigError`` naming ``key``."""
    if seconds <= 0:
        raise ConfigError(
            f"{key}: expected a window above 0 (a range of time to judge), got {seconds:g}; "
            "write e.g. '5m' or '1h'"
        )
    try:
        return duration(seconds)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}; write e.g. '5m' or '1h'") from None


def _expr(name: str, rule: AlertRule, window: str) -> str:
    m = f'model="{name}"'
    pattern = "|".join(re.escape(f).replace("\\", "\\\\") for f in rule.features)
    features = "" if rule.features == "any" else f',feature=~"{pattern}"'
    op, bound = (">", rule.above) if rule.above is not None else ("<", rule.below)
    if rule.when in QUANTILES:
        rate = f"rate(shipyard_request_duration_seconds_bucket{{{m}}}[{window}])"
        return (
            f"histogram_quantile({QUANTILES[rule.when]}, sum by (le) ({rate})) * 1000 "
            f"{op} {bound:g}"
        )
    if rule.when in ("error_rate", "rejected_rate", "shed_rate"):
        whole = _requests(m, "", window)
        return f"({_requests_part(m, rule.when, window)} / {whole}) {op} {bound:g}"
    if rule.when == "degraded_rate":
        whole = f"sum(rate(shipyard_predictions_total{{{m}}}[{window}]))"
        if rule.causes is None:
            part = f'sum(rate(shipyard_predictions_total{{{m},path!="model"}}[{window}]))'
        else:
            causes = "|".join(rule.causes)  # names from a fixed set: nothing to escape
            part = _zero(f'sum(rate(shipyard_degraded_total{{{m},reason=~"{causes}"}}[{window}]))')
        return f"({part} / {whole}) {op} {bound:g}"
    # computed in-process: the gauge of this rule's window. Each replica that monitors
    # exports its own copy of it (one `instance` each), so replicas are not added up.
    w = f'window="{window}"'
    if rule.when in DRIFT_FIGURES:
        kind = "feature" if rule.when == "drift" else "prediction"
        detected = f'shipyard_drift_detected{{{m},kind="{kind}"{features},{w}}}'
        return f"sum by (model) (max by (model, feature) ({detected})) > {rule.above or 0:g}"
    if rule.when in QUALITY_FIGURES:  # the worst feature, as `shipyard monitor` judges it
        series = f'shipyard_feature_quality{{{m},figure="{rule.when}"{features},{w}}}'
        return f"max by (model) ({series}) {op} {bound:g}"
    pick = "max" if op == ">" else "min"
    if rule.when == "over_budget_rate":
        series = f'shipyard_service_figure{{{m},figure="over_budget_rate",{w}}}'
    else:
        series = f'shipyard_model_metric{{{m},metric="{rule.when}",{w}}}'
    return f"{pick} by (model) ({series}) {op} {bound:g}"


def _requests(m: str, status: str, window: str) -> str:
    """Prediction requests per second, all workers (``status``: more label matchers)."""
    selector = f'{m},route=~"{PREDICTION_ROUTES}",status!~"{NOT_TRAFFIC}"{status}'
    return f"sum(rate(shipyard_requests_total{{{selector}}}[{window}]))"


def _requests_part(m: str, figure: str, window: str) -> str:
    """Shed, refused or failed prediction requests per second, shed ones only in the first.

    Every 429 is a shed request; a shed 503 (while draining) is told from a failing one
    by what is left of ``shipyard_shed_total`` after the 429s.
    """
    shed = _zero(f"sum(rate(shipyard_shed_total{{{m}}}[{window}]))")
    if figure == "shed_rate":
        return shed
    if figure == "rejected_rate":
        return _requests(m, ',status=~"4..",status!="429"', window)
    too_busy = _zero(_requests(m, ',status="429"', window))
    failed = _requests(m, ',status=~"5.."', window)
    return f"clamp_min({failed} - ({shed} - {too_busy}), 0)"


def _zero(expr: str) -> str:
    """``expr``, or 0 while no worker has counted any (a counter appears on its first event)."""
    return f"({expr} or vector(0))"


# -- the figures a monitoring server exports ------------------------------------------


def gauges(report: MonitorReport, window: str) -> list[Series]:
    """One run's figures over ``window`` (its label) for ``/metrics``: only those it could
    judge, as :mod:`.rules` does (a drift verdict, quality over some rows, metrics on
    enough labels, the share over budget of some requests)."""
    out: list[Series] = []
    model = report.model
    for kind, verdicts in (("feature", report.drift), ("prediction", report.prediction_drift)):
        for f in verdicts:
            if f.drifted is None or f.value is None:
                continue
            out.append(
                ("shipyard_drift_detected", (model, f.feature, kind, window), float(f.drifted))
            )
            out.append(("shipyard_drift_score", (model, f.feature, f.method, window), f.value))
    if report.rows:
        for q in report.quality:
            for figure in QUALITY_FIGURES:
                out.append(
                    (
                        "shipyard_feature_quality",
                        (model, q.feature, figure, window),
                        q.figure(figure),
                    )
                )
    if report.performance.enough:
        for metric, value in report.performance.metrics.items():
            out.append(("shipyard_model_metric", (model, metric, window), value))
    if report.estimated is not None and report.estimated.enough:  # metric="estimated_roc_auc"
        for e in report.estimated.estimates:
            out.append(("shipyard_model_metric", (model, f"{PREFIX}{e.metric}", window), e.value))
    if report.service.requests:
        share = report.service.over_budget_rate
        out.append(("shipyard_service_figure", (model, "over_budget_rate", window), share))
    return out


def exported_figures(
    monitoring: Monitoring, config: ModelConfig, run: MonitorRun
) -> dict[str, list[Series]]:
    """The gauges of a background monitoring ``run`` (over ``monitoring.window``) and of
    every other window the model's rules name, by window label. A window that could not
    be read is left out, with a warning (its earlier figures stay, as a failed run
    changes no alert). Reads the prediction log: call it off the event loop."""
    model = run.report.model
    end = datetime.fromisoformat(run.report.window["end"])
    stamp: Series = (
        "shipyard_monitor_last_run_timestamp_seconds",
        (model,),
        run.report.created_at.timestamp(),
    )
    out: dict[str, list[Series]] = {}
    for index, seconds in enumerate(windows(config)):
        try:
            label = duration(seconds)
            if index == 0:  # the run itself is over the monitoring window
                out[label] = [*gauges(run.report, label), stamp]
                continue
            report = run.windows.get(float(seconds))  # read by the run to judge its rules
            if report is None:
                span = Window(end - timedelta(seconds=seconds), end)
                report = monitoring.report(model, config, span, config.monitoring.reference)
            out[label] = gauges(report, label)
        except Exception as exc:  # one window must not cost the others
            logger.warning(
                "monitoring %s over %gs for /metrics failed: %s", model, seconds, first_line(exc)
            )
    return out


def _alert_name(model: str, key: str) -> str:
    words = f"shipyard {model} {key}".replace("-", " ").replace("_", " ").replace(".", " ")
    return "".join(w[:1].upper() + w[1:] for w in words.split())
