"""Every protocol of the table goes through the same checks (issue #14, item 1).

Each protocol: parses a valid body of the test project into its rows, answers over
HTTP with the keys its spec declares on each of its prediction routes, refuses a
malformed body with a 4xx in the one error shape, and its routes name it. A new
protocol is checked by adding it to the table and a valid body to ``VALID`` below.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import pytest
from serving_support import PROJECT, LiveServer, make_project

import shipyard
import shipyard.config.schema as schema
from shipyard.errors import ShipyardError
from shipyard.serving.app import ServingApp
from shipyard.serving.protocols import PROTOCOLS, Protocol
from shipyard.serving.routes import ROUTES
from shipyard.serving.validation import RowValidator

SHAPE = {"error", "status", "code", "problems", "hint"}
AMOUNTS, AGES = [1000.0, 45000.0], [30, 60]

VALID: dict[str, Any] = {
    "native": [{"amount": a, "age": g} for a, g in zip(AMOUNTS, AGES, strict=True)],
    "v2": {
        "id": "req-1",
        "inputs": [
            {"name": "amount", "shape": [2], "datatype": "FP64", "data": AMOUNTS},
            {"name": "age", "shape": [2, 1], "datatype": "INT64", "data": [[g] for g in AGES]},
        ],
    },
    "mlflow": {
        "dataframe_split": {"columns": ["amount", "age"], "data": [[1000.0, 30], [45000.0, 60]]}
    },
}
"""A body of two rows (amount, age) in each protocol."""

MALFORMED = ["not a request", 42, None]


def _protocols() -> list[Protocol]:
    return list(PROTOCOLS.values())


def _id(protocol: Protocol) -> str:
    return protocol.name


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RowValidator]:
    """The validator of the test project's ``risk`` model (its config only: nothing trained)."""
    folder = tmp_path_factory.mktemp("protocols")
    (folder / "shipyard.yaml").write_text(PROJECT)
    with shipyard.open(folder) as project:
        yield ServingApp(project, {"risk": "champion"}, environ={}).deployments["risk"].validator


@pytest.fixture(scope="module")
def risk_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server of the test project with one model, so ``/invocations`` needs no header."""
    project = make_project(tmp_path_factory.mktemp("protocols-live") / "proj")
    try:
        with LiveServer(ServingApp(project, {"risk": "champion"}, environ={})) as server:
            yield server
    finally:
        project.close()


def _path(live: LiveServer, template: str) -> str:
    loaded = live.app.deployments["risk"].current
    assert loaded is not None
    return template.format(name="risk", version=str(loaded.version.version))


@pytest.mark.parametrize("protocol", _protocols(), ids=_id)
def test_a_valid_body_parses_into_its_rows(validator: RowValidator, protocol: Protocol) -> None:
    rows = protocol.parse(VALID[protocol.name], validator, 100)
    assert rows.n == 2


@pytest.mark.parametrize("protocol", _protocols(), ids=_id)
@pytest.mark.parametrize("body", MALFORMED)
def test_a_malformed_body_is_refused_with_a_4xx(
    validator: RowValidator, protocol: Protocol, body: Any
) -> None:
    with pytest.raises(ShipyardError) as refused:
        protocol.parse(body, validator, 100)
    assert 400 <= refused.value.http_status < 500


@pytest.mark.parametrize("protocol", _protocols(), ids=_id)
def test_too_many_rows_are_refused_with_413(validator: RowValidator, protocol: Protocol) -> None:
    with pytest.raises(ShipyardError) as refused:
        protocol.parse(VALID[protocol.name], validator, 1)
    assert refused.value.http_status == 413


@pytest.mark.slow
@pytest.mark.parametrize("protocol", _protocols(), ids=_id)
def test_each_prediction_route_answers_with_the_declared_keys(
    risk_only: LiveServer, protocol: Protocol
) -> None:
    assert protocol.prediction_routes, f"protocol {protocol.name!r} has no prediction route"
    with risk_only.client() as client:
        for route in protocol.prediction_routes:
            assert route.methods is not None
            path = _path(risk_only, route.path)
            answer = client.request(route.methods[0], path, json=VALID[protocol.name])
            assert answer.status_code == 200, answer.text
            assert protocol.answer_keys <= set(answer.json()), (path, answer.json())
            refused = client.request(route.methods[0], path, json=MALFORMED[0])
            assert 400 <= refused.status_code < 500 and set(refused.json()) == SHAPE


def test_every_prediction_route_belongs_to_the_protocol_that_lists_it() -> None:
    for protocol in PROTOCOLS.values():
        assert protocol.name in PROTOCOLS and PROTOCOLS[protocol.name] is protocol
        for route in protocol.prediction_routes:
            assert route.protocol == protocol.name, route.path
    listed = {r.path for p in PROTOCOLS.values() for r in p.prediction_routes}
    assert listed == {r.path for r in ROUTES if r.prediction}
    assert all(r.protocol in PROTOCOLS for r in ROUTES if r.prediction)


def test_a_config_literal_that_names_protocols_names_every_one() -> None:
    """No config key names protocols today; one that does must list the table's."""
    names = set(PROTOCOLS)
    for value in vars(schema).values():
        if typing.get_origin(value) is typing.Literal and names & set(typing.get_args(value)):
            assert set(typing.get_args(value)) == names, value
