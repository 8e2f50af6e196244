"""Alert state on every metadata backend: what PostgreSQL enforces, SQLite does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from shipyard.config.schema import AlertingConfig, AlertRule
from shipyard.monitoring.alerting import Alerts
from shipyard.monitoring.rules import Condition
from shipyard.storage import MetadataStore


def test_a_reminder_is_stored_and_delivered_on_every_backend(
    metadata_store: MetadataStore, tmp_path: Path
) -> None:
    # A reminder is owed as "reminder-<time>" (24 characters): PostgreSQL once refused it.
    alerting = Alerts(
        metadata_store, AlertingConfig.model_validate({"repeat": 60}), project="p", root=tmp_path
    )
    rule = AlertRule.model_validate({"when": "error_rate", "above": 0.1})
    errors = Condition(rule, True, 0.5, 0.1, "errors at 50%")
    start = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)
    [fired] = alerting.advance("risk", [errors], start)
    assert [d.ok for d in alerting.deliver({}, start)] == [True]

    later = start + timedelta(minutes=2)
    [reminded] = alerting.advance("risk", [errors], later)
    assert reminded.id == fired.id and (reminded.owed or "").startswith("reminder-")
    assert [d.ok for d in alerting.deliver({}, later)] == [True]
    assert alerting.get(fired.id).owed is None
    kinds = [d.kind for d in alerting.get(fired.id).deliveries]
    assert kinds[0] == "firing" and kinds[1].startswith("reminder-")
