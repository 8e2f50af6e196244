"""Micro-batching: requests that wait together go in one model call; a failing call is made
again request by request, so one request's rows fail only that request."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from shipyard.serving.batcher import Batcher, ModelFailure
from shipyard.serving.validation import FieldSpec, RowValidator

VALIDATOR = RowValidator([FieldSpec("x")])


def rows(*values: float):  # type: ignore[no-untyped-def]
    return VALIDATOR.records([{"x": v} for v in values])


def test_requests_arriving_while_busy_share_the_next_call() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def model(matrix: np.ndarray) -> tuple[np.ndarray, None]:
        calls.append(len(matrix))
        gate.wait(5)
        return matrix[:, 0] * 2, None

    async def main() -> list[list[float]]:
        batcher = Batcher("m", model, max_batch_size=100)
        first = batcher.submit(rows(1))  # dispatched at once: the model is idle
        others = [batcher.submit(rows(i, i + 0.5)) for i in range(2, 12)]
        await asyncio.sleep(0.05)
        gate.set()
        results = [await f for f in [first, *others]]
        batcher.close()
        return [labels.tolist() for labels, _ in results]

    results = asyncio.run(main())
    assert calls == [1, 20]
    assert results[0] == [2.0] and results[1] == [4.0, 5.0] and results[-1] == [22.0, 23.0]


def test_max_batch_size_splits_a_queue() -> None:
    calls: list[int] = []

    def model(matrix: np.ndarray) -> tuple[np.ndarray, None]:
        calls.append(len(matrix))
        return matrix[:, 0], None

    async def main() -> None:
        batcher = Batcher("m", model, max_batch_size=3, max_wait_s=0.02)
        futures = [batcher.submit(rows(i)) for i in range(7)]
        await asyncio.gather(*futures)
        batcher.close()

    asyncio.run(main())
    assert calls == [3, 3, 1]


def test_a_failing_call_fails_every_request_in_it() -> None:
    seen: list[BaseException | None] = []

    def model(matrix: np.ndarray) -> tuple[np.ndarray, None]:
        raise RuntimeError("boom")

    async def main() -> list[BaseException | None]:
        batcher = Batcher("m", model, on_batch=lambda n, s, usage, e: seen.append(e))
        futures = [batcher.submit(rows(1)), batcher.submit(rows(2))]
        results = await asyncio.gather(*futures, return_exceptions=True)
        batcher.close()
        return list(results)  # type: ignore[arg-type]

    results = asyncio.run(main())
    assert all(
        isinstance(r, ModelFailure) and r.kind == "error" and "boom" in r.detail for r in results
    )
    assert len(seen) >= 1 and isinstance(seen[0], RuntimeError)


def test_one_requests_bad_rows_fail_it_alone_not_the_requests_it_shared_a_call_with() -> None:
    """A null for a model that refuses NaN: that request fails, the others sharing its call
    are answered, and the breaker does not hear of a failing model."""
    calls: list[int] = []
    seen: list[BaseException | None] = []
    gate = threading.Event()

    def model(matrix: np.ndarray) -> tuple[np.ndarray, None]:
        calls.append(len(matrix))
        gate.wait(5)
        if np.isnan(matrix.astype(float)).any():
            raise ValueError("Input X contains NaN.")
        return matrix[:, 0] * 2, None

    async def main() -> list[object]:
        batcher = Batcher("m", model, on_batch=lambda n, s, usage, e: seen.append(e))
        first = batcher.submit(rows(1))  # runs alone while the others queue
        queued = [
            batcher.submit(rows(2)),
            batcher.submit(VALIDATOR.records([{"x": None}])),
            batcher.submit(rows(3, 4)),
        ]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(first, *queued, return_exceptions=True)
        batcher.close()
        return list(results)

    _, good, bad, pair = asyncio.run(main())
    assert calls == [1, 4, 1, 1, 2]  # the shared call of 4 rows, then each request again
    assert good[0].tolist() == [4.0] and pair[0].tolist() == [6.0, 8.0]  # type: ignore[index]
    assert isinstance(bad, ModelFailure) and "contains NaN" in bad.detail
    assert seen == [None, None]  # the model answered others: not a failing model


def test_a_closed_batcher_hands_requests_back() -> None:
    async def main() -> BaseException:
        batcher = Batcher("m", lambda m: (m[:, 0], None))
        batcher.close()
        try:
            await batcher.submit(rows(1))
        except ModelFailure as exc:
            return exc
        raise AssertionError("expected a failure")

    assert asyncio.run(main()).kind == "unloaded"  # type: ignore[attr-defined]
