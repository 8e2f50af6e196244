"""Slow and idle clients: a time limit on every connection state, and a cap per worker.

uvicorn waits for a request as long as the client takes, so a client that sends a
byte a second (slowloris) holds a connection, and a file descriptor, for good; with
enough of them nothing else gets in, not even the prediction log's own files. Here
every connection is in one state at a time::

    head ──► body ──► busy ──► idle ──► head ...
    (the request head (the app (kept alive, waiting
     is arriving)      answers) for the next request)

and each state but ``busy`` has a limit: ``server.header_timeout_s`` for the whole
head (a trickle does not reset it), ``server.body_timeout_s`` for the whole body,
``server.keep_alive_s`` idle. A connection past its limit is closed, with a 408
when a request had started, and counted in ``shipyard_connections_closed_total``.
``busy`` has no limit here: the model's latency budget bounds it.

At ``server.max_connections`` a new connection takes the place of the oldest idle
connection, else of the oldest one that has been sending its head for over a second
(half ``header_timeout_s`` when that is shorter): a real client sends its head at
once, so that one is slow. Else the new connection gets a 503 and is closed.

The hot path pays a dictionary update when a connection changes state; one timer per
worker sweeps the head and body states from their oldest entry, so time limits cost
nothing per byte or per request.

Descriptors: ``shipyard serve`` raises its soft ``RLIMIT_NOFILE`` to the hard limit
at start. The default cap is that limit minus a reserve of a quarter of it (at least
128), at most 4096; a larger ``max_connections`` is lowered to the limit minus 128.
The reserve holds the worker's own files (database, prediction log segments and
spool, metrics snapshots, models), and the listen backlog is kept to what the reserve
leaves beyond 64 of them, so that a burst of accepted connections, which holds
descriptors until it is refused, cannot take those either.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from shipyard.config.schema import ServerConfig

logger = logging.getLogger(__name__)

HEAD, BODY, BUSY, IDLE, CLOSED = "head", "body", "busy", "idle", "closed"
RESERVE_MIN = 128  # descriptors never given to connections
RESERVE_SHARE = 4  # the default reserve: a quarter of the limit, when that is more
CAP_MAX = 4096  # the default cap at most (memory, fairness), whatever the limit
OWN_FILES = 64  # a worker's own files at most (about 20 measured: database, log, loop)
BACKLOG_MIN = 8
BACKLOG_MAX = 2048
SLOW_HEAD_S = 1.0  # a head still arriving after this long is a slow client's
LOW_CAP = 64  # warn when the open-file limit leaves fewer connections than this

CLOSED_TOTAL = "shipyard_connections_closed_total"
OPEN = "shipyard_connections_open"
LIMIT = "shipyard_connections_limit"


class MetricSink(Protocol):
    """Where the guard counts (``Metrics``)."""

    def inc(self, name: str, labels: tuple[str, ...] = (), value: float = 1.0) -> None: ...

    def set(self, name: str, labels: tuple[str, ...], value: float) -> None: ...


@dataclass(frozen=True)
class Limits:
    """The time limits, the connection cap and the listen backlog of one worker."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: float = 5.0
    max_connections: int = CAP_MAX
    backlog: int = BACKLOG_MAX


