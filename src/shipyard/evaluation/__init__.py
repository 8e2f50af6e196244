"""The evaluation stage. So far: the metrics every task reports (gates arrive with it)."""

from __future__ import annotations

from .metrics import compute_metrics, default_metrics

__all__ = ["compute_metrics", "default_metrics"]
