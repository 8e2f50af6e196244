"""Local writes that never follow a link: exclusive temporary files, renamed into place.

Every file shipyard writes on a local disk (artifacts, exports, the prediction-log
spool, exported rules, the project file) is made the same way:

1. the folder is opened once, and every folder *below* a trusted root is opened
   relative to its parent with ``O_NOFOLLOW``: a symbolic link planted anywhere
   below the root is refused, not followed, even if it appears after a check;
2. the bytes go to a new temporary file in that folder, created with
   ``O_CREAT | O_EXCL | O_NOFOLLOW``: an existing file or a planted link at the
   temporary name is never opened;
3. the file is flushed to disk and renamed over its destination, relative to the
   same folder descriptors. ``rename`` replaces a link at the destination instead
   of writing through it, and a destination that is already a link is refused
   with a :class:`StorageError` before anything is written.

The result appears whole or not at all.
"""

from __future__ import annotations

import logging
import os
import stat
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from shipyard.errors import StorageError

from .failures import folder_of, write_failure

log = logging.getLogger(__name__)

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC


@contextmanager
def checked_folder(
    root: Path | str, parts: Sequence[str] = (), *, create: bool = False
) -> Iterator[int]:
    """A descriptor on ``root/parts…``, where no part below ``root`` is a symbolic link.

    ``root`` is opened as named (a person configured or typed it); each of ``parts``
    is opened relative to its parent without following links. With ``create``,
    missing folders are made. A link among ``parts`` raises :class:`StorageError`.
    """
    if create:
        Path(root).mkdir(parents=True, exist_ok=True)
    fd = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        shown = Path(root)
        for part in parts:
            shown = shown / part
            if create:
                with suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            try:
                child = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=fd)
            except OSError:
                refuse_link(fd, part, shown)
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def refuse_link(folder_fd: int, name: str, shown: Path) -> None:
    """Raise :class:`StorageError` if ``name`` in the folder is a symbolic link."""
    try:
        info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        try:
            target = os.readlink(name, dir_fd=folder_fd)
        except OSError:
            target = "?"
        raise StorageError(
            f"{shown} is a symbolic link (to {target}); shipyard never writes through links",
            hint=f"remove the link ({shown}) or name the real path instead",
        )


class TempFile:
    """A new, empty file in a checked folder: written, then committed by a rename or removed.

    Use it as a context manager: leaving the block without :meth:`commit` removes it,
    and a write the environment refused there (disk full, quota, read-only,
    permission) leaves it as a :class:`StorageError` naming ``where`` (the
    folder when not given): ``no space left on …, nothing was written``.
    """

    def __init__(
        self,
        folder_fd: int,
        *,
        prefix: str = "",
        mode: int = 0o666,
        where: str | None = None,
        setting: str | None = None,
    ) -> None:
        self._folder = folder_fd
        self.where = where
        self.setting = setting
        self.name = f"{prefix[:100]}{uuid.uuid4().hex}.tmp"
        try:
            fd = os.open(self.name, _NEW_FILE, mode, dir_fd=folder_fd)
        except OSError as exc:
            raise self._said(exc, denied=True) from exc
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self._committed = False

    def commit(self, folder_fd: int, name: str, *, durable: bool = True) -> None:
        """Flush (to disk when ``durable``) and rename to ``name`` in ``folder_fd`` (atomic
        in one filesystem)."""
        self.file.flush()
        if durable:
            os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.name, name, src_dir_fd=self._folder, dst_dir_fd=folder_fd)
        self._committed = True

    def discard(self) -> None:
        """Close and remove the file unless it was committed."""
        with suppress(OSError):  # closing flushes: on a full disk that fails too
            self.file.close()
        if self._committed:
            return
        try:
            os.unlink(self.name, dir_fd=self._folder)
        except FileNotFoundError:
            pass
        except OSError:
            log.warning("could not remove the temporary file %s", self.name)

    def __enter__(self) -> TempFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.discard()
        if isinstance(value, OSError):  # a permission error in the block may be a read's
            said = self._said(value, denied=False)
            if said is not value:
                raise said from value

    def _said(self, exc: OSError, *, denied: bool) -> OSError:
        """``exc`` as the user should read it when the environment refused the write."""
        where = self.where or folder_of(self._folder)
        return write_failure(exc, where, setting=self.setting, denied=denied) or exc


def write_atomic(
    path: Path | str,
    content: bytes | Callable[[BinaryIO], object],
    *,
    root: Path | str | None = None,
    durable: bool = True,
) -> Path:
    """Write ``content`` (bytes, or a function writing to a binary file) to ``path``.

    ``durable=False`` skips the fsync, for throwaway files rewritten every second.

    ``path`` appears whole or not at all. ``path`` itself must not be a symbolic
    link (StorageError; the link is left as it is). Its folder is taken as named;
    with ``root``, ``path`` must lie inside ``root``, no folder between them may be
    a link, and missing folders are made.
    """
    path = Path(os.path.abspath(path))  # noqa: PTH100 - resolve() would follow a link at path
    parts: tuple[str, ...] = ()
    if root is None:
        base = path.parent
    else:
        base = Path(os.path.abspath(root))  # noqa: PTH100 - as above
        try:
            parts = path.parent.relative_to(base).parts
        except ValueError:
            raise StorageError(f"{path} is outside {base}; refusing to write it") from None
    try:
        with checked_folder(base, parts, create=root is not None) as folder:
            refuse_link(folder, path.name, path)
            with TempFile(folder, prefix=f".{path.name}.", where=str(path)) as tmp:
                if isinstance(content, bytes):
                    tmp.file.write(content)
                else:
                    content(tmp.file)
                tmp.commit(folder, path.name, durable=durable)
    except OSError as exc:  # making a folder on a full or read-only disk
        failure = write_failure(exc, path, denied=False)  # a denial may be content()'s read
        if failure is not None:
            raise failure from exc
        raise
    return path


def read_regular(folder_fd: int, name: str) -> bytes:
    """The bytes of regular file ``name`` in the folder, never through a link.

    A link raises ``OSError`` (ELOOP); a FIFO or device raises ``OSError`` too
    instead of blocking or reading without end.
    """
    fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC, dir_fd=folder_fd)
    with os.fdopen(fd, "rb") as source:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            raise OSError(f"{name} is not a regular file")
        return source.read()


__all__ = ["TempFile", "checked_folder", "read_regular", "refuse_link", "write_atomic"]
