"""The same options and crypto session through this package's own client, monitored into real
PostgreSQL: option contracts looked up, a single option bought, a two-leg spread as ``mleg``, a
crypto buy and sell; after a sync the store equals the simulator's dump (orders with their legs,
every fill with its fee, positions, cash)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.models import (
    MultiLegOrderRequest,
    OptionLegRequest,
    OrderRequest,
    OrderSide,
    OrderType,
    PositionIntent,
    TimeInForce,
)
from alpaca_integration.monitor.runtime import opened_store
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import SyncEngine
from alpaca_integration.testing.compare import compare_with_venue, store_view

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ACCOUNT = "default"
MONDAY_10AM = dt.datetime(2024, 3, 4, 15, 0, tzinfo=dt.UTC)
CALL_190 = "AAPL240304C00190000"
CALL_200 = "AAPL240304C00200000"


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[Store]:
    async with opened_store(postgres_url, migrate=True) as opened:
        yield opened


@pytest.fixture
def venue(simulator_factory: Callable[..., SimulatorHandle]) -> SimulatorHandle:
    sim = simulator_factory(start_time=MONDAY_10AM, realtime=False, rate_limit=0)
    for symbol, price in (
        ("AAPL", "190.00"),
        (CALL_190, "4.00"),
        (CALL_200, "1.00"),
        ("BTC/USD", "40000"),
    ):
        sim.set_price(symbol, price)
    return sim


async def test_an_options_and_crypto_session_is_stored_as_the_venue_has_it(
    venue: SimulatorHandle, store: Store
) -> None:
    async with AlpacaClient(SIM_API_KEY, SIM_SECRET_KEY, venue.base_url, rate_limit=None) as client:
        contract = await client.get_option_contract(CALL_190)
        assert contract.underlying == "AAPL"
        await client.submit_order(OrderRequest(symbol=CALL_190, side=OrderSide.BUY, qty=Decimal(2)))
        await client.submit_order(
            MultiLegOrderRequest(
                qty=Decimal(1),
                type=OrderType.LIMIT,
                limit_price=Decimal("3.50"),
                legs=(
                    OptionLegRequest(
                        symbol=CALL_190,
                        side=OrderSide.BUY,
                        position_intent=PositionIntent.BUY_TO_OPEN,
                    ),
                    OptionLegRequest(
                        symbol=CALL_200,
                        side=OrderSide.SELL,
                        position_intent=PositionIntent.SELL_TO_OPEN,
                    ),
                ),
            )
        )
        crypto = {"symbol": "BTC/USD", "time_in_force": TimeInForce.GTC}
        await client.submit_order(OrderRequest(side=OrderSide.BUY, qty=Decimal("0.5"), **crypto))
        await venue.atick()
        coins = await client.get_position("BTCUSD")
        await client.submit_order(OrderRequest(side=OrderSide.SELL, qty=Decimal("0.25"), **crypto))
        await venue.atick()
        report = await SyncEngine(ACCOUNT, client, store).sync_all()
    assert coins.qty == Decimal("0.49875")  # 0.5 less the fee taken in BTC
    dump = await asyncio.to_thread(venue.dump, SIM_API_KEY)
    assert {p["symbol"] for p in dump["positions"]} == {"BTCUSD", CALL_190, CALL_200}
    assert report.quarantined == 0
    assert compare_with_venue(await store_view(store, ACCOUNT), dump) == []
