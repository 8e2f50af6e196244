"""A project whose model has three monitoring runs an hour apart: two calm, the last drifted.

The prediction log is written segment by segment as the server writes it
(``tests/maintenance/feedback_support.py``), so no server runs. A segment lies in
the folder of the UTC day it is written, so the runs' hours are taken in today.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from maintenance.feedback_support import Log, loans, make_project
from shipyard.monitoring import MonitorRun
from shipyard.project import Project


def drifting_project(folder: Path) -> tuple[Project, list[MonitorRun]]:
    """The project (open) and its three runs, oldest first."""
    project = make_project(folder)
    start = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    training = loans(2000, 1, start=start - timedelta(days=30))
    training.write_csv(folder / "loans.csv")
    project.ingest("loans", folder / "loans.csv")
    project.train("risk")
    log, runs = Log(project), []
    for hour in range(3):
        rows = loans(400, 10 + hour, start=start + timedelta(hours=hour), prefix=f"h{hour}-")
        if hour == 2:  # larger loans, older applicants, more of them from one country
            rows = rows.with_columns(
                pl.col("amount") * 1.8, pl.col("age") + 12,
                pl.when(pl.col("country") == "FR").then(pl.lit("PL")).otherwise(pl.col("country")).alias("country"),
            )  # fmt: skip
        log.served(rows, at=start + timedelta(hours=hour, minutes=30))
        end = start + timedelta(hours=hour + 1)
        runs.append(project.monitoring.run("risk", window=3600, now=end, notify=False))
    return project, runs
