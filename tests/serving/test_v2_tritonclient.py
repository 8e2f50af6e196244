"""tritonclient's HTTP client, unmodified, against a real ``shipyard serve`` (issue #18, item 1).

Its defaults send binary tensors (``Inference-Header-Content-Length``) and ask for
binary outputs; ``binary_data=False`` sends JSON tensors. Every model kind answers
in the datatypes ``GET /v2/models/{name}`` declares: labels that are booleans,
whole numbers or text, and a regressor's values. Malformed binary bodies get 400 in
the one error shape. One server for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from serving_support import PROJECT, make_project, serve_process, training_rows
from sklearn.linear_model import LinearRegression, LogisticRegression
from tritonclient.utils import InferenceServerException

import shipyard

SHAPE = {"error", "status", "code", "problems", "hint"}

MORE_DATASETS = """\
  tiers:
    target: tier
    columns:
      amount: {type: float, min: 0, max: 1000000, nullable: false}
      age: {type: int, min: 18, max: 120, nullable: false}
      tier: {type: int}
  grades:
    target: grade
    columns:
      amount: {type: float, min: 0, max: 1000000, nullable: false}
      age: {type: int, min: 18, max: 120, nullable: false}
      grade: {type: category, categories: [A, B, C]}
  prices:
    target: price
    columns:
      amount: {type: float, min: 0, max: 1000000, nullable: false}
      age: {type: int, min: 18, max: 120, nullable: false}
      price: {type: float}
"""
MORE_MODELS = "".join(
    f"""\
  {name}:
    owner: {{name: risk-team, email: risk@example.com}}
    task: {task}
    dataset: {dataset}
    features: [amount, age]
    latency_budget_ms: 5000
"""
    for name, task, dataset in (
        ("tiered", "multiclass_classification", "tiers"),
        ("graded", "multiclass_classification", "grades"),
        ("priced", "regression", "prices"),
    )
)
MODELS = ("risk", "mixed", "tiered", "graded", "priced")
AMOUNTS = np.array([1000.0, 45000.0, 20000.5])
AGES = np.array([[30], [60], [18]], dtype=np.int64)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``shipyard serve`` of five models (labels bool, int, text; a regressor), 1 MB bodies."""
    folder = tmp_path_factory.mktemp("v2-triton") / "proj"
    make_project(folder).close()
    text = PROJECT.replace("server:\n", "server:\n  max_body_mb: 1\n")
    text = text.replace("models:\n", MORE_DATASETS + "models:\n") + MORE_MODELS
    (folder / "shipyard.yaml").write_text(text)
    X, y = training_rows()
    amount = X[:, 0]
    with shipyard.open(folder) as project:
        for name, model in (
            ("tiered", LogisticRegression().fit(X / 1000, (amount > 25_000).astype(int) + 1)),
            ("graded", LogisticRegression().fit(X / 1000, np.where(y, "A", "C"))),
            ("priced", LinearRegression().fit(X, amount * 0.01)),
        ):
            project.models.alias(project.register(model, name).ref, "champion")
    with serve_process(folder, *MODELS) as (_process, url, _lines):
        yield url


@pytest.fixture
def client(server: str) -> Iterator[triton.InferenceServerClient]:
    tc = triton.InferenceServerClient(server.removeprefix("http://"), network_timeout=60)
    try:
        yield tc
    finally:
        tc.close()


def _inputs(binary: bool = True, country: bool = False) -> list[triton.InferInput]:
    """The rows of ``AMOUNTS`` and ``AGES`` (and a country), as tritonclient sends them."""
    amount = triton.InferInput("amount", [3], "FP64").set_data_from_numpy(AMOUNTS, binary)
    age = triton.InferInput("age", [3, 1], "INT64").set_data_from_numpy(AGES, binary)
    inputs = [amount, age]
    if country:
        names = np.array([b"DE", b"PL", b"US"], dtype=object)
        inputs.append(triton.InferInput("country", [3], "BYTES").set_data_from_numpy(names, binary))
    return inputs


