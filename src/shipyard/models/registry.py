"""The model registry: numbered, immutable model versions, movable aliases, and their history.

A version is written once, after its artifact is stored, in one transaction with
its audit event; numbers are taken under a lock (``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL) and never reused, also after a deletion. Aliases
(``champion``, ``challenger``, any name) point at one version each and move
atomically; every move is in the audit log with where it moved from and why. A
version an alias points at cannot be deleted: it is archived instead.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.errors import ConfigError, NotFoundError, ShipyardError
from shipyard.refs import parse_ref
from shipyard.storage import (
    AuditEvent,
    MetadataStore,
    as_utc,
    current_actor,
    history,
    lock,
    record,
)
from shipyard.storage.tables import model_aliases, model_versions

ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
RESERVED = {"latest"}


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version: the artifact and everything needed to trust and reproduce it."""

    model: str
    version: int
    task: str
    format: str
    artifact_key: str
    sha256: str
    size: int
    features: list[str]
    classes: list[Any] | None = None
    dataset: str | None = None
    dataset_hash: str | None = None
    schema_hash: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    source: str = "register"
    extra: dict[str, Any] = field(default_factory=dict)
    status: str = "active"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    created_by: str = ""

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ref"] = self.ref
        data["created_at"] = self.created_at.isoformat()
        return data


class AliasError(ShipyardError, ValueError):
    """An alias name is not allowed."""

    http_status = 422


