"""Alert rules on shed requests and on degraded answers narrowed to their causes."""

from __future__ import annotations

import pytest

from shipyard.config import parse_config
from shipyard.config.schema import DEGRADED_CAUSES
from shipyard.errors import ConfigError

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
    alerts:
      - {when: latency_p99, above: 50}
"""


def _with(rule: str) -> str:
    return MODEL.replace("      - {when: latency_p99, above: 50}\n", f"      - {rule}\n")


def test_a_broken_model_and_a_busy_server_are_two_rules() -> None:
    text = _with(
        "{name: broken, when: degraded_rate, causes: [error, timeout, circuit_open], above: 0.05}"
        "\n      - {name: busy, when: shed_rate, above: 0.01, for: 5m}"
    )
    broken, busy = parse_config(text, environ={}).models["fraud"].alerts
    assert broken.causes == ["error", "timeout", "circuit_open"]
    assert busy.when == "shed_rate" and busy.causes is None and busy.hold == 300


def test_every_cause_is_accepted() -> None:
    causes = ", ".join(DEGRADED_CAUSES)
    [rule] = (
        parse_config(_with(f"{{when: degraded_rate, causes: [{causes}], above: 0.1}}"), environ={})
        .models["fraud"]
        .alerts
    )
    assert tuple(rule.causes or ()) == DEGRADED_CAUSES


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        (
            "{when: degraded_rate, causes: [error, timout], above: 0.05}",
            "models.fraud.alerts[0].causes[1]",
            "expected one of error, timeout, circuit_open, unloaded (did you mean 'timeout'?), "
            "got 'timout'",
        ),
        (
            "{when: degraded_rate, causes: [circuit-open], above: 0.05}",
            "models.fraud.alerts[0].causes[0]",
            "(did you mean 'circuit_open'?)",
        ),
        (
            "{when: degraded_rate, causes: [shed], above: 0.05}",
            "models.fraud.alerts[0].causes[0]",
            "shed requests get no fallback answer: alert on them with 'when: shed_rate'",
        ),
        (
            "{when: degraded_rate, causes: error, above: 0.05}",
            "models.fraud.alerts[0].causes",
            "expected a list, got 'error'",
        ),
        (
            "{when: degraded_rate, causes: [], above: 0.05}",
            "models.fraud.alerts[0].causes",
            "expected at least one of error, timeout",
        ),
        (
            "{when: error_rate, causes: [error], above: 0.05}",
            "models.fraud.alerts[0].causes",
            "expected 'causes' only on a 'degraded_rate' alert",
        ),
        (
            "{when: shed_rat, above: 0.05}",
            "models.fraud.alerts[0].when",
            "(did you mean 'shed_rate'?)",
        ),
    ],
)
def test_a_bad_cause_names_its_path(rule: str, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_with(rule), environ={})
    text = str(caught.value)
    assert f"{path}: " in text and message in text, text
    assert "shipyard.yaml:15: " in text  # the line of the rule
