"""The Redis cache (``redis.asyncio``): state other processes and services can read and follow.

Layout, TTLs and events are described in ``cache.base``. Each write is one Lua call (the data,
the meta stamps, the TTLs and the PUBLISH together, in that order), so readers never see half a
change: atomic as a MULTI/EXEC was, but one command and one reply instead of one per step (the
transaction's packing, per-reply parsing and per-read timeouts were most of a write's CPU).

A Redis that is down or slow never holds up the caller: every command has a short timeout (1 s
by default), and after a failure the cache stops trying for ``retry_after`` seconds (writes
return False at once, reads miss), logging once per outage. The parts whose writes were lost are
marked stale; when Redis answers again, the next write also marks them unknown in Redis so no
other reader trusts them, until ``rebuild_from_store`` (or a full write) refreshes them.

Imports ``cache.base`` and ``errors`` from the package, and ``redis`` (only this module does).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from alpaca_integration.cache import base
from alpaca_integration.cache.base import Cache, CacheKeys, Change, Subscription
from alpaca_integration.errors import StorageError

__all__ = ["RedisCache", "display_url"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# One change (``cache.base.Change``) applied in one atomic call. KEYS: the snapshot, positions,
# open_orders, meta and events keys. ARGV: the TTL in ms, the meta stamp, then in order: the
# snapshot's mode ("set", "del" or "-") and value; the positions' then open_orders' full
# replacement (a pair count, -1 for none, then field, value pairs); the open orders set (count,
# pairs); removed (count, ids); parts complete (count, names); parts invalidated (count, names);
# the events to publish (count, payloads). Long lists go in chunks (Lua's unpack is bounded).
# A script is not rolled back when a command fails, so the one failure a write can meet (a key of
# the wrong type: a collision or a hand edit) is refused before anything is written.
_LUA_COMMIT = """
local want = {'string', 'hash', 'hash', 'hash'}
for k = 1, 4 do
  local t = redis.call('TYPE', KEYS[k])['ok']
  if t ~= 'none' and t ~= want[k] then
    return redis.error_reply('WRONGTYPE ' .. KEYS[k] .. ' holds a ' .. t .. ', not a ' .. want[k])
  end
end
local i = 3
local function chunked(command, key, from, count, width)
  local done = 0
  while done < count do
    local step = math.min(1000, count - done)
    local first = from + done * width
    redis.call(command, key, unpack(ARGV, first, first + step * width - 1))
    done = done + step
  end
end
local mode = ARGV[i]
if mode == 'set' then
  redis.call('SET', KEYS[1], ARGV[i + 1])
elseif mode == 'del' then
  redis.call('DEL', KEYS[1])
end
i = i + 2
for k = 2, 3 do
  local n = tonumber(ARGV[i])
  i = i + 1
  if n >= 0 then
    redis.call('DEL', KEYS[k])
    chunked('HSET', KEYS[k], i, n, 2)
    i = i + 2 * n
  end
end
local n = tonumber(ARGV[i])
chunked('HSET', KEYS[3], i + 1, n, 2)
i = i + 1 + 2 * n
n = tonumber(ARGV[i])
chunked('HDEL', KEYS[3], i + 1, n, 1)
i = i + 1 + n
n = tonumber(ARGV[i])
for j = 0, n - 1 do
  redis.call('HSET', KEYS[4], ARGV[i + 1 + j], ARGV[2])
end
i = i + 1 + n
n = tonumber(ARGV[i])
chunked('HDEL', KEYS[4], i + 1, n, 1)
i = i + 1 + n
for k = 1, 4 do
  redis.call('PEXPIRE', KEYS[k], ARGV[1])
end
n = tonumber(ARGV[i])
for j = 1, n do
  redis.call('PUBLISH', KEYS[5], ARGV[i + j])
end
return n
"""


def _commit_args(change: Change, ttl_ms: int, stamp: str) -> list[Any]:
    """``_LUA_COMMIT``'s ARGV for ``change``."""
    args: list[Any] = [ttl_ms, stamp]
    if change.snapshot is None:
        args += ["-", ""]
    else:
        args += ["set", change.snapshot] if change.snapshot else ["del", ""]
    for replacement in (change.positions, change.open_orders):
        if replacement is None:
            args.append(-1)
        else:
            args.append(len(replacement))
            for field, value in replacement.items():
                args += (field, value)
    args.append(len(change.orders_set))
    for field, value in change.orders_set.items():
        args += (field, value)
    for items in (change.orders_removed, change.complete, change.invalidate, change.events):
        args.append(len(items))
        args.extend(items)
    return args


