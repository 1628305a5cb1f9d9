"""SyncEngine with one bad record on a REST page: the good items beside it are stored, the bad one
is a quarantine row with its raw payload and reason, the sync completes, and a second sync adds no
second row. Also: fees attached to fills of an earlier page are counted once, never on a replay.

A real AlpacaClient on an ``httpx.MockTransport`` venue with Alpaca's paging (orders by exclusive
``after`` on ``submitted_at``, activities by ``page_token``); a real SQLite store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from alpaca_integration.errors import ParseError
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import FEED_ACTIVITIES
from support.paged_venue import (
    ACCOUNT,
    T0,
    PagedVenue,
    client_on,
    engine_for,
    fee_json,
    fill_json,
    order_json,
    store,
)

__all__ = ["store"]  # the fixture, used by name


async def test_one_unknown_order_status_is_quarantined_and_the_rest_are_stored(
    store: Store,
) -> None:
    """An order with an unknown status is a quarantine row (raw bytes, reason); the others are
    stored, the sync completes, and a second sync adds no second row."""
    orders = [order_json(f"o-{i}", T0 + dt.timedelta(seconds=i)) for i in range(5)]
    orders[2]["status"] = "teleported"
    venue = PagedVenue(orders, [])
    async with client_on(venue) as client:
        engine = engine_for(client, store)
        first = await engine.sync_orders()
        second = await engine.sync_orders()
    stored = (await store.dump(ACCOUNT))["orders"]
    assert sorted(stored) == ["o-0", "o-1", "o-3", "o-4"]
    assert first.quarantined == 1
    assert second.rows_changed == 0
    rows = await store.list_quarantine(ACCOUNT)
    assert len(rows) == 1
    (row,) = rows
    assert (row.record_kind, row.record_key, row.source) == ("order", "o-2", "rest")
    assert "teleported" in row.reason
    assert json.loads(row.raw) == orders[2]


async def test_a_bad_order_ending_a_full_page_does_not_stop_the_paging(store: Store) -> None:
    """With small pages, a bad order as the last item of a page still lets the listing move on
    past it: every good order after it is stored."""
    orders = [order_json(f"o-{i:02d}", T0 + dt.timedelta(seconds=i)) for i in range(12)]
    orders[3]["status"] = "teleported"  # the last item of the first page of 4
    orders[7]["status"] = "teleported"  # the last item of the second page
    venue = PagedVenue(orders, [])
    async with client_on(venue) as client:
        engine = engine_for(client, store)
        original = client.iter_orders

        def small_pages(**filters: Any) -> AsyncIterator[Any]:
            return original(page_size=4, **filters)

        engine.client.iter_orders = small_pages  # type: ignore[method-assign]
        report = await engine.sync_orders()
    stored = (await store.dump(ACCOUNT))["orders"]
    assert len(stored) == 10
    assert "o-11" in stored
    assert report.quarantined == 2
    assert {r.record_key for r in await store.list_quarantine(ACCOUNT)} == {"o-03", "o-07"}


async def test_a_malformed_fill_is_quarantined_and_the_fills_beside_it_are_stored(
    store: Store,
) -> None:
    """A FILL activity without a price is quarantined with its raw payload; the fills before and
    after it are stored and the activities checkpoint moves to the last good one."""
    orders = [order_json(f"o-{i}", T0 + dt.timedelta(seconds=i), "filled") for i in range(3)]
    for order in orders:
        order.update(filled_qty="10", filled_avg_price="100", filled_at=order["submitted_at"])
    activities = [
        fill_json(f"a-{i}", f"o-{i}", T0 + dt.timedelta(seconds=i, milliseconds=5))
        for i in range(3)
    ]
    del activities[1]["price"]
    venue = PagedVenue(orders, activities)
    async with client_on(venue) as client:
        engine = engine_for(client, store)
        await engine.sync_orders()
        first = await engine.sync_activities()
        again = await engine.sync_activities()
    dump = await store.dump(ACCOUNT)
    assert sorted(f["order_id"] for f in dump["fills"]) == ["o-0", "o-2"]
    assert first.quarantined == 1
    assert again.rows_changed == 0
    (row,) = await store.list_quarantine(ACCOUNT)
    assert (row.record_kind, row.record_key) == ("activity", "a-1")
    assert "price" in row.reason
    assert json.loads(row.raw) == activities[1]
    assert await store.get_checkpoint(ACCOUNT, FEED_ACTIVITIES) == "a-2"


async def test_without_the_hook_the_client_still_raises_on_a_bad_order() -> None:
    """The client's default (no on_bad_item) is unchanged: a bad item raises ParseError."""
    orders = [order_json("o-1", T0), order_json("o-2", T0 + dt.timedelta(seconds=1), "teleported")]
    async with client_on(PagedVenue(orders, [])) as client:
        with pytest.raises(ParseError, match="teleported"):
            [order async for order in client.iter_orders(direction="asc")]


async def test_a_fee_on_a_later_page_is_counted_once_and_a_replay_counts_none(
    store: Store,
) -> None:
    """A FEE whose FILL came on an earlier page is attached and counted as one fee; replaying the
    same pages from an older checkpoint reports 0 fees attached and leaves the fee as it was."""
    order = order_json("o-1", T0, "filled")
    order.update(filled_qty="10", filled_avg_price="100", filled_at=order["submitted_at"])
    at = T0 + dt.timedelta(milliseconds=5)
    activities = [
        fill_json("a-1", "o-1", at),
        fee_json("a-2", "o-1", at),
        fill_json("a-3", "o-1", at + dt.timedelta(seconds=1), cum_qty="10", qty="0.0001"),
    ]
    del activities[2]["order_id"]  # a bad FILL after the fee: it must not block the checkpoint
    venue = PagedVenue([order], activities)
    async with client_on(venue) as client:
        # batch_size=1: every activity is a page of its own, so the FEE never meets its FILL.
        engine = engine_for(client, store, batch_size=1)
        await engine.sync_orders()
        first = await engine.sync_activities()
        fee_after_first = (await store.dump(ACCOUNT))["fills"][0]["fee"]
        await store.apply(ACCOUNT, checkpoints={FEED_ACTIVITIES: "a-0"})
        replay = await engine.sync_activities()
    fills = (await store.dump(ACCOUNT))["fills"]
    assert first.fees_attached == 1
    assert str(fee_after_first) == "0.05"
    assert replay.fees_attached == 0
    assert replay.rows_changed == 0
    assert [str(f["fee"]) for f in fills] == ["0.05"]
    assert await store.get_checkpoint(ACCOUNT, FEED_ACTIVITIES) == "a-2"
