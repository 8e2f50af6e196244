"""Scale-out on one machine: three `shipyard serve` replicas behind nginx, sharing one
PostgreSQL and one S3 API (moto), under continuous load (see ``scripts/scale_out.py``).

One scenario, one test (starting the cluster is most of its time): a promotion, a
``kill -9``, a restart, then the prediction log and monitoring read back.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from helpers import missing_backend

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts"))

from scale_out import ALIAS_POLL_S, LOG_FLUSH_S, describe, make_project, run_scenario

THREADS = 3


@pytest.mark.postgres
@pytest.mark.s3
@pytest.mark.timeout(400)
def test_three_replicas_behind_nginx_promote_kill_restart(
    tmp_path: Path, postgres_url: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("nginx") is None:
        missing_backend("no nginx: apt-get install nginx (Debian's package)")
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URL", f"s3://{s3_bucket}/artifacts")
    old, new = make_project(tmp_path)
    report = run_scenario(tmp_path, threads=THREADS, say=lambda text: None)
    describe(report)  # shown with -s, and beside a failure

    assert (report.old, report.new) == (old, new)
    # every replica took the request share nginx gave it, and answered
    assert len(report.answered_by) == 3 and min(report.answered_by.values()) > 0
    # 1. promotion: each replica answers with the new version within alias_poll_s + 2 s,
    # nothing older after that, and no request failed for it (see 2: the only failures)
    assert set(report.switch_s) == set(report.answered_by)
    assert max(report.switch_s.values()) <= ALIAS_POLL_S + 2
    assert report.old_after_switch == 0
    # 2. kill -9: the only failed requests were those nginx had sent to the killed replica:
    # in flight on it, or sent on a connection nginx had open to it before it saw the death
    # (a POST already sent is not sent again; at most one per client, max_fails=1)
    assert report.failed_elsewhere == []
    assert report.failed == report.sent_to_dead
    assert len(report.failed) <= report.in_flight_at_kill + THREADS <= 2 * THREADS
    assert report.answered_by_killed_after_kill == 0
    # 3. restart: not ready (refused: it listens once its models are in), then it rejoins
    # and answers with the champion it loaded
    # (refused, never held: a connection that waited in its backlog for the models would
    # hold a client for the whole cold start, and /readyz would not answer in 2 s)
    assert report.readyz_while_starting == ["refused"]
    assert report.rejoined > 0 and report.rejoined_versions == {new}
    # 4. the log: every answered request exactly once, but the killed replica's rows of its
    # last log_flush_s (and the write in progress) ...
    assert report.duplicates == 0
    assert report.unanswered_rows == 0
    assert report.lost_from <= {report.killed}
    assert report.lost_oldest_s <= LOG_FLUSH_S + 2
    assert report.logged + report.lost == report.requests - len(report.failed) + len(
        report.switch_asked
    )
    # ... and monitoring over every replica's segments: one alert for the one problem
    # (drifted amounts from every replica), however many replicas or runs saw it
    assert [a["rule"] for a in report.alerts] == ["drift"]
    assert [a["id"] for a in report.alerts_after_second_run] == [report.alerts[0]["id"]]
