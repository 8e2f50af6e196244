"""References to versions: ``NAME@3``, ``NAME@latest``, ``NAME@champion``, ``NAME@<hash prefix>``."""

from __future__ import annotations

import re

from shipyard.errors import NotFoundError

_REF = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?:@(?P<selector>[A-Za-z0-9][A-Za-z0-9_-]*))?$"
)


def parse_ref(ref: str, *, what: str = "version") -> tuple[str, str]:
    """``"loans@3"`` → ``("loans", "3")``; a bare name means ``latest``."""
    match = _REF.match(ref.strip())
    if not match:
        raise NotFoundError(
            f"'{ref}' is not a {what} reference",
            hint="write NAME@3, NAME@latest, NAME@<alias> or NAME@<hash prefix>",
        )
    return match["name"], match["selector"] or "latest"
