"""A deployment's challenger: the version the ``challenger`` alias names, answering copies.

While a model's ``challenger`` alias points at a version other than the champion's,
every worker loads it beside the champion (:mod:`.worker` follows the alias) and each
answered request is answered twice, once on the request path and once off it:

- **shadow**: after the champion's answer is sent, a copy of the request's rows goes
  to the challenger's own micro-batcher and thread. The copy is shed, and counted,
  when the live model is busy (a call of it running or requests waiting for one: the
  copy would compete with live requests for the CPU) or when ``QUEUE_REQUESTS``
  copies are in flight already. Under load most copies are shed; the comparison
  needs a sample of the traffic, not all of it.
  The client's answer never waits for the copy, and the challenger's failures never
  reach the champion's breaker or its fallback chain. Copies wait up to ``HOLD_S``
  for company, so the challenger answers them in batches (a model call costs about
  the same for one row as for dozens); their logged latency is the challenger's call.
- **canary** (``models.NAME.retrain.canary``): a deterministic share of requests
  (:mod:`.canary`) is answered by the challenger, on the request path; the champion
  answers their copy. A canary request the challenger cannot answer in half the
  latency budget goes to the champion's usual path with the other half; the
  challenger's failure is logged as its shadow row.

Both answers are logged under the request's prediction ids, each with the version
that computed it: the client's with ``variant`` ``live``, the copy's with ``shadow``
(see :mod:`shipyard.predlog.schema`). A copy that raised or ran past the budget is a
shadow row with no prediction, ``degraded`` true, ``reason`` ``error`` or ``timeout``
and ``path`` ``shadow``. Shed copies leave no row.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from shipyard.config import ModelConfig
from shipyard.predlog import SHADOW, Chunk

from .batcher import Batcher, ModelFailure, Result
from .canary import Canary
from .deployment import Outcome
from .fallback import MODEL

if TYPE_CHECKING:
    from .deployment import Deployment, Loaded
    from .validation import Rows

logger = logging.getLogger(__name__)

CHALLENGER = "challenger"
"""The alias whose version a deployment that follows ``champion`` loads as its challenger."""
QUEUE_REQUESTS = 64
"""Copies in flight (queued for or in the other version's call) per deployment, at most."""
CANARY_SHARE = 0.5
"""The share of the latency budget a canary request gives the challenger; the champion
has what is left when the challenger cannot answer."""
HOLD_S = 0.1
"""How long a copy waits for others before the challenger's call (with a canary, whose
requests are live, ``max_wait_ms`` as for the champion). A copy's deadline is this
plus the latency budget."""
OUTCOMES = ("answered", "shed", "error", "timeout")
"""What became of a copy (``shipyard_shadow_total``'s ``outcome``)."""
SHADOW_PATH = "shadow"
"""The ``path`` of a shadow row whose call failed (an answered one says ``model``)."""
_WARN_S = 60.0


def hold_for(config: ModelConfig) -> float:
    """How long the challenger of a model so configured holds copies for company."""
    if config.retrain.canary is not None:
        return config.serving.max_wait_ms / 1000.0
    return HOLD_S


def _busy(batcher: Batcher) -> bool:
    """Whether a model is busy: a call of it running, or requests waiting for one."""
    return batcher.running_since is not None or batcher.queued_rows > 0


def failure_outcome(kind: str) -> str:
    """A copy's outcome from the batcher's failure: the version's own (``error``,
    ``timeout``), or ``shed`` (it waited behind other calls, or the version was replaced)."""
    return kind if kind in ("error", "timeout") else "shed"


class Shadow:
    """The challenger of one deployment, its canary, and the copies it answers."""

    def __init__(
        self,
        deployment: Deployment,
        challenger: Loaded,
        log: Callable[[Chunk], None],
        *,
        capacity: int | None = None,
    ) -> None:
        self.deployment = deployment
        self.challenger = challenger
        self.version = challenger.version.version
        self.log = log
        self.capacity = QUEUE_REQUESTS if capacity is None else capacity
        canary = deployment.config.retrain.canary
        self.canary = Canary.from_config(canary) if canary is not None else None
        self.in_flight = 0
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.canary_counts = dict.fromkeys(("answered", "busy", *OUTCOMES[1:]), 0)
        self.closed = False
        self._warned_at = -math.inf
        self._unwarned = 0
        self._call_s = 0.0  # how long the challenger's latest call took
        challenger.batcher.report_to(self._on_call)

    # -- on the request path ---------------------------------------------------------
    async def answer(self, rows: Rows, started: float, ids: list[str]) -> Outcome:
        """The live answer: the challenger's for the canary's share, else the champion's."""
        deployment = self.deployment
        canary = self.canary
        if canary is None or not canary.chooses(rows, ids[0]):
            return await deployment.predict(rows, started)
        batcher = self.challenger.batcher
        if batcher.queued_rows + rows.n > batcher.max_batch_size:
            self._canary("busy")  # it would not answer in time: the champion does
            return await deployment.predict(rows, started)
        loop = asyncio.get_running_loop()
        left = deployment.budget(rows.n) * CANARY_SHARE - (time.perf_counter() - started)
        began = time.perf_counter()
        try:
            labels, proba = await batcher.submit(rows, loop.time() + max(0.0, left))
        except ModelFailure as failure:
            outcome_of = failure_outcome(failure.kind)
            self._canary(outcome_of)
            outcome = await deployment.predict(rows, started)
            if outcome_of != "shed":
                outcome.missed = (outcome_of, time.perf_counter() - began)
            return outcome
        self._canary("answered")
        return Outcome(
            labels,
            proba,
            MODEL,
            self.version,
            classes=self.challenger.predictor.classes,
            canary=True,
        )

    def after(self, rows: Rows, ids: list[str], outcome: Outcome) -> None:
        """The live answer was sent: queue the copy for the other version, or shed it (the
        live model is busy, or the queue is full). Queueing is all it does here: the copy
        is answered off the request path."""
        if not self.closed:
            self._offer(rows, ids, outcome)

    # -- off the request path --------------------------------------------------------
    def _offer(self, rows: Rows, ids: list[str], outcome: Outcome) -> None:
        if outcome.missed is not None:  # a canary request the challenger failed: its row
            reason, seconds = outcome.missed
            self._count(reason)
            self._row(rows, ids, self.version, None, seconds, reason)
            return
        if outcome.path != MODEL or outcome.degraded:
            return  # the fallback answered: no model answer to compare with
        champion = self.deployment.current
        if champion is None:
            return
        if outcome.canary:
            live, other = self.challenger, champion
            busy = _busy(live.batcher) or _busy(other.batcher)
        else:
            live, other = champion, self.challenger
            busy = _busy(live.batcher)
        if busy or self.in_flight >= self.capacity:
            self._count("shed")
            return
        batcher = other.batcher
        budget = self.deployment.budget(rows.n)
        deadline = asyncio.get_running_loop().time() + batcher.max_wait_s + budget
        future = batcher.submit(rows, deadline)
        self.in_flight += 1
        future.add_done_callback(
            partial(
                self._done,
                rows=rows,
                ids=ids,
                version=other.version.version,
                began=time.perf_counter(),
            )
        )

    def _on_call(
        self, rows: int, seconds: float, usage: object, error: BaseException | None
    ) -> None:
        self._call_s = seconds  # read by the answers of that call, which come next

    def _done(
        self,
        future: asyncio.Future[Result],
        *,
        rows: Rows,
        ids: list[str],
        version: int,
        began: float,
    ) -> None:
        self.in_flight -= 1
        seconds = time.perf_counter() - began
        if future.cancelled():
            self._count("shed")
            return
        error = future.exception()
        if error is None:
            self._count("answered")
            if version == self.version:  # the challenger's call, not the wait for company
                seconds = min(seconds, self._call_s)
            if not self.closed:
                self._row(rows, ids, version, future.result(), seconds, None)
            return
        outcome = failure_outcome(error.kind) if isinstance(error, ModelFailure) else "error"
        self._count(outcome)
        if outcome != "shed":
            self._warn(version, outcome, error)
            if not self.closed:
                self._row(rows, ids, version, None, seconds, outcome)

    def _row(
        self,
        rows: Rows,
        ids: list[str],
        version: int,
        result: Result | None,
        seconds: float,
        reason: str | None,
    ) -> None:
        """The copy's rows for the prediction log: same ids, its version, variant shadow."""
        labels, proba = result if result is not None else (None, None)
        self.log(
            Chunk(
                self.deployment.name,
                rows.n,
                (
                    ("time", time.time()),
                    ("version", version),
                    ("path", MODEL if reason is None else SHADOW_PATH),
                    ("degraded", reason is not None),
                    ("reason", reason),
                    ("latency_ms", seconds * 1000.0),
                    ("variant", SHADOW),
                ),
                (("prediction_id", ids), ("prediction", labels), ("probabilities", proba)),
                rows,
            )
        )

    def _count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        self.deployment.metrics.inc("shipyard_shadow_total", (self.deployment.name, outcome))

    def _canary(self, outcome: str) -> None:
        self.canary_counts[outcome] += 1
        self.deployment.metrics.inc("shipyard_canary_total", (self.deployment.name, outcome))

    def _warn(self, version: int, outcome: str, error: BaseException) -> None:
        """One WARNING a minute at most about copies that failed, with how many."""
        self._unwarned += 1
        now = time.monotonic()
        if now - self._warned_at < _WARN_S:
            return
        self._warned_at = now
        what = "raised" if outcome == "error" else "ran past the latency budget"
        logger.warning(
            "%s: version %d %s on %d shadow copies (the live answers were not affected): %s",
            self.deployment.name,
            version,
            what,
            self._unwarned,
            error,
        )
        self._unwarned = 0

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Stop sending copies; those in flight are shed."""
        self.closed = True
        self.challenger.batcher.close()

    def describe(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "shadow": {**self.counts, "in_flight": self.in_flight, "capacity": self.capacity},
            "canary": (
                None
                if self.canary is None
                else {**self.canary.describe(), "requests": dict(self.canary_counts)}
            ),
        }
