"""CORS for ``server.cors_origins``: preflights, and the headers that let a page read answers.

The browser asks before a cross-origin request that a plain form could not send (a
JSON body, an ``Authorization`` header, a PUT): an ``OPTIONS`` *preflight* with
``Origin``, ``Access-Control-Request-Method`` and ``Access-Control-Request-Headers``.
Following the Fetch standard's CORS protocol (https://fetch.spec.whatwg.org/#http-cors-protocol),
the server answers with what it allows and the browser decides:

- the preflight of a listed origin gets 204 with ``Access-Control-Allow-Methods`` (the
  route's methods), ``Access-Control-Allow-Headers`` (those requested that a request
  here may carry: a header the browser asked for and does not see listed makes it
  refuse the request) and ``Access-Control-Max-Age``; ``Access-Control-Allow-Origin``
  is added by :class:`.origin.CrossSite` as on every answer to that origin;
- the preflight of any other origin gets 403 without CORS headers: the browser blocks
  the request (the status is the server's choice; ours says why to whoever looks);
- an ``OPTIONS`` that is no preflight (no ``Origin`` or no requested method) gets 204
  with ``Allow``, RFC 9110's answer to "what does this resource take?".

``['*']`` allows every origin: answers then carry ``Access-Control-Allow-Origin: *``
(no ``Vary``: the answer is the same for all). The server uses no cookies, so no
request needs ``Access-Control-Allow-Credentials``; a bearer token is an
``Authorization`` header, which a preflight must allow by name (Fetch: ``*`` in
``Access-Control-Allow-Headers`` never covers it), and does.
Without ``server.cors_origins``, ``OPTIONS`` is a method like any other the routes do
not take: 405 with ``Allow`` (:mod:`.methods`).
"""

from __future__ import annotations

from collections.abc import Iterable

from .auth import denied
from .http import HttpError, Scope, Send, header

ANY = "*"
REQUEST_HEADERS = frozenset(
    {
        b"authorization",  # the bearer token
        b"content-type",  # application/json is no "simple" type: it is always asked for
        b"content-encoding",  # compressed bodies
        b"inference-header-content-length",  # V2 binary tensors
        b"x-shipyard-model",  # the model of /invocations
    }
)
"""The request headers a cross-origin page may send (the CORS-safelisted ones need no leave)."""
EXPOSED = b"X-Shipyard-Version, Inference-Header-Content-Length"  # a V2 binary answer's split
"""The response headers a page may read beyond the safelisted ones."""
MAX_AGE = b"600"
"""How long a browser may keep a preflight's answer, in seconds (Chromium caps it at 7200)."""


class Cors:
    """The origins of ``server.cors_origins`` and the CORS headers they get."""

    def __init__(self, origins: Iterable[str]) -> None:
        given = list(origins)
        self.any = ANY in given
        self.listed = frozenset(o.lower().encode() for o in given if o != ANY)
        self.enabled = self.any or bool(self.listed)

    def allows(self, origin: bytes | None) -> bool:
        """Whether a page of ``origin`` may call (and write): listed, or every one with ``*``."""
        return origin is not None and (self.any or origin.lower() in self.listed)

    def headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """The CORS headers of an answer to a request from ``origin`` (no Allow-Origin unless allowed).

        With listed origins every answer varies by ``Origin`` (caches keep the answers for
        different origins apart); with ``*`` none does.
        """
        if self.any:
            return [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", EXPOSED),
            ]
        extra = [(b"vary", b"Origin")]
        if origin is not None and origin.lower() in self.listed:
            extra.append((b"access-control-allow-origin", origin))
            extra.append((b"access-control-expose-headers", EXPOSED))
        return extra

    async def answer_options(self, scope: Scope, send: Send, allow: tuple[str, ...]) -> None:
        """204 to an ``OPTIONS`` of a route: ``Allow``, and for a preflight what it may do;
        403 to the preflight of an origin that is not allowed."""
        origin = header(scope, b"origin")
        preflight = origin is not None and header(scope, b"access-control-request-method")
        if preflight and not self.allows(origin):
            raise denied(
                scope,
                HttpError(
                    403,
                    "forbidden",
                    f"cross-origin requests from {show(origin)} are not allowed here",
                    hint="list the origin in server.cors_origins to allow its pages to call",
                ),
                f"preflight from unlisted origin {show(origin)}",
            )
        methods = ", ".join(allow).encode()
        headers = [(b"allow", methods)]
        if preflight:
            headers += [
                (b"access-control-allow-methods", methods),
                (b"access-control-max-age", MAX_AGE),
                (b"vary", b"Access-Control-Request-Headers"),
            ]
            granted = _granted(header(scope, b"access-control-request-headers"))
            if granted:
                headers.append((b"access-control-allow-headers", granted))
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": headers,
            }
        )
        await send({"type": "http.response.body", "body": b""})


def show(value: bytes | None) -> str:
    """A header value for a message: quoted, cut at 100 characters."""
    return repr((value or b"")[:100].decode("latin-1"))


def _granted(requested: bytes | None) -> bytes:
    """The requested header names a request here may carry, in the order asked, lower-case."""
    if not requested:
        return b""
    names = (name.strip().lower() for name in requested.split(b","))
    return b", ".join(dict.fromkeys(n for n in names if n in REQUEST_HEADERS))
