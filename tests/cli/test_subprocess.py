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


def test_a_reader_that_closes_the_pipe_ends_the_listing_quietly(tmp_path: Path) -> None:
    # `shipyard … --csv | head -1` printed "internal error: OSError: Broken pipe" and exit 1.
    assert shipyard("init", str(tmp_path / "p")).returncode == 0
    rows = "".join(f"L{i},-5,30,DE,2025-01-01T00:00:00,false\n" for i in range(1500))
    (tmp_path / "p" / "bad.csv").write_text(
        "loan_id,amount,age,country,applied_at,defaulted\n" + rows
    )
    shipyard("data", "ingest", "loans", "bad.csv", cwd=tmp_path / "p")  # all quarantined
    exe = shutil.which("shipyard", path=str(Path(sys.executable).parent)) or "shipyard"
    for listing in (["--csv", "-"], ["--limit", "1500"]):  # polars' CSV writer, rich's table
        with subprocess.Popen(
            [exe, "data", "quarantine", "loans@1", *listing], cwd=tmp_path / "p",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        ) as proc:  # fmt: skip
            assert proc.stdout is not None and proc.stderr is not None
            assert proc.stdout.readline()  # `head -1`: one line read, then the pipe closed
            proc.stdout.close()
            stderr = proc.stderr.read().decode()
            assert proc.wait(timeout=60) == 141, stderr  # as git or ls ended by SIGPIPE
        assert stderr == ""
