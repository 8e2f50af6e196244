"""Fixtures for the monitoring tests; the helpers live in ``monitor_support``."""

from monitor_support import monitored, receiver  # noqa: F401 - fixtures, found by name

__all__ = ["monitored", "receiver"]
