"""A prediction log written by a real serving run, for the query tests (API and CLI).

The test project of ``tests/serving`` is served in-process (the real ASGI app, its
lifespan and all: leaving it flushes the logs to Parquet segments): ``risk`` answers
with version 1, then, after its champion moves, with version 2; ``faulty`` answers
twice, then fails and its fallback answers twice; three of ``risk``'s answers get a
label back through the feedback endpoint.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.serving_support import make_project, set_fault
from serving.shadow_support import in_process
from shipyard.project import Project
from shipyard.serving.app import ServingApp

AMOUNTS_V1 = [100.0, 2000.0, 30000.0, 45000.0, 700.0, 12000.0]
AGES_V1 = [25, 30, 41, 52, 63, 30]
AMOUNTS_V2 = [5000.0, 40.0]
LABELS = {0: True, 1: False, 2: True}  # the index of a v1 answer -> its label


@dataclass(frozen=True)
class Served:
    """What the run sent and got back."""

    folder: Path
    risk_v1: list[str]  # prediction ids, in the order sent
    risk_v2: list[str]
    faulty_ok: list[str]
    faulty_fallback: list[str]


async def _post(app: ServingApp, calls: list[tuple[str, Any]]) -> list[list[str]]:
    ids = []
    async with in_process(app) as client:
        for path, body in calls:
            answer = await client.post(path, json=body)
            assert answer.status_code in (200, 202), answer.text
            ids.append(answer.json().get("prediction_ids", []))
    return ids


def serve_and_log(folder: Path) -> Served:
    """Make the test project in ``folder`` and write its logs by serving it."""
    project = make_project(folder)
    try:
        return _run(project, folder)
    finally:
        project.close()


def _run(project: Project, folder: Path) -> Served:
    rows = [{"amount": a, "age": g} for a, g in zip(AMOUNTS_V1, AGES_V1, strict=True)]
    app = ServingApp(project, {"risk": "champion", "faulty": "champion"}, environ={})
    set_fault(project, "ok")
    first = asyncio.run(
        _post(
            app,
            [
                ("/v1/models/risk/predict", rows[:2]),
                ("/v1/models/risk/predict", rows[2:]),
                ("/v1/models/faulty/predict", [{"amount": 10.0, "age": 30}] * 2),
            ],
        )
    )
    risk_v1 = first[0] + first[1]
    set_fault(project, "raise")
    labels = [{"prediction_id": risk_v1[i], "label": label} for i, label in LABELS.items()]
    second = asyncio.run(
        _post(
            app,
            [
                ("/v1/models/faulty/predict", {"amount": 600000.0, "age": 40}),
                ("/v1/models/faulty/predict", {"amount": 20.0, "age": 40}),
                ("/v1/models/risk/feedback", {"feedback": labels}),
            ],
        )
    )
    project.models.alias("risk@2", "champion")
    app = ServingApp(project, {"risk": "champion"}, environ={})
    rows_v2 = [{"amount": a, "age": 35} for a in AMOUNTS_V2]
    third = asyncio.run(_post(app, [("/v1/models/risk/predict", rows_v2)]))
    return Served(folder, risk_v1, third[0], first[2], second[0] + second[1])
