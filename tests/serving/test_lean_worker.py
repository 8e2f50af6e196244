"""A serving worker imports what it serves with, not the rest of shipyard.

``shipyard serve`` runs in a fresh interpreter until its first answered prediction;
then it lists what it has imported. No data layer (polars, the data, training,
evaluation, maintenance and monitoring stages, the prediction-log reader): those load
when something uses them (background monitoring, after the worker is ready). skops's
trusted types come from the cache, so scikit-learn is not scanned module by module.
The supervisor of a pool (which imports for its forked workers) is held to the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import skops.io  # noqa: F401  # the trusted-types module, for the cache the server reads

from shipyard.models.skops_io import (
    TRUSTED_MODULE,
    cache_file,
    environment_key,
    trusted_names,
    write_cache,
)
from shipyard.project import Project

pytestmark = pytest.mark.slow

NOT_IN_A_WORKER = (
    "polars",
    "jinja2",  # the dashboard loads on the first /ui request only
    "shipyard.dashboard",
    "shipyard.data",
    "shipyard.training",
    "shipyard.evaluation.api",
    "shipyard.maintenance.api",
    "shipyard.monitoring.api",
    "shipyard.predlog.reader",
    "sklearn.gaussian_process",  # skops's scan imports every estimator's module
)

# ``shipyard serve`` itself (the CLI, one worker) in this interpreter; a thread posts a
# prediction until one is answered, then prints what the process has imported
SERVE = """
import json, os, sys, threading, time, urllib.request
import shipyard.serving.server as server
ports, real_bind = [], server.bind
def bind(*args, **kwargs):
    sock = real_bind(*args, **kwargs)
    ports.append(sock.getsockname()[1])
    return sock
server.bind = bind
def probe():
    deadline, answer = time.monotonic() + 120, None
    while answer is None and time.monotonic() < deadline:
        time.sleep(0.05)
        if not ports:
            continue
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports[0]}/v1/models/risk/predict",
            data=json.dumps({"amount": 1000.0, "age": 30}).encode(),
            headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
        except OSError:
            continue
    served = sorted(sys.modules)
    # what the supervisor of a pool imports for its forked workers, on top
    from pathlib import Path
    imported = server.preload(Path(sys.argv[1]), {"risk": "champion"}, 1)
    print(json.dumps({"answer": answer, "modules": served, "preloaded": sorted(sys.modules),
                      "imported": imported,
                      "trusted_from": getattr(sys.modules.get(sys.argv[2]), "__file__", None)}))
    sys.stdout.flush()
    os._exit(0)
threading.Thread(target=probe, daemon=True).start()
from shipyard.cli import cli
cli.main(["-C", sys.argv[1], "serve", "risk", "--port", "0"], prog_name="shipyard")
"""


def run(script: str, project: Project, cache: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", script, str(project.root), TRUSTED_MODULE],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return found


def heavy(modules: list[str]) -> list[str]:
    return sorted(
        m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_IN_A_WORKER)
    )


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache folder holding skops's trusted types for this environment, as a first start
    would have left it (this process has imported skops.io; the servers run the same Python)."""
    folder = tmp_path / "cache"
    key = environment_key()
    path = cache_file(key, folder / "shipyard")
    write_cache(path, key, trusted_names(sys.modules[TRUSTED_MODULE]))
    assert path.exists()
    return folder


def test_shipyard_serve_and_its_supervisor_import_no_data_layer(
    serving_project: Project, cache: Path
) -> None:
    serving_project.close()
    found = run(SERVE, serving_project, cache)
    assert found["answer"] is not None and found["answer"]["path"] == "model", found["answer"]
    assert heavy(found["modules"]) == []
    assert found["trusted_from"].startswith(str(cache))  # read, not scanned
    # the supervisor of forked workers imports the same, and no more of it
    assert "shipyard.models.skops_io" in found["imported"]
    assert heavy(found["preloaded"]) == []
