"""The little HTTP the ASGI app needs: read a bounded body, answer JSON or text, one error shape.

Every error the server sends has the same JSON shape, pinned by a test::

    {"error": "what was wrong", "status": 422, "code": "invalid_request",
     "problems": ["rows[3].amount: expected a number, got \\"12,5\\""], "hint": "..."}

``error`` is a string, which is also what the Open Inference Protocol asks for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from itertools import chain
from typing import Any

import orjson

from shipyard.errors import ShipyardError

from .compression import decoder
from .validation import MalformedRequestError, TooLargeError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


class HttpError(ShipyardError):
    """An HTTP-level refusal with its own status and code (404 route, 405, 401, 403, 415, 503)."""

    def __init__(self, status: int, code: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.http_status = status
        self.code = code


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass ``limit`` bytes.

    A compressed body (``Content-Encoding: gzip`` or ``deflate``) is inflated as it
    arrives, and the limit counts both the bytes sent and the bytes they inflate to
    (see :mod:`.compression`); another coding is refused with 415 before reading.
    """
    length: bytes | None = None
    codings: list[bytes] = []  # several Content-Encoding lines are one list (RFC 9110 5.3)
    for key, value in scope["headers"]:  # both in one pass: this is every request's path
        if key == b"content-length" and length is None:
            length = bytes(value)
        elif key == b"content-encoding":
            codings.append(bytes(value))
    decoding = decoder(b",".join(codings)) if codings else None
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(int(length), limit)
    chunks: list[bytes] = []
    size = 0
    inflated = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HttpError(499, "client_closed", "the client went away before sending its body")
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(size, limit)
            if decoding is None:
                chunks.append(chunk)
        if decoding is not None:
            pieces = (
                decoding.feed(chunk) if more else chain(decoding.feed(chunk), decoding.finish())
            )
            for piece in pieces:
                inflated += len(piece)
                if inflated > limit:
                    raise _inflates_too_large(decoding.name, size, limit)
                chunks.append(piece)
        if not more:
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(size: int, limit: int) -> TooLargeError:
    return TooLargeError(
        f"the request body is over the limit of {limit / 1e6:g} MB (got {size / 1e6:.1f} MB so far)",
        hint="send fewer rows per request, or raise server.max_body_mb",
    )


def _inflates_too_large(coding: str, size: int, limit: int) -> TooLargeError:
    return TooLargeError(
        f"the request body inflates to over the limit of {limit / 1e6:g} MB "
        f"(Content-Encoding {coding}; {size / 1e6:.2f} MB sent so far); "
        "the limit counts the inflated bytes",
        hint="send fewer rows per request, or raise server.max_body_mb",
    )


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise MalformedRequestError("the request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        text = body[:100_000]
        if b"NaN" in text or b"Infinity" in text:
            raise MalformedRequestError(
                "the body is not valid JSON: NaN and Infinity are not JSON numbers",
                hint="send null for a missing value (where the feature is nullable)",
            ) from None
        if "recursion" in str(exc) or "depth limit" in str(exc):
            raise MalformedRequestError(
                "the body is nested too deeply to be a request", hint="send flat records"
            ) from None
        raise MalformedRequestError(f"the body is not valid JSON: {exc}") from None


async def send_bytes(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send, status: int, payload: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = orjson.dumps(payload, option=_DUMP_OPTIONS)
    await send_bytes(send, status, body, JSON_HEADERS + (extra or []))


def error_payload(exc: Exception) -> tuple[int, dict[str, Any]]:
    """The status and the one JSON error shape for ``exc``."""
    if isinstance(exc, ShipyardError):
        status = exc.http_status
        return status, {
            "error": exc.message,
            "status": status,
            "code": getattr(exc, "code", None) or _code(status),
            "problems": list(getattr(exc, "problems", []) or []),
            "hint": exc.hint,
        }
    return 500, {
        "error": "internal error: the server failed, not your request (see its log)",
        "status": 500,
        "code": "internal",
        "problems": [],
        "hint": None,
    }


def _code(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
        415: "unsupported_media_type",
        422: "invalid_request",
        503: "unavailable",
    }.get(status, "error")
