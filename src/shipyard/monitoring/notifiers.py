"""Notifiers: where an alert's message goes — a webhook (JSON), a Slack-compatible
webhook, e-mail over SMTP, a local file (one JSON line per message), the log.

Each delivery has a time-out per attempt and is retried with exponential backoff
(0.5 s, 1 s, 2 s, …); what still fails is reported, never raised, so a dead
endpoint cannot stop monitoring. The caller keeps the notification owed and
tries again on the next run.

Each kind of destination is one entry of :data:`NOTIFIERS`: the key naming it
in a route or an owner, how it formats a message and how it sends it.

Every destination is checked again at send time, after DNS, and the connection
goes to the address checked (:mod:`.outbound`); a refused destination, a 4xx
and a redirect (3xx, never followed) fail at once, without retries. Channel
labels — what logs, the alert history and the CLI show — never carry a URL's
credentials or path. A kind whose ``alerting`` setting is missing (e-mail without
``alerting.smtp``) is not tried: its delivery says "not configured" and what to set.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shipyard.config import expand_env
from shipyard.config.destinations import AllowList, DestinationRefused
from shipyard.config.schema import ProjectConfig, SmtpConfig
from shipyard.errors import ConfigError
from shipyard.storage import redact

from . import outbound

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Channel:
    """One destination: ``kind`` is webhook, slack, email, file or log; ``target`` says where."""

    kind: str
    target: str

    @property
    def label(self) -> str:
        spec = NOTIFIERS.get(self.kind)
        if spec is not None and spec.url:
            return f"{self.kind}:{_origin(self.target)}/…"
        return f"{self.kind}:{self.target}"


NOT_CONFIGURED = "not configured"


@dataclass(frozen=True)
class Delivery:
    """What became of one message on one channel; ``alert`` and ``model`` say whose it was."""

    channel: Channel
    ok: bool
    attempts: int
    error: str | None = None
    alert: int | None = None
    model: str | None = None

    @property
    def status(self) -> str:
        """``sent``, ``failed``, or ``not configured`` (never tried: a setting is missing)."""
        return status_of(self.ok, self.attempts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel.label,
            "status": self.status,
            "ok": self.ok,
            "attempts": self.attempts,
            "error": self.error,
            "alert": self.alert,
            "model": self.model,
        }


def status_of(ok: bool, attempts: int) -> str:
    """A delivery's status from what the alert history keeps of it."""
    return "sent" if ok else ("failed" if attempts else NOT_CONFIGURED)


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
        allow_hosts: Iterable[str] = (),
        root: Path | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.root = root  # where a file channel's relative path starts (the project folder)
        self.retries = retries
        self.smtp = smtp
        self.environ = environ
        self.backoff_s = backoff_s
        self.allow = AllowList.parse(allow_hosts)

    def missing(self, kind: str) -> str | None:
        """The ``alerting`` setting a ``kind`` of channel needs and lacks here, if any."""
        spec = NOTIFIERS.get(kind)
        if spec is not None and spec.needs and getattr(self, spec.needs) is None:
            return f"alerting.{spec.needs}"
        return None

    def send(self, channel: Channel, message: dict[str, Any]) -> Delivery:
        missing = self.missing(channel.kind)
        if missing is not None:  # not tried: nothing could carry it
            why = f"set {missing} in shipyard.yaml to send {channel.kind}"
            logger.warning("could not notify %s: %s: %s", channel.label, NOT_CONFIGURED, why)
            return Delivery(channel, False, 0, why)
        attempts = 0
        error: str | None = None
        for attempt in range(self.retries + 1):
            attempts = attempt + 1
            try:
                self._send_once(channel, message)
                return Delivery(channel, True, attempts)
            except Exception as exc:  # every failure is reported on the alert, not raised
                if isinstance(exc, _Permanent):
                    error = str(exc)
                    break
                error = f"{type(exc).__name__}: {exc}"
                if attempt < self.retries:
                    time.sleep(self.backoff_s * 2**attempt)
        logger.warning(
            "could not notify %s after %d attempt(s): %s", channel.label, attempts, error
        )
        return Delivery(channel, False, attempts, error)

    def _send_once(self, channel: Channel, message: dict[str, Any]) -> None:
        spec = NOTIFIERS.get(channel.kind, NOTIFIERS["log"])
        spec.send(self, channel.target, spec.format(message))

    def _log(self, route: str, line: tuple[int, str]) -> None:
        level, words = line
        logger.log(level, "ALERT %s", words)

    def _post(self, url: str, body: dict[str, Any]) -> None:
        try:
            url = expand_env(url, where="the webhook URL", environ=self.environ)
            answer = outbound.post(
                url,
                json.dumps(body, default=str).encode(),
                allow=self.allow,
                timeout_s=self.timeout_s,
                headers={"Content-Type": "application/json", "User-Agent": "shipyard-alerts"},
            )
        except (DestinationRefused, ConfigError) as exc:
            raise _Permanent(f"not sent: {exc}") from None
        status = answer.status
        if 300 <= status < 400:
            where = f" to {redact(answer.location)}" if answer.location else ""
            raise _Permanent(
                f"the endpoint answered HTTP {status} (a redirect{where}); redirects are not "
                "followed: point the webhook at the final URL"
            )
        if 400 <= status < 500 and status not in (408, 429):
            raise _Permanent(f"the endpoint refused the message: HTTP {status}")
        if status >= 400 or status < 200:
            raise OSError(f"the endpoint answered HTTP {status}")

    def _append(self, path: str, line: str) -> None:
        target = Path(path) if self.root is None else self.root / path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(target, flags, 0o600)  # never through a link planted at the path
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            raise _Permanent(
                f"not sent: cannot append to {target}: {exc.strerror or exc}"
            ) from None

    def _mail(self, address: str, content: tuple[str, str]) -> None:
        if self.smtp is None:
            raise _Permanent("no mail server: set alerting.smtp in shipyard.yaml to send e-mail")
        mail = EmailMessage()
        mail["From"] = self.smtp.sender
        mail["To"] = address
        title, body = content
        mail["Subject"] = title
        mail.set_content(body)
        try:
            session = outbound.smtp_session(
                self.smtp.host, self.smtp.port, allow=self.allow, timeout_s=self.timeout_s
            )
        except DestinationRefused as exc:
            raise _Permanent(f"not sent: {exc}") from None
        with session as server:
            if self.smtp.starttls:
                server.starttls(context=ssl.create_default_context())  # verifies the name
            if self.smtp.username:
                password = expand_env(
                    self.smtp.password or "", where="alerting.smtp.password", environ=self.environ
                )
                server.login(self.smtp.username, password)
            server.send_message(mail)


