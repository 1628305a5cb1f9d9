"""Builders of valid domain models for the correctness tests (override any field by keyword)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from alpaca_integration import models
from alpaca_integration.models import Order, OrderClass, OrderSide, OrderStatus, OrderType

__all__ = [
    "GOOD_STANDING",
    "NOW",
    "bracket_leg_fields",
    "make_activity",
    "make_fill",
    "make_filled_order",
    "make_mleg_order",
    "make_order",
    "make_position",
    "make_snapshot",
]

NOW = dt.datetime(2026, 6, 1, 15, 0, tzinfo=dt.UTC)

# The flags of an account in good standing (the same in Alpaca's JSON and in AccountSnapshot).
GOOD_STANDING: dict[str, bool] = {
    "pattern_day_trader": False,
    "trading_blocked": False,
    "transfers_blocked": False,
    "account_blocked": False,
    "shorting_enabled": True,
    "trade_suspended_by_user": False,
}


def make_order(**overrides: Any) -> Order:
    """A valid open limit buy of 10 AAPL."""
    fields: dict[str, Any] = {
        "id": "ord-1",
        "client_order_id": "ai-1",
        "symbol": "AAPL",
        "asset_id": None,
        "asset_class": models.AssetClass.US_EQUITY,
        "side": OrderSide.BUY,
        "type": OrderType.LIMIT,
        "time_in_force": models.TimeInForce.DAY,
        "order_class": OrderClass.SIMPLE,
        "status": OrderStatus.NEW,
        "qty": Decimal(10),
        "notional": None,
        "filled_qty": Decimal(0),
        "filled_avg_price": None,
        "limit_price": Decimal("100"),
        "stop_price": None,
        "trail_price": None,
        "trail_percent": None,
        "hwm": None,
        "extended_hours": False,
        "created_at": NOW - dt.timedelta(minutes=5),
        "updated_at": NOW - dt.timedelta(minutes=4),
        "submitted_at": NOW - dt.timedelta(minutes=5),
        "filled_at": None,
        "expired_at": None,
        "canceled_at": None,
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
    }
    fields.update(overrides)
    return Order(**fields)


def make_filled_order(**overrides: Any) -> Order:
    """Order o1 (client id ai-1), filled: 10 at 100."""
    filled: dict[str, Any] = {
        "id": "o1",
        "status": OrderStatus.FILLED,
        "filled_qty": Decimal(10),
        "filled_avg_price": Decimal(100),
    }
    return make_order(**{**filled, **overrides})


def bracket_leg_fields(leg_id: str, parent_id: str | None, *, stop: bool = False) -> dict[str, Any]:
    """The fields of a held sell leg of a bracket: the take-profit (a limit at 200), or with
    ``stop`` the stop-loss (a stop at 180)."""
    prices: dict[str, Any] = (
        {"type": OrderType.STOP, "limit_price": None, "stop_price": Decimal(180)}
        if stop
        else {"type": OrderType.LIMIT, "limit_price": Decimal(200)}
    )
    return {
        "id": leg_id,
        "side": OrderSide.SELL,
        "order_class": OrderClass.BRACKET,
        "status": OrderStatus.HELD,
        "parent_id": parent_id,
        **prices,
    }


def make_mleg_order(
    long_call: str = "AAPL250620C00100000",
    short_call: str = "AAPL250620C00110000",
    **overrides: Any,
) -> Order:
    """An open mleg call spread of 3 units, per unit buying 1 ``long_call`` and selling 2
    ``short_call`` to open, at a net limit of 2.50; the parent names no symbol or side."""
    legs = (
        make_order(id="leg-1", symbol=long_call, ratio_qty=Decimal(1), order_class=OrderClass.MLEG),
        make_order(
            id="leg-2",
            symbol=short_call,
            side=OrderSide.SELL,
            ratio_qty=Decimal(2),
            position_intent=models.PositionIntent.SELL_TO_OPEN,
            order_class=OrderClass.MLEG,
        ),
    )
    fields: dict[str, Any] = {
        "id": "mleg-1",
        "symbol": "",
        "side": None,
        "asset_class": models.AssetClass.UNKNOWN,
        "order_class": OrderClass.MLEG,
        "qty": Decimal(3),
        "limit_price": Decimal("2.50"),
        "legs": legs,
    }
    fields.update(overrides)
    return make_order(**fields)


def make_fill(**overrides: Any) -> models.Fill:
    """A valid full fill of 10 AAPL at 100 for ord-1."""
    fields: dict[str, Any] = {
        "fill_id": "exec-1",
        "execution_id": "exec-1",
        "activity_id": None,
        "order_id": "ord-1",
        "symbol": "AAPL",
        "side": OrderSide.BUY,
        "qty": Decimal(10),
        "price": Decimal(100),
        "timestamp": NOW - dt.timedelta(minutes=3),
        "fill_type": models.FillType.FILL,
        "cum_qty": Decimal(10),
        "leaves_qty": Decimal(0),
        "source": models.DataSource.STREAM,
    }
    fields.update(overrides)
    return models.Fill(**fields)


def make_activity(**overrides: Any) -> models.Activity:
    """A valid regulatory fee activity."""
    fields: dict[str, Any] = {
        "id": "20260601150000000::fee-1",
        "activity_type": "FEE",
        "date": NOW.date(),
        "transaction_time": NOW - dt.timedelta(minutes=3),
        "net_amount": Decimal("-0.02"),
        "symbol": "AAPL",
        "order_id": "ord-1",
    }
    fields.update(overrides)
    return models.Activity(**fields)


def make_position(**overrides: Any) -> models.Position:
    """A valid long position of 10 AAPL at 100, marked at 110."""
    fields: dict[str, Any] = {
        "symbol": "AAPL",
        "asset_id": None,
        "asset_class": models.AssetClass.US_EQUITY,
        "exchange": "NASDAQ",
        "side": models.PositionSide.LONG,
        "qty": Decimal(10),
        "qty_available": Decimal(10),
        "avg_entry_price": Decimal(100),
        "market_value": Decimal(1100),
        "cost_basis": Decimal(1000),
        "unrealized_pl": Decimal(100),
        "unrealized_plpc": Decimal("0.1"),
        "unrealized_intraday_pl": None,
        "unrealized_intraday_plpc": None,
        "current_price": Decimal(110),
        "lastday_price": Decimal(105),
        "change_today": None,
        "observed_at": NOW,
    }
    fields.update(overrides)
    return models.Position(**fields)


def make_snapshot(**overrides: Any) -> models.AccountSnapshot:
    """A valid margin account snapshot: cash 9000, long 1100, equity 10100."""
    fields: dict[str, Any] = {
        "account_id": "acct-1",
        "account_number": "PA0001",
        "status": "ACTIVE",
        "currency": "USD",
        "cash": Decimal(9000),
        "equity": Decimal(10100),
        "last_equity": Decimal(10000),
        "buying_power": Decimal(20200),
        "regt_buying_power": Decimal(20200),
        "daytrading_buying_power": Decimal(40400),
        "non_marginable_buying_power": Decimal(9000),
        "long_market_value": Decimal(1100),
        "short_market_value": Decimal(0),
        "portfolio_value": Decimal(10100),
        "initial_margin": Decimal(550),
        "maintenance_margin": Decimal(330),
        "last_maintenance_margin": Decimal(300),
        "multiplier": Decimal(2),
        "sma": Decimal(0),
        "daytrade_count": 0,
        "accrued_fees": Decimal(0),
        **GOOD_STANDING,
        "created_at": NOW - dt.timedelta(days=30),
        "observed_at": NOW,
    }
    fields.update(overrides)
    return models.AccountSnapshot(**fields)
