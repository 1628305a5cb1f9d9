"""Bringing a cache back in line with the store, and choosing the implementation.

* ``await rebuild_from_store(cache, store, account)``: rewrite the account's cached snapshot,
  positions and open orders from the store in one atomic write (clears the stale mark).
* ``await refresh_cache(cache, store, account)``: the detection half: rebuild only when the
  cache says it is stale, lost its data (a restarted Redis) or let it expire. Call it at every
  periodic sync; it costs one small read when all is well.
* ``await open_cache(redis_url, prefix=...)``: Redis when a URL is given, else in-memory.

Imports ``cache.base`` / ``cache.memory`` (and ``cache.redis_cache`` when a URL is given); the
store is only used through the three read methods named in ``StoreReader``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from alpaca_integration.cache.base import DEFAULT_PREFIX, DEFAULT_TTL, Cache
from alpaca_integration.cache.memory import InMemoryCache
from alpaca_integration.models import AccountSnapshot, Order, Position

__all__ = ["Rebuildable", "StoreReader", "open_cache", "rebuild_from_store", "refresh_cache"]

log = logging.getLogger(__name__)


class StoreReader(Protocol):
    """What a rebuild reads (``storage.Store`` has it); also the state reads of sync's and
    reconciliation's store seams (``sync.ports``)."""

    async def latest_snapshot(self, account: str) -> AccountSnapshot | None: ...

    async def positions(self, account: str) -> Sequence[Position]: ...

    async def open_orders(self, account: str) -> Sequence[Order]: ...


class Rebuildable(Protocol):
    """What a rebuild writes (``Cache`` has it)."""

    async def needs_rebuild(self, account: str) -> bool: ...

    async def rebuild(
        self,
        account: str,
        *,
        snapshot: AccountSnapshot | None,
        positions: Sequence[Position],
        open_orders: Sequence[Order],
    ) -> bool: ...


async def rebuild_from_store(cache: Rebuildable, store: StoreReader, account: str) -> bool:
    """Rewrite ``account``'s cached state from the store; True when the cache took it."""
    snapshot = await store.latest_snapshot(account)
    positions = list(await store.positions(account))
    open_orders = list(await store.open_orders(account))
    ok = await cache.rebuild(
        account, snapshot=snapshot, positions=positions, open_orders=open_orders
    )
    if ok:
        log.info(
            "cache rebuilt for %s: %d positions, %d open orders",
            account,
            len(positions),
            len(open_orders),
        )
    return ok


async def refresh_cache(cache: Rebuildable, store: StoreReader, account: str) -> bool:
    """Rebuild ``account`` when the cache needs it; True when a rebuild happened."""
    if not await cache.needs_rebuild(account):
        return False
    return await rebuild_from_store(cache, store, account)


async def open_cache(
    redis_url: str | None,
    *,
    prefix: str = DEFAULT_PREFIX,
    ttl: float = DEFAULT_TTL,
    command_timeout: float = 1.0,
) -> Cache:
    """Redis at ``redis_url`` (``redis://host:6379/0``), or the in-memory cache when it is
    None or empty. An unreachable Redis is not an error here: it is logged, and the cache
    catches up (``refresh_cache``) once Redis answers. ``command_timeout`` bounds every Redis
    command (seconds)."""
    if not redis_url:
        return InMemoryCache(prefix=prefix, ttl=ttl)
    from alpaca_integration.cache.redis_cache import RedisCache

    cache = RedisCache(redis_url, prefix=prefix, ttl=ttl, timeout=command_timeout)
    if not await cache.ping():
        log.warning("starting with the cache unreachable; it is rebuilt when it answers")
    return cache
