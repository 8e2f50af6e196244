"""Overload is shed with 429 and Retry-After; the breaker and the fallback only hear of the model.

A model whose call costs time per row (so micro-batching cannot absorb the
load) is sent far more concurrent requests than it can answer within its budget.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from busy_model import burst, make_busy_project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_support import LiveServer

from shipyard.project import Project
from shipyard.serving.admission import ServiceTime, retry_after
from shipyard.serving.app import ServingApp
from shipyard.serving.batcher import Batcher, ModelFailure
from shipyard.serving.usage import ThreadUsage, Usage
from shipyard.serving.validation import Rows

PROJECT = """\
project: overload-test
server: {log_flush_s: 0.2, alias_poll_s: 0.2, access_log: false}
datasets:
  loans:
    target: defaulted
    columns:
      amount: {type: float, min: 0, max: 1000000, nullable: false}
      age: {type: int, min: 18, max: 120, nullable: false}
      defaulted: {type: bool}
models:
  slow:
    owner: {name: risk-team, email: risk@example.com}
    task: binary_classification
    dataset: loans
    features: [amount, age]
    trusted_types: [rowcost.RowCost]
    latency_budget_ms: 1000
    serving:
      max_batch_size: 4
      breaker: {failures: 3, window_s: 30, cooldown_s: 60}
    fallback:
      default: {prediction: false, probabilities: [0.5, 0.5]}
