"""Compressed request bodies: ``Content-Encoding: gzip`` or ``deflate``, inflated as they arrive.

The server's body limit (``server.max_body_mb``) counts the bytes the body inflates
to, as well as the bytes sent. Each piece the client sends is inflated at most
:data:`PIECE` bytes at a time (zlib's ``max_length``), and the count is checked after
every piece: a decompression bomb (10 MB of zeros gzipped to 10 kB) is refused with
413 once its inflated bytes pass the limit, having never been inflated whole.

As RFC 9110 (8.4) has it, ``Content-Encoding`` lists the codings in the order they
were applied (``gzip, deflate``: gzipped, then deflated); ``identity`` is no coding
and ``x-gzip`` is ``gzip``. ``deflate`` is the zlib format (RFC 1950, Python's
``zlib.compress``), checksummed as gzip is: a raw deflate stream, which has no
checksum, is refused rather than guessed at, so that a damaged body is never read
as other bytes.
Any other coding (``br``, ``zstd``, ``compress``) is refused with 415, which names the
accepted ones and carries them in ``Accept-Encoding`` (RFC 9110 12.5.3). A body that
is not what its coding says (corrupt, truncated, data past its end) is refused with
400 naming the coding.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from .validation import MalformedRequestError, RequestError

ACCEPTED = ("gzip", "deflate")
"""The content codings a request body may have (besides ``identity``), as ``Accept-Encoding``
says them."""

PIECE = 64 * 1024
"""The most bytes inflated in one step, so the limit is checked at least this often."""

_NAMES = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class UnsupportedEncodingError(RequestError):
    """415: the body has a content coding the server does not decode."""

    http_status = 415
    code = "unsupported_media_type"

    def __init__(self, coding: str) -> None:
        super().__init__(
            f"the request body's Content-Encoding {coding!r} is not accepted here; "
            f"accepted: {', '.join(ACCEPTED)} (or none)",
            hint="send the body uncompressed, or compressed with gzip or deflate",
        )

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"accept-encoding", ", ".join(ACCEPTED).encode())]


def codings(value: bytes | None) -> list[str]:
    """The codings ``Content-Encoding`` lists, in the order applied (``identity`` left out);
    415 for one not accepted."""
    if value is None:
        return []
    found: list[str] = []
    for token in value.decode("latin-1").split(","):
        coding = token.strip().lower()
        if not coding or coding == "identity":
            continue
        name = _NAMES.get(coding)
        if name is None:
            raise UnsupportedEncodingError(token.strip()[:40])
        found.append(name)
    return found


def corrupt(coding: str, what: str) -> MalformedRequestError:
    """400: the body is not what its coding says."""
    how = "gzip-compressed" if coding == "gzip" else "in the zlib format (zlib.compress)"
    return MalformedRequestError(
        f"the request body is not valid {coding} as its Content-Encoding says: {what}",
        hint=f"send the body {how}, whole, or drop the Content-Encoding header",
    )


class Inflater:
    """Inflates one coding's stream, piece by piece, never more than :data:`PIECE` at a step."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._inflate = zlib.decompressobj(_WBITS[coding])
        self._fed = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The inflated pieces of ``data``, the next bytes of the stream."""
        if data:
            self._fed = True
            yield from self._run(data)

    def end(self) -> Iterator[bytes]:
        """What is left once the stream has ended; 400 when it ends early."""
        if not self._fed:
            return  # an empty body stays empty
        yield from self._run(b"")
        if not self._inflate.eof:
            raise corrupt(self.coding, "the body ends before its compressed data does")

    def _run(self, data: bytes) -> Iterator[bytes]:
        inflate = self._inflate
        pending = data
        while True:
            if inflate.eof:
                if not pending:
                    return
                if self.coding != "gzip":
                    raise corrupt(self.coding, "there are bytes after the end of its data")
                inflate = self._inflate = zlib.decompressobj(_WBITS["gzip"])  # the next member
            try:
                out = inflate.decompress(pending, PIECE)
            except zlib.error as exc:
                raise corrupt(self.coding, _reason(exc)) from None
            if out:
                yield out
            pending = inflate.unused_data if inflate.eof else inflate.unconsumed_tail
            if not pending and len(out) < PIECE:
                return  # all input taken, nothing held back: wait for more


class Decoder:
    """Undoes the codings of one body, the last applied first, as its pieces arrive."""

    def __init__(self, applied: list[str]) -> None:
        self.applied = applied
        self._stages = [Inflater(coding) for coding in reversed(applied)]

    @property
    def name(self) -> str:
        return ", ".join(self.applied)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data`` (lazily: stop reading them to stop inflating)."""
        pieces: Iterable[bytes] = (data,)
        for stage in self._stages:
            pieces = _through(stage, pieces)
        yield from pieces

    def finish(self) -> Iterator[bytes]:
        """The decoded bytes held back until the end; 400 when a stream ends early."""
        for index, stage in enumerate(self._stages):
            pieces: Iterable[bytes] = stage.end()
            for later in self._stages[index + 1 :]:
                pieces = _through(later, pieces)
            yield from pieces


def decoder(value: bytes | None) -> Decoder | None:
    """The decoder of a body with ``Content-Encoding: value``, None for none; 415 if unknown."""
    applied = codings(value)
    return Decoder(applied) if applied else None


def _through(stage: Inflater, pieces: Iterable[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield from stage.feed(piece)


def _reason(exc: zlib.error) -> str:
    """zlib's reason without its error number ("Error -3 while decompressing data: ...")."""
    text = str(exc)
    return text.partition(": ")[2] or text
