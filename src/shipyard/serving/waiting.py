"""Waiting for a store that does not answer: capped exponential backoff, and what to say.

A worker may start before its database or object store answers (a cluster
starting up, a database restarting). It then starts live but not ready, tries
again after 0.5, 1, 2, 4 … seconds (at most 30, each with jitter so that many
replicas do not knock at the same moment), and says what it waits for in
``/readyz`` and in one log line per change.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from shipyard.errors import UnreachableError, first_line

FIRST_S = 0.5
CAP_S = 30.0


class Backoff:
    """Delays that double from ``first`` up to ``cap``, each drawn between half and all of it."""

    def __init__(
        self,
        first: float = FIRST_S,
        cap: float = CAP_S,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first <= cap, got first={first}, cap={cap}")
        self.first = first
        self.cap = cap
        self._jitter = jitter
        self._attempts = 0

    @property
    def attempts(self) -> int:
        """How many delays were handed out since the last success."""
        return self._attempts

    def next(self) -> float:
        """The next delay, in seconds: ``[ceiling / 2, ceiling]``, ceiling = min(cap, first * 2**n)."""
        ceiling = min(self.cap, self.first * 2.0 ** min(self._attempts, 64))
        self._attempts += 1
        return ceiling * (0.5 + 0.5 * min(max(self._jitter(), 0.0), 1.0))

    def reset(self) -> None:
        self._attempts = 0


def seconds(delay: float) -> str:
    """A delay as people read it: ``0.7 s``, ``4 s``."""
    return f"{delay:.1f} s" if delay < 2 else f"{delay:.0f} s"


def waiting_for(problem: BaseException) -> str:
    """What a worker waits for, without the delay: the state a log line reports once."""
    if isinstance(problem, UnreachableError):
        return f"waiting for the {problem.store} at {problem.url} — {problem.reason}"
    return f"waiting for the stores — {first_line(problem)}"


def waiting_detail(problem: BaseException, delay: float) -> str:
    """The ``/readyz`` detail: what it waits for and when it tries again."""
    return f"{waiting_for(problem)}; retrying in {seconds(delay)}"
