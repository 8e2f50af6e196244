"""Read ``shipyard.yaml`` into a :class:`ProjectConfig`, or say every problem at once.

Each problem names the line, the key path, what was expected and what was found::

    shipyard.yaml:14: models.fraud.latency_budget_ms: expected a positive number, got 'fast'

Storage URLs can be overridden by ``SHIPYARD_DATABASE_URL`` and
``SHIPYARD_ARTIFACTS_URL`` so one file serves a laptop and a cluster.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from shipyard.errors import ConfigError, ProjectNotFoundError

from .checks import Problem, check_project, did_you_mean
from .destinations import destination_problems
from .schema import ProjectConfig, StorageConfig

PROJECT_FILE = "shipyard.yaml"
ENV_OVERRIDES = {"database": "SHIPYARD_DATABASE_URL", "artifacts": "SHIPYARD_ARTIFACTS_URL"}

KeyPath = tuple[str | int, ...]

_EXPECTED = {
    "missing": "required, but missing",
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "dict_type": "expected a mapping of 'key: value' lines",
    "model_type": "expected a mapping of 'key: value' lines",
    "model_attributes_type": "expected a mapping of 'key: value' lines",
    "list_type": "expected a list",
}


def find_project_file(start: Path) -> Path:
    """The ``shipyard.yaml`` in ``start`` or its nearest parent that has one."""
    start = start.resolve()
    if start.is_file():
        return start
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    raise ProjectNotFoundError(
        f"no {PROJECT_FILE} in {start} or any folder above it",
        hint=f"create one with 'shipyard init {start}', or pass --project DIR",
    )


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> ProjectConfig:
    """Parse and validate the project file at ``path``; raise ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectNotFoundError(
            f"project file {path} does not exist",
            hint=f"create one with 'shipyard init {path.parent}'",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read project file {path}: {exc}") from None
    return parse_config(text, source=str(path), environ=environ)


def parse_config(
    text: str, *, source: str = PROJECT_FILE, environ: Mapping[str, str] | None = None
) -> ProjectConfig:
    """Validate project-file ``text``; ``source`` names it in messages."""
    environ = os.environ if environ is None else environ
    data, lines, problems = _read_yaml(text, source)
    if not problems:
        problems = _validate(data)
    if not problems:
        config = ProjectConfig.model_validate(data)
        problems = check_project(config)
        problems += _check_secrets(config.storage)
        problems += destination_problems(config)
    if problems:
        raise ConfigError(
            f"{source} has {_count(len(problems), 'problem')}:",
            problems=[_format(p, source, lines) for p in _by_line(problems, lines)],
            hint="fix the keys named above; 'shipyard init DIR' writes a commented example",
        )
    return _apply_overrides(config, environ)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _read_yaml(text: str, source: str) -> tuple[Any, dict[KeyPath, int], list[Problem]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ConfigError(
            f"{source} is not valid YAML at {where}: {exc.problem or exc.context}",
            hint="check the indentation and quoting on that line",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    if node is None:
        raise ConfigError(
            f"{source} is empty",
            hint="it needs at least 'project: NAME'; 'shipyard init DIR' writes an example",
        )
    lines: dict[KeyPath, int] = {}
    problems: list[Problem] = []
    _walk(node, (), lines, problems)
    if problems:
        return None, lines, problems
    data = yaml.load(text, Loader=yaml.SafeLoader)
    if not isinstance(data, dict):
        problems.append(Problem((), "expected a mapping of 'key: value' lines at the top level"))
    return data, lines, problems


def _walk(
    node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], problems: list[Problem]
) -> None:
    """Record the line of every key path and report duplicate keys, which YAML would hide."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*path, key)
            if child in lines and isinstance(key_node, yaml.ScalarNode):
                problems.append(
                    Problem(
                        child,
                        f"key given twice (first on line {lines[child]})",
                        line=key_node.start_mark.line + 1,
                    )
                )
                continue
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, problems)


def _validate(data: Any) -> list[Problem]:
    try:
        ProjectConfig.model_validate(data)
    except PydanticValidationError as exc:
        return [_problem(error) for error in exc.errors(include_url=False)]
    return []


def _problem(error: Any) -> Problem:
    path: KeyPath = tuple(part for part in error["loc"] if part != "[key]")
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_keys(path[:-1])
        hint = did_you_mean(key, allowed)
        known = f"; allowed here: {', '.join(allowed)}" if allowed and not hint else ""
        return Problem(path, f"unknown key{hint}{known}")
    if kind == "duration":  # parse_duration's words name the value already
        return Problem(path, error["msg"])
    if kind == "literal_error":
        message = f"expected one of {error['ctx']['expected']}"
    elif kind in _EXPECTED:
        message = _EXPECTED[kind]
    else:
        message = _expected_from(error["msg"])
    if kind == "env_reference":  # a secret written in: never echoed (logs, CI output)
        message += ", got a literal value (not shown)"
    elif kind != "missing":
        message += f", got {_show(value)}"
    return Problem(path, message)


def _expected_from(msg: str) -> str:
    """Turn pydantic's wording ('Input should be …') into ours ('expected …')."""
    msg = msg.removeprefix("Value error, ")
    if msg.startswith("expected"):
        return msg
    if msg.startswith("Input should be "):
        return "expected " + msg.removeprefix("Input should be ")
    return "expected: " + msg[:1].lower() + msg[1:]


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(path: KeyPath) -> list[str]:
    """The keys the schema allows at ``path`` (for 'did you mean')."""
    annotation: Any = ProjectConfig
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the model or container type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, type(int | None)):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _line_of(problem: Problem, lines: dict[KeyPath, int]) -> int | None:
    if problem.line is not None:
        return problem.line
    for cut in range(len(problem.path), -1, -1):
        line = lines.get(problem.path[:cut])
        if line is not None:
            return line
    return None


def _by_line(problems: list[Problem], lines: dict[KeyPath, int]) -> list[Problem]:
    return sorted(problems, key=lambda p: _line_of(p, lines) or 0)


def _format(problem: Problem, source: str, lines: dict[KeyPath, int]) -> str:
    dotted = ""
    for part in problem.path:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else str(part))
    line = _line_of(problem, lines)
    where = f"{source}:{line}" if line is not None else source
    return f"{where}: {dotted or '(top level)'}: {problem.message}"


