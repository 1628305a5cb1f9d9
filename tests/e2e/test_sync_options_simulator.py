"""The same options and crypto session through this package's own client, monitored into real
PostgreSQL: option contracts looked up, a single option bought, a two-leg spread as ``mleg``, a
crypto buy and sell, then an exercise and the expiry day; after each sync the store equals the
simulator's dump (orders with their legs, every fill with its fee, positions, cash) and neither
the data-quality rules nor a reconcile find anything."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.checks.quality import run_rules
from alpaca_integration.checks.reconcile import reconcile
from alpaca_integration.models import (
    MultiLegOrderRequest,
    OptionLegRequest,
    OrderRequest,
    OrderSide,
    OrderType,
    PositionIntent,
    TimeInForce,
)
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import SyncEngine
from alpaca_integration.testing.compare import compare_with_venue, store_view

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ACCOUNT = "default"
CALL_190 = "AAPL240304C00190000"
CALL_200 = "AAPL240304C00200000"
CALL_195 = "AAPL240304C00195000"


@pytest.fixture
def venue(options_day: SimulatorHandle) -> SimulatorHandle:
    sim = options_day
    for symbol, price in (
        ("AAPL", "190.00"),
        (CALL_190, "4.00"),
        (CALL_200, "1.00"),
        ("BTC/USD", "40000"),
    ):
        sim.set_price(symbol, price)
    return sim


async def _findings(client: AlpacaClient, store: Store) -> tuple[list[Any], list[Any]]:
    """What the data-quality rules (``alpacactl dq``) and a dry-run reconcile find."""
    quality = await run_rules(store, ACCOUNT, now=dt.datetime.now(dt.UTC), save=False)
    report = await reconcile(client, store, ACCOUNT, dry_run=True)
    return quality, list(report.findings)


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
        assert await _findings(client, store) == ([], [])
    assert coins.qty == Decimal("0.49875")  # 0.5 less the fee taken in BTC
    dump = await asyncio.to_thread(venue.dump, SIM_API_KEY)
    assert {p["symbol"] for p in dump["positions"]} == {"BTCUSD", CALL_190, CALL_200}
    assert report.quarantined == 0
    assert compare_with_venue(await store_view(store, ACCOUNT), dump) == []


async def test_after_the_expiry_day_the_store_still_equals_the_venue(
    venue: SimulatorHandle, store: Store
) -> None:
    """An exercise, then 16:00 New York: the long 200 call expires, the short 195 call is
    assigned; the next sync brings the store to the venue's positions and cash."""
    async with AlpacaClient(SIM_API_KEY, SIM_SECRET_KEY, venue.base_url, rate_limit=None) as client:
        await venue.aset_price(CALL_195, "2.00")
        for symbol, side in ((CALL_190, OrderSide.BUY), (CALL_200, OrderSide.BUY)):
            await client.submit_order(OrderRequest(symbol=symbol, side=side, qty=Decimal(1)))
        await client.submit_order(
            OrderRequest(symbol=CALL_195, side=OrderSide.SELL, qty=Decimal(1))
        )
        engine = SyncEngine(ACCOUNT, client, store)
        await engine.sync_all()
        await venue.aset_price("AAPL", "197.00")
        await client.exercise_position(CALL_190)
        await venue.aadvance_clock(6 * 3600 + 1)
        await engine.sync_all()
        assert await _findings(client, store) == ([], [])
    dump = await asyncio.to_thread(venue.dump, SIM_API_KEY)
    kinds = sorted(a["activity_type"] for a in dump["activities"] if a["activity_type"] != "FILL")
    assert kinds == ["FEE", "OPASN", "OPEXC", "OPEXP", "OPTRD", "OPTRD"]
    assert dump["positions"] == []  # +100 AAPL exercised, -100 assigned
    assert compare_with_venue(await store_view(store, ACCOUNT), dump) == []
