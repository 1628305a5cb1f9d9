"""What every request budget shares: lanes, permits, the venue's headers, the ``RateBudget`` base.

The design notes are in ``ratelimit``'s docstring. The clocks, in one place:

* A budget's windows and pauses run on a **monotonic** clock (``time.monotonic`` unless one is
  injected): a wall-clock step (an NTP correction, a suspended laptop) neither stalls nor frees
  admissions. The Redis budget uses the Redis server's ``TIME`` instead (one clock for every
  host), guarded against its steps (see ``ratelimit_redis``).
* The venue's ``X-RateLimit-Reset`` is a UNIX time by the **venue's** clock, so it is read
  against the same answer's ``Date`` header: ``RateLimitHeaders.reset_in`` is seconds from the
  answer, and only that relative figure reaches a budget. This host's wall clock is used only
  without a ``Date`` header, and by the legacy ``pause_until(unix_time)``.
* A pause (after a 429, or a venue saying nothing remains) never lasts longer than ``max_pause``
  (``DEFAULT_MAX_PAUSE``), whatever the reset says.

This module imports only ``errors`` from the package.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import itertools
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from alpaca_integration.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_PAUSE",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_WINDOW_SECONDS",
    "PAUSE_WITHOUT_RESET",
    "BudgetSnapshot",
    "Clock",
    "Lane",
    "Permit",
    "RateBudget",
    "RateLimitHeaders",
    "Sleep",
    "default_order_reserve",
    "http_date",
    "parse_rate_limit_headers",
]

log = logging.getLogger("alpaca_integration.alpaca.ratelimit")

DEFAULT_RATE_LIMIT = 200
DEFAULT_WINDOW_SECONDS = 60.0
# The longest a 429 (or "remaining 0") may hold every request on the key. After it the client
# asks again: at worst a few more 429s per window, never a key stalled by one wrong header.
DEFAULT_MAX_PAUSE = 10.0
# Without a reset header a 429 still needs some pause; Alpaca always sends the header, so this
# only matters for a proxy or a misbehaving venue.
PAUSE_WITHOUT_RESET = 5.0
# Header values below this are read as "seconds from now" rather than a UNIX time.
_EPOCH_FLOOR = 1_000_000_000

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Lane(enum.StrEnum):
    """Which share of the budget a request may use."""

    READ = "read"
    ORDER = "order"


@dataclass(frozen=True, slots=True)
class Permit:
    """One admitted request. Hand it back to ``settle`` once the answer (or failure) arrived."""

    id: str
    lane: Lane
    granted_at: float
    backend: str = "local"


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The venue's view of the budget, from one answer's ``X-RateLimit-*`` headers.

    ``reset_at`` is the reset as the venue sent it (a UNIX time by its clock); ``reset_in`` the
    seconds from the answer until then, read against the answer's own ``Date`` when it had one.
    """

    limit: int | None
    remaining: int | None
    reset_at: float | None
    reset_in: float | None = None


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """What the budget currently holds: admissions in the window and any pause (a UNIX time)."""

    limit: int
    order_reserve: int
    used: int
    paused_until: float | None


