"""The admin routes (``SHIPYARD_ADMIN_TOKEN``): move an alias, reload, inject a fault."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .http import HttpError, send_json

if TYPE_CHECKING:
    from .app import ServingApp
    from .routing import Call

FAULT_SHAPE = (
    'expected {"model": NAME, "mode": "error" | "delay" | "off", "seconds": S, "delay_ms": MS}'
)


async def move_alias(app: ServingApp, call: Call) -> tuple[int, str]:
    """Move ``{alias}`` of ``{name}`` to the body's version (with a reason), then switch.

    ``champion`` moves only through the evaluation gate, as ``shipyard promote``:
    ``{"force": true, "reason": "..."}`` overrides it, audited.
    """
    name, alias = call.params["name"], call.params["alias"]
    app.find(name)
    body = await app.read_json(call.scope, call.receive)
    version = body.get("version") if isinstance(body, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        raise HttpError(422, "invalid_request", 'expected {"version": N, "reason": "why"}')
    reason = body.get("reason")
    force = body.get("force", False)
    if not isinstance(force, bool) or (force and not (isinstance(reason, str) and reason.strip())):
        raise HttpError(
            422, "invalid_request", '"force": true needs a "reason": the override is audited'
        )
    if alias == "champion":  # the evaluation gate of 'shipyard promote' (409 when it refuses)
        previous, current = await asyncio.to_thread(
            app.project.promote,
            f"{name}@{version}",
            to=alias,
            force=force,
            reason=str(reason) if reason else "promoted over HTTP",
        )
    else:
        if force:
            raise HttpError(
                422, "invalid_request", '"force" applies to the champion only (it is gated)'
            )
        previous, current = await asyncio.to_thread(
            app.project.models.alias,
            f"{name}@{version}",
            alias,
            reason=str(reason) if reason else "moved over HTTP",
        )
    await app.background.check_aliases(force=True)
    await send_json(
        call.send,
        200,
        {"model": name, "alias": alias, "from": previous, "to": current},
    )
    return 200, name


async def reload(app: ServingApp, call: Call) -> tuple[int, str]:
    """Re-read every alias now and retry refused versions; answer what is served."""
    await app.background.check_aliases(force=True)
    await send_json(call.send, 200, {"models": [d.describe() for d in app.deployments.values()]})
    return 200, ""


async def fault(app: ServingApp, call: Call) -> tuple[int, str]:
    """Make a model fail or slow down for a while (drills of the fallback chain)."""
    body = await app.read_json(call.scope, call.receive)
    if not isinstance(body, dict):
        raise HttpError(422, "invalid_request", FAULT_SHAPE)
    deployment = app.find(str(body.get("model")))
    mode = body.get("mode")
    seconds = body.get("seconds", 60)
    delay_ms = body.get("delay_ms", 0)
    numbers_ok = all(
        isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 86_400_000
        for v in (seconds, delay_ms)
    )
    if mode not in ("error", "delay", "off") or not numbers_ok:
        raise HttpError(422, "invalid_request", FAULT_SHAPE)
    deployment.inject(mode, seconds=float(seconds), delay_ms=float(delay_ms))
    await send_json(call.send, 200, {"model": deployment.name, "mode": mode, "seconds": seconds})
    return 200, ""
