"""AlpacaClient and TradeUpdatesStream end to end against the simulator over real sockets: every
core operation, paging, unknown order outcomes, injected faults, stream drops."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest

from alpaca_integration import models
from alpaca_integration.alpaca.client import AlpacaClient, RetryPolicy
from alpaca_integration.alpaca.stream import TradeUpdatesStream
from alpaca_integration.errors import (
    InsufficientQtyError,
    NotFoundError,
    RequestRejectedError,
)
from alpaca_integration.models import OrderRequest, OrderSide, OrderStatus, TradeEventKind
from alpaca_integration.simulator.testing import (
    SIM_API_KEY,
    SIM_SECRET_KEY,
    SimulatorHandle,
)
from support.sim_runs import priced_simulator

pytestmark = pytest.mark.e2e

FAST_RETRY = RetryPolicy(max_attempts=6, base_delay=0.02, max_delay=0.2, max_elapsed=30)


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    """A fresh always-open simulator with a fixed seed and AAPL pinned at 100."""
    with priced_simulator(11) as handle:
        yield handle


@pytest.fixture
async def client(sim: SimulatorHandle) -> AsyncIterator[AlpacaClient]:
    async with AlpacaClient(
        SIM_API_KEY, SIM_SECRET_KEY, sim.base_url, retry=FAST_RETRY, rate_limit=0
    ) as alpaca:
        yield alpaca


async def settled(client: AlpacaClient, order_id: str, *statuses: OrderStatus) -> models.Order:
    """Poll until the order reaches one of ``statuses`` (the matcher runs in the background)."""
    deadline = asyncio.get_running_loop().time() + 15.0  # generous: CI machines are busy
    while True:
        order = await client.get_order(order_id, nested=True)
        if order.status in statuses:
            return order
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"order {order_id} stayed {order.status}")
        await asyncio.sleep(0.02)


def buy(qty: int = 10, **kw: Any) -> OrderRequest:
    return OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(qty), **kw)


async def test_calendar(client: AlpacaClient) -> None:
    """The calendar between two dates lists each trading day once, with UTC open/close."""
    days = await client.get_calendar(dt.date(2025, 6, 2), dt.date(2025, 6, 6))
    assert [d.date.isoformat() for d in days] == [f"2025-06-0{i}" for i in range(2, 7)]
    assert days[0].open == dt.datetime(2025, 6, 2, 13, 30, tzinfo=dt.UTC)


async def test_account_reference_and_market_operations(client: AlpacaClient) -> None:
    """Account, configurations (get/patch), clock, assets and portfolio history."""
    account = await client.get_account()
    assert account.cash == Decimal("100000")
    configuration = await client.get_account_configurations()
    changed = await client.update_account_configurations(no_shorting=not configuration.no_shorting)
    assert changed.no_shorting is not configuration.no_shorting
    assert (await client.get_account_configurations()).no_shorting is changed.no_shorting
    market_clock = await client.get_clock()
    assert market_clock.is_open
    assets = await client.list_assets(status="active")
    assert any(a.symbol == "AAPL" for a in assets)
    assert (await client.get_asset("AAPL")).tradable
    with pytest.raises(NotFoundError):
        await client.get_asset("NOSUCHSYMBOL")
    history = await client.get_portfolio_history(period="1W", timeframe="1D")
    assert len(history.timestamps) == len(history.equity)


async def test_orders_positions_and_activities(client: AlpacaClient) -> None:
    """Submit -> fill -> position -> FILL activity; get by id and client id; list with filters."""
    placed = await client.submit_order(buy(10, client_order_id="e2e-buy-1"))
    filled = await settled(client, placed.id, OrderStatus.FILLED)
    assert filled.filled_qty == Decimal(10)
    assert (await client.get_order_by_client_order_id("e2e-buy-1")).id == placed.id
    position = await client.get_position("AAPL")
    assert position.qty == Decimal(10)
    assert [p.symbol for p in await client.list_positions()] == ["AAPL"]
    closed = await client.list_orders(status="closed", symbols=["AAPL"], side="buy")
    assert [o.id for o in closed] == [placed.id]
    fills = [a async for a in client.iter_activities(activity_types=["FILL"])]
    assert sum(f.qty for f in fills if isinstance(f, models.Fill)) == Decimal(10)
    by_type = await client.get_activities_by_type("FILL")
    assert {a.order_id for a in by_type if isinstance(a, models.Fill)} == {placed.id}


async def test_replace_cancel_and_bracket_legs(client: AlpacaClient) -> None:
    """A resting limit is replaced then cancelled; a bracket shows its held legs when nested."""
    resting = await client.submit_order(
        buy(
            5,
            type=models.OrderType.LIMIT,
            limit_price=Decimal("50.00"),
            time_in_force=models.TimeInForce.GTC,
        )
    )
    await settled(client, resting.id, OrderStatus.NEW)
    replacement = await client.replace_order(resting.id, models.ReplaceRequest(qty=Decimal(3)))
    assert replacement.replaces == resting.id
    assert replacement.qty == Decimal(3)
    old = await settled(client, resting.id, OrderStatus.REPLACED)
    assert old.replaced_by == replacement.id
    await client.cancel_order(replacement.id)
    await settled(client, replacement.id, OrderStatus.CANCELED)

    bracket = await client.submit_order(
        buy(
            2,
            type=models.OrderType.LIMIT,
            limit_price=Decimal("60.00"),
            time_in_force=models.TimeInForce.GTC,
            order_class=models.OrderClass.BRACKET,
            take_profit=models.TakeProfit(limit_price=Decimal("120.00")),
            stop_loss=models.StopLoss(stop_price=Decimal("40.00")),
        )
    )
    nested = await client.get_order(bracket.id, nested=True)
    assert nested.order_class is models.OrderClass.BRACKET
    assert len(nested.legs) == 2
    assert {leg.status for leg in nested.legs} == {OrderStatus.HELD}
    results = await client.cancel_all_orders()
    assert bracket.id in {r.key for r in results}
    assert all(r.ok for r in results)


async def test_closing_positions(client: AlpacaClient) -> None:
    """Close part of one position, then everything; both answer with closing orders."""
    for symbol in ("AAPL", "MSFT"):
        order = await client.submit_order(
            OrderRequest(symbol=symbol, side=OrderSide.BUY, qty=Decimal(4))
        )
        await settled(client, order.id, OrderStatus.FILLED)
    partial = await client.close_position("AAPL", qty=Decimal(1))
    assert partial.side is OrderSide.SELL
    assert partial.qty == Decimal(1)
    await settled(client, partial.id, OrderStatus.FILLED)
    results = await client.close_all_positions(cancel_orders=True)
    assert {r.key for r in results} == {"AAPL", "MSFT"}
    for result in results:
        assert result.order is not None
        await settled(client, result.order.id, OrderStatus.FILLED)
    assert await client.list_positions() == []
    with pytest.raises(NotFoundError):
        await client.get_position("AAPL")


async def test_watchlists(client: AlpacaClient) -> None:
    """Create, get, add, remove, update, list and delete a watchlist."""
    created = await client.create_watchlist("tech", ["AAPL"])
    assert [a.symbol for a in created.assets] == ["AAPL"]
    added = await client.add_to_watchlist(created.id, "MSFT")
    assert [a.symbol for a in added.assets] == ["AAPL", "MSFT"]
    removed = await client.remove_from_watchlist(created.id, "AAPL")
    assert [a.symbol for a in removed.assets] == ["MSFT"]
    renamed = await client.update_watchlist(created.id, name="tech2", symbols=["SPY"])
    assert renamed.name == "tech2"
    assert [w.id for w in await client.list_watchlists()] == [created.id]
    assert (await client.get_watchlist(created.id)).name == "tech2"
    await client.delete_watchlist(created.id)
    assert await client.list_watchlists() == []


async def test_venue_refusals_are_typed(client: AlpacaClient) -> None:
    """Selling more than held, or an unknown symbol, come back as their error classes."""
    bought = await client.submit_order(buy(5))
    await settled(client, bought.id, OrderStatus.FILLED)
    with pytest.raises(InsufficientQtyError) as caught:
        await client.submit_order(OrderRequest(symbol="AAPL", side=OrderSide.SELL, qty=Decimal(50)))
    assert caught.value.extra["available"] == "5"
    with pytest.raises(RequestRejectedError):
        await client.submit_order(
            OrderRequest(symbol="NOSUCHSYMBOL", side=OrderSide.BUY, qty=Decimal(1))
        )


async def test_iter_orders_pages_every_order_once(client: AlpacaClient) -> None:
    """Thirty orders read seven at a time, both directions: each exactly once."""
    placed = await asyncio.gather(
        *(
            client.submit_order(
                buy(
                    1,
                    type=models.OrderType.LIMIT,
                    limit_price=Decimal("1.00"),
                    time_in_force=models.TimeInForce.GTC,
                )
            )
            for _ in range(30)
        )
    )
    expected = sorted(o.id for o in placed)
    for direction in ("desc", "asc"):
        ids = [o.id async for o in client.iter_orders(direction=direction, page_size=7)]  # type: ignore[arg-type]
        assert sorted(ids) == expected


@pytest.mark.parametrize("mode", ["close", "504"])
async def test_a_lost_submit_answer_places_exactly_one_order(
    sim: SimulatorHandle, client: AlpacaClient, mode: str
) -> None:
    """The venue takes the order but the answer is lost: the client finds it by client id."""
    sim.set_faults(lost_answer_next=1, lost_answer_mode=mode)
    order = await client.submit_order(buy(3, client_order_id=f"lost-{mode}"))
    assert order.client_order_id == f"lost-{mode}"
    dump = sim.dump(SIM_API_KEY)
    matching = [o for o in dump["orders"] if o["client_order_id"] == f"lost-{mode}"]
    assert len(matching) == 1


async def test_failing_submits_are_resent_under_the_same_id(
    sim: SimulatorHandle, client: AlpacaClient, caplog: pytest.LogCaptureFixture
) -> None:
    """500s before the venue acts: lookups say 404, the resend succeeds, one order exists."""
    sim.set_faults(route_error_rates={"POST /v2/orders": 0.5})
    with caplog.at_level(logging.INFO, logger="alpaca_integration.alpaca.client"):
        ids = [(await client.submit_order(buy(1))).client_order_id for _ in range(12)]
    sim.set_faults(route_error_rates={})
    # The faults really fired: some submits were resent after a 500 and a lookup.
    assert any("resending with the same id" in r.getMessage() for r in caplog.records)
    dump = sim.dump(SIM_API_KEY)
    counts = {cid: sum(1 for o in dump["orders"] if o["client_order_id"] == cid) for cid in ids}
    assert set(counts.values()) == {1}


async def test_reads_survive_server_errors(
    sim: SimulatorHandle, client: AlpacaClient, caplog: pytest.LogCaptureFixture
) -> None:
    """With a third of answers failing, every read still succeeds through retries."""
    sim.set_faults(error_rate=0.3)
    with caplog.at_level(logging.INFO, logger="alpaca_integration.alpaca.client"):
        clocks = [await client.get_clock() for _ in range(15)]
    sim.set_faults(error_rate=0.0)
    assert len(clocks) == 15
    assert all(c.next_open > c.timestamp or c.is_open for c in clocks)
    assert any("retry" in r.getMessage() for r in caplog.records)


async def test_stream_delivers_events_and_recovers_from_drops(
    sim: SimulatorHandle, client: AlpacaClient
) -> None:
    """new/fill events arrive; after the venue drops the stream, a gap is reported, on_connected
    runs again and later events still arrive."""
    gaps: list[str] = []
    connected = asyncio.Event()
    connects = 0

    async def on_connected() -> None:
        nonlocal connects
        connects += 1
        connected.set()

    async def on_gap(gap_from: dt.datetime, gap_to: dt.datetime, reason: str) -> None:
        assert gap_from <= gap_to
        gaps.append(reason)

    stream = TradeUpdatesStream(
        SIM_API_KEY,
        SIM_SECRET_KEY,
        sim.stream_url,
        on_connected=on_connected,
        on_gap=on_gap,
        initial_backoff=0.05,
        max_backoff=0.2,
        unclean_drop_wait=0.0,
    )
    received: list[models.TradeUpdate] = []

    async def consume() -> None:
        async for update in stream.updates():
            received.append(update)

    task = asyncio.create_task(consume())
    try:
        await asyncio.wait_for(connected.wait(), timeout=10)
        first = await client.submit_order(buy(2))
        await wait_for_event(received, first.id, TradeEventKind.FILL)
        connected.clear()
        sim.drop_streams()
        await asyncio.wait_for(connected.wait(), timeout=10)
        second = await client.submit_order(buy(1))
        await wait_for_event(received, second.id, TradeEventKind.FILL)
    finally:
        await stream.aclose()
        await asyncio.wait_for(task, timeout=10)
    assert connects == 2
    assert len(gaps) == 1
    assert stream.last_event_at is not None
    kinds = [u.event for u in received if u.order.id == first.id]
    assert kinds[0] in (TradeEventKind.PENDING_NEW, TradeEventKind.NEW)
    assert kinds[-1] is TradeEventKind.FILL


async def wait_for_event(
    received: list[models.TradeUpdate], order_id: str, kind: TradeEventKind
) -> None:
    for _ in range(500):
        if any(u.order.id == order_id and u.event is kind for u in received):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {kind} event for {order_id}: {[u.event_name for u in received]}")
