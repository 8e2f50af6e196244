"""The guard period: after a promotion, a listed alert rule that fires moves champion back."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from shipyard.config.schema import GuardConfig

from .records import Check


def fired_since(alerts: Iterable[Any], rules: Iterable[str], since: datetime) -> list[Any]:
    """The alerts of ``rules`` that fired at or after ``since`` (oldest first)."""
    wanted = set(rules)
    found = [
        a for a in alerts if a.rule in wanted and a.fired_at is not None and a.fired_at >= since
    ]
    return sorted(found, key=lambda a: a.fired_at)


def judge(
    alerts: Iterable[Any], guard: GuardConfig, promoted_at: datetime, now: datetime
) -> tuple[str, Check]:
    """``("roll_back" | "promoted" | "guarding", the guard check)`` at ``now``."""
    fired = fired_since(alerts, guard.alerts, promoted_at)
    ends = promoted_at + timedelta(seconds=guard.duration)
    figures: dict[str, Any] = {
        "rules": list(guard.alerts),
        "promoted_at": promoted_at.isoformat(),
        "ends_at": ends.isoformat(),
        "fired": [
            {
                "alert": a.id,
                "rule": a.rule,
                "fired_at": a.fired_at.isoformat(),
                "message": a.message,
            }
            for a in fired
        ],
    }
    if fired:
        first = fired[0]
        detail = (
            f"alert '{first.rule}' fired at {first.fired_at:%Y-%m-%d %H:%M:%S} UTC: {first.message}"
        )
        return "roll_back", Check("guard", False, figures, detail)
    if now >= ends:
        return "promoted", Check(
            "guard",
            True,
            figures,
            f"none of {', '.join(guard.alerts)} fired in {guard.duration:g} s",
        )
    return "guarding", Check(
        "guard", None, figures, f"watching {', '.join(guard.alerts)} until {ends:%H:%M:%S} UTC"
    )
