"""How the CLI prints: rich for people, plain JSON for scripts (``--json``).

Values are never markup. The consoles here have rich markup *off*: a plain
string — a dataset value, a model or file name, an error message — prints
exactly as it is, so ``[bold red]x`` or ``oops[/]`` can neither style the
terminal nor crash a command. Styling is opt-in through :func:`markup`, whose
template is ours and whose fields are escaped. Everything printed also has its
terminal control characters (ESC sequences, carriage returns, bidi overrides)
shown as visible escapes such as ``\\x1b``, so data cannot move the cursor,
clear the screen or hide text.

Output fits where it goes. On a terminal, rich wraps to its width and styles it;
piped or redirected (``shipyard data list | grep``, ``> file``), nothing wraps —
tables keep their columns and paths stay whole — unless ``COLUMNS`` says a width.
Colour follows rich: only on a terminal, never with ``NO_COLOR``, always with
``FORCE_COLOR`` (which does not make a pipe wrap).
"""

from __future__ import annotations

import json
import os
import re
import string
import sys
from typing import Any

import click
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.text import Text

# C0 controls but newline and tab, DEL, C1 controls, and the bidi marks and overrides
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def literal(value: object) -> str:
    """``str(value)`` safe for a terminal: control characters become visible escapes."""
    return _CONTROLS.sub(_visible, str(value))


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


UNWRAPPED = 100_000  # the width of a pipe: wide enough that no line of ours wraps
RULE_WIDTH = 80  # a rule drawn into a pipe: a line, not 100,000 dashes


def on_terminal(stream: Any) -> bool:
    """Whether ``stream`` really is a terminal (``FORCE_COLOR`` does not make it one)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # closed
        return False


class _LiteralConsole(Console):
    """A console that shows control characters in every string it renders, and does
    not wrap what goes to a pipe or a file."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if kwargs.get("width") is None:
            self._width = None  # rich fixed it from COLUMNS at import: read COLUMNS when printing

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(literal(text), **kwargs)

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not self._terminal_width():
            return ConsoleDimensions(UNWRAPPED, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def _terminal_width(self) -> bool:
        """Whether lines wrap: on a real terminal, or when ``COLUMNS`` names a width."""
        return on_terminal(self.file) or os.environ.get("COLUMNS", "").isdigit()

    def on_broken_pipe(self) -> None:
        """stdout's reader went away: the CLI's entry point ends quietly (rich exits 1)."""
        self.quiet = True
        raise BrokenPipeError(32, "Broken pipe: stdout's reader closed it")

    def rule(self, *args: Any, **kwargs: Any) -> None:
        """A horizontal line with a title; into a pipe, 80 columns wide."""
        from rich.rule import Rule

        width = None if self._width is not None or self._terminal_width() else RULE_WIDTH
        self.print(Rule(*args, **kwargs), width=width)


def wide_console(file: Any) -> Console:
    """A console as wide as what it prints (rich caps a print at its console's width)."""
    return _LiteralConsole(file=file, width=1_000_000, highlight=False, markup=False, emoji=False)


class _EscapingFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        return escape(literal(super().format_field(value, format_spec)))


_FORMATTER = _EscapingFormatter()


def markup(template: str, *args: object, **kwargs: object) -> Text:
    """Styled text: ``template`` is rich markup we wrote; every ``{}`` field is literal.

    ``markup("[bold]{}[/] received {:,}", version.ref, 300)``
    """
    return Text.from_markup(_FORMATTER.format(template, *args, **kwargs), emoji=False)


console = _LiteralConsole(highlight=False, emoji=False, markup=False)
err_console = _LiteralConsole(stderr=True, highlight=False, emoji=False, markup=False)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout, exactly (no colours, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def csv_to_stdout(frame: Any) -> None:
    """``frame`` as spreadsheet-safe CSV on stdout; on a terminal, escaped like every other
    value we print (unvetted values must not be control codes)."""
    import io

    from shipyard.data.csv_safe import write_csv

    sys.stdout.flush()
    if sys.stdout.isatty():
        buffer = io.BytesIO()
        write_csv(frame, buffer)
        sys.stdout.write(literal(buffer.getvalue().decode("utf-8", "replace")))
        sys.stdout.flush()
        return
    write_csv(frame, sys.stdout.buffer)
    sys.stdout.buffer.flush()
