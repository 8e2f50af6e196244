"""Nothing is lost between the writer and the reader: every row of every chunk comes
back, per model, in the order it was logged, with its values (None and unicode too);
live rows by default, shadow rows when asked, rows without a variant as live."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.predlog import PREDICTIONS, Chunk, SegmentLog, read_rows
from shipyard.serving.validation import Rows
from shipyard.storage import ArtifactStore, artifact_location

MODELS = ["risk", "fraud-v2", "churn"]
TEXT_FEATURE = {"churn"}  # its rows have a text feature besides the number
LABELS: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, width=64),
    "bool": st.booleans(),
    "text": st.text(max_size=12),
}


def _request(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """One request's rows: ids, labels of one type (or None), and two features."""
    return st.integers(1, 4).flatmap(
        lambda n: st.fixed_dictionaries(
            {
                "model": st.sampled_from(MODELS),
                "ids": st.lists(st.text(min_size=1, max_size=8), min_size=n, max_size=n),
                "labels": st.lists(st.none() | LABELS[kind], min_size=n, max_size=n),
                "x": st.lists(st.none() | st.floats(-1e9, 1e9), min_size=n, max_size=n),
                "city": st.lists(st.none() | st.text(max_size=6), min_size=n, max_size=n),
                "matrix": st.booleans(),  # serving keeps all-numeric rows as one matrix
                "version": st.none() | st.integers(1, 9),
                "variant": st.sampled_from([None, "live", "shadow"]),  # None: written before
                "flush": st.booleans(),  # write the buffer after this request
            }
        )
    )


def _chunk(request: dict[str, Any], at: float) -> Chunk:
    n = len(request["ids"])
    x = np.array([math.nan if v is None else v for v in request["x"]], dtype=np.float64)
    if request["model"] in TEXT_FEATURE:
        inputs = Rows({"x": x, "city": np.array(request["city"], dtype=object)}, n, False)
    elif request["matrix"]:
        inputs = Rows(None, n, True, x.reshape(-1, 1), ["x"])
    else:
        inputs = Rows({"x": x}, n, True)
    variant = () if request["variant"] is None else (("variant", request["variant"]),)
    return Chunk(
        request["model"],
        n,
        (("time", at), ("version", request["version"]), *variant),
        (("prediction_id", request["ids"]), ("label", request["labels"])),
        inputs,
    )


def _expected(request: dict[str, Any], at: float) -> list[dict[str, Any]]:
    when = datetime.fromtimestamp(at, UTC)
    rows = []
    for index, pid in enumerate(request["ids"]):
        row = {
            "prediction_id": pid,
            "label": request["labels"][index],
            "time": when,
            "version": request["version"],
            "variant": request["variant"] or "live",
            "x": request["x"][index],  # NaN in the matrix, null in the log
        }
        if request["model"] in TEXT_FEATURE:
            row["city"] = request["city"][index]
        rows.append(row)
    return rows


@pytest.mark.parametrize("kind", sorted(LABELS))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_every_row_written_is_read_back_in_order(
    tmp_path_factory: pytest.TempPathFactory, kind: str, data: st.DataObject
) -> None:
    requests = data.draw(st.lists(_request(kind), min_size=1, max_size=10))
    folder = tmp_path_factory.mktemp("log")
    store = ArtifactStore(artifact_location(str(folder / "artifacts"), root=folder))
    log = SegmentLog(PREDICTIONS, store, worker="w1", spool=folder / "spool")
    base = float(int(time.time()) - 3600)  # whole seconds: the log keeps microseconds
    expected: dict[str, list[dict[str, Any]]] = {m: [] for m in MODELS}
    for index, request in enumerate(requests):
        log.append(_chunk(request, base + index))
        expected[request["model"]] += _expected(request, base + index)
        if request["flush"]:
            assert log.write(log.take()) == []
    assert log.write(log.take()) == []
    start = datetime.fromtimestamp(base, UTC)
    end = start + timedelta(days=2)
    for model, every in expected.items():
        live = [row for row in every if row["variant"] == "live"]
        for rows, variants in ((live, ("live",)), (every, ("live", "shadow"))):
            frame = read_rows(store, PREDICTIONS, model, start, end, variants=variants)
            assert frame.height == len(rows), model
            got = [
                {k: row[k] for k in want} for row, want in zip(frame.to_dicts(), rows, strict=True)
            ]
            assert got == rows, model
        assert read_rows(store, PREDICTIONS, model, start, end).height == len(live)
