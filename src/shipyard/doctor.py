"""``shipyard doctor``: is this project usable here? Checks the file, the stores, the versions.

Each check proves something by doing it: the database is written and read back
inside a transaction that is rolled back; a probe object is stored in the
artifact store, read back (hash verified) and deleted. The alert check fails for
an owner or route that names a destination nothing could carry (an e-mail
without ``alerting.smtp``). The environment check compares each declared model's
champion with the packages installed here (:mod:`shipyard.models.environment`): a
major or minor version that differs is a warning, and a failure when
``server.strict_environment`` is on (the server would refuse to load it). The
training check imports each model's ``train`` entry point in a process of its own,
with a time limit, so a module that raises or hangs at import is named, with why,
and cannot break or stall doctor itself.
"""

from __future__ import annotations

import platform
import uuid
from dataclasses import asdict, dataclass, field
from importlib import metadata as importlib_metadata
from typing import Any

from . import __version__
from .entrypoints import check_entry_points
from .errors import ShipyardError
from .models import check_environment
from .monitoring import undeliverable
from .project import Project
from .storage import redact

PACKAGES = ("pydantic", "SQLAlchemy", "alembic", "fsspec", "psycopg", "s3fs", "click", "rich")


@dataclass(frozen=True)
class Check:
    """One thing doctor tried, whether it worked, and what it found."""

    name: str
    ok: bool
    detail: str
    warning: bool = False  # passed, but something is worth a look (shown as a warning)


@dataclass(frozen=True)
class DoctorReport:
    """Everything doctor found about one project."""

    project: str
    project_file: str
    database: str
    artifacts: str
    checks: list[Check]
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def warnings(self) -> int:
        return sum(check.ok and check.warning for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "warnings": self.warnings}


def run_doctor(project: Project) -> DoctorReport:
    """Run every check against ``project``; never raises for a failing check."""
    checks = [
        Check("project file", True, f"{project.file} is valid"),
        *_database_checks(project),
        _artifact_check(project),
        _alert_check(project),
        *_environment_checks(project),
        *_training_checks(project),
    ]
    return DoctorReport(
        project=project.name,
        project_file=str(project.file),
        database=_safe(lambda: project.metadata.url, redact(project.config.storage.database)),
        artifacts=_safe(lambda: project.artifacts.url, redact(project.config.storage.artifacts)),
        checks=checks,
        versions=versions(),
    )


def versions() -> dict[str, str]:
    """shipyard's, Python's and the storage packages' versions (installed ones only)."""
    found = {"shipyard": __version__, "python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found


def _database_checks(project: Project) -> list[Check]:
    try:
        store = project.metadata
    except ShipyardError as exc:
        return [Check("database connect", False, exc.message)]
    checks = [
        Check(
            "database connect",
            True,
            f"{store.backend} at {store.url}, schema revision {store.schema_revision()}",
        )
    ]
    try:
        store.check()
        checks.append(Check("database write", True, "wrote and read back a row (rolled back)"))
    except ShipyardError as exc:
        checks.append(Check("database write", False, exc.message))
    return checks


def _artifact_check(project: Project) -> Check:
    probe = f"shipyard doctor probe {uuid.uuid4()}".encode()
    try:
        store = project.artifacts
        artifact = store.put(probe, prefix="doctor")
        if store.get(artifact.key) != probe:
            return Check("artifact store", False, f"{store.url} returned other bytes than written")
        store.delete(artifact.key)
    except ShipyardError as exc:
        return Check("artifact store", False, exc.message)
    return Check(
        "artifact store",
        True,
        f"stored, read back (sha256 verified) and deleted a probe at {store.url}",
    )


def _alert_check(project: Project) -> Check:
    """Every owner and route can be reached as written: no destination lacks its setting."""
    problems = undeliverable(project.config)
    if problems:
        return Check("alert delivery", False, "; ".join(problems))
    owners = len(project.config.models)
    return Check(
        "alert delivery",
        True,
        f"every destination of {owners} owner(s) and {len(project.config.alerting.routes)} "
        "route(s) is configured (and the log takes every alert)",
    )


def _environment_checks(project: Project) -> list[Check]:
    """One check per declared model with a champion: trained with the packages installed here?"""
    strict = project.config.server.strict_environment
    checks: list[Check] = []
    for name in project.config.models:
        try:
            champion = project.models.registry.aliases(name).get("champion")
            if champion is None:
                continue
            check = check_environment(project.models.registry.resolve(f"{name}@{champion}"))
        except ShipyardError as exc:  # the registry cannot be read: said once, not per model
            return [*checks, Check("environment", False, exc.message)]
        where = f"environment {check.ref} (champion)"
        if check.ok:
            pinned = ", ".join(f"{p.label} {p.recorded}" for p in check.packages)
            detail = (
                f"matches the recorded {pinned} (major.minor)"
                if pinned
                else "recorded no versions to compare"
            )
            checks.append(Check(where, True, detail))
        elif strict:
            checks.append(
                Check(
                    where,
                    False,
                    f"{check.summary()}; server.strict_environment refuses to serve it: "
                    f"{check.fix()}",
                )
            )
        else:
            checks.append(
                Check(
                    where,
                    True,
                    f"{check.summary()}; to match it: {check.fix(strict=False)}",
                    warning=True,
                )
            )
    if not checks:
        checks.append(Check("environment", True, "no model has a champion to compare yet"))
    return checks


def _training_checks(project: Project) -> list[Check]:
    """Each model's training function imports, as ``shipyard train`` would import it."""
    specs = {
        f"models.{name}.train": model.train
        for name, model in project.config.models.items()
        if model.train is not None
    }
    if not specs:
        return []
    problems = check_entry_points(specs, root=project.root)
    return [
        Check(
            f"training function {where.split('.')[1]}",
            problem is None,
            f"{specs[where]} imports" if problem is None else problem,
        )
        for where, problem in problems.items()
    ]


def _safe(get: Any, fallback: str) -> str:
    try:
        return str(get())
    except ShipyardError:
        return fallback
