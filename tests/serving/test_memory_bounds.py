"""Every in-memory buffer of a worker has a bound, and going past it is explicit.

Each test tries to exceed one bound: the fallback answer cache (entries and
bytes), the prediction log's buffer when neither the store nor the spool takes
rows, the spool folder on disk, the access log buffer, and the metrics series.
"""

from __future__ import annotations

import io
import json
import re
import sys
import time
import tracemalloc
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_support import LiveServer
from test_predlog import chunk, store_at

from shipyard.predlog import SegmentLog
from shipyard.serving.accesslog import AccessLog
from shipyard.serving.fallback import AnswerCache
from shipyard.serving.metric_cells import Cells, read_folder, retire
from shipyard.serving.metrics import Metrics, route_label

ROW = {"amount": 1000.0, "age": 30}


def _held(cache: AnswerCache) -> int:
    """What the cache's entries keep alive, counted again from what is in it."""
    total = 0
    roots: dict[int, int] = {}
    for key, entry in cache._items.items():
        if isinstance(key, bytes):
            total += sys.getsizeof(key)
        else:
            total += sys.getsizeof(key) + sum(sys.getsizeof(v) for v in key)
        for array in entry[1:3]:  # (version, predictions, probabilities, index, batch)
            if array is None:
                continue
            while isinstance(array.base, np.ndarray):
                array = array.base
            roots[id(array)] = array.nbytes
    return total + sum(roots.values())


_batch = st.tuples(
    st.lists(  # rows: a key each, from a small pool so that rows repeat
        st.one_of(
            st.integers(0, 30).map(lambda i: (float(i), "x" * (i * 37))),
            st.integers(0, 30).map(lambda i: i.to_bytes(2, "little") * 8),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 300),  # classes: the width of the probabilities
    st.booleans(),  # the answers are views into a larger micro-batch
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_batch, min_size=1, max_size=25), st.integers(2_000, 200_000))
def test_the_cache_never_exceeds_its_byte_bound(batches: list[Any], max_bytes: int) -> None:
    cache = AnswerCache(size=50, max_bytes=max_bytes)
    for keys, classes, as_view in batches:
        keys = [k for k in keys if isinstance(k, bytes)] or list(keys)
        keys = [k for k in keys if type(k) is type(keys[0])]  # a batch has one key shape
        n = len(keys)
        proba = np.full((n * (3 if as_view else 1), classes), 1.0 / classes)
        labels = np.arange(n * (3 if as_view else 1))
        if as_view:
            proba, labels = proba[n : 2 * n], labels[n : 2 * n]
        cache.put_many(list[Hashable](keys), 1, labels, proba)
        assert len(cache) <= 50
        assert cache.bytes <= max_bytes
        assert _held(cache) <= cache.bytes  # the count covers what is really kept
        assert (len(cache) == 0) == (cache.bytes == 0) and len(cache._pins) <= len(cache)
    for key in list(cache._items):
        hit = cache.get(key)
        assert hit is not None and len(hit[2]) > 0


def test_a_crafted_pattern_cannot_pin_many_batches() -> None:
    """One new row per large batch used to keep every batch's arrays alive (about 50 times the memory)."""
    bound = 4_000_000
    cache = AnswerCache(size=10_000, max_bytes=bound)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for batch in range(200):
            proba = np.random.default_rng(batch).random((1_000, 100))  # 800 kB of answers
            keys = [b"same-row" * 4] * 999 + [batch.to_bytes(4, "little") * 8]
            cache.put_many(keys, 1, np.zeros(1_000), proba)
            del proba
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert cache.bytes <= bound
    assert held <= bound * 1.25  # what the process really holds, measured
    assert len(cache) >= 2


def test_a_batch_larger_than_the_bound_keeps_its_last_rows() -> None:
    cache = AnswerCache(size=10_000, max_bytes=1_000_000)
    keys = [i.to_bytes(4, "little") for i in range(5_000)]
    cache.put_many(keys, 7, np.arange(5_000), np.ones((5_000, 200)))  # 8 MB of answers
    assert 0 < len(cache) < 5_000 and cache.bytes <= 1_000_000
    assert cache.get(keys[-1]) == (7, 4_999, [1.0] * 200)
    assert cache.get(keys[0]) is None


