"""Routes as data: a :class:`Route` says what answers a path, a :class:`Router` finds it.

A route's path is a template with ``{name}``-style parameters. A template with
parameters matches the path's segments (slashes at either end do not count); one
without matches the exact path, unless its ``match`` says otherwise. Finding the
route of a request is one dict lookup on the path, or on its segment count and first
segment, then a check of the few literal segments of the routes found there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .http import Receive, Scope, Send
from .methods import DERIVED, MethodNotAllowed

if TYPE_CHECKING:
    from .app import ServingApp

Auth = Literal["none", "token", "admin"]
"""``none``: answered before tokens are looked at (probes); ``token``: ``SHIPYARD_API_TOKEN``
when ``server.require_token`` is on; ``admin``: ``SHIPYARD_ADMIN_TOKEN``."""

Match = Literal["exact", "segments", "head"]
"""How a route matches a path: the exact path, its segments, or its first segment only."""

OTHER = "other"
"""The metric label of a path no route template matches."""


class Call(NamedTuple):
    """One request as a handler sees it: the ASGI triple, the path's parameters, its start."""

    scope: Scope
    receive: Receive
    send: Send
    params: dict[str, str]
    started: float
    route: Route


Handler = Callable[["ServingApp", Call], Awaitable[tuple[int, str]]]
"""Answers a request; returns its status and the model it named (``""`` for none)."""

Check = Callable[["ServingApp", dict[str, str]], None]
Operation = dict[str, Any] | Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    """What answers one path template.

    ``methods`` are the methods it answers, GET, POST or PUT (HEAD and OPTIONS follow
    from them, see :mod:`.methods`). ``probe``: a request
    does not keep a draining worker up. ``prediction``: a refused request counts in the
    model's refusals (the prediction log's rejections). ``protocol``: the name of the
    protocol whose rows a prediction route reads. ``check`` runs once the token is
    checked, before the handler (V2 answers 404 for a model or version it does not serve).
    ``openapi`` is the route's operation in ``/openapi.json``; ``per_model`` documents
    one path per served model (the operation is then called with the model's name).
    """

    path: str
    handler: Handler
    methods: tuple[str, ...]
    auth: Auth = "token"
    probe: bool = False
    prediction: bool = False
    protocol: str = ""
    match: Match | None = None
    check: Check | None = None
    openapi: Operation | None = None
    per_model: bool = False
    segments: tuple[str, ...] = field(init=False, repr=False)
    params: tuple[str, ...] = field(init=False, repr=False)
    _literals: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    _slots: tuple[tuple[int, str], ...] = field(init=False, repr=False, compare=False)
    _allow: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _allow_options: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.methods or any(m != m.upper() or m in DERIVED for m in self.methods):
            raise ValueError(
                f"route {self.path}: methods must be upper-case and name at least one, "
                f"without HEAD (it follows GET) or OPTIONS (it follows server.cors_origins); "
                f"got {self.methods!r}"
            )
        head = ("HEAD",) if "GET" in self.methods else ()
        object.__setattr__(self, "_allow", (*self.methods, *head))
        object.__setattr__(self, "_allow_options", (*self.methods, *head, "OPTIONS"))
        segments = tuple(self.path.strip("/").split("/"))
        slots = tuple((i, s[1:-1]) for i, s in enumerate(segments) if s[:1] == "{")
        literals = tuple((i, s) for i, s in enumerate(segments) if s[:1] != "{")
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "params", tuple(name for _, name in slots))
        object.__setattr__(self, "_literals", literals)
        object.__setattr__(self, "_slots", slots)

    @property
    def label(self) -> str:
        """The metric ``route`` label: the template itself."""
        return self.path

    def allow(self, *, options: bool) -> tuple[str, ...]:
        """Every method the route answers: its own, HEAD with GET, OPTIONS when ``options``."""
        return self._allow_options if options else self._allow

    @property
    def matching(self) -> Match:
        return self.match or ("segments" if self.params else "exact")

    def bind(self, parts: list[str]) -> dict[str, str] | None:
        """The parameters when ``parts`` (as many segments as the template) fit it, else None."""
        for index, literal in self._literals:
            if parts[index] != literal:
                return None
        return {name: parts[index] for index, name in self._slots}


class Router:
    """Finds the route of a path, and the ``route`` label of any path."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        seen = [r.path for r in self.routes]
        if len(seen) != len(set(seen)):
            raise ValueError(f"two routes share a path template: {sorted(seen)}")
        self._exact: dict[str, Route] = {}
        self._head: dict[str, Route] = {}
        self._segments: dict[tuple[int, str], tuple[Route, ...]] = {}
        self._labels: dict[tuple[int, str], tuple[Route, ...]] = {}
        for route in self.routes:
            key = (len(route.segments), route.segments[0])
            if route.matching == "exact":
                self._exact[route.path] = route
            elif route.matching == "head":
                self._head[route.segments[0]] = route
            else:
                self._segments[key] = (*self._segments.get(key, ()), route)
            if route.params:
                self._labels[key] = (*self._labels.get(key, ()), route)
        self.plain = frozenset(r.path for r in self.routes if not r.params)

    def find(self, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """The route answering ``path``, its parameters, and the path's segments."""
        parts = path.strip("/").split("/")
        route = self._exact.get(path)
        if route is None:
            route = self._head.get(parts[0])
        if route is not None:
            return route, {}, parts
        for candidate in self._segments.get((len(parts), parts[0]), ()):
            params = candidate.bind(parts)
            if params is not None:
                return candidate, params, parts
        return None, {}, parts

    def label(self, path: str) -> str:
        """The template ``path`` matches (``/v1/models/{name}/predict``), else ``other``.

        Paths without parameters count only when exact, so every value comes from the
        table's templates: a path a client makes up never becomes a new series.
        """
        if path in self.plain:
            return path
        parts = path.strip("/").split("/")
        for candidate in self._labels.get((len(parts), parts[0]), ()):
            if candidate.bind(parts) is not None:
                return candidate.path
        return OTHER


def allowed(route: Route, method: str, *, options: bool) -> None:
    """Refuse ``method`` with 405 (and ``Allow``) when ``route`` does not answer it."""
    allow = route.allow(options=options)
    if method not in allow:
        raise MethodNotAllowed(method, route.methods, allow)
