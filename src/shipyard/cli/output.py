"""How the CLI prints: rich for people, plain JSON for scripts (``--json``)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console

console = Console(highlight=False, emoji=False)
err_console = Console(stderr=True, highlight=False, emoji=False)

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def print_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout, exactly (no colours, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
