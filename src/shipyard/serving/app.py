"""The ASGI application: routes, the request path, and the lifespan of one worker.

The request path of a prediction reads the body (bounded), parses it with
orjson, validates it column by column, queues it for the model's micro-batcher
with a deadline, answers, and appends the rows to the in-memory prediction log.
It touches no disk and no database: loading, alias polling, log flushing and
metrics snapshots run in background tasks and threads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable
from itertools import count
from typing import Any

from shipyard import __version__
from shipyard.config.checks import did_you_mean
from shipyard.entrypoints import user_code_on_path
from shipyard.errors import NotFoundError, ShipyardError, first_line
from shipyard.project import Project

from . import protocols
from .accesslog import AccessLog
from .admission import LoopLag, OverloadedError
from .auth import Tokens
from .deployment import Deployment
from .fallback import FallbackChain
from .feedback import feedback_chunk
from .http import (
    HttpError,
    Receive,
    Scope,
    Send,
    error_payload,
    header,
    parse_json,
    read_body,
    send_bytes,
    send_json,
)
from .metrics import Metrics, SharedMetrics, model_label, route_label
from .openapi import openapi_document
from .origin import CrossSite, require_body_type
from .predlog import FEEDBACK, PREDICTIONS, REJECTIONS, Chunk, SegmentLog
from .validation import FieldSpec, RowValidator
from .worker import Background

logger = logging.getLogger(__name__)

Parser = Callable[[Any, RowValidator, int], Any]
TEXT = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
PROBES = {"/healthz", "/readyz", "/ping", "/health", "/v2/health/live", "/v2/health/ready"}


class ServingApp:
    """Serves the given models of one project; one instance per worker process."""

    def __init__(
        self,
        project: Project,
        targets: dict[str, str],
        *,
        worker: str | None = None,
        shared: SharedMetrics | None = None,
        environ: dict[str, str] | None = None,
        access_log: bool | None = None,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        user_code_on_path(project.root)  # the user's modules: model classes, fallback rules
        self.project = project
        self.settings = project.config.server
        self.worker = worker or os.urandom(6).hex()
        # one worker of a pool (w0-…) runs background monitoring; a lone worker always does
        self.monitors = not self.worker.startswith("w") or self.worker.startswith("w0-")
        self.shared = shared or SharedMetrics(None, self.worker)
        self.metrics = Metrics(self.shared.cells)  # counters in the worker's file, if shared
        self.tokens = Tokens.from_environment(env, required=self.settings.require_token)
        self.cross_site = CrossSite(self.settings.cors_origins)
        self._routes: dict[str, str] = {}  # route labels of paths that were answered
        self.max_body = int(self.settings.max_body_mb * 1_000_000)
        self.lag = LoopLag()  # how busy the event loop is: part of every admission decision
        self.deployments = {name: self._deployment(name, t) for name, t in targets.items()}
        spool = project.root / ".shipyard" / "spool"
        on_rows: Callable[[str, str, int], None] = lambda kind, where, n: self.metrics.inc(  # noqa: E731
            "shipyard_prediction_log_rows_total", (kind, where), n
        )
        self.predictions = SegmentLog(
            PREDICTIONS, project.artifacts, worker=self.worker, spool=spool, on_rows=on_rows
        )
        self.feedback = SegmentLog(
            FEEDBACK, project.artifacts, worker=self.worker, spool=spool, on_rows=on_rows
        )
        self.rejections = SegmentLog(
            REJECTIONS, project.artifacts, worker=self.worker, spool=spool, on_rows=on_rows
        )
        self.access = AccessLog(
            enabled=self.settings.access_log if access_log is None else access_log
        )
        self.background = Background(self)
        self._ids = count()
        self._id_prefix = self.worker[:8]
        self.shutting_down = False
        self.last_request = time.monotonic()

    def _deployment(self, name: str, target: str) -> Deployment:
        config = self.project.models.config(name)
        dataset = self.project.config.datasets.get(config.dataset)
        columns = dataset.columns if dataset else {}
        fields = [FieldSpec.from_column(f, columns.get(f)) for f in config.features]
        chain = FallbackChain(
            config.fallback,
            self.project.root,
            with_proba=config.task != "regression",
            model=name,
        )
        return Deployment(
            name, target, config, RowValidator(fields), chain, self.metrics, lag=self.lag
        )

    @property
    def ready(self) -> bool:
        return not self.shutting_down and all(d.ready for d in self.deployments.values())

    # -- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.background.start()
                    self.lag.start()
                except Exception as exc:  # pragma: no cover - reported to the server
                    await send({"type": "lifespan.startup.failed", "message": first_line(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.shutting_down = True
                await self.lag.stop()
                await self.background.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def begin_drain(self) -> None:
        """Stop being ready (a load balancer takes the worker out); keep answering."""
        self.shutting_down = True
        for deployment in self.deployments.values():
            deployment.draining = True  # shed requests are told 503: try another replica
        logger.warning("draining: /readyz now answers 503; answering until requests stop")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if scope["path"] not in PROBES:  # probes do not keep a draining worker up
            self.last_request = time.monotonic()
        status = 500
        model = ""
        try:
            send = self.cross_site.guard(scope, send)
            status, model = await self._route(scope, receive, send, started)
        except Exception as exc:
            if isinstance(exc, ShipyardError):
                status, payload = error_payload(exc)
            else:
                logger.exception("internal error on %s %s", scope["method"], scope["path"])
                status, payload = error_payload(exc)
            model = model or _model_named(scope)
            if status != 499:
                extra = exc.headers if isinstance(exc, OverloadedError) else None
                await send_json(send, status, payload, extra)
                self._log_refusal(scope["path"], model, status, payload)
        finally:
            # every label value from a bounded set: a made-up name or path is no new series
            path = scope["path"]
            route = self._routes.get(path)
            if route is None:
                route = route_label(path)
                if status < 300 and model in self.deployments and len(self._routes) < 256:
                    self._routes[path] = route  # answered paths of served models, capped
            labels = (model_label(model, self.deployments), route, str(status))
            self.metrics.inc("shipyard_requests_total", labels)
            self.access.request(scope, status, time.perf_counter() - started, model)

    async def _route(
        self, scope: Scope, receive: Receive, send: Send, started: float
    ) -> tuple[int, str]:
        method, path = scope["method"], scope["path"]
        parts = path.strip("/").split("/")
        head = parts[0]
        if head == "healthz" or path in ("/ping", "/health", "/v2/health/live"):
            await send_json(send, 200, {"status": "ok"})
            return 200, ""
        if head == "readyz" or path == "/v2/health/ready":
            return await self._readyz(send), ""
        if method == "OPTIONS" and await self.cross_site.preflight(scope, send):
            return 204, ""
        self.tokens.check(scope, admin=False)
        if head == "v1" and len(parts) >= 3 and parts[1] == "models":
            name = parts[2]
            if len(parts) == 4 and parts[3] == "predict":
                _method(method, "POST")
                await self._predict(scope, receive, send, name, "native", started)
                return 200, name
            if len(parts) == 4 and parts[3] == "feedback":
                _method(method, "POST")
                return await self._feedback(scope, receive, send, name), name
            if len(parts) == 5 and parts[3] == "aliases":
                _method(method, "PUT")
                self.tokens.check(scope, admin=True)
                return await self._move_alias(scope, receive, send, name, parts[4]), name
            if len(parts) == 3:
                _method(method, "GET")
                await send_json(send, 200, self._find(name).describe())
                return 200, name
        if path == "/v1/models":
            _method(method, "GET")
            await send_json(
                send, 200, {"models": [d.describe() for d in self.deployments.values()]}
            )
            return 200, ""
        if path == "/v1/admin/reload":
            _method(method, "POST")
            self.tokens.check(scope, admin=True)
            await self.background.check_aliases(force=True)
            await send_json(
                send, 200, {"models": [d.describe() for d in self.deployments.values()]}
            )
            return 200, ""
        if path == "/v1/admin/fault":
            _method(method, "POST")
            self.tokens.check(scope, admin=True)
            return await self._fault(scope, receive, send), ""
        if head == "v2":
            return await self._v2(scope, receive, send, parts, started)
        if path == "/invocations":
            _method(method, "POST")
            name = self._mlflow_model(scope)
            await self._predict(scope, receive, send, name, "mlflow", started)
            return 200, name
        if path == "/metrics":
            text = self.shared.combined(self.metrics).render().encode()
            await send_bytes(send, 200, text, TEXT)
            return 200, ""
        if path == "/openapi.json":
            await send_json(send, 200, openapi_document(self))
            return 200, ""
        if path == "/version":
            await send_json(send, 200, {"shipyard": __version__})
            return 200, ""
        raise HttpError(404, "not_found", f"no route {method} {path}", hint="see /openapi.json")

    # -- predictions ----------------------------------------------------------------------
    async def _predict(
        self, scope: Scope, receive: Receive, send: Send, name: str, protocol: str, started: float
    ) -> None:
        deployment = self._find(name)
        deployment.admit_early(started)
        body = await self._json(scope, receive)
        request_id: Any = None
        wanted: set[str] | None = None
        if protocol == "native":
            rows = protocols.native_rows(body, deployment.validator, self.settings.max_rows)
        elif protocol == "mlflow":
            rows = protocols.mlflow_rows(body, deployment.validator, self.settings.max_rows)
        else:
            rows = protocols.v2_rows(body, deployment.validator, self.settings.max_rows)
            request_id = body.get("id")
            outputs = body.get("outputs")
            if isinstance(outputs, list):
                wanted = {str(o.get("name")) for o in outputs if isinstance(o, dict)}
        outcome = await deployment.predict(rows, started)
        n = rows.n
        prefix = self._id_prefix
        ids = [f"{prefix}-{next(self._ids):x}" for _ in range(n)]
        seconds = time.perf_counter() - started
        version = "" if outcome.version is None else str(outcome.version)
        self.metrics.observe(
            "shipyard_request_duration_seconds", (name, version, outcome.path), seconds
        )
        self.metrics.inc("shipyard_predictions_total", (name, version, outcome.path), n)
        self._log(name, outcome, rows, ids, seconds)
        self.background.log_grew()
        if protocol == "native":
            await send_json(send, 200, protocols.native_answer(name, outcome, ids))
        elif protocol == "mlflow":
            await send_json(send, 200, protocols.mlflow_answer(outcome))
        else:
            await send_json(send, 200, protocols.v2_answer(name, outcome, ids, request_id, wanted))

    async def _json(self, scope: Scope, receive: Receive) -> Any:
        """The request body as JSON: 415 for another Content-Type, 413 past the limit, 400."""
        require_body_type(scope)
        return parse_json(await read_body(scope, receive, self.max_body))

    def _log(self, name: str, outcome: Any, rows: Any, ids: list[str], seconds: float) -> None:
        """Buffer the answered rows for the prediction log (per-request values stay scalars)."""
        now = time.time()
        latency_ms = seconds * 1000.0
        if outcome.paths is None and outcome.versions is None:
            self.predictions.append(
                Chunk(
                    name,
                    rows.n,
                    (
                        ("time", now),
                        ("version", outcome.version),
                        ("path", outcome.path),
                        ("degraded", outcome.degraded),
                        ("reason", outcome.reason),
                        ("latency_ms", latency_ms),
                    ),
                    (
                        ("prediction_id", ids),
                        ("prediction", outcome.predictions),
                        ("probabilities", outcome.probabilities),
                    ),
                    rows,
                )
            )
            return
        # rows answered by different links: one chunk per row keeps each row's path and version
        paths = outcome.paths or [outcome.path] * rows.n
        versions = outcome.versions or [outcome.version] * rows.n
        proba = outcome.probabilities
        for index in range(rows.n):
            self.predictions.append(
                Chunk(
                    name,
                    1,
                    (
                        ("time", now),
                        ("version", versions[index]),
                        ("path", paths[index]),
                        ("degraded", True),
                        ("reason", outcome.reason),
                        ("latency_ms", latency_ms),
                    ),
                    (
                        ("prediction_id", [ids[index]]),
                        ("prediction", [outcome.predictions[index]]),
                        ("probabilities", None if proba is None else [proba[index]]),
                    ),
                    rows.take(index),
                )
            )

    def _log_refusal(self, path: str, model: str, status: int, payload: dict[str, Any]) -> None:
        """A prediction request answered with an error: kept for monitoring (rates, fields).

        Denied requests (401, 403) and bodies that are not JSON (415) never reached
        validation; any web page can send them, so they must not move the refusal rate.
        """
        if (
            model not in self.deployments
            or not path.endswith(PREDICTION_ROUTES)
            or status in _NOT_TRAFFIC
        ):
            return
        fields = sorted({m.group(1) for p in payload["problems"] if (m := _FIELD.search(p))})
        self.rejections.append(
            Chunk(
                model,
                1,
                (("time", time.time()), ("status", status), ("code", payload["code"])),
                (("fields", [fields]),),
            )
        )

    async def _feedback(self, scope: Scope, receive: Receive, send: Send, name: str) -> int:
        deployment = self._find(name)
        body = await self._json(scope, receive)
        chunk = feedback_chunk(name, body, deployment, self.settings.max_rows)
        self.feedback.append(chunk)
        self.metrics.inc("shipyard_feedback_total", (name,), chunk.n)
        self.background.log_grew()
        await send_json(send, 202, {"accepted": chunk.n})
        return 202

    # -- V2 ---------------------------------------------------------------------------------
    async def _v2(
        self, scope: Scope, receive: Receive, send: Send, parts: list[str], started: float
    ) -> tuple[int, str]:
        method = scope["method"]
        if len(parts) == 1:
            _method(method, "GET")
            await send_json(
                send, 200, {"name": "shipyard", "version": __version__, "extensions": []}
            )
            return 200, ""
        if len(parts) < 3 or parts[1] != "models":
            raise HttpError(404, "not_found", f"no route {method} {scope['path']}")
        name = parts[2]
        rest = parts[3:]
        deployment = self._find(name)
        if len(rest) >= 2 and rest[0] == "versions":
            loaded = deployment.current
            if loaded is None or rest[1] != str(loaded.version.version):
                serving = loaded.version.version if loaded else "none"
                raise HttpError(
                    404,
                    "not_found",
                    f"model '{name}' version {rest[1]} is not served here (serving: {serving})",
                )
            rest = rest[2:]
        if not rest:
            _method(method, "GET")
            await send_json(send, 200, _v2_metadata(deployment))
            return 200, name
        if rest == ["ready"]:
            _method(method, "GET")
            ready = deployment.ready and not self.shutting_down
            await send_json(send, 200 if ready else 503, {"name": name, "ready": ready})
            return 200 if ready else 503, name
        if rest == ["infer"]:
            _method(method, "POST")
            await self._predict(scope, receive, send, name, "v2", started)
            return 200, name
        raise HttpError(404, "not_found", f"no route {method} {scope['path']}")

    # -- admin and status ---------------------------------------------------------------------
    async def _move_alias(
        self, scope: Scope, receive: Receive, send: Send, name: str, alias: str
    ) -> int:
        self._find(name)
        body = await self._json(scope, receive)
        version = body.get("version") if isinstance(body, dict) else None
        if not isinstance(version, int) or isinstance(version, bool):
            raise HttpError(422, "invalid_request", 'expected {"version": N, "reason": "why"}')
        reason = body.get("reason")
        previous, current = await asyncio.to_thread(
            self.project.models.alias,
            f"{name}@{version}",
            alias,
            reason=str(reason) if reason else "moved over HTTP",
        )
        await self.background.check_aliases(force=True)
        await send_json(
            send,
            200,
            {"model": name, "alias": alias, "from": previous, "to": current},
        )
        return 200

    async def _fault(self, scope: Scope, receive: Receive, send: Send) -> int:
        body = await self._json(scope, receive)
        if not isinstance(body, dict):
            raise HttpError(422, "invalid_request", _FAULT_SHAPE)
        deployment = self._find(str(body.get("model")))
        mode = body.get("mode")
        seconds = body.get("seconds", 60)
        delay_ms = body.get("delay_ms", 0)
        numbers_ok = all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 86_400_000
            for v in (seconds, delay_ms)
        )
        if mode not in ("error", "delay", "off") or not numbers_ok:
            raise HttpError(422, "invalid_request", _FAULT_SHAPE)
        deployment.inject(mode, seconds=float(seconds), delay_ms=float(delay_ms))
        await send_json(send, 200, {"model": deployment.name, "mode": mode, "seconds": seconds})
        return 200

    async def _readyz(self, send: Send) -> int:
        status = 200 if self.ready else 503
        await send_json(
            send,
            status,
            {
                "ready": status == 200,
                "shutting_down": self.shutting_down,
                "waiting_for": self.background.waiting_for,
                "models": {
                    name: {
                        "status": d.status,
                        "version": d.current.version.version if d.current else None,
                        "error": d.error,
                    }
                    for name, d in self.deployments.items()
                },
            },
        )
        return status

    def _find(self, name: str) -> Deployment:
        deployment = self.deployments.get(name)
        if deployment is None:
            served = list(self.deployments)
            raise NotFoundError(
                f"no model '{name}' is served here{did_you_mean(name, served)}; "
                f"served: {', '.join(served)}"
            )
        return deployment

    def _mlflow_model(self, scope: Scope) -> str:
        chosen = header(scope, b"x-shipyard-model")
        if chosen:
            return chosen.decode("utf-8", "replace")
        if len(self.deployments) == 1:
            return next(iter(self.deployments))
        raise HttpError(
            400,
            "bad_request",
            "this server serves several models; say which with the X-Shipyard-Model header",
        )


_FAULT_SHAPE = (
    'expected {"model": NAME, "mode": "error" | "delay" | "off", "seconds": S, "delay_ms": MS}'
)


def _method(method: str, allowed: str) -> None:
    if method != allowed:
        raise HttpError(405, "method_not_allowed", f"use {allowed} here, not {method}")


def _v2_metadata(deployment: Deployment) -> dict[str, Any]:
    loaded = deployment.current
    kinds = {"int": "INT64", "float": "FP64", "bool": "BOOL"}
    return {
        "name": deployment.name,
        "versions": [str(loaded.version.version)] if loaded else [],
        "platform": f"shipyard-{loaded.version.format}" if loaded else "shipyard",
        "inputs": [
            {"name": f.name, "datatype": kinds.get(f.type, "BYTES"), "shape": [-1]}
            for f in deployment.validator.fields
        ],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            *(
                [{"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]}]
                if deployment.fallback.with_proba
                else []
            ),
        ],
    }


PREDICTION_ROUTES = ("/predict", "/infer", "/invocations")
_NOT_TRAFFIC = frozenset({401, 403, 415})  # refused before validation: not the model's traffic
_FIELD = re.compile(r"\]\.([^:\s]+):")


def _model_named(scope: Scope) -> str:
    """The model a request named, served or not (URL, or /invocations' X-Shipyard-Model)."""
    parts = scope["path"].strip("/").split("/")
    if len(parts) >= 3 and parts[0] in ("v1", "v2") and parts[1] == "models":
        return str(parts[2])
    if scope["path"] == "/invocations":
        chosen = header(scope, b"x-shipyard-model")
        return chosen.decode("utf-8", "replace") if chosen else ""
    return ""
