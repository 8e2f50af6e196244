"""Connections that leave the machine for an alert, pinned to addresses that were checked.

Every webhook POST and SMTP session resolves its host once, checks every address
with :mod:`shipyard.config.destinations` (the check the project file already
passed at load time) and connects to those addresses, never to the name again:
a DNS answer that changes between the check and the connect (rebinding) finds
no second lookup to change. TLS still verifies the certificate against the host
*name*, and HTTP still sends the name as ``Host``. Redirects are never followed:
the status comes back to the caller, which counts a 3xx as a failed delivery.
"""

from __future__ import annotations

import base64
import http.client
import logging
import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from shipyard.config.destinations import Address, AllowList, Resolver, resolve, url_host

logger = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 65536


@dataclass(frozen=True)
class Answer:
    """What an endpoint said: the status, and where it tried to redirect (if it did)."""

    status: int
    location: str | None = None


def post(
    url: str,
    body: bytes,
    *,
    allow: AllowList,
    timeout_s: float,
    headers: Mapping[str, str],
    resolver: Resolver = socket.getaddrinfo,
) -> Answer:
    """POST ``body`` to ``url`` over a connection to a checked address; raise on no answer.

    Raises :class:`~shipyard.config.destinations.DestinationRefused` when the host
    is not an allowed destination, ``OSError`` when no address answers.
    """
    host, port = url_host(url)
    addresses = resolve(host, port, allow, resolver=resolver)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = {**headers, "Content-Length": str(len(body))}
    if parts.username is not None:  # user:password@ in the URL: HTTP basic authentication
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        sent["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    error: OSError | None = None
    for address in addresses:
        connection = _connection(parts.scheme.lower(), host, port, address, timeout_s)
        try:
            connection.connect()
        except OSError as exc:  # this address does not answer: try the next one checked
            error = exc
            connection.close()
            continue
        try:
            connection.request("POST", target, body=body, headers=sent)
            response = connection.getresponse()
            response.read(MAX_ANSWER_BYTES)
            return Answer(response.status, response.getheader("Location"))
        finally:
            connection.close()
    raise error or OSError(f"no address of {host} answered")


def smtp_session(
    host: str,
    port: int,
    *,
    allow: AllowList,
    timeout_s: float,
    resolver: Resolver = socket.getaddrinfo,
) -> smtplib.SMTP:
    """An SMTP session with ``host``, connected to a checked address (STARTTLS verifies the name)."""
    error: OSError | None = None
    for address in resolve(host, port, allow, resolver=resolver):
        server = _PinnedSMTP(address, timeout_s)
        try:
            server.connect(
                host, port
            )  # the name, for the greeting and STARTTLS; the socket is pinned
        except OSError as exc:
            error = exc
            server.close()
            continue
        return server
    raise error or OSError(f"no address of {host} answered")


def _connection(
    scheme: str, host: str, port: int, address: Address, timeout_s: float
) -> http.client.HTTPConnection:
    if scheme == "https":
        return _PinnedHTTPS(host, port, address, timeout_s)
    return _PinnedHTTP(host, port, address, timeout_s)


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to ``host`` (its ``Host`` header) over a socket to the checked ``address``."""

    def __init__(self, host: str, port: int, address: Address, timeout_s: float) -> None:
        super().__init__(host, port, timeout=timeout_s)
        self.pinned_address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.pinned_address), self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to ``host`` (SNI and certificate checked against it) at the checked ``address``."""

    def __init__(self, host: str, port: int, address: Address, timeout_s: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout_s, context=self.tls)
        self.pinned_address = address

    def connect(self) -> None:
        raw = socket.create_connection((str(self.pinned_address), self.port), self.timeout)
        try:
            self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise


class _PinnedSMTP(smtplib.SMTP):
    """An SMTP client whose socket goes to the checked ``address``, whatever name it greets."""

    def __init__(self, address: Address, timeout_s: float) -> None:
        self.pinned_address = address
        super().__init__(timeout=timeout_s)  # no host: nothing connects yet

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection(
            (str(self.pinned_address), port), timeout, self.source_address
        )
