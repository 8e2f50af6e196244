"""The dashboard's ASGI app: find the route, run its page in a thread, answer with headers.

Pages call the Project API (database and artifact store reads), so each runs in one
of a few threads of the app's own (``threads``, 4 by default): a slow page never
stalls the event loop, and under ``shipyard serve`` never the predictions that share
it. At most ``threads`` pages run at once; further requests wait their turn, up to
``WAITING_PER_THREAD`` per thread: past that a page is refused at once with 503 and
``Retry-After`` (a flood of page loads, a script refreshing in a loop, cannot queue
without end, hold memory, or take the CPU the predictions beside it need).

A path no route answers gets a 404 page, a method a route does not answer a 405 page
with ``Allow``, both in the dashboard's layout; a :class:`~shipyard.errors.ShipyardError`
a page raises becomes its status (404 for a model that does not exist) with the
message and hint in words; anything else a 500 page, logged with its traceback.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from shipyard.errors import ShipyardError

from .http import Request, Response, Router, redirect

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from shipyard.project import Project

    Scope = MutableMapping[str, Any]
    Message = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[Message]]
    Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger(__name__)

MAX_BODY = 1_000_000  # a form is small; more is refused with 413
PREFIX = "/ui"
WAITING_PER_THREAD = 8
BUSY = (
    b"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Busy \xc2\xb7 "
    b"shipyard</title></head><body><main><h1>The dashboard is busy</h1><p>Too many pages "
    b"are being drawn at once; this one was not started. Reload in a few seconds.</p>"
    b"</main></body></html>"
)


class DashboardApp:
    """The dashboard of one project, at ``prefix`` (``/ui``); an ASGI app."""

    def __init__(
        self,
        project: Project,
        *,
        prefix: str = PREFIX,
        threads: int = 4,
        router: Router | None = None,
    ) -> None:
        if router is None:
            from .routes import ROUTER

            router = ROUTER
        self.project = project
        self.prefix = prefix.rstrip("/")
        self.router = router
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="shipyard-ui")
        self.limit = threads * (1 + WAITING_PER_THREAD)  # pages running or waiting
        self.pending = 0  # changed on the event loop only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    def close(self) -> None:
        """Stop taking pages: those waiting are dropped, those running finish in their
        threads (the caller, a server shutting down, does not wait for them)."""
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer one HTTP request; return the status sent."""
        response = await self._respond(scope, receive)
        headers = response.head()
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else response.body
        await send({"type": "http.response.body", "body": body})
        return response.status

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        path: str = scope["path"]
        method: str = scope["method"]
        if path in ("", "/") and self.prefix:
            return redirect(self.prefix)
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            return await self._run(self._not_found, self._request(scope, {}, b""))
        relative = path[len(self.prefix) :]
        route, params = self.router.find(relative)
        if route is None:
            return await self._run(self._not_found, self._request(scope, {}, b""))
        if method not in route.allow():
            allow = ", ".join(route.allow())
            return await self._run(
                lambda r: self._not_allowed(r, allow), self._request(scope, params, b"")
            )
        body = b""
        if method == "POST":
            read = await _read_body(receive)
            if read is None:
                return await self._run(
                    lambda r: self._error(r, 413, "the form is larger than 1 MB", None),
                    self._request(scope, params, b""),
                )
            body = read
        return await self._run(route.page, self._request(scope, params, body))

    def _request(self, scope: Scope, params: dict[str, str], body: bytes) -> Request:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
        }
        return Request(
            method=scope["method"],
            path=scope["path"],
            params=params,
            query=query,
            headers=headers,
            body=body,
            project=self.project,
            prefix=self.prefix,
        )

    async def _run(self, page: Callable[[Request], Response], request: Request) -> Response:
        if self.pending >= self.limit:
            logger.warning(
                "dashboard: %d pages running or waiting; refused %s", self.pending, request.path
            )
            return Response(503, BUSY, headers=((b"retry-after", b"2"),))
        loop = asyncio.get_running_loop()
        self.pending += 1
        try:
            return await loop.run_in_executor(self.executor, self._answer, page, request)
        finally:
            self.pending -= 1

    def _answer(self, page: Callable[[Request], Response], request: Request) -> Response:
        """The page's response; its error as a page in the layout (in the page's thread)."""
        try:
            return page(request)
        except ShipyardError as exc:
            status = exc.http_status if 400 <= exc.http_status < 600 else 500
            return self._error(request, status, exc.message, exc.hint)
        except Exception:
            logger.exception("dashboard page %s failed", request.path)
            return self._error(
                request,
                500,
                "this page failed: the server's log has the details",
                "this is a bug in shipyard: please report it with the log",
            )

    def _not_found(self, request: Request) -> Response:
        return self._error(
            request, 404, f"there is no page at {request.path}", "start from the overview"
        )

    def _not_allowed(self, request: Request, allow: str) -> Response:
        response = self._error(
            request,
            405,
            f"{request.method} is not allowed on {request.path}",
            f"this page answers {allow}",
        )
        return Response(
            response.status,
            response.body,
            response.content_type,
            (*response.headers, (b"allow", allow.encode())),
        )

    def _error(self, request: Request, status: int, message: str, hint: str | None) -> Response:
        from .templates import render

        try:
            return render(request, "error.html", status, status=status, message=message, hint=hint)
        except Exception:  # the layout itself failed: still one line, never a traceback
            logger.exception("dashboard error page failed")
            return Response(status, f"{status}: {message}\n".encode(), "text/plain; charset=utf-8")


async def _read_body(receive: Receive) -> bytes | None:
    """The request body, or None past :data:`MAX_BODY`."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)
