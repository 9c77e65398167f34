"""How long the client keeps retrying one request: a total wait budget, exponential backoff with jitter.

A :class:`RetryPolicy` is shared by every request of a client; :meth:`RetryPolicy.start` gives the
:class:`Retries` of one operation (a request, or a download with its resumptions).  Wait ``n`` (from 0) is
``first * 2**n`` seconds, at most ``longest``, scaled by a random factor in ``[0.5, 1]`` (jitter, so clients
that lost the server together do not come back together), and cut so that the waits end ``budget`` seconds
after the first failure; then the operation gives up.  ``max_retries`` (None: no limit) caps the count too.
The clock, the sleep and the random source are a :class:`Clock`, the policy's or the module's ``CLOCK``, so
tests can wait out minutes in no time (``monkeypatch.setattr(retry, "CLOCK", virtual_clock)``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Clock:
    """Where waits read the time, sleep and draw their jitter."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random


CLOCK = Clock()


@dataclass
class RetryPolicy:
    """``budget``, ``first`` and ``longest`` in seconds; ``clock`` None: the module's ``CLOCK`` (read at start)."""

    budget: float = 120.0
    first: float = 1.0
    longest: float = 30.0
    max_retries: int | None = None
    clock: Clock | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.budget < 0 or self.first <= 0 or self.longest <= 0 or (self.max_retries or 0) < 0:
            raise ValueError(f"speechcatcher data source: retry_seconds must be >= 0, backoff and the longest wait "
                             f"> 0 and retries >= 0, got {self}")

    def start(self) -> Retries:
        return Retries(self)


class Retries:
    """The waits of one operation; :meth:`wait` sleeps before the next attempt, or says the budget is spent."""

    def __init__(self, policy: RetryPolicy):
        self.policy, self.clock, self.count = policy, policy.clock or CLOCK, 0
        self.started: float | None = None  # the first failure, by self.clock

    @property
    def elapsed(self) -> float:
        """Seconds since the first failure (0 before it)."""
        return 0.0 if self.started is None else self.clock.now() - self.started

    def wait(self, what: str, reason: str) -> bool:
        """Logs one line (what failed, why, how long it waits) and sleeps; False (no sleep) when spent.

        ``what`` names the request and the server it waits for; it must not hold a secret.
        """
        policy = self.policy
        if self.started is None:
            self.started = self.clock.now()
        left = policy.budget - self.elapsed
        if left <= 0 or (policy.max_retries is not None and self.count >= policy.max_retries):
            return False
        delay = min(policy.first * 2 ** self.count, policy.longest) * (0.5 + 0.5 * self.clock.random())
        delay = min(delay, left)
        self.count += 1
        log.warning("speechcatcher: %s: %s; waiting %.1f s for the server, then retry %d (%.0f of %.0f s of "
                    "retry_seconds spent)", what, reason, delay, self.count, self.elapsed, policy.budget)
        self.clock.sleep(delay)
        return True

    def summary(self) -> str:
        """``"N attempt(s) in S s"`` for the final error message."""
        return f"{self.count + 1} attempt(s) in {self.elapsed:.0f} s (retry_seconds={self.policy.budget:g})"
