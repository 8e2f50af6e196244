"""Log segments: written per model and worker, spooled when the store fails, never lost."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.predlog import Chunk, SegmentLog
from shipyard.serving.validation import Rows
from shipyard.storage import ArtifactStore, artifact_location


def store_at(path: Path) -> ArtifactStore:
    return ArtifactStore(artifact_location(str(path), root=path.parent))


def chunk(model: str, ids: list[str]) -> Chunk:
    n = len(ids)
    x = np.arange(n, dtype=float)
    return Chunk(
        model,
        n,
        (("time", 1.7e9), ("path", "model")),
        (("prediction_id", ids), ("prediction", np.arange(n) % 2 == 0), ("probabilities", None)),
        Rows({"x": x}, n, True, x.reshape(-1, 1)),
    )


def read(store: ArtifactStore, prefix: str) -> pl.DataFrame:
    keys = [k for k in store.list(prefix) if k.endswith(".parquet")]
    return (
        pl.concat([pl.read_parquet(io.BytesIO(store.get(k))) for k in keys])
        if keys
        else pl.DataFrame()
    )


def test_one_segment_per_model(tmp_path: Path) -> None:
    store = store_at(tmp_path / "artifacts")
    log = SegmentLog("predictions", store, worker="w1", spool=tmp_path / "spool")
    assert log.write([chunk("a", ["1", "2"]), chunk("b", ["3"]), chunk("a", ["4"])]) == []
    a = read(store, "predictions/a/")
    assert a["prediction_id"].to_list() == ["1", "2", "4"]
    assert a["inputs"].struct.field("x").to_list() == [0.0, 1.0, 0.0]
    assert all("/w1/" in key for key in store.list("predictions/"))
    assert a["path"].to_list() == ["model"] * 3 and a["probabilities"].null_count() == 3


def test_a_failing_store_spools_and_a_later_write_sends_the_spool(tmp_path: Path) -> None:
    folder = tmp_path / "artifacts"
    store = store_at(folder)
    folder.rmdir() if folder.exists() else None
    folder.write_text("the store is down")
    log = SegmentLog("predictions", store, worker="w1", spool=tmp_path / "spool")
    assert log.write([chunk("a", ["1", "2"])]) == []
    assert log.spooled_rows() == 2
    folder.unlink()
    log.retry_spool()
    assert log.spooled_rows() == 0
    assert read(store, "predictions/a/")["prediction_id"].to_list() == ["1", "2"]


def test_when_even_the_spool_fails_the_rows_come_back(tmp_path: Path) -> None:
    (tmp_path / "artifacts").write_text("down")
    (tmp_path / "spool").write_text("not a folder either")
    log = SegmentLog(
        "predictions", store_at(tmp_path / "artifacts"), worker="w", spool=tmp_path / "spool"
    )
    failed = log.write([chunk("a", ["1"])])
    assert [dict(c.rows)["prediction_id"] for c in failed] == [["1"]]
    log.restore(failed)
    assert log.buffered == 1


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(1, 5)), min_size=1, max_size=12))
def test_every_row_appended_is_written_once(tmp_path_factory, batches) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("log")
    store = store_at(folder / "artifacts")
    log = SegmentLog("predictions", store, worker="w", spool=folder / "spool")
    expected: list[str] = []
    for index, (model, n) in enumerate(batches):
        ids = [f"{index}-{i}" for i in range(n)]
        expected += ids
        log.append(chunk(model, ids))
        if index % 3 == 2:
            assert log.write(log.take()) == []
    assert log.write(log.take()) == []
    assert sorted(read(store, "predictions/")["prediction_id"].to_list()) == sorted(expected)
