"""Fixtures for the monitoring tests; the helpers live in ``monitor_support``."""

from monitor_support import monitored, receiver

__all__ = ["monitored", "receiver"]
