"""The project file: every problem named with its line, key path, expectation and value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.config import (
    ProjectConfig,
    example_project_file,
    expand_env,
    find_project_file,
    load_config,
    parse_config,
)
from shipyard.errors import ConfigError, ProjectNotFoundError

MINIMAL = "project: demo\n"

MODEL = """\
project: demo
datasets:
  tx:
    target: fraud
    columns:
      amount: {type: float, min: 0}
      fraud: {type: bool}
models:
  fraud:
    owner: {name: fraud-team, email: fraud@example.com}
    task: binary_classification
    dataset: tx
    features: [amount]
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ={})
    return info.value.problems


def test_the_example_written_by_init_is_valid() -> None:
    config = parse_config(example_project_file("credit"), environ={})
    assert config.project == "credit"
    assert config.models["default-risk"].latency_budget_ms == 50
    assert config.datasets["loans"].columns["country"].categories == ["DE", "FR", "PL", "US"]


def test_defaults_for_storage() -> None:
    config = parse_config(MINIMAL, environ={})
    assert config.storage.database == "sqlite:///.shipyard/shipyard.db"
    assert config.storage.artifacts == ".shipyard/artifacts"


def test_the_config_is_frozen() -> None:
    config = parse_config(MINIMAL, environ={})
    with pytest.raises(ValueError):
        config.project = "other"  # type: ignore[misc]


def test_wrong_type_names_line_path_expectation_and_value() -> None:
    text = MODEL + "    latency_budget_ms: fast\n"
    assert problems_of(text) == [
        "shipyard.yaml:14: models.fraud.latency_budget_ms: expected a positive number, got 'fast'"
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("    latency_budget_ms: -5", "expected a positive number, got -5"),
        ("    latency_budget_ms: true", "expected a positive number, got True"),
        ("    task: regresion", "expected one of 'binary_classification', "),
        ("    features: amount", "models.fraud.features: expected a list, got 'amount'"),
        ("    train: not an entry point", "expected 'module:function'"),
        ("    owner: risk-team", "models.fraud.owner: expected a mapping"),
    ],
)
def test_wrong_values(line: str, expected: str) -> None:
    key = line.split(":")[0] + ":"
    text = (
        "\n".join(row for row in MODEL.splitlines() if not row.startswith(key)) + "\n" + line + "\n"
    )
    [problem] = problems_of(text)
    assert expected in problem


def test_unknown_key_suggests_the_close_one() -> None:
    [problem] = problems_of(MODEL + "    latency_budget: 50\n")
    assert problem == (
        "shipyard.yaml:14: models.fraud.latency_budget: unknown key "
        "(did you mean 'latency_budget_ms'?)"
    )


def test_unknown_key_without_a_close_one_lists_the_allowed() -> None:
    [problem] = problems_of("project: x\nstorage:\n  zzz: 1\n")
    assert problem == "shipyard.yaml:3: storage.zzz: unknown key; allowed here: database, artifacts"


def test_every_problem_is_reported_at_once() -> None:
    text = "project: x\nstorage: {databse: sqlite:///a.db}\nmodels:\n  m:\n    task: 3\n"
    problems = problems_of(text)
    assert len(problems) >= 3  # unknown key, task type, missing owner/dataset/features
    assert any("storage.databse" in p for p in problems)
    assert any("models.m.owner: required, but missing" in p for p in problems)


def test_invalid_yaml_names_line_and_column() -> None:
    with pytest.raises(ConfigError, match=r"not valid YAML at line 3, column 1: .*'\\t'"):
        parse_config("project: x\nstorage:\n\tdatabase: sqlite:///a.db\n", environ={})
    with pytest.raises(ConfigError, match=r"not valid YAML at line 4, column 1"):
        parse_config("project: x\nmodels:\n  - [unclosed\n", environ={})


def test_duplicate_keys_are_an_error_not_silently_overwritten() -> None:
    [problem] = problems_of("project: x\nproject: y\n")
    assert problem == "shipyard.yaml:2: project: key given twice (first on line 1)"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a\n- b\n", "just a string\n"])
def test_empty_or_not_a_mapping(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text, environ={})


def test_cross_references_are_checked() -> None:
    text = MODEL.replace("dataset: tx", "dataset: txs").replace("fraud@example.com", "x@y.z")
    [problem] = problems_of(text)
    assert "models.fraud.dataset: no dataset named 'txs' (did you mean 'tx'?)" in problem
    problems = problems_of(MODEL.replace("features: [amount]", "features: [amount, amout, fraud]"))
    assert any(
        "features[1]: 'amout' is not a column of dataset 'tx' (did you mean 'amount'?)" in p
        for p in problems
    )
    assert any("features[2]: 'fraud' is the dataset's target" in p for p in problems)


