"""Every notifier of the table through the same checks, against a real local receiver.

A new entry of ``NOTIFIERS`` is tested here once it has a receiver in ``RECEIVERS``
(the test says so when it has none): a message reaches the receiver on the first
attempt, a permanent failure is reported as failed without raising and without
retries, a route can name it, and a URL destination is checked when the file loads.
"""

from __future__ import annotations

import logging
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from monitor_support import Receiver

from shipyard.config import parse_config
from shipyard.config.destinations import URL_KEYS
from shipyard.config.schema import RouteConfig, SmtpConfig
from shipyard.errors import ConfigError
from shipyard.monitoring.notifiers import NOTIFIERS, Channel, Notifier, NotifierSpec

MESSAGE = {
    "id": 7, "status": "firing", "model": "risk", "rule": "drift", "severity": "warning",
    "owner": "risk-team", "message": "risk: 2 of 3 features drifted",
}  # fmt: skip
LOOPBACK = ["127.0.0.1"]  # the receivers listen on loopback, refused unless listed


@dataclass
class Endpoint:
    """A live receiver: what to send with, where, and what arrived there (as text)."""

    notifier: Callable[[list[str]], Notifier]  # from allow_hosts
    target: str
    received: Callable[[], list[str]]
    # a sender whose every attempt fails for good (None: the kind cannot fail)
    refused: Notifier | None


@contextmanager
def _http(path: str) -> Iterator[Endpoint]:
    receiver = Receiver()
    try:
        yield Endpoint(
            notifier=lambda allow: Notifier(retries=2, backoff_s=0.01, allow_hosts=allow),
            target=receiver.url + path,
            received=lambda: [f"{p} {body}" for p, body in receiver.messages],
            refused=Notifier(retries=2, backoff_s=0.01),  # loopback, not listed
        )
    finally:
        receiver.close()


@contextmanager
def _smtp() -> Iterator[Endpoint]:
    from aiosmtpd.controller import Controller

    mails: list[str] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            mails.append(envelope.content.decode())  # type: ignore[attr-defined]
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    smtp = SmtpConfig.model_validate({"host": "127.0.0.1", "port": port, "from": "a@example.com"})
    try:
        yield Endpoint(
            notifier=lambda allow: Notifier(
                timeout_s=5, retries=2, backoff_s=0.01, smtp=smtp, allow_hosts=allow
            ),
            target="risk@example.com",
            received=lambda: mails,
            refused=Notifier(retries=2, backoff_s=0.01, smtp=smtp),  # loopback, not listed
        )
    finally:
        controller.stop()


@contextmanager
def _log(caplog: pytest.LogCaptureFixture) -> Iterator[Endpoint]:
    with caplog.at_level(logging.INFO, logger="shipyard.monitoring.notifiers"):
        yield Endpoint(
            notifier=lambda allow: Notifier(allow_hosts=allow),
            target="owner",
            received=lambda: [r.getMessage() for r in caplog.records],
            refused=None,  # writing a log line has no way to fail for good
        )


@contextmanager
def _file() -> Iterator[Endpoint]:
    folder = Path(tempfile.mkdtemp(prefix="shipyard-file-channel-"))
    blocked = folder / "not-a-folder"
    blocked.write_text("a file where the channel's folder should be")
    written = folder / "alerts/risk.jsonl"
    try:
        yield Endpoint(
            notifier=lambda allow: Notifier(allow_hosts=allow, root=folder),
            target="alerts/risk.jsonl",
            received=lambda: written.read_text().splitlines() if written.exists() else [],
            refused=Notifier(retries=2, backoff_s=0.01, root=blocked),  # cannot make its folder
        )
    finally:
        shutil.rmtree(folder)


RECEIVERS: dict[str, Callable[[pytest.LogCaptureFixture], AbstractContextManager[Endpoint]]] = {
    "webhook": lambda _: _http("/hooks/webhook"),
    "slack": lambda _: _http("/hooks/slack"),
    "email": lambda _: _smtp(),
    "log": _log,
    "file": lambda _: _file(),
}


@pytest.fixture(params=list(NOTIFIERS.values()), ids=list(NOTIFIERS))
def spec(request: pytest.FixtureRequest) -> NotifierSpec:
    found: NotifierSpec = request.param
    return found


@pytest.fixture
def endpoint(spec: NotifierSpec, caplog: pytest.LogCaptureFixture) -> Iterator[Endpoint]:
    if spec.kind not in RECEIVERS:
        pytest.fail(f"no local receiver for the '{spec.kind}' notifier: add one to RECEIVERS")
    with RECEIVERS[spec.kind](caplog) as found:
        yield found


def test_a_message_reaches_a_real_receiver_at_the_first_attempt(
    spec: NotifierSpec, endpoint: Endpoint
) -> None:
    delivery = endpoint.notifier(LOOPBACK).send(Channel(spec.kind, endpoint.target), MESSAGE)
    assert (delivery.ok, delivery.attempts, delivery.error) == (True, 1, None)
    [arrived] = [r for r in endpoint.received() if "2 of 3 features drifted" in r]
    assert "drift" in arrived


def test_a_permanent_failure_is_reported_once_not_raised(
    spec: NotifierSpec, endpoint: Endpoint
) -> None:
    if endpoint.refused is None:
        pytest.skip(f"the '{spec.kind}' notifier cannot fail for good")
    delivery = endpoint.refused.send(Channel(spec.kind, endpoint.target), MESSAGE)
    assert (delivery.ok, delivery.attempts) == (False, 1)  # not retried
    assert delivery.error and delivery.error.startswith("not sent:")
    assert endpoint.received() == []


def test_a_route_can_name_it(spec: NotifierSpec) -> None:
    assert spec.key in RouteConfig.model_fields
    assert NOTIFIERS[spec.kind] is spec


def test_its_label_shows_no_secret_of_a_url(spec: NotifierSpec) -> None:
    target = "https://user:pw@hooks.example.com/T000/B000/secret" if spec.url else "owner"
    label = Channel(spec.kind, target).label
    assert label.startswith(f"{spec.kind}:")
    assert ("secret" not in label and "pw" not in label) if spec.url else label.endswith(target)


def test_the_url_notifiers_are_the_destinations_checked_when_the_file_loads() -> None:
    assert {s.key for s in NOTIFIERS.values() if s.url} == set(URL_KEYS)


@pytest.mark.parametrize("key", URL_KEYS)
def test_a_url_destination_on_loopback_is_refused_when_the_file_loads(key: str) -> None:
    project = f"""\
project: table
alerting:
  routes:
    oncall: {{{key}: "http://127.0.0.1:8080/hook"}}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(project)
    [problem] = info.value.problems
    assert f"alerting.routes.oncall.{key}: refused as an alert destination" in problem


def test_a_maintenance_message_names_its_run_and_the_model_once() -> None:
    from shipyard.monitoring.notifiers import text

    message = {
        "status": "maintenance", "severity": "info", "model": "risk", "owner": "risk-team",
        "rule": "risk@4 awaits your approval", "message": "every check passed", "id": 3,
    }  # fmt: skip
    said = text(message)
    assert said.startswith("[MAINTENANCE] info: risk@4 awaits your approval — every check")
    assert said.endswith("(owner risk-team, retraining run #3)")
    alert = {**message, "status": "firing", "rule": "drift", "id": 9}
    assert text(alert).startswith("[FIRING] info: risk drift — ")
    assert text(alert).endswith("alert #9)")
