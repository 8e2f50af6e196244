"""``shipyard serve --workers 2`` forks its workers from a supervisor that has imported
what they need, so they share those pages copy-on-write instead of each importing
them again (see serving/server.py).

The check reads the kernel's accounting, not a clock: a forked worker's anonymous
memory (Python objects, the heap) is partly shared with its supervisor and its
sibling, so its proportional share (``Pss_Anon``) is below its resident anonymous
memory; a spawned worker (a new interpreter) shares no anonymous page with anyone.
"""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from serving_support import serve_process

from shipyard.project import Project
from shipyard.serving.server import FORMAT_MODULES, WORKER_MODULES

pytestmark = pytest.mark.slow

ROW = {"amount": 1000.0, "age": 30}


def rollup(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])
    return fields


def forked_workers(pid: int) -> list[int]:
    """The supervisor's children that run its own command line (forked, not exec'd)."""
    own = Path(f"/proc/{pid}/cmdline").read_bytes()
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if Path(f"/proc/{c}/cmdline").read_bytes() == own]


def test_workers_are_forked_and_share_the_supervisors_pages(serving_project: Project) -> None:
    with serve_process(serving_project.root, "risk", "--workers", "2") as (process, url, lines):
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(20):
                answer = client.post("/v1/models/risk/predict", json=ROW)
                assert answer.status_code == 200 and answer.json()["path"] == "model"
        workers = forked_workers(process.pid)
        assert len(workers) == 2
        for worker in workers:
            memory = rollup(worker)
            # shared with the supervisor and the sibling: well under its own resident share
            assert memory["Pss_Anon"] < 0.8 * memory["Anonymous"], memory
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0  # both workers drained and stopped
    said = "".join(lines)
    assert "Traceback" not in said
    assert "threads before forking" not in said  # nothing unsafe was running at the fork


def test_the_served_formats_have_a_module_to_preload() -> None:
    from shipyard.models.formats import FORMATS

    assert set(FORMAT_MODULES) == set(FORMATS)
    assert "shipyard.serving.app" in WORKER_MODULES
