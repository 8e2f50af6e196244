"""HTTP methods: which a route answers, 405 with ``Allow`` for the others, HEAD as GET.

Every route lists the methods it answers (``Route.methods``); two more are derived:

- ``HEAD`` wherever ``GET`` is: the GET handler answers and the body is dropped here,
  so the status and headers (``Content-Length`` of the GET body included) are GET's;
- ``OPTIONS`` on every route while ``server.cors_origins`` is set (see :mod:`.cors`).

A method the route does not answer gets 405 with ``Allow`` naming those it does. A
method this server implements nowhere gets 501 (RFC 9110, section 9.1: "An origin
server that receives a request method that is unrecognized or not implemented SHOULD
respond with the 501 (Not Implemented) status code"; 405 is for a method "known by
the origin server but not supported by the target resource"). The known methods are
RFC 9110's, PATCH (RFC 5789) and QUERY (the IETF's safe method with a body, which
clients and API fuzzers such as schemathesis already send): a ``DELETE``, ``TRACE``
or ``QUERY`` gets 405 with ``Allow``, a ``PROPFIND`` or ``FOO`` gets 501. (uvicorn's default parser, httptools, refuses a
method it does not know with 400 before the app sees it; under h11 it reaches here.)

Both are answered once the path has a route and before its tokens are checked, as
most servers do: ``Allow`` is the same for every model and every caller, and a client
that used the wrong method learns that rather than being told its token is missing.
"""

from __future__ import annotations

from .http import HttpError, Message, Send

KNOWN = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY"}
)
"""The methods of RFC 9110, PATCH and QUERY: anything else is not implemented here (501)."""

DERIVED = frozenset({"HEAD", "OPTIONS"})
"""The methods no route lists: HEAD follows GET, OPTIONS follows ``server.cors_origins``."""


class MethodNotAllowed(HttpError):
    """405: the path has a route, but not for this method; ``Allow`` names the ones it takes."""

    def __init__(self, method: str, methods: tuple[str, ...], allow: tuple[str, ...]) -> None:
        super().__init__(
            405, "method_not_allowed", f"use {' or '.join(methods)} here, not {method}"
        )
        self.allow = allow

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"allow", ", ".join(self.allow).encode())]


def known(method: str) -> None:
    """Refuse ``method`` with 501 unless some route could answer it (see the docstring)."""
    if method not in KNOWN:
        raise HttpError(
            501,
            "not_implemented",
            f"this server does not implement the method {method[:20]!r} on any path",
            hint="see /openapi.json for the methods of each path",
        )


def headers_only(send: Send) -> Send:
    """``send`` for a HEAD request: the start of GET's answer as it is, its body left out.

    The handler sets ``Content-Length`` from the body it would send, so a HEAD tells the
    size of the GET; uvicorn would drop the body too, but an ASGI app must not rely on it.
    """

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            message = {**message, "body": b""}
        await send(message)

    return sending
