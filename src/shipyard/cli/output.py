"""How the CLI prints: rich for people, plain JSON for scripts (``--json``).

Values are never markup. The consoles here have rich markup *off*: a plain
string — a dataset value, a model or file name, an error message — prints
exactly as it is, so ``[bold red]x`` or ``oops[/]`` can neither style the
terminal nor crash a command. Styling is opt-in through :func:`markup`, whose
template is ours and whose fields are escaped. Everything printed also has its
terminal control characters (ESC sequences, carriage returns, bidi overrides)
shown as visible escapes such as ``\\x1b``, so data cannot move the cursor,
clear the screen or hide text.
"""

from __future__ import annotations

import json
import re
import string
import sys
from typing import Any

import click
from rich.console import Console
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


class _LiteralConsole(Console):
    """A console that shows control characters in every string it renders."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(literal(text), **kwargs)


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