_PASSWORD_IN_URL = re.compile(r"^[a-z0-9+]+://[^/@:]+:(?P<secret>[^@/]*)@")


def _check_secrets(storage: StorageConfig) -> list[Problem]:
    match = _PASSWORD_IN_URL.match(storage.database)
    if match and match.group("secret") and not match.group("secret").startswith("${"):
        return [
            Problem(
                ("storage", "database"),
                "a password is written in the project file; write it as a reference to an "
                "environment variable instead, e.g. postgresql://user:${PGPASSWORD}@host/db, "
                "or set SHIPYARD_DATABASE_URL",
            )
        ]
    return []


def _apply_overrides(config: ProjectConfig, environ: Mapping[str, str]) -> ProjectConfig:
    updates = {key: environ[var] for key, var in ENV_OVERRIDES.items() if environ.get(var)}
    if not updates:
        return config
    try:
        storage = StorageConfig.model_validate({**config.storage.model_dump(), **updates})
    except PydanticValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            var = ENV_OVERRIDES[str(error["loc"][0])]
            # an overriding URL may carry a password: show its scheme, not the rest
            value = error.get("input")
            if isinstance(value, str) and "://" in value:
                error = {**error, "input": value.split("://", 1)[0] + "://…"}
            problems.append(f"{var}: {_problem(error).message}")
        raise ConfigError("an environment override is wrong:", problems=problems) from None
    return config.model_copy(update={"storage": storage})


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def expand_env(value: str, *, where: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace ``${VAR}`` references in ``value``; an unset variable is a ConfigError.

    In a URL, a reference inside the ``user:password@`` part is percent-encoded, so
    a password holding ``@``, ``/``, ``:``, ``#`` or ``?`` stays the password: it
    cannot change the host the URL points at, nor spill its tail into the path.
    """
    environ = os.environ if environ is None else environ
    userinfo_end = _userinfo_end(value)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(
                f"{where} refers to environment variable ${{{name}}}, which is not set",
                hint=f"export {name}=... before running shipyard",
            )
        if match.start() < userinfo_end:
            return quote(environ[name], safe="")
        return environ[name]

    return _ENV_REFERENCE.sub(replace, value)


def _userinfo_end(url: str) -> int:
    """Where the ``user:password@`` part of ``url`` ends (its ``@``), or -1 when it has none."""
    scheme = _URL_SCHEME.match(url)
    if scheme is None:
        return -1
    authority = re.split(r"[/?#]", url[scheme.end() :], maxsplit=1)[0]
    at = authority.rfind("@")
    return scheme.end() + at if at >= 0 else -1
