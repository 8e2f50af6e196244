"""Storage URLs: the scheme picks the backend; relative paths hang off the project root."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_USERINFO = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:]*):(?P<secret>[^/@]*)@"
)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to print and log."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


def database_url(url: str, root: Path) -> str:
    """The SQLAlchemy URL for a project database URL.

    ``sqlite:///relative.db`` is relative to the project ``root``;
    ``postgresql://`` uses the psycopg 3 driver.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path in ("", ":memory:"):
            return "sqlite://"
        # sqlite:////abs/path has an absolute path after the third slash
        resolved = Path(path) if path.startswith("/") else root / path
        return f"sqlite:///{resolved}"
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class ArtifactLocation:
    """Where an artifact store lives: a filesystem protocol and a root inside it."""

    protocol: str  # "file" or "s3"
    root: str  # absolute folder for "file"; "bucket/prefix" for "s3"

    @property
    def url(self) -> str:
        return self.root if self.protocol == "file" else f"{self.protocol}://{self.root}"


def artifact_location(url: str, root: Path) -> ArtifactLocation:
    """Parse an artifacts URL (folder path, ``file://`` or ``s3://bucket/prefix``)."""
    if url.startswith("s3://"):
        return ArtifactLocation("s3", url[len("s3://") :].strip("/"))
    path = Path(url.removeprefix("file://"))
    path = path if path.is_absolute() else root / path
    return ArtifactLocation("file", str(Path(path).resolve()))
