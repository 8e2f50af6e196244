"""The background work of one worker: loading, following aliases, flushing logs and metrics.

Everything here runs beside the request path, never on it: registry reads,
artifact reads, model loading and warming, and log writes happen in threads
(``asyncio.to_thread``), and the event loop only swaps references.

A store that does not answer is waited out, not fatal: at start the worker
goes live but not ready and tries again with backoff (see :mod:`.waiting`);
a model whose artifact cannot be read because its store does not answer is
tried again the same way, never refused for good. A target that names no version
(a model with no champion yet) leaves its deployment ``no_version`` (not ready, its
routes 503) without holding the others up; the alias poll loads it once it names one.

A deployment that follows ``champion`` follows the model's ``challenger`` alias in
the same poll: the version it names (when not the champion's) is loaded and warmed
here and becomes the deployment's challenger (:mod:`.shadow`); when the alias goes
or names the champion, the challenger is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from shipyard.errors import (
    NotFoundError,
    ShipyardError,
    StorageError,
    UnreachableError,
    first_line,
)
from shipyard.models import EnvironmentMismatchError, ModelVersion, check_environment
from shipyard.predlog import Chunk, SegmentLog

from .deployment import Deployment, Loaded
from .shadow import CHALLENGER, Shadow, hold_for
from .waiting import Backoff, waiting_detail, waiting_for

if TYPE_CHECKING:
    from shipyard.config import ServerConfig
    from shipyard.project import Project

    from .metrics import Metrics, SharedMetrics

logger = logging.getLogger(__name__)

PROBE_WAIT_S = 5.0  # how long a start waits for the stores to answer before going live

Role = Literal["lone", "primary", "secondary"]
"""A worker's place: alone, or the first (``primary``) or another worker of a pool.
The lone and primary workers run background monitoring; secondaries do not."""


class Logs(NamedTuple):
    """The buffered logs of one worker, flushed together."""

    predictions: SegmentLog
    feedback: SegmentLog
    rejections: SegmentLog


class Background:
    """Starts and stops the background tasks of one worker (see :class:`.app.ServingApp`)."""

    def __init__(
        self,
        project: Project,
        deployments: Mapping[str, Deployment],
        settings: ServerConfig,
        *,
        logs: Logs,
        metrics: Metrics,
        shared: SharedMetrics,
        flush_access: Callable[[], None],
        monitors: bool,
    ) -> None:
        self.project = project
        self.deployments = deployments
        self.settings = settings
        self.logs = logs
        self.metrics = metrics
        self.shared = shared
        self.flush_access = flush_access  # writes the buffered access-log lines
        self.monitors = monitors  # runs background monitoring (one worker of a pool does)
        self._tasks: list[asyncio.Task[None]] = []
        self._check_lock = asyncio.Lock()
        self._flush_now = asyncio.Event()
        self._warned: set[str] = set()
        self._writing: set[asyncio.Future[list[Any]]] = set()
        self.waiting_for: str | None = None  # what a start waits for (a store), for /readyz
        self._backoffs: dict[str, Backoff] = {}  # models whose store did not answer
        self._retry_at: dict[str, float] = {}
        self._waits: dict[str, str] = {}  # what each of them waits for (logged once)

    async def start(self) -> None:
        """Load and warm every model, then start the loops.

        This runs before the worker accepts its first connection, so no request
        ever meets a model that is still loading (``shipyard serve``'s socket listens
        only after it: meanwhile a connection is refused, and a load balancer tries
        another replica). A model that cannot be loaded does not hold the start
        up: it is reported, and its fallback chain answers until a version loads.

        If the stores do not answer within ``PROBE_WAIT_S``, the worker starts
        anyway, live but not ready (``waiting_for`` says why), and loads the
        models once they answer.
        """
        spawn = asyncio.get_running_loop().create_task
        self._tasks = [spawn(self._flush_logs()), spawn(self._snapshots())]
        probe = asyncio.ensure_future(asyncio.to_thread(self._reach))
        done, _ = await asyncio.wait({probe}, timeout=PROBE_WAIT_S)
        if probe in done and probe.result() is None:
            await self._load_and_follow()
            return
        if probe not in done:  # a store that takes this long to answer may be down
            self._show(f"waiting for the stores to answer (no answer in {PROBE_WAIT_S:.0f} s)")
        self._tasks.append(spawn(self._wait_for_stores(probe)))

    def _show(self, detail: str | None) -> None:
        """What the worker waits for, in ``/readyz`` (each model's error) and ``waiting_for``."""
        self.waiting_for = detail
        for deployment in self.deployments.values():
            deployment.error = detail

    async def _load_and_follow(self) -> None:
        await self.check_aliases(force=True)
        gc.freeze()  # what is loaded now lives as long as the worker: keep it out of GC passes
        spawn = asyncio.get_running_loop().create_task
        self._tasks.append(spawn(self._follow_aliases()))
        if self.settings.monitor_every and self.monitors:
            self._tasks.append(spawn(self._monitor(self.settings.monitor_every)))

    def _reach(self) -> Exception | None:
        """None when both stores answer, else what went wrong (in a thread)."""
        try:
            self.project.ping()
        except Exception as exc:
            return exc
        return None

    async def _wait_for_stores(self, probe: asyncio.Future[Exception | None]) -> None:
        """Try the stores again with backoff until they answer; then load the models."""
        backoff = Backoff()
        problem = await probe
        logged = None
        while problem is not None:
            delay = backoff.next()
            self._show(waiting_detail(problem, delay))
            state = waiting_for(problem)
            if state != logged:  # one line per change, not one per try
                if isinstance(problem, UnreachableError):
                    logger.warning("not ready: %s; retrying with backoff", state)
                else:
                    logger.error("not ready: %s; retrying with backoff", state)
                logged = state
            await asyncio.sleep(delay)
            problem = await asyncio.to_thread(self._reach)
        self._show(None)
        logger.warning(
            "the stores answer now (after %d tries); loading the models", backoff.attempts
        )
        await self._load_and_follow()

    async def stop(self) -> None:
        """Cancel the loops, then flush what is left (nothing buffered is lost)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._writing:  # segments a cancelled flush had started writing
            await asyncio.gather(*self._writing, return_exceptions=True)
        await self.flush()
        self.flush_access()
        for deployment in self.deployments.values():
            deployment.close()
        with contextlib.suppress(OSError):
            self.shared.write(self.metrics.gauge_snapshot())

    def log_grew(self) -> None:
        max_rows = self.settings.log_max_rows
        if self.logs.predictions.buffered >= max_rows or self.logs.feedback.buffered >= max_rows:
            self._flush_now.set()

    async def _monitor(self, every: float) -> None:
        """Run monitoring for every served model each ``every`` seconds; export its figures."""
        from shipyard.monitoring import exported_figures  # loaded when monitoring first runs

        while True:
            await asyncio.sleep(every)
            await self.flush()  # judge what this worker has answered too
            for name in dict.fromkeys(d.name for d in self.deployments.values()):
                try:
                    run = await asyncio.to_thread(self.project.monitor, name)
                except Exception as exc:  # monitoring must never take serving down
                    logger.warning("background monitoring of %s failed: %s", name, first_line(exc))
                    continue
                # its figures over the monitoring window and each other window a rule names
                config = self.project.config.models[name]
                figures = await asyncio.to_thread(
                    exported_figures, self.project.monitoring, config, run
                )
                for window, series in figures.items():
                    self.metrics.replace(name, window, series)

    # -- loading and switching --------------------------------------------------------
    async def _follow_aliases(self) -> None:
        while True:
            await asyncio.sleep(self.settings.alias_poll_s)
            try:
                await self.check_aliases(force=False)
            except Exception:
                logger.exception("checking the registry for alias moves failed")

    async def check_aliases(self, *, force: bool) -> None:
        """Load every deployment whose target now names another version (``force``: retry
        refusals), and the challenger of each that follows ``champion``."""
        async with self._check_lock:
            for deployment in self.deployments.values():
                await self._check_target(deployment, force=force)
                if deployment.target == "champion" and deployment.current is not None:
                    await self._check_challenger(deployment, force=force)

    async def _check_target(self, deployment: Deployment, *, force: bool) -> None:
        if deployment.current is not None and not deployment.follows_alias:
            return
        if not force and time.monotonic() < self._retry_at.get(deployment.key, 0.0):
            return  # its store did not answer: wait out the backoff
        ref = f"{deployment.name}@{deployment.target}"
        try:
            version = await asyncio.to_thread(self.project.models.registry.resolve, ref)
        except Exception as exc:
            if isinstance(exc, UnreachableError) and deployment.current is None:
                self._unanswered(deployment, ref, exc)
                return
            message = first_line(exc)
            if deployment.current is None and isinstance(exc, NotFoundError):
                deployment.unassigned(f"{ref} names no version: {message}")
            elif deployment.current is None:
                deployment.refuse(None, message)
            elif message not in self._warned:
                logger.warning("could not read %s from the registry: %s", ref, message)
            self._warned.add(message)
            return
        current = deployment.current
        if current is not None and current.version.version == version.version:
            return
        if version.version == deployment.refused and not force:
            return
        await self._switch(deployment, version)

    async def _check_challenger(self, deployment: Deployment, *, force: bool) -> None:
        """Load the version the ``challenger`` alias names, or drop the challenger."""
        assert deployment.current is not None
        name = deployment.name
        try:
            aliases = await asyncio.to_thread(self.project.models.registry.aliases, name)
        except Exception as exc:  # the registry did not answer: keep what is loaded
            message = first_line(exc)
            if message not in self._warned:
                logger.warning("could not read the aliases of %s: %s", name, message)
            self._warned.add(message)
            return
        wanted = aliases.get(CHALLENGER)
        shadow = deployment.shadow
        if wanted is None or wanted == deployment.current.version.version:
            deployment.challenger_error = deployment.challenger_refused = None
            if shadow is not None:
                why = "the alias was removed" if wanted is None else "it is the champion now"
                deployment.set_challenger(None, why)
            return
        if shadow is not None and shadow.version == wanted:
            return
        if wanted == deployment.challenger_refused and not force:
            return
        ref = f"{name}@{wanted}"
        try:
            version = await asyncio.to_thread(self.project.models.registry.resolve, ref)
            loaded = await asyncio.to_thread(self._prepare, deployment, version, challenger=True)
        except UnreachableError as exc:  # try again at the next poll
            logger.warning("%s: cannot load the challenger %s yet: %s", name, ref, first_line(exc))
            return
        except Exception as exc:
            if not isinstance(exc, ShipyardError):
                logger.exception("loading the challenger %s failed", ref)
            deployment.refuse_challenger(wanted, _refusal(ref, exc))
            return
        if deployment.current is None or wanted == deployment.current.version.version:
            loaded.batcher.close()  # the champion moved to it meanwhile
            return
        deployment.set_challenger(Shadow(deployment, loaded, self._log_shadow))

    def _log_shadow(self, chunk: Chunk) -> None:
        """Buffer a challenger's (or, with a canary, the champion's) answer to a copy."""
        self.logs.predictions.append(chunk)
        self.log_grew()

    async def _switch(self, deployment: Deployment, version: ModelVersion) -> None:
        try:
            loaded = await asyncio.to_thread(self._prepare, deployment, version)
        except UnreachableError as exc:  # the store did not answer: try again, do not refuse
            self._unanswered(deployment, version.ref, exc)
            return
        except Exception as exc:
            if not isinstance(exc, ShipyardError):
                logger.exception("loading %s failed", version.ref)
            deployment.refuse(version.version, _refusal(version.ref, exc))
            return
        if self._backoffs.pop(deployment.key, None) is not None:
            self._retry_at.pop(deployment.key, None)
            self._waits.pop(deployment.key, None)
            logger.warning("%s: the store answers again; loaded %s", deployment.key, version.ref)
        deployment.install(loaded)

    def _unanswered(self, deployment: Deployment, ref: str, exc: UnreachableError) -> None:
        """``ref`` could not be read because a store did not answer: try again after a backoff."""
        backoff = self._backoffs.setdefault(deployment.key, Backoff())
        delay = backoff.next()
        self._retry_at[deployment.key] = time.monotonic() + delay
        deployment.error = f"{ref}: {waiting_detail(exc, delay)}"
        state = waiting_for(exc)
        if self._waits.get(deployment.key) != state:  # one line per change, not one per try
            logger.warning(
                "%s: cannot load %s yet, %s; retrying with backoff", deployment.key, ref, state
            )
            self._waits[deployment.key] = state

    def _prepare(
        self, deployment: Deployment, version: ModelVersion, *, challenger: bool = False
    ) -> Loaded:
        environment = check_environment(version)
        if not environment.ok and self.settings.strict_environment:
            raise environment.refuse()
        predictor = self.project.models.load(version.ref)
        if not challenger:
            loaded = deployment.prepare(version, predictor)
        else:
            loaded = deployment.prepare(
                version, predictor, challenger=True, hold_s=hold_for(deployment.config)
            )
        loaded.environment = environment.summary() or None
        if loaded.environment:
            logger.warning(
                "%s: %s; loaded anyway (server.strict_environment is off)",
                deployment.key,
                loaded.environment,
            )
        return loaded

    # -- logs and metrics ----------------------------------------------------------------
    async def _flush_logs(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.settings.log_flush_s)
            self._flush_now.clear()
            try:
                await self.flush()
            except StorageError as exc:  # a full disk, a store that does not answer: one line
                logger.error("flushing the prediction log failed, will retry: %s", first_line(exc))
            except Exception:
                logger.exception("flushing the prediction log failed; will retry")
            self.flush_access()

    async def flush(self) -> None:
        for log in self.logs:
            chunks = log.take()
            if not chunks:
                await asyncio.to_thread(log.retry_spool)
                continue
            # the rows have left the buffer: their write must finish even if this task is
            # cancelled (shutdown), and stop() waits for it before the last flush
            write = asyncio.ensure_future(asyncio.to_thread(log.write, chunks))
            self._writing.add(write)
            write.add_done_callback(functools.partial(self._written, log=log))
            await asyncio.shield(write)
        spooled = await asyncio.to_thread(self.logs.predictions.spooled_rows)
        self.metrics.set("shipyard_prediction_log_spooled_rows", (), spooled)

    def _written(self, done: asyncio.Future[list[Any]], *, log: SegmentLog) -> None:
        self._writing.discard(done)
        if not done.cancelled() and done.exception() is None and done.result():
            log.restore(done.result())  # could not be written anywhere: try again later

    async def _snapshots(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.flush_access()
            try:
                await asyncio.to_thread(self.shared.write, self.metrics.gauge_snapshot())
            except OSError as exc:
                logger.warning("could not write the metrics snapshot: %s", exc)


def _refusal(ref: str, exc: BaseException) -> str:
    """Why ``ref`` was not loaded, in one line; an environment refusal says how to fix it."""
    if isinstance(exc, EnvironmentMismatchError):
        return f"{exc.message}; to load it, {exc.hint}"  # the message names the version
    return f"{ref}: {first_line(exc)}"
