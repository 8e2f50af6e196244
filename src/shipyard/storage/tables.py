"""The metadata database's tables, as SQLAlchemy Core objects for queries.

The schema itself is created and changed only by the Alembic migrations in
``migrations/versions``; ``SCHEMA_HEAD`` names the newest one, so opening an
up-to-date database needs no Alembic at all. A test pins that the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_HEAD = "0008"

metadata = MetaData()

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("reason", Text, nullable=True),
)
Index("ix_audit_log_subject", audit_log.c.subject, audit_log.c.id)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("parents", JSON, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("schema_hash", String(64), nullable=False),
    Column("rows_received", BigInteger, nullable=False),
    Column("rows_accepted", BigInteger, nullable=False),
    Column("rows_quarantined", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("data_key", String(300), nullable=False),
    Column("quarantine_key", String(300), nullable=False),
    Column("report_key", String(300), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("dataset", "version", name="uq_dataset_versions_dataset_version"),
)
Index("ix_dataset_versions_content", dataset_versions.c.dataset, dataset_versions.c.content_hash)

ingested_files = Table(
    "ingested_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("version", Integer, nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dataset", "sha256", name="uq_ingested_files_dataset_sha256"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("task", String(40), nullable=False),
    Column("format", String(16), nullable=False),
    Column("artifact_key", String(300), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("features", JSON, nullable=False),
    Column("classes", JSON, nullable=True),
    Column("dataset", String(200), nullable=True),
    Column("dataset_hash", String(64), nullable=True),
    Column("schema_hash", String(64), nullable=True),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("code", JSON, nullable=False),
    Column("environment", JSON, nullable=False),
    Column("training", JSON, nullable=False),
    Column("source", String(40), nullable=False),
    Column("extra", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("dataset", String(200), nullable=True),
    Column("report_key", String(300), nullable=False),
    Column("html_key", String(300), nullable=False),
    Column("summary", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)
Index("ix_evaluations_model_version", evaluations.c.model, evaluations.c.version, evaluations.c.id)

reference_profiles = Table(
    "reference_profiles",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(300), nullable=False),
    Column("source", String(200), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

monitor_runs = Table(
    "monitor_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=True),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("drifted", Integer, nullable=False),
    Column("report_key", String(300), nullable=False),
    Column("html_key", String(300), nullable=False),
    Column("summary", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)
Index("ix_monitor_runs_model", monitor_runs.c.model, monitor_runs.c.id)

monitor_figures = Table(
    "monitor_figures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("model", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("statistic", String(40), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("flagged", Boolean, nullable=True),
)
Index(
    "ix_monitor_figures_series",
    monitor_figures.c.model,
    monitor_figures.c.kind,
    monitor_figures.c.name,
    monitor_figures.c.at,
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("state", String(20), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("route", String(64), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=True),
    Column("message", Text, nullable=False),
    Column("detail", JSON, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=True),
    Column("notified_at", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("acked_at", DateTime(timezone=True), nullable=True),
    Column("acked_by", String(200), nullable=True),
    Column("owed", String(40), nullable=True),  # firing, resolved, reminder-<time>
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_alerts_model_rule_state", alerts.c.model, alerts.c.rule, alerts.c.state)

alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("target", String(300), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_alert_notifications_alert", alert_notifications.c.alert_id, alert_notifications.c.id)

retrain_runs = Table(
    "retrain_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),
    Column("state", String(20), nullable=False),
    Column("trigger", String(100), nullable=False),
    Column("reason", Text, nullable=True),
    Column("dataset", String(200), nullable=True),
    Column("feedback", JSON, nullable=True),
    Column("candidate", Integer, nullable=True),
    Column("champion", Integer, nullable=True),
    Column("checks", JSON, nullable=False),
    Column("comparison", JSON, nullable=True),
    Column("decision", String(20), nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("holder", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("shadow_since", DateTime(timezone=True), nullable=True),
    Column("promoted_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("steps", JSON, nullable=False),
)
Index("ix_retrain_runs_model", retrain_runs.c.model, retrain_runs.c.id)
Index("ix_retrain_runs_state", retrain_runs.c.state)

retrain_locks = Table(
    "retrain_locks",
    metadata,
    Column("model", String(64), primary_key=True),
    Column("run_id", Integer, nullable=False),
    Column("holder", String(200), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

batch_runs = Table(
    "batch_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("model", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", JSON, nullable=False),
    Column("id_column", String(200), nullable=True),
    Column("engine", String(20), nullable=False),
    Column("status", String(16), nullable=False),
    Column("rows_in", BigInteger, nullable=False),
    Column("rows_scored", BigInteger, nullable=False),
    Column("rows_quarantined", BigInteger, nullable=False),
    Column("output", Text, nullable=True),
    Column("quarantine_key", String(300), nullable=True),
    Column("segments", JSON, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
)
Index("ix_batch_runs_model", batch_runs.c.model, batch_runs.c.started_at)
