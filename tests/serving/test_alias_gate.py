"""Issue #16: ``PUT /v1/models/{name}/aliases/champion`` is no side door around the gate.

The champion moves over HTTP only as ``shipyard promote`` moves it: the version's
latest evaluation passed, or ``"force": true`` with a ``"reason"`` (audited).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from serving_support import make_project
from shadow_support import in_process

from shipyard.serving.app import ServingApp

ADMIN = {"Authorization": "Bearer admin-secret"}


def test_moving_the_champion_over_http_passes_the_evaluation_gate(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")  # risk@1 is the champion, risk@2 unevaluated
    answers: dict[str, Any] = {}

    async def run() -> None:
        app = ServingApp(
            project, {"risk": "champion"}, environ={"SHIPYARD_ADMIN_TOKEN": "admin-secret"}
        )
        async with in_process(app) as client:

            async def put(alias: str, body: dict[str, Any]) -> Any:
                return await client.put(
                    f"/v1/models/risk/aliases/{alias}", json=body, headers=ADMIN
                )

            answers["gated"] = await put("champion", {"version": 2, "reason": "looks better"})
            answers["no_reason"] = await put("champion", {"version": 2, "force": True})
            answers["not_bool"] = await put(
                "champion", {"version": 2, "force": "yes", "reason": "x"}
            )
            answers["forced"] = await put(
                "champion", {"version": 2, "force": True, "reason": "hotfix, evaluated by hand"}
            )
            answers["challenger"] = await put("challenger", {"version": 1})
            answers["forced_other"] = await put(
                "staging", {"version": 1, "force": True, "reason": "x"}
            )
            answers["served"] = (await client.get("/v1/models/risk")).json()
            answers["openapi"] = (await client.get("/openapi.json")).json()

    try:
        asyncio.run(run())
        gated = answers["gated"]
        assert gated.status_code == 409, gated.text
        assert (
            "refusing to promote risk@2 to champion: risk@2 has not been evaluated"
            in (gated.json()["error"])
        )
        assert answers["no_reason"].status_code == 422
        assert '"force": true needs a "reason"' in answers["no_reason"].json()["error"]
        assert answers["not_bool"].status_code == 422
        assert answers["forced"].status_code == 200
        assert answers["forced"].json() == {
            "model": "risk",
            "alias": "champion",
            "from": 1,
            "to": 2,
        }
        assert answers["challenger"].status_code == 200  # other aliases are not gated
        assert answers["forced_other"].status_code == 422
        assert project.models.registry.aliases("risk") == {"champion": 2, "challenger": 1}
        documented = answers["openapi"]["paths"]["/v1/models/{name}/aliases/{alias}"]["put"]
        body = documented["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["force"]["type"] == "boolean"
        assert {"409", "422"} <= set(documented["responses"])
        promoted = [e for e in project.audit(subject="risk") if e.action == "model.promoted"]
        assert [(e.detail["to"], e.detail["forced"], e.reason) for e in promoted] == [
            (2, True, "hotfix, evaluated by hand")
        ]
    finally:
        project.close()
