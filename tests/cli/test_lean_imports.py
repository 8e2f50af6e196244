"""``shipyard --help`` stays quick: the CLI and ``import shipyard`` load no data layer.

The help of every command is printed in a fresh interpreter, which then lists the
heavy packages it has imported: none may be there. A command imports what it
needs when it runs.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import shipyard
from shipyard.cli.data_cmds import RANGE_MARGIN
from shipyard.data.infer import MARGIN

HEAVY = ("polars", "pandas", "pyarrow", "sqlalchemy", "numpy", "sklearn", "scipy", "pydantic")

EVERY_HELP = """
import json, sys
import click
from shipyard.cli import cli

def helps(group, path):
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from helps(command, [*path, name])
        else:
            yield [*path, name]

shown = 0
for path in helps(cli, []):
    try:
        cli.main([*path, "--help"], prog_name="shipyard", standalone_mode=False)
    except SystemExit:
        pass
    shown += 1
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps({"shown": shown, "heavy": heavy}))
"""


@pytest.mark.slow
def test_the_help_of_every_command_imports_no_data_layer() -> None:
    result = subprocess.run(
        [sys.executable, "-c", EVERY_HELP, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["shown"] > 30  # every command and group, not just the root
    assert found["heavy"] == []


@pytest.mark.slow
def test_import_shipyard_is_light_and_its_names_load_on_use() -> None:
    script = (
        "import json, sys, shipyard\n"
        "before = sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(sys.argv[1])))\n"
        "names = {n: type(getattr(shipyard, n)).__name__ for n in shipyard.__all__}\n"
        "print(json.dumps({'before': before, 'names': names}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["before"] == []
    assert set(found["names"]) == set(shipyard.__all__)


def test_the_public_names_are_the_real_ones() -> None:
    from shipyard.errors import ShipyardError
    from shipyard.project import Project, open_project

    assert shipyard.open is open_project
    assert shipyard.Project is Project
    assert shipyard.ShipyardError is ShipyardError
    assert "open" in dir(shipyard)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        shipyard.nope  # noqa: B018 - the attribute access is the test


def test_the_help_of_data_infer_says_the_margin_it_uses() -> None:
    assert f"{MARGIN:.0%}" == RANGE_MARGIN
