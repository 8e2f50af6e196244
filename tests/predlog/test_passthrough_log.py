"""The prediction log's ``passthrough`` column (issue #16, item 9): written only where a row
carried passthrough fields, read back beside segments written before it existed."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from test_log_layout import SEGMENTS, T0, _stored_as_before, golden_chunks

from shipyard.predlog import (
    PASSTHROUGH,
    PREDICTIONS,
    Chunk,
    SegmentLog,
    passthrough_fields,
    read_rows,
    segment_bytes,
)
from shipyard.serving.validation import Rows


def carrying_chunk(when: float) -> Chunk:
    """A request of two rows, the first with an id and a timestamp passed through."""
    rows = Rows(None, 2, True, np.array([[1.0, 30.0], [2.0, 40.0]]), ["amount", "age"])
    rows.passthrough = [{"request_id": "r-1", "time": "2026-12-03T04:00"}, {}]
    return Chunk(
        "risk",
        2,
        (("time", when), ("version", 1), ("path", "model"), ("degraded", False),
         ("reason", None), ("latency_ms", 1.0), ("variant", "live")),
        (("prediction_id", ["p-1", "p-2"]), ("prediction", np.array([True, False])),
         ("probabilities", None)),
        rows,
    )  # fmt: skip


def test_the_column_is_written_only_where_a_row_carried_fields() -> None:
    plain = pq.read_table(io.BytesIO(segment_bytes(golden_chunks()[PREDICTIONS])))
    assert PASSTHROUGH not in plain.column_names  # byte for byte as before: see test_log_layout
    mixed = pq.read_table(
        io.BytesIO(segment_bytes([*golden_chunks()[PREDICTIONS], carrying_chunk(T0 + 5)]))
    )
    assert mixed.column_names[-2:] == [PASSTHROUGH, "inputs"]
    assert mixed.column(PASSTHROUGH).to_pylist() == [
        None, None, None, '{"request_id":"r-1","time":"2026-12-03T04:00"}', None,
    ]  # fmt: skip


def test_read_back_beside_segments_written_before(tmp_path: Path) -> None:
    store = _stored_as_before(tmp_path)
    log = SegmentLog(PREDICTIONS, store, worker="w2", spool=tmp_path / "spool")
    now = datetime.now(UTC).timestamp()
    assert log.write([carrying_chunk(now)]) == []
    start = datetime(2025, 12, 1, tzinfo=UTC)
    rows = read_rows(store, PREDICTIONS, "risk", start, datetime.now(UTC) + timedelta(days=1))
    assert len(rows) == 5 and (SEGMENTS / "predictions.parquet").exists()
    assert rows[PASSTHROUGH].to_list()[:3] == [None, None, None]  # written before: none
    fields = passthrough_fields(rows)
    assert fields["request_id"].to_list() == [None, None, None, "r-1", None]
    # a field named like a column of the log keeps its place beside it
    assert fields["passthrough.time"].to_list()[3] == "2026-12-03T04:00"
    assert fields["time"].dtype == rows["time"].dtype
    assert passthrough_fields(rows.drop(PASSTHROUGH)).columns == rows.drop(PASSTHROUGH).columns
