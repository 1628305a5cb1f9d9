"""The request budget for one Alpaca API key: wait for a slot instead of drawing a 429.

Alpaca allows a number of requests per minute per API key (200 by default). A ``RateBudget`` admits
each request before it is sent and makes the caller wait (``await acquire(lane)``) when the window
is full. Three implementations share one behaviour:

* ``InMemoryRateBudget``: one process (the default). Clock and sleep are injectable for tests.
* ``RedisRateBudget``: every process using the same key shares one window through Redis
  (``ALPACA_REDIS_URL``).
* ``UnlimitedRateBudget``: no local limit (benchmarks, a venue with the limit off); still honours a
  pause after a 429.

The window is a *moving* window: at most ``limit`` admissions in any ``window`` seconds. That is
never more than a fixed per-minute window or a token bucket of the same size would accept, so it is
safe whatever the venue counts with. Each admission is re-stamped when its answer arrives
(``settle``), so latency cannot make the venue see more requests in a window than we did.

**Order lane.** ``Lane.READ`` requests may use at most ``limit - order_reserve`` of the window;
``Lane.ORDER`` (submit, replace, cancel, close) may use all of it. Monitoring polls therefore can
never take the last ``order_reserve`` slots, and an order always finds one within a window.

**Keeping in step with the venue.** ``observe(headers)`` reads ``X-RateLimit-Limit/Remaining/
Reset`` from every answer: if the venue has counted more requests than we have (another program
uses the key), the difference is added as used slots that free up at the venue's reset time; when
the venue says nothing remains, admissions pause until that reset. ``pause_until`` after a 429 does
the same with the reset from the 429's headers.

**Why hand-written Lua and not the ``limits`` library** for the shared window: ``limits``' moving
window trims its list to the caller's limit on every hit, so two lanes with different limits on one
key would erase each other's entries (a read hit at 180 drops the entries an order needs to count
to 200); it stamps entries with each host's own clock (skewed hosts would disagree on the window);
it cannot re-stamp an entry when the answer arrives, nor add slots that expire at the venue's reset;
and a refusal does not say how long to wait (a second round trip). The three scripts below are
short, atomic, and use the Redis server's ``TIME`` as the one clock.

This module imports only ``errors`` from the package (``redis`` lazily, when a Redis budget is made).
"""

from __future__ import annotations

import abc
import asyncio
import enum
import hashlib
import itertools
import logging
import math
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alpaca_integration.errors import ConfigError

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_WINDOW_SECONDS",
    "BudgetSnapshot",
    "InMemoryRateBudget",
    "Lane",
    "Permit",
    "RateBudget",
    "RateLimitHeaders",
    "RedisRateBudget",
    "UnlimitedRateBudget",
    "default_order_reserve",
    "make_rate_budget",
    "parse_rate_limit_headers",
]

log = logging.getLogger(__name__)

DEFAULT_RATE_LIMIT = 200
DEFAULT_WINDOW_SECONDS = 60.0
# Without a reset header a 429 still needs some pause; Alpaca always sends the header, so this
# only matters for a proxy or a misbehaving venue.
_PAUSE_WITHOUT_RESET = 5.0
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
    """The venue's view of the budget, from one answer's ``X-RateLimit-*`` headers."""

    limit: int | None
    remaining: int | None
    reset_at: float | None


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """What the budget currently holds: admissions in the window and any pause."""

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


def parse_rate_limit_headers(
    headers: Mapping[str, str], *, now: float | None = None
) -> RateLimitHeaders | None:
    """Read ``X-RateLimit-Limit/Remaining/Reset`` in any letter case; None when none is present.

    ``reset_at`` is a UNIX time; a small value is taken as seconds from ``now`` (some proxies send
    a delta). Unreadable values count as absent.
    """
    limit = _int_or_none(_header(headers, "x-ratelimit-limit"))
    remaining = _int_or_none(_header(headers, "x-ratelimit-remaining"))
    reset_text = _header(headers, "x-ratelimit-reset")
    reset_at: float | None = None
    if reset_text is not None:
        try:
            reset_at = float(reset_text.strip())
        except ValueError:
            reset_at = None
        if reset_at is not None and reset_at < _EPOCH_FLOOR:
            reset_at = (time.time() if now is None else now) + max(reset_at, 0.0)
    if limit is None and remaining is None and reset_at is None:
        return None
    return RateLimitHeaders(limit=limit, remaining=remaining, reset_at=reset_at)