def test_long_string_keys_count_what_they_hold() -> None:
    cache = AnswerCache(size=10_000, max_bytes=2_000_000)
    for i in range(100):  # 100 rows of 100 kB each: 10 MB asked, 2 MB kept
        cache.put_many([(float(i), "c" * 100_000)], 1, np.zeros(1), np.zeros((1, 2)))
    assert cache.bytes <= 2_000_000 and 10 <= len(cache) <= 20
    assert cache.get((99.0, "c" * 100_000)) is not None


# -- the prediction log: memory when nothing can be written, the spool on disk ---------------


def _down(tmp_path: Path, *, spool_ok: bool, **bounds: int) -> tuple[SegmentLog, list[tuple]]:
    (tmp_path / "artifacts").write_text("the store is down")
    if not spool_ok:
        (tmp_path / "spool").write_text("the spool is not a folder either")
    counted: list[tuple] = []
    log = SegmentLog(
        "predictions",
        store_at(tmp_path / "artifacts"),
        worker="w",
        spool=tmp_path / "spool",
        on_rows=lambda kind, where, n: counted.append((kind, where, n)),
        **bounds,
    )
    return log, counted


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 9), st.booleans()), min_size=1, max_size=30))
def test_unwritable_rows_stay_within_the_buffer_bound(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[int, bool]]
) -> None:
    """Every row appended is buffered or counted as dropped; the buffer never passes its bound."""
    log, counted = _down(tmp_path_factory.mktemp("log"), spool_ok=False, max_rows=20)
    appended = 0
    for index, (n, flush) in enumerate(steps):
        log.append(chunk("a", [f"{index}-{i}" for i in range(n)]))
        appended += n
        if flush:
            log.restore(log.write(log.take()))  # what the flusher does when nothing takes them
        assert log.buffered <= 20
    dropped = sum(n for _, where, n in counted if where == "dropped")
    assert dropped == log.dropped and appended == log.buffered + dropped


