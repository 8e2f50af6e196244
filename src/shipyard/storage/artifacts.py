"""The artifact store: immutable, content-addressed objects in a folder or on S3.

Every object lives at ``PREFIX/ab/<sha256><suffix>``: its key carries its own
hash, so every read is verified and nothing is ever rewritten. The same code
runs on a local folder and on S3 through fsspec.

Writes are atomic. In a folder the bytes go to a new file in ``.tmp/`` first
(created exclusively, never through a link; a ``.tmp`` that is a link is refused)
and are renamed into place once complete (a rename within one filesystem is
atomic; see :mod:`shipyard.storage.safe_files`); on S3 a
PUT is only visible once the whole object is uploaded, so the object is sent
only after its bytes and hash are known. Keys can never escape the root:
absolute paths, ``..``, hidden names and paths through symbolic links are refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from shipyard.errors import (
    IntegrityError,
    MissingDependencyError,
    NotFoundError,
    StorageError,
    UnreachableError,
    UnsafeKeyError,
    first_line,
)

from .failures import unreachable, write_failure
from .safe_files import TempFile, checked_folder, write_atomic
from .urls import ArtifactLocation

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_COMPONENT = re.compile(r"^[A-Za-z0-9_@=+-][A-Za-z0-9._@=+-]{0,199}$")
_SUFFIX = re.compile(r"^(\.[A-Za-z0-9_-]{1,20}){0,3}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}")
_TMP = ".tmp"
SETTING = "storage.artifacts (or SHIPYARD_ARTIFACTS_URL)"


@dataclass(frozen=True)
class Artifact:
    """A stored object: its key, the sha256 of its bytes and their count."""

    key: str
    sha256: str
    size: int


def check_key(key: str) -> str:
    """``key`` if it stays inside the store root; UnsafeKeyError naming the rule otherwise."""
    if not isinstance(key, str) or not key:
        raise UnsafeKeyError(f"artifact key {key!r} is empty; expected 'folder/name'")
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        raise UnsafeKeyError(
            f"artifact key {key!r} is an absolute path; keys are relative to the store root"
        )
    if "\\" in key:
        raise UnsafeKeyError(f"artifact key {key!r} contains a backslash; use '/' between parts")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise UnsafeKeyError(
                f"artifact key {key!r} has a '{part or '//'}' part; "
                "'..', '.' and empty parts could escape the store root"
            )
        if not _COMPONENT.match(part):
            raise UnsafeKeyError(
                f"artifact key {key!r} has part {part!r}; parts are letters, digits and "
                "'._@=+-', not starting with '.'"
            )
    return key


def digest_of(key: str) -> str:
    """The sha256 a content-addressed ``key`` promises (its file name starts with it)."""
    match = _DIGEST.match(key.rsplit("/", 1)[-1])
    if not match:
        raise UnsafeKeyError(
            f"{key!r} is not an artifact key: its file name must start with the sha256 "
            "of its content, as returned by put()"
        )
    return match.group(0)


class ArtifactStore:
    """Content-addressed objects in a local folder or an S3 bucket, via fsspec."""

    def __init__(self, location: ArtifactLocation, **storage_options: Any) -> None:
        self.location = location
        self._fs = _filesystem(location, storage_options)
        self._local = location.protocol == "file"

    @property
    def url(self) -> str:
        return self.location.url

    def remote(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """Where a process on another machine reads ``key`` itself: its ``s3://`` URL and the
        store's fsspec options that are not secret (its endpoint); ``None`` for a local
        folder, which only this machine reads. Never a credential: the reader takes its own
        from its environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a profile, a role)."""
        if self._local:
            return None
        endpoint = self._fs.client_kwargs.get("endpoint_url")
        options = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
        return f"s3://{self.location.root.rstrip('/')}/{check_key(key)}", options

    def link(self, key: str) -> str:
        """Where a person opens ``key``: a file path for a local store, else its URL."""
        if self.location.protocol == "file":
            return f"{self.location.root}/{key}"
        return f"{self.location.url}/{key}"

    # -- writing -----------------------------------------------------------
    def put(self, data: bytes, *, prefix: str = "objects", suffix: str = "") -> Artifact:
        """Store ``data``; return its key. Storing the same bytes twice stores them once."""
        digest = hashlib.sha256(data).hexdigest()
        artifact = Artifact(self._key(prefix, digest, suffix), digest, len(data))
        if self.exists(artifact.key):
            return artifact
        target = self._path(artifact.key)
        try:
            if self._local:
                with (
                    self._staging() as staging,
                    TempFile(staging, where=self.url, setting=SETTING) as tmp,
                ):
                    tmp.file.write(data)
                    self._commit(tmp, artifact.key)
            else:
                self._fs.pipe_file(target, data)
        except _OURS:
            raise
        except Exception as exc:
            raise self._write_error(artifact.key, exc) from exc
        log.info("stored artifact %s (%d bytes) in %s", artifact.key, artifact.size, self.url)
        return artifact

    def put_file(self, path: Path, *, prefix: str = "objects", suffix: str = "") -> Artifact:
        """Store the file at ``path`` without holding it in memory."""
        try:
            if self._local:
                return self._put_local_file(path, prefix, suffix)
            digest, size = _hash_file(path)
            artifact = Artifact(self._key(prefix, digest, suffix), digest, size)
            if not self.exists(artifact.key):
                self._fs.put_file(str(path), self._path(artifact.key))
                log.info("stored artifact %s (%d bytes) in %s", artifact.key, size, self.url)
            return artifact
        except _OURS:
            raise
        except FileNotFoundError as exc:
            raise NotFoundError(f"cannot store {path}: no such file") from exc
        except Exception as exc:
            raise self._write_error(str(path), exc) from exc

    def _put_local_file(self, path: Path, prefix: str, suffix: str) -> Artifact:
        hasher, size = hashlib.sha256(), 0
        with self._staging() as staging, TempFile(staging, where=self.url, setting=SETTING) as tmp:
            with Path(path).open("rb") as source:
                while chunk := source.read(CHUNK):
                    hasher.update(chunk)
                    size += len(chunk)
                    tmp.file.write(chunk)
            digest = hasher.hexdigest()
            artifact = Artifact(self._key(prefix, digest, suffix), digest, size)
            if not self.exists(artifact.key):
                self._commit(tmp, artifact.key)
                log.info("stored artifact %s (%d bytes) in %s", artifact.key, size, self.url)
            return artifact

    # -- reading -----------------------------------------------------------
    def get(self, key: str) -> bytes:
        """The bytes stored at ``key``, verified against the hash in the key."""
        expected = digest_of(check_key(key))
        path = self._path(key)
        try:
            data: bytes = self._fs.cat_file(path)
        except FileNotFoundError:
            raise self._missing(key) from None
        except Exception as exc:
            raise self._failure(f"could not read artifact '{key}' from {self.url}", exc) from exc
        _verify(key, self.url, expected, hashlib.sha256(data).hexdigest())
        return data

    def download(self, key: str, dest: Path) -> Path:
        """Copy the object at ``key`` to ``dest`` in chunks, verified.

        ``dest`` appears whole and verified, or not at all.
        """
        expected = digest_of(check_key(key))
        path = self._path(key)
        dest = Path(dest)

        def copy(out: BinaryIO) -> None:
            hasher = hashlib.sha256()
            with self._fs.open(path, "rb") as source:
                while chunk := source.read(CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
            _verify(key, self.url, expected, hasher.hexdigest())

        try:
            write_atomic(dest, copy)  # never through a link at dest, whole or not at all
        except FileNotFoundError:
            raise self._missing(key) from None
        except _OURS:
            raise
        except Exception as exc:
            failure = write_failure(exc, dest, denied=False)  # EACCES may be the store's
            if failure is not None:
                raise failure from exc
            raise self._failure(f"could not read artifact '{key}' from {self.url}", exc) from exc
        return dest

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""
        try:
            return bool(self._fs.exists(self._path(check_key(key))))
        except _OURS:
            raise
        except Exception as exc:
            raise self._failure(f"could not reach artifact store {self.url}", exc) from exc

    def list(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (all keys when empty), sorted."""
        return sorted(self.listing(prefix))

    def listing(self, prefix: str = "") -> dict[str, float]:
        """Every key under ``prefix`` (all keys when empty) with when its object was written
        (epoch seconds, the store's clock: a file's mtime, an S3 object's LastModified),
        from the same one listing."""
        base = self.location.root
        if prefix:
            base = self._path(check_key(prefix.rstrip("/")))
        try:
            found = self._fs.find(base, detail=True) if self._fs.exists(base) else {}
        except Exception as exc:
            raise self._failure(f"could not list artifact store {self.url}", exc) from exc
        root = self.location.root.rstrip("/") + "/"
        return {
            str(p)[len(root) :]: _written(info)
            for p, info in found.items()
            if str(p).startswith(root) and not str(p)[len(root) :].startswith(_TMP + "/")
        }

    def delete(self, key: str) -> None:
        """Remove the object at ``key`` (objects are immutable: delete is the only change)."""
        path = self._path(check_key(key))
        try:
            if not self._fs.exists(path):  # S3 deletes of absent keys succeed silently
                raise FileNotFoundError(path)
            self._fs.rm_file(path)
        except FileNotFoundError:
            raise self._missing(key) from None
        except Exception as exc:
            raise self._failure(f"could not delete artifact '{key}' from {self.url}", exc) from exc
        log.info("deleted artifact %s from %s", key, self.url)

    def ping(self) -> None:
        """Reach the store: :class:`UnreachableError` if it does not answer, StorageError if
        it answers that the bucket is not there. A local folder needs no answer."""
        if self._local:
            return
        bucket = self.location.root.split("/", 1)[0]
        try:  # not exists(): s3fs answers False for a store that does not answer
            self._fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:
            raise StorageError(
                f"artifact store {self.url}: there is no bucket '{bucket}'",
                hint="create the bucket, or fix storage.artifacts / SHIPYARD_ARTIFACTS_URL "
                "(and SHIPYARD_S3_ENDPOINT_URL)",
            ) from None
        except Exception as exc:
            raise self._failure(f"could not reach artifact store {self.url}", exc) from exc

    # -- internals ---------------------------------------------------------
    def _key(self, prefix: str, digest: str, suffix: str) -> str:
        check_key(prefix)
        if not _SUFFIX.match(suffix):
            raise UnsafeKeyError(f"artifact suffix {suffix!r} is not like '.parquet' or '.tar.gz'")
        return f"{prefix}/{digest[:2]}/{digest}{suffix}"

    def _path(self, key: str) -> str:
        path = f"{self.location.root.rstrip('/')}/{key}"
        if self._local and os.path.realpath(path) != os.path.normpath(path):
            raise UnsafeKeyError(
                f"artifact key {key!r} leads through a symbolic link; links are refused so "
                "that no key can reach outside the store root"
            )
        return path

    def _staging(self) -> AbstractContextManager[int]:
        """The staging folder ``.tmp/``, opened without following a link.

        A ``.tmp`` that is a symbolic link (to a folder outside the root, say) is
        refused: the bytes would land wherever it points.
        """
        return checked_folder(self.location.root, (_TMP,), create=True)

    def _commit(self, tmp: TempFile, key: str) -> None:
        """Rename the staged file to ``key``; no folder on the way may be a link."""
        *folders, name = key.split("/")
        with checked_folder(self.location.root, folders, create=True) as folder:
            tmp.commit(folder, name)  # atomic within one filesystem: the object appears whole

    def _missing(self, key: str) -> NotFoundError:
        return NotFoundError(f"no artifact '{key}' in {self.url}")

    def _failure(self, what: str, exc: Exception) -> StorageError:
        """``what`` failed: said as "did not answer" when the store did not, else as it is."""
        if unreachable(exc):
            return UnreachableError(
                f"{what}: {first_line(exc)}",
                store="artifact store",
                url=self.url,
                reason=first_line(exc),
                hint="check that the object store is running and reachable from here; "
                "`shipyard serve` waits for it",
            )
        return StorageError(f"{what}: {exc}")

    def _write_error(self, what: str, exc: Exception) -> StorageError:
        failure = write_failure(exc, self.url, setting=SETTING)
        if failure is not None:
            return failure
        if unreachable(exc):
            return self._failure(f"could not store '{what}' in artifact store {self.url}", exc)
        if isinstance(exc, PermissionError) or "Read-only file system" in str(exc):
            return StorageError(
                f"artifact store {self.url} is not writable: {exc}",
                hint="give this user write access to that folder, or point "
                "storage.artifacts / SHIPYARD_ARTIFACTS_URL at one it can write",
            )
        return StorageError(f"could not store '{what}' in artifact store {self.url}: {exc}")