def default_order_reserve(limit: int) -> int:
    """10 % of the budget (at least 1) kept for order placement, replacement and cancellation."""
    return max(1, limit // 10) if limit > 1 else 0


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # httpx.Headers is case-insensitive already; a plain dict (tests, other transports) is not.
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(float(text.strip()))
    except ValueError:
        return None


def http_date(headers: Mapping[str, str]) -> float | None:
    """The answer's ``Date`` header as a UNIX time (whole seconds), None when absent or
    unreadable."""
    text = _header(headers, "date")
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def parse_rate_limit_headers(
    headers: Mapping[str, str], *, now: float | None = None
) -> RateLimitHeaders | None:
    """Read ``X-RateLimit-Limit/Remaining/Reset`` in any letter case; None when none is present.

    ``reset_at`` is a UNIX time by the venue's clock, so ``reset_in`` measures it from the same
    answer's ``Date`` header; without one, from ``now`` (this host's idea of the venue's time,
    ``time.time()`` by default). A small value is taken as seconds from now (some proxies send a
    delta). Unreadable values count as absent.
    """
    limit = _int_or_none(_header(headers, "x-ratelimit-limit"))
    remaining = _int_or_none(_header(headers, "x-ratelimit-remaining"))
    reset_text = _header(headers, "x-ratelimit-reset")
    reset_at: float | None = None
    reset_in: float | None = None
    if reset_text is not None:
        try:
            value = float(reset_text.strip())
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            base = time.time() if now is None else now
            if value < _EPOCH_FLOOR:
                reset_in = max(value, 0.0)
                reset_at = base + reset_in
            else:
                venue_now = http_date(headers)
                reset_at = value
                reset_in = max(value - (base if venue_now is None else venue_now), 0.0)
    if limit is None and remaining is None and reset_at is None:
        return None
    return RateLimitHeaders(limit=limit, remaining=remaining, reset_at=reset_at, reset_in=reset_in)


class RateBudget(abc.ABC):
    """Admission control for one API key. Subclasses decide where the window lives."""

    def __init__(
        self,
        limit: int = DEFAULT_RATE_LIMIT,
        window: float = DEFAULT_WINDOW_SECONDS,
        *,
        order_reserve: int | None = None,
        sleep: Sleep | None = None,
        max_pause: float = DEFAULT_MAX_PAUSE,
    ) -> None:
        if limit < 1:
            raise ConfigError(
                f"rate limit must be at least 1 request per window, got {limit}. Fix: set "
                "ALPACA_RATE_LIMIT to your plan's requests per minute (200 by default)",
                setting="ALPACA_RATE_LIMIT",
            )
        if not (window > 0 and math.isfinite(window)):
            raise ConfigError(f"rate window must be a positive number of seconds, got {window}")
        if not (max_pause > 0 and math.isfinite(max_pause)):
            raise ConfigError(f"max_pause must be a positive number of seconds, got {max_pause}")
        reserve = default_order_reserve(limit) if order_reserve is None else order_reserve
        if not 0 <= reserve < limit:
            raise ConfigError(
                f"order_reserve must be between 0 and limit - 1 ({limit - 1}), got {reserve}: "
                "reads need at least one slot"
            )
        self._configured_limit = limit
        self._venue_limit: int | None = None
        self.window = float(window)
        self.max_pause = min(float(max_pause), self.window)
        self._reserve = reserve
        self._sleep: Sleep = sleep or asyncio.sleep
        self._ids = itertools.count()
        self._prefix = uuid.uuid4().hex[:12]

    # ------------------------------------------------------------------ limits

    @property
    def limit(self) -> int:
        """Admissions per window: the configured limit, or the venue's if it reported less."""
        if self._venue_limit is not None and self._venue_limit < self._configured_limit:
            return self._venue_limit
        return self._configured_limit

    @property
    def order_reserve(self) -> int:
        return min(self._reserve, max(self.limit - 1, 0))

    def lane_limit(self, lane: Lane) -> int:
        """How many admissions in the window this lane may reach."""
        return self.limit if lane is Lane.ORDER else self.limit - self.order_reserve

    def _new_permit_id(self) -> str:
        return f"{self._prefix}:{next(self._ids)}"

    def pause_length(self, seconds: float | None) -> float:
        """A pause of ``seconds`` (None: the short default), bounded by ``max_pause``."""
        wanted = PAUSE_WITHOUT_RESET if seconds is None or not math.isfinite(seconds) else seconds
        return min(max(wanted, 0.0), self.max_pause)

    # ------------------------------------------------------------------ the interface

    async def acquire(self, lane: Lane = Lane.READ) -> Permit:
        """Wait until the window has room for one request on ``lane``; return its permit."""
        while True:
            permit, wait = await self.try_acquire(lane)
            if permit is not None:
                return permit
            # A millisecond past the computed instant, so the slot has really expired on wake-up.
            await self._sleep(max(wait, 0.0) + 0.001)

    @abc.abstractmethod
    async def try_acquire(self, lane: Lane) -> tuple[Permit | None, float]:
        """Admit now, or say how many seconds until a slot may free up."""

    @abc.abstractmethod
    async def settle(self, permit: Permit) -> None:
        """The request's answer (or failure) arrived: its slot counts from now."""

    async def observe(self, headers: RateLimitHeaders) -> None:
        """Align with the venue's view from an answer's rate-limit headers."""
        if headers.limit is not None and headers.limit > 0:
            if headers.limit < self._configured_limit and self._venue_limit != headers.limit:
                log.warning(
                    "venue reports a rate limit of %d/window, below the configured %d: using %d",
                    headers.limit,
                    self._configured_limit,
                    headers.limit,
                )
            self._venue_limit = headers.limit
        if headers.remaining is None:
            return
        venue_limit = headers.limit if headers.limit is not None else self.limit
        await self._align(max(venue_limit - headers.remaining, 0), headers)

    def _phantoms_free_in(self, headers: RateLimitHeaders, reset_in: float | None) -> float | None:
        """When the slots the venue counted and we did not free up: at its reset, except when it
        says nothing remains; then they would hold every request like a pause, so no longer than
        ``max_pause`` either."""
        if reset_in is None or headers.remaining is None or headers.remaining > 0:
            return reset_in
        return min(reset_in, self.max_pause)

    def _reset_in(self, headers: RateLimitHeaders) -> float | None:
        if headers.reset_in is not None:
            return headers.reset_in
        if headers.reset_at is not None:
            return headers.reset_at - self._wall()
        return None

    @abc.abstractmethod
    async def _align(self, venue_used: int, headers: RateLimitHeaders) -> None:
        """Count at least ``venue_used`` slots; pause (bounded) when nothing remains."""

    @abc.abstractmethod
    async def pause_for(self, seconds: float | None) -> None:
        """Admit nothing for ``seconds`` (None: a short default), at most ``max_pause``."""

    async def pause_until(self, reset_at: float | None) -> None:
        """Admit nothing before ``reset_at``, a UNIX time by this host's clock (None: a short
        default), at most ``max_pause``. Prefer ``pause_for``: a venue's reset is by its clock."""
        await self.pause_for(None if reset_at is None else reset_at - self._wall())

    def _wall(self) -> float:
        """This host's UNIX time (only for the legacy ``pause_until`` and snapshots)."""
        return time.time()

    @abc.abstractmethod
    async def snapshot(self) -> BudgetSnapshot:
        """The current admissions and pause (for tests, benchmarks and the CLI)."""

    async def aclose(self) -> None:  # noqa: B027 (a no-op default: local budgets hold nothing)
        """Release connections (nothing to do for local budgets)."""
