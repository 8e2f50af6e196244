"""Alert rules read against one monitoring report: is the condition true, and what to say.

A rule with nothing to judge (no rows in the window, too few labels for a metric)
gives no condition at all, so a quiet hour neither fires nor resolves an alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.config.schema import DRIFT_FIGURES, QUALITY_FIGURES, SERVICE_FIGURES, AlertRule

from .cbpe import PREFIX
from .drift import FeatureDrift
from .report import MonitorReport


@dataclass(frozen=True)
class Condition:
    """A rule's reading: ``active`` is ``None`` when the window held nothing to judge."""

    rule: AlertRule
    active: bool | None
    value: float | None
    threshold: float | None
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


def evaluate(rule: AlertRule, report: MonitorReport) -> Condition:
    if rule.when in DRIFT_FIGURES:
        return _drift(rule, report)
    if rule.when in QUALITY_FIGURES:
        return _quality(rule, report)
    if rule.when in SERVICE_FIGURES:
        return _service(rule, report)
    if rule.when.startswith(PREFIX):
        return _estimated(rule, report)
    return _metric(rule, report)


def _crossed(rule: AlertRule, value: float) -> tuple[bool, float, str]:
    if rule.above is not None:
        return value > rule.above, rule.above, ">"
    assert rule.below is not None  # the project file check makes sure one is set
    return value < rule.below, rule.below, "<"


def _wanted(rule: AlertRule, names: list[str]) -> list[str]:
    return names if rule.features == "any" else [n for n in names if n in rule.features]


def _drift(rule: AlertRule, report: MonitorReport) -> Condition:
    verdicts = report.drift if rule.when == "drift" else report.prediction_drift
    names = _wanted(rule, [f.feature for f in verdicts])
    judged = [f for f in verdicts if f.feature in names and f.drifted is not None]
    if not judged:
        return Condition(rule, None, None, None, f"no {rule.when} verdict: too few rows")
    flagged = [f for f in judged if f.drifted]
    allowed = rule.above or 0.0
    what = "features" if rule.when == "drift" else "prediction columns"
    if flagged:
        listed = ", ".join(_verdict(f) for f in flagged)
        message = f"{report.model}: {len(flagged)} of {len(judged)} {what} drifted: {listed}"
    else:
        message = f"{report.model}: none of {len(judged)} {what} drifted"
    return Condition(
        rule,
        len(flagged) > allowed,
        float(len(flagged)),
        allowed,
        message,
        {"features": [f.feature for f in flagged]},
    )


def _verdict(f: FeatureDrift) -> str:
    sign = "<" if f.p_value is not None else ">"
    name = f"{f.method} p" if f.p_value is not None else f.method
    return f"{f.feature} ({name} {f.decisive:.3g} {sign} {f.threshold:g})"


def _quality(rule: AlertRule, report: MonitorReport) -> Condition:
    rows = [
        q for q in report.quality if q.feature in _wanted(rule, [q.feature for q in report.quality])
    ]
    if not rows or report.rows == 0:
        return Condition(rule, None, None, None, f"no {rule.when} reading: no rows in the window")
    worst = max(rows, key=lambda q: q.figure(rule.when))
    value = worst.figure(rule.when)
    active, threshold, sign = _crossed(rule, value)
    bad = [q.feature for q in rows if _crossed(rule, q.figure(rule.when))[0]]
    return Condition(
        rule,
        active,
        value,
        threshold,
        f"{report.model}: {rule.when} of {worst.feature} is {value:.2%} "
        f"({'' if active else 'not '}{sign} {threshold:.2%})",
        {"features": bad},
    )


def _service(rule: AlertRule, report: MonitorReport) -> Condition:
    s = report.service
    total = s.total
    if rule.when == "degraded_rate":
        # a share of answered rows: a window where everything was shed has nothing to judge
        if s.rows == 0:
            return Condition(rule, None, None, None, "no degraded_rate reading: no answered rows")
        return _degraded(rule, report)
    value = getattr(s, rule.when)
    if value is None or total == 0:
        return Condition(rule, None, None, None, f"no {rule.when} reading: no requests")
    active, threshold, sign = _crossed(rule, float(value))
    unit = " ms" if rule.when.startswith("latency") else ""
    shown = f"{value:.1f}{unit}" if unit else f"{value:.2%}"
    limit = f"{threshold:g}{unit}" if unit else f"{threshold:.2%}"
    return Condition(
        rule,
        active,
        float(value),
        threshold,
        f"{report.model}: {rule.when} is {shown} over {total} requests "
        f"({'' if active else 'not '}{sign} {limit})",
    )


def _degraded(rule: AlertRule, report: MonitorReport) -> Condition:
    """The share of answered rows from the fallback, for the rule's causes (all by default)."""
    s = report.service
    value = s.degraded(rule.causes)
    active, threshold, sign = _crossed(rule, value)
    what = "degraded_rate" if rule.causes is None else f"degraded_rate ({', '.join(rule.causes)})"
    causes = ", ".join(f"{c} {v:.2%}" for c, v in s.degraded_by_cause.items()) or "none"
    return Condition(
        rule,
        active,
        value,
        threshold,
        f"{report.model}: {what} is {value:.2%} of {s.rows} answered rows "
        f"({'' if active else 'not '}{sign} {threshold:.2%}); by cause: {causes}",
        {"causes": dict(s.degraded_by_cause), "shed_rate": s.shed_rate},
    )


def _metric(rule: AlertRule, report: MonitorReport) -> Condition:
    performance = report.performance
    value = performance.metrics.get(rule.when)
    if value is None or not performance.enough:
        reason = performance.note or f"{rule.when} could not be computed"
        return Condition(rule, None, None, None, f"no {rule.when} reading: {reason}")
    active, threshold, sign = _crossed(rule, value)
    return Condition(
        rule,
        active,
        value,
        threshold,
        f"{report.model}: {rule.when} is {value:.4g} on {performance.labelled} labelled rows "
        f"({'' if active else 'not '}{sign} {threshold:g})",
        {"labelled": performance.labelled},
    )


def _estimated(rule: AlertRule, report: MonitorReport) -> Condition:
    """A metric estimated without labels (``estimated_roc_auc``): its value, interval beside."""
    metric = rule.when.removeprefix(PREFIX)
    found = report.estimated
    reading = found.get(metric) if found else None
    if found is None or reading is None or not found.enough:
        reason = (found.note if found else "") or f"{metric} could not be estimated"
        return Condition(rule, None, None, None, f"no {rule.when} reading: {reason}")
    active, threshold, sign = _crossed(rule, reading.value)
    realized = "" if reading.realized is None else f", realized {reading.realized:.4g}"
    return Condition(
        rule,
        active,
        reading.value,
        threshold,
        f"{report.model}: estimated {metric} is {reading.value:.4g} "
        f"({found.level:.0%} interval {reading.low:.4g} to {reading.high:.4g}{realized}) on "
        f"{found.rows} answers without labels ({'' if active else 'not '}{sign} {threshold:g})",
        {"low": reading.low, "high": reading.high, "rows": found.rows},
    )
