"""The instrument columns (migration 0004): asset class and multiplier on orders, fills and
positions, written through the one write path and read back as they were."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from alpaca_integration.models import AssetClass, Order, OrderStatus, PositionSide
from alpaca_integration.storage import Store, downgrade, head_revision, upgrade
from alpaca_integration.storage.dialect import create_engine, parse_database_url
from support.storage_builders import at, make_fill, make_order, make_position, make_snapshot

CALL = "AAPL250620C00100000"
HUNDRED = Decimal(100)


def _option_order() -> Order:
    return make_order(
        id="o-opt",
        client_order_id="ai-o-opt",
        symbol=CALL,
        asset_class=AssetClass.US_OPTION,
        multiplier=HUNDRED,
        qty=Decimal(2),
        limit_price=Decimal("3.10"),
        status=OrderStatus.FILLED,
        filled_qty=Decimal(2),
        filled_avg_price=Decimal("3.05"),
    )


async def test_option_and_crypto_rows_keep_their_class_and_multiplier(store: Store) -> None:
    """An option order, its fill and its position come back with us_option and 100; a crypto
    fill with crypto and 1 (before 0004 every read said us_equity / 1: an option's value was
    understated 100-fold wherever the store was the source)."""
    option_fill = make_fill(
        fill_id="x-opt",
        execution_id="x-opt",
        order_id="o-opt",
        client_order_id="ai-o-opt",
        symbol=CALL,
        qty=Decimal(2),
        cum_qty=Decimal(2),
        price=Decimal("3.05"),
        position_qty=Decimal(2),
        asset_class=AssetClass.US_OPTION,
        multiplier=HUNDRED,
    )
    coin_fill = make_fill(
        fill_id="x-btc",
        execution_id="x-btc",
        order_id="o-btc",
        client_order_id="ai-o-btc",
        symbol="BTC/USD",
        qty=Decimal("0.012345678"),
        cum_qty=Decimal("0.012345678"),
        price=Decimal("60000"),
        position_qty=Decimal("0.012345678"),
        asset_class=AssetClass.CRYPTO,
    )
    position = make_position(
        CALL,
        "2",
        asset_class=AssetClass.US_OPTION,
        multiplier=HUNDRED,
        avg_entry_price=Decimal("3.05"),
        cost_basis=Decimal("610"),
        market_value=Decimal("640"),
        current_price=Decimal("3.20"),
    )
    await store.apply(
        "default",
        orders=[_option_order()],
        fills=[option_fill, coin_fill],
        positions=[position],
        positions_at=at(5),
    )
    [order] = await store.list_orders("default")
    assert (order.asset_class, order.multiplier) == (AssetClass.US_OPTION, HUNDRED)
    fills = {fill.fill_id: fill for fill in await store.list_fills("default")}
    assert (fills["x-opt"].asset_class, fills["x-opt"].multiplier) == (
        AssetClass.US_OPTION,
        HUNDRED,
    )
    assert (fills["x-btc"].asset_class, fills["x-btc"].multiplier) == (
        AssetClass.CRYPTO,
        Decimal(1),
    )
    [held] = await store.positions("default")
    assert (held.asset_class, held.multiplier, held.side) == (
        AssetClass.US_OPTION,
        HUNDRED,
        PositionSide.LONG,
    )
    [history] = await store.positions_as_of("default", at(6))
    assert history.multiplier == HUNDRED
    # Closing it writes a flat history row that keeps the contract's multiplier.
    await store.apply("default", positions=[], positions_at=at(7))
    assert await store.positions("default") == []


async def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(parse_database_url(url))
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(lambda c: sa.inspect(c).get_columns(table))
            return {column["name"] for column in found}
    finally:
        await engine.dispose()


async def test_0004_upgrades_stored_rows_and_downgrades_cleanly(database_url: str) -> None:
    """Rows written before 0004 read us_equity and 1 after it; downgrading to 0003 drops the
    columns and keeps the rows; upgrading again works (PostgreSQL and SQLite)."""
    await upgrade(database_url)
    async with await Store.open(database_url) as store:
        await store.apply("default", orders=[make_order()], fills=[make_fill()])
        await store.apply("default", positions=[make_position()], positions_at=at(5))
    assert await downgrade(database_url, "0003_portfolio_history") == "0003_portfolio_history"
    for table in ("orders", "fills", "positions", "position_snapshots"):
        assert "multiplier" not in await _columns(database_url, table)
    assert "asset_class" not in await _columns(database_url, "fills")
    assert await upgrade(database_url) == head_revision()
    async with await Store.open(database_url) as store:
        [order] = await store.list_orders("default")
        [fill] = await store.list_fills("default")
        [position] = await store.positions("default")
        [history] = await store.positions_as_of("default", at(6))
    assert (order.asset_class, order.multiplier) == (AssetClass.US_EQUITY, Decimal(1))
    assert (fill.asset_class, fill.multiplier) == (AssetClass.US_EQUITY, Decimal(1))
    assert position.multiplier == history.multiplier == Decimal(1)


async def test_the_stored_snapshot_keeps_the_options_level_the_risk_check_reads(
    store: Store,
) -> None:
    """The account's options levels and options buying power survive the store, so a
    pre-trade check reading the store refuses a call bought at level 1 (before 0004 the
    snapshot read back without them and the level was never checked)."""
    from alpaca_integration.checks.risk import RiskLimits, make_pre_trade_check
    from alpaca_integration.errors import RiskLimitError
    from alpaca_integration.models import OrderRequest, OrderSide

    snapshot = make_snapshot(
        options_approved_level=3,
        options_trading_level=1,
        options_buying_power=Decimal("5000.5"),
    )
    await store.apply("default", snapshot=snapshot)
    stored = await store.latest_snapshot("default")
    assert stored is not None
    assert (stored.options_level, stored.options_buying_power) == (1, Decimal("5000.5"))
    check = make_pre_trade_check(store, RiskLimits.from_mapping({}), account="default")
    with pytest.raises(RiskLimitError, match="needs options level 2") as refused:
        await check(OrderRequest(symbol=CALL, side=OrderSide.BUY, qty=Decimal(1)))
    assert refused.value.limit == "options_level"
