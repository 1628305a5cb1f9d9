"""Fixtures of the cache tests: every ``cache`` test runs on real Redis and in memory; a
throwaway Redis server (own port, started and stopped by the test) plays outages."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from cache_servers import ThrowawayRedis

from alpaca_integration.cache import Cache, InMemoryCache, RedisCache

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(params=[pytest.param("redis", marks=pytest.mark.redis), "memory"])
async def cache(request: pytest.FixtureRequest, redis_namespace: str) -> AsyncIterator[Cache]:
    """A cache under a prefix no other test uses; Redis keys are deleted afterwards."""
    if request.param == "memory":
        yield InMemoryCache(prefix=redis_namespace)
        return
    url = str(request.getfixturevalue("redis_url"))
    opened = RedisCache(url, prefix=redis_namespace, timeout=2.0)
    try:
        yield opened
    finally:
        await opened.aclose()
        client = redis.Redis.from_url(url)
        try:
            keys = list(client.scan_iter(match=f"{redis_namespace}:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A running redis-server of this test's own (skipped where the binary is absent, except
    under ``CI=true``, where its absence fails the test as tests/conftest.py does)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is required under CI=true (the outage tests start their own)")
        pytest.skip("redis-server is not installed")
    server = ThrowawayRedis(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()
