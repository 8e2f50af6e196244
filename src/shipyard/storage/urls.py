"""Storage URLs: the scheme picks the backend; relative paths hang off the project root."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from shipyard.errors import StorageError

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
# query parameters that carry a credential: token, api_key, X-Amz-Signature, sig, password, …
_SECRET_PARAM = re.compile(r"token|key|secret|pass|pwd|sig|auth|credential|session", re.IGNORECASE)
# path segments after which a webhook URL's path is its secret (Slack, Mattermost, Discord, Teams)
_HOOK_SEGMENTS = frozenset({"services", "hooks", "webhooks", "webhook", "webhookb2"})
HIDDEN = "***"


def redact(url: str) -> str:
    """``url`` safe to print and log: every credential in it replaced.

    The password of ``user:password@`` becomes ``***`` (in a web URL a lone
    ``token@`` too), token-like query parameters (``token``, ``api_key``, ``sig``,
    ``X-Amz-Signature``, …) lose their values, a webhook path keeps only its
    prefix (``https://hooks.slack.com/services/…``) and a fragment is dropped.
    A value that is not a URL (a folder path) is returned as it is.
    """
    match = _SCHEME.match(url)
    if match is None:
        return url
    scheme = match["scheme"]
    web = scheme.lower() in ("http", "https")
    rest = url[match.end() :]
    # a web URL's user part ends at its authority; in a database URL a password
    # written unencoded may hold '/', '?' or '#', so there the last '@' ends it
    scope = re.split(r"[/?#]", rest, maxsplit=1)[0] if web else rest
    at = scope.rfind("@")
    userinfo = ""
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        userinfo = f"{user}:{HIDDEN}@" if colon else (f"{HIDDEN}@" if web else f"{user}@")
        rest = rest[at + 1 :]
    rest, hash_, _fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    host, slash, path = rest.partition("/")
    shown = f"{scheme}://{userinfo}{host}{slash}{_redact_path(path)}"
    if question:
        shown += "?" + "&".join(_redact_param(p) for p in query.split("&"))
    return shown + ("#…" if hash_ else "")


def _redact_path(path: str) -> str:
    segments = path.split("/")
    for index, segment in enumerate(segments[:-1]):
        if segment.lower() in _HOOK_SEGMENTS:
            return "/".join(segments[: index + 1]) + "/…"
    return path


def _redact_param(param: str) -> str:
    name, equals, value = param.partition("=")
    if equals and value and _SECRET_PARAM.search(unquote(name)):
        return f"{name}={HIDDEN}"
    return param


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
    return psycopg_url(url)


def psycopg_url(url: str) -> str:
    """``url`` with a bare ``postgresql://`` or ``postgres://`` scheme set to psycopg 3.

    The rest of the URL (user, password, host, port, database, query) is kept
    as written; any other URL is returned unchanged.
    """
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
        """Where the store is, safe to print."""
        return self.root if self.protocol == "file" else redact(f"{self.protocol}://{self.root}")


def artifact_location(url: str, root: Path) -> ArtifactLocation:
    """Parse an artifacts URL (folder path, ``file://`` or ``s3://bucket/prefix``)."""
    if url.startswith("s3://"):
        if "@" in url.split("/", 3)[2]:
            raise StorageError(
                f"artifact store {redact(url)} has credentials in its URL",
                hint="give S3 credentials as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an "
                "AWS profile, never in the URL, which is printed and logged",
            )
        return ArtifactLocation("s3", url[len("s3://") :].strip("/"))
    path = Path(url.removeprefix("file://"))
    path = path if path.is_absolute() else root / path
    return ArtifactLocation("file", str(Path(path).resolve()))
