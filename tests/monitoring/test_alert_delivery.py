"""Notifiers against real endpoints: webhooks that fail or stall, SMTP up and down, the log."""

from __future__ import annotations

import logging
import socket
import time
from datetime import UTC, datetime

import pytest
from monitor_support import Receiver, loans, traffic

from shipyard.config.schema import SmtpConfig
from shipyard.monitoring.notifiers import Channel, Notifier
from shipyard.project import Project

MESSAGE = {
    "id": 1, "status": "firing", "model": "risk", "rule": "drift", "severity": "warning",
    "owner": "risk-team", "message": "risk: 2 of 3 features drifted",
}  # fmt: skip
LOOPBACK = ["127.0.0.1"]  # the receivers here listen on loopback, refused unless listed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_webhook_that_returns_500_is_retried_then_owed_and_sent_once_later(
    monitored: Project, receiver: Receiver
) -> None:
    with traffic(monitored) as t:
        t.predict(loans(400, 20, shift=0.8))
    receiver.status = 500
    first = monitored.monitor("risk")
    failed = [d for d in first.deliveries if not d.ok]
    assert failed and all(d.attempts == 3 for d in failed)  # alerting.retries: 2
    assert receiver.messages == []
    [drift] = [a for a in monitored.monitoring.alerts.list() if a.rule == "drift"]
    assert drift.owed == "firing"

    receiver.status = 204
    second = monitored.monitor("risk")
    assert [d.ok for d in second.deliveries if d.channel.kind == "webhook"] == [True]
    assert len(receiver.messages) == 1
    assert not any(d.channel.kind == "log" for d in second.deliveries)  # the log took it already
    monitored.monitor("risk")
    assert len(receiver.messages) == 1
    assert monitored.monitoring.alerts.get(drift.id).owed is None


def test_a_webhook_that_stalls_costs_its_time_out_and_no_more(
    monitored: Project, receiver: Receiver
) -> None:
    with traffic(monitored) as t:
        t.predict(loans(400, 21, shift=0.8))
    receiver.delay = 5.0  # alerting.timeout_s is 1
    started = time.monotonic()
    run = monitored.monitor("risk")
    elapsed = time.monotonic() - started
    assert run.report.drifted  # the report and the alert state are there regardless
    assert [d.ok for d in run.deliveries if d.channel.kind == "webhook"] == [False]
    assert "timed out" in (run.deliveries[0].error or "") or any(
        "timed out" in (d.error or "") for d in run.deliveries
    )
    assert elapsed < 3 * 1 + 1.5 + 10  # three attempts of 1 s, 1.5 s of backoff, the run itself


def test_a_webhook_that_refuses_with_4xx_is_not_retried() -> None:
    receiver = Receiver()
    try:
        receiver.status = 404
        delivery = Notifier(retries=3, backoff_s=0.01, allow_hosts=LOOPBACK).send(
            Channel("webhook", receiver.url), MESSAGE
        )
        assert not delivery.ok and delivery.attempts == 1 and "HTTP 404" in (delivery.error or "")
    finally:
        receiver.close()


def test_smtp_down_is_reported_not_raised() -> None:
    smtp = SmtpConfig.model_validate({"host": "127.0.0.1", "port": _free_port(), "from": "a@b.io"})
    notifier = Notifier(timeout_s=1, retries=1, smtp=smtp, backoff_s=0.01, allow_hosts=LOOPBACK)
    delivery = notifier.send(Channel("email", "risk@example.com"), MESSAGE)
    assert not delivery.ok and delivery.attempts == 2
    assert "Connection refused" in (delivery.error or "") or "Errno" in (delivery.error or "")


def test_email_without_a_mail_server_says_what_to_set() -> None:
    delivery = Notifier(retries=2).send(Channel("email", "risk@example.com"), MESSAGE)
    assert not delivery.ok and delivery.attempts == 0  # not tried: nothing could carry it
    assert delivery.status == "not configured"
    assert "alerting.smtp" in (delivery.error or "")


def test_email_reaches_a_real_smtp_server() -> None:
    from aiosmtpd.controller import Controller

    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SmtpConfig.model_validate(
            {"host": "127.0.0.1", "port": port, "from": "shipyard@example.com"}
        )
        delivery = Notifier(timeout_s=5, smtp=smtp, allow_hosts=LOOPBACK).send(
            Channel("email", "risk@example.com"), MESSAGE
        )
    finally:
        controller.stop()
    assert delivery.ok
    [mail] = received
    assert b"Subject: [FIRING] warning: risk drift" in mail and b"2 of 3 features drifted" in mail


def test_slack_gets_text_and_the_log_gets_a_line(caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver()
    try:
        notifier = Notifier(allow_hosts=LOOPBACK)
        assert notifier.send(Channel("slack", receiver.url + "/hooks/x"), MESSAGE).ok
        [(path, body)] = receiver.messages
        assert path == "/hooks/x" and set(body) == {"text"} and "risk drift" in body["text"]
    finally:
        receiver.close()
    with caplog.at_level(logging.WARNING, logger="shipyard.monitoring.notifiers"):
        assert Notifier().send(Channel("log", "owner"), MESSAGE).ok
    assert "ALERT [FIRING] warning: risk drift" in caplog.text


def test_acknowledging_an_unknown_or_closed_alert_is_a_clear_error(monitored: Project) -> None:
    from shipyard.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no alert #999"):
        monitored.monitoring.alerts.ack(999, now=datetime.now(UTC))
