"""Outbound destinations: where shipyard may send an alert, checked before anything is sent.

An alert leaves the machine through a webhook, a Slack-compatible webhook or an
SMTP server named in the project file. Whoever can write that file (or a route
in it) must not be able to turn those calls inward: at the cloud metadata
service (169.254.169.254), a database on localhost, a service in the private
network. So a destination is refused when its host is, or resolves to, an
address that is not public — loopback, link-local, private, shared (CGNAT),
multicast, reserved or unspecified, in any spelling (``127.1``, ``0x7f000001``,
``2130706433``, ``[::ffff:127.0.0.1]``, ``localhost.``) — unless
``alerting.allow_hosts`` lists the host name, the address or a network holding it.

The check runs twice and both use this module:

* at config time, without DNS (:func:`destination_problems`): literal addresses
  and names of this machine are refused with the key path that holds them;
* at send time (:func:`resolve`): the host is resolved once, every address it
  resolves to must be allowed, and the caller connects to those addresses — never
  to the name again — so DNS rebinding between the check and the connect fails.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .checks import Problem
from .schema import ProjectConfig

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., list[Any]]

SCHEMES = ("http", "https")
# the keys of a route and of an owner that hold an http(s) URL: the ``url`` notifiers of
# shipyard.monitoring.notifiers.NOTIFIERS (tests/monitoring/test_notifier_table.py pins it)
URL_KEYS = ("webhook", "slack")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "instance-data"})
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254")
)
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # IPv4 embedded in IPv6 (RFC 6052)
_ALLOW_HINT = "list it in alerting.allow_hosts if sending there is intended"


class DestinationRefused(ValueError):
    """A destination shipyard will not send to; the message says which host and why."""


@dataclass(frozen=True)
class AllowList:
    """``alerting.allow_hosts``: host names, addresses and networks alerts may go to anyway."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Build from the project file's entries; a malformed entry is a ``ValueError``."""
        names: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            value = _allow_entry(entry)
            if isinstance(value, str):
                names.add(value)
            else:
                networks.append(value)
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return normalise_host(host) in self.names

    def allows_address(self, address: Address) -> bool:
        candidates = [address, *_embedded(address)]
        return any(a.version == n.version and a in n for a in candidates for n in self.networks)


def normalise_host(host: str) -> str:
    """``host`` as compared: lower case, no brackets, no IPv6 zone, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0]
    return host[:-1] if host.endswith(".") else host


def literal_address(host: str) -> Address | None:
    """The address ``host`` spells, in any form a resolver accepts; ``None`` for a name.

    IPv4 follows ``inet_aton``: one to four parts, each decimal, ``0x`` hex or
    ``0``-prefixed octal, the last part filling the remaining bytes, so ``127.1``,
    ``0x7f000001``, ``2130706433`` and ``017700000001`` all mean 127.0.0.1.
    """
    host = normalise_host(host)
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        number = _inet_number(part)
        if number is None:
            return None
        numbers.append(number)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for index, number in enumerate(head):
        value |= number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def refusal(address: Address) -> str | None:
    """Why ``address`` is not a public destination, or ``None`` when it is."""
    for inner in _embedded(address):
        reason = refusal(inner)
        if reason:
            return f"{reason}, embedded in {address}"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return None  # an IPv4 address written as IPv6: judged above as the address it is
    if address.is_unspecified:
        return "the unspecified address (it means this machine)"
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address in _METADATA_ADDRESSES:
        return "the cloud metadata service"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared carrier-grade NAT address (100.64.0.0/10)"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private-network address"
    if not address.is_global:
        return "not a public address"
    return None


def host_refusal(host: str, allow: AllowList) -> str | None:
    """Config-time verdict on ``host`` without DNS: why it is refused, or ``None``."""
    name = normalise_host(host)
    if not name:
        return "the URL has no host"
    if allow.allows_name(name) or "${" in name:  # a ${VAR} host is checked at send time
        return None
    address = literal_address(name)
    if address is not None:
        reason = refusal(address)
        if reason is None or allow.allows_address(address):
            return None
        return f"{host} is {reason}"
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return f"{host} names this machine (loopback)"
    if name in _METADATA_NAMES:
        return f"{host} names the cloud metadata service"
    return None


def url_host(url: str) -> tuple[str, int]:
    """The host and port an http(s) ``url`` goes to; other schemes are refused."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise DestinationRefused(
            f"only http:// and https:// destinations are allowed, not '{parts.scheme}:'"
        )
    try:
        port = parts.port
    except ValueError:
        raise DestinationRefused("the URL's port is not a number from 1 to 65535") from None
    host = parts.hostname or ""
    if not host:
        raise DestinationRefused("the URL has no host")
    return host, port or (443 if parts.scheme.lower() == "https" else 80)


