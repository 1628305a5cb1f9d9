"""The live feed (``dashboard.live``): the cache's notifications become numbered change events
naming the parts of the pages to fetch again; a page that fell behind gets one catch-up; with
no notification to follow, polling the store finds the writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from alpaca_integration.cache import InMemoryCache
from alpaca_integration.dashboard.live import ALL_PARTS, LiveEvent, LiveFeed
from alpaca_integration.storage import Store
from support.storage_builders import make_order, make_position, make_snapshot

ACCOUNT = "default"


@pytest.fixture
async def feed(sqlite_store: Store) -> AsyncIterator[tuple[LiveFeed, InMemoryCache]]:
    cache = InMemoryCache()
    await sqlite_store.apply(ACCOUNT, snapshot=make_snapshot())

    async def names() -> list[str]:
        return [ACCOUNT, "other"]

    live = LiveFeed(sqlite_store, cache, names, mode="cache", checks_interval=0.05)
    live.start()
    await asyncio.sleep(0.05)  # the subscription is open
    try:
        yield live, cache
    finally:
        await live.aclose()


async def _next(listener: object, within: float = 5.0) -> LiveEvent:
    event = await listener.next(within)  # type: ignore[attr-defined]
    assert event is not None, "no event arrived"
    return event


async def test_a_commit_burst_becomes_one_numbered_event(
    feed: tuple[LiveFeed, InMemoryCache],
) -> None:
    """What one commit announces (account, positions, orders, fills) arrives as one event
    naming those parts, numbered after the one before."""
    live, cache = feed
    async with live.listen([ACCOUNT]) as listener:
        before = live.current_id()
        await cache.set_account(ACCOUNT, make_snapshot())
        await cache.set_positions(ACCOUNT, [make_position()])
        await cache.update_orders(ACCOUNT, [make_order()])
        await cache.publish(ACCOUNT, {"kind": "fills", "ids": ["x-1"]})
        event = await _next(listener)
    assert event.kind == "change"
    assert event.parts == {"account", "positions", "orders", "fills"}
    assert event.id != before
    assert event.id == live.current_id()
    assert listener.queue.empty()


async def test_a_listener_hears_only_its_accounts(feed: tuple[LiveFeed, InMemoryCache]) -> None:
    """A page of one account is not woken by another account's changes."""
    live, cache = feed
    async with live.listen(["other"]) as other, live.listen(None) as everyone:
        await cache.update_orders(ACCOUNT, [make_order()])
        assert (await _next(everyone)).account == ACCOUNT
        assert await other.next(0.2) is None


async def test_a_page_behind_its_accounts_gets_a_catch_up(
    feed: tuple[LiveFeed, InMemoryCache],
) -> None:
    """``missed``: a page rendered before a change of its account is behind; one rendered after
    it, or showing another account, is not; an id from another boot or garbage always is."""
    live, cache = feed
    rendered = live.current_id()
    assert not live.missed(rendered, frozenset({ACCOUNT}))
    async with live.listen(None) as listener:
        await cache.update_orders(ACCOUNT, [make_order()])
        await _next(listener)
    assert live.missed(rendered, frozenset({ACCOUNT}))
    assert live.missed(rendered, None)
    assert not live.missed(rendered, frozenset({"other"}))
    assert not live.missed(live.current_id(), frozenset({ACCOUNT}))
    assert live.missed("0000-1", frozenset({ACCOUNT}))
    assert live.missed("garbage", frozenset({ACCOUNT}))
    assert not live.missed(None, frozenset({ACCOUNT}))


async def test_the_event_stream_opens_with_its_mode_and_the_catch_up(
    feed: tuple[LiveFeed, InMemoryCache],
) -> None:
    """A browser reconnecting with an old id reads the retry hint, the mode, then one change
    naming every part before the live events."""
    live, cache = feed
    rendered = live.current_id()
    async with live.listen(None) as listener:
        await cache.update_orders(ACCOUNT, [make_order()])
        await _next(listener)
    stream = live.stream(frozenset({ACCOUNT}), rendered)
    messages = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    assert messages[0] == "retry: 1000\n\n"
    assert "event: mode" in messages[1]
    assert '"mode": "cache"' in messages[1]
    assert "event: change" in messages[2]
    assert all(part in messages[2] for part in ALL_PARTS)


async def test_a_listener_that_falls_behind_gets_one_catch_up(
    feed: tuple[LiveFeed, InMemoryCache],
) -> None:
    """A browser that stops reading is not queued without bound: once its queue is full it gets
    one change naming every part instead of what it missed."""
    live, _cache = feed
    async with live.listen(None) as listener:
        # One change of each of many accounts: one flush, more events than the queue holds.
        for n in range(listener.queue.maxsize + 20):
            live.publish(f"account-{n}", {"orders"})
        while not listener.fell_behind:
            await asyncio.sleep(0.01)
        assert listener.queue.full()
        while not listener.queue.empty():
            listener.queue.get_nowait()
        event = await _next(listener)
    assert event.parts == ALL_PARTS


async def test_correctness_rows_are_polled_beside_the_cache(
    feed: tuple[LiveFeed, InMemoryCache], sqlite_store: Store
) -> None:
    """The cache does not announce a quarantined record: the feed's poll of the correctness
    tables does, as a checks change."""
    live, _cache = feed
    await asyncio.sleep(0.2)  # the poll has its baseline
    async with live.listen([ACCOUNT]) as listener:
        await sqlite_store.insert_quarantine(
            ACCOUNT,
            record_kind="order",
            record_key="o-9",
            reason="unknown status",
            raw=b"{}",
            source="rest",
        )
        event = await _next(listener)
    assert event.parts == {"checks"}


async def test_polling_finds_what_the_monitor_wrote(sqlite_store: Store) -> None:
    """With no notification to follow, a write to the store reaches the listener as a change of
    the parts it touched, and the page is told it is polling."""

    async def names() -> list[str]:
        return [ACCOUNT]

    live = LiveFeed(sqlite_store, None, names, mode="poll", poll_interval=0.05)
    try:
        async with live.listen([ACCOUNT]) as listener:
            await asyncio.sleep(0.2)
            await sqlite_store.apply(ACCOUNT, orders=[make_order()], positions=[make_position()])
            event = await _next(listener)
        assert {"orders", "positions"} <= event.parts
        assert "polling the store every 0.05 s" in live.description
    finally:
        await live.aclose()


def test_cache_mode_needs_a_cache(sqlite_store: Store) -> None:
    """Asking to follow notifications without a cache is a programming error, said at once."""

    async def names() -> list[str]:
        return []

    with pytest.raises(ValueError, match="needs a cache"):
        LiveFeed(sqlite_store, None, names, mode="cache")
