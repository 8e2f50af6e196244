"""The dataset page's data: versions and their counts, one version's validation report,
its quarantined rows with their reasons (a page at a time), and a diff of two versions.

Plain records built from ``project.data``; the page template only formats them. A
missing artifact (a report or a quarantine file gone from the store) is said on the
page, naming the artifact and why, and the rest of the page still renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.errors import ShipyardError

from .refusals import Refused, refused_by, said, whole

if TYPE_CHECKING:
    from shipyard.data import DatasetDiff
    from shipyard.data.versions import DatasetVersion
    from shipyard.project import Project

PER_PAGE = 50
MAX_VERSIONS = 200  # the version table shows the newest ones
MAX_CELL = 200  # characters of a quarantined cell shown (the CSV export has them all)
REASONS, SOURCE, ROW = "_reasons", "_source", "_row"
_DIFF = re.compile(r"^\s*(\d{1,18})\s*\.\.\s*(\d{1,18})\s*$", re.ASCII)


@dataclass(frozen=True)
class VersionRow:
    """One version in the table: its counts and where it came from."""

    version: int
    created_at: datetime
    created_by: str
    mode: str
    received: int
    accepted: int
    quarantined: int
    rows: int
    content_hash: str
    sources: list[str]

    @property
    def quarantine_share(self) -> float:
        return self.quarantined / self.received if self.received else 0.0


@dataclass(frozen=True)
class QuarantinedRow:
    """A row as it arrived, why it was quarantined, and where it came from."""

    source: str
    line: int | None
    cells: list[str]
    reasons: list[str]


@dataclass(frozen=True)
class QuarantinePage:
    """One page of a version's quarantined rows."""

    columns: list[str]
    rows: list[QuarantinedRow]
    page: int
    pages: int
    total: int
    per_page: int

    @property
    def first(self) -> int:
        """The 1-based number of the first row shown (0 when there are none)."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


@dataclass(frozen=True)
class DatasetView:
    """Everything the dataset page shows."""

    name: str
    declared: bool
    versions: list[VersionRow]
    more_versions: int  # older versions not in the table
    selected: VersionRow | None
    report: dict[str, Any] | None
    quarantine: QuarantinePage | None
    diff: DatasetDiff | None
    problems: list[str] = field(default_factory=list)  # missing artifacts, said in words

    @property
    def empty(self) -> bool:
        return not self.versions


def dataset_view(
    project: Project,
    name: str,
    *,
    version: str | None = None,
    page: str | None = None,
    diff: str | None = None,
    per_page: int = PER_PAGE,
) -> DatasetView:
    """The page of dataset ``name`` (``?version=``, ``?page=``, ``?diff=A..B`` as given)."""
    try:
        log = project.data.log(name)  # newest first; an unknown dataset is a NotFoundError
    except ShipyardError as exc:
        raise refused_by(exc) from None
    declared = name in project.config.datasets
    rows = [_row(v) for v in log[:MAX_VERSIONS]]
    if not log:
        if version or diff:
            raise Refused(
                404,
                f"dataset '{name}' has no versions yet",
                hint=f"ingest a batch first: shipyard data ingest {name} FILE",
            )
        return DatasetView(name, declared, [], 0, None, None, None, None)
    chosen = _chosen(log, name, version)
    problems: list[str] = []
    report = _report(project, chosen, problems)
    quarantine = _quarantine(project, chosen, _page(page), per_page, problems)
    compared = _diff(project, name, diff) if diff else None
    return DatasetView(
        name,
        declared,
        rows,
        max(len(log) - MAX_VERSIONS, 0),
        _row(chosen),
        report,
        quarantine,
        compared,
        problems,
    )


def _row(v: DatasetVersion) -> VersionRow:
    sources = [str(s.get("uri") or s.get("kind") or "?") for s in v.sources]
    return VersionRow(
        v.version, v.created_at, v.created_by, v.mode, v.rows_received, v.rows_accepted,
        v.rows_quarantined, v.rows, v.content_hash, sources,
    )  # fmt: skip


def _chosen(log: list[DatasetVersion], name: str, version: str | None) -> DatasetVersion:
    if version is None or version.strip() in ("", "latest"):
        return log[0]
    text = version.strip()
    known = ", ".join(str(v.version) for v in reversed(log[:20]))
    if not whole(text):
        raise Refused(
            400,
            f"?version= must be a version number or 'latest', got '{said(text)}'",
            hint=f"dataset '{name}' has versions {known}",
        )
    for v in log:
        if v.version == int(text):
            return v
    raise Refused(
        404, f"dataset '{name}' has no version {int(text)}", hint=f"its versions are {known}"
    )


def _page(text: str | None) -> int:
    if text is None or not text.strip():
        return 1
    if not whole(text.strip()) or int(text) < 1:
        raise Refused(400, f"?page= must be a page number from 1, got '{said(text)}'")
    return int(text)


def _report(project: Project, chosen: DatasetVersion, problems: list[str]) -> dict[str, Any] | None:
    try:
        return project.data.report(chosen.ref)
    except ShipyardError as exc:
        problems.append(
            f"the validation report of {chosen.ref} ({chosen.report_key}) cannot be read: "
            f"{exc.message}"
        )
        return None


def _quarantine(
    project: Project, chosen: DatasetVersion, page: int, per_page: int, problems: list[str]
) -> QuarantinePage | None:
    if chosen.rows_quarantined == 0:
        return QuarantinePage([], [], 1, 1, 0, per_page)
    pages = max(-(-chosen.rows_quarantined // per_page), 1)
    if page > pages:
        raise Refused(
            404,
            f"{chosen.ref} has {chosen.rows_quarantined} quarantined rows: "
            f"{pages} page{'s' if pages != 1 else ''} of {per_page}, not page {page}",
        )
    try:
        frame, total = project.data.quarantine_rows(
            chosen.ref, offset=(page - 1) * per_page, limit=per_page
        )
    except ShipyardError as exc:
        problems.append(
            f"the quarantined rows of {chosen.ref} ({chosen.quarantine_key}) cannot be read: "
            f"{exc.message}"
        )
        return None
    columns = [c for c in frame.columns if c not in (REASONS, SOURCE, ROW)]
    rows = [
        QuarantinedRow(
            source=str(record.get(SOURCE) or ""),
            line=record.get(ROW),
            cells=[_cell(record.get(c)) for c in columns],
            reasons=[str(r) for r in record.get(REASONS) or []],
        )
        for record in frame.iter_rows(named=True)
    ]
    return QuarantinePage(columns, rows, page, max(-(-total // per_page), 1), total, per_page)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _diff(project: Project, name: str, text: str) -> DatasetDiff:
    found = _DIFF.match(text)
    if found is None:
        raise Refused(
            400,
            f"?diff= must name two versions as A..B (e.g. 1..3), got '{said(text)}'",
        )
    a, b = int(found[1]), int(found[2])
    try:
        return project.data.diff(f"{name}@{a}", f"{name}@{b}")
    except ShipyardError as exc:
        raise refused_by(exc) from None
