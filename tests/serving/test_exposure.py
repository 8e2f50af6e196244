"""Exposure is a decision: no server open to the network by accident (issue #12, item 6).

The decision is tested on its own and through the project file; the refusal through
the real CLI in a subprocess. No test binds anything but 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from shipyard.project import Project
from shipyard.serving.exposure import ExposureError, check_exposure, is_loopback
from shipyard.serving.server import exposed

SHIPYARD = [sys.executable, "-m", "shipyard"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LocalHost", "::ffff:127.0.0.1"],
)
def test_loopback_addresses_are_private(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    [
        "0.0.0.0",  # every interface
        "::",
        "[::]",
        "10.1.2.3",
        "192.168.0.7",
        "169.254.169.254",
        "::ffff:10.0.0.1",
        "0x7f000001",  # not an address bind takes; a name that may resolve anywhere
        "my-host.example.com",
        "localhost.evil.example",
    ],
)
def test_serving_on_every_interface_without_a_token_is_refused(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ExposureError) as refused:
        check_exposure(host, require_token=False, public=False)
    assert "refusing to listen on" in refused.value.message
    hint = str(refused.value.hint)
    assert "SHIPYARD_API_TOKEN" in hint and "server.require_token: true" in hint
    assert "--public" in hint


def test_a_token_or_a_deliberate_public_flag_allows_other_addresses() -> None:
    assert check_exposure("0.0.0.0", require_token=True, public=False) is None
    notice = check_exposure("0.0.0.0", require_token=False, public=True)
    assert notice is not None and notice.startswith("PUBLIC")
    assert "send feedback labels" in notice and "admin endpoints are off" in notice
    assert check_exposure("127.0.0.1", require_token=False, public=False) is None


def _with_server_lines(project: Project, lines: str) -> None:
    file = project.root / "shipyard.yaml"
    file.write_text(
        file.read_text().replace("  access_log: false", "  access_log: false\n" + lines)
    )


def test_the_project_file_decides_too(serving_project: Project) -> None:
    with pytest.raises(ExposureError):
        exposed(serving_project.root, "0.0.0.0", public=False)
    _with_server_lines(serving_project, "  public: true")
    assert "PUBLIC" in str(exposed(serving_project.root, "0.0.0.0", public=False))


def test_require_token_in_the_project_file_allows_every_interface(
    serving_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_API_TOKEN", "t" * 32)
    _with_server_lines(serving_project, "  require_token: true")
    assert exposed(serving_project.root, "::", public=False) is None


def test_shipyard_serve_on_every_interface_without_a_token_refuses_at_once(
    serving_project: Project,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_API_TOKEN"}
    result = subprocess.run(
        [*SHIPYARD, "-C", str(serving_project.root), "serve", "risk", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=300, env={**env, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "refusing to listen on 0.0.0.0 without a token" in result.stderr
    assert "server.require_token: true" in result.stderr and "--public" in result.stderr
    assert "Traceback" not in result.stderr and "serving risk" not in result.stderr


def test_require_token_without_a_token_refuses_before_saying_it_serves(
    serving_project: Project,
) -> None:
    """An operator must not read "serving … on http://…" from a server that is not there."""
    file = serving_project.root / "shipyard.yaml"
    file.write_text(file.read_text().replace("server:\n", "server:\n  require_token: true\n", 1))
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_API_TOKEN"}
    result = subprocess.run(
        [*SHIPYARD, "-C", str(serving_project.root), "serve", "risk", "--port", "0"],
        capture_output=True, text=True, timeout=300, env={**env, "SHIPYARD_ADMIN_TOKEN": "a" * 32},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(
        "error: server.require_token is on but SHIPYARD_API_TOKEN is not set"
    ), result.stderr
    assert "serving" not in result.stderr and "Traceback" not in result.stderr


def test_shipyard_serve_public_says_what_is_open(serving_project: Project) -> None:
    """The one test that binds 0.0.0.0 (port 0), for a moment: killed once it has spoken."""
    env = {k: v for k, v in os.environ.items() if k != "SHIPYARD_API_TOKEN"}
    process = subprocess.Popen(
        [*SHIPYARD, "-C", str(serving_project.root), "serve", "risk", "--host", "0.0.0.0",
         "--port", "0", "--public"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**env, "COLUMNS": "200"},
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("PUBLIC: no token" in x for x in lines):
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
    text = "".join(lines)
    assert "PUBLIC: listening on 0.0.0.0 with no token" in text  # the log, before binding
    assert "send feedback labels" in text and "admin endpoints are off" in text
    assert "serving risk@champion on http://0.0.0.0:" in text
    assert "PUBLIC: no token protects http://0.0.0.0:" in text
