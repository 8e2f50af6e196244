"""A circuit breaker: stop calling a model that keeps failing, and probe it again later.

Closed (calls go through) → open after ``failures`` failures within ``window_s``
seconds (calls are refused and answered by the fallback chain) → half-open after
``cooldown_s``: exactly one call goes through as a probe; its success closes the
breaker, its failure opens it for another cool-down.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """Failure counting over a sliding window, with a cool-down and a single probe."""

    def __init__(
        self,
        failures: int = 5,
        window_s: float = 30.0,
        cooldown_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = failures
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._probing = False
        self.state = CLOSED
        self.opened = 0  # how many times it has opened

    @property
    def shown(self) -> str:
        """The state to report: an open breaker past its cool-down waits for its probe."""
        if self.state == OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            return HALF_OPEN
        return self.state

    def allow(self) -> bool:
        """Whether a call may go to the model now (in half-open state: the one probe)."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and self._clock() - self._opened_at >= self.cooldown_s:
            self.state = HALF_OPEN
            self._probing = False
        if self.state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        """A call went well: closes a half-open breaker (an open one waits for its probe)."""
        if self.state == HALF_OPEN:
            self.state = CLOSED
            self._probing = False
            self._failures.clear()

    def release(self) -> None:
        """The probe let through was never made (the request was shed): let another go."""
        if self.state == HALF_OPEN:
            self._probing = False

    def failure(self) -> None:
        now = self._clock()
        if self.state == HALF_OPEN:
            self._open(now)
            return
        if self.state == OPEN:
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self.window_s:
            self._failures.popleft()
        if len(self._failures) >= self.threshold:
            self._open(now)

    def reset(self) -> None:
        """Forget every failure (a new model version starts with a closed breaker)."""
        self.state = CLOSED
        self._probing = False
        self._failures.clear()

    def _open(self, now: float) -> None:
        self.state = OPEN
        self._opened_at = now
        self._probing = False
        self._failures.clear()
        self.opened += 1
