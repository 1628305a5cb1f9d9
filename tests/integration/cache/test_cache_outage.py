"""A cache that is down never fails a database write, and is rebuilt from the store after."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import msgspec
import pytest
from cache_servers import ThrowawayRedis

from alpaca_integration.cache import RedisCache, rebuild_from_store, refresh_cache
from alpaca_integration.models import AccountSnapshot, Order, OrderStatus, Position
from alpaca_integration.storage import Store
from support.storage_builders import at, make_order, make_position, make_snapshot

pytestmark = pytest.mark.redis


async def _write_through(
    store: Store,
    cache: RedisCache,
    account: str,
    *,
    orders: list[Order] | None = None,
    positions: list[Position] | None = None,
    snapshot: AccountSnapshot | None = None,
) -> bool:
    """What the sync engine does: the store first (it must succeed), then the cache."""
    result = await store.apply(account, orders=orders or (), positions=positions, snapshot=snapshot)
    assert result.changed
    ok = True
    if snapshot is not None:
        ok &= await cache.set_account(account, snapshot)
    if positions is not None:
        ok &= await cache.set_positions(account, positions)
    if orders is not None:
        ok &= await cache.set_open_orders(account, await store.open_orders(account))
    return ok


async def test_a_dead_cache_never_fails_a_store_write(tmp_path: Path) -> None:
    """With nothing listening where Redis should be, every write reaches the store, the cache
    writes report False and the account is marked stale."""
    async with await Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        cache = RedisCache("redis://127.0.0.1:1/0", prefix="aitest-dead", timeout=0.2)
        try:
            ok = await _write_through(
                store, cache, "main", orders=[make_order()], positions=[make_position()]
            )
            assert ok is False
            assert cache.is_stale("main")
            assert await cache.needs_rebuild("main")
            assert await cache.get_positions("main") is None
            assert [o.id for o in await store.open_orders("main")] == ["o-1"]
        finally:
            await cache.aclose()


async def test_the_cache_is_rebuilt_from_the_store_when_redis_returns(
    tmp_path: Path, throwaway_redis: ThrowawayRedis
) -> None:
    """Redis stops mid-session (its data lost); the store keeps every write; once Redis is
    back, refresh_cache notices and rebuilds; afterwards nothing more is to be done."""
    async with await Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        cache = RedisCache(throwaway_redis.url, prefix="aitest", timeout=0.3, retry_after=0.0)
        try:
            assert await _write_through(
                store, cache, "main", orders=[make_order()], snapshot=make_snapshot()
            )
            throwaway_redis.stop()
            assert not await _write_through(
                store,
                cache,
                "main",
                orders=[
                    make_order(status=OrderStatus.CANCELED, updated_at=at(9)),
                    make_order(id="o-2", client_order_id="ai-o-2", created_at=at(8)),
                ],
                positions=[make_position("AAPL", "-3", observed_at=at(9))],
            )
            assert cache.is_stale("main")
            assert not await refresh_cache(cache, store, "main")  # still down: nothing done
            throwaway_redis.start()
            assert await cache.ping()
            assert await cache.needs_rebuild("main")
            assert await refresh_cache(cache, store, "main")
            assert not cache.is_stale("main")
            assert not await cache.needs_rebuild("main")
            assert not await refresh_cache(cache, store, "main")
            assert await cache.get_open_orders("main") == [
                msgspec.structs.replace(o, raw=b"") for o in await store.open_orders("main")
            ]
            cached_positions = await cache.get_positions("main")
            assert cached_positions is not None
            assert [(p.symbol, p.qty) for p in cached_positions] == [("AAPL", -3)]
            snapshot = await cache.get_account("main")
            assert snapshot is not None
            assert snapshot.cash == make_snapshot().cash
        finally:
            await cache.aclose()


async def test_parts_that_missed_a_write_are_marked_unknown_when_redis_answers_again(
    tmp_path: Path, throwaway_redis: ThrowawayRedis
) -> None:
    """Redis pauses (data kept): the positions write is lost; the next successful write marks
    the cached positions unknown, so no reader trusts the old ones until a rebuild."""
    cache = RedisCache(throwaway_redis.url, prefix="aitest", timeout=0.2, retry_after=0.0)
    client = throwaway_redis.client()
    try:
        await cache.set_positions("main", [make_position("AAPL", "10")])
        await cache.set_account("main", make_snapshot())
        # Long, and ended by UNPAUSE: a stalled machine must not see the pause lapse first.
        client.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
        assert not await cache.set_positions("main", [make_position("AAPL", "20")])
        client.execute_command("CLIENT", "UNPAUSE")
        assert await cache.set_account("main", make_snapshot(observed_at=at(50)))
        assert await cache.get_positions("main") is None
        assert await cache.needs_rebuild("main")
        async with await Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
            await store.apply("main", positions=[make_position("AAPL", "20", observed_at=at(40))])
            assert await rebuild_from_store(cache, store, "main")
        positions = await cache.get_positions("main")
        assert positions is not None
        assert [p.qty for p in positions] == [20]
    finally:
        client.close()
        await cache.aclose()


async def test_outage_messages_never_show_the_password(caplog: pytest.LogCaptureFixture) -> None:
    """The Redis password stays out of reprs and of the outage warning."""
    cache = RedisCache("redis://:hunter2@127.0.0.1:1/0", timeout=0.2)
    try:
        with caplog.at_level(logging.WARNING):
            assert not await cache.set_positions("main", [])
        assert "hunter2" not in repr(cache)
        assert caplog.records
        assert all("hunter2" not in r.getMessage() for r in caplog.records)
    finally:
        await cache.aclose()


async def test_a_write_cancelled_midway_leaves_the_parts_it_touched_stale(
    throwaway_redis: ThrowawayRedis,
) -> None:
    """A write cancelled while Redis holds it (a monitor's stop out of patience) may or may not
    land: the parts it touched are marked stale, in this process at once and in Redis itself
    once it answers (within the cache's timeout), so the account's next monitor (another cache
    object) rebuilds them instead of trusting them."""
    # A timeout far beyond the test's own waits: a stalled machine must not time the writes out.
    cache = RedisCache(throwaway_redis.url, prefix="aitest", timeout=30.0, retry_after=0.0)
    client = throwaway_redis.client()
    try:
        assert await cache.rebuild(
            "main",
            snapshot=make_snapshot(),
            positions=[make_position("AAPL", "10")],
            open_orders=[],
        )
        assert not await cache.needs_rebuild("main")
        # Long, and ended by UNPAUSE: a stalled machine must not see the pause lapse first.
        client.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
        write = asyncio.create_task(
            cache.mirror("main", positions=[make_position("AAPL", "20", observed_at=at(9))])
        )
        await asyncio.sleep(0.5)  # sent, and held by the pause
        write.cancel()
        await asyncio.sleep(0.1)
        assert cache.is_stale("main")  # in this process at once
        # Redis answers again within the cache's timeout: the mark reaches it too.
        await asyncio.to_thread(client.execute_command, "CLIENT", "UNPAUSE")
        with pytest.raises(asyncio.CancelledError):
            await write
        after = RedisCache(throwaway_redis.url, prefix="aitest", timeout=30.0)
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while not await after.needs_rebuild("main"):
                assert asyncio.get_running_loop().time() < deadline, "positions still trusted"
                await asyncio.sleep(0.1)
            assert await after.get_positions("main") is None
        finally:
            await after.aclose()
    finally:
        with contextlib.suppress(Exception):  # never hides the test's own failure
            client.execute_command("CLIENT", "UNPAUSE")
        client.close()
        await cache.aclose()
