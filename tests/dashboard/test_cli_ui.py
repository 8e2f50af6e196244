"""``shipyard ui``: the dashboard alone, on loopback unless asked otherwise."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from dashboard_support import row_of

from shipyard.cli import cli
from shipyard.dashboard.http import CSP
from shipyard.project import init_project


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    made = tmp_path_factory.mktemp("ui")
    init_project(made, name="ui-project")
    return made


def test_a_public_address_needs_public(folder: Path) -> None:
    result = CliRunner().invoke(cli, ["-C", str(folder), "ui", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to serve the dashboard on 0.0.0.0" in result.output
    assert "--public" in result.output and "Traceback" not in result.output


def test_shipyard_ui_serves_the_dashboard_until_interrupted(folder: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "-C", str(folder), "ui", "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stderr is not None
    try:
        line = process.stderr.readline()
        found = re.search(r"dashboard: (http://127\.0\.0\.1:\d+)/ui", line)
        assert found, line + process.stderr.read()
        url = found.group(1)
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"{url}/ui", timeout=30)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the dashboard never answered"
                time.sleep(0.1)
        assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
        assert row_of(page.text, "data-model", "default-risk")["champion"] == "none"
        assert httpx.get(f"{url}/v1/models", timeout=30).status_code == 404  # pages only
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) in (0, 130)
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
