"""Shell completion offers the project's model and dataset names, cheaply and silently."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shipyard.cli import cli

HEAVY = ("polars", "pandas", "pyarrow", "sqlalchemy", "numpy", "sklearn", "scipy", "pydantic")


def _complete(words: str, cwd: Path) -> tuple[int, list[str], str]:
    args = words.split(" ")
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(
            cli,
            [],
            prog_name="shipyard",
            env={
                "_SHIPYARD_COMPLETE": "bash_complete",
                "COMP_WORDS": words,
                "COMP_CWORD": str(len(args) - 1),
            },
        )
    offered = [line.split(",", 1)[1] for line in result.stdout.splitlines() if "," in line]
    return result.exit_code, offered, result.stderr


def test_model_and_dataset_names_are_offered(project_dir: Path) -> None:
    assert _complete("shipyard train ", project_dir)[1] == ["default-risk"]
    assert _complete("shipyard evaluate def", project_dir)[1] == ["default-risk"]
    assert _complete("shipyard monitor default-risk ", project_dir)[1] == ["default-risk"]
    assert _complete("shipyard alerts list --model ", project_dir)[1] == ["default-risk"]
    assert _complete("shipyard data ingest ", project_dir)[1] == ["loans"]
    assert _complete("shipyard data show lo", project_dir)[1] == ["loans"]
    assert _complete("shipyard train x", project_dir)[1] == []


def test_completion_finds_the_project_named_with_dash_c(project_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _complete(f"shipyard -C {project_dir} serve ", elsewhere)[1] == ["default-risk"]


@pytest.mark.parametrize(
    "contents", [None, "models: [not: a: mapping", "- a list\n", "models: 3\n"]
)
def test_no_project_or_a_broken_one_offers_nothing_and_says_nothing(
    tmp_path: Path, contents: str | None
) -> None:
    if contents is not None:
        (tmp_path / "shipyard.yaml").write_text(contents)
    code, offered, err = _complete("shipyard train ", tmp_path)
    assert (code, offered, err) == (0, [], "")


CHECK = """
import json, os, sys
os.environ.update({"_SHIPYARD_COMPLETE": "bash_complete", "COMP_WORDS": "shipyard train ",
                   "COMP_CWORD": "2"})
from shipyard.cli import cli
try:
    cli.main(prog_name="shipyard")
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps(heavy))
"""


def test_completion_imports_no_data_layer(project_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(HEAVY)],
        cwd=project_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "plain,default-risk" in result.stdout
    assert json.loads(result.stdout.splitlines()[-1]) == []
