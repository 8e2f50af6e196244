"""The files under ``/ui/static/``: shipped in the package, served by name, nothing else.

Only the files in the package's ``static`` folder are served (a fixed table made when
the module loads): a path that names anything else is a 404, whatever it contains.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.errors import NotFoundError

from .http import Request, Response

FOLDER = Path(__file__).parent / "static"
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
FILES = {p.name: p for p in FOLDER.iterdir() if p.is_file() and p.suffix in TYPES}


def static_file(request: Request) -> Response:
    """One shipped file, cached by the browser for an hour."""
    name = request.params["file"]
    path = FILES.get(name)
    if path is None:
        raise NotFoundError(f"no static file '{name}'", hint="the dashboard ships dashboard.css")
    return Response(
        200,
        path.read_bytes(),
        TYPES[path.suffix],
        ((b"cache-control", b"public, max-age=3600"),),
    )