def test_the_oldest_rows_go_and_an_error_says_how_many(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log, counted = _down(tmp_path, spool_ok=False, max_rows=10)
    for index in range(5):
        log.append(chunk("a", [f"{index}-{i}" for i in range(4)]))
    kept = [i for c in log.take() for i in dict(c.rows)["prediction_id"]]
    assert kept == ["3-0", "3-1", "3-2", "3-3", "4-0", "4-1", "4-2", "4-3"]  # the newest
    assert counted == [("predictions", "dropped", 4)] * 3 and log.dropped == 12
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1, errors  # one line per 10 s, not one per request
    assert errors[0].startswith("dropped the 4 oldest predictions log rows: new rows came")


def test_the_spool_stays_within_its_bound_and_the_rest_waits_in_memory(tmp_path: Path) -> None:
    log, counted = _down(tmp_path, spool_ok=True, spool_bytes=12_000)
    for index in range(10):
        log.restore(log.write([chunk("a", [f"{index}-{i}" for i in range(50)])]))
    used = sum(p.stat().st_size for p in (tmp_path / "spool").iterdir())
    assert 0 < used <= 12_000
    spooled = sum(n for _, where, n in counted if where == "spool")
    assert spooled + log.buffered == 500 and log.buffered > 0 and log.dropped == 0


def test_a_live_server_whose_store_and_spool_fail_keeps_serving_within_the_bound(
    live: LiveServer,
) -> None:
    store = Path(live.app.project.artifacts.url.removeprefix("file://"))
    moved = store.with_name("artifacts-away")
    store.rename(moved)
    store.write_text("not a folder: every write to the store fails")
    spool = live.app.project.root / ".shipyard" / "spool"
    spool.parent.mkdir(exist_ok=True)
    spool.write_text("not a folder: the spool fails too")
    live.app.predictions.max_rows = 30
    try:
        with live.client() as client:
            for _ in range(60):
                assert client.post("/v1/models/risk/predict", json=ROW).status_code == 200
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and live.app.predictions.dropped < 30:
                time.sleep(0.05)
            metrics = client.get("/metrics").text
    finally:
        store.unlink()
        moved.rename(store)
        spool.unlink()
    assert live.app.predictions.buffered <= 30 and live.app.predictions.dropped >= 30
    dropped = re.search(
        r'shipyard_prediction_log_rows_total\{kind="predictions",destination="dropped"\} (\d+)',
        metrics,
    )
    assert dropped and int(dropped.group(1)) == live.app.predictions.dropped


# -- the access log ---------------------------------------------------------------------------


def test_the_access_log_buffer_drops_past_its_bound_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = io.StringIO()
    access = AccessLog(stream=stream, max_bytes=2_000)
    scope = {"method": "POST", "path": "/v1/models/risk/predict", "client": ("127.0.0.1", 1)}
    for _ in range(100):  # stderr blocked: no flush comes
        access.request(scope, 200, 0.001, "risk")
    assert sum(map(len, access._lines)) <= 2_000 and access.dropped > 50
    access.flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[-1]["dropped_lines"] == access.dropped
    assert len(lines) - 1 + access.dropped == 100  # every request logged or counted
    assert any("dropped" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")


# -- metrics series ---------------------------------------------------------------------------


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_a_path_a_client_makes_up_never_makes_a_new_route_label(path: str) -> None:
    label = route_label("/" + path)
    assert label == "other" or (label.startswith("/") and "{" in label) or label in _plain()


def _plain() -> set[str]:
    from shipyard.serving.metrics import _PLAIN_ROUTES

    return set(_PLAIN_ROUTES)


def test_made_up_models_and_paths_add_no_series(live: LiveServer) -> None:
    def series() -> set[str]:
        text = client.get("/metrics").text
        return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}

    with live.client() as client:
        client.post("/v1/models/nope/predict", json=ROW)
        client.get("/v2/models/nope/versions/3/infer")
        client.get("/made/up")
        before = series()
        for i in range(200):
            client.post(f"/v1/models/model-{i}/predict", json=ROW)
            client.get(f"/v2/models/m{i}/versions/{i}/ready")
            client.request("PATCH", f"/x/{i}/{'y' * i}")
            client.post(f"/v1/models/risk/aliases/a{i}")
        after = series()
    new = {s for s in after - before if "_bucket" not in s}
    named = [s for s in new if "model=" in s and not re.search('model="(unknown|risk|)"', s)]
    assert named == []  # a made-up model is "unknown", never its own series
    assert len(after) - len(before) < 40, sorted(after - before)  # statuses, not names


def test_the_metrics_map_is_bounded_and_says_when_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics(Cells(tmp_path / "counters-w.cells", capacity=4_096))
    for i in range(1_000):
        metrics.inc("shipyard_feedback_total", (f"model-{i}",))
    assert (tmp_path / "counters-w.cells").stat().st_size == 4_096
    counted = metrics.values["shipyard_feedback_total"]
    assert 10 < len(counted) < 100 and all(v == 1 for v in counted.values())
    assert [r.levelname for r in caplog.records].count("ERROR") == 1  # said once


def test_dead_workers_fold_into_one_file_and_totals_stay(tmp_path: Path) -> None:
    """However often workers die, the folder holds one file per live worker plus one."""

    def totals() -> dict[tuple[str, tuple[str, ...]], list[float]]:
        found: dict[tuple[str, tuple[str, ...]], list[float]] = {}
        for series, cells in read_folder(tmp_path):
            had = found.get(series, [0.0] * len(cells))
            found[series] = [a + b for a, b in zip(had, cells, strict=True)]
        return found

    expected = 0
    for restart in range(5):
        cells = Cells(tmp_path / f"counters-w0-{restart}.cells")
        metrics = Metrics(cells)
        metrics.inc("shipyard_feedback_total", ("risk",), restart + 1)
        metrics.observe("shipyard_batch_size", ("risk",), 3)
        expected += restart + 1
        before = totals()
        cells.close()  # the worker died
        assert retire(tmp_path, "w0-") == 1
        assert totals() == before
    assert totals()[("shipyard_feedback_total", ("risk",))] == [expected]
    assert sorted(p.name for p in tmp_path.glob("*.cells")) == ["counters-retired.cells"]
