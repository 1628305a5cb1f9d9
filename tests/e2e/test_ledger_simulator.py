"""The stored ledger against the simulator, on real PostgreSQL: after the scripted session (every
order type and class, partial fills, a replace, a cancel), a 2:1 split of AAPL between its buys
and sells and a 1:10 reverse split of TSLA (both through the simulator's ``/_sim/split``), the
ledger's total P&L (realized net + unrealized net of open fees + income) equals the venue's
equity change (no cash flows in the session) to the cent, and its open lots add up to the
venue's positions (no position-vs-fills difference after the splits)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from test_sync_simulator import FAST_STREAM, _account, _client

from alpaca_integration.ledger.stored import load_stored_ledger
from alpaca_integration.ledger.updater import LedgerUpdater
from alpaca_integration.models import OrderRequest, OrderSide
from alpaca_integration.monitor.runtime import opened_store
from alpaca_integration.monitor.service import MonitorService
from alpaca_integration.simulator.testing import SIM_API_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import SyncEngine
from alpaca_integration.testing.sessions import DEMO_SYMBOLS, scripted_session

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

ACCOUNT = "default"
_CENT = Decimal("0.01")


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[Store]:
    async with opened_store(postgres_url, migrate=True) as opened:
        yield opened


async def _venue_quiet(sim: SimulatorHandle) -> None:
    """Until no order is open at the venue (bounded)."""
    for _ in range(100):
        dump = await asyncio.to_thread(sim.dump, SIM_API_KEY)
        if all(
            o["status"] in ("filled", "canceled", "expired", "replaced", "rejected")
            for o in dump["orders"]
        ):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("orders still open at the venue")


async def test_ledger_total_pnl_equals_the_venues_equity_change_to_the_cent(
    simulator_factory: Callable[..., SimulatorHandle], store: Store
) -> None:
    sim = simulator_factory(symbols=list(DEMO_SYMBOLS), liquidity_cap=Decimal(100), rate_limit=0)

    async def set_price(symbol: str, price: Decimal) -> None:
        await asyncio.to_thread(sim.set_price, symbol, price)

    async with _client(sim) as client:
        start = (await client.get_account()).equity
        await scripted_session(client, set_price, pause=0.3)
        await client.cancel_all_orders()
        await _venue_quiet(sim)
        await asyncio.to_thread(sim.split, "AAPL", 2)
        await asyncio.to_thread(sim.split, "TSLA", 1, 10)
        for side, qty in ((OrderSide.SELL, 7), (OrderSide.BUY, 3)):
            await client.submit_order(OrderRequest(symbol="AAPL", side=side, qty=Decimal(qty)))
        await client.submit_order(OrderRequest(symbol="TSLA", side=OrderSide.SELL, qty=Decimal(4)))
        await _venue_quiet(sim)
        for symbol, price in (await asyncio.to_thread(sim.prices)).items():
            await set_price(symbol, price)  # equity and position prices from one instant
        await SyncEngine(ACCOUNT, client, store).sync_all()
    await LedgerUpdater(store, ACCOUNT).update()
    ledger = await load_stored_ledger(store, ACCOUNT)
    venue = await asyncio.to_thread(sim.dump, SIM_API_KEY)

    held: dict[str, Decimal] = {}
    for lot in ledger.lots:
        held[lot.symbol] = held.get(lot.symbol, Decimal(0)) + lot.qty
    positions = {p["symbol"]: Decimal(p["qty"]) for p in venue["positions"] if Decimal(p["qty"])}
    assert held == positions
    assert any(m.symbol == "AAPL" and m.opened_at < m.closed_at for m in ledger.matches)

    valuations = ledger.valuations()
    assert all(v.unrealized is not None for v in valuations)
    total = (
        sum((m.net for m in ledger.matches), Decimal(0))
        + sum(
            (v.unrealized - v.lot.fee for v in valuations if v.unrealized is not None), Decimal(0)
        )
        + sum((i.amount for i in ledger.income), Decimal(0))
    )
    snapshot = await store.latest_snapshot(ACCOUNT)
    assert snapshot is not None
    assert snapshot.equity == Decimal(venue["equity"])
    assert total.quantize(_CENT) == (snapshot.equity - start).quantize(_CENT)


async def test_the_monitor_keeps_the_stored_ledger_up_to_date(
    simulator_factory: Callable[..., SimulatorHandle], store: Store
) -> None:
    """A round trip placed while the monitor runs shows up as a stored match (the periodic
    cycle updates the ledger after each account sync), without any ledger command."""
    sim = simulator_factory(rate_limit=0)
    await asyncio.to_thread(sim.set_price, "AAPL", "100.00")
    service = MonitorService(
        [_account(sim)], store, None, update_interval=0.5, stream_options=FAST_STREAM
    )
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.wait_started(), 10)
        async with _client(sim) as client:
            await client.submit_order(
                OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(5))
            )
            await _venue_quiet(sim)
            await asyncio.to_thread(sim.set_price, "AAPL", "101.00")
            await client.submit_order(
                OrderRequest(symbol="AAPL", side=OrderSide.SELL, qty=Decimal(5))
            )
            await _venue_quiet(sim)
        for _ in range(150):  # bounded wait for the next periodic cycles
            matches = await store.ledger_matches(ACCOUNT)
            if matches:
                break
            await asyncio.sleep(0.2)
    finally:
        service.stop()
        await runner
    (match,) = matches
    assert (match["symbol"], match["qty"], match["gross"]) == ("AAPL", Decimal(5), Decimal(5))
    state = await store.ledger_state(ACCOUNT)
    assert state is not None
    assert state["fills"] == 2
