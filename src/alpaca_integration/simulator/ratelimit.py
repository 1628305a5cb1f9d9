"""Per-key request budget of the simulated venue, as Alpaca enforces it.

A fixed window per API key: the first request opens a 60-second window with ``limit`` requests;
``X-RateLimit-Reset`` is the UNIX second the window ends (when the budget refills). Wall-clock
time, not simulated time: a client waiting for the reset waits in real seconds. Under the
clock-skew fault the reset is told on the venue's skewed clock (``skew_seconds``), as a venue
with a wrong clock would tell it.

This module imports nothing from the package.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Budget", "RateLimiter"]

_WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Budget:
    allowed: bool
    limit: int
    remaining: int
    reset: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset).encode()),
        ]


class RateLimiter:
    """``check(key)`` spends one request of ``key``'s window (refused ones are not spent)."""

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._clock = clock
        self._windows: dict[str, list[float]] = {}
        self.skew_seconds = 0.0
        # Requests refused for an exhausted budget, by key (what a client that keeps to the
        # budget never causes; injected 429 storms are not counted here).
        self.refused: dict[str, int] = {}

    def check(self, key: str) -> Budget:
        now = self._clock()
        window = self._windows.get(key)
        if window is None or now >= window[0]:
            window = self._windows[key] = [now + _WINDOW_SECONDS, 0.0]
        reset = math.ceil(window[0] + self.skew_seconds)
        if window[1] >= self.limit:
            self.refused[key] = self.refused.get(key, 0) + 1
            return Budget(False, self.limit, 0, reset)
        window[1] += 1
        return Budget(True, self.limit, self.limit - int(window[1]), reset)

    def reset(self) -> None:
        self._windows.clear()
        self.refused.clear()
