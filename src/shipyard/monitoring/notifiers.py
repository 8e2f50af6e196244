"""Notifiers: where an alert's message goes — a webhook (JSON), a Slack-compatible
webhook, e-mail over SMTP, the log.

Each delivery has a time-out per attempt and is retried with exponential backoff
(0.5 s, 1 s, 2 s, …); what still fails is reported, never raised, so a dead
endpoint cannot stop monitoring. The caller keeps the notification owed and
tries again on the next run.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from shipyard.config import expand_env
from shipyard.config.schema import SmtpConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Channel:
    """One destination: ``kind`` is webhook, slack, email or log; ``target`` says where."""

    kind: str
    target: str

    @property
    def label(self) -> str:
        if self.kind in ("webhook", "slack"):
            return f"{self.kind}:{_redact(self.target)}"
        return f"{self.kind}:{self.target}"


@dataclass(frozen=True)
class Delivery:
    channel: Channel
    ok: bool
    attempts: int
    error: str | None = None


class Notifier:
    """Sends one message to channels, with time-outs and retries."""

    def __init__(
        self,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        smtp: SmtpConfig | None = None,
        environ: Mapping[str, str] | None = None,
        backoff_s: float = 0.5,
    ) -> None:
        self.timeout_s = timeout_s
        self.retries = retries
        self.smtp = smtp
        self.environ = environ
        self.backoff_s = backoff_s

    def send(self, channel: Channel, message: dict[str, Any]) -> Delivery:
        attempts = 0
        error: str | None = None
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            try:
                self._send_once(channel, message)
                return Delivery(channel, True, attempts)
            except Exception as exc:  # every failure is reported on the alert, not raised
                error = f"{type(exc).__name__}: {exc}"
                if isinstance(exc, _Permanent):
                    break
                if attempt < self.retries:
                    time.sleep(self.backoff_s * 2**attempt)
        logger.warning(
            "could not notify %s after %d attempt(s): %s", channel.label, attempts, error
        )
        return Delivery(channel, False, attempts, error)

    def _send_once(self, channel: Channel, message: dict[str, Any]) -> None:
        if channel.kind == "webhook":
            self._post(channel.target, message)
        elif channel.kind == "slack":
            self._post(channel.target, {"text": slack_text(message)})
        elif channel.kind == "email":
            self._mail(channel.target, message)
        else:
            level = logging.INFO if message["status"] == "resolved" else logging.WARNING
            logger.log(level, "ALERT %s", text(message))

    def _post(self, url: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            url,
            data=json.dumps(body, default=str).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "shipyard-alerts"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise _Permanent(f"the endpoint refused the message: HTTP {exc.code}") from None
            raise

    def _mail(self, address: str, message: dict[str, Any]) -> None:
        if self.smtp is None:
            raise _Permanent("no mail server: set alerting.smtp in shipyard.yaml to send e-mail")
        mail = EmailMessage()
        mail["From"] = self.smtp.sender
        mail["To"] = address
        mail["Subject"] = subject(message)
        mail.set_content(text(message) + "\n\n" + json.dumps(message, indent=2, default=str))
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.timeout_s) as server:
            if self.smtp.starttls:
                server.starttls()
            if self.smtp.username:
                password = expand_env(
                    self.smtp.password or "", where="alerting.smtp.password", environ=self.environ
                )
                server.login(self.smtp.username, password)
            server.send_message(mail)


class _Permanent(Exception):
    """A failure that retrying cannot fix (a 4xx answer, no mail server configured)."""


def subject(message: dict[str, Any]) -> str:
    status = message["status"].upper()
    return f"[{status}] {message['severity']}: {message['model']} {message['rule']}"


def text(message: dict[str, Any]) -> str:
    return f"{subject(message)} — {message['message']} (owner {message['owner']}, alert #{message['id']})"


def slack_text(message: dict[str, Any]) -> str:
    icon = {"resolved": ":white_check_mark:", "reminder": ":repeat:"}.get(
        message["status"], ":rotating_light:"
    )
    return f"{icon} *{subject(message)}*\n{message['message']}\nowner: {message['owner']}"


def _redact(url: str) -> str:
    """Webhook URLs carry secrets in their path: keep the host only."""
    head, _, rest = url.partition("://")
    return f"{head}://{rest.split('/', 1)[0]}/…"
