"""The query over segments of every age: written before the ``variant`` column existed,
and carrying passthrough fields (one named like a log column comes as ``passthrough.NAME``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_log_layout import _stored_as_before
from test_passthrough_log import carrying_chunk

from shipyard.config import parse_config
from shipyard.predlog import PREDICTIONS, segment_bytes, segment_prefix
from shipyard.predlog.query import PredictionLog
from shipyard.predlog.where import QueryError

PROJECT = """\
project: old-and-new
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float}
      age: {type: int}
      defaulted: {type: bool}
models:
  risk:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    passthrough: [request_id, time]
"""


def test_old_segments_and_passthrough_fields_read_as_one_log(tmp_path: Path) -> None:
    store = _stored_as_before(tmp_path)  # two answers of 2025-12-02, before `variant`
    when = datetime(2025, 12, 2, 12, tzinfo=UTC)
    day = segment_prefix(PREDICTIONS, "risk", when, "w2")
    store.put(segment_bytes([carrying_chunk(when.timestamp())]), prefix=day, suffix=".parquet")
    log = PredictionLog(store, parse_config(PROJECT, environ={}))
    now = when + timedelta(days=1)

    rows = log.select("risk", now=now, with_feedback=True)
    assert rows.frame["prediction_id"].to_list() == ["p-1", "p-2", "b-1", "a-1", "a-2"]
    assert rows.frame.columns[-4:] == ["request_id", "passthrough.time", "label", "labelled_at"]
    assert rows.frame["request_id"].to_list() == ["r-1", None, None, None, None]
    assert dict(zip(rows.frame["prediction_id"], rows.frame["label"], strict=True)) == {
        "p-1": None, "p-2": None, "b-1": False, "a-1": True, "a-2": None,
    }  # fmt: skip

    found = log.select("risk", now=now, where="request_id = 'r-1' or amount is null")
    assert found.frame["prediction_id"].to_list() == ["p-1", "b-1"]  # b-1 logged no amount
    degraded = log.select("risk", now=now, fallback_only=True, since="2025-12-02T09:00")
    assert degraded.frame.select("prediction_id", "path", "reason").rows() == [
        ("b-1", "default", "timeout")
    ]
    assert log.select("risk", now=now, limit=1, where="not degraded").matched == 4
    with pytest.raises(QueryError, match=r"the filter 'request_id > 3' cannot be applied to the"):
        log.select("risk", now=now, where="request_id > 3")  # text logged, not a number
