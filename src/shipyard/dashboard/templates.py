"""The dashboard's Jinja2 environment: autoescape on, strict about undefined names.

Every value a template prints is escaped unless a view marks it as markup on purpose
(the charts, drawn and escaped by :mod:`shipyard.charts`). Jinja2 is imported on the
first page only: ``import shipyard`` and a serving worker never load it.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .http import Request, Response

if TYPE_CHECKING:
    import jinja2

FOLDER = Path(__file__).parent / "templates"

_lock = threading.Lock()
_environment: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    """The one environment of this process (made on first use, shared by threads)."""
    global _environment
    with _lock:
        if _environment is None:
            import jinja2

            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(FOLDER),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.filters["when"] = when
            env.filters["ago"] = ago
            env.filters["number"] = number
            env.filters["percent"] = percent
            _environment = env
        return _environment


def render(request: Request, template: str, code: int = 200, **context: Any) -> Response:
    """``template`` rendered with ``context`` (and the request, the project's name)."""
    page = environment().get_template(template)
    body = page.render(request=request, project=request.project.name, **context)
    return Response(code, body.encode())


def when(value: datetime | None) -> str:
    """``2026-12-03 16:20 UTC``, or an em dash for none."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago``, ``2 h ago``, ``4 days ago``; ``never`` for none."""
    if value is None:
        return "never"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    if seconds < 90:
        return "just now" if seconds < 45 else "1 min ago"
    if seconds < 5400:
        return f"{round(seconds / 60)} min ago"
    if seconds < 172_800:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def number(value: float | None, digits: int = 3) -> str:
    """A figure for people: ``0.912``, ``1,204``; an em dash for none."""
    if value is None:
        return "—"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0"


def percent(value: float | None) -> str:
    """``4.2%``; an em dash for none."""
    if value is None:
        return "—"
    return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"
