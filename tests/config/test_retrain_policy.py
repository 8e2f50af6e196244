"""models.NAME.retrain: each wrong policy is named with its line and key path, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shipyard.cli import cli
from shipyard.config import parse_config
from shipyard.errors import ConfigError

PROJECT = """\
project: demo
datasets:
  tx:
    key: {key_line}
    timestamp: at
    target: fraud
    columns:
      id: {{type: {key_type}, unique: true, nullable: false}}
      amount: {{type: float, min: 0}}
      country: {{type: category, categories: [DE, FR]}}
      at: {{type: datetime}}
      fraud: {{type: bool}}
models:
  fraud:
    owner: {{name: fraud-team, email: fraud@example.com}}
    task: binary_classification
    dataset: tx
    features: [amount, country]
    alerts:
      - {{name: drift, when: drift, features: any}}
      - {{name: errors, when: error_rate, above: 0.05}}
    retrain: {policy}
"""


def project(policy: str, *, key_type: str = "string", key_line: str = "id") -> str:
    return PROJECT.format(policy=policy, key_type=key_type, key_line=key_line)


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ={})
    return info.value.problems


def test_a_full_policy_is_accepted() -> None:
    config = parse_config(
        project(
            "{every: 7d, on_alerts: [drift], new_labels: 500, data: latest, window: 90d, "
            "labels: feedback, shadow: {requests: 2000, max_duration: 1h}, "
            "canary: {percent: 10, sticky_by: country}, promote: approve, "
            "guard: {duration: 1h, alerts: [errors]}}"
        ),
        environ={},
    )
    policy = config.models["fraud"].retrain
    assert policy.every == 7 * 86400 and policy.on_alerts == ["drift"]
    assert policy.canary is not None and policy.canary.sticky_by == "country"
    assert policy.guard is not None and policy.guard.duration == 3600


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "{on_alerts: [drfit]}",
            "shipyard.yaml:22: models.fraud.retrain.on_alerts[0]: 'drfit' is not an alert rule "
            "of this model (did you mean 'drift'?)",
        ),
        (
            "{shadow: {requests: 100}, guard: {duration: 1h, alerts: [auc]}}",
            "models.fraud.retrain.guard.alerts[0]: 'auc' is not an alert rule of this model",
        ),
        (
            "{shadow: {requests: 100}, canary: {percent: 120}}",
            "models.fraud.retrain.canary.percent:",
        ),
        (
            "{shadow: {requests: 100}, canary: {percent: 0}}",
            "models.fraud.retrain.canary.percent:",
        ),
        (
            "{shadow: {requests: 100}, canary: {percent: 10, sticky_by: customer}}",
            "models.fraud.retrain.canary.sticky_by: 'customer' is not a feature of this model",
        ),
        (
            "{canary: {percent: 10}}",
            "models.fraud.retrain.canary: a canary runs during the comparison period",
        ),
        ("{promote: yes}", "models.fraud.retrain.promote:"),
        ("{every: 10s}", "models.fraud.retrain.every: expected a schedule of one minute or more"),
    ],
)
def test_a_wrong_policy_names_its_key_path(policy: str, expected: str) -> None:
    problems = problems_of(project(policy))
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("shipyard.yaml:22: models.fraud.retrain") for p in problems), problems


def test_feedback_labels_need_a_key_a_request_id_can_fill() -> None:
    [problem] = problems_of(project("{labels: feedback}", key_type="int"))
    assert problem.startswith("shipyard.yaml:22: models.fraud.retrain.labels: ")
    assert "'id' is an int column" in problem and "declare 'id' as type: string" in problem
    # a text key, no key, or a key the requests carry as a feature are all fine
    parse_config(project("{labels: feedback}"), environ={})
    parse_config(project("{labels: feedback}", key_type="int", key_line="null"), environ={})
    text = project("{labels: feedback}", key_type="int").replace(
        "features: [amount, country]", "features: [id, amount, country]"
    )
    parse_config(text, environ={})


def test_the_cli_refuses_a_wrong_policy_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "shipyard.yaml").write_text(
        project("{shadow: {requests: 100}, canary: {percent: 150, sticky_by: customer}}")
    )
    result = CliRunner().invoke(cli, ["-C", str(tmp_path), "runs", "list"])
    assert result.exit_code == 2, result.output
    assert "models.fraud.retrain.canary.percent" in result.output
    assert "Traceback" not in result.output
