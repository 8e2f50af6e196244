"""Where state lives: a metadata database and an artifact store, picked by URL scheme.

Two narrow interfaces: :class:`MetadataStore` (SQLite or PostgreSQL) for small
mutable state changed in transactions, and :class:`ArtifactStore` (a folder or
S3) for immutable, content-addressed objects.
"""

from __future__ import annotations

from .artifacts import Artifact, ArtifactStore, check_key
from .audit import AuditEvent, acting_as, as_utc, current_actor, history, record
from .metadata import MetadataStore, lock
from .urls import ArtifactLocation, artifact_location, redact

__all__ = [
    "Artifact",
    "ArtifactLocation",
    "ArtifactStore",
    "AuditEvent",
    "MetadataStore",
    "acting_as",
    "artifact_location",
    "as_utc",
    "check_key",
    "current_actor",
    "history",
    "lock",
    "record",
    "redact",
]
