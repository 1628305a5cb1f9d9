"""Reconciliation end to end: the simulator as the broker, real PostgreSQL as the store, the store
made to drift on purpose (rows deleted, a stream gap never caught up, an order placed by alpaca-py
outside the integration). After `reconcile` the store equals the simulator's dump, every repair is
a row, and a second run finds nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.checks.reconcile import reconcile
from alpaca_integration.models import OrderRequest, OrderSide, OrderStatus
from alpaca_integration.sync.engine import SyncEngine
from alpaca_integration.testing import SIM_API_KEY, SIM_SECRET_KEY
from alpaca_integration.testing.compare import compare_with_venue, store_view
from support.order_requests import limit_buy
from support.sim_runs import priced_simulator, sim_account

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ACCOUNT = "default"


def _keys(simulator: Any) -> tuple[str, str]:
    return SIM_API_KEY, SIM_SECRET_KEY


@pytest.fixture
def simulator() -> Iterator[Any]:
    """A fresh always-open simulator (fixed seed, no rate limit), AAPL and MSFT at fixed prices."""
    with priced_simulator(7, MSFT="400.00") as handle:
        yield handle


async def _wait_filled(client: AlpacaClient, order_id: str) -> None:
    for _ in range(200):
        if (await client.get_order(order_id)).status is OrderStatus.FILLED:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"order {order_id} did not fill")


async def _session(client: AlpacaClient) -> list[str]:
    """A few orders of several kinds; returns the ids of the filled market orders."""
    filled: list[str] = []
    for symbol, qty in (("AAPL", "5"), ("MSFT", "3")):
        order = await client.submit_order(
            OrderRequest(symbol=symbol, side=OrderSide.BUY, qty=Decimal(qty))
        )
        await _wait_filled(client, order.id)
        filled.append(order.id)
    await client.submit_order(limit_buy("1", "1.00", symbol="MSFT"))
    return filled


@contextlib.asynccontextmanager
async def _synced_session(
    simulator: Any, store: Any
) -> AsyncIterator[tuple[AlpacaClient, list[str]]]:
    """A client of the simulator once the session's orders are placed (yields the filled ids)
    and synced into ``store``."""
    key, secret = _keys(simulator)
    async with AlpacaClient(key, secret, simulator.base_url, rate_limit=0) as client:
        filled = await _session(client)
        await SyncEngine(ACCOUNT, client, store).sync_all()
        yield client, filled


def _dump_equal(store_dump: dict[str, Any], venue_dump: dict[str, Any]) -> list[str]:
    return list(compare_with_venue(store_dump, venue_dump))


def _sql(postgres_url: str, statement: str, *params: Any) -> int:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.rowcount


async def _items(postgres_url: str, run_id: Any) -> list[tuple[str, str, str]]:
    def read() -> list[tuple[str, str, str]]:
        with psycopg.connect(postgres_url) as conn:
            rows = conn.execute(
                "select kind, subject, decision from reconciliation_items where run_id = %s",
                (run_id,),
            ).fetchall()
        return [(str(k), str(s), str(d)) for k, s, d in rows]

    return await asyncio.to_thread(read)


async def test_reconcile_repairs_drift_and_second_run_is_clean(
    simulator: Any, store: Any, postgres_url: str
) -> None:
    """Deleted rows, an uncaught stream gap and an external order are all repaired, each as a row."""
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide as PyOrderSide
    from alpaca.trading.enums import TimeInForce as PyTimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    key, secret = _keys(simulator)
    async with _synced_session(simulator, store) as (client, filled):
        # drift 1: rows deleted from the store
        assert _sql(postgres_url, "delete from fills where order_id = %s", filled[0]) >= 1
        assert _sql(postgres_url, "delete from orders where id = %s", filled[1]) == 1
        # drift 2: a stream gap never caught up (new trading the store never saw)
        gap = await client.submit_order(
            OrderRequest(symbol="AAPL", side=OrderSide.SELL, qty=Decimal(2))
        )
        await _wait_filled(client, gap.id)
        # drift 3: an order placed outside the integration, by alpaca-py
        external = await asyncio.to_thread(
            lambda: TradingClient(
                key, secret, paper=True, url_override=simulator.base_url
            ).submit_order(
                MarketOrderRequest(
                    symbol="MSFT", qty=1, side=PyOrderSide.BUY, time_in_force=PyTimeInForce.DAY
                )
            )
        )
        await _wait_filled(client, str(external.id))

        report = await reconcile(client, store, ACCOUNT)
        kinds = {(f.kind, f.subject) for f in report.findings}
        assert "fill_missing" in {k for k, _ in kinds}
        assert ("order_missing", filled[1]) in kinds
        assert ("order_missing", gap.id) in kinds
        assert ("order_missing", str(external.id)) in kinds
        assert any(k == "position_drift" for k, _ in kinds)

        rows = await _items(postgres_url, report.run_id)
        assert sorted(rows) == sorted((f.kind, f.subject, f.decision) for f in report.findings)

        venue = await asyncio.to_thread(simulator.dump, key)
        assert _dump_equal(await store_view(store, ACCOUNT), venue) == []
        stored_external = await store.get_order(ACCOUNT, str(external.id))
        assert stored_external is not None
        flags = await store.external_flags(ACCOUNT)
        assert flags[str(external.id)] is True
        assert flags[gap.id] is False

        second = await reconcile(client, store, ACCOUNT)
        assert second.findings == []
        assert await _items(postgres_url, second.run_id) == []


async def test_dry_run_writes_only_findings(simulator: Any, store: Any, postgres_url: str) -> None:
    """A dry run records the differences (as would_*) and leaves the store's data untouched."""
    async with _synced_session(simulator, store) as (client, filled):
        _sql(postgres_url, "delete from orders where id = %s", filled[0])
        before = await store.dump(ACCOUNT)
        report = await reconcile(client, store, ACCOUNT, dry_run=True)
        assert ("order_missing", filled[0], "would_inserted") in {
            (f.kind, f.subject, f.decision) for f in report.findings
        }
        assert await store.dump(ACCOUNT) == before
        assert len(await _items(postgres_url, report.run_id)) == len(report.findings)


