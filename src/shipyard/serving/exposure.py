"""Exposure is a decision: a server reachable from other machines without a token must be asked for.

``shipyard serve`` on a loopback address (127.0.0.0/8, ::1, ``localhost``) is reachable
from this machine only. On any other address — ``0.0.0.0`` and ``::`` mean *every*
interface — and without ``server.require_token``, anyone who can reach the port may
predict, read the models' metadata and ``/metrics``, and send feedback labels. That
starts only with ``--public`` (or ``server.public: true``), and then says loudly what
is open; otherwise it is refused with the two ways forward.
"""

from __future__ import annotations

import ipaddress
import logging

from shipyard.errors import ShipyardError

logger = logging.getLogger(__name__)

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


class ExposureError(ShipyardError):
    """``shipyard serve`` was asked to listen beyond this machine with nothing protecting it."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (names other than localhost: no)."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a host name may resolve to anything: treat it as public
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def check_exposure(
    host: str, *, require_token: bool, public: bool, admin_token: bool = False
) -> str | None:
    """``None`` when ``host`` is safe to listen on; the notice of what is open when ``public``.

    Raises :class:`ExposureError` when the server would be open to the network by accident.
    """
    if is_loopback(host) or require_token:
        return None
    if not public:
        raise ExposureError(
            f"refusing to listen on {host} without a token: anyone who can reach it could "
            "get predictions, read the models and /metrics, and send feedback labels",
            hint="either export SHIPYARD_API_TOKEN=<a long random string> and set "
            "server.require_token: true in shipyard.yaml, or pass --public "
            "(server.public: true) if this server is meant to be open; "
            "or listen on 127.0.0.1 behind a reverse proxy",
        )
    admin = (
        "admin endpoints need SHIPYARD_ADMIN_TOKEN"
        if admin_token
        else "admin endpoints are off (no SHIPYARD_ADMIN_TOKEN)"
    )
    notice = (
        f"PUBLIC: listening on {host} with no token (--public / server.public): anyone who "
        "can reach this address can get predictions, read the models, /metrics and "
        f"/openapi.json, and send feedback labels; {admin}"
    )
    logger.warning(notice)
    return notice