class _Permanent(Exception):
    """A failure that retrying cannot fix (a 4xx or 3xx answer, a refused destination)."""


def subject(message: dict[str, Any]) -> str:
    status = message["status"].upper()
    rule, model = str(message["rule"]), str(message["model"])
    about = rule if rule.startswith(model) else f"{model} {rule}"  # a title naming it already
    return f"[{status}] {message['severity']}: {about}"


def text(message: dict[str, Any]) -> str:
    what = "retraining run" if message["status"] == "maintenance" else "alert"
    return (
        f"{subject(message)} — {message['message']} "
        f"(owner {message['owner']}, {what} #{message['id']})"
    )


def slack_text(message: dict[str, Any]) -> str:
    icon = {"resolved": ":white_check_mark:", "reminder": ":repeat:"}.get(
        message["status"], ":rotating_light:"
    )
    return f"{icon} *{subject(message)}*\n{message['message']}\nowner: {message['owner']}"


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: webhook paths and credentials are secrets."""
    parts = urlsplit(url)
    return redact(f"{parts.scheme}://{parts.netloc}")


def mail_content(message: dict[str, Any]) -> tuple[str, str]:
    """An e-mail's subject and body: the one-line text, then the whole message as JSON."""
    return subject(message), text(message) + "\n\n" + json.dumps(message, indent=2, default=str)


def json_line(message: dict[str, Any]) -> str:
    """The message as one line of JSON, for a file channel."""
    return json.dumps(message, default=str, separators=(",", ":"))


def log_line(message: dict[str, Any]) -> tuple[int, str]:
    """The level (INFO once resolved, else WARNING) and text of the log's line."""
    level = logging.INFO if message["status"] == "resolved" else logging.WARNING
    return level, text(message)


# -- the notifiers: one table --------------------------------------------------------------


@dataclass(frozen=True)
class NotifierSpec:
    """One kind of destination: where its targets come from, how it formats and sends.

    ``key`` names its destinations in a route (``alerting.routes.<name>``) and in a
    model's ``owner``: one value, a list, or ``true`` (the route's name is the
    target). ``url``: targets are http(s) URLs, checked by
    :mod:`shipyard.config.destinations` (its ``URL_KEYS``) and labelled by origin
    only. ``owner_default`` is what an owner without the key has; ``needs`` is the
    ``alerting`` key a destination of this kind needs (without it: "not configured"). ``send`` takes
    the notifier, a target and what ``format`` made of the message; it raises on
    failure (a ``_Permanent`` one is not retried).
    """

    kind: str
    key: str
    format: Callable[[dict[str, Any]], Any]
    send: Callable[[Notifier, str, Any], None]
    url: bool = False
    owner_default: Any = None
    needs: str | None = None

    def targets(self, value: Any, route: str) -> list[str]:
        """The targets a route's or owner's ``value`` for :attr:`key` names."""
        if value is True:
            return [route]
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        return [value] if isinstance(value, str) and value else []


NOTIFIERS: dict[str, NotifierSpec] = {
    spec.kind: spec
    for spec in (
        NotifierSpec("webhook", "webhook", lambda m: m, Notifier._post, url=True),
        NotifierSpec("slack", "slack", lambda m: {"text": slack_text(m)}, Notifier._post, url=True),
        NotifierSpec("email", "email", mail_content, Notifier._mail, needs="smtp"),
        NotifierSpec("file", "file", json_line, Notifier._append),
        NotifierSpec("log", "log", log_line, Notifier._log, owner_default=True),
    )
}


def undeliverable(config: ProjectConfig) -> list[str]:
    """Every owner and route destination that cannot be sent for a missing setting, as
    ``where: what, what to set`` (an owner's e-mail without ``alerting.smtp``)."""
    notifier = Notifier(smtp=config.alerting.smtp)
    found: list[str] = []
    places: list[tuple[str, Any]] = [
        (f"models.{name}.owner ({model.owner.name})", model.owner)
        for name, model in config.models.items()
    ]
    places += [(f"alerting.routes.{name}", route) for name, route in config.alerting.routes.items()]
    for where, holder in places:
        for spec in NOTIFIERS.values():
            missing = notifier.missing(spec.kind)
            targets = spec.targets(getattr(holder, spec.key, None), where)
            if missing and targets:
                found.append(
                    f"{where}: {spec.kind} {', '.join(targets)} cannot be sent — set {missing} "
                    f"in shipyard.yaml (or reach them by webhook, slack or file)"
                )
    return found
