"""Opening and closing what the monitor and the one-shot jobs work on: the store and the cache.

Imports ``storage`` and ``cache`` lazily (inside the functions), so importing this module stays
cheap; never the CLI, Prefect or the simulator.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alpaca_integration.cache import Cache
    from alpaca_integration.storage import Store

__all__ = [
    "close_store_and_cache",
    "open_store_and_cache",
    "opened_store",
    "opened_store_and_cache",
]


async def open_store_and_cache(
    database_url: str, redis_url: str | None, *, migrate: bool = False, cache_prefix: str = "alpaca"
) -> tuple[Store, Cache]:
    """The store (SQLite is migrated automatically; PostgreSQL when ``migrate``) and the cache."""
    from alpaca_integration.cache import open_cache
    from alpaca_integration.storage import Store

    store = await Store.open(database_url, migrate=migrate)
    try:
        cache = await open_cache(redis_url, prefix=cache_prefix)
    except BaseException:
        await store.aclose()
        raise
    return store, cache


async def close_store_and_cache(store: Store, cache: Cache | None) -> None:
    """Close what ``open_store_and_cache`` opened (the cache first: it may flush to the store)."""
    try:
        if cache is not None:
            await cache.aclose()
    finally:
        await store.aclose()


@contextlib.asynccontextmanager
async def opened_store(database_url: str, *, migrate: bool = False) -> AsyncIterator[Store]:
    """The store alone, closed on exit: for jobs that read it or write only result rows."""
    from alpaca_integration.storage import Store

    store = await Store.open(database_url, migrate=migrate)
    try:
        yield store
    finally:
        await store.aclose()


@contextlib.asynccontextmanager
async def opened_store_and_cache(
    database_url: str, redis_url: str | None, *, migrate: bool = False
) -> AsyncIterator[tuple[Store, Cache]]:
    """``open_store_and_cache`` as an ``async with``: both closed on exit."""
    store, cache = await open_store_and_cache(database_url, redis_url, migrate=migrate)
    try:
        yield store, cache
    finally:
        await close_store_and_cache(store, cache)
