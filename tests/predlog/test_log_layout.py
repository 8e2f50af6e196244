"""The stored layout of the logs is pinned: key, columns, and segments written before
``shipyard.predlog`` existed still read back.

The three files in ``segments/`` were written by ``serving/predlog.py`` at commit
8d07787 (before the writer moved here) from :func:`golden_chunks`; the writer now
gives the same table for the same chunks (plus the ``variant`` column added since, in
the prediction log), and the reader reads them at their keys, their rows as live ones.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from shipyard.predlog import (
    COLUMNS,
    FEEDBACK,
    KINDS,
    PREDICTIONS,
    REJECTIONS,
    VARIANT,
    Chunk,
    SegmentKey,
    SegmentLog,
    list_segments,
    parse_key,
    read_rows,
    segment_bytes,
    segment_prefix,
)
from shipyard.serving.validation import Rows
from shipyard.storage import ArtifactStore, artifact_location

SEGMENTS = Path(__file__).parent / "segments"
DAY = date(2025, 12, 2)
T0 = datetime(2025, 12, 2, 9, 30, tzinfo=UTC).timestamp()
KEY = (
    "predictions/risk/2026-12-02/3f9a1c2b7d4e/"
    "5d/5d41402abc4b2a76b9719d911017c592ae6a1a3b6e9f1c2d3e4f5a6b7c8d9e0f.parquet"
)  # a key as serving writes it today: kind, model, UTC day, worker, sha256 shard and name


def golden_chunks() -> dict[str, list[Chunk]]:
    """What serving appends for two prediction requests, two labels and a refusal."""
    x = np.array([[1000.0, 30.0], [5.0, 99.0]])
    return {
        PREDICTIONS: [
            Chunk(
                "risk",
                2,
                (
                    ("time", T0),
                    ("version", 1),
                    ("path", "model"),
                    ("degraded", False),
                    ("reason", None),
                    ("latency_ms", 3.5),
                    ("variant", "live"),
                ),
                (
                    ("prediction_id", ["a-1", "a-2"]),
                    ("prediction", np.array([True, False])),
                    ("probabilities", np.array([[0.25, 0.75], [0.5, 0.5]])),
                ),
                Rows(None, 2, True, x, ["amount", "age"]),
            ),
            Chunk(
                "risk",
                1,
                (
                    ("time", T0 + 1.5),
                    ("version", 1),
                    ("path", "default"),
                    ("degraded", True),
                    ("reason", "timeout"),
                    ("latency_ms", 50.25),
                    ("variant", "live"),
                ),
                (("prediction_id", ["b-1"]), ("prediction", [False]), ("probabilities", None)),
                Rows({"amount": np.array([np.nan]), "age": np.array([18.0])}, 1, True),
            ),
        ],
        FEEDBACK: [
            Chunk(
                "risk",
                2,
                (("time", T0 + 60),),
                (("prediction_id", ["a-1", "b-1"]), ("label", [True, False])),
            )
        ],
        REJECTIONS: [
            Chunk(
                "risk",
                1,
                (("time", T0 + 2), ("status", 422), ("code", "invalid_request")),
                (("fields", [["age", "amount"]]),),
            )
        ],
    }


def store_at(path: Path) -> ArtifactStore:
    return ArtifactStore(artifact_location(str(path), root=path.parent))


def test_the_key_layout_is_todays() -> None:
    prefix = segment_prefix(PREDICTIONS, "risk", date(2026, 12, 2), "3f9a1c2b7d4e")
    assert prefix == "predictions/risk/2026-12-02/3f9a1c2b7d4e"
    assert segment_prefix(PREDICTIONS, "risk", date(2026, 12, 2)) == "predictions/risk/2026-12-02/"
    assert KEY.startswith(prefix + "/")
    assert parse_key(KEY) == SegmentKey(
        PREDICTIONS,
        "risk",
        date(2026, 12, 2),
        "3f9a1c2b7d4e",
        "5d41402abc4b2a76b9719d911017c592ae6a1a3b6e9f1c2d3e4f5a6b7c8d9e0f",
    )


@pytest.mark.parametrize(
    "key",
    [
        "predictions/risk/2026-12-02/w1/5d/5d41.parquet",  # not a sha256
        "predictions/risk/2026-12-02/5d/" + "5" * 64 + ".parquet",  # no worker
        "predictions/risk/02-12-2026/w1/55/" + "5" * 64 + ".parquet",  # not a day
        "predictions/risk/2026-12-02/w1/55/" + "5" * 64 + ".json",
    ],
)
def test_a_key_that_is_not_a_segment_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not a log segment key"):
        parse_key(key)


@pytest.mark.parametrize("kind", KINDS)
def test_the_writer_stores_each_segment_at_its_key(kind: str, tmp_path: Path) -> None:
    store = store_at(tmp_path / "artifacts")
    log = SegmentLog(kind, store, worker="w1", spool=tmp_path / "spool")
    chunks = golden_chunks()[kind]
    assert log.write(chunks) == []
    [key] = store.list(f"{kind}/")
    parts = parse_key(key)
    assert (parts.kind, parts.model, parts.worker) == (kind, "risk", "w1")
    assert parts.day in {datetime.now(UTC).date(), (datetime.now(UTC) - timedelta(days=1)).date()}
    data = store.get(key)
    assert data == segment_bytes(chunks)
    assert parts.digest == hashlib.sha256(data).hexdigest() and key.endswith(".parquet")
    assert list_segments(store, kind, "risk", parts.day) == [key]


@pytest.mark.parametrize("kind", KINDS)
def test_the_writer_gives_the_table_of_segments_written_before(kind: str) -> None:
    before = pq.read_table(SEGMENTS / f"{kind}.parquet")
    now = pq.read_table(io.BytesIO(segment_bytes(golden_chunks()[kind])))
    if kind == PREDICTIONS:  # the one column added since: every row of those was live
        assert now.column(VARIANT).to_pylist() == ["live"] * now.num_rows
        now = now.drop_columns([VARIANT])
    assert now.schema.equals(before.schema, check_metadata=True)
    assert now.equals(before)
    metadata = pq.read_metadata(SEGMENTS / f"{kind}.parquet")
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def _stored_as_before(tmp_path: Path) -> ArtifactStore:
    """A store holding the segments written before, at keys of today's layout."""
    root = tmp_path / "artifacts"
    for kind in KINDS:
        data = (SEGMENTS / f"{kind}.parquet").read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        path = root / f"{kind}/risk/2025-12-02/w1/{digest[:2]}/{digest}.parquet"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
    return store_at(root)