def display_url(url: str) -> str:
    """``url`` with any password masked (the only form logs and errors show)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, ""))


class _RedisSubscription(Subscription):
    def __init__(self, url: str, channel: str, *, pattern: bool, connect_timeout: float) -> None:
        self._url = url
        self._channel = channel
        self._pattern = pattern
        self._connect_timeout = connect_timeout
        self._client: aioredis.Redis | None = None
        self._pubsub: aioredis.client.PubSub | None = None

    async def __aenter__(self) -> _RedisSubscription:
        # Its own connection without a read timeout: waiting for the next event is normal.
        self._client = aioredis.Redis.from_url(
            self._url, socket_connect_timeout=self._connect_timeout, socket_timeout=None
        )
        self._pubsub = self._client.pubsub()
        try:
            if self._pattern:
                await self._pubsub.psubscribe(self._channel)
            else:
                await self._pubsub.subscribe(self._channel)
            # Wait for the confirmation: events published after __aenter__ are then received.
            while True:
                message = await self._pubsub.get_message(timeout=self._connect_timeout * 10)
                if message is None:
                    raise TimeoutError("no subscription confirmation")
                if message["type"] in ("subscribe", "psubscribe"):
                    break
        except (RedisError, OSError, TimeoutError) as exc:
            await self.__aexit__(None, None, None)
            raise StorageError(
                f"cannot subscribe to {self._channel} at {display_url(self._url)}: {exc}"
            ) from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
            self._pubsub = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __anext__(self) -> base.CacheEvent:
        if self._pubsub is None:
            raise StorageError("use the subscription inside `async with`")
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
            except (RedisError, OSError) as exc:
                raise StorageError(
                    f"lost the cache subscription at {display_url(self._url)}: {exc}; "
                    "subscribe again (and rebuild what you hold)"
                ) from exc
            if message is not None and message["type"] in ("message", "pmessage"):
                return base.decode_event(message["data"])


class RedisCache(Cache):
    """A ``Cache`` in Redis at ``url`` (``redis://host:6379/0``)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = base.DEFAULT_PREFIX,
        ttl: float = base.DEFAULT_TTL,
        timeout: float = 1.0,
        retry_after: float = 2.0,
    ) -> None:
        super().__init__(prefix=prefix, ttl=ttl)
        if timeout <= 0:
            raise ValueError(f"the cache timeout must be > 0 seconds, got {timeout}")
        self._url = url
        self._timeout = timeout
        self._retry_after = retry_after
        self._down_until = 0.0
        self._outage = False
        try:
            self._client = aioredis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
            )
        except ValueError as exc:
            raise ValueError(
                f"invalid Redis URL {display_url(url)}: {exc}. Use redis://host:6379/0"
            ) from None
        self._commit_script = self._client.register_script(_LUA_COMMIT)

    def __repr__(self) -> str:
        return f"RedisCache({display_url(self._url)!r}, prefix={self.prefix!r})"

    # ------------------------------------------------------------------ availability

    async def _call(self, what: str, fn: Callable[[], Awaitable[_T]]) -> tuple[bool, _T | None]:
        if time.monotonic() < self._down_until:
            return False, None
        try:
            async with asyncio.timeout(self._timeout * 2):
                result = await fn()
        except (RedisError, OSError, TimeoutError) as exc:
            self._trip(what, exc)
            return False, None
        if self._outage:
            self._outage = False
            log.warning("cache at %s answers again", display_url(self._url))
        return True, result

    def _trip(self, what: str, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self._retry_after
        if not self._outage:
            self._outage = True
            log.warning(
                "cache at %s unreachable during %s (%s: %s): skipped for %.0f s, the parts "
                "written meanwhile are stale until rebuilt",
                display_url(self._url),
                what,
                type(exc).__name__,
                exc,
                self._retry_after,
            )
        else:
            log.debug("cache still unreachable during %s: %s", what, exc)

    async def ping(self) -> bool:
        """Ask Redis now (even during a back-off); True when it answers."""
        self._down_until = 0.0
        ok, _ = await self._call("ping", self._client.ping)
        return ok

    # ------------------------------------------------------------------ implementation

    async def _commit(self, keys: CacheKeys, change: Change) -> bool:
        ttl_ms = int(self.ttl * 1000)
        stamp = dt.datetime.now(dt.UTC).isoformat()
        args = _commit_args(change, ttl_ms, stamp)
        script_keys = [*keys.data_keys, keys.events]

        async def run() -> Any:
            return await self._commit_script(keys=script_keys, args=args)

        ok, _ = await self._call("a write", run)
        return ok

    async def _read(self, keys: CacheKeys, part: str) -> dict[str, bytes] | None:
        async def run() -> Any:
            pipe = self._client.pipeline(transaction=False)
            pipe.hexists(keys.meta, part)
            if part == "account":
                pipe.get(keys.snapshot)
            else:
                pipe.hgetall(keys.positions if part == "positions" else keys.open_orders)
            return await pipe.execute()

        ok, result = await self._call("a read", run)
        if not ok or result is None or not result[0]:
            return None
        content = result[1]
        if part == "account":
            return {"": content} if content else {}
        return {key.decode(): value for key, value in (content or {}).items()}

    async def _complete_parts(self, keys: CacheKeys) -> set[str] | None:
        ok, fields = await self._call("a read", lambda: self._client.hkeys(keys.meta))
        if not ok or fields is None:
            return None
        return {f.decode() if isinstance(f, bytes) else str(f) for f in fields}

    async def _send(self, account: str, payload: bytes) -> bool:
        channel = self.keys(account).events
        ok, _ = await self._call("a publish", lambda: self._client.publish(channel, payload))
        return ok

    def subscribe(self, account: str | None = None) -> Subscription:
        if account is None:
            return _RedisSubscription(
                self._url, f"{self.prefix}:*:events", pattern=True, connect_timeout=self._timeout
            )
        return _RedisSubscription(
            self._url, self.keys(account).events, pattern=False, connect_timeout=self._timeout
        )

    async def aclose(self) -> None:
        await self._client.aclose()