class Registry:
    """The model versions and aliases of one project."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # -- writing -------------------------------------------------------------------
    def register(self, pending: ModelVersion, *, reason: str | None = None) -> ModelVersion:
        """Write ``pending`` as the model's next version number."""
        with self._store.transaction() as conn:
            self._lock(conn, pending.model)
            latest = conn.execute(
                sa.select(sa.func.max(model_versions.c.version)).where(
                    model_versions.c.model == pending.model
                )
            ).scalar()
            actor = current_actor()
            version = ModelVersion(
                **{
                    **asdict(pending),
                    "version": (latest or 0) + 1,
                    "created_at": datetime.now(UTC),
                    "created_by": actor,
                    "status": "active",
                }
            )
            conn.execute(model_versions.insert().values(**asdict(version)))
            record(
                conn,
                "model.registered",
                version.model,
                detail={
                    "version": version.version,
                    "source": version.source,
                    "format": version.format,
                    "sha256": version.sha256,
                    "dataset": version.dataset,
                    "metrics": version.metrics,
                },
                reason=reason,
                actor=actor,
            )
        return version

    def set_alias(
        self, ref: str, alias: str, *, reason: str | None = None
    ) -> tuple[int | None, int]:
        """Point ``alias`` at the version ``ref`` names; return (previous version, new version)."""
        target = self._aliasable(ref, alias)
        with self._store.transaction() as conn:
            before = self.move_alias_in(conn, target, alias, reason)
        return before, target.version

    def promote(
        self, ref: str, alias: str, *, detail: dict[str, Any], reason: str | None = None
    ) -> tuple[int | None, int]:
        """:meth:`set_alias`, with a ``model.promoted`` audit event (``detail`` after the
        version, alias, from and to) written in the same transaction: both or neither."""
        target = self._aliasable(ref, alias)
        with self._store.transaction() as conn:
            before = self.move_alias_in(conn, target, alias, reason)
            record(
                conn,
                "model.promoted",
                target.model,
                detail={
                    "version": target.version,
                    "alias": alias,
                    "from": before,
                    "to": target.version,
                    **detail,
                },
                reason=reason,
            )
        return before, target.version

    def _aliasable(self, ref: str, alias: str) -> ModelVersion:
        """The version ``ref`` names, if ``alias`` may point at it."""
        _check_alias(alias)
        target = self.resolve(ref)
        if target.status != "active":
            raise ConfigError(
                f"{target.ref} is {target.status}; an alias can only point at an active version"
            )
        return target

    def move_alias_in(
        self, conn: Connection, target: ModelVersion, alias: str, reason: str | None
    ) -> int | None:
        """Point ``alias`` at ``target`` inside the caller's transaction ``conn`` (so a
        caller can write its own rows with the move, all or nothing); the version it left."""
        self._lock(conn, target.model)
        key = (model_aliases.c.model == target.model) & (model_aliases.c.alias == alias)
        before: int | None = conn.execute(sa.select(model_aliases.c.version).where(key)).scalar()
        values = {
            "version": target.version,
            "updated_at": datetime.now(UTC),
            "updated_by": current_actor(),
        }
        if before is None:
            conn.execute(model_aliases.insert().values(model=target.model, alias=alias, **values))
        else:
            conn.execute(model_aliases.update().where(key).values(**values))
        record(
            conn,
            "alias.set" if before is None else "alias.moved",
            target.model,
            detail={"alias": alias, "from": before, "to": target.version},
            reason=reason,
        )
        return before

    def delete_alias(self, model: str, alias: str, *, reason: str | None = None) -> int:
        """Remove ``alias`` from ``model``; return the version it pointed at."""
        with self._store.transaction() as conn:
            self._lock(conn, model)
            key = (model_aliases.c.model == model) & (model_aliases.c.alias == alias)
            before = conn.execute(sa.select(model_aliases.c.version).where(key)).scalar()
            if before is None:
                known = ", ".join(sorted(self.aliases(model))) or "none"
                raise NotFoundError(f"model '{model}' has no alias '{alias}'; its aliases: {known}")
            conn.execute(model_aliases.delete().where(key))
            record(
                conn, "alias.deleted", model, detail={"alias": alias, "from": before}, reason=reason
            )
        return int(before)

    def delete(self, ref: str, *, reason: str | None = None) -> ModelVersion:
        """Delete a version; a version an alias points at is archived instead. Returns it as now."""
        target = self.resolve(ref)
        with self._store.transaction() as conn:
            self._lock(conn, target.model)
            pointing = [
                a
                for (a,) in conn.execute(
                    sa.select(model_aliases.c.alias).where(
                        (model_aliases.c.model == target.model)
                        & (model_aliases.c.version == target.version)
                    )
                )
            ]
            status = "archived" if pointing else "deleted"
            conn.execute(
                model_versions.update()
                .where(
                    (model_versions.c.model == target.model)
                    & (model_versions.c.version == target.version)
                )
                .values(status=status)
            )
            record(
                conn,
                f"model.{status}",
                target.model,
                detail={"version": target.version, "aliases": pointing},
                reason=reason,
            )
        return ModelVersion(**{**asdict(target), "status": status})

    # -- reading -------------------------------------------------------------------
    def resolve(self, ref: str) -> ModelVersion:
        """The version ``ref`` names: ``NAME@3``, ``NAME@latest``, ``NAME@<alias>`` or ``NAME``."""
        name, selector = parse_ref(ref, what="model version")
        table = model_versions
        query = sa.select(table).where(table.c.model == name)
        if selector == "latest":
            query = (
                query.where(table.c.status != "deleted").order_by(table.c.version.desc()).limit(1)
            )
        elif selector.isdigit():
            query = query.where(table.c.version == int(selector))
        else:
            pointed = self.aliases(name).get(selector)
            if pointed is None:
                known = ", ".join(sorted(self.aliases(name))) or "none yet"
                raise NotFoundError(
                    f"model '{name}' has no alias '{selector}'; its aliases: {known}"
                )
            query = query.where(table.c.version == pointed)
        with self._store.read() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            numbers = [v.version for v in self.versions(name, include_deleted=True)]
            if not numbers:
                raise NotFoundError(
                    f"model '{name}' has no versions yet; train or register one first"
                )
            raise NotFoundError(
                f"model '{name}' has no version '{selector}'; it has {', '.join(map(str, sorted(numbers)))}"
            )
        version = _version(row)
        if version.status == "deleted" and selector != "latest":
            raise NotFoundError(f"{version.ref} was deleted")
        return version

    def versions(self, model: str, *, include_deleted: bool = False) -> list[ModelVersion]:
        """Every version of ``model``, newest first."""
        query = sa.select(model_versions).where(model_versions.c.model == model)
        if not include_deleted:
            query = query.where(model_versions.c.status != "deleted")
        with self._store.read() as conn:
            rows = conn.execute(query.order_by(model_versions.c.version.desc())).mappings()
            return [_version(r) for r in rows]

    def aliases(self, model: str) -> dict[str, int]:
        """The model's aliases and the version each points at."""
        query = sa.select(model_aliases.c.alias, model_aliases.c.version).where(
            model_aliases.c.model == model
        )
        with self._store.read() as conn:
            return {alias: int(version) for alias, version in conn.execute(query)}

    def overview(self) -> tuple[dict[str, int], dict[str, ModelVersion], dict[str, dict[str, int]]]:
        """Of every model at once, in three queries (not three per model): how many
        versions it has (deleted ones left out), its newest one, and its aliases."""
        live = model_versions.c.status != "deleted"
        counted = (
            sa.select(
                model_versions.c.model, sa.func.count(), sa.func.max(model_versions.c.version)
            )
            .where(live)
            .group_by(model_versions.c.model)
        )
        with self._store.read() as conn:
            counts: dict[str, int] = {}
            newest: dict[str, int] = {}
            for model, count, top in conn.execute(counted):
                counts[model], newest[model] = int(count), int(top)
            latest: dict[str, ModelVersion] = {}
            if newest:
                pairs = sa.tuple_(model_versions.c.model, model_versions.c.version)
                newest_rows = sa.select(model_versions).where(
                    live & pairs.in_(list(newest.items()))
                )
                latest = {v.model: v for v in map(_version, conn.execute(newest_rows).mappings())}
            aliases: dict[str, dict[str, int]] = {}
            pointed = sa.select(
                model_aliases.c.model, model_aliases.c.alias, model_aliases.c.version
            )
            for model, alias, version in conn.execute(pointed):
                aliases.setdefault(model, {})[alias] = int(version)
        return counts, latest, aliases

    def models(self) -> list[str]:
        """Every model name with at least one version."""
        with self._store.read() as conn:
            return [
                m
                for (m,) in conn.execute(
                    sa.select(model_versions.c.model).distinct().order_by(model_versions.c.model)
                )
            ]

    def history(self, model: str, limit: int = 200) -> list[AuditEvent]:
        """The model's audit trail, newest first: its versions and aliases, and what was
        done to its parts (an alert acknowledged: ``risk/drift``)."""
        return history(self._store, subject=model, limit=limit, parts=True)

    def _lock(self, conn: Connection, model: str) -> None:
        lock(conn, f"shipyard.model:{model}")


def _check_alias(alias: str) -> None:
    if not ALIAS.match(alias) or alias in RESERVED or alias.isdigit():
        raise AliasError(
            f"'{alias}' cannot be an alias: an alias is a name of letters, digits, '_' or '-' "
            "starting with a letter (not 'latest')"
        )


def _version(row: Any) -> ModelVersion:
    values = dict(row)
    values.pop("id", None)
    values["created_at"] = as_utc(values["created_at"])
    return ModelVersion(**values)
