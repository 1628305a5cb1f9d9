"""SyncEngine against a real SQLite store: positions derived from stream fill events (never set
back by a late or duplicated event, dated by the venue, written per symbol so a holding the engine
has not seen survives), and the orders checkpoint (never moved by a leg's later time)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alpaca_integration.alpaca.parse import parse_trade_update
from alpaca_integration.cache import InMemoryCache
from alpaca_integration.errors import TransportError
from alpaca_integration.models import Order, OrderClass, OrderStatus, TradeUpdate
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import FEED_ORDERS, SyncEngine
from support.storage_builders import at, make_order, make_position

ACCOUNT = "default"
BASE = json.loads((Path(__file__).parents[2] / "data" / "ws_trade_updates_fill.json").read_text())[
    "data"
]
# Recent enough for the quality screen, fixed for the whole module.
T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).replace(microsecond=0)


def _event(
    execution_id: str,
    seconds: int,
    *,
    filled: str,
    qty: str,
    position: str,
    order_id: str | None = None,
    final: bool = False,
) -> TradeUpdate:
    data = copy.deepcopy(BASE)
    when = (T0 + dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")
    data.update(
        event="fill" if final else "partial_fill",
        timestamp=when,
        execution_id=execution_id,
        qty=qty,
        position_qty=position,
        price="100",
    )
    data["order"].update(
        updated_at=when,
        filled_at=when,
        filled_qty=filled,
        status="filled" if final else "partially_filled",
    )
    if order_id is not None:
        data["order"].update(id=order_id, client_order_id=f"ai-{order_id}")
    return parse_trade_update(data)


class _NoClient:
    """The stream path makes no request."""


async def _holdings(store: Store) -> dict[str, Decimal]:
    return {p.symbol: p.qty for p in await store.positions(ACCOUNT)}


async def test_a_late_duplicate_of_an_earlier_fill_does_not_set_the_position_back(
    store: Store,
) -> None:
    """Partial fill (40), fill (100), the partial again: the position stays 100, like the order."""
    engine = SyncEngine(ACCOUNT, _NoClient(), store)  # type: ignore[arg-type]
    first = _event("x1", 0, filled="40", qty="40", position="40")
    second = _event("x2", 1, filled="100", qty="60", position="100", final=True)
    await engine.apply_trade_updates([first])
    await engine.apply_trade_updates([second])
    await engine.apply_trade_updates([first])
    symbol = first.order.symbol
    assert (await _holdings(store))[symbol] == Decimal(100)
    stored = await store.get_order(ACCOUNT, first.order.id)
    assert stored is not None
    assert stored.filled_qty == Decimal(100)


async def test_an_older_fill_later_in_the_same_batch_does_not_set_the_position_back(
    store: Store,
) -> None:
    """Events delivered out of order in one batch: the one that does not advance its order is
    ignored for the position."""
    engine = SyncEngine(ACCOUNT, _NoClient(), store)  # type: ignore[arg-type]
    first = _event("x1", 0, filled="40", qty="40", position="40")
    second = _event("x2", 1, filled="100", qty="60", position="100", final=True)
    await engine.apply_trade_updates([second, first])
    assert (await _holdings(store))[first.order.symbol] == Decimal(100)


async def test_a_stream_position_is_dated_by_the_host_clock_like_a_rest_set(store: Store) -> None:
    """With the venue's clock 50 s ahead of the host's, a REST positions set read after a stream
    fill is newer and wins: the stream position is dated when this host applied it (the clock
    the REST set is dated by), never by the venue's timestamp (before, the venue-dated stream
    position outranked the newer REST set and the holding stayed wrong)."""
    applied = T0 + dt.timedelta(minutes=5)
    clock = iter([applied, applied])
    engine = SyncEngine(ACCOUNT, _NoClient(), store, now=lambda: next(clock, applied))  # type: ignore[arg-type]
    # The venue stamps the fill 50 s ahead of the host's clock.
    event = _event("x1", 350, filled="40", qty="40", position="40")
    await engine.apply_trade_updates([event])
    rest_read_at = applied + dt.timedelta(seconds=20)
    await engine.apply_reconciled(
        ACCOUNT, positions=[make_position(event.order.symbol, "25", observed_at=rest_read_at)]
    )
    assert await _holdings(store) == {event.order.symbol: Decimal(25)}
    (position,) = await store.positions(ACCOUNT)
    assert position.observed_at == rest_read_at


async def test_a_reconciled_holding_survives_the_next_stream_fill(store: Store) -> None:
    """A holding written after the engine first read positions (reconciliation adds MSFT) is not
    closed by a later fill of another symbol, in the store or in the cache."""
    cache = InMemoryCache()
    engine = SyncEngine(ACCOUNT, _NoClient(), store, cache)  # type: ignore[arg-type]
    first = _event("x1", 0, filled="100", qty="100", position="100", final=True)
    await engine.apply_trade_updates([first])
    symbol = first.order.symbol
    repaired_at = T0 + dt.timedelta(seconds=1)
    await engine.apply_reconciled(
        ACCOUNT,
        positions=[
            make_position(symbol, "100", observed_at=repaired_at),
            make_position("MSFT", "7", observed_at=repaired_at),
        ],
    )
    # A partial fill: a "filled" order with 1 of 100 filled is refused by validation, and a
    # refused event moves no position.
    later = _event("x3", 2, filled="1", qty="1", position="101", order_id="other")
    await engine.apply_trade_updates([later])
    assert await _holdings(store) == {symbol: Decimal(101), "MSFT": Decimal(7)}
    cached = await cache.get_positions(ACCOUNT)
    assert cached is not None
    assert {p.symbol: p.qty for p in cached} == {symbol: Decimal(101), "MSFT": Decimal(7)}


class _BreakingVenue:
    """Alpaca's order paging (exclusive ``after`` on the top-level order's time); the first
    listing breaks after its first order."""

    def __init__(self, orders: list[Order]) -> None:
        self.orders = orders
        self.fail = True

    async def iter_orders(
        self, *, after: dt.datetime | None = None, status: str = "all", **_: Any
    ) -> AsyncIterator[Order]:
        for order in self.orders:
            if status == "open" and order.is_terminal:
                continue
            if after is not None and (order.submitted_at or order.created_at) <= after:
                continue
            yield order
            if self.fail:
                raise TransportError("connection reset after the first page")

    async def get_order(self, order_id: str, **_: Any) -> Order:
        return next(o for o in self.orders if o.id == order_id)


def _placed(order_id: str, seconds: float, **fields: Any) -> Order:
    """Order ``order_id`` (client id ``ai-<id>``) submitted, created and last updated at
    ``at(seconds)``; ``fields`` set the rest."""
    times = {"submitted_at": at(seconds), "created_at": at(seconds), "updated_at": at(seconds)}
    return make_order(id=order_id, client_order_id=f"ai-{order_id}", **{**times, **fields})


async def test_an_interrupted_orders_sync_does_not_skip_orders_before_a_later_leg(
    store: Store,
) -> None:
    """A bracket whose leg was submitted 10 minutes after it does not move the checkpoint past
    an order submitted in between: the next sync still fetches that order."""
    leg = _placed(
        "leg-2", 600, parent_id="A", order_class=OrderClass.BRACKET, status=OrderStatus.NEW
    )
    root = _placed(
        "A",
        0,
        updated_at=at(600),
        order_class=OrderClass.BRACKET,
        status=OrderStatus.FILLED,
        legs=(leg,),
    )
    between = _placed("B", 120, status=OrderStatus.FILLED, updated_at=at(130))
    venue = _BreakingVenue([root, between])
    engine = SyncEngine(ACCOUNT, venue, store, batch_size=1, validate=False)  # type: ignore[arg-type]
    with pytest.raises(TransportError):
        await engine.sync_orders()
    checkpoint = await store.get_checkpoint(ACCOUNT, FEED_ORDERS)
    assert checkpoint is not None
    assert dt.datetime.fromisoformat(checkpoint) < at(120)
    venue.fail = False
    await engine.sync_orders()
    assert sorted(o.id for o in await store.list_orders(ACCOUNT)) == ["A", "B", "leg-2"]
