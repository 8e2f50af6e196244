"""The ASGI application: dispatch by the route table, the request path, one worker's lifespan.

The request path of a prediction reads the body (bounded), parses it with
orjson, validates it column by column, queues it for the model's micro-batcher
with a deadline, answers, and appends the rows to the in-memory prediction log.
It touches no disk and no database: loading, alias polling, log flushing and
metrics snapshots run in background tasks and threads.

What answers which path is in :mod:`.routes`; how each protocol reads rows and
answers is in :mod:`.protocols`; the admin routes are in :mod:`.admin`.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import count
from typing import TYPE_CHECKING, Any

from shipyard.config.checks import did_you_mean
from shipyard.entrypoints import user_code_on_path
from shipyard.errors import NotFoundError, ShipyardError, first_line
from shipyard.predlog import FEEDBACK, LIVE, PREDICTIONS, REJECTIONS, Chunk, SegmentLog
from shipyard.project import Project

from .accesslog import AccessLog
from .admission import LoopLag
from .auth import Tokens
from .codecs import Reply
from .deployment import NO_VERSION, Deployment
from .fallback import FallbackChain
from .http import (
    HttpError,
    Receive,
    Scope,
    Send,
    error_payload,
    header,
    send_bytes,
    send_json,
)
from .methods import headers_only, known
from .metrics import Metrics, SharedMetrics, model_label
from .origin import CrossSite, read_json
from .protocols import PROTOCOLS
from .routes import NOT_FOUND, ROUTER
from .routing import Call, Route, allowed
from .validation import FieldSpec, RowValidator
from .worker import Background, Logs, Role

if TYPE_CHECKING:
    from .protocols import Protocol

logger = logging.getLogger(__name__)


class ServingApp:
    """Serves the given models of one project; one instance per worker process."""

    def __init__(
        self,
        project: Project,
        targets: Mapping[str, str | Sequence[str]],
        *,
        worker: str | None = None,
        role: Role = "lone",
        shared: SharedMetrics | None = None,
        environ: dict[str, str] | None = None,
        access_log: bool | None = None,
    ) -> None:
        env = dict(os.environ if environ is None else environ)
        user_code_on_path(project.root)  # the user's modules: model classes, fallback rules
        self.project = project
        self.settings = project.config.server
        self.worker = worker or os.urandom(6).hex()
        self.role = role
        # one worker of a pool (the primary) runs background monitoring; a lone worker does
        self.monitors = role != "secondary"
        self.shared = shared or SharedMetrics(None, self.worker)
        self.metrics = Metrics(self.shared.cells)  # counters in the worker's file, if shared
        self.tokens = Tokens.from_environment(env, required=self.settings.require_token)
        self.cross_site = CrossSite(self.settings.cors_origins)
        self.router = ROUTER
        self._labels: dict[str, str] = {}  # route labels of paths that were answered
        self.max_body = int(self.settings.max_body_mb * 1_000_000)
        self.lag = LoopLag()  # how busy the event loop is: part of every admission decision
        # keyed by the model's name (its first target) and NAME@TARGET (each further one)
        self.deployments = {
            key: self._deployment(name, target, key) for key, name, target in served_keys(targets)
        }
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
        self.background = Background(
            project,
            self.deployments,
            self.settings,
            logs=Logs(self.predictions, self.feedback, self.rejections),
            metrics=self.metrics,
            shared=self.shared,
            flush_access=self.access.flush,
            monitors=self.monitors,
        )
        self._ids = count()
        # the whole worker name: its first 8 characters were "w0-" and 20 random bits in a
        # pool, so two replicas' first workers could share a prefix, and counting from 0
        # both, hand out the same prediction ids into one log
        self._id_prefix = self.worker
        self._version_headers: dict[int | None, list[tuple[bytes, bytes]]] = {}
        self.shutting_down = False
        self.last_request = time.monotonic()
        self.dashboard: Any = None  # the web dashboard's app, made on the first /ui request

    def _deployment(self, name: str, target: str, key: str) -> Deployment:
        config = self.project.models.config(name)
        dataset = self.project.config.datasets.get(config.dataset)
        columns = dataset.columns if dataset else {}
        fields = [FieldSpec.from_column(f, columns.get(f)) for f in config.features]
        validator = RowValidator(fields, passthrough=config.passthrough, model=name)
        chain = FallbackChain(
            config.fallback,
            self.project.root,
            with_proba=config.task != "regression",
            model=name,
        )
        return Deployment(
            name, target, config, validator, chain, self.metrics, lag=self.lag, key=key
        )

    @property
    def ready(self) -> bool:
        """Every model that names a version is loaded (one at least); a model whose target
        names none yet (no champion) is listed as not ready but keeps no other from serving."""
        if self.shutting_down:
            return False
        named = [d for d in self.deployments.values() if d.status != NO_VERSION]
        return bool(named) and all(d.ready for d in named)

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
                if self.dashboard is not None:
                    self.dashboard.close()
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
        route, params, parts = self.router.find(scope["path"])
        if route is None or not route.probe:  # probes do not keep a draining worker up
            self.last_request = time.monotonic()
        status = 500
        model = ""
        if scope["method"] == "HEAD":
            send = headers_only(send)  # errors too: a HEAD is answered as GET, without a body
        try:
            send = self.cross_site.guard(scope, send)
            status, model = await self._dispatch(
                route, params, parts, scope, receive, send, started
            )
        except Exception as exc:
            if isinstance(exc, ShipyardError):
                status, payload = error_payload(exc)
            else:
                logger.exception("internal error on %s %s", scope["method"], scope["path"])
                status, payload = error_payload(exc)
            model = model or self._model_of(route, params, scope)
            if status != 499:
                extra = getattr(exc, "headers", None)  # 405's Allow, 429's Retry-After, ...
                await send_json(send, status, payload, extra)
                self._log_refusal(route, model, status, payload)
        finally:
            # every label value from a bounded set: a made-up name or path is no new series
            path = scope["path"]
            label = self._labels.get(path)
            if label is None:
                label = self.router.label(path)
                if status < 300 and model in self.deployments and len(self._labels) < 256:
                    self._labels[path] = label  # answered paths of served models, capped
            labels = (model_label(model, self.deployments), label, str(status))
            self.metrics.inc("shipyard_requests_total", labels)
            self.access.request(scope, status, time.perf_counter() - started, model)

    async def _dispatch(
        self,
        route: Route | None,
        params: dict[str, str],
        parts: list[str],
        scope: Scope,
        receive: Receive,
        send: Send,
        started: float,
    ) -> tuple[int, str]:
        """501 and 405 first (see :mod:`.methods`), OPTIONS, probes, tokens, 404, the
        route's own check, admin tokens, then the handler."""
        method = scope["method"]
        known(method)
        if route is not None:
            cors = self.cross_site.cors
            allowed(route, method, options=cors.enabled)
            if method == "OPTIONS":  # a preflight carries no token: answered before them
                await cors.answer_options(scope, send, route.allow(options=True))
                return 204, ""
            if route.auth == "none":
                return await route.handler(self, Call(scope, receive, send, params, started, route))
        self.tokens.check(scope, admin=False)
        if route is None:
            own = NOT_FOUND.get(parts[0])
            if own is not None:  # a protocol's prefix (/v2) answers its own 404s
                raise own(self, method, scope["path"], parts)
            raise HttpError(
                404, "not_found", f"no route {method} {scope['path']}", hint="see /openapi.json"
            )
        if route.check is not None:
            route.check(self, params)
        if route.auth == "admin":
            self.tokens.check(scope, admin=True)
        return await route.handler(self, Call(scope, receive, send, params, started, route))

    # -- predictions ----------------------------------------------------------------------
    async def predict(self, call: Call, name: str, protocol: Protocol) -> str:
        """Answer a prediction request in ``protocol``: read, validate, queue, answer, log.

        With a challenger loaded, the canary may answer instead, and a copy goes to the
        other version once the answer is sent (see :mod:`.shadow`); without one, the
        request path pays one attribute check for it. Returns the model's name.
        """
        deployment = self.find(name, call.params.get("version"))
        name = deployment.name
        deployment.admit_early(call.started)
        body = await protocol.read(call.scope, call.receive, self.max_body)
        rows = protocol.parse(body, deployment.validator, self.settings.max_rows)
        n = rows.n
        prefix = self._id_prefix
        ids = [f"{prefix}-{next(self._ids):x}" for _ in range(n)]
        shadow = deployment.shadow
        if shadow is None:
            outcome = await deployment.predict(rows, call.started)
        else:
            outcome = await shadow.answer(rows, call.started, ids)
        seconds = time.perf_counter() - call.started
        version = "" if outcome.version is None else str(outcome.version)
        self.metrics.observe(
            "shipyard_request_duration_seconds", (name, version, outcome.path), seconds
        )
        self.metrics.inc("shipyard_predictions_total", (name, version, outcome.path), n)
        self._log(name, outcome, rows, ids, seconds)
        self.background.log_grew()
        headers = self._version_headers.get(outcome.version)
        if headers is None:
            headers = self._version_header(outcome.version)
        answer = protocol.answer(name, outcome, ids, body)
        if isinstance(answer, Reply):
            await send_bytes(call.send, 200, answer.body, answer.headers + headers)
        else:
            await send_json(call.send, 200, answer, headers)
        if shadow is not None:
            shadow.after(rows, ids, outcome)
        return name

    def _version_header(self, version: int | None) -> list[tuple[bytes, bytes]]:
        """``X-Shipyard-Version``: the version that answered (``none``: a fallback rule)."""
        if len(self._version_headers) > 256:
            self._version_headers.clear()
        headers = [(VERSION_HEADER, b"none" if version is None else str(version).encode())]
        self._version_headers[version] = headers
        return headers

    async def read_json(self, scope: Scope, receive: Receive) -> Any:
        """The request body as JSON: 415 for another Content-Type, 413 past the limit, 400."""
        return await read_json(scope, receive, self.max_body)

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
                        ("variant", LIVE),
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
                        ("variant", LIVE),
                    ),
                    (
                        ("prediction_id", [ids[index]]),
                        ("prediction", [outcome.predictions[index]]),
                        ("probabilities", None if proba is None else [proba[index]]),
                    ),
                    rows.take(index),
                )
            )

    def _log_refusal(
        self, route: Route | None, model: str, status: int, payload: dict[str, Any]
    ) -> None:
        """A prediction request answered with an error: kept for monitoring (rates, fields).

        Denied requests (401, 403) and bodies that are not JSON (415) never reached
        validation; any web page can send them, so they must not move the refusal rate.
        """
        if (
            model not in self.deployments
            or route is None
            or not route.prediction
            or status in _NOT_TRAFFIC
        ):
            return
        fields = sorted(
            {
                next(g for g in m.groups() if g)
                for p in payload["problems"]
                if (m := _FIELD.search(p))
            }
        )
        self.rejections.append(
            Chunk(
                model,
                1,
                (("time", time.time()), ("status", status), ("code", payload["code"])),
                (("fields", [fields]),),
            )
        )

    def _model_of(self, route: Route | None, params: dict[str, str], scope: Scope) -> str:
        """The model a refused request was for, served or not: a prediction route asks its
        protocol (``/invocations`` names it in a header, or there is one served), so that
        its refusals count under that model's name."""
        if route is not None and route.protocol:
            protocol = PROTOCOLS[route.protocol]
            try:
                name = protocol.model(scope, params, self.deployments)
                return self.find(name, params.get("version")).name
            except ShipyardError:
                pass
        return _model_named(scope)

    def find(self, name: str, version: str | None = None) -> Deployment:
        """The deployment of ``name`` (or ``NAME@TARGET``), of ``version`` when given (a target
        it was served as, or the number loaded); 404 (with what is served) when not served."""
        deployment = self.deployments.get(name)
        if deployment is None:
            model, at, selector = name.partition("@")
            if at and model in self.deployments:
                return self.find(model, selector)
            served = list(self.deployments)
            raise NotFoundError(
                f"no model '{name}' is served here{did_you_mean(name, served)}; "
                f"served: {', '.join(served)}"
            )
        if version is None or version == deployment.target:
            return deployment
        return self._of_version(deployment.name, version)

    def _of_version(self, name: str, version: str) -> Deployment:
        """The deployment of ``name`` served as ``version`` (target or loaded number), or 404."""
        mine = [d for d in self.deployments.values() if d.name == name]
        for deployment in mine:
            if deployment.target == version:
                return deployment
        for deployment in mine:
            if (
                deployment.current is not None
                and str(deployment.current.version.version) == version
            ):
                return deployment
        serving = ", ".join(
            str(d.current.version.version) if d.current else f"{d.target} (not ready)" for d in mine
        )
        raise HttpError(
            404,
            "not_found",
            f"model '{name}' version {version} is not served here (serving: {serving})",
            hint=f"see GET /v1/models/{name} for the version it serves",
        )


