"""The in-memory cache: the default when no Redis URL is configured (one process, no server).

Same keys, TTLs, events and semantics as the Redis cache (``cache.base``), held in dicts; it is
never down. Subscribers get their events through bounded queues: a subscriber that stops reading
loses its oldest events, never blocks a writer.

Imports ``cache.base`` from the package.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable

from alpaca_integration.cache import base
from alpaca_integration.cache.base import Cache, CacheKeys, Subscription

__all__ = ["InMemoryCache"]

log = logging.getLogger(__name__)

_QUEUE_SIZE = 10_000


class _Entry:
    __slots__ = ("expires", "value")

    def __init__(self, value: bytes | dict[str, bytes], expires: float) -> None:
        self.value = value
        self.expires = expires


class _MemorySubscription(Subscription):
    def __init__(self, cache: InMemoryCache, channel: str | None, prefix: str) -> None:
        self._cache = cache
        self._channel = channel
        self._prefix = prefix
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(_QUEUE_SIZE)
        self._dropped = 0

    def matches(self, channel: str) -> bool:
        if self._channel is not None:
            return channel == self._channel
        return channel.startswith(f"{self._prefix}:") and channel.endswith(":events")

    def deliver(self, payload: bytes) -> None:
        if self._queue.full():
            self._queue.get_nowait()  # drop the oldest: a slow reader never blocks a writer
            if not self._dropped:
                log.warning("a cache subscriber is not reading: its oldest events are dropped")
            self._dropped += 1
        self._queue.put_nowait(payload)

    async def __aenter__(self) -> _MemorySubscription:
        self._cache._subscribers.append(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self in self._cache._subscribers:
            self._cache._subscribers.remove(self)

    async def __anext__(self) -> base.CacheEvent:
        return base.decode_event(await self._queue.get())


class InMemoryCache(Cache):
    """A ``Cache`` in this process's memory. ``clock`` (monotonic seconds) is for tests of TTL."""

    def __init__(
        self,
        *,
        prefix: str = base.DEFAULT_PREFIX,
        ttl: float = base.DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(prefix=prefix, ttl=ttl)
        self._clock = clock
        self._data: dict[str, _Entry] = {}
        self._subscribers: list[_MemorySubscription] = []

    def __repr__(self) -> str:
        return f"InMemoryCache(prefix={self.prefix!r})"

    def _get(self, key: str) -> bytes | dict[str, bytes] | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires <= self._clock():
            del self._data[key]
            return None
        return entry.value

    async def _commit(self, keys: CacheKeys, change: base.Change) -> bool:
        expires = self._clock() + self.ttl
        if change.snapshot is not None:
            if change.snapshot:
                self._data[keys.snapshot] = _Entry(change.snapshot, expires)
            else:
                self._data.pop(keys.snapshot, None)
        for key, replacement in (
            (keys.positions, change.positions),
            (keys.open_orders, change.open_orders),
        ):
            if replacement is not None:
                self._data[key] = _Entry(dict(replacement), expires)
        if change.orders_set or change.orders_removed:
            current = self._get(keys.open_orders)
            orders = dict(current) if isinstance(current, dict) else {}
            orders.update(change.orders_set)
            for order_id in change.orders_removed:
                orders.pop(order_id, None)
            self._data[keys.open_orders] = _Entry(orders, expires)
        meta_value = self._get(keys.meta)
        meta = dict(meta_value) if isinstance(meta_value, dict) else {}
        stamp = dt.datetime.now(dt.UTC).isoformat().encode()
        for part in change.complete:
            meta[part] = stamp
        for part in change.invalidate:
            meta.pop(part, None)
        self._data[keys.meta] = _Entry(meta, expires)
        for key in keys.data_keys:
            entry = self._data.get(key)
            if entry is not None:
                entry.expires = expires
        for event in change.events:
            self._deliver(keys.events, event)
        return True

    async def _read(self, keys: CacheKeys, part: str) -> dict[str, bytes] | None:
        meta = self._get(keys.meta)
        if not isinstance(meta, dict) or part not in meta:
            return None
        if part == "account":
            value = self._get(keys.snapshot)
            return {"": value} if isinstance(value, bytes) else {}
        key = keys.positions if part == "positions" else keys.open_orders
        content = self._get(key)
        return dict(content) if isinstance(content, dict) else {}

    async def _complete_parts(self, keys: CacheKeys) -> set[str] | None:
        meta = self._get(keys.meta)
        return set(meta) if isinstance(meta, dict) else set()

    def _deliver(self, channel: str, payload: bytes) -> None:
        for subscriber in list(self._subscribers):
            if subscriber.matches(channel):
                subscriber.deliver(payload)

    async def _send(self, account: str, payload: bytes) -> bool:
        self._deliver(self.keys(account).events, payload)
        return True

    def subscribe(self, account: str | None = None) -> Subscription:
        channel = None if account is None else self.keys(account).events
        return _MemorySubscription(self, channel, self.prefix)

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._subscribers.clear()
