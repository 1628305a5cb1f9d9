"""The default performance source (``LedgerPerformance``): realized P&L and open lots from the
pure ledger over the stored fills, returns from ``ledger.returns`` over the stored snapshots,
kept up to date as fills land (in or out of time order)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from alpaca_integration.dashboard import LedgerPerformance, create_app, running_dashboard
from alpaca_integration.ledger import Ledger
from alpaca_integration.models import OrderSide
from alpaca_integration.storage import Store
from support.storage_builders import (
    at,
    make_activity,
    make_fill,
    make_order,
    make_position,
    make_snapshot,
)

ACCOUNT = "default"


async def _trade(
    store: Store, n: int, side: OrderSide, qty: str, price: str, seconds: float, fee: str = "0"
) -> None:
    """One order of ``qty`` AAPL filled at once at ``price``, ``seconds`` after T0."""
    order_id = f"o-{n}"
    order = make_order(
        id=order_id,
        client_order_id=f"ai-{n}",
        side=side,
        qty=Decimal(qty),
        created_at=at(seconds - 1),
    )
    fill = make_fill(
        fill_id=f"x-{n}",
        execution_id=f"x-{n}",
        order_id=order_id,
        client_order_id=f"ai-{n}",
        side=side,
        qty=Decimal(qty),
        cum_qty=Decimal(qty),
        price=Decimal(price),
        fee=Decimal(fee),
        timestamp=at(seconds),
    )
    await store.apply(ACCOUNT, orders=[order], fills=[fill])


async def test_realized_pnl_and_open_lots_come_from_the_stored_fills(sqlite_store: Store) -> None:
    """Buy 10 at 100, buy 5 at 110, sell 12 at 120 (fee 1.50): FIFO closes the first lot and 2
    of the second; realized 200 + 20 - 1.50; one lot of 3 stays open at a cost of 330."""
    await _trade(sqlite_store, 1, OrderSide.BUY, "10", "100", 10)
    await _trade(sqlite_store, 2, OrderSide.BUY, "5", "110", 20)
    await _trade(sqlite_store, 3, OrderSide.SELL, "12", "120", 30, fee="1.50")
    provider = LedgerPerformance(sqlite_store)
    held = await provider.position_ledger(ACCOUNT)
    assert held is not None
    assert held["AAPL"].open_lots == 1
    assert held["AAPL"].realized_pl == Decimal("218.50")
    (lot,) = held["AAPL"].lots
    assert (lot.qty, lot.cost, lot.open_fill_id) == (Decimal(3), Decimal(330), "x-2")
    assert (await provider.pnl(ACCOUNT)).realized == Decimal("218.50")


async def test_the_ledger_follows_new_fills_in_or_out_of_time_order(sqlite_store: Store) -> None:
    """A fill stored after the ledger was built is booked at the next read; one older than the
    newest booked (a late REST catch-up) rebuilds it: always what a fresh ledger says, and the
    report's figures (turnover included) are a fresh provider's."""
    await sqlite_store.apply(ACCOUNT, snapshot=make_snapshot(equity=Decimal(10000)))
    provider = LedgerPerformance(sqlite_store)
    await _trade(sqlite_store, 1, OrderSide.BUY, "10", "100", 10)
    assert (await provider.position_ledger(ACCOUNT) or {})["AAPL"].open_lots == 1
    await _trade(sqlite_store, 2, OrderSide.SELL, "4", "105", 40)
    after_new = await provider.position_ledger(ACCOUNT)
    assert after_new is not None
    assert after_new["AAPL"].realized_pl == Decimal(20)
    await _trade(sqlite_store, 3, OrderSide.BUY, "6", "90", 20)  # older than the sale
    after_late = await provider.position_ledger(ACCOUNT)
    fresh = Ledger.rebuild(await sqlite_store.list_fills(ACCOUNT), account=ACCOUNT)
    assert after_late is not None
    assert after_late["AAPL"].lots == tuple(fresh.open_lots())
    assert after_late["AAPL"].realized_pl == Decimal(20)  # FIFO: the sale closed 4 of the first
    assert sum(lot.qty for lot in after_late["AAPL"].lots) == Decimal(12)
    await _trade(sqlite_store, 4, OrderSide.SELL, "2", "111", 50)  # extends, no rebuild
    kept, fresh_report = (
        await provider.report(ACCOUNT),
        await LedgerPerformance(sqlite_store).report(ACCOUNT),
    )
    assert kept.statistics == fresh_report.statistics
    fresh_provider = LedgerPerformance(sqlite_store)
    assert await provider.position_ledger(ACCOUNT) == await fresh_provider.position_ledger(ACCOUNT)
    assert (await provider.position_ledger(ACCOUNT) or {})["AAPL"].realized_pl == Decimal(
        42
    )  # 4 x 5 + 2 x 11
    assert dict(kept.statistics)["turnover"] == "0.22"  # (1000 + 420 + 540 + 222) / 10,000


async def test_the_report_has_the_time_weighted_return_without_the_deposit(
    sqlite_store: Store,
) -> None:
    """Two New York days: 100,000 then 110,000 with a 5,000 deposit on the second; the
    time-weighted return counts the deposit as capital, not as gain: 110,000 / 105,000 - 1."""
    day_two = dt.timedelta(days=1)
    await sqlite_store.apply(ACCOUNT, snapshot=make_snapshot(equity=Decimal(100000)))
    await sqlite_store.apply(
        ACCOUNT,
        snapshot=make_snapshot(equity=Decimal(110000), observed_at=at(5) + day_two),
        activities=[
            make_activity(
                id="csd-1",
                activity_type="CSD",
                activity_subtype=None,
                net_amount=Decimal(5000),
                qty=None,
                per_share_amount=None,
                symbol=None,
                date=(at(0) + day_two).date(),
            )
        ],
    )
    report = await LedgerPerformance(sqlite_store).report(ACCOUNT)
    charts = {chart.name: chart for chart in report.charts}
    assert {"equity", "drawdown", "daily-equity", "twr"} <= set(charts)
    expected = float(Decimal(110000) / Decimal(105000) - 1)
    assert charts["twr"].figure["data"][0]["y"] == [0.0, expected]
    assert charts["daily-equity"].figure["data"][0]["y"] == [100000.0, 110000.0]
    statistics = dict(report.statistics)
    assert statistics["time-weighted return"] == "+4.76%"
    assert statistics["days with a return"] == "1"
    assert "ledger" in report.source


async def test_the_positions_page_lists_the_open_lots(sqlite_store: Store, http: Any) -> None:
    """The positions page (the default provider) shows each open lot under the positions and
    the realized P&L beside its position."""
    await _trade(sqlite_store, 1, OrderSide.BUY, "10", "100", 10)
    await _trade(sqlite_store, 2, OrderSide.BUY, "5", "110", 20)
    await _trade(sqlite_store, 3, OrderSide.SELL, "12", "120", 30)
    await sqlite_store.apply(ACCOUNT, positions=[make_position(qty="3")], positions_at=at(40))
    page = await http(create_app(sqlite_store, None, None)).get("/positions")
    assert page.status_code == 200
    assert 'class="lot" data-symbol="AAPL"' in page.text
    assert 'data-fill-id="x-2"' in page.text
    assert "+220.00" in page.text  # realized
    assert "+240.00" in page.text  # the lot's unrealized P&L: 3 x 190 - 330
    assert "appear here once the ledger is connected" not in page.text


async def test_a_served_dashboard_builds_the_ledgers_before_a_page_asks(
    sqlite_store: Store,
) -> None:
    """At start-up the dashboard books every account's stored fills in the background, so the
    first page that needs the ledger does not wait for it."""
    await _trade(sqlite_store, 1, OrderSide.BUY, "10", "100", 10)
    provider = LedgerPerformance(sqlite_store)
    app = create_app(sqlite_store, None, None, performance=provider)
    assert provider.built == []
    async with running_dashboard(app):
        await app.state.dashboard.warmed()
        assert provider.built == [ACCOUNT]