async def test_missing_fill_inferred_from_cumulative_quantity(
    simulator: Any, store: Any, postgres_url: str
) -> None:
    """Without activities, a deleted fill is inferred from filled_qty and the average price, once."""
    async with _synced_session(simulator, store) as (client, filled):
        order = await client.get_order(filled[0])
        _sql(postgres_url, "delete from fills where order_id = %s", filled[0])
        report = await reconcile(client, store, ACCOUNT, use_activities=False)
        inferred = [f for f in report.findings if f.kind == "fill_inferred"]
        assert [f.subject for f in inferred] == [
            f"reconcile-{filled[0]}-{order.filled_qty.normalize():f}"
        ]
        fills = await store.fills_for_order(ACCOUNT, filled[0])
        assert sum(f.qty for f in fills) == order.filled_qty
        assert sum(f.qty * f.price for f in fills) == order.filled_qty * order.filled_avg_price
        second = await reconcile(client, store, ACCOUNT, use_activities=False)
        assert [f for f in second.findings if f.kind.startswith("fill")] == []


async def _eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(200):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within 10 s: {what}")


async def test_positions_derived_from_the_stream_match_the_venue(
    simulator: Any, store: Any, postgres_url: str
) -> None:
    """Fills at 100 and 100.01 averaged by the stream equal the venue's position: no drift."""
    from alpaca_integration.service import MonitorService

    key, secret = _keys(simulator)
    # No periodic sync nor repair: after the first sync, positions come from stream fills alone.
    service = MonitorService(
        [sim_account(simulator, ACCOUNT)], store, None, update_interval=3600.0, reconcile_every=None
    )
    runner = asyncio.create_task(service.run())

    async def position_of(qty: int) -> bool:
        held = {p.symbol: p.qty for p in await store.positions(ACCOUNT)}
        return held.get("AAPL") == qty

    async def first_sync_done() -> bool:
        return await store.get_checkpoint(ACCOUNT, "account") is not None

    try:
        await asyncio.wait_for(service.wait_started(), 10)
        await _eventually(first_sync_done, "the first account sync")
        async with AlpacaClient(key, secret, simulator.base_url, rate_limit=0) as client:
            for qty, price in (("1", "100.00"), ("2", "100.01")):
                simulator.set_price("AAPL", price)
                order = await client.submit_order(
                    OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(qty))
                )
                await _wait_filled(client, order.id)
            await _eventually(lambda: position_of(3), "the stream's position of 3 AAPL")
            report = await reconcile(client, store, ACCOUNT, dry_run=True)
    finally:
        service.stop()
        await runner
    [position] = await store.positions(ACCOUNT)
    [last_fill] = await store.fills_for_order(ACCOUNT, order.id)
    # Dated by this host's clock when the stream's fill was applied (the clock REST positions sets
    # are dated by; the simulator shares it): never before the fill itself.
    assert position.observed_at >= last_fill.timestamp
    assert [f.difference for f in report.findings if f.kind.startswith("position")] == []
    assert position.avg_entry_price == Decimal("100.0066666667")
