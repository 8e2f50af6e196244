"""The circuit breaker on a clock the test moves."""

from __future__ import annotations

from shipyard.serving.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_n_failures_within_the_window() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, window_s=10, cooldown_s=5, clock=clock)
    breaker.failure()
    clock.now = 11  # the first failure has left the window
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()


def test_one_probe_after_the_cool_down_closes_or_reopens() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, window_s=10, cooldown_s=5, clock=clock)
    breaker.failure()
    clock.now = 4.9
    assert not breaker.allow()
    clock.now = 5.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one
    breaker.failure()
    assert breaker.state == "open" and breaker.opened == 2
    clock.now = 10.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_late_success_does_not_close_an_open_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, window_s=10, cooldown_s=5, clock=clock)
    breaker.failure()
    breaker.success()  # a batch that was already running
    assert breaker.state == "open"
