"""The cache's state and events, on real Redis and in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import msgspec
import pytest
import redis

from alpaca_integration.cache import Cache, InMemoryCache, RedisCache, open_cache
from alpaca_integration.models import OrderClass, OrderStatus
from support.storage_builders import at, make_bracket_leg, make_order, make_position, make_snapshot


def _bare(model: object) -> object:
    return msgspec.structs.replace(model, raw=b"")  # type: ignore[type-var]


async def test_state_round_trips_without_raw_payloads(cache: Cache) -> None:
    """Snapshot, a short and a fractional position, and open orders read back equal."""
    snapshot = make_snapshot(cash=Decimal("98765.4321"))
    positions = [make_position("TSLA", "-25"), make_position("AAPL", "0.123456789")]
    orders = [make_order(id="o-2", created_at=at(2)), make_order(id="o-1", created_at=at(1))]
    assert await cache.set_account("default", snapshot)
    assert await cache.set_positions("default", positions)
    assert await cache.set_open_orders("default", orders)
    assert await cache.get_account("default") == _bare(snapshot)
    assert await cache.get_positions("default") == [_bare(positions[1]), _bare(positions[0])]
    assert await cache.get_open_orders("default") == [_bare(orders[1]), _bare(orders[0])]


async def test_unknown_parts_are_none_and_known_empty_parts_are_empty(cache: Cache) -> None:
    """Never written: None. Written empty: [] (flat), which is not the same thing."""
    assert await cache.get_positions("default") is None
    assert await cache.get_open_orders("default") is None
    assert await cache.get_account("default") is None
    assert await cache.needs_rebuild("default") is True
    await cache.set_positions("default", [])
    await cache.set_open_orders("default", [])
    assert await cache.get_positions("default") == []
    assert await cache.get_open_orders("default") == []


async def test_open_orders_keep_only_open_ones_with_legs_flattened(cache: Cache) -> None:
    """Terminal orders are dropped; a bracket's held legs are entries of their own."""
    leg = make_bracket_leg("leg", "entry", client_order_id="v-leg", created_at=at(3))
    entry = make_order(id="entry", order_class=OrderClass.BRACKET, legs=(leg,), created_at=at(2))
    done = make_order(id="done", status=OrderStatus.FILLED, filled_qty=Decimal(10))
    await cache.set_open_orders("default", [entry, done])
    cached = await cache.get_open_orders("default")
    assert cached is not None
    assert [(o.id, o.parent_id, o.legs) for o in cached] == [
        ("entry", None, ()),
        ("leg", "entry", ()),
    ]


async def test_order_updates_add_open_orders_and_remove_terminal_ones(cache: Cache) -> None:
    """update_orders changes only the orders it is given."""
    await cache.set_open_orders(
        "default", [make_order(id="a"), make_order(id="b", created_at=at(1))]
    )
    await cache.update_orders(
        "default",
        [
            make_order(id="a", status=OrderStatus.CANCELED, updated_at=at(9)),
            make_order(id="c", created_at=at(5)),
        ],
    )
    cached = await cache.get_open_orders("default")
    assert cached is not None
    assert [o.id for o in cached] == ["b", "c"]


async def test_every_change_is_announced_with_its_kind_and_ids(cache: Cache) -> None:
    """Subscribers of an account get one event per change, in order, with the ids."""
    async with cache.subscribe("default") as events:
        await cache.set_account("default", make_snapshot())
        await cache.set_positions("default", [make_position("MSFT", "3"), make_position("AAPL")])
        await cache.set_open_orders("default", [make_order(id="o-7")])
        await cache.publish("default", {"kind": "sync", "orders": ["o-7"], "fills": ["x-1"]})
        await cache.set_account("other", make_snapshot())
        received = [await events.next_event(within=5) for _ in range(4)]
        assert await events.next_event(within=0.2) is None  # "other" is another channel
    assert [(e.kind, e.account, e.ids) for e in received if e is not None] == [
        ("account", "default", ()),
        ("positions", "default", ("AAPL", "MSFT")),
        ("open_orders", "default", ("o-7",)),
        ("sync", "default", ()),
    ]
    assert received[3] is not None
    assert received[3].data == {"orders": ["o-7"], "fills": ["x-1"]}


async def test_a_mirror_writes_every_part_at_once_and_announces_each_in_order(
    cache: Cache,
) -> None:
    """``mirror`` (what the sync engine calls after a commit, one round trip): snapshot,
    positions, order updates and fills are all readable after it, each announced by the event
    its own method would publish, in that order."""
    await cache.set_open_orders("default", [make_order(id="a"), make_order(id="b")])
    async with cache.subscribe("default") as events:
        assert await cache.mirror(
            "default",
            snapshot=make_snapshot(),
            positions=[make_position("MSFT", "3")],
            orders=[
                make_order(id="a", status=OrderStatus.FILLED, filled_qty=Decimal(10)),
                make_order(id="c", created_at=at(5)),
            ],
            fill_ids=["x-1"],
        )
        received = [await events.next_event(within=5) for _ in range(4)]
        assert await cache.mirror("default") is True  # nothing to write: nothing announced
        assert await events.next_event(within=0.2) is None
    assert [(e.kind, e.ids) for e in received if e is not None] == [
        ("account", ()),
        ("positions", ("MSFT",)),
        ("orders", ("a", "c")),
        ("fills", ("x-1",)),
    ]
    assert await cache.get_account("default") == _bare(make_snapshot())
    assert [p.symbol for p in await cache.get_positions("default") or []] == ["MSFT"]
    assert [o.id for o in await cache.get_open_orders("default") or []] == ["b", "c"]
    assert await cache.needs_rebuild("default") is False


