"""Serving: the HTTP server that answers predictions (see ``app`` for the request path)."""

from __future__ import annotations

from .server import serve
from .targets import resolve_targets

__all__ = ["resolve_targets", "serve"]
