"""Promotion moves the alias and writes its audit event in one transaction: both or neither."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Connection

from shipyard.models import ModelVersion, Registry
from shipyard.models import registry as registry_module
from shipyard.storage import AuditEvent, MetadataStore


def pending() -> ModelVersion:
    return ModelVersion(
        model="fraud", version=0, task="binary_classification", format="skops",
        artifact_key=f"models/fraud/aa/{'a' * 64}.skops", sha256="a" * 64, size=1, features=["x"],
    )  # fmt: skip


@pytest.fixture
def registry(metadata_store: MetadataStore) -> Registry:
    registry = Registry(metadata_store)
    for _ in range(2):
        registry.register(pending())
    registry.set_alias("fraud@1", "champion")
    return registry


def test_promote_moves_the_alias_and_audits_it(registry: Registry) -> None:
    assert registry.promote("fraud@2", "champion", detail={"forced": False}) == (1, 2)
    assert registry.aliases("fraud") == {"champion": 2}
    [promoted] = [e for e in registry.history("fraud") if e.action == "model.promoted"]
    assert promoted.detail == {
        "version": 2,
        "alias": "champion",
        "from": 1,
        "to": 2,
        "forced": False,
    }


def test_a_failed_audit_write_leaves_the_alias_where_it_was(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = registry_module.record

    def record(conn: Connection, action: str, subject: str, **options: Any) -> AuditEvent:
        if action == "model.promoted":
            raise OSError("the disk filled up while writing the audit row")
        return written(conn, action, subject, **options)

    monkeypatch.setattr(registry_module, "record", record)
    before = [e.id for e in registry.history("fraud")]
    with pytest.raises(OSError, match="disk filled up"):
        registry.promote("fraud@2", "champion", detail={"forced": False})
    assert registry.aliases("fraud") == {"champion": 1}
    assert [e.id for e in registry.history("fraud")] == before  # not even the alias.moved event
