"""Every bad request gets a 4xx in one error shape, listing its problems; none reaches the model."""

from __future__ import annotations

import json

import httpx
import pytest
from serving_support import LiveServer

SHAPE = {"error", "status", "code", "problems", "hint"}


def _batches(live: LiveServer) -> float:
    series = live.app.metrics.histograms.get("shipyard_batch_size", {})
    return sum(sum(counts[:-1]) for counts in series.values())


def _post(
    live: LiveServer, content: bytes | str, path: str = "/v1/models/risk/predict"
) -> httpx.Response:
    with live.client() as client:
        return client.post(path, content=content, headers={"content-type": "application/json"})


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    payload = response.json()
    assert set(payload) == SHAPE, payload
    assert payload["status"] == status and isinstance(payload["error"], str)
    return payload


def test_malformed_json(live: LiveServer) -> None:
    payload = _problem(_post(live, b'{"amount": 1000, "age": '), 400)
    assert "not valid JSON" in payload["error"]
    assert _problem(_post(live, b""), 400)["error"].startswith("the request body is empty")


def test_wrong_types_are_listed_by_row_and_field(live: LiveServer) -> None:
    rows = [{"amount": 1.0, "age": 30}, {"amount": 2.0, "age": 31}, {"amount": 3.0, "age": 32},
            {"amount": "12,5", "age": True}]  # fmt: skip
    before = _batches(live)
    payload = _problem(_post(live, json.dumps(rows)), 422)
    assert (
        'rows[3].amount: expected a number, got "12,5" (a string; send a JSON number)'
        in payload["problems"]
    )
    assert "rows[3].age: expected a number, got true" in payload["problems"]
    assert "nothing was passed to the model" in payload["error"]
    assert _batches(live) == before


def test_missing_and_extra_fields(live: LiveServer) -> None:
    payload = _problem(
        _post(live, json.dumps([{"amount": 1.0}, {"amount": 1.0, "age": 30, "zip": "x"}])), 422
    )
    assert payload["problems"] == [  # the unknown field hides nothing else (issue #16, item 9)
        "rows[0].age: required, missing",
        "rows[1].zip: unknown field; this model takes amount, age",
    ]
    payload = _problem(_post(live, json.dumps([{"amount": 1.0}])), 422)
    assert payload["problems"] == ["rows[0].age: required, missing"]


def test_out_of_range_and_nulls(live: LiveServer) -> None:
    payload = _problem(_post(live, json.dumps({"amount": -1.0, "age": None})), 422)
    assert sorted(payload["problems"]) == [
        "rows[0].age: may not be null",
        "rows[0].amount: expected a number at least 0, got -1.0",
    ]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity(live: LiveServer, token: str) -> None:
    payload = _problem(_post(live, f'{{"amount": {token}, "age": 30}}'), 400)
    assert "NaN and Infinity are not JSON numbers" in payload["error"]


def test_a_number_too_big_for_a_float(live: LiveServer) -> None:
    payload = _problem(_post(live, '{"amount": 1e999, "age": 30}'), 400)
    assert "not valid JSON" in payload["error"]


def test_empty_list(live: LiveServer) -> None:
    payload = _problem(_post(live, "[]"), 422)
    assert payload["error"] == "the request has no rows"


def test_100000_rows_in_one_request(live: LiveServer) -> None:
    rows = [{"amount": 1.0, "age": 30}] * 100_000
    payload = _problem(_post(live, json.dumps(rows)), 413)
    assert "at most 10000 per request" in payload["error"]


def test_a_50_mb_body(live: LiveServer) -> None:
    body = b"[" + b'{"amount": 1.0, "age": 30},' * 1_900_000 + b'{"amount": 1.0, "age": 30}]'
    assert len(body) > 50_000_000
    payload = _problem(_post(live, body), 413)
    assert "over the limit of 10 MB" in payload["error"]


def test_a_body_without_length_is_cut_at_the_limit(live: LiveServer) -> None:
    def chunks():  # chunked transfer: no content-length to refuse up front
        for _ in range(200):
            yield b" " * 100_000

    with live.client() as client:
        response = client.post("/v1/models/risk/predict", content=chunks())
    _problem(response, 413)


def test_deeply_nested_json(live: LiveServer) -> None:
    payload = _problem(_post(live, "[" * 100_000 + "]" * 100_000), 400)
    assert "nested too deeply" in payload["error"]


def test_not_a_record(live: LiveServer) -> None:
    _problem(_post(live, "42"), 400)
    payload = _problem(_post(live, "[1, 2]"), 422)
    assert payload["problems"][0].startswith("rows[0]: expected an object")


def test_protocol_shapes(live: LiveServer) -> None:
    _problem(_post(live, '{"inputs": 3}', "/v2/models/risk/infer"), 400)
    bad_shape = {"inputs": [{"name": "amount", "shape": [2], "datatype": "FP64", "data": [1.0]}]}
    payload = _problem(_post(live, json.dumps(bad_shape), "/v2/models/risk/infer"), 400)
    assert "shape [2] holds 2 values, but data has 1" in payload["error"]
    _problem(_post(live, '{"dataframe_split": {"columns": ["amount"]}}', "/invocations"), 400)


def test_unknown_model_route_and_method(live: LiveServer) -> None:
    payload = _problem(_post(live, "{}", "/v1/models/rsik/predict"), 404)
    assert "did you mean 'risk'" in payload["error"]
    with live.client() as client:
        _problem(client.get("/v1/models/risk/predict"), 405)
        _problem(client.get("/nowhere"), 404)


def test_bad_feedback(live: LiveServer) -> None:
    payload = _problem(
        _post(live, json.dumps([{"prediction_id": "x-1", "label": "maybe"}, {"label": True}]),
              "/v1/models/risk/feedback"),
        422,
    )  # fmt: skip
    assert payload["problems"] == [
        "feedback[0].label: expected one of the classes [False, True], got 'maybe'",
        "feedback[1].prediction_id: expected the id a prediction answered with",
    ]


def test_a_number_is_not_a_boolean_class_in_feedback(live: LiveServer) -> None:
    payload = _problem(
        _post(live, json.dumps([{"prediction_id": "x-1", "label": 1}]), "/v1/models/risk/feedback"),
        422,
    )
    assert payload["problems"] == [
        "feedback[0].label: expected one of the classes [False, True], got 1"
    ]


def test_a_boolean_is_not_an_integer_class() -> None:
    from shipyard.serving.feedback import is_class

    assert is_class(1, [0, 1]) and is_class(1.0, [0, 1]) and is_class(True, [False, True])
    assert not is_class(True, [0, 1]) and not is_class(0, [False, True])