_OURS = (StorageError, NotFoundError)


def _verify(key: str, url: str, expected: str, actual: str) -> None:
    if actual != expected:
        raise IntegrityError(
            f"artifact '{key}' in {url} is corrupt: its bytes hash to {actual[:12]}…, "
            f"not {expected[:12]}… as stored",
            hint="it was changed after it was written; restore it from a backup or "
            "re-create it, and find out what wrote to the store",
        )


def _written(info: dict[str, Any]) -> float:
    """When a listed object was written, in epoch seconds (``-inf`` if the store says not)."""
    when = info.get("mtime", info.get("LastModified", info.get("created")))
    if isinstance(when, datetime):
        return when.timestamp()
    try:
        return float(when) if when is not None else float("-inf")
    except (TypeError, ValueError):
        return float("-inf")


def _hash_file(path: Path) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    with Path(path).open("rb") as source:
        while chunk := source.read(CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _filesystem(location: ArtifactLocation, options: dict[str, Any]) -> Any:
    import fsspec

    if location.protocol == "file":
        return fsspec.filesystem("file", auto_mkdir=True)
    try:
        import s3fs  # noqa: F401 - imported to give a clear error when it is missing
    except ImportError:
        raise MissingDependencyError("s3fs", "s3", "an s3:// artifact store") from None
    endpoint = os.environ.get("SHIPYARD_S3_ENDPOINT_URL")
    if endpoint:
        options.setdefault("client_kwargs", {}).setdefault("endpoint_url", endpoint)
    options.setdefault("use_listings_cache", False)
    options.setdefault("skip_instance_cache", True)
    return fsspec.filesystem("s3", **options)
