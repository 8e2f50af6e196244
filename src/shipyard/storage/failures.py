"""What the environment did to a store: it did not answer, or it had no room.

Two questions, asked where a store's error is wrapped:

- :func:`unreachable`: did the store fail to *answer* (connection refused, a
  time-out, a name that does not resolve yet, a server still starting)? Such a
  failure may end by itself, so a server waits it out. A store that answered
  with a refusal (a wrong password, a database or bucket that does not exist) is a
  configuration mistake, and is not waited out.
- :func:`write_failure`: did a write fail because the disk is full, over quota,
  read-only or not ours to write? Then the user gets one sentence naming where,
  and that nothing was written, instead of a traceback.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from shipyard.errors import NoSpaceError, StorageError

# errno values of a socket that never reached a server that answers
_UNREACHABLE_ERRNO = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
        errno.EPIPE,
    }
)
# the same said in words, by psycopg, SQLAlchemy, botocore, aiohttp and the servers themselves
_UNREACHABLE_TEXT = re.compile(
    "|".join(
        (
            r"connection refused",
            r"connect call failed",
            r"timeout expired",
            r"timed out",
            r"could not translate host name",
            r"failed to resolve host",
            r"name or service not known",
            r"temporary failure in name resolution",
            r"nodename nor servname",
            r"no route to host",
            r"network is unreachable",
            r"host is unreachable",
            r"connection reset",
            r"server closed the connection unexpectedly",
            r"terminating connection due to administrator command",
            r"the database system is (starting up|shutting down|in recovery mode)",
            r"not yet accepting connections",
            r"too many clients already",
            r"remaining connection slots are reserved",
            r"could not connect to the endpoint url",
            r"connect timeout on endpoint url",
            r"read timeout on endpoint url",
            r"cannot connect to host",
            r"service ?unavailable",
            r"slow ?down",
        )
    ),
    re.IGNORECASE,
)
# a database server's own words for a full disk (SQLite: SQLITE_FULL; PostgreSQL: 53100)
_DATABASE_FULL = re.compile(
    r"database or disk is full|no space left on device|disk quota exceeded|could not extend file",
    re.IGNORECASE,
)
_READ_ONLY_DATABASE = re.compile(r"attempt to write a readonly database", re.IGNORECASE)

_WRITE_FAILURES = {
    errno.ENOSPC: "no space left on {where}",
    errno.EDQUOT: "disk quota exceeded on {where}",
    errno.EFBIG: "file size limit reached writing to {where}",
    errno.EROFS: "{where} is not writable (a read-only file system)",
    errno.EACCES: "{where} is not writable (permission denied)",
    errno.EPERM: "{where} is not writable (operation not permitted)",
}
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it was raised from or during, outermost first (each once)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        orig = getattr(current, "orig", None)  # SQLAlchemy keeps the driver's error here
        if isinstance(orig, BaseException) and orig not in seen:
            seen.append(orig)
        current = current.__cause__ or current.__context__
    return seen


def unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says a store did not answer (rather than answered with a refusal)."""
    for cause in causes(exc):
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE_ERRNO:
            return True
        if isinstance(cause, TimeoutError | ConnectionError):
            return True
        if _UNREACHABLE_TEXT.search(str(cause)):
            return True
    return False


def database_full(exc: BaseException) -> bool:
    """Whether a database said it had no room to write (SQLite's ``SQLITE_FULL``, PostgreSQL's 53100)."""
    return any(_DATABASE_FULL.search(str(cause)) for cause in causes(exc))


def disk_full(path: str | Path) -> bool:
    """Whether the file system holding ``path`` (or its nearest existing folder) has no room
    left: SQLite says only "disk I/O error" when it cannot grow its shared-memory file."""
    folder = Path(path)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        info = os.statvfs(folder)
    except OSError:
        return False
    return info.f_bavail == 0 or info.f_favail == 0


def database_read_only(exc: BaseException) -> bool:
    """Whether SQLite refused a write because its file or folder is read-only."""
    return any(_READ_ONLY_DATABASE.search(str(cause)) for cause in causes(exc))


def write_failure(
    exc: BaseException, where: str | Path, *, setting: str | None = None, denied: bool = True
) -> StorageError | None:
    """The user-facing error for a write the environment refused (disk full, quota,
    read-only, permission), or None when ``exc`` is something else.

    ``where`` names what was being written: a path, a folder or a store's URL;
    ``setting`` the project setting that chose it, for the hint. ``denied=False``
    leaves a permission error alone (when it may have come from a read).
    """
    elsewhere = f"point {setting} somewhere" if setting else "write somewhere"
    if isinstance(exc, StorageError):
        return None
    for cause in causes(exc):
        number = _errno_of(cause)
        if number is None or (not denied and number in (errno.EACCES, errno.EPERM)):
            continue
        message = _WRITE_FAILURES[number].format(where=where) + ", nothing was written"
        if number in _NO_ROOM:
            return NoSpaceError(
                message,
                hint=f"free some space there (or raise the quota) and run it again, "
                f"or {elsewhere} with room",
            )
        return StorageError(
            message, hint=f"give this user write access there, or {elsewhere} it can write"
        )
    return None


def _errno_of(exc: BaseException) -> int | None:
    """The write failure ``exc`` reports: its errno, or its words when a library (polars,
    pyarrow: "No space left on device (os error 28)") raised it without one."""
    if isinstance(exc, OSError) and exc.errno in _WRITE_FAILURES:
        return exc.errno
    if isinstance(exc, OSError | RuntimeError) and (found := _WORDS.search(str(exc))):
        return _BY_WORDS[found.group(0).lower()]
    return None


_BY_WORDS = {
    "no space left on device": errno.ENOSPC,
    "disk quota exceeded": errno.EDQUOT,
    "file too large": errno.EFBIG,
    "read-only file system": errno.EROFS,
}
_WORDS = re.compile("|".join(re.escape(words) for words in _BY_WORDS), re.IGNORECASE)


def folder_of(fd: int) -> str:
    """The path of an open folder descriptor, for messages (``this disk`` when unknown)."""
    try:
        return str(Path(f"/proc/self/fd/{fd}").readlink())
    except OSError:
        return "this disk"