def descriptor_limit() -> int | None:
    """This process's soft ``RLIMIT_NOFILE``; None when unlimited or unknown (Windows)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def raise_descriptor_limit() -> int | None:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit (workers inherit it); the limit now."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or soft == resource.RLIM_INFINITY:
        return descriptor_limit()
    # an unlimited hard limit is not a valid soft one everywhere (macOS caps it at OPEN_MAX)
    for target in [hard] if hard != resource.RLIM_INFINITY else [1_048_576, 10_240]:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        logger.info("raised the open-file limit from %d to %d", soft, target)
        break
    return descriptor_limit()


def limits_for(settings: ServerConfig | None, descriptors: int | None) -> Limits:
    """The limits ``settings`` ask for, with the cap and backlog that ``descriptors`` allow.

    ``cap + backlog + OWN_FILES <= descriptors`` whenever ``descriptors >= 2 * RESERVE_MIN``.
    """
    wanted = settings.max_connections if settings is not None else None
    if descriptors is None:
        cap, backlog = wanted or CAP_MAX, BACKLOG_MAX
    else:
        most = max(1, descriptors - RESERVE_MIN)
        reserve = max(RESERVE_MIN, descriptors // RESERVE_SHARE)
        cap = max(1, min(CAP_MAX, descriptors - reserve)) if wanted is None else min(wanted, most)
        if wanted is not None and wanted > most:
            logger.warning(
                "server.max_connections %d is more than the open-file limit (%d) allows with "
                "%d kept for the worker's own files; using %d (raise the limit with 'ulimit -n' "
                "or the container's nofile limit for more)",
                wanted,
                descriptors,
                RESERVE_MIN,
                cap,
            )
        elif cap < LOW_CAP and wanted is None:
            logger.warning(
                "the open-file limit (%d) leaves room for only %d connections per worker; "
                "raise it with 'ulimit -n' (or the container's nofile limit)",
                descriptors,
                cap,
            )
        backlog = max(BACKLOG_MIN, min(BACKLOG_MAX, descriptors - cap - OWN_FILES))
    if settings is None:
        return Limits(max_connections=cap, backlog=backlog)
    return Limits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        keep_alive_s=settings.keep_alive_s,
        max_connections=cap,
        backlog=backlog,
    )


def _answer(status: int, code: str, message: str, hint: str, extra: bytes = b"") -> bytes:
    """A whole HTTP response in the server's one JSON error shape, then the connection closes."""
    from .http import HttpError, error_payload

    body = json.dumps(error_payload(HttpError(status, code, message, hint=hint))[1]).encode()
    phrase = {408: b"Request Timeout", 503: b"Service Unavailable"}[status]
    return b"".join(
        [
            b"HTTP/1.1 %d %s\r\n" % (status, phrase),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            extra,
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class Connection(Protocol):
    """What the guard needs of a connection (a guarded uvicorn protocol)."""

    phase: str
    started: bool
    transport: asyncio.Transport
    cycle: Any
    loop: asyncio.AbstractEventLoop


class ConnectionGuard:
    """The connection states, time limits and cap of one worker (one event loop)."""

    def __init__(self, limits: Limits, figures: MetricSink | None = None) -> None:
        self.limits = limits
        self.figures = figures
        self.open = 0
        self.heads: OrderedDict[Connection, float] = OrderedDict()
        self.bodies: OrderedDict[Connection, float] = OrderedDict()
        self.idle: OrderedDict[Connection, float] = OrderedDict()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        shortest = min(limits.header_timeout_s, limits.body_timeout_s)
        self.tick_s = min(1.0, max(0.02, shortest / 4))
        self.slow_head_s = min(SLOW_HEAD_S, limits.header_timeout_s / 2)
        self.late_head = _answer(
            408,
            "request_timeout",
            f"the request head did not arrive within {limits.header_timeout_s:g} s",
            "send the whole request at once; the server's limit is server.header_timeout_s",
        )
        self.late_body = _answer(
            408,
            "request_timeout",
            f"the request body did not arrive within {limits.body_timeout_s:g} s",
            "send smaller bodies or faster; the server's limit is server.body_timeout_s",
        )
        self.full = _answer(
            503,
            "too_many_connections",
            f"the server is at its limit of {limits.max_connections} connections per worker",
            "retry in a moment, and reuse connections (keep-alive); see server.max_connections",
            b"retry-after: 1\r\n",
        )
        if figures is not None:
            figures.set(LIMIT, (), limits.max_connections)
            figures.set(OPEN, (), 0)

    # -- events from the protocol ---------------------------------------------------------
    def made(self, conn: Connection) -> None:
        """A new connection: admitted in the ``head`` state, or refused at the cap."""
        loop = self.loop
        if loop is None:
            loop = self.loop = conn.loop
        now = loop.time()
        conn.started = False
        if self.open >= self.limits.max_connections and not self._make_room(now):
            conn.phase = CLOSED
            self._count("refused")
            conn.transport.write(self.full)
            conn.transport.close()
            return
        self.open += 1
        conn.phase = HEAD
        self.heads[conn] = now
        if self._timer is None:
            self._timer = loop.call_later(self.tick_s, self._tick)
        if self.figures is not None:
            self.figures.set(OPEN, (), self.open)

    def move(self, conn: Connection, phase: str) -> None:
        """``conn`` is now in ``phase``; the clock of a head or body state starts now."""
        old = conn.phase
        if old is CLOSED:
            return
        if old is HEAD:
            self.heads.pop(conn, None)
            conn.started = False
        elif old is BODY:
            self.bodies.pop(conn, None)
        elif old is IDLE:
            self.idle.pop(conn, None)
        conn.phase = phase
        if phase is BUSY:
            return
        loop = self.loop
        assert loop is not None  # set by made()
        if phase is IDLE:
            self.idle[conn] = loop.time()
            return
        (self.heads if phase is HEAD else self.bodies)[conn] = loop.time()
        if self._timer is None:
            self._timer = loop.call_later(self.tick_s, self._tick)

    def lost(self, conn: Connection) -> None:
        if conn.phase is not CLOSED:
            self._forget(conn)

    def count(self, reason: str) -> None:
        self._count(reason)

    # -- inside ----------------------------------------------------------------------------
    def _make_room(self, now: float) -> bool:
        if self.idle:
            self._close(next(iter(self.idle)), "idle_evicted", None)
            return True
        if self.heads:
            conn, since = next(iter(self.heads.items()))
            if now - since >= self.slow_head_s:
                self._close(conn, "slow_evicted", self.full if conn.started else None)
                return True
        return False

    def _tick(self) -> None:
        self._timer = None
        loop = self.loop
        assert loop is not None
        now = loop.time()
        self._expire(self.heads, now - self.limits.header_timeout_s, "header_timeout")
        self._expire(self.bodies, now - self.limits.body_timeout_s, "body_timeout")
        if self.heads or self.bodies:
            self._timer = loop.call_later(self.tick_s, self._tick)

    def _expire(self, queue: OrderedDict[Connection, float], cutoff: float, reason: str) -> None:
        # entries are in the order they entered the state, and every one has the same limit
        while queue:
            conn, since = next(iter(queue.items()))
            if since > cutoff:
                return
            if queue is self.bodies:
                answer: bytes | None = self.late_body
            else:
                answer = self.late_head if conn.started else None
            self._close(conn, reason, answer)

    def _close(self, conn: Connection, reason: str, answer: bytes | None) -> None:
        self._forget(conn)
        self._count(reason)
        transport = conn.transport
        if transport.is_closing():
            return
        cycle = conn.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:
                answer = None
            cycle.disconnected = True  # whatever the app still sends goes nowhere
        if answer is not None:
            transport.write(answer)
        transport.close()

    def _forget(self, conn: Connection) -> None:
        phase = conn.phase
        if phase is HEAD:
            self.heads.pop(conn, None)
        elif phase is BODY:
            self.bodies.pop(conn, None)
        elif phase is IDLE:
            self.idle.pop(conn, None)
        conn.phase = CLOSED
        self.open -= 1
        if self.figures is not None:
            self.figures.set(OPEN, (), self.open)

    def _count(self, reason: str) -> None:
        if self.figures is not None:
            self.figures.inc(CLOSED_TOTAL, (reason,))


def protocol_class(guard: ConnectionGuard, http: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (``httptools`` or ``h11``) under ``guard``: uvicorn's ``http=``."""
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    if http not in ("httptools", "h11"):
        raise ValueError(f"http must be 'httptools', 'h11' or 'auto', got {http!r}")
    base = _httptools_protocol() if http == "httptools" else _h11_protocol()
    return type(base.__name__, (base,), {"guard": guard})


class _Guarded(asyncio.Protocol):
    """The hooks, the same on both uvicorn protocols (their request cycles look alike)."""

    guard: ClassVar[ConnectionGuard]
    phase: str = CLOSED
    started = False  # bytes of a request head arrived (a time-out then answers 408)
    transport: asyncio.Transport
    cycle: Any
    loop: asyncio.AbstractEventLoop
    timeout_keep_alive_task: asyncio.TimerHandle | None

    def _phase(self) -> str:
        cycle = self.cycle  # the request whose head came last (pipelined ones included)
        if cycle is not None and not cycle.response_complete:
            return BODY if cycle.more_body else BUSY
        # uvicorn's keep-alive timer runs while idle; bytes of a new head stop it
        return HEAD if self.timeout_keep_alive_task is None else IDLE

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.guard.made(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.lost(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        phase = self._phase()
        if phase is not self.phase:
            self.guard.move(self, phase)
        if phase is HEAD:
            self.started = True

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]  # on the uvicorn protocol
        if not self.transport.is_closing():
            phase = self._phase()
            if phase is not self.phase:
                self.guard.move(self, phase)

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self.guard.count("idle_timeout")
        super().timeout_keep_alive_handler()  # type: ignore[misc]  # on the uvicorn protocol


@cache
def _httptools_protocol() -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpTools(_Guarded, HttpToolsProtocol):
        pass

    return GuardedHttpTools


@cache
def _h11_protocol() -> type[asyncio.Protocol]:
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(_Guarded, H11Protocol):
        pass

    return GuardedH11