async def test_a_subscription_to_every_account_sees_them_all(cache: Cache) -> None:
    """subscribe() without an account follows every account under the prefix."""
    async with cache.subscribe() as events:
        await cache.set_positions("main", [])
        await cache.set_positions("hedge", [])
        first = await events.next_event(within=5)
        second = await events.next_event(within=5)
    assert {e.account for e in (first, second) if e is not None} == {"main", "hedge"}


async def test_a_publish_without_a_kind_is_refused(cache: Cache) -> None:
    """A message must say what kind of change it is."""
    with pytest.raises(ValueError, match="kind"):
        await cache.publish("default", {"orders": []})


async def test_prefixes_keep_caches_apart(cache: Cache) -> None:
    """Another prefix on the same backend sees nothing of this one."""
    await cache.set_positions("default", [make_position()])
    if isinstance(cache, RedisCache):
        other: Cache = RedisCache(cache._url, prefix=cache.prefix + "x")
    else:
        other = InMemoryCache(prefix=cache.prefix + "x")
    try:
        assert await other.get_positions("default") is None
    finally:
        await other.aclose()


@pytest.fixture
async def redis_pair(
    redis_url: str, redis_namespace: str
) -> AsyncIterator[tuple[RedisCache, redis.Redis]]:
    """A RedisCache (TTL 120 s) under the test's namespace and a raw client to look at its
    keys; the namespace's keys are deleted afterwards."""
    cache = RedisCache(redis_url, prefix=redis_namespace, ttl=120, timeout=2.0)
    client = redis.Redis.from_url(redis_url)
    try:
        yield cache, client
    finally:
        await cache.aclose()
        keys = list(client.scan_iter(match=f"{redis_namespace}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.redis
async def test_redis_keys_follow_the_documented_layout_with_ttls(
    redis_pair: tuple[RedisCache, redis.Redis], redis_namespace: str
) -> None:
    """{prefix}:{account}:account|positions|open_orders|meta exist, each with the TTL."""
    cache, client = redis_pair
    await cache.set_account("main", make_snapshot())
    await cache.set_positions("main", [make_position("AAPL")])
    await cache.set_open_orders("main", [make_order(id="o-1")])
    keys = sorted(k.decode() for k in client.scan_iter(match=f"{redis_namespace}:*"))
    assert keys == [
        f"{redis_namespace}:main:{part}" for part in ("account", "meta", "open_orders", "positions")
    ]
    assert all(0 < client.ttl(k) <= 120 for k in keys)
    assert client.hkeys(f"{redis_namespace}:main:positions") == [b"AAPL"]
    stored = msgspec.json.decode(client.hget(f"{redis_namespace}:main:positions", "AAPL"))
    assert stored["qty"] == "10"  # decimals as strings


async def test_the_in_memory_cache_expires_an_idle_account() -> None:
    """After the TTL without writes every part is unknown and a rebuild is due."""
    now = [1000.0]
    cache = InMemoryCache(ttl=60, clock=lambda: now[0])
    await cache.set_positions("main", [make_position()])
    now[0] += 59
    assert await cache.get_positions("main") is not None
    now[0] += 2
    assert await cache.get_positions("main") is None
    assert await cache.needs_rebuild("main") is True


@pytest.mark.redis
async def test_open_cache_picks_the_implementation(redis_url: str, redis_namespace: str) -> None:
    """No URL: in memory. A URL: Redis."""
    memory = await open_cache(None)
    remote = await open_cache(redis_url, prefix=redis_namespace)
    try:
        assert isinstance(memory, InMemoryCache)
        assert isinstance(remote, RedisCache)
        assert await remote.ping()
    finally:
        await memory.aclose()
        await remote.aclose()


async def test_bad_names_are_refused_with_a_clear_error() -> None:
    """Prefixes and account names must be plain words (they become key names)."""
    with pytest.raises(ValueError, match="prefix"):
        InMemoryCache(prefix="")
    cache = InMemoryCache()
    with pytest.raises(ValueError, match="account"):
        await cache.set_positions("two words", [])


async def test_a_slow_subscriber_never_blocks_a_writer() -> None:
    """A subscriber that does not read loses its oldest events; writes go on."""
    cache = InMemoryCache()
    async with cache.subscribe("main") as events:
        for _ in range(10_050):
            assert await cache.publish("main", {"kind": "tick"})
        first = await asyncio.wait_for(events.__anext__(), 1)
        assert first.kind == "tick"


@pytest.mark.redis
async def test_a_write_meeting_a_key_of_the_wrong_type_writes_nothing(
    redis_pair: tuple[RedisCache, redis.Redis], redis_namespace: str
) -> None:
    """A cache write is all or nothing: with the meta key clobbered (a string where a hash
    belongs), the write fails before it stores a snapshot that would never expire."""
    cache, client = redis_pair
    client.set(f"{redis_namespace}:main:meta", "clobbered")
    assert not await cache.set_account("main", make_snapshot())
    assert client.exists(f"{redis_namespace}:main:account") == 0