def test_segments_written_before_read_back(tmp_path: Path) -> None:
    store = _stored_as_before(tmp_path)
    start = datetime(2025, 12, 2, tzinfo=UTC)
    end = start + timedelta(days=1)
    predictions = read_rows(store, PREDICTIONS, "risk", start, end)
    assert predictions.columns == [
        "prediction_id", "prediction", "probabilities", "time", "version", "path",
        "degraded", "reason", "latency_ms", "variant", "amount", "age",
    ]  # fmt: skip
    assert predictions["variant"].to_list() == ["live"] * 3  # written before: live rows
    assert read_rows(store, PREDICTIONS, "risk", start, end, variants=("shadow",)).is_empty()
    assert predictions["prediction_id"].to_list() == ["a-1", "a-2", "b-1"]
    assert predictions["amount"].to_list() == [1000.0, 5.0, None]  # NaN logged as null
    assert predictions["probabilities"].to_list() == [[0.25, 0.75], [0.5, 0.5], None]
    assert predictions["reason"].to_list() == [None, None, "timeout"]
    assert predictions["time"].to_list()[-1] == datetime.fromtimestamp(T0 + 1.5, UTC)
    labels = read_rows(store, FEEDBACK, "risk", start, end)
    assert labels.select("prediction_id", "label").rows() == [("a-1", True), ("b-1", False)]
    refused = read_rows(store, REJECTIONS, "risk", start, end, columns=["status"])
    assert refused.columns == ["status", "time"] and refused["status"].to_list() == [422]
    newest = read_rows(store, PREDICTIONS, "risk", start, end, newest=1, columns=["path"])
    assert newest["path"].to_list() == ["default"]
    later = read_rows(store, PREDICTIONS, "risk", start + timedelta(seconds=T0 % 86400 + 1), end)
    assert later["prediction_id"].to_list() == ["b-1"]  # the window's start cuts by time


def test_shadow_rows_beside_segments_written_before(tmp_path: Path) -> None:
    """Shadow rows are read only when asked for; an old segment's rows are live among them."""
    store = _stored_as_before(tmp_path)
    shadow = golden_chunks()[PREDICTIONS][0]
    shadow.scalars = (
        ("time", T0 + 3),
        ("version", 2),
        ("path", "model"),
        ("degraded", False),
        ("reason", None),
        ("latency_ms", 4.0),
        ("variant", "shadow"),
    )
    data = segment_bytes([shadow])
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / f"artifacts/predictions/risk/2025-12-02/w2/{digest[:2]}/{digest}.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    start = datetime(2025, 12, 2, tzinfo=UTC)
    end = start + timedelta(days=1)
    live = read_rows(store, PREDICTIONS, "risk", start, end)
    assert live["prediction_id"].to_list() == ["a-1", "a-2", "b-1"]
    both = read_rows(store, PREDICTIONS, "risk", start, end, variants=("live", "shadow"))
    assert both.select("prediction_id", "version", "variant").rows() == [
        ("a-1", 1, "live"), ("a-2", 1, "live"), ("b-1", 1, "live"),
        ("a-1", 2, "shadow"), ("a-2", 2, "shadow"),
    ]  # fmt: skip
    picked = read_rows(
        store, PREDICTIONS, "risk", start, end, columns=["version"], variants=("shadow",)
    )
    assert picked.columns == ["version", "time"] and picked["version"].to_list() == [2, 2]
    newest = read_rows(store, PREDICTIONS, "risk", start, end, newest=1)
    assert newest["prediction_id"].to_list() == ["b-1"]  # the newest live row
    with pytest.raises(ValueError, match="unknown variant"):
        read_rows(store, PREDICTIONS, "risk", start, end, variants=("canary",))


@pytest.mark.parametrize("kind", KINDS)
def test_every_column_is_in_the_schema_with_its_type(kind: str) -> None:
    """Segments as serving writes them have the schema's columns, in order, of its types."""
    written = pq.read_schema(io.BytesIO(segment_bytes(golden_chunks()[kind])))
    assert written.names == [c.name for c in COLUMNS[kind] if not c.optional]
    for column in COLUMNS[kind]:
        if column.optional:  # written where some row has a value (see test_passthrough_log)
            continue
        found = written.field(column.name).type
        if column.type is not None:
            assert found == column.type, (column.name, found)
