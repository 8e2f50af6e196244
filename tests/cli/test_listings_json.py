"""Every command that prints something to read also prints it as JSON (``--json``).

The test walks every command's ``--help``: each must offer ``--json``, except the few
below whose output is not a listing, each with why. A new command either takes
``--json`` or joins this table with its reason.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from helpers import all_commands
from shipyard.cli import cli

NOT_LISTINGS = {
    "init": "writes files and names them",
    "serve": "runs a server until stopped; its access log is JSON lines already",
    "ui": "runs the dashboard's web server until stopped; its pages are the output",
    "worker": "runs until stopped; it logs",
    "data export": "its output is the file it writes (.parquet, .csv, .jsonl)",
    "data infer": "its output is YAML for shipyard.yaml",
    "alerts export": "its output is Prometheus rules (YAML)",
    "reports open": "prints one report's path (and opens it)",
}

COMMANDS = all_commands(cli)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listing_takes_json(name: str) -> None:
    result = CliRunner().invoke(cli, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    if name in NOT_LISTINGS:
        assert "--json" not in result.output, f"{name} takes --json now: drop it from NOT_LISTINGS"
    else:
        assert "--json" in result.output, f"'shipyard {name}' prints a listing but has no --json"


def test_the_exemptions_are_commands() -> None:
    assert set(NOT_LISTINGS) <= set(COMMANDS)