def resolve(
    host: str, port: int, allow: AllowList, *, resolver: Resolver = socket.getaddrinfo
) -> list[Address]:
    """Send-time check: the addresses to connect to, each one allowed, resolved once.

    Connect to these and only these: resolving the name again could give another
    answer (DNS rebinding). Raises :class:`DestinationRefused` naming the address.
    """
    name = normalise_host(host)
    listed = allow.allows_name(name)
    address = literal_address(name)
    if address is not None:
        reason = refusal(address)
        if reason and not (listed or allow.allows_address(address)):
            raise DestinationRefused(f"{host} is {reason}; {_ALLOW_HINT}")
        return [address]
    if not listed:
        reason = host_refusal(name, allow)
        if reason:
            raise DestinationRefused(f"{reason}; {_ALLOW_HINT}")
    try:
        infos = resolver(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from None
    addresses: list[Address] = []
    for info in infos:
        found = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if found not in addresses:
            addresses.append(found)
    if not addresses:
        raise OSError(f"cannot resolve {host}: no addresses")
    if not listed:
        for found in addresses:
            reason = refusal(found)
            if reason and not allow.allows_address(found):
                raise DestinationRefused(f"{host} resolves to {found}, {reason}; {_ALLOW_HINT}")
    return addresses


def destination_problems(config: ProjectConfig) -> list[Problem]:
    """Config-time problems: malformed ``allow_hosts`` and every refused destination."""
    problems: list[Problem] = []
    entries: list[str] = []
    for index, entry in enumerate(config.alerting.allow_hosts):
        try:
            _allow_entry(entry)
        except ValueError as exc:
            problems.append(Problem(("alerting", "allow_hosts", index), str(exc)))
        else:
            entries.append(entry)
    allow = AllowList.parse(entries)
    urls: list[tuple[tuple[str | int, ...], str | None]] = []
    for name, route in config.alerting.routes.items():
        where = ("alerting", "routes", name)
        urls += [((*where, key), getattr(route, key)) for key in URL_KEYS]
    for name, model in config.models.items():
        where = ("models", name, "owner")
        urls += [((*where, key), getattr(model.owner, key)) for key in URL_KEYS]
    for path, url in urls:
        if url is None:
            continue
        try:
            host, _ = url_host(url)
        except DestinationRefused as exc:
            problems.append(Problem(path, str(exc)))
            continue
        reason = host_refusal(host, allow)
        if reason:
            problems.append(Problem(path, _refused(reason)))
    smtp = config.alerting.smtp
    if smtp is not None:
        reason = host_refusal(smtp.host, allow)
        if reason:
            problems.append(Problem(("alerting", "smtp", "host"), _refused(reason)))
    return problems


def _refused(reason: str) -> str:
    return f"refused as an alert destination: {reason}; {_ALLOW_HINT}"


def _allow_entry(entry: str) -> str | Network:
    """One ``allow_hosts`` entry: a host name, or the network an address or CIDR stands for."""
    text = normalise_host(entry) if isinstance(entry, str) else ""
    if "*" in text:
        raise ValueError(
            f"wildcards are not supported, got {entry!r}: list each host name, "
            "or the network its addresses are in (e.g. 10.0.0.0/8)"
        )
    if not text or (any(c in text for c in " /:@?#") and not _is_network(text)):
        raise ValueError(
            f"expected a host name, an IP address or a network like 10.0.0.0/8, got {entry!r}"
        )
    if "/" in text:
        return ipaddress.ip_network(text, strict=False)
    address = literal_address(text)
    if address is not None:
        return ipaddress.ip_network(address)
    return text


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _inet_number(part: str) -> int | None:
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:], 16) if part[2:] else 0
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _embedded(address: Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo:
        found.append(address.teredo[1])
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]
