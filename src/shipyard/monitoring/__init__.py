"""Monitoring: reference profiles, drift, data quality, performance from feedback,
service SLOs, and alerts with an owner."""

from .alerting import Alert, Alerts
from .api import Monitoring, MonitorRun
from .data_profile import ColumnSummary, DatasetProfile
from .drift import DriftResult, FeatureDrift
from .notifiers import NOT_CONFIGURED, undeliverable
from .profile import Profile, build_profile
from .profile_html import render_profile
from .prometheus import exported_figures
from .report import MonitorReport

__all__ = [
    "NOT_CONFIGURED",
    "Alert",
    "Alerts",
    "ColumnSummary",
    "DatasetProfile",
    "DriftResult",
    "FeatureDrift",
    "MonitorReport",
    "MonitorRun",
    "Monitoring",
    "Profile",
    "build_profile",
    "exported_figures",
    "render_profile",
    "undeliverable",
]
