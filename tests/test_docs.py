"""The README documents every command, option and project-file key; its examples run."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import click
import pytest
import yaml
from pydantic import BaseModel

from helpers import all_commands
from shipyard.cli import cli
from shipyard.config import ProjectConfig, example_project_file, parse_config

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README, flags=re.S)


COMMANDS = all_commands(cli)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_option_is_documented(name: str) -> None:
    assert f"`shipyard {name}" in README, f"README does not document 'shipyard {name}'"
    for param in COMMANDS[name].params:
        if isinstance(param, click.Option):
            for flag in param.opts:
                if flag.startswith("--") and flag != "--help":
                    assert flag in README, f"README does not document 'shipyard {name} {flag}'"


def test_global_options_are_documented() -> None:
    for param in cli.params:
        for flag in param.opts:
            if flag.startswith("--") and flag != "--help":
                assert flag in README, f"README does not document the global option {flag}"


def _keys(model: type[BaseModel], prefix: str) -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        name = field.alias or name  # the key users write (``for``, ``from``)
        path = f"{prefix}.{name}" if prefix else name
        keys.append(path)
        inner = _model_in(field.annotation)
        if inner is not None and not _is_dict(field.annotation):
            keys += _keys(inner, path)
        elif inner is not None:
            placeholder = {
                "datasets": "NAME",
                "models": "NAME",
                "columns": "COL",
                "routes": "NAME",
            }[name]
            keys += _keys(inner, f"{path}.{placeholder}")
    return keys


def _model_in(annotation: typing.Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_dict(annotation: typing.Any) -> bool:
    return typing.get_origin(annotation) is dict


@pytest.mark.parametrize("key", _keys(ProjectConfig, ""))
def test_every_project_file_key_is_documented(key: str) -> None:
    assert f"| `{key}` |" in README, f"README's key table does not document {key}"


def test_the_readme_example_is_what_init_writes() -> None:
    [example] = [block for block in _yaml_blocks() if block.startswith("project: credit")]
    assert parse_config(example, environ={}) == parse_config(
        example_project_file("credit"), environ={}
    )
    assert yaml.safe_load(example)


def test_every_environment_variable_is_documented() -> None:
    source = "\n".join(p.read_text() for p in (Path(__file__).parent.parent / "src").rglob("*.py"))
    for var in set(re.findall(r"\"(SHIPYARD_[A-Z_]+)\"", source)):
        assert f"`{var}`" in README, f"README does not document {var}"


def test_the_readme_python_examples_run(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.demo import write_loans_batch

    monkeypatch.chdir(project_dir)
    write_loans_batch(project_dir / "batch.csv", rows=200, seed=1)
    examples = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(examples) >= 2
    for example in examples:
        exec(compile(example, "README.md", "exec"), {})  # our own documented examples