"""


@pytest.fixture
def slow_project(tmp_path: Path) -> Iterator[Project]:
    project = make_busy_project(tmp_path / "proj", PROJECT)
    try:
        yield project
    finally:
        project.close()


@pytest.fixture
def slow(slow_project: Project) -> Iterator[LiveServer]:
    with LiveServer(ServingApp(slow_project, {"slow": "champion"})) as server:
        yield server


def test_a_healthy_model_under_overload_sheds_with_429_and_keeps_its_breaker_closed(
    slow: LiveServer,
) -> None:
    responses = burst(slow.url, 200)  # capacity: about 45 rows a second
    answered = [r for r in responses if r.status_code == 200]
    shed = [r for r in responses if r.status_code == 429]
    assert len(answered) + len(shed) == len(responses), {r.status_code for r in responses}
    assert answered and shed
    assert all(r.json()["path"] == "model" and not r.json()["degraded"] for r in answered)
    for response in shed:
        assert int(response.headers["retry-after"]) >= 1
        body = response.json()
        assert body["code"] == "overloaded" and "model 'slow' is busy" in body["error"]
    deployment = slow.app.deployments["slow"]
    assert deployment.breaker.state == "closed" and deployment.breaker.opened == 0
    load = httpx.get(f"{slow.url}/v1/models/slow").json()["load"]
    assert load["call_ms"] >= 30 and load["full_batch_call_ms"] >= 90  # 10 ms + 20 ms a row
    values = slow.app.metrics.values
    shed_total = sum(v for k, v in values["shipyard_shed_total"].items() if k[0] == "slow")
    assert shed_total == len(shed)
    assert not values.get("shipyard_model_failures_total")
    assert not values.get("shipyard_degraded_total")
    text = httpx.get(f"{slow.url}/metrics").text
    assert 'shipyard_shed_total{model="slow",reason="over_capacity"}' in text
    assert 'route="/v1/models/{name}/predict",status="429"' in text


def test_a_failing_model_under_the_same_load_still_opens_its_breaker(
    slow: LiveServer, slow_project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    (slow_project.root / "mode.txt").write_text("raise")
    responses = burst(slow.url, 60)
    answered = [r.json() for r in responses if r.status_code == 200]
    assert answered and all(a["path"] == "default" for a in answered)
    assert {a["reason"] for a in answered} <= {"error", "circuit_open"}
    assert slow.app.deployments["slow"].breaker.state == "open"
    after = httpx.post(f"{slow.url}/v1/models/slow/predict", json={"amount": 1.0, "age": 30})
    assert after.json()["reason"] == "circuit_open"  # the model is not called any more
    opened = [r.getMessage() for r in caplog.records if "circuit breaker open" in r.getMessage()]
    assert len(opened) == 1 and opened[0].startswith("slow: circuit breaker open (it raised)")


def test_a_draining_worker_sheds_with_503(slow: LiveServer) -> None:
    slow.app.begin_drain()
    responses = burst(slow.url, 120)
    statuses = {r.status_code for r in responses}
    assert statuses <= {200, 503} and 503 in statuses
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.json()["code"] == "overloaded" and int(refused.headers["retry-after"]) >= 1
    assert "another replica" in refused.json()["hint"]


def test_shed_requests_go_to_the_refusal_log_not_the_prediction_log(
    slow: LiveServer, slow_project: Project
) -> None:
    responses = burst(slow.url, 150)
    shed = sum(r.status_code == 429 for r in responses)
    answered = sum(r.status_code == 200 for r in responses)
    assert shed
    asyncio.run(slow.app.background.flush())
    import polars as pl

    from shipyard.monitoring.window import Window, read_log

    window = Window.newest(100_000)
    rejections = read_log(slow_project.artifacts, "rejections", "slow", window)
    predictions = read_log(slow_project.artifacts, "predictions", "slow", window)
    assert rejections.filter(pl.col("code") == "overloaded").height == shed
    assert predictions.height == answered
    assert predictions.get_column("reason").null_count() == answered


# -- the batcher: why a request that waited too long was not answered ---------------------
def _rows(n: int) -> Rows:
    return Rows({"x": np.zeros(n)}, n, True)


def test_a_request_that_waited_behind_a_healthy_call_is_told_queue_timeout() -> None:
    release = threading.Event()

    def model(matrix: np.ndarray) -> tuple[np.ndarray, None]:
        release.wait(10)
        return matrix[:, 0], None

    async def scenario(stall_s: float) -> str:
        batcher = Batcher("m", model, stall_s=stall_s)
        loop = asyncio.get_running_loop()
        first = batcher.submit(_rows(1))
        second = batcher.submit(_rows(2), deadline=loop.time() + 0.05)
        assert batcher.queued_rows == 2 and batcher.running_rows == 1
        try:
            await second
        except ModelFailure as failure:
            kind = failure.kind
        assert batcher.queued_rows == 0  # out of the queue at once, not when reached
        release.set()
        await first
        batcher.close()
        return kind

    assert asyncio.run(scenario(stall_s=30.0)) == "queue_timeout"
    release.clear()
    assert asyncio.run(scenario(stall_s=0.0)) == "timeout"  # the call itself overran


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.sampled_from(["submit", "cancel", "expire", "step"]), st.integers(1, 5)))
)
def test_queued_rows_always_equals_the_rows_still_waiting(ops: list[tuple[str, int]]) -> None:
    """Whatever happens to requests (answered, cancelled, expired), the count never drifts."""

    async def scenario() -> None:
        gate = threading.Semaphore(0)

        def model(matrix: np.ndarray) -> tuple[np.ndarray, None]:
            gate.acquire(timeout=10)
            return matrix[:, 0], None

        batcher = Batcher("m", model, max_batch_size=4, stall_s=30.0)
        futures: list[tuple[asyncio.Future, object]] = []
        for op, n in ops:
            if op == "submit":
                futures.append((batcher.submit(_rows(n)), n))
            elif op == "cancel" and futures:
                futures[n % len(futures)][0].cancel()
            elif op == "expire" and futures:
                item = next((i for i in batcher._queue if not i.future.done()), None)
                if item is not None:
                    batcher.expire(item)
            elif op == "step":
                gate.release()
                await asyncio.sleep(0.01)
            await asyncio.sleep(0)  # done-callbacks run
            waiting = sum(i.rows.n for i in batcher._queue if not i.future.done() and i.queued)
            assert batcher.queued_rows == waiting
        for _ in range(len(ops) + 1):
            gate.release()
        await asyncio.gather(*(f for f, _ in futures), return_exceptions=True)
        await asyncio.sleep(0)
        assert batcher.queued_rows == 0
        batcher.close()

    asyncio.run(scenario())


# -- the estimate ---------------------------------------------------------------------------
def test_service_time_learns_per_batch_size_and_drains_in_full_batches() -> None:
    service = ServiceTime(max_batch_size=8)
    assert service.call(3) == 0.0  # nothing seen: no basis to shed on
    service.record(8, 0.050)
    assert service.call(3) == pytest.approx(0.050)  # only a larger size seen: an over-estimate
    service.record(1, 0.010)
    assert service.call(1) == pytest.approx(0.010)
    assert service.call(3) == pytest.approx(0.010 + 0.040 * 3 / 7)  # between sizes seen: 4 rows
    assert service.drain(20) == pytest.approx(2 * 0.050 + service.call(4))  # 8 + 8 + 4 rows
    service.record(16, 0.1)  # a larger call than the batch size is its own bucket
    assert service.call(32) == pytest.approx(0.2)  # scaled up from the largest seen
    for _ in range(50):
        service.record(1, 0.002)
    assert service.call(1) == pytest.approx(0.002, rel=0.01)  # a moving average follows


def test_retry_after_is_whole_seconds_and_never_zero() -> None:
    assert retry_after(0.0) == 1 and retry_after(0.2) == 1 and retry_after(1.01) == 2


def test_the_loop_lag_reflects_a_blocked_event_loop() -> None:
    from shipyard.serving.admission import LoopLag

    async def scenario() -> float:
        lag = LoopLag()
        lag.start()
        await asyncio.sleep(0.02)
        time.sleep(0.1)  # the loop is blocked: a request arriving now waits this long
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        seen = lag.seconds
        await lag.stop()
        return seen

    assert asyncio.run(scenario()) > 0.05


# -- whose fault a long call is ---------------------------------------------------------------
def _timed_call(work: object, beside: object = None) -> tuple[float, Usage | None]:
    """Run ``work`` on a thread watched by ThreadUsage (``beside`` runs meanwhile here)."""
    clocks = ThreadUsage()
    out: list[tuple[float, Usage | None]] = []

    def run() -> None:
        clocks.start()
        start, began = clocks.snapshot(), time.perf_counter()
        work()  # type: ignore[operator]
        out.append((time.perf_counter() - began, clocks.since(start)))
        clocks.close()

    thread = threading.Thread(target=run)
    thread.start()
    if beside is not None:
        beside()  # type: ignore[operator]
    thread.join(30)
    return out[0]


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_blocked_call_is_unexplained_and_a_computing_or_starved_one_is_not() -> None:
    wall, usage = _timed_call(lambda: time.sleep(0.3))  # a hung model: blocked on its own
    assert usage is not None and usage.unexplained >= wall / 2
    wall, usage = _timed_call(lambda: _spin(0.2))  # a slow model: it computes
    assert usage is not None and usage.cpu >= 0.15
    # a healthy call held up by another thread of the worker taking the interpreter lock
    wall, usage = _timed_call(lambda: _spin(0.2), beside=lambda: _spin(0.4))
    assert usage is not None and usage.unexplained < wall / 2, (wall, usage)


def test_a_size_not_called_for_a_while_gives_way_to_fresh_ones() -> None:
    """After a flood slowed the full batches, light load's small calls set the estimate."""
    now = [0.0]
    service = ServiceTime(max_batch_size=64, clock=lambda: now[0])
    service.record(64, 0.040)  # full batches during the flood, slowed by it
    now[0] = 10.0
    service.record(1, 0.001)  # light load afterwards: single-row calls only
    assert service.call(64) == pytest.approx(0.064)  # scaled from the fresh size, not 40 ms
    now[0] = 100.0  # nothing fresh at all: everything known counts again
    assert service.call(64) == pytest.approx(0.040)
