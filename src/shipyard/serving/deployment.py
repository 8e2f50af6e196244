"""One served model: its loaded version, its queue, its breaker and its fallback chain.

``Deployment.predict`` is the request path: a request the model cannot answer
within its latency budget is shed (429, see :mod:`.admission`); the others go
to the model's micro-batcher with a deadline (the budget). If the model raises,
overruns the budget while running, has its breaker open or is not loaded, the
fallback chain answers and the answer says so. Load never reaches the breaker
or the fallback: only the model's own failures do. ``switch`` installs a new version that was loaded and
warmed off the request path; requests queued for the old version move to the
new one, so a switch fails nothing. A challenger (``shadow``, see :mod:`.shadow`)
has its own queue and thread and never reaches this breaker or fallback chain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.config import ModelConfig
from shipyard.errors import ShipyardError
from shipyard.models import ModelVersion, Predictor

from .admission import (
    ADMIT_SHARE,
    OVER_CAPACITY,
    QUEUE_TIMEOUT,
    LoopLag,
    OverloadedError,
    ServiceTime,
    retry_after,
)
from .batcher import Batcher, ModelFailure, Result, model_input
from .breaker import CLOSED, OPEN, CircuitBreaker
from .fallback import MODEL, Answers, FallbackChain, row_keys
from .metrics import Metrics
from .usage import Usage
from .validation import MAX_PROBLEMS, FieldSpec, RequestError, Rows, RowValidator

if TYPE_CHECKING:
    from .shadow import Shadow

logger = logging.getLogger(__name__)

STARVED_SHARE = 0.125
"""Without thread clocks, the worker counts as starved when its event loop runs this share
of a budget late: a slow model call then is load, not the model's failure."""
STUCK_TIMES, STUCK_S = 8, 2.0
"""A call that has run this many times its limit, and this many seconds, is the model's
failure, load or not (a flooded worker's event loop can hold a healthy call up for a
tenth of a second or more)."""


class UnavailableError(ShipyardError):
    """The model could not answer and the fallback chain had no answer either."""

    http_status = 503
    code = "unavailable"


class InjectedFault(RuntimeError):
    """The failure an operator injected (``POST /v1/admin/fault``) to rehearse degradation."""


@dataclass(frozen=True)
class Fault:
    """An injected fault: ``error`` or ``delay``, until a monotonic time."""

    mode: str
    until: float
    delay_s: float = 0.0


@dataclass
class Loaded:
    """A version in memory, warmed, with its own queue and thread."""

    version: ModelVersion
    predictor: Predictor
    batcher: Batcher
    warm_timings: list[tuple[int, float]] = field(default_factory=list)  # (rows, seconds)
    environment: str | None = None  # how its recorded environment differs from this one
    refuses_missing: tuple[str, ...] = ()  # nullable features it cannot predict with a null in


@dataclass
class Outcome:
    """The answer to one request's rows."""

    predictions: Any
    probabilities: Any
    path: str
    version: int | None
    degraded: bool = False
    reason: str | None = None
    paths: list[str | None] | None = None
    versions: list[int | None] | None = None
    latency_s: float = 0.0
    classes: list[Any] | None = field(default=None)
    canary: bool = False  # the challenger answered it (a canary request)
    missed: tuple[str, float] | None = None  # the challenger failed it first: (why, seconds)


def warm_rows(fields: list[FieldSpec], n: int) -> Rows:
    """``n`` plausible rows from the schema alone (for warming a freshly loaded model)."""
    columns: dict[str, np.ndarray] = {}
    for spec in fields:
        if spec.numeric:
            low = spec.min if spec.min is not None else 0.0
            high = spec.max if spec.max is not None else max(low, 0.0) + 1.0
            columns[spec.name] = np.linspace(low, high, n)
            continue
        value: Any = ""
        if spec.type == "bool":
            value = False
        elif spec.categories:
            value = sorted(spec.categories)[0]
        elif spec.type == "datetime":
            value = "2024-01-01T00:00:00"
        array = np.empty(n, dtype=object)
        array[:] = [value] * n
        columns[spec.name] = array
    return Rows(columns, n, all(s.numeric for s in fields))


