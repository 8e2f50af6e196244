"""A wheel of the running shipyard, for the image to install.

The image must carry the shipyard that planned it (the same code, whatever way it
was installed here: from a wheel, a checkout, or editable). PyPI's ``shipyard`` is
another project, so the image cannot ask an index for it. This packs the installed
package folder and its metadata into a standard wheel (PEP 427): pure Python, so
``py3-none-any``. The bytes are reproducible (sorted entries, a fixed date), so an
unchanged shipyard leaves Docker's layer cache valid.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from importlib import metadata
from pathlib import Path

_DATE = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = frozenset({"__pycache__"})


def shipyard_wheel() -> tuple[str, bytes]:
    """The file name and the bytes of a wheel of the shipyard running now."""
    dist = metadata.distribution("shipyard")
    version = dist.version
    info = f"shipyard-{version}.dist-info"
    package = Path(__file__).resolve().parents[1]  # the shipyard package folder
    entries: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package.parent)
        if path.is_dir() or _SKIP_DIRS & set(relative.parts) or path.suffix == ".pyc":
            continue
        entries[relative.as_posix()] = path.read_bytes()
    entries[f"{info}/METADATA"] = (dist.read_text("METADATA") or "").encode()
    entries[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: shipyard build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    entries[f"{info}/entry_points.txt"] = (dist.read_text("entry_points.txt") or "").encode()
    entries[f"{info}/top_level.txt"] = b"shipyard\n"
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in entries.items()]
    entries[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            entry = zipfile.ZipInfo(name, date_time=_DATE)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, data)
    return f"shipyard-{version}-py3-none-any.whl", buffer.getvalue()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