def served_keys(targets: Mapping[str, str | Sequence[str]]) -> list[tuple[str, str, str]]:
    """``(key, model, target)`` of every target: a model's first is keyed by its name, each
    further one by ``NAME@TARGET`` (``serve m@4 m@3``: ``m`` answers with 4, ``m@3`` with 3)."""
    keys: list[tuple[str, str, str]] = []
    for name, given in targets.items():
        chosen = [given] if isinstance(given, str) else list(dict.fromkeys(given))
        for index, target in enumerate(chosen):
            keys.append((name if index == 0 else f"{name}@{target}", name, target))
    return keys


VERSION_HEADER = b"x-shipyard-version"
"""On every answered prediction: the model version that gave the answer."""
# refused before validation: not the model's traffic (an <img> on any page can GET a
# prediction route: its 405 must not move the refusal rate)
_NOT_TRAFFIC = frozenset({401, 403, 405, 415, 501})
# the field a problem is about: ``rows[3].age: …`` (a record's), or, in column forms
# (V2 tensors, dataframe_split, CSV), ``rows: the field 'age' is missing``
_FIELD = re.compile(r"\]\.([^:\s]+):|the field '([^']+)' is missing|unknown field '([^']+)'")


def _model_named(scope: Scope) -> str:
    """The model a request named, served or not (URL, or /invocations' X-Shipyard-Model)."""
    parts = scope["path"].strip("/").split("/")
    if len(parts) >= 3 and parts[0] in ("v1", "v2") and parts[1] == "models":
        return str(parts[2])
    if scope["path"] == "/invocations":
        chosen = header(scope, b"x-shipyard-model")
        return chosen.decode("utf-8", "replace") if chosen else ""
    return ""