class Deployment:
    """A model name as the server serves it."""

    def __init__(
        self,
        name: str,
        target: str,
        config: ModelConfig,
        validator: RowValidator,
        fallback: FallbackChain,
        metrics: Metrics,
        lag: LoopLag | None = None,
        key: str | None = None,
    ) -> None:
        self.name = name
        self.key = key or name  # how the server knows it: the model's name, or NAME@TARGET
        self.target = target  # an alias (followed) or a version number (pinned)
        self.config = config
        self.validator = validator
        self.fallback = fallback
        self.metrics = metrics
        breaker = config.serving.breaker
        self.breaker = CircuitBreaker(breaker.failures, breaker.window_s, breaker.cooldown_s)
        self.budget_s = config.latency_budget_ms / 1000.0  # a request of one row
        batch_ms = config.serving.batch_budget_ms
        self.batch_budget_s = None if batch_ms is None else max(batch_ms / 1000.0, self.budget_s)
        self.per_row_s = 0.0  # set when a version is installed (declared, or measured)
        self.lag = lag or LoopLag()
        self.service = ServiceTime(config.serving.max_batch_size)
        self.draining = False  # shed requests are told 503 (go elsewhere), not 429
        self.current: Loaded | None = None
        self.status = "loading"
        self.error: str | None = None  # why the last load or switch failed
        self.refused: int | None = None  # the version that failed to load (not retried until asked)
        self.fault: Fault | None = None
        self.shadow: Shadow | None = None  # the challenger, when the alias names one
        self.challenger_error: str | None = None  # why the challenger did not load
        self.challenger_refused: int | None = None  # its version (not retried until asked)
        self._last_stall = -1e9  # perf_counter time a stalled call last counted as a failure

    def budget(self, rows: int) -> float:
        """The latency budget of a request of ``rows`` rows, in seconds.

        ``latency_budget_ms`` is a single row's; a request of n rows gets ``per_row_s``
        more per row, or ``serving.batch_budget_ms`` when that is declared, so a batch
        the model scores in time is answered by it, not shed or timed out.
        """
        if rows <= 1:
            return self.budget_s
        if self.batch_budget_s is not None:
            return self.batch_budget_s
        return self.budget_s + self.per_row_s * rows

    @property
    def follows_alias(self) -> bool:
        return not self.target.isdigit()

    @property
    def ready(self) -> bool:
        return self.current is not None

    @property
    def route(self) -> str:
        """Where its native predictions are asked for."""
        if self.key == self.name:
            return f"/v1/models/{self.name}/predict"
        return f"/v1/models/{self.name}/versions/{self.target}/predict"

    def unassigned(self, error: str) -> None:
        """Its target names no version yet (no champion): not ready, and its routes answer 503
        with ``error`` until the alias poll finds one (said once, not at every poll)."""
        if self.current is not None:
            return
        if self.status != NO_VERSION or self.error != error:
            logger.warning("%s: not ready: %s; loaded once it names a version", self.key, error)
        self.status = NO_VERSION
        self.error = error

    # -- loading --------------------------------------------------------------------
    def prepare(
        self,
        version: ModelVersion,
        predictor: Predictor,
        *,
        challenger: bool = False,
        hold_s: float | None = None,
    ) -> Loaded:
        """Wrap and warm a loaded version (in a worker thread); raises if it cannot predict.

        Requests are validated against the features the project file declares; a
        version trained on them in another order gets its columns reordered, and a
        version that needs a feature the file does not declare is refused. A
        ``challenger``'s calls report to nothing here (not the breaker, not the
        service times admission uses) and take no injected fault; ``hold_s`` (by default
        ``max_wait_ms``) is how long its calls wait for company.
        """
        names = self.validator.names
        missing = [f for f in version.features if f not in names]
        if missing:
            raise ShipyardError(
                f"{version.ref} needs the feature(s) {', '.join(missing)}, which "
                f"models.{self.name}.features does not declare ({', '.join(names)})",
                hint=f"add them to models.{self.name}.features, or serve another version",
            )
        order = None if version.features == names else [names.index(f) for f in version.features]
        serving = self.config.serving
        if challenger:
            stall_s = self.budget_s / 2
            batcher = Batcher(
                f"{self.name}-v{version.version}-challenger",
                lambda rows: _call(predictor, order, rows),
                max_batch_size=serving.max_batch_size,
                max_wait_s=serving.max_wait_ms / 1000.0 if hold_s is None else hold_s,
                stall_s=stall_s,
                blame=lambda wall, usage: self._blame(
                    wall, usage, max(stall_s, self.budget(batcher.running_rows) / 2)
                ),
            )
        else:
            batcher = Batcher(
                f"{self.name}-v{version.version}",
                lambda rows: self._invoke(predictor, order, rows),
                max_batch_size=serving.max_batch_size,
                max_wait_s=serving.max_wait_ms / 1000.0,
                stall_s=self.budget_s / 2,
                blame=self._blame,
                on_batch=self._on_batch,
            )
        timings: list[tuple[int, float]] = []
        try:
            for n in (1, 1, 1, serving.max_batch_size, 1, serving.max_batch_size):
                rows = warm_rows(self.validator.fields, n)
                started = time.perf_counter()
                labels, proba = _call(predictor, order, model_input([rows]))
                timings.append((n, time.perf_counter() - started))
                if len(labels) != n or (proba is not None and len(proba) != n):
                    raise ValueError(f"{n} rows in, {len(labels)} answers out")
            refuses = missing_refused(predictor, order, self.validator.fields)
        except Exception:
            batcher.close()
            raise
        if refuses:
            logger.warning(
                "%s: %s cannot predict with a missing value in %s, which shipyard.yaml "
                "declares nullable: such requests get 422 (declare them nullable: false, "
                "or train with an imputer)",
                self.key,
                version.ref,
                ", ".join(refuses),
            )
        return Loaded(version, predictor, batcher, timings[-2:], refuses_missing=refuses)

    def _invoke(self, predictor: Predictor, order: list[int] | None, rows: Any) -> Result:
        """One model call (on the model's thread), with an injected fault if one is set."""
        fault = self.fault
        if fault is not None and time.monotonic() < fault.until:
            if fault.mode == "error":
                raise InjectedFault(f"fault injected into '{self.name}' for testing")
            time.sleep(fault.delay_s)
        return _call(predictor, order, rows)

    def inject(self, mode: str, *, seconds: float, delay_ms: float = 0.0) -> None:
        """Make the model fail (``error``) or stall (``delay``) for ``seconds``; ``off`` clears it."""
        if mode == "off":
            self.fault = None
            logger.warning("%s: fault injection cleared", self.name)
            return
        self.fault = Fault(mode, time.monotonic() + seconds, delay_ms / 1000.0)
        logger.warning("%s: fault injection '%s' for %.1f s", self.name, mode, seconds)

    def install(self, loaded: Loaded) -> None:
        """Make ``loaded`` the answering version (on the event loop); queued requests move to it."""
        old = self.current
        self.current = loaded
        self.status = "ready"
        self.error = None
        self.refused = None
        self.breaker.reset()
        self.service = ServiceTime(self.config.serving.max_batch_size)  # a new model, new times
        for rows, seconds in loaded.warm_timings:
            self.service.record(rows, seconds)
        self.per_row_s = per_row_budget(self.config.serving.per_row_ms, loaded.warm_timings)
        self.metrics.set("shipyard_model_loaded", (self.name, str(loaded.version.version)), 1)
        if old is not None:
            self.metrics.set("shipyard_model_loaded", (self.name, str(old.version.version)), 0)
            loaded.batcher.adopt(old.batcher.take_queue())
            old.batcher.close()
            self.metrics.inc("shipyard_switches_total", (self.name, "switched"))
            logger.info(
                "%s: switched from version %d to %d",
                self.name,
                old.version.version,
                loaded.version.version,
            )
        else:
            logger.info("%s: serving version %d", self.name, loaded.version.version)

    def refuse(self, version: int | None, error: str) -> None:
        """Record that ``version`` could not be loaded or warmed; the current one keeps serving."""
        repeated = error == self.error and version == self.refused
        self.error = error
        self.refused = version
        if self.current is None:
            self.status = "failed"
        if repeated:  # the same refusal at every alias poll: said once, counted once
            return
        self.metrics.inc("shipyard_switches_total", (self.name, "refused"))
        what = f"version {version} not switched to" if version is not None else "nothing to load"
        logger.error("%s: %s: %s", self.name, what, error)

    def set_challenger(self, shadow: Shadow | None, why: str = "") -> None:
        """Make ``shadow`` the challenger (on the event loop), or drop the one there (``None``)."""
        old = self.shadow
        self.shadow = shadow
        if shadow is not None:
            self.challenger_error = None
            self.challenger_refused = None
            self.metrics.inc("shipyard_switches_total", (self.name, "challenger_loaded"))
            logger.info(
                "%s: version %d is the challenger%s",
                self.name,
                shadow.version,
                f" (canary: {shadow.canary.percent:g}% of requests)" if shadow.canary else "",
            )
        if old is not None:
            old.close()
            if shadow is None:
                self.metrics.inc("shipyard_switches_total", (self.name, "challenger_dropped"))
                logger.info(
                    "%s: version %d is no longer the challenger: %s", self.name, old.version, why
                )

    def refuse_challenger(self, version: int, error: str) -> None:
        """The challenger ``version`` could not be loaded: said and counted once; the champion
        is not affected."""
        if version == self.challenger_refused and error == self.challenger_error:
            return
        self.challenger_error = error
        self.challenger_refused = version
        self.metrics.inc("shipyard_switches_total", (self.name, "challenger_refused"))
        logger.error("%s: challenger version %d not loaded: %s", self.name, version, error)

    def close(self) -> None:
        if self.current is not None:
            self.current.batcher.close()
        if self.shadow is not None:
            self.shadow.close()

    # -- answering ------------------------------------------------------------------
    async def predict(self, rows: Rows, started: float) -> Outcome:
        """Answer ``rows`` by the model, or by the fallback chain; ``started`` is perf_counter time.

        Raises :class:`OverloadedError` for a request shed for load (never answered
        by the fallback: a busy model is not a broken one).
        """
        reason = "unloaded"
        for _attempt in range(2):  # a second try when a switch happened mid-request
            loaded = self.current
            if loaded is None:
                reason = "unloaded"
                break
            if loaded.refuses_missing:
                refuse_missing(loaded, rows)
            if self.breaker.state != OPEN:
                self._admit(loaded, rows.n, started)
            if not self.breaker.allow():
                reason = "circuit_open"
                break
            try:
                labels, proba = await self._call(loaded, rows, started)
            except ModelFailure as failure:
                reason = failure.kind
                if failure.kind == "unloaded" and self.current is not loaded:
                    continue
                if failure.kind == QUEUE_TIMEOUT:
                    self.breaker.release()
                    raise self._shed(QUEUE_TIMEOUT, loaded) from None
                if failure.kind == "timeout":
                    self._stalled()
                self.metrics.inc(
                    "shipyard_model_failures_total",
                    (self.name, str(loaded.version.version), failure.kind),
                )
                break
            if self.fallback.cache.size:
                self.fallback.cache.put_many(row_keys(rows), loaded.version.version, labels, proba)
            return Outcome(
                labels, proba, MODEL, loaded.version.version, classes=loaded.predictor.classes
            )
        return self._degraded(rows, reason)

    def admit_early(self, started: float) -> None:
        """Shed before the body is read and parsed when not even one row would fit.

        Under overload most requests are shed: refusing them before the JSON and
        validation work leaves that time to the requests that are answered.
        """
        loaded = self.current
        if loaded is None:
            if self.status == NO_VERSION:  # nothing to answer with: not the fallback's job
                raise UnavailableError(
                    f"model '{self.key}' is not ready: {self.error}",
                    hint=no_version_hint(self.name, self.target),
                )
            return
        if self.breaker.state != OPEN:
            self._admit(loaded, 1, started)

    def _admit(self, loaded: Loaded, n: int, started: float) -> None:
        """Shed the request when the model cannot answer it within its budget (see admission).

        Rows that fit in the model's next call are judged by the model's queue alone:
        the event loop's lag counts only beyond them. Shedding cannot shorten a lag
        that refusing itself causes (a flood of clients that send again at once), and
        an idle model answers nobody: its next call always takes one request, and is
        filled whenever the model can answer the rest in time.
        """
        batcher = loaded.batcher
        queued = batcher.queued_rows
        if not queued:
            return  # the model's next call always has a request: it never starves
        wait = self._wait(batcher, n) + time.perf_counter() - started
        limit = self.budget(n) * ADMIT_SHARE
        if queued + n <= batcher.max_batch_size and wait <= limit:
            return  # the model's next call: its lag aside, it would be answered in time
        if wait + self.lag.seconds > limit:
            raise self._shed(OVER_CAPACITY, loaded)

    def _wait(self, batcher: Batcher, n: int) -> float:
        """The expected time until ``n`` more rows are answered: the call running, the queue."""
        service = self.service
        wait = service.drain(batcher.queued_rows + n)
        since = batcher.running_since
        if since is not None:
            wait += max(0.0, service.call(batcher.running_rows) - (time.perf_counter() - since))
        return wait

    def _shed(self, reason: str, loaded: Loaded) -> OverloadedError:
        self.metrics.inc("shipyard_shed_total", (self.name, reason))
        seconds = self._wait(loaded.batcher, 0) + self.lag.seconds
        return OverloadedError(self.name, reason, retry_after(seconds), draining=self.draining)

    def _stalled(self) -> None:
        """A request's budget ran out while the model's call was running past it.

        One stall times out every request waiting on it: it counts as one failure
        per budget, so a hung model still opens the breaker and a slow call does
        not count once per request.
        """
        now = time.perf_counter()
        if now - self._last_stall >= self.budget_s:
            self._last_stall = now
            before = self.breaker.state
            self.breaker.failure()
            self._breaker_moved(before, "its calls overran the budget")

    async def _call(self, loaded: Loaded, rows: Rows, started: float) -> Result:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, self.budget(rows.n) - (time.perf_counter() - started))
        return await loaded.batcher.submit(rows, deadline)

    def _degraded(self, rows: Rows, reason: str) -> Outcome:
        answers = Answers.empty(rows.n, self.fallback.with_proba)
        keys = row_keys(rows) if self.fallback.cache.size else None
        self.fallback.answer(rows, keys, answers)
        missing = answers.unanswered
        if missing:
            self.metrics.inc("shipyard_unanswered_total", (self.name, reason), len(missing))
            links = ", ".join(self.fallback.declared) or "none declared"
            raise UnavailableError(
                f"model '{self.name}' could not answer ({_REASONS.get(reason, reason)}) and its "
                f"fallback chain ({links}) has no answer for {len(missing)} of {rows.n} row(s)",
                hint=f"declare models.{self.name}.fallback.default (and rules) in shipyard.yaml "
                "so every request gets an answer",
            )
        paths = answers.paths
        for path in set(paths):
            count = paths.count(path)
            self.metrics.inc("shipyard_degraded_total", (self.name, str(path), reason), count)
        single = paths[0] if len(set(paths)) == 1 else "mixed"
        versions = answers.versions
        return Outcome(
            answers.predictions,
            answers.probabilities,
            str(single),
            versions[0] if len(set(versions)) == 1 else None,
            degraded=True,
            reason=reason,
            paths=None if single != "mixed" else [str(p) for p in paths],
            versions=None if len(set(versions)) == 1 else versions,
            classes=self.current.predictor.classes if self.current else None,
        )

    def _blame(self, wall: float, usage: Usage | None, limit: float | None = None) -> bool:
        """Whether a call that has run ``wall`` seconds overran by the model's own fault
        rather than the server's load (see :mod:`.usage`).

        Past ``limit`` (by default the batcher's stall time: half the budget, or twice
        a usual call) it is the model's when it computed that long itself, or when
        most of the time is neither its computing, nor waiting for a CPU (it or the
        event loop's thread), nor the worker's other threads computing, while the
        event loop kept running (it sat blocked: a sleep, a lock, a remote call), or
        when it has run eight times its limit and two seconds whatever the reason. A call
        slowed because the machine's other work or the worker's event loop took the
        CPU and the interpreter lock is load, and load is shed, not blamed.
        """
        if limit is None:
            if self.current is None:
                limit = self.budget_s
            else:  # a large request's call may take the time its own budget gives it
                batcher = self.current.batcher
                limit = max(batcher.stall_s, self.budget(batcher.running_rows) / 2)
        if usage is not None:
            wall = usage.wall  # from when its thread began it, not from when it was queued
        if wall < limit:
            return False
        if wall >= max(STUCK_TIMES * limit, STUCK_S):
            return True
        if usage is None:  # no thread clocks here: judge by how late the event loop runs
            return self.lag.seconds < self.budget_s * STARVED_SHARE
        if usage.cpu >= limit:
            return True
        # time no thread here accounts for: blocked on its own, unless the whole worker
        # stood still (its event loop ran late too: the machine or its hypervisor took it)
        return usage.unexplained >= wall / 2 and self.lag.seconds < wall / 2

    def _on_batch(
        self, rows: int, seconds: float, usage: Usage | None, error: BaseException | None
    ) -> None:
        """A model call finished: the breaker hears how the model did, never how long the queue was."""
        self.metrics.observe("shipyard_batch_size", (self.name,), rows)
        before = self.breaker.state
        if error is not None:
            self.breaker.failure()
            logger.warning("%s: the model raised %s: %s", self.name, type(error).__name__, error)
        elif self._blame(seconds, usage, self.budget(rows)):
            if time.perf_counter() - self._last_stall > seconds:  # not counted while it ran
                self._last_stall = time.perf_counter()
                self.breaker.failure()
        else:
            self.service.record(rows, seconds)
            self.breaker.success()
            if self.current is not None:  # a call this much slower than usual is the model's
                largest = self.service.call(self.config.serving.max_batch_size)
                self.current.batcher.stall_s = max(self.budget_s / 2, 2 * largest)
        self._breaker_moved(before, "it raised" if error is not None else "a call overran")

    def _breaker_moved(self, before: str, why: str) -> None:
        """Export the breaker's state, and log when it opens or closes."""
        state = self.breaker.state
        self.metrics.set("shipyard_circuit_open", (self.name,), int(state == OPEN))
        if state == before:
            return
        if state == OPEN:
            logger.warning(
                "%s: circuit breaker open (%s); the fallback answers, a probe in %g s",
                self.name,
                why,
                self.breaker.cooldown_s,
            )
        elif state == CLOSED:
            logger.warning("%s: circuit breaker closed: the probe succeeded", self.name)

    def describe(self) -> dict[str, Any]:
        loaded = self.current
        return {
            "name": self.name,
            "target": self.target,
            "route": self.route,
            "status": self.status,
            "ready": loaded is not None,
            "version": loaded.version.version if loaded else None,
            "task": self.config.task,
            "features": self.validator.names,
            "classes": loaded.predictor.classes if loaded else None,
            "latency_budget_ms": self.config.latency_budget_ms,
            # a request of n rows: latency_budget_ms + per_row_ms * n, or batch_budget_ms
            "per_row_ms": round(self.per_row_s * 1000, 4),
            "batch_budget_ms": self.config.serving.batch_budget_ms,
            "circuit": self.breaker.shown,
            "load": {  # what admission control sees now
                "queued_rows": loaded.batcher.queued_rows if loaded else 0,
                "call_ms": round(self.service.call(1) * 1000, 3),
                "full_batch_call_ms": round(
                    self.service.call(self.config.serving.max_batch_size) * 1000, 3
                ),
                "event_loop_lag_ms": round(self.lag.seconds * 1000, 3),
            },
            "fallback": self.fallback.declared,
            "error": self.error,
            "environment": loaded.environment if loaded else None,
            # the version the challenger alias names, its copies and its canary (None: none)
            "challenger": self.shadow.describe() if self.shadow is not None else None,
            "challenger_error": self.challenger_error,
        }


