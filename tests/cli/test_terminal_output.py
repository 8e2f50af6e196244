"""Output fits where it goes: a pipe gets whole lines, colour only on a terminal (NO_COLOR,
FORCE_COLOR honoured), a progress bar only on a terminal's stderr."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from shipyard.cli import cli
from shipyard.cli import progress as progress_module
from shipyard.cli.output import err_console
from shipyard.project import init_project, open_project

COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def _deep_project(tmp_path: Path) -> Path:
    folder = tmp_path / ("a-folder-with-a-long-name-" * 4) / "and-another-one-below-it"
    init_project(folder, name="deep")
    return folder


def test_piped_output_keeps_long_paths_and_table_rows_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)  # pytest-xdist's workers set 80
    folder = _deep_project(tmp_path)
    reason = "moved because the holdout of the week before said so, " * 3
    with open_project(folder) as project:
        project.record("model.noted", "default-risk", reason=reason.strip())
    doctor = CliRunner().invoke(cli, ["-C", str(folder), "doctor"])
    assert doctor.exit_code == 0, doctor.output
    assert f"({folder / 'shipyard.yaml'})" in doctor.output  # the path, on one line
    audit = CliRunner().invoke(cli, ["-C", str(folder), "audit"])
    [row] = [line for line in audit.output.splitlines() if "model.noted" in line]
    assert "default-risk" in row and reason.strip() in row  # every column on the row's line


def test_columns_still_sets_a_width(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _deep_project(tmp_path)
    monkeypatch.setenv("COLUMNS", "60")
    doctor = CliRunner().invoke(cli, ["-C", str(folder), "doctor"])
    assert doctor.exit_code == 0, doctor.output
    assert max(len(line.rstrip()) for line in doctor.output.splitlines()) <= 60


def _doctor_in_a_pipe(folder: Path, **env: str) -> str:
    unset = ("NO_COLOR", "FORCE_COLOR", "COLUMNS")  # pytest-xdist's workers set COLUMNS=80
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    result = subprocess.run(
        [sys.executable, "-m", "shipyard", "-C", str(folder), "doctor"],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_colour_only_on_a_terminal_or_when_forced_and_never_with_no_color(tmp_path: Path) -> None:
    folder = _deep_project(tmp_path)
    piped = _doctor_in_a_pipe(folder)
    assert "\x1b" not in piped and "all checks passed" in piped
    forced = _doctor_in_a_pipe(folder, FORCE_COLOR="1")
    assert "\x1b[32m" in forced  # green "ok"
    assert f"({folder / 'shipyard.yaml'})" in COLOUR.sub("", forced)  # forced colour: no wrap
    refused = _doctor_in_a_pipe(folder, FORCE_COLOR="1", NO_COLOR="1")
    assert not re.search(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;)", refused)  # styles, no colours


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_is_drawn_on_a_terminals_stderr_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_module, "SHOW_AFTER_S", 0.0)
    terminal = _Terminal()
    monkeypatch.setattr(err_console, "_file", terminal)
    monkeypatch.setattr(err_console, "is_interactive", True)  # as it is when run on a terminal
    with progress_module.progress("training default-risk", steps=2) as step:
        step("loading loans@1")
        time.sleep(0.5)  # the bar refreshes on its own thread
        step("fitting")
    drawn = terminal.getvalue()
    assert "training default-risk" in drawn and "loading loans@1" in drawn and "\x1b" in drawn

    piped = io.StringIO()  # not a terminal: nothing at all
    monkeypatch.setattr(err_console, "_file", piped)
    with progress_module.progress("training default-risk", steps=2) as step:
        step("loading loans@1")
        time.sleep(0.2)
    assert piped.getvalue() == ""
    monkeypatch.setattr(err_console, "_file", terminal)
    before = terminal.getvalue()
    with progress_module.progress("evaluating", quiet=True) as step:  # --json
        step("scoring")
        time.sleep(0.2)
    assert terminal.getvalue() == before


def test_a_command_in_a_pipe_prints_no_bar(tmp_path: Path) -> None:
    from shipyard.config.example_data import write_loans_batch

    folder = _deep_project(tmp_path)
    write_loans_batch(folder / "b.csv", rows=100, seed=1)
    result = CliRunner().invoke(
        cli, ["-C", str(folder), "data", "ingest", "loans", str(folder / "b.csv")]
    )
    assert result.exit_code in (0, 1), result.output
    assert "ingesting" not in result.stderr and "loans@1" in result.stdout
