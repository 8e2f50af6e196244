"""Write a folder of generated files whole, or not at all.

The files go into a temporary folder beside the target (same file system), which
is renamed onto it at the end: a failure halfway (a full disk, an error in a later
file) leaves the target as it was. A target that exists and is not empty is
replaced only with ``force``; the old one is removed after the new one is in place
(a symbolic link is replaced by the folder; the folder it pointed to is left alone).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from .records import DeployError


def check_target(
    out: Path,
    *,
    force: bool,
    command: str,
    keep: Path | None = None,
    state: Sequence[Path] = (),
) -> None:
    """Refuse ``out`` when it is a file, or a folder with something in it and no ``force``,
    or (``keep``, the project folder) a folder that holds the project, or a folder in or
    around one of the project's ``state`` folders (its database, artifacts, spool): never
    replaced."""
    target = out.resolve()
    if keep is not None:
        project = keep.resolve()
        if target == project or target in project.parents:
            raise DeployError(
                f"--out {out} holds the project itself; it would be replaced, so nothing was written",
                hint=f"name a new folder, e.g. {command} --out deploy/out",
            )
    for folder in (p.resolve() for p in state):
        if target == folder or folder in target.parents or target in folder.parents:
            raise DeployError(
                f"--out {out} is in or around {folder}, where the project keeps its state "
                "(database, artifacts, prediction log); it would be replaced, so nothing was "
                "written",
                hint=f"name a new folder outside it, e.g. {command} --out deploy/out",
            )
    if out.exists() and not out.is_dir():
        raise DeployError(
            f"--out {out} is a file, not a folder", hint="name a folder (it is created)"
        )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DeployError(
            f"--out {out} exists and is not empty; nothing was written",
            hint=f"pass --force to replace it, or name another folder: {command} --out DIR",
        )


def write_folder(out: Path, files: Mapping[str, str | bytes], *, force: bool, command: str) -> None:
    """Write ``files`` (relative path -> content) as the folder ``out``, all or nothing."""
    check_target(out, force=force, command=command)
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    old: Path | None = None
    try:
        for relative, content in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        staging.chmod(0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{staging.name.rsplit('.', 1)[-1]}")
            out.rename(old)
        staging.rename(out)
    except BaseException:
        if old is not None and not out.exists():
            old.rename(out)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        with contextlib.suppress(OSError):
            if old.is_symlink():  # the link goes; the folder it pointed to is not ours
                old.unlink()
            else:
                shutil.rmtree(old)