NO_VERSION = "no_version"
"""The status of a deployment whose target names no version yet (a model with no champion)."""


def no_version_hint(name: str, target: str) -> str:
    """What makes ``name@target`` name a version (the server follows aliases, not numbers)."""
    if target.isdigit():
        return f"see `shipyard models show {name}` for its versions, and serve one of them"
    how = (
        f"shipyard promote {name}@N"
        if target == "champion"
        else f"shipyard models alias {name}@N {target}"
    )
    return f"{how}; the server loads it at its next alias poll"


_REASONS = {
    "unloaded": "no version is loaded",
    "circuit_open": "its circuit breaker is open after repeated failures",
    "timeout": "it ran past its latency budget",
    "error": "it raised an error",
}


PER_ROW_MARGIN = 2.0
"""A measured per-row cost is doubled for the budget: a busy machine's calls run slower."""


def per_row_budget(declared_ms: float | None, timings: list[tuple[int, float]]) -> float:
    """Seconds of budget per row of a request: ``serving.per_row_ms`` when declared, else
    twice the per-row cost of the largest warm-up call (0 when none had several rows)."""
    if declared_ms is not None:
        return declared_ms / 1000.0
    measured = [seconds / rows for rows, seconds in timings if rows > 1]
    return PER_ROW_MARGIN * max(measured) if measured else 0.0


