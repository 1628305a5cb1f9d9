"""Cache: the latest account snapshot, positions and open orders per account, with change events.

One interface (``Cache``, in ``cache.base``, where the key layout is documented), two
implementations: ``RedisCache`` (``cache.redis_cache``; shared with other processes) and
``InMemoryCache`` (``cache.memory``; the default). ``open_cache(redis_url)`` picks one;
``rebuild_from_store`` / ``refresh_cache`` bring a cache back in line with the store.

Importing this package does not import redis (``RedisCache`` loads it on first use).
Imports ``models`` and ``errors`` from the package; never the store, the client or the CLI.
"""

from __future__ import annotations

import importlib
from typing import Any

from alpaca_integration.cache import base as _base
from alpaca_integration.cache.base import *  # noqa: F403  (the interface and its key layout)
from alpaca_integration.cache.memory import InMemoryCache
from alpaca_integration.cache.rebuild import open_cache, rebuild_from_store, refresh_cache

__all__ = [
    *_base.__all__,
    "InMemoryCache",
    "RedisCache",  # noqa: F405  (loaded on first use: see __getattr__)
    "open_cache",
    "rebuild_from_store",
    "refresh_cache",
]


def __getattr__(name: str) -> Any:
    if name == "RedisCache":
        return importlib.import_module("alpaca_integration.cache.redis_cache").RedisCache
    raise AttributeError(f"module 'alpaca_integration.cache' has no attribute {name!r}")