def _native(server: str, model: str) -> dict[str, Any]:
    """The same rows' answer in shipyard's own protocol: what the V2 answer must say."""
    rows = [{"amount": a, "age": int(g)} for a, g in zip(AMOUNTS, AGES[:, 0], strict=True)]
    if model == "mixed":
        rows = [{**r, "country": c} for r, c in zip(rows, ["DE", "PL", "US"], strict=True)]
    answer = httpx.post(f"{server}/v1/models/{model}/predict", json=rows, timeout=30)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _labels(values: np.ndarray) -> list[Any]:
    return [v.decode() if isinstance(v, bytes) else v for v in values.tolist()]


def test_default_settings_send_and_read_binary_tensors(
    server: str, client: triton.InferenceServerClient
) -> None:
    result = client.infer("mixed", _inputs(country=True), request_id="r-1")
    response = result.get_response()
    assert response["id"] == "r-1" and response["model_version"] == "1"
    assert all("binary_data_size" in o["parameters"] for o in response["outputs"])
    native = _native(server, "mixed")
    predict, proba = result.as_numpy("predict"), result.as_numpy("predict_proba")
    assert predict is not None and proba is not None
    assert predict.dtype == np.bool_ and _labels(predict) == native["predictions"]
    np.testing.assert_allclose(proba, native["probabilities"])


def test_one_binary_tensor_of_every_feature(
    server: str, client: triton.InferenceServerClient
) -> None:
    matrix = np.column_stack([AMOUNTS, AGES[:, 0]])
    tensor = triton.InferInput("input-0", [3, 2], "FP64").set_data_from_numpy(matrix)
    result = client.infer("risk", [tensor])
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), _native(server, "risk")["probabilities"]
    )


def test_json_tensors_and_json_outputs(server: str, client: triton.InferenceServerClient) -> None:
    outputs = [
        triton.InferRequestedOutput(n, binary_data=False) for n in ("predict", "predict_proba")
    ]
    result = client.infer("risk", _inputs(binary=False), outputs=outputs)
    response = result.get_response()
    assert [o["name"] for o in response["outputs"]] == ["predict", "predict_proba"]
    assert all("data" in o and "parameters" not in o for o in response["outputs"])
    native = _native(server, "risk")
    assert response["outputs"][0]["data"] == native["predictions"]
    np.testing.assert_allclose(result.as_numpy("predict_proba"), native["probabilities"])
    # one input in JSON, the other as binary data, in one request
    amount, age = _inputs(binary=False)
    age.set_data_from_numpy(AGES, binary_data=True)
    mixed = client.infer("risk", [amount, age], outputs=outputs).get_response()
    assert mixed["outputs"] == response["outputs"]


def test_binary_outputs_asked_for_one_by_one(
    server: str, client: triton.InferenceServerClient
) -> None:
    outputs = [triton.InferRequestedOutput("predict_proba", binary_data=True)]
    result = client.infer("graded", _inputs(binary=False), outputs=outputs)
    response = result.get_response()
    assert [o["name"] for o in response["outputs"]] == ["predict_proba"]
    assert response["outputs"][0]["parameters"]["binary_data_size"] == 3 * 2 * 8
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), _native(server, "graded")["probabilities"]
    )


@pytest.mark.parametrize("model", MODELS)
def test_the_declared_datatypes_are_the_answered_ones(
    server: str, client: triton.InferenceServerClient, model: str
) -> None:
    declared = {o["name"]: o for o in client.get_model_metadata(model)["outputs"]}
    result = client.infer(model, _inputs(country=model == "mixed"))
    answered = {o["name"]: o for o in result.get_response()["outputs"]}
    assert set(declared) == set(answered)
    for name, output in answered.items():
        assert output["datatype"] == declared[name]["datatype"], (model, name)
        assert len(output["shape"]) == len(declared[name]["shape"])
    native = _native(server, model)
    predict = result.as_numpy("predict")
    assert predict is not None
    if model == "priced":
        assert declared["predict"]["datatype"] == "FP64"
        np.testing.assert_allclose(predict, native["predictions"])
    else:
        assert _labels(predict) == native["predictions"]
    expected = {"risk": "BOOL", "mixed": "BOOL", "tiered": "INT64", "graded": "BYTES"}
    assert declared["predict"]["datatype"] == expected.get(model, "FP64")


