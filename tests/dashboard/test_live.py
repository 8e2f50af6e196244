"""The live figures' read of the log: a segment the store says was written before the
window began is passed over without being read."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dashboard_support import log_traffic

import shipyard
from shipyard.dashboard.live import CLOCK_SLACK_S, WINDOW_S, live_figures
from shipyard.predlog import PREDICTIONS, list_segments
from shipyard.project import init_project


def test_a_segment_written_before_the_window_is_not_read(tmp_path: Path) -> None:
    init_project(tmp_path, name="live")
    project = shipyard.open(tmp_path)
    try:
        now = datetime.now(UTC)
        start = now - timedelta(minutes=5)
        first = log_traffic(project, start=start, minutes=2, per_minute=5, shift=0.0, seed=1,
                            latency=lambda i: 5.0, model="m")  # fmt: skip
        [old] = list_segments(project.artifacts, PREDICTIONS, "m", now.date())
        # the store says this one was written long before the window: its rows (timed
        # inside the window here, to tell) are not read, so not counted
        written = time.time() - WINDOW_S - CLOCK_SLACK_S - 60
        os.utime(project.artifacts.link(old), (written, written))
        second = log_traffic(project, start=start, minutes=2, per_minute=5, shift=0.0, seed=2,
                             latency=lambda i: 7.0, model="m")  # fmt: skip
        figures = live_figures(project, "m", now=now)
        assert figures.requests == len(second) and len(first) == len(second) == 10
        assert figures.p99_ms == 7.0
    finally:
        project.close()


def test_a_request_of_many_rows_is_one_request(tmp_path: Path) -> None:
    """A 50-row request and two single rows: 3 requests (as /metrics counts them), p99
    over the 3 requests' latencies, the degraded share over the 52 rows."""
    import numpy as np
    from dashboard_support import Inputs

    from shipyard.predlog import Chunk, SegmentLog

    init_project(tmp_path, name="live")
    project = shipyard.open(tmp_path)
    try:
        now = datetime.now(UTC)
        chunks = []
        for index, (n, ms, degraded) in enumerate(
            [(50, 30.0, False), (1, 2.0, True), (1, 3.0, False)]
        ):
            at = (now - timedelta(minutes=3 - index)).timestamp()
            scalars = (("time", at), ("version", 1), ("path", "model"), ("degraded", degraded),
                       ("reason", None), ("latency_ms", ms), ("variant", "live"))  # fmt: skip
            rows = (("prediction_id", [f"{index}-{i}" for i in range(n)]),
                    ("prediction", [True] * n), ("probabilities", [[0.2, 0.8]] * n))  # fmt: skip
            inputs = Inputs(["amount"], {"amount": np.full(n, 100.0)})
            chunks.append(Chunk("m", n, scalars, rows, inputs))
        log = SegmentLog(PREDICTIONS, project.artifacts, worker="w1", spool=tmp_path / "spool")
        assert log.write(chunks) == []
        figures = live_figures(project, "m", now=now)
        assert figures.requests == 3
        assert figures.p99_ms == 30.0
        assert figures.degraded_share == 1 / 52
    finally:
        project.close()
