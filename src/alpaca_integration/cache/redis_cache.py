"""The Redis cache (``redis.asyncio``): state other processes and services can read and follow.

Layout, TTLs and events are described in ``cache.base``. Each write is one MULTI/EXEC (the data,
the meta stamps, the TTLs and the PUBLISH together), so readers never see half a change.

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
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from alpaca_integration.cache.base import (
    DEFAULT_PREFIX,
    DEFAULT_TTL,
    Cache,
    CacheEvent,
    CacheKeys,
    Change,
    Subscription,
    decode_event,
)
from alpaca_integration.errors import StorageError

__all__ = ["RedisCache", "display_url"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


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

    async def __anext__(self) -> CacheEvent:
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
                return decode_event(message["data"])


class RedisCache(Cache):
    """A ``Cache`` in Redis at ``url`` (``redis://host:6379/0``)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: float = DEFAULT_TTL,
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

        async def run() -> Any:
            pipe = self._client.pipeline(transaction=True)
            if change.snapshot is not None:
                if change.snapshot:
                    pipe.set(keys.snapshot, change.snapshot)
                else:
                    pipe.delete(keys.snapshot)
            for key, replacement in (
                (keys.positions, change.positions),
                (keys.open_orders, change.open_orders),
            ):
                if replacement is not None:
                    pipe.delete(key)
                    if replacement:
                        pipe.hset(key, mapping=cast(Any, replacement))
            if change.orders_set:
                pipe.hset(keys.open_orders, mapping=cast(Any, change.orders_set))
            if change.orders_removed:
                pipe.hdel(keys.open_orders, *change.orders_removed)
            if change.complete:
                pipe.hset(keys.meta, mapping=dict.fromkeys(change.complete, stamp))
            if change.invalidate:
                pipe.hdel(keys.meta, *change.invalidate)
            for key in keys.data_keys:
                pipe.pexpire(key, ttl_ms)
            for event in change.events:
                pipe.publish(keys.events, event)
            return await pipe.execute()

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
