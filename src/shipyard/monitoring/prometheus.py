"""The project's alert rules as Prometheus alerting rules, for teams that page through
Alertmanager.

Service rules (latency, errors, refusals, degraded answers, shed requests) are
PromQL over what every ``shipyard serve`` worker exports at ``/metrics``. Rates of
requests are over prediction requests and, as in ``shipyard monitor``, leave out
401, 403 and 415 (refused before validation); a shed request (a 429, or a 503 while
draining, both counted in ``shipyard_shed_total``) is neither an error nor a refusal.
Drift, data quality, metrics from feedback and the share of requests over budget
are the gauges a server that monitors in the background (``server.monitor_every``)
exports from its latest run: ``shipyard_drift_detected``, ``shipyard_feature_quality``,
``shipyard_model_metric`` and ``shipyard_service_figure``.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from shipyard.config.schema import (
    DRIFT_FIGURES,
    QUALITY_FIGURES,
    AlertRule,
    ModelConfig,
    ProjectConfig,
)

from .report import MonitorReport

QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}
PREDICTION_ROUTES = ".*/predict|.*/infer|/invocations"
NOT_TRAFFIC = "401|403|415"  # refused before validation: any web page can send them


def prometheus_rules(config: ProjectConfig, models: list[str] | None = None) -> str:
    """A rules file (YAML) with one group per model; ``promtool check rules`` accepts it."""
    groups = []
    for name, model in config.models.items():
        if models and name not in models:
            continue
        rules = [_rule(name, model, rule) for rule in model.alerts]
        if rules:
            groups.append({"name": f"shipyard-{name}", "rules": rules})
    return yaml.safe_dump({"groups": groups}, sort_keys=False, width=120)


def _rule(name: str, model: ModelConfig, rule: AlertRule) -> dict[str, Any]:
    window = _duration(rule.window or model.monitoring.window)
    expr = _expr(name, model, rule, window)
    out: dict[str, Any] = {"alert": _alert_name(name, rule.key), "expr": expr}
    if rule.hold > 0:
        out["for"] = _duration(rule.hold)
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
    out["annotations"] = {
        "summary": f"{name}: {what} {bound}",
        "description": f"shipyard alert '{rule.key}' of model {name} (owner {model.owner.name}); "
        f"see `shipyard monitor {name}` and its report",
    }
    return out


def _expr(name: str, model: ModelConfig, rule: AlertRule, window: str) -> str:
    m = f'model="{name}"'
    pattern = "|".join(re.escape(f).replace("\\", "\\\\") for f in rule.features)
    features = "" if rule.features == "any" else f',feature=~"{pattern}"'
    if rule.when in DRIFT_FIGURES:
        kind = "feature" if rule.when == "drift" else "prediction"
        return (
            f'sum by (model) (shipyard_drift_detected{{{m},kind="{kind}"{features}}}) '
            f"> {rule.above or 0:g}"
        )
    op, bound = (">", rule.above) if rule.above is not None else ("<", rule.below)
    if rule.when in QUALITY_FIGURES:
        pick = "max" if op == ">" else "min"
        series = f'shipyard_feature_quality{{{m},figure="{rule.when}"{features}}}'
        return f"{pick} by (model) ({series}) {op} {bound:g}"
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
    if rule.when == "over_budget_rate":
        return f'shipyard_service_figure{{{m},figure="over_budget_rate"}} {op} {bound:g}'
    return f'shipyard_model_metric{{{m},metric="{rule.when}"}} {op} {bound:g}'


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


def gauges(report: MonitorReport) -> list[tuple[str, tuple[str, ...], float]]:
    """The latest run's figures as ``(metric, labels, value)`` for a server's ``/metrics``."""
    out: list[tuple[str, tuple[str, ...], float]] = []
    model = report.model
    for kind, verdicts in (("feature", report.drift), ("prediction", report.prediction_drift)):
        for f in verdicts:
            if f.drifted is None or f.value is None:
                continue
            out.append(("shipyard_drift_detected", (model, f.feature, kind), float(f.drifted)))
            out.append(("shipyard_drift_score", (model, f.feature, f.method), f.value))
    for q in report.quality:
        for figure in QUALITY_FIGURES:
            out.append(("shipyard_feature_quality", (model, q.feature, figure), q.figure(figure)))
    if report.performance.enough:
        for metric, value in report.performance.metrics.items():
            out.append(("shipyard_model_metric", (model, metric), value))
    out.append(
        ("shipyard_service_figure", (model, "over_budget_rate"), report.service.over_budget_rate)
    )
    out.append(
        ("shipyard_monitor_last_run_timestamp_seconds", (model,), report.created_at.timestamp())
    )
    return out


def _alert_name(model: str, key: str) -> str:
    words = f"shipyard {model} {key}".replace("-", " ").replace("_", " ").replace(".", " ")
    return "".join(w[:1].upper() + w[1:] for w in words.split())


def _duration(seconds: float) -> str:
    whole = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{max(whole, 1)}s"
