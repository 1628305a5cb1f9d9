"""The in-process budgets: a moving window held in this process, and the unlimited budget.

Both time their windows and pauses on a monotonic clock (``time.monotonic``; injectable as
``clock`` for tests, where one fake clock may stand for both the monotonic and the wall clock).
This module imports only ``errors`` and ``alpaca.ratelimit_base`` from the package.
"""

from __future__ import annotations

import time

from alpaca_integration.alpaca.ratelimit_base import (
    DEFAULT_MAX_PAUSE,
    DEFAULT_RATE_LIMIT,
    DEFAULT_WINDOW_SECONDS,
    BudgetSnapshot,
    Clock,
    Lane,
    Permit,
    RateBudget,
    RateLimitHeaders,
    Sleep,
)

__all__ = ["InMemoryRateBudget", "UnlimitedRateBudget"]


class InMemoryRateBudget(RateBudget):
    """A moving window held in this process.

    ``clock`` times the window and pauses: monotonic by default (``time.monotonic``), so a step
    of the wall clock changes nothing. ``wall_clock`` (``time.time``, or ``clock`` when only that
    is injected) only converts the legacy ``pause_until(unix_time)`` and reports snapshots.
    """

    def __init__(
        self,
        limit: int = DEFAULT_RATE_LIMIT,
        window: float = DEFAULT_WINDOW_SECONDS,
        *,
        order_reserve: int | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        wall_clock: Clock | None = None,
        max_pause: float = DEFAULT_MAX_PAUSE,
    ) -> None:
        super().__init__(
            limit, window, order_reserve=order_reserve, sleep=sleep, max_pause=max_pause
        )
        self._clock: Clock = clock or time.monotonic
        self._wall_clock: Clock = wall_clock or clock or time.time
        # permit id -> the instant its slot counts from; small (at most ``limit`` live entries)
        self._slots: dict[str, float] = {}
        self._paused_until = 0.0

    def _wall(self) -> float:
        return self._wall_clock()

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        expired = [key for key, stamp in self._slots.items() if stamp <= horizon]
        for key in expired:
            del self._slots[key]

    async def try_acquire(self, lane: Lane) -> tuple[Permit | None, float]:
        now = self._clock()
        if self._paused_until > now:
            return None, self._paused_until - now
        self._prune(now)
        allowed = self.lane_limit(lane)
        used = len(self._slots)
        if used < allowed:
            permit = Permit(self._new_permit_id(), lane, now)
            self._slots[permit.id] = now
            return permit, 0.0
        stamps = sorted(self._slots.values())
        return None, stamps[used - allowed] + self.window - now

    async def settle(self, permit: Permit) -> None:
        if permit.id in self._slots:
            self._slots[permit.id] = max(self._slots[permit.id], self._clock())

    async def _align(self, venue_used: int, headers: RateLimitHeaders) -> None:
        now = self._clock()
        self._prune(now)
        reset_in = self._reset_in(headers)
        missing = venue_used - len(self._slots)
        if missing > 0:
            stamp = self._phantom_stamp(now, self._phantoms_free_in(headers, reset_in))
            for _ in range(missing):
                self._slots[f"venue:{self._new_permit_id()}"] = stamp
        if headers.remaining is not None and headers.remaining <= 0:
            await self.pause_for(reset_in)

    def _phantom_stamp(self, now: float, free_in: float | None) -> float:
        # Slots the venue counted and we did not: stamped so they free up ``free_in`` from now.
        if free_in is None:
            return now
        return min(now, max(now + free_in - self.window, now - self.window + 0.001))

    async def pause_for(self, seconds: float | None) -> None:
        until = self._clock() + self.pause_length(seconds)
        if until > self._paused_until:
            self._paused_until = until

    async def snapshot(self) -> BudgetSnapshot:
        now = self._clock()
        self._prune(now)
        paused = None
        if self._paused_until > now:
            paused = self._wall() + (self._paused_until - now)
        return BudgetSnapshot(self.limit, self.order_reserve, len(self._slots), paused)


class UnlimitedRateBudget(InMemoryRateBudget):
    """No local limit: every request is admitted at once, except during a pause after a 429."""

    def __init__(self, *, clock: Clock | None = None, sleep: Sleep | None = None) -> None:
        super().__init__(1_000_000_000, DEFAULT_WINDOW_SECONDS, order_reserve=0, clock=clock)
        if sleep is not None:
            self._sleep = sleep

    async def try_acquire(self, lane: Lane) -> tuple[Permit | None, float]:
        now = self._clock()
        if self._paused_until > now:
            return None, self._paused_until - now
        return Permit(self._new_permit_id(), lane, now), 0.0

    async def settle(self, permit: Permit) -> None:
        return None

    async def _align(self, venue_used: int, headers: RateLimitHeaders) -> None:
        if headers.remaining is not None and headers.remaining <= 0:
            await self.pause_for(self._reset_in(headers))
