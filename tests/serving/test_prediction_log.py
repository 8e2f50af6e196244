"""Every prediction and every label lands in Parquet segments; a store outage loses nothing."""

from __future__ import annotations

import io
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from serving_support import LiveServer

from shipyard.predlog import COLUMNS, FEEDBACK, KINDS, PREDICTIONS
from shipyard.project import Project
from shipyard.serving.app import ServingApp

ROW = {"amount": 1000.0, "age": 30}


def _segments(live: LiveServer, kind: str) -> pl.DataFrame:
    store = live.app.project.artifacts
    keys = [k for k in store.list(f"{kind}/") if k.endswith(".parquet")]
    if not keys:
        return pl.DataFrame()
    import io

    return pl.concat([pl.read_parquet(io.BytesIO(store.get(k))) for k in keys], how="diagonal")


def _wait_rows(live: LiveServer, kind: str, n: int, timeout: float = 20) -> pl.DataFrame:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = _segments(live, kind)
        if len(frame) >= n:
            return frame
        time.sleep(0.1)
    raise AssertionError(f"{kind}: expected {n} rows, have {len(_segments(live, kind))}")


def test_workers_of_two_replicas_never_hand_out_the_same_prediction_id(
    serving_project: Project,
) -> None:
    """Two replicas' first workers (``w0-`` and a random part, as ``shipyard serve
    --workers`` names them) whose names agree in their first 8 characters: one log, two
    writers, every id distinct."""
    ids = []
    for worker in ("w0-5eed0001", "w0-5eed0002"):
        app = ServingApp(serving_project, {"risk": "champion"}, worker=worker)
        with LiveServer(app) as server, server.client() as client:
            ids += client.post("/v1/models/risk/predict", json=[ROW, ROW]).json()["prediction_ids"]
    assert len(set(ids)) == len(ids) == 4


def test_predictions_and_feedback_are_logged(live: LiveServer) -> None:
    with live.client() as client:
        one = client.post("/v1/models/risk/predict", json=ROW).json()
        many = client.post("/v1/models/risk/predict", json=[ROW, {"amount": 5.0, "age": 99}]).json()
        ids = one["prediction_ids"] + many["prediction_ids"]
        single = client.post(
            "/v1/models/risk/feedback", json={"prediction_id": ids[0], "label": True}
        )
        bulk = client.post(
            "/v1/models/risk/feedback",
            json={"feedback": [{"prediction_id": i, "label": False} for i in ids[1:]]},
        )
    assert single.status_code == 202 and single.json() == {"accepted": 1}
    assert bulk.json() == {"accepted": 2}
    log = _wait_rows(live, "predictions", 3).sort("prediction_id")
    assert sorted(log["prediction_id"].to_list()) == sorted(ids)
    assert set(log.columns) >= {
        "time",
        "version",
        "path",
        "latency_ms",
        "prediction",
        "probabilities",
        "inputs",
    }
    row = log.filter(pl.col("prediction_id") == ids[2]).to_dicts()[0]
    assert row["inputs"] == {"amount": 5.0, "age": 99.0}
    assert row["version"] == 1 and row["path"] == "model" and row["degraded"] is False
    assert row["probabilities"] == many["probabilities"][1]
    feedback = _wait_rows(live, "feedback", 3)
    assert dict(zip(feedback["prediction_id"], feedback["label"], strict=True)) == {
        ids[0]: True, ids[1]: False, ids[2]: False,
    }  # fmt: skip
    keys = live.app.project.artifacts.list("predictions/risk/")
    assert all(f"/{live.app.worker}/" in key for key in keys)  # every worker its own segments


def test_the_server_writes_the_columns_of_the_log_schema(live: LiveServer) -> None:
    """Each kind of log holds the columns ``shipyard.predlog.schema`` names, in its order
    and of its types (a column with no value in a segment is stored as Arrow's null)."""
    with live.client() as client:
        pid = client.post("/v1/models/risk/predict", json=ROW).json()["prediction_ids"][0]
        client.post("/v1/models/risk/feedback", json={"prediction_id": pid, "label": True})
        refused = client.post("/v1/models/risk/predict", json={"amount": "lots", "age": 30})
        assert refused.status_code == 422
    for kind in KINDS:
        _wait_rows(live, kind, 1)
        store = live.app.project.artifacts
        for key in [k for k in store.list(f"{kind}/risk/") if k.endswith(".parquet")]:
            schema = pq.read_schema(io.BytesIO(store.get(key)))
            expected = [c.name for c in COLUMNS[kind] if not c.optional or c.name in schema.names]
            assert schema.names == expected, key
            for column in COLUMNS[kind]:
                if column.type is not None and column.name in schema.names:
                    found = schema.field(column.name).type
                    assert found in (column.type, pa.null()), (key, column.name, found)
    features = schema_of(live, PREDICTIONS).field("inputs").type
    assert [f.name for f in features] == ["amount", "age"]
    assert schema_of(live, FEEDBACK).field("label").type == pa.bool_()


def schema_of(live: LiveServer, kind: str) -> pa.Schema:
    store = live.app.project.artifacts
    key = next(k for k in store.list(f"{kind}/risk/") if k.endswith(".parquet"))
    return pq.read_schema(io.BytesIO(store.get(key)))


def test_the_artifact_store_down_while_serving_loses_nothing(live: LiveServer) -> None:
    store = Path(live.app.project.artifacts.url.removeprefix("file://"))
    moved = store.with_name("artifacts-away")
    store.rename(moved)
    store.write_text("not a folder: every write to the store fails")  # the store is down
    try:
        with live.client() as client:
            answers = [client.post("/v1/models/risk/predict", json=ROW).json() for _ in range(20)]
        assert all(a["path"] == "model" for a in answers)  # serving goes on
        spool = live.app.project.root / ".shipyard" / "spool"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(spool.glob("predictions__*")):
            time.sleep(0.1)
        assert list(spool.glob("predictions__*")), "the log was not spooled to local disk"
    finally:
        store.unlink()
        moved.rename(store)
    frame = _wait_rows(live, "predictions", 20)
    ids = {i for a in answers for i in a["prediction_ids"]}
    assert ids <= set(frame["prediction_id"].to_list())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and list(spool.glob("predictions__*")):
        time.sleep(0.1)
    assert not list(spool.glob("predictions__*")), "the spool was not sent on"


def test_shutdown_flushes_what_is_buffered(serving_project) -> None:  # type: ignore[no-untyped-def]
    from serving_support import LiveServer as Server

    from shipyard.serving.app import ServingApp

    file = serving_project.root / "shipyard.yaml"
    file.write_text(file.read_text().replace("log_flush_s: 0.2", "log_flush_s: 3600"))
    import shipyard

    with shipyard.open(serving_project.root) as project:
        app = ServingApp(project, {"risk": "champion"}, environ={})
        with Server(app) as server, server.client() as client:
            ids = [
                client.post("/v1/models/risk/predict", json=ROW).json()["prediction_ids"][0]
                for _ in range(7)
            ]
            assert not project.artifacts.list("predictions/")
        keys = [k for k in project.artifacts.list("predictions/") if k.endswith(".parquet")]
        import io

        frame = pl.concat([pl.read_parquet(io.BytesIO(project.artifacts.get(k))) for k in keys])
        assert sorted(frame["prediction_id"].to_list()) == sorted(ids)
