"""The real `shipyard` executable, as users and CI run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def shipyard(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("shipyard", path=str(Path(sys.executable).parent)) or "shipyard"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def test_version_and_help() -> None:
    assert shipyard("--version").returncode == 0
    result = shipyard("--help")
    assert result.returncode == 0
    for command in ("init", "doctor", "demo", "audit"):
        assert command in result.stdout


@pytest.mark.timeout(900)  # the whole lifecycle: generous, so a busy machine is not a failure
def test_demo_runs_to_its_summary(tmp_path: Path) -> None:
    result = shipyard("demo", "--no-serve", "--dir", str(tmp_path / "demo"), timeout=840)
    assert result.returncode == 0, result.stderr
    assert "summary" in result.stdout
    assert "all checks passed" in result.stdout
    assert "alert fired" in result.stdout and "owner's webhook  received 2" in result.stdout
    assert (
        "shipyard runs list:" in result.stdout and "the audit log since the alert:" in result.stdout
    )
    last = result.stdout.rstrip().splitlines()[-1]  # it ends with where the dashboard is
    assert last.startswith(f"dashboard: run `shipyard -C {tmp_path / 'demo'} ui`, then open http")


def test_a_user_error_exits_2_with_one_message(tmp_path: Path) -> None:
    result = shipyard("doctor", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: no shipyard.yaml")
    assert "hint: create one with 'shipyard init" in result.stderr


def test_unknown_command_exits_2() -> None:
    result = shipyard("nope")
    assert result.returncode == 2
    assert "No such command" in result.stderr


@pytest.mark.timeout(900)  # six processes: generous, so a busy machine is not a failure
def test_a_small_csv_read_just_before_exit_does_not_abort(tmp_path: Path) -> None:
    # Arrow's CSV threads, started just before the process exits, aborted it about one
    # run in five ("terminate called without an active exception", exit 134).
    assert shipyard("init", str(tmp_path / "p")).returncode == 0
    (tmp_path / "p" / "header.csv").write_text("loan_id,amount\n")
    codes = [
        shipyard("data", "infer", "header.csv", "--dataset", "x", "--dry-run", cwd=tmp_path / "p")
        for _ in range(6)
    ]
    assert [c.returncode for c in codes] == [2] * 6, codes[0].stderr
    assert "has a header but no rows" in codes[0].stderr
