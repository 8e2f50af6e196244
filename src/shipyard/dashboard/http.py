"""Requests, responses and routes of the dashboard: plain records and a small router.

A page is a function of a :class:`Request` that returns a :class:`Response`; it runs
in a thread (it reads the database and the artifact store), never on the event loop.
Every response carries the same strict security headers (:data:`SECURITY_HEADERS`):
nothing is fetched from elsewhere, nothing runs but the package's own script, no
other site may frame the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from shipyard.project import Project

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
"""The Content-Security-Policy of every page: the package's stylesheet and script only."""

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)

HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Request:
    """One request as a page sees it: method, path, its parameters, query and body."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    project: Project
    prefix: str = "/ui"

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query argument ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def form(self) -> dict[str, list[str]]:
        """The body as an ``application/x-www-form-urlencoded`` form."""
        return parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)

    def url(self, path: str = "") -> str:
        """``path`` under the dashboard's prefix (``/ui/models/x``)."""
        return self.prefix + path


@dataclass(frozen=True)
class Response:
    """What a page answers: status, body, content type and any further headers."""

    status: int
    body: bytes
    content_type: str = HTML
    headers: tuple[tuple[bytes, bytes], ...] = ()
    csp: str | None = None  # another Content-Security-Policy (a stored report's own styles)

    def head(self) -> list[tuple[bytes, bytes]]:
        """Every header: content type and length, the security headers, then its own."""
        base = [
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(self.body)).encode()),
        ]
        security = [
            (name, self.csp.encode() if self.csp and name == b"content-security-policy" else value)
            for name, value in SECURITY_HEADERS
        ]
        own = list(self.headers)
        if not any(name == b"cache-control" for name, _ in own):
            own.append((b"cache-control", b"no-store"))
        return base + security + own


def redirect(location: str, status: int = 303) -> Response:
    """A redirect to ``location`` (a path on this server)."""
    return Response(status, b"", "text/plain; charset=utf-8", ((b"location", location.encode()),))


Page = Callable[[Request], Response]
"""A page: runs in a thread, may call the Project API, returns the response."""


@dataclass(frozen=True)
class Route:
    """What answers one path template (``/models/{name}``, under the dashboard's prefix).

    ``methods``: GET (HEAD follows it) for pages, POST for actions. A parameter matches
    one path segment; ``{name:path}`` as the last segment matches the rest of the path.
    """

    path: str
    page: Page
    methods: tuple[str, ...] = ("GET",)
    name: str = ""
    segments: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(s for s in self.path.split("/") if s))

    def allow(self) -> tuple[str, ...]:
        return (*self.methods, "HEAD") if "GET" in self.methods else self.methods

    def bind(self, parts: list[str]) -> dict[str, str] | None:
        """The parameters when ``parts`` fit the template, else None."""
        segments = self.segments
        rest = bool(segments) and segments[-1].endswith(":path}")
        if len(parts) != len(segments) and not (rest and len(parts) >= len(segments)):
            return None
        params: dict[str, str] = {}
        for index, segment in enumerate(segments):
            if segment.startswith("{"):
                key = segment[1:-1].split(":")[0]
                if rest and index == len(segments) - 1:
                    params[key] = "/".join(parts[index:])
                elif not parts[index]:
                    return None
                else:
                    params[key] = parts[index]
            elif parts[index] != segment:
                return None
        return params


class Router:
    """Finds the route of a path (relative to the prefix) and its parameters."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        paths = [r.path for r in self.routes]
        if len(paths) != len(set(paths)):
            raise ValueError(f"two dashboard routes share a path: {sorted(paths)}")

    def find(self, path: str) -> tuple[Route | None, dict[str, str]]:
        parts = [p for p in path.split("/") if p]
        for route in self.routes:
            params = route.bind(parts)
            if params is not None:
                return route, params
        return None, {}

    def url_for(self, route: str, /, **params: str) -> str:
        """The path of the route called ``route`` with ``params`` filled in (not quoted)."""
        for entry in self.routes:
            if entry.name == route:
                path = entry.path
                for key, value in params.items():
                    path = path.replace("{" + key + "}", value).replace("{" + key + ":path}", value)
                return path
        raise KeyError(f"no dashboard route named {route!r}")
