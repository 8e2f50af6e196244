"""Compressed request bodies: gzip and deflate inflated on every route with a body, the
size limit counted after inflating (a bomb is refused unread), other codings 415."""

from __future__ import annotations

import gzip
import itertools
import json
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_support import LiveServer, make_project

import shipyard
from shipyard.serving.app import ServingApp
from shipyard.serving.compression import PIECE, Decoder, codings
from shipyard.serving.validation import MalformedRequestError

ROWS = [{"amount": 1000.0, "age": 30}, {"amount": 45000.0, "age": 60}]


def _raw_deflate(data: bytes) -> bytes:
    """A deflate stream without zlib's header and checksum (refused: see compression.py)."""
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


CODINGS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "gzip-members": lambda data: gzip.compress(data[:7]) + gzip.compress(data[7:]),
    "gzip, deflate": lambda data: zlib.compress(gzip.compress(data)),
}


def _header(coding: str) -> str:
    return coding.removesuffix("-members")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose body limit is 1 MB."""
    folder = tmp_path_factory.mktemp("compressed") / "proj"
    make_project(folder).close()
    config = folder / "shipyard.yaml"
    config.write_text(config.read_text().replace("server:\n", "server:\n  max_body_mb: 1\n", 1))
    project = shipyard.open(folder)
    try:
        with LiveServer(ServingApp(project, {"risk": "champion"})) as server:
            yield server
    finally:
        project.close()


@pytest.mark.parametrize("coding", list(CODINGS))
def test_compressed_bodies_on_every_route_with_a_body(small: LiveServer, coding: str) -> None:
    pack = CODINGS[coding]
    headers = {"Content-Encoding": _header(coding)}
    v2 = {
        "inputs": [
            {"name": "amount", "shape": [2], "datatype": "FP64", "data": [1000.0, 45000.0]},
            {"name": "age", "shape": [2], "datatype": "INT64", "data": [30, 60]},
        ]
    }
    with small.client() as client:
        plain = client.post("/v1/models/risk/predict", json=ROWS).json()
        native = client.post(
            "/v1/models/risk/predict",
            content=pack(json.dumps(ROWS).encode()),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert native.status_code == 200, native.text
        assert native.json()["predictions"] == plain["predictions"]
        infer = client.post(
            "/v2/models/risk/infer", content=pack(json.dumps(v2).encode()), headers=headers
        )
        assert infer.status_code == 200, infer.text
        csv = client.post(
            "/invocations",
            content=pack(b"amount,age\n1000,30\n45000,60\n"),
            headers={**headers, "Content-Type": "text/csv"},
        )
        assert csv.status_code == 200, csv.text
        assert csv.json() == {"predictions": plain["predictions"]}
        label = {"prediction_id": plain["prediction_ids"][0], "label": True}
        feedback = client.post(
            "/v1/models/risk/feedback", content=pack(json.dumps(label).encode()), headers=headers
        )
        assert feedback.status_code == 202, feedback.text


def test_a_decompression_bomb_is_refused_with_413(small: LiveServer) -> None:
    """10 MB of zeros gzipped to about 10 kB, against a limit of 1 MB."""
    bomb = gzip.compress(b"0" * 10_000_000)
    assert len(bomb) < 50_000
    with small.client() as client:
        answer = client.post(
            "/v1/models/risk/predict", content=bomb, headers={"Content-Encoding": "gzip"}
        )
        after = client.post("/v1/models/risk/predict", json=ROWS)
    assert answer.status_code == 413, answer.text
    payload = answer.json()
    assert payload["code"] == "too_large"
    assert "inflates to over the limit of 1 MB" in payload["error"]
    assert "gzip" in payload["error"] and "max_body_mb" in payload["hint"]
    assert after.status_code == 200


@pytest.mark.parametrize(
    ("body", "coding", "said"),
    [
        (b"{not gzip at all}", "gzip", "not valid gzip"),
        (gzip.compress(json.dumps(ROWS).encode())[:-12], "gzip", "ends before"),
        (zlib.compress(b"[]") + b"junk", "deflate", "bytes after the end"),
        (b"\x78", "deflate", "ends before"),
        (_raw_deflate(b"[]"), "deflate", "not valid deflate"),
    ],
    ids=["not-gzip", "truncated", "trailing-junk", "one-byte", "raw-deflate"],
)
def test_a_corrupt_body_is_a_400_naming_its_coding(
    small: LiveServer, body: bytes, coding: str, said: str
) -> None:
    with small.client() as client:
        answer = client.post(
            "/v1/models/risk/predict", content=body, headers={"Content-Encoding": coding}
        )
    assert answer.status_code == 400, answer.text
    payload = answer.json()
    assert said in payload["error"] and payload["code"] == "malformed_request"
    assert "Content-Encoding" in payload["error"]


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br"])
def test_other_codings_are_refused_with_415_saying_which_are_accepted(
    small: LiveServer, coding: str
) -> None:
    with small.client() as client:
        answer = client.post(
            "/v1/models/risk/predict",
            content=json.dumps(ROWS).encode(),
            headers={"Content-Encoding": coding},
        )
        identity = client.post(
            "/invocations",
            content=json.dumps({"dataframe_records": ROWS}).encode(),
            headers={"Content-Encoding": "identity"},
        )
    assert answer.status_code == 415, answer.text
    payload = answer.json()
    assert payload["code"] == "unsupported_media_type"
    assert "accepted: gzip, deflate" in payload["error"]
    assert answer.headers["accept-encoding"] == "gzip, deflate"
    assert identity.status_code == 200, identity.text


def test_two_content_encoding_lines_are_one_list(small: LiveServer) -> None:
    """RFC 9110 5.3: ``Content-Encoding: gzip`` then ``Content-Encoding: deflate`` is
    ``gzip, deflate``: gzipped, then deflated."""
    body = zlib.compress(gzip.compress(json.dumps(ROWS).encode()))
    with small.client() as client:
        answer = client.post(
            "/v1/models/risk/predict",
            content=body,
            headers=[("Content-Encoding", "gzip"), ("Content-Encoding", "deflate")],
        )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 2


# -- the decoder alone --------------------------------------------------------------------
def _decode(applied: list[str], body: bytes, cuts: list[int]) -> bytes:
    decoder = Decoder(applied)
    pieces: list[bytes] = []
    edges = [0, *sorted(c % (len(body) + 1) for c in cuts), len(body)]
    for start, end in itertools.pairwise(edges):
        for piece in decoder.feed(body[start:end]):
            assert len(piece) <= PIECE
            pieces.append(piece)
    pieces.extend(decoder.finish())
    return b"".join(pieces)


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=3000) | st.builds(lambda n: b"ab" * n, st.integers(0, 100_000)),
    coding=st.sampled_from(list(CODINGS)),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
)
def test_any_bytes_in_any_chunks_come_back_exactly(
    data: bytes, coding: str, cuts: list[int]
) -> None:
    body = CODINGS[coding](data)
    assert _decode(codings(_header(coding).encode()), body, cuts) == data


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=2000),
    coding=st.sampled_from(list(CODINGS)),
    where=st.integers(0, 10**6),
    flip=st.integers(1, 255),
    cut=st.booleans(),
    cuts=st.lists(st.integers(0, 10**6), max_size=5),
)
def test_a_damaged_body_comes_back_whole_or_is_a_clean_400(
    data: bytes, coding: str, where: int, flip: int, cut: bool, cuts: list[int]
) -> None:
    """A byte changed or the end cut off: the original (a header byte no check covers) or
    the one 400, never another exception or other bytes (both codings carry a checksum)."""
    body = bytearray(CODINGS[coding](data))
    at = where % len(body)
    if cut:
        del body[at:]
    else:
        body[at] ^= flip
    try:
        decoded = _decode(codings(_header(coding).encode()), bytes(body), cuts)
    except MalformedRequestError as exc:
        assert exc.http_status == 400 and "Content-Encoding" in exc.message
    else:
        assert decoded == data or (not body and not decoded)  # an empty body stays empty


@given(garbage=st.binary(max_size=500), coding=st.sampled_from(["gzip", "deflate"]))
def test_any_bytes_at_all_decode_or_are_a_clean_400(garbage: bytes, coding: str) -> None:
    try:
        _decode([coding], garbage, [len(garbage) // 2])
    except MalformedRequestError as exc:
        assert exc.http_status == 400


def test_codings_are_read_as_rfc_9110_says() -> None:
    assert codings(None) == [] and codings(b"identity") == [] and codings(b"") == []
    assert codings(b"GZIP") == ["gzip"] and codings(b"x-gzip") == ["gzip"]
    assert codings(b"gzip, identity, deflate") == ["gzip", "deflate"]
