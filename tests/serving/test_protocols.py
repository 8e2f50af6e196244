"""The three protocols over real HTTP give the model's own answers."""

from __future__ import annotations

import numpy as np
import pytest
from serving_support import LiveServer

ROWS = [
    {"amount": 1000.0, "age": 30},
    {"amount": 45000.0, "age": 60},
    {"amount": 20000.5, "age": 18},
]


def expected(live: LiveServer, rows: list[dict[str, float]]) -> np.ndarray:
    predictor = live.app.project.models.load("risk@1")
    return predictor.predict_proba(np.array([[r["amount"], r["age"]] for r in rows]))


def test_native_one_record_and_many(live: LiveServer) -> None:
    with live.client() as client:
        one = client.post("/v1/models/risk/predict", json=ROWS[0]).json()
        many = client.post("/v1/models/risk/predict", json=ROWS).json()
    assert one["version"] == 1 and one["path"] == "model" and one["degraded"] is False
    assert one["classes"] == [False, True]
    assert len(one["prediction_ids"]) == 1
    proba = np.array(many["probabilities"])
    np.testing.assert_allclose(proba, expected(live, ROWS))
    assert many["predictions"] == [bool(p[1] > p[0]) for p in proba]
    assert len(set(many["prediction_ids"])) == 3


def test_a_categorical_feature_goes_through_a_pipeline(live: LiveServer) -> None:
    with live.client() as client:
        answer = client.post(
            "/v1/models/mixed/predict", json=[{"amount": 1000.0, "age": 30, "country": "PL"}]
        ).json()
    assert answer["path"] == "model" and len(answer["probabilities"][0]) == 2


def test_open_inference_protocol_v2(live: LiveServer) -> None:
    body = {
        "id": "req-1",
        "inputs": [
            {
                "name": "amount",
                "shape": [3],
                "datatype": "FP64",
                "data": [r["amount"] for r in ROWS],
            },
            {
                "name": "age",
                "shape": [3, 1],
                "datatype": "INT64",
                "data": [[r["age"]] for r in ROWS],
            },
        ],
    }
    with live.client() as client:
        answer = client.post("/v2/models/risk/infer", json=body).json()
        tensor = client.post(
            "/v2/models/risk/versions/1/infer",
            json={"inputs": [{"name": "input-0", "shape": [3, 2], "datatype": "FP64",
                              "data": [[r["amount"], r["age"]] for r in ROWS]}]},
        ).json()  # fmt: skip
        metadata = client.get("/v2/models/risk").json()
        assert client.get("/v2/models/risk/ready").json() == {"name": "risk", "ready": True}
        assert client.get("/v2/health/ready").status_code == 200
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2").json()["name"] == "shipyard"
        wrong = client.post("/v2/models/risk/versions/9/infer", json=body)
    assert answer["id"] == "req-1" and answer["model_version"] == "1"
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert outputs["predict"]["datatype"] == "BOOL" and outputs["predict"]["shape"] == [3]
    assert outputs["predict_proba"]["shape"] == [3, 2]
    proba = np.array(outputs["predict_proba"]["data"]).reshape(3, 2)
    np.testing.assert_allclose(proba, expected(live, ROWS))
    assert tensor["outputs"][1]["data"] == outputs["predict_proba"]["data"]
    assert [i["name"] for i in metadata["inputs"]] == ["amount", "age"]
    assert metadata["versions"] == ["1"]
    assert wrong.status_code == 404 and "not served" in wrong.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {
            "dataframe_split": {
                "columns": ["amount", "age"],
                "data": [[r["amount"], r["age"]] for r in ROWS],
            }
        },
        {"dataframe_records": ROWS},
        {"instances": [[r["amount"], r["age"]] for r in ROWS]},
        {"inputs": {"amount": [r["amount"] for r in ROWS], "age": [r["age"] for r in ROWS]}},
    ],
    ids=["dataframe_split", "dataframe_records", "instances", "inputs"],
)
def test_mlflow_scoring_format(live: LiveServer, body: dict[str, object]) -> None:
    with live.client(headers={"X-Shipyard-Model": "risk"}) as client:
        answer = client.post("/invocations", json=body)
    assert answer.status_code == 200, answer.text
    labels = expected(live, ROWS).argmax(axis=1).astype(bool).tolist()
    assert answer.json() == {"predictions": labels}


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        (
            "/invocations",
            {"dataframe_split": {"columns": ["amount", "age", "age"], "data": [[1.0, 30, 40]]}},
            "dataframe_split.columns names age more than once",
        ),
        (
            "/v2/models/risk/infer",
            {"inputs": [{"name": "amount", "shape": [True], "datatype": "FP64", "data": [1.0]},
                        {"name": "age", "shape": [1], "datatype": "INT64", "data": [30]}]},
            "'shape' must be a list of sizes",
        ),
    ],
    ids=["repeated-column", "bool-shape"],
)  # fmt: skip
def test_ambiguous_bodies_are_refused_not_guessed(
    live: LiveServer, path: str, body: dict[str, object], said: str
) -> None:
    with live.client(headers={"X-Shipyard-Model": "risk"}) as client:
        answer = client.post(path, json=body)
    assert answer.status_code == 400 and said in answer.json()["error"], answer.text


def test_invocations_needs_a_model_when_several_are_served(live: LiveServer) -> None:
    with live.client() as client:
        answer = client.post("/invocations", json={"dataframe_records": ROWS})
    assert answer.status_code == 400 and "X-Shipyard-Model" in answer.json()["error"]


def test_openapi_document_and_listing(live: LiveServer) -> None:
    with live.client() as client:
        document = client.get("/openapi.json").json()
        models = client.get("/v1/models").json()["models"]
        risk = client.get("/v1/models/risk").json()
    assert document["openapi"].startswith("3.1")
    for path in ("/v1/models/risk/predict", "/v2/models/risk/infer", "/invocations", "/metrics"):
        assert path in document["paths"]
    record = document["components"]["schemas"]["risk.Record"]
    assert record["required"] == ["amount", "age"]
    assert record["properties"]["age"] == {"type": "integer", "minimum": 18, "maximum": 120}
    assert {m["name"] for m in models} == {"risk", "faulty", "bare", "mixed"}
    assert risk["version"] == 1 and risk["status"] == "ready" and risk["circuit"] == "closed"
    assert risk["fallback"] == ["rules", "cache", "default"]