class RateBudget(abc.ABC):
    """Admission control for one API key. Subclasses decide where the window lives."""

    def __init__(
        self,
        limit: int = DEFAULT_RATE_LIMIT,
        window: float = DEFAULT_WINDOW_SECONDS,
        *,
        order_reserve: int | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if limit < 1:
            raise ConfigError(
                f"rate limit must be at least 1 request per window, got {limit}. Fix: set "
                "ALPACA_RATE_LIMIT to your plan's requests per minute (200 by default)",
                setting="ALPACA_RATE_LIMIT",
            )
        if not (window > 0 and math.isfinite(window)):
            raise ConfigError(f"rate window must be a positive number of seconds, got {window}")
        reserve = default_order_reserve(limit) if order_reserve is None else order_reserve
        if not 0 <= reserve < limit:
            raise ConfigError(
                f"order_reserve must be between 0 and limit - 1 ({limit - 1}), got {reserve}: "
                "reads need at least one slot"
            )
        self._configured_limit = limit
        self._venue_limit: int | None = None
        self.window = float(window)
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

    @abc.abstractmethod
    async def _align(self, venue_used: int, headers: RateLimitHeaders) -> None:
        """Count at least ``venue_used`` slots; pause until the reset when nothing remains."""

    @abc.abstractmethod
    async def pause_until(self, reset_at: float | None) -> None:
        """Admit nothing before ``reset_at`` (UNIX time); None: a short default pause."""

    @abc.abstractmethod
    async def snapshot(self) -> BudgetSnapshot:
        """The current admissions and pause (for tests, benchmarks and the CLI)."""

    async def aclose(self) -> None:  # noqa: B027 (a no-op default: local budgets hold nothing)
        """Release connections (nothing to do for local budgets)."""


class InMemoryRateBudget(RateBudget):
    """A moving window held in this process. ``clock`` is a UNIX-time source (injectable)."""

    def __init__(
        self,
        limit: int = DEFAULT_RATE_LIMIT,
        window: float = DEFAULT_WINDOW_SECONDS,
        *,
        order_reserve: int | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(limit, window, order_reserve=order_reserve, sleep=sleep)
        self._clock: Clock = clock or time.time
        # permit id -> the instant its slot counts from; small (at most ``limit`` live entries)
        self._slots: dict[str, float] = {}
        self._paused_until = 0.0

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
        missing = venue_used - len(self._slots)
        if missing > 0:
            stamp = self._phantom_stamp(now, headers.reset_at)
            for _ in range(missing):
                self._slots[f"venue:{self._new_permit_id()}"] = stamp
        if headers.remaining is not None and headers.remaining <= 0:
            await self.pause_until(headers.reset_at)

    def _phantom_stamp(self, now: float, reset_at: float | None) -> float:
        # Slots the venue counted and we did not: they free up at the venue's reset time.
        if reset_at is None:
            return now
        return min(now, max(reset_at - self.window, now - self.window + 0.001))

    async def pause_until(self, reset_at: float | None) -> None:
        now = self._clock()
        until = now + _PAUSE_WITHOUT_RESET if reset_at is None else reset_at
        # A venue clock far ahead must not stall us for longer than one window.
        until = min(until, now + self.window)
        if until > self._paused_until:
            self._paused_until = until

    async def snapshot(self) -> BudgetSnapshot:
        now = self._clock()
        self._prune(now)
        paused = self._paused_until if self._paused_until > now else None
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
            await self.pause_until(headers.reset_at)


# ---------------------------------------------------------------------------------------------
# Redis: one window per API key shared by every process. Scores are admission instants from the
# Redis server's clock (TIME), so hosts with skewed clocks still agree.

_LUA_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: window zset, pause key. ARGV: lane limit, window seconds, permit id.
# Returns {admitted 0|1, seconds to wait (string: Lua numbers lose their fraction on the way out)}.
_LUA_ACQUIRE = (
    _LUA_NOW
    + """
local window = tonumber(ARGV[2])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then
  return {0, tostring(paused - now)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local allowed = tonumber(ARGV[1])
if used < allowed then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
  return {1, '0'}
end
local oldest = redis.call('ZRANGE', KEYS[1], used - allowed, used - allowed, 'WITHSCORES')
return {0, tostring(tonumber(oldest[2]) + window - now)}
"""
)

# KEYS: window zset. ARGV: permit id. Re-stamps an existing admission at the answer's arrival.
_LUA_SETTLE = (
    _LUA_NOW
    + """
redis.call('ZADD', KEYS[1], 'XX', 'GT', now, ARGV[1])
return 1
"""
)

# KEYS: window zset, pause key. ARGV: venue used, reset_at ('' if unknown), window, id prefix,
# remaining ('' if unknown), pause-without-reset seconds.
_LUA_ALIGN = (
    _LUA_NOW
    + """
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local missing = tonumber(ARGV[1]) - used
local reset_at = tonumber(ARGV[2])
if missing > 0 then
  local stamp = now
  if reset_at then
    stamp = math.min(now, math.max(reset_at - window, now - window + 0.001))
  end
  for i = 1, missing do
    redis.call('ZADD', KEYS[1], stamp, ARGV[4] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
end
local remaining = tonumber(ARGV[5])
if remaining and remaining <= 0 then
  local target = reset_at or (now + tonumber(ARGV[6]))
  target = math.min(target, now + window)
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if target > now and target > current then
    redis.call('SET', KEYS[2], tostring(target), 'PX', math.ceil((target - now) * 1000) + 1000)
  end
end
return missing
"""
)

# KEYS: pause key. ARGV: target UNIX time ('' for the default), default pause, window.
_LUA_PAUSE = (
    _LUA_NOW
    + """
local target = tonumber(ARGV[1]) or (now + tonumber(ARGV[2]))
target = math.min(target, now + tonumber(ARGV[3]))
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if target > now and target > current then
  redis.call('SET', KEYS[1], tostring(target), 'PX', math.ceil((target - now) * 1000) + 1000)
end
return 1
"""
)

# KEYS: window zset, pause key. ARGV: window. Returns {used, paused_until or ''}.
_LUA_SNAPSHOT = (
    _LUA_NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local paused_text = ''
if paused > now then paused_text = tostring(paused) end
return {redis.call('ZCARD', KEYS[1]), paused_text}
"""
)


def _key_digest(key_id: str) -> str:
    # The key id is not secret, but there is no need to spell it out in Redis either.
    return hashlib.sha256(key_id.encode()).hexdigest()[:24]


class RedisRateBudget(RateBudget):
    """A moving window in Redis shared by every process that uses the same API key.

    If Redis cannot be reached, admissions fall back to an in-process window of the same size (a
    warning is logged) so trading does not stop; the venue's headers and the 429 pause still
    protect the key while the processes cannot coordinate.
    """

    def __init__(
        self,
        redis_url: str,
        key_id: str,
        limit: int = DEFAULT_RATE_LIMIT,
        window: float = DEFAULT_WINDOW_SECONDS,
        *,
        order_reserve: int | None = None,
        key_prefix: str = "alpaca_integration:ratelimit",
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(limit, window, order_reserve=order_reserve, sleep=sleep)
        import redis.asyncio

        self._redis: Any = redis.asyncio.Redis.from_url(
            redis_url, socket_connect_timeout=2.0, socket_timeout=2.0
        )
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        base = f"{key_prefix}:{_key_digest(key_id)}"
        self._window_key = f"{base}:window"
        self._pause_key = f"{base}:pause"
        self._acquire_script = self._redis.register_script(_LUA_ACQUIRE)
        self._settle_script = self._redis.register_script(_LUA_SETTLE)
        self._align_script = self._redis.register_script(_LUA_ALIGN)
        self._pause_script = self._redis.register_script(_LUA_PAUSE)
        self._snapshot_script = self._redis.register_script(_LUA_SNAPSHOT)
        self._fallback = InMemoryRateBudget(limit, window, order_reserve=order_reserve)
        self._warned_at = 0.0

    def _degraded(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at > 60:
            self._warned_at = now
            log.warning(
                "Redis rate budget unreachable (%s: %s); using this process's own window until it "
                "answers again",
                type(exc).__name__,
                exc,
            )

    async def try_acquire(self, lane: Lane) -> tuple[Permit | None, float]:
        permit_id = self._new_permit_id()
        try:
            admitted, wait = await self._acquire_script(
                keys=[self._window_key, self._pause_key],
                args=[self.lane_limit(lane), self.window, permit_id],
            )
        except self._redis_errors as exc:
            self._degraded(exc)
            self._fallback._venue_limit = self._venue_limit
            return await self._fallback.try_acquire(lane)
        if int(admitted) == 1:
            return Permit(permit_id, lane, time.time(), backend="redis"), 0.0
        return None, float(wait)

    async def settle(self, permit: Permit) -> None:
        if permit.backend != "redis":
            await self._fallback.settle(permit)
            return
        try:
            await self._settle_script(keys=[self._window_key], args=[permit.id])
        except self._redis_errors as exc:
            self._degraded(exc)

    async def _align(self, venue_used: int, headers: RateLimitHeaders) -> None:
        try:
            await self._align_script(
                keys=[self._window_key, self._pause_key],
                args=[
                    venue_used,
                    "" if headers.reset_at is None else repr(headers.reset_at),
                    self.window,
                    f"venue:{self._new_permit_id()}",
                    "" if headers.remaining is None else headers.remaining,
                    _PAUSE_WITHOUT_RESET,
                ],
            )
        except self._redis_errors as exc:
            self._degraded(exc)
            await self._fallback._align(venue_used, headers)

    async def pause_until(self, reset_at: float | None) -> None:
        try:
            await self._pause_script(
                keys=[self._pause_key],
                args=[
                    "" if reset_at is None else repr(reset_at),
                    _PAUSE_WITHOUT_RESET,
                    self.window,
                ],
            )
        except self._redis_errors as exc:
            self._degraded(exc)
            await self._fallback.pause_until(reset_at)

    async def snapshot(self) -> BudgetSnapshot:
        used, paused = await self._snapshot_script(
            keys=[self._window_key, self._pause_key], args=[self.window]
        )
        paused_text = paused.decode() if isinstance(paused, bytes) else str(paused)
        return BudgetSnapshot(
            self.limit,
            self.order_reserve,
            int(used),
            float(paused_text) if paused_text else None,
        )

    async def aclose(self) -> None:
        await self._redis.aclose()


# In-process budgets by key: two clients for one key in one process draw on one window. Weak, so
# a budget goes away with its last client.
_LOCAL_BUDGETS: weakref.WeakValueDictionary[tuple[object, ...], RateBudget] = (
    weakref.WeakValueDictionary()
)


def make_rate_budget(
    key_id: str,
    *,
    limit: int | None = DEFAULT_RATE_LIMIT,
    window: float = DEFAULT_WINDOW_SECONDS,
    order_reserve: int | None = None,
    redis_url: str | None = None,
    redis_key_prefix: str = "alpaca_integration:ratelimit",
    shared: bool = True,
) -> RateBudget:
    """The budget for one key: shared through Redis when ``redis_url`` is set, else in-process
    (one per key and settings in this process unless ``shared=False``); ``limit=None`` or ``0``
    turns the local limit off (the 429 pause still applies)."""
    if not redis_url:
        identity = (_key_digest(key_id), limit or None, window, order_reserve)
        existing = _LOCAL_BUDGETS.get(identity) if shared else None
        if existing is not None:
            return existing
        local: RateBudget = (
            UnlimitedRateBudget()
            if not limit
            else InMemoryRateBudget(limit, window, order_reserve=order_reserve)
        )
        if shared:
            _LOCAL_BUDGETS[identity] = local
        return local
    if not limit:
        return UnlimitedRateBudget()
    return RedisRateBudget(
        redis_url,
        key_id,
        limit,
        window,
        order_reserve=order_reserve,
        key_prefix=redis_key_prefix,
    )
