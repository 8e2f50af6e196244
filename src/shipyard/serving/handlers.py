"""The handlers of the server's own routes: probes, the model list, feedback, metrics, docs.

Each takes the app and the :class:`.routing.Call` and returns the status it sent and
the model the request named. Prediction routes are in :mod:`.protocols`, admin
routes in :mod:`.admin`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard import __version__

from .feedback import feedback_chunk
from .http import send_bytes, send_json
from .openapi import openapi_document

if TYPE_CHECKING:
    from .app import ServingApp
    from .routing import Call

TEXT = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]


async def alive(app: ServingApp, call: Call) -> tuple[int, str]:
    """Liveness: the worker answers."""
    await send_json(call.send, 200, {"status": "ok"})
    return 200, ""


async def readyz(app: ServingApp, call: Call) -> tuple[int, str]:
    """Readiness, with each model's status, version, error and environment mismatch: 503
    until every model that names a version is loaded; ``not_ready`` says which are not, and
    why (a model with no champion yet is listed there without holding the others back)."""
    status = 200 if app.ready else 503
    deployments = app.deployments.items()
    await send_json(
        call.send,
        status,
        {
            "ready": status == 200,
            "shutting_down": app.shutting_down,
            "waiting_for": app.background.waiting_for,
            "models": {
                name: {
                    "status": d.status,
                    "version": d.current.version.version if d.current else None,
                    "error": d.error,
                    # how the served version's recorded environment differs from this one
                    "environment": d.current.environment if d.current else None,
                }
                for name, d in deployments
            },
            "not_ready": {
                name: d.error or d.status for name, d in deployments if d.current is None
            },
        },
    )
    return status, ""


async def models(app: ServingApp, call: Call) -> tuple[int, str]:
    """What is served for every model."""
    await send_json(call.send, 200, {"models": [d.describe() for d in app.deployments.values()]})
    return 200, ""


async def describe(app: ServingApp, call: Call) -> tuple[int, str]:
    """What is served for one model."""
    name = call.params["name"]
    await send_json(call.send, 200, app.find(name).describe())
    return 200, name


async def feedback(app: ServingApp, call: Call) -> tuple[int, str]:
    """Ground truth for earlier predictions, by prediction id: buffered for the log."""
    name = call.params["name"]
    deployment = app.find(name)
    body = await app.read_json(call.scope, call.receive)
    chunk = feedback_chunk(name, body, deployment, app.settings.max_rows)
    app.feedback.append(chunk)
    app.metrics.inc("shipyard_feedback_total", (name,), chunk.n)
    app.background.log_grew()
    await send_json(call.send, 202, {"accepted": chunk.n})
    return 202, name


async def metrics(app: ServingApp, call: Call) -> tuple[int, str]:
    """Prometheus text: this worker's figures, with every worker's counters when shared."""
    text = app.shared.combined(app.metrics).render().encode()
    await send_bytes(call.send, 200, text, TEXT)
    return 200, ""


async def openapi(app: ServingApp, call: Call) -> tuple[int, str]:
    await send_json(call.send, 200, openapi_document(app))
    return 200, ""


async def version(app: ServingApp, call: Call) -> tuple[int, str]:
    await send_json(call.send, 200, {"shipyard": __version__})
    return 200, ""