def test_an_owner_needs_a_contact() -> None:
    [problem] = problems_of(MODEL.replace(", email: fraud@example.com", ""))
    assert "models.fraud.owner: an owner needs a contact" in problem


def test_a_model_without_an_owner_is_an_error() -> None:
    text = MODEL.replace("    owner: {name: fraud-team, email: fraud@example.com}\n", "")
    [problem] = problems_of(text)
    assert problem.endswith("models.fraud.owner: required, but missing")


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("{type: string, min: 0}", "'min' applies to int and float columns"),
        ("{type: float, min: 5, max: 1}", "min (5) is greater than max (1)"),
        ("{type: category}", "needs its list of allowed categories"),
        ("{type: category, categories: [a, a]}", "listed more than once"),
        ("{type: int, regex: '[a-'}", "expected a valid regular expression"),
        ("{type: float, max_null_fraction: 1.5}", "expected less than or equal to 1"),
        ("{type: decimal}", "expected one of 'int', 'float'"),
    ],
)
def test_column_rules(column: str, expected: str) -> None:
    text = f"project: x\ndatasets:\n  d:\n    columns:\n      c: {column}\n"
    assert any(expected in p for p in problems_of(text)), problems_of(text)


def test_password_in_the_file_is_refused() -> None:
    [problem] = problems_of("project: x\nstorage:\n  database: postgresql://app:hunter2@db/x\n")
    assert "password is written in the project file" in problem
    assert "hunter2" not in problem


def test_a_literal_smtp_password_is_refused_and_never_shown() -> None:
    text = "project: x\nalerting:\n  smtp: {host: mail, from: a@b.cd, password: SMTPVAL999}\n"
    [problem] = problems_of(text)
    assert "alerting.smtp.password: expected a reference to an environment variable" in problem
    assert "SMTPVAL999" not in problem and "not shown" in problem


def test_password_as_an_env_reference_is_fine() -> None:
    parse_config(
        "project: x\nstorage:\n  database: postgresql://app:${PGPASSWORD}@db/x\n", environ={}
    )


def test_environment_overrides_storage() -> None:
    config = parse_config(
        MINIMAL,
        environ={
            "SHIPYARD_DATABASE_URL": "postgresql://app@db/x",
            "SHIPYARD_ARTIFACTS_URL": "s3://bucket/prefix",
        },
    )
    assert config.storage.database == "postgresql://app@db/x"
    assert config.storage.artifacts == "s3://bucket/prefix"


def test_a_wrong_override_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL, environ={"SHIPYARD_DATABASE_URL": "mysql://u:hunter2@x"})
    [problem] = info.value.problems
    assert problem.startswith("SHIPYARD_DATABASE_URL: expected a database URL")
    assert "got 'mysql://…'" in problem and "hunter2" not in problem  # the URL may hold a password


def test_unsupported_artifact_scheme() -> None:
    [problem] = problems_of("project: x\nstorage:\n  artifacts: gs://bucket\n")
    assert "scheme 'gs' is not supported" in problem


def test_expand_env() -> None:
    assert expand_env("a${X}b", where="k", environ={"X": "1"}) == "a1b"
    with pytest.raises(ConfigError, match=r"k refers to environment variable \$\{NOPE\}"):
        expand_env("${NOPE}", where="k", environ={})


def test_missing_project_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ProjectNotFoundError) as info:
        find_project_file(tmp_path)
    assert info.value.hint and "shipyard init" in info.value.hint
    with pytest.raises(ProjectNotFoundError, match="does not exist"):
        load_config(tmp_path / "shipyard.yaml")


def test_project_file_is_found_in_a_parent(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text(MINIMAL)
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert find_project_file(tmp_path / "a" / "b") == tmp_path / "shipyard.yaml"


def test_unreadable_bytes_are_a_config_error(tmp_path: Path) -> None:
    file = tmp_path / "shipyard.yaml"
    file.write_bytes(b"project: \xff\xfe\n")
    with pytest.raises(ConfigError, match="cannot read project file"):
        load_config(file, environ={})


# Anything YAML can say either parses or becomes a ConfigError: never another exception.
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
)
keys = st.sampled_from(
    [
        "project",
        "storage",
        "database",
        "artifacts",
        "datasets",
        "models",
        "columns",
        "type",
        "owner",
        "name",
        "email",
        "task",
        "dataset",
        "features",
        "min",
        "max",
        "x",
        "categories",
    ]
)
trees = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, trees, max_size=5))
def test_any_yaml_parses_or_gives_a_config_error(data: dict[str, object]) -> None:
    try:
        config = parse_config(yaml.safe_dump(data), environ={})
    except ConfigError as exc:
        assert exc.problems or exc.message
    else:
        assert isinstance(config, ProjectConfig)
