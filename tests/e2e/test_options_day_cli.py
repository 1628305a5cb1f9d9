"""An options and crypto day, monitored into real PostgreSQL, then checked by the real commands:
``alpacactl dq --strict``, ``alpacactl reconcile --dry-run`` and ``alpacactl reconcile`` run as
subprocesses against that store and simulator and find nothing, before the crypto fees post
(the coins already out of the position, no CFEE yet) and after the expiry day and midnight UTC
(the CFEE activities posted late, synced and attached by the ledger to their executions)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.ledger.records import MatchKind
from alpaca_integration.ledger.stored import load_stored_ledger
from alpaca_integration.ledger.updater import LedgerUpdater
from alpaca_integration.models import OrderRequest, OrderSide, TimeInForce
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import SyncEngine
from alpaca_integration.testing.compare import compare_with_venue, store_view
from support.cli_runs import child_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ACCOUNT = "default"
CALL_190 = "AAPL240304C00190000"
CALL_195 = "AAPL240304C00195000"
CALL_200 = "AAPL240304C00200000"


def _alpacactl(tmp_path: Path, base_url: str, database_url: str, *args: str) -> tuple[int, str]:
    """``alpacactl ARGS`` in its own process, configured as a user would (environment only)."""
    env = child_env(
        base_url,
        database_url,
        # The snapshot is as old as the test's last sync: under a loaded machine that may be
        # minutes, which stale_snapshot (3 update intervals) is not what this test is about.
        ALPACA_UPDATE_INTERVAL="600",
        COLUMNS="250",
    )
    alpacactl = str(Path(sys.executable).parent / "alpacactl")
    done = subprocess.run(
        [alpacactl, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    return done.returncode, done.stdout + done.stderr


async def _commands_find_nothing(tmp_path: Path, base_url: str, database_url: str) -> None:
    """dq --strict, reconcile --dry-run and reconcile: exit 0, nothing found."""
    for args, says in (
        (("dq", "--strict", "--no-save"), "data quality: every rule passed"),
        (("reconcile", "--dry-run"), f"{ACCOUNT}: no differences"),
        (("reconcile",), f"{ACCOUNT}: no differences"),
    ):
        code, output = await asyncio.to_thread(_alpacactl, tmp_path, base_url, database_url, *args)
        assert code == 0, (args, output)
        assert says in output, (args, output)
        assert "error" not in output.lower(), (args, output)


@pytest.mark.timeout(300)  # six alpacactl processes: each starts Python and the package
async def test_dq_and_reconcile_find_nothing_before_and_after_the_late_crypto_fees(
    options_day: SimulatorHandle, store: Store, postgres_url: str, tmp_path: Path
) -> None:
    venue = options_day
    for symbol, price in (
        ("AAPL", "190.00"),
        (CALL_190, "4.00"),
        (CALL_195, "2.00"),
        (CALL_200, "1.00"),
        ("BTC/USD", "40000"),
    ):
        await venue.aset_price(symbol, price)
    async with AlpacaClient(SIM_API_KEY, SIM_SECRET_KEY, venue.base_url, rate_limit=None) as client:
        for symbol, side in ((CALL_190, OrderSide.BUY), (CALL_200, OrderSide.BUY)):
            await client.submit_order(OrderRequest(symbol=symbol, side=side, qty=Decimal(1)))
        await client.submit_order(
            OrderRequest(symbol=CALL_195, side=OrderSide.SELL, qty=Decimal(1))
        )
        crypto = {"symbol": "BTC/USD", "time_in_force": TimeInForce.GTC}
        buy = await client.submit_order(
            OrderRequest(side=OrderSide.BUY, qty=Decimal("0.5"), **crypto)
        )
        await venue.atick()
        sell = await client.submit_order(
            OrderRequest(side=OrderSide.SELL, qty=Decimal("0.25"), **crypto)
        )
        await venue.atick()
        engine = SyncEngine(ACCOUNT, client, store)
        await engine.sync_all()
        await LedgerUpdater(store, ACCOUNT).update()

        # Before the fees post: the coins are already out of the position, no CFEE yet.
        assert await store.list_activities(ACCOUNT, activity_types=["CFEE"]) == []
        coins = {p.symbol: p.qty for p in await store.positions(ACCOUNT)}["BTCUSD"]
        assert coins == Decimal("0.24875")  # 0.5 - 0.25 filled, less 0.25% of 0.5 in BTC
        await _commands_find_nothing(tmp_path, venue.base_url, postgres_url)

        # An exercise, 16:00 New York (expiry: 200 call expires, short 195 call assigned), then
        # midnight UTC: the day's CFEE activities post.
        await venue.aset_price("AAPL", "197.00")
        await client.exercise_position(CALL_190)
        await venue.aadvance_clock(9 * 3600 + 1)
        await engine.sync_all()
        await LedgerUpdater(store, ACCOUNT).update()

    fees = await store.list_activities(ACCOUNT, activity_types=["CFEE"])
    by_order = {fee.order_id: fee for fee in fees}
    assert set(by_order) == {buy.id, sell.id}
    assert by_order[buy.id].qty == Decimal("-0.00125")
    assert by_order[sell.id].net_amount == Decimal("-25")  # 0.25% of 0.25 x 40000
    dump = await asyncio.to_thread(venue.dump, SIM_API_KEY)
    assert compare_with_venue(await store_view(store, ACCOUNT), dump) == []

    # The ledger found each late CFEE its execution: the buy's coins leave the buy's lot (a
    # crypto-fee match at the fee's price), the sell's USD fee is the sell's match's close fee
    # (each update here is a new updater, as each `alpacactl pnl` is: the stored match written
    # before the CFEE posted is rewritten).
    ledger = await load_stored_ledger(store, ACCOUNT)
    [coin_fee] = [m for m in ledger.matches if m.kind is MatchKind.CRYPTO_FEE]
    assert (coin_fee.close_fill_id, coin_fee.qty) == (by_order[buy.id].id, Decimal("0.00125"))
    [sold] = [m for m in ledger.matches if m.symbol == "BTC/USD" and m.kind is MatchKind.TRADE]
    assert sold.close_fee == Decimal(25)
    held = sum((lot.qty for lot in ledger.lots if lot.symbol == "BTC/USD"), Decimal(0))
    assert held == Decimal("0.24875")

    await _commands_find_nothing(tmp_path, venue.base_url, postgres_url)
