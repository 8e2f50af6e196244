"""The V2 codec against tritonclient's own encoder and decoder: binary tensors, datatypes.

Requests are made by ``InferenceServerClient.generate_request_body`` (what
``infer`` sends) and read by shipyard's codec; answers are made by shipyard's codec
and read by ``InferenceServerClient.parse_response_body`` (what ``infer`` returns).
The same over a real server, with a real ``InferenceServerClient``, is in
``test_v2_tritonclient.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from serving_support import PROJECT
from tritonclient.utils import np_to_triton_dtype

import shipyard
from shipyard.serving.app import ServingApp
from shipyard.serving.codecs import Reply
from shipyard.serving.codecs.v2 import metadata, v2_answer
from shipyard.serving.codecs.v2_binary import split_body
from shipyard.serving.cors import Cors
from shipyard.serving.deployment import Outcome
from shipyard.serving.validation import MalformedRequestError

NUMERIC = [
    np.bool_,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.float16,
    np.float32,
    np.float64,
]
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4)


def _request(*arrays: tuple[str, np.ndarray], binary: bool = True) -> tuple[bytes, bytes | None]:
    """The body and ``Inference-Header-Content-Length`` tritonclient sends for ``arrays``."""
    inputs = []
    for name, array in arrays:
        tensor = triton.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        inputs.append(tensor.set_data_from_numpy(array, binary_data=binary))
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs)
    return body, None if json_size is None else str(json_size).encode()


def _data(body: Any, index: int = 0) -> list[Any]:
    data: list[Any] = body["inputs"][index]["data"]
    return data


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(NUMERIC).flatmap(lambda t: hnp.arrays(t, SHAPES)))
def test_every_fixed_size_datatype_reads_as_tritonclient_wrote_it(array: np.ndarray) -> None:
    body = split_body(*_request(("x", array)))
    assert body["inputs"][0]["parameters"]["binary_data_size"] == array.nbytes
    np.testing.assert_array_equal(np.array(_data(body), dtype=array.dtype), array.reshape(-1))


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.object_, SHAPES, elements=st.text(max_size=12)))
def test_bytes_elements_read_as_text(array: np.ndarray) -> None:
    encoded = np.vectorize(lambda s: s.encode(), otypes=[object])(array)
    body = split_body(*_request(("x", encoded)))
    assert _data(body) == array.reshape(-1).tolist()


def test_bf16_and_several_inputs_in_order() -> None:
    half = np.array([1.5, -2.0, 0.25], dtype=ml_dtypes.bfloat16)
    flags = np.array([[True], [False], [True]])
    names = np.array([b"DE", "zürich".encode(), b""], dtype=object)
    body = split_body(*_request(("half", half), ("flags", flags), ("names", names)))
    assert [_data(body, i) for i in range(3)] == [
        [1.5, -2.0, 0.25],
        [True, False, True],
        ["DE", "zürich", ""],
    ]


def test_json_tensors_and_binary_ones_in_one_request() -> None:
    ages = np.array([30, 60], dtype=np.int64)
    body, length = _request(("age", ages))
    json_body, none = _request(("amount", np.array([1.0, 2.0])), binary=False)
    assert none is None and split_body(json_body, None)["inputs"][0]["data"] == [1.0, 2.0]
    assert split_body(body, length)["inputs"][0]["data"] == [30, 60]


def _refused(body: bytes, length: bytes | None) -> str:
    with pytest.raises(MalformedRequestError) as refused:
        split_body(body, length)
    assert refused.value.http_status == 400
    return refused.value.message


def test_sizes_are_checked_exactly() -> None:
    body, length = _request(("age", np.array([30, 60], dtype=np.int64)))
    assert length is not None
    header, data = body[: int(length)], body[int(length) :]
    assert "add up to 16" in _refused(header + data + b"\0", length)
    assert "add up to 16" in _refused(header + data[:-1], length)
    assert "binary_data_size add up" in _refused(header, None)  # no header: no binary data
    with pytest.raises(MalformedRequestError) as unsaid:
        split_body(header + data, None)
    assert "Inference-Header-Content-Length" in str(unsaid.value.hint)
    wrong = header.replace(b'"shape":[2]', b'"shape":[3]')
    message = _refused(wrong + data, str(len(wrong)).encode())
    assert "shape [3] of INT64 takes 24 bytes (3 x 8), but binary_data_size is 16" in message
    assert "not one JSON object" in _refused(body, str(int(length) - 1).encode())


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (b"abc", "must be a whole number of bytes, got 'abc'"),
        (b"-1", "must be a whole number of bytes"),
        (b"99999", "is 99999, but the body has only"),
    ],
)
def test_a_bad_header_length_is_refused(value: bytes, said: str) -> None:
    body, _ = _request(("age", np.array([30], dtype=np.int64)))
    assert said in _refused(body, value)


def test_bad_elements_are_refused_with_where_they_are() -> None:
    names = np.array([b"DE", b"PL"], dtype=object)
    body, length = _request(("names", names))
    assert length is not None
    cut = int(length)
    overrun = body[:cut] + body[cut:].replace(b"\x02\x00\x00\x00PL", b"\x09\x00\x00\x00PL")
    assert "BYTES element 1 says 9 bytes, but only 2 are left" in _refused(overrun, length)
    latin = body[:cut] + body[cut:].replace(b"PL", b"\xe9L")
    assert "inputs[0] (names): BYTES element 1 is not UTF-8 text" in _refused(latin, length)
    flags, flag_length = _request(("flags", np.array([True, False])))
    assert flag_length is not None
    two = flags[: int(flag_length)] + b"\x01\x02"
    assert "a BOOL element is one byte, 0 or 1; got 2" in _refused(two, flag_length)
    both = body[:cut].replace(b'"parameters"', b'"data":["x","y"],"parameters"')
    said = _refused(both + body[cut:], str(len(both)).encode())
    assert "has both 'data' and parameters.binary_data_size" in said
    odd = body[:cut].replace(b'"BYTES"', b'"FLOAT"')
    assert 'datatype "FLOAT" is not one of BOOL' in _refused(
        odd + body[cut:], str(len(odd)).encode()
    )


# -- answers ---------------------------------------------------------------------------------
def _answer(outcome: Outcome, body: dict[str, Any]) -> triton.InferResult:
    """What tritonclient's ``infer`` returns for shipyard's answer to ``body``."""
    answer = v2_answer("m", outcome, [f"id-{i}" for i in range(len(outcome.predictions))], body)
    if isinstance(answer, Reply):
        headers = dict(answer.headers)
        assert headers[b"content-type"] == b"application/octet-stream"
        length = int(headers[b"inference-header-content-length"])
        return triton.InferenceServerClient.parse_response_body(answer.body, header_length=length)
    return triton.InferenceServerClient.parse_response_body(
        orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    )


ALL_BINARY = {"parameters": {"binary_data_output": True}}
PROBA = np.array([[0.9, 0.1], [0.2, 0.8]])


@pytest.mark.parametrize(
    ("classes", "labels", "datatype"),
    [
        ([False, True], np.array([False, True]), "BOOL"),
        ([0, 1], np.array([0, 1]), "INT64"),
        (["no", "yes"], np.array(["no", "yes"]), "BYTES"),
    ],
)
@pytest.mark.parametrize("body", [ALL_BINARY, {}], ids=["binary", "json"])
def test_labels_read_back_as_the_model_gave_them(
    classes: list[Any], labels: np.ndarray, datatype: str, body: dict[str, Any]
) -> None:
    result = _answer(Outcome(labels, PROBA, "model", 3, classes=classes), body)
    assert result.get_output("predict")["datatype"] == datatype
    got = result.as_numpy("predict")
    assert got is not None
    if datatype == "BYTES":
        got = np.array([v.decode() if isinstance(v, bytes) else v for v in got])
    np.testing.assert_array_equal(got, labels)
    np.testing.assert_array_equal(result.as_numpy("predict_proba"), PROBA)
    assert result.get_response()["parameters"]["prediction_ids"] == ["id-0", "id-1"]


def test_each_output_says_its_own_form() -> None:
    body = {
        "parameters": {"binary_data_output": True},
        "outputs": [
            {"name": "predict_proba", "parameters": {"binary_data": False}},
            {"name": "predict"},
        ],
    }
    result = _answer(
        Outcome(np.array([False, True]), PROBA, "model", 3, classes=[False, True]), body
    )
    outputs = result.get_response()["outputs"]
    assert [o["name"] for o in outputs] == ["predict_proba", "predict"]
    assert "data" in outputs[0] and outputs[1]["parameters"] == {"binary_data_size": 2}
    np.testing.assert_array_equal(result.as_numpy("predict"), [False, True])


def test_a_fallback_answers_in_the_declared_datatype() -> None:
    # a regressor's default written as 0; a rule's false among labels 0 and 1; a rule with
    # no probabilities beside the model's rows
    regressor = _answer(Outcome([0, 0], None, "default", None, degraded=True), ALL_BINARY)
    assert regressor.get_output("predict")["datatype"] == "FP64"
    np.testing.assert_array_equal(regressor.as_numpy("predict"), [0.0, 0.0])
    ruled = Outcome([1, False], [[0.3, 0.7], None], "mixed", 3, degraded=True, classes=[0, 1])
    result = _answer(ruled, ALL_BINARY)
    assert result.get_output("predict")["datatype"] == "INT64"
    np.testing.assert_array_equal(result.as_numpy("predict"), [1, 0])
    proba = result.as_numpy("predict_proba")
    assert proba is not None and proba[0].tolist() == [0.3, 0.7] and np.isnan(proba[1]).all()
    as_json = _answer(ruled, {})
    assert as_json.get_output("predict_proba")["data"] == [0.3, 0.7, None, None]


def test_a_listed_origin_may_send_and_read_the_length_header() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "method": "OPTIONS",
        "headers": [
            (b"origin", b"https://app.example"),
            (b"access-control-request-method", b"POST"),
            (b"access-control-request-headers", b"inference-header-content-length"),
        ],
    }
    cors = Cors(["https://app.example"])
    asyncio.run(cors.answer_options(scope, send, ("POST", "OPTIONS")))
    allowed = dict(sent[0]["headers"])[b"access-control-allow-headers"]
    exposed = dict(cors.headers(b"https://app.example"))[b"access-control-expose-headers"]
    assert sent[0]["status"] == 204
    assert b"inference-header-content-length" in allowed.lower()
    assert b"inference-header-content-length" in exposed.lower()


def test_with_no_model_loaded_the_target_column_says_the_labels(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text(PROJECT)  # nothing registered: no champion
    with shipyard.open(tmp_path) as project:
        deployment = ServingApp(project, {"risk": "champion"}, environ={}).deployments["risk"]
    assert deployment.current is None
    declared = {o["name"]: o["datatype"] for o in metadata(deployment, "bool")["outputs"]}
    assert declared == {"predict": "BOOL", "predict_proba": "FP64"}
    default = Outcome([False], [[0.5, 0.5]], "default", None, degraded=True)  # its fallback
    answered = _answer(default, ALL_BINARY).get_response()["outputs"]
    assert {o["name"]: o["datatype"] for o in answered} == declared