def missing_refused(
    predictor: Predictor, order: list[int] | None, fields: list[FieldSpec]
) -> tuple[str, ...]:
    """The nullable features ``predictor`` raises on when one of them is null (probed).

    One row with every nullable feature null; only when the model refuses it, one row
    per feature. A model that takes nulls (an imputer, trees that route NaN) costs one call.
    """
    nullable = [spec.name for spec in fields if spec.nullable]

    def refuses(names: list[str]) -> bool:
        rows = warm_rows(fields, 1)
        for name in names:
            column = rows.columns[name]
            missing = np.empty(1, dtype=column.dtype)
            missing[0] = np.nan if column.dtype.kind == "f" else None
            rows.columns[name] = missing
        try:
            _call(predictor, order, model_input([rows]))
        except Exception:
            return True
        return False

    if not nullable or not refuses(nullable):
        return ()
    return tuple(name for name in nullable if refuses([name]))


def refuse_missing(loaded: Loaded, rows: Rows) -> None:
    """A 422 naming each row and feature the answering version cannot take a null in.

    Such a request never reaches the model: its failure would be the client's input,
    not the model's, and must not count towards the breaker.
    """
    problems: list[str] = []
    columns = rows.columns
    for name in loaded.refuses_missing:
        column = columns[name]
        if column.dtype.kind == "f":
            where = np.flatnonzero(np.isnan(column))
        else:
            where = np.flatnonzero([value is None for value in column])
        problems += [f"rows[{index}].{name}: null" for index in where[:MAX_PROBLEMS]]
    if problems:
        version = loaded.version
        raise RequestError(
            f"{version.ref} cannot predict with a missing value in "
            f"{', '.join(loaded.refuses_missing)} (it raises on a null there)",
            problems=problems[:MAX_PROBLEMS],
            hint="send a value for each of these fields; the project owner can declare them "
            "'nullable: false' in shipyard.yaml, or serve a version trained with an imputer",
        )


def _call(predictor: Predictor, order: list[int] | None, rows: Any) -> Result:
    """The model's answer; a float matrix in the declared order is put in the version's order."""
    if order is not None and isinstance(rows, np.ndarray):
        rows = rows[:, order]
    return predictor.answer(rows)
