"""Cross-site writes: the Origin of state-changing requests, CORS for listed origins, JSON only.

A web page on another site can make its visitor's browser send "simple" requests
here without asking the server first: a POST whose Content-Type is ``text/plain``,
``application/x-www-form-urlencoded`` or ``multipart/form-data``, or that has none.
With auth off (or a token the page does not need), that would be enough to poison
feedback labels or run predictions on the visitor's network. Two rules close it:

1. **Only JSON bodies.** A route that reads a JSON body accepts
   ``Content-Type: application/json`` (any parameters, any case) and answers 415 to
   any other type. A body with *no* Content-Type is read as JSON, so that plain
   clients keep working; a browser that sends one cross-site always sends an
   ``Origin`` too, and rule 2 refuses it.
2. **No foreign Origin on writes.** A POST, PUT, PATCH or DELETE whose ``Origin`` is
   neither this server's own (the authority in the ``Host`` header; any scheme, so a
   TLS proxy in front changes nothing) nor listed in ``server.cors_origins`` is
   refused with 403. Requests without ``Origin`` (curl, requests, MLflow's scoring
   client, other servers) are not from a browser page and go on to the token check.
   A server that listens on loopback only counts a *loopback* origin as its own: a
   page whose name was re-pointed at 127.0.0.1 (DNS rebinding) sends ``Host`` and
   ``Origin`` of its own site, which agree, and is refused all the same.

For a listed origin (or any, with ``['*']``) the server answers CORS preflights and
adds ``Access-Control-Allow-Origin`` to its answers (see :mod:`.cors`). Reads from a
foreign origin are answered without CORS headers, so the browser does not let the
page see them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .auth import denied
from .cors import Cors
from .exposure import is_loopback
from .http import HttpError, Message, Receive, Scope, Send, header, parse_json, read_body

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = b"application/json"
CSV = b"text/csv"
# The media types a route's body may have: JSON everywhere, and CSV on /invocations
# (MLflow's scoring server takes both; a browser must ask first before sending
# either cross-site, as neither is one of the "simple" types). V2 binary tensors
# (application/octet-stream, or none, with Inference-Header-Content-Length) are the
# V2 codec's (codecs/v2.py BODY_TYPES, codecs/v2_binary.py).
JSON_BODY = (JSON,)
INVOCATIONS_BODY = (JSON, CSV)

_DEFAULT_PORTS = {b"http": b":80", b"https": b":443"}


class CrossSite:
    """The Origin rules of one server: ``server.cors_origins`` and its own origin."""

    def __init__(self, cors_origins: Iterable[str], *, local: bool = True) -> None:
        self.cors = Cors(cors_origins)
        self.local = local  # listening on loopback only (the server says when it is not)

    def guard(self, scope: Scope, send: Send) -> Send:
        """Refuse a foreign-origin write (403); hand back ``send``, adding CORS headers if listed."""
        if not self.cors.enabled and scope["method"] not in STATE_CHANGING:
            return send  # nothing to refuse, nothing to add: no header scan
        origin = header(scope, b"origin")
        listed = self.cors.allows(origin)
        if (
            origin is not None
            and not listed
            and scope["method"] in STATE_CHANGING
            and not self._own(origin, header(scope, b"host"))
        ):
            raise denied(
                scope,
                HttpError(
                    403,
                    "forbidden",
                    f"cross-site request refused: origin {_show(origin)} is not this "
                    "server's own and not in server.cors_origins",
                    hint="a page on another site may not write here; if this one should, "
                    "list its origin in server.cors_origins",
                ),
                f"foreign origin {_show(origin)}",
            )
        if not self.cors.enabled:
            return send
        return _with_headers(send, self.cors.headers(origin))

    def _own(self, origin: bytes, host: bytes | None) -> bool:
        if not same_origin(origin, host):
            return False
        return not self.local or is_loopback(_hostname(origin.partition(b"://")[2]))


def require_body_type(scope: Scope, accepted: tuple[bytes, ...] = JSON_BODY) -> bytes:
    """The body's media type when it is one of ``accepted`` (none counts as JSON); else 415."""
    value = header(scope, b"content-type")
    if value is None:
        return JSON  # see rule 1: a browser sending no type cross-site was refused already
    if value in accepted:
        return value  # the common case, spelled plainly: no parsing
    media = value.split(b";", 1)[0].strip().lower()
    if media in accepted:
        return media
    if accepted == JSON_BODY:
        said = "a JSON body with Content-Type application/json"
    else:
        said = "Content-Type " + " or ".join(a.decode() for a in accepted)
    raise HttpError(
        415,
        "unsupported_media_type",
        f"expected {said}, got {_show(value)}",
        hint="send 'Content-Type: application/json' "
        "(curl: -H 'Content-Type: application/json'; Python: requests/httpx json=...)",
    )


async def read_json(scope: Scope, receive: Receive, limit: int) -> Any:
    """The request body as JSON: 415 for another Content-Type, 413 past ``limit``, 400."""
    require_body_type(scope)
    return parse_json(await read_body(scope, receive, limit))


def same_origin(origin: bytes, host: bytes | None) -> bool:
    """Whether ``origin`` (``scheme://host[:port]``) names the server the Host header named."""
    scheme, sep, authority = origin.lower().partition(b"://")
    if not sep or host is None:
        return False  # "null" (sandboxed frames, file: pages) is never this server
    host = host.lower()
    if authority == host:
        return True
    default = _DEFAULT_PORTS.get(scheme)
    return default is not None and authority.removesuffix(default) == host.removesuffix(default)


def _hostname(authority: bytes) -> str:
    name = authority.decode("latin-1")
    if name.startswith("["):
        return name[1 : name.find("]")]
    return name.rsplit(":", 1)[0] if name.rpartition(":")[2].isdigit() else name


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


def _show(value: bytes) -> str:
    return repr(value[:100].decode("latin-1"))
