"""Monitoring: reference profiles, drift, data quality, performance from feedback,
service SLOs, and alerts with an owner.

Its names load on first use (:mod:`shipyard.lazy`): importing one module of the
stage does not import the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.lazy import exports

if TYPE_CHECKING:
    from .alerting import Alert, Alerts
    from .api import Monitoring
    from .backfill import Backfill, PeriodRun
    from .data_profile import ColumnSummary, DatasetProfile
    from .drift import DriftResult, FeatureDrift
    from .notifiers import NOT_CONFIGURED, undeliverable
    from .profile import Profile, build_profile
    from .profile_html import render_profile
    from .prometheus import exported_figures
    from .records import MonitorRun
    from .report import MonitorReport

_NAMES = {
    "Alert": ".alerting",
    "Backfill": ".backfill",
    "PeriodRun": ".backfill",
    "Alerts": ".alerting",
    "build_profile": ".profile",
    "ColumnSummary": ".data_profile",
    "DatasetProfile": ".data_profile",
    "render_profile": ".profile_html",
    "DriftResult": ".drift",
    "exported_figures": ".prometheus",
    "FeatureDrift": ".drift",
    "Monitoring": ".api",
    "MonitorReport": ".report",
    "MonitorRun": ".records",
    "NOT_CONFIGURED": ".notifiers",
    "Profile": ".profile",
    "undeliverable": ".notifiers",
}
__all__ = [
    "NOT_CONFIGURED",
    "Alert",
    "Alerts",
    "Backfill",
    "ColumnSummary",
    "DatasetProfile",
    "DriftResult",
    "FeatureDrift",
    "MonitorReport",
    "MonitorRun",
    "Monitoring",
    "PeriodRun",
    "Profile",
    "build_profile",
    "exported_figures",
    "render_profile",
    "undeliverable",
]
__getattr__, __dir__ = exports(__name__, _NAMES)
