"""The shared budget: one moving window per API key in Redis, for every process using the key.

Scores are admission instants by the **Redis server's clock** (``TIME``), one clock for every
host, so hosts with skewed clocks still agree. Only relative figures cross from a host to Redis
(a pause of N seconds, a reset N seconds away), never a host's UNIX time. That server clock can
still be stepped; the scripts guard against it: an admission stamped more than a second ahead of
``TIME`` (its clock was stepped back) is re-stamped to now, so it counts for one window from now,
not for the size of the step; a pause never reaches further than ``max_pause`` ahead. A step
forward ages admissions early: the venue's headers and the 429 pause keep protecting the key.

Short Lua scripts make admission, re-stamping, header alignment and pauses atomic (why not the
``limits`` library: see ``ratelimit``). If Redis cannot be reached, admissions fall back to an
in-process window of the same size (a warning is logged) so trading does not stop.

This module imports only ``errors`` and ``alpaca.ratelimit_{base,local}`` from the package
(``redis`` when a budget is made).
"""

from __future__ import annotations

import hashlib
import time

from alpaca_integration.alpaca.ratelimit_base import (
    DEFAULT_MAX_PAUSE,
    DEFAULT_RATE_LIMIT,
    DEFAULT_WINDOW_SECONDS,
    BudgetSnapshot,
    Lane,
    Permit,
    RateBudget,
    RateLimitHeaders,
    Sleep,
    log,
)
from alpaca_integration.alpaca.ratelimit_local import InMemoryRateBudget

__all__ = ["RedisRateBudget", "key_digest"]

# Every script starts from the server's clock and re-stamps admissions from its future (a step
# back of the server clock), so they count from now instead of for the size of the step.
_LUA_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""
_LUA_RESTAMP_FUTURE = """
local future = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. tostring(now + 1), '+inf')
for i = 1, #future do redis.call('ZADD', KEYS[1], now, future[i]) end
"""

# KEYS: window zset, pause key. ARGV: lane limit, window seconds, permit id, max pause.
# Returns {admitted 0|1, seconds to wait (string: Lua numbers lose their fraction on the way out)}.
_LUA_ACQUIRE = (
    _LUA_NOW
    + _LUA_RESTAMP_FUTURE
    + """
local window = tonumber(ARGV[2])
local max_pause = tonumber(ARGV[4])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now + max_pause then
  -- Further ahead than any pause is ever set (the server clock was stepped back): bounded.
  paused = now + max_pause
  redis.call('SET', KEYS[2], tostring(paused), 'PX', math.ceil(max_pause * 1000) + 1000)
end
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

# Sets the pause key to now + the bounded pause, unless a later pause is already set.
_LUA_SET_PAUSE = """
local function pause(seconds)
  local target = now + seconds
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if seconds > 0 and target > current then
    redis.call('SET', KEYS[2], tostring(target), 'PX', math.ceil(seconds * 1000) + 1000)
  end
end
"""

# KEYS: window zset, pause key. ARGV: venue used, seconds until the venue's extra slots free up
# ('' if unknown), window, id prefix, remaining ('' if unknown), pause seconds when nothing
# remains (already bounded).
_LUA_ALIGN = (
    _LUA_NOW
    + _LUA_RESTAMP_FUTURE
    + _LUA_SET_PAUSE
    + """
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local missing = tonumber(ARGV[1]) - used
local free_in = tonumber(ARGV[2])
if missing > 0 then
  local stamp = now
  if free_in then
    stamp = math.min(now, math.max(now + free_in - window, now - window + 0.001))
  end
  for i = 1, missing do
    redis.call('ZADD', KEYS[1], stamp, ARGV[4] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
end
local remaining = tonumber(ARGV[5])
if remaining and remaining <= 0 then pause(tonumber(ARGV[6])) end
return missing
"""
)

# KEYS: window zset (unused), pause key. ARGV: pause seconds (already bounded).
_LUA_PAUSE = (
    _LUA_NOW
    + _LUA_SET_PAUSE
    + """
pause(tonumber(ARGV[1]))
return 1
"""
)

# KEYS: window zset, pause key. ARGV: window, max pause. Returns {used, seconds paused or ''}.
_LUA_SNAPSHOT = (
    _LUA_NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local paused_text = ''
if paused > now then paused_text = tostring(math.min(paused - now, tonumber(ARGV[2]))) end
return {redis.call('ZCARD', KEYS[1]), paused_text}
"""
)


def key_digest(key_id: str) -> str:
    """The key id as it appears in Redis keys (not secret, but no need to spell it out)."""
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
        max_pause: float = DEFAULT_MAX_PAUSE,
    ) -> None:
        super().__init__(
            limit, window, order_reserve=order_reserve, sleep=sleep, max_pause=max_pause
        )
        import redis.asyncio

        self._redis: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
            redis_url, socket_connect_timeout=2.0, socket_timeout=2.0
        )
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        base = f"{key_prefix}:{key_digest(key_id)}"
        self._keys = [f"{base}:window", f"{base}:pause"]
        self._acquire_script = self._redis.register_script(_LUA_ACQUIRE)
        self._settle_script = self._redis.register_script(_LUA_SETTLE)
        self._align_script = self._redis.register_script(_LUA_ALIGN)
        self._pause_script = self._redis.register_script(_LUA_PAUSE)
        self._snapshot_script = self._redis.register_script(_LUA_SNAPSHOT)
        self._fallback = InMemoryRateBudget(
            limit, window, order_reserve=order_reserve, max_pause=max_pause
        )
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
                keys=self._keys,
                args=[self.lane_limit(lane), self.window, permit_id, self.max_pause],
            )
        except self._redis_errors as exc:
            self._degraded(exc)
            self._fallback._venue_limit = self._venue_limit
            return await self._fallback.try_acquire(lane)
        if int(admitted) == 1:
            return Permit(permit_id, lane, time.monotonic(), backend="redis"), 0.0
        return None, float(wait)

    async def settle(self, permit: Permit) -> None:
        if permit.backend != "redis":
            await self._fallback.settle(permit)
            return
        try:
            await self._settle_script(keys=self._keys[:1], args=[permit.id])
        except self._redis_errors as exc:
            self._degraded(exc)

    async def _align(self, venue_used: int, headers: RateLimitHeaders) -> None:
        reset_in = self._reset_in(headers)
        free_in = self._phantoms_free_in(headers, reset_in)
        try:
            await self._align_script(
                keys=self._keys,
                args=[
                    venue_used,
                    "" if free_in is None else repr(free_in),
                    self.window,
                    f"venue:{self._new_permit_id()}",
                    "" if headers.remaining is None else headers.remaining,
                    self.pause_length(reset_in),
                ],
            )
        except self._redis_errors as exc:
            self._degraded(exc)
            await self._fallback._align(venue_used, headers)

    async def pause_for(self, seconds: float | None) -> None:
        try:
            await self._pause_script(keys=self._keys, args=[self.pause_length(seconds)])
        except self._redis_errors as exc:
            self._degraded(exc)
            await self._fallback.pause_for(seconds)

    async def snapshot(self) -> BudgetSnapshot:
        used, paused = await self._snapshot_script(
            keys=self._keys, args=[self.window, self.max_pause]
        )
        paused_text = paused.decode() if isinstance(paused, bytes) else str(paused)
        paused_until = self._wall() + float(paused_text) if paused_text else None
        return BudgetSnapshot(self.limit, self.order_reserve, int(used), paused_until)

    async def aclose(self) -> None:
        await self._redis.aclose()