def test_server_metadata_lists_the_extension(client: triton.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata["name"] == "shipyard" and "binary_tensor_data" in metadata["extensions"]
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("risk")


def test_a_server_error_reaches_tritonclient_as_its_message(
    client: triton.InferenceServerClient,
) -> None:
    ages = triton.InferInput("age", [2], "INT64").set_data_from_numpy(np.array([30, 60]))
    with pytest.raises(InferenceServerException) as refused:
        client.infer("risk", [ages])
    assert refused.value.status() == "422" and "amount" in str(refused.value.message())


# -- malformed binary bodies over HTTP ---------------------------------------------------------
def _binary_body() -> tuple[bytes, int]:
    body, json_size = triton.InferenceServerClient.generate_request_body(_inputs())
    return body, json_size


def _malformed() -> dict[str, tuple[bytes, dict[str, str]]]:
    body, size = _binary_body()
    header = body[:size]
    bigger = header.replace(b'"shape":[3]', b'"shape":[4]')
    return {
        "size-mismatch": (
            bigger + body[size:],
            {"Inference-Header-Content-Length": str(len(bigger))},
        ),
        "trailing-bytes": (body + b"\0\0", {"Inference-Header-Content-Length": str(size)}),
        "length-beyond-body": (body, {"Inference-Header-Content-Length": str(len(body) + 1)}),
        "non-numeric-length": (body, {"Inference-Header-Content-Length": "forty"}),
        "no-length": (body, {"Content-Type": "application/octet-stream"}),
    }


SAID = {
    "size-mismatch": "shape [4] of FP64 takes 32 bytes (4 x 8), but binary_data_size is 24",
    "trailing-bytes": "the body has 50 bytes after its JSON object",
    "length-beyond-body": "but the body has only",
    "non-numeric-length": "must be a whole number of bytes, got 'forty'",
    "no-length": "not valid JSON",
}


@pytest.mark.parametrize("case", sorted(SAID))
def test_a_malformed_binary_body_is_refused_with_400(server: str, case: str) -> None:
    body, headers = _malformed()[case]
    answer = httpx.post(f"{server}/v2/models/risk/infer", content=body, headers=headers, timeout=30)
    payload = answer.json()
    assert answer.status_code == 400 and set(payload) == SHAPE, payload
    assert payload["code"] == "malformed_request" and SAID[case] in payload["error"], payload


def test_octet_stream_is_taken_and_the_limit_is_the_whole_body(server: str) -> None:
    body, size = _binary_body()
    url = f"{server}/v2/models/risk/infer"
    headers = {
        "Inference-Header-Content-Length": str(size),
        "Content-Type": "application/octet-stream",
    }
    answer = httpx.post(url, content=body, headers=headers, timeout=30)
    assert (
        answer.status_code == 200 and answer.headers["content-type"] == "application/octet-stream"
    )
    length = int(answer.headers["inference-header-content-length"])
    result = triton.InferenceServerClient.parse_response_body(answer.content, header_length=length)
    assert result.as_numpy("predict") is not None
    n = 70_000  # 70,000 rows of two 8-byte values: 1.1 MB over the 1 MB limit
    big = [
        triton.InferInput("amount", [n], "FP64").set_data_from_numpy(np.full(n, 1000.0)),
        triton.InferInput("age", [n], "INT64").set_data_from_numpy(np.full(n, 30)),
    ]
    big_body, big_size = triton.InferenceServerClient.generate_request_body(big)
    headers["Inference-Header-Content-Length"] = str(big_size)
    refused = httpx.post(url, content=big_body, headers=headers, timeout=30)
    assert refused.status_code == 413 and set(refused.json()) == SHAPE
    text = httpx.post(
        url, content=body, headers={**headers, "Content-Type": "text/plain"}, timeout=30
    )
    assert text.status_code == 415 and "application/octet-stream" in text.json()["error"]
