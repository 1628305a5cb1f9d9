"""Builders of realistic domain models for the storage and cache tests (override by keyword)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec

from alpaca_integration import models
from alpaca_integration.models import DataSource, Fill, Position
from support import correctness_factories as valid

__all__ = [
    "T0",
    "at",
    "fill_at",
    "make_activity",
    "make_bracket_leg",
    "make_fill",
    "make_order",
    "make_position",
    "make_snapshot",
    "positions_at",
    "rest_fill",
    "stream_fill",
]

T0 = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    """T0 plus ``seconds``."""
    return T0 + dt.timedelta(seconds=seconds)


def _raw(**fields: Any) -> bytes:
    return msgspec.json.encode({k: str(v) if v is not None else None for k, v in fields.items()})


def make_order(**overrides: Any) -> models.Order:
    """An accepted limit buy of 10 AAPL placed by the integration (client id ``ai-...``)."""
    order = valid.make_order(
        **{
            "id": "o-1",
            "client_order_id": "ai-o-1",
            "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
            "limit_price": Decimal("187.25"),
            "created_at": T0,
            "updated_at": at(1),
            "submitted_at": T0,
            **overrides,
        }
    )
    if "raw" in overrides:
        return order
    raw = _raw(id=order.id, status=order.status, filled_qty=order.filled_qty)
    return msgspec.structs.replace(order, raw=raw)


def make_bracket_leg(
    leg_id: str, parent_id: str | None, *, stop: bool = False, **overrides: Any
) -> models.Order:
    """A held sell leg of a bracket: the take-profit (a limit at 200), or with ``stop`` the
    stop-loss (a stop at 180)."""
    fields = valid.bracket_leg_fields(leg_id, parent_id, stop=stop)
    return make_order(**{**fields, **overrides})


def make_fill(**overrides: Any) -> Fill:
    """A full execution of o-1: 10 AAPL at 187.20, reported by the stream."""
    fill = valid.make_fill(
        **{
            "fill_id": "x-1",
            "execution_id": "x-1",
            "order_id": "o-1",
            "client_order_id": "ai-o-1",
            "price": Decimal("187.20"),
            "timestamp": at(2),
            "position_qty": Decimal(10),
            **overrides,
        }
    )
    if "raw" in overrides:
        return fill
    return msgspec.structs.replace(fill, raw=_raw(id=fill.fill_id, qty=fill.qty, src=fill.source))


def fill_at(
    source: DataSource,
    fill_id: str,
    cum_qty: str,
    qty: str,
    price: str,
    *,
    execution_id: str | None = None,
    activity_id: str | None = None,
    **kw: Any,
) -> Fill:
    """A fill ``fill_id`` reported by ``source``: ``qty`` at ``price`` taking its order to
    ``cum_qty`` (quantities and price as text), with no execution or activity id unless given;
    ``kw`` set the rest."""
    return make_fill(
        fill_id=fill_id,
        execution_id=execution_id,
        activity_id=activity_id,
        cum_qty=Decimal(cum_qty),
        qty=Decimal(qty),
        price=Decimal(price),
        source=source,
        **kw,
    )


def stream_fill(
    order_id: str, execution_id: str, cum_qty: str, qty: str, price: str, **kw: Any
) -> Fill:
    """A fill event from trade_updates (execution id, cumulative qty = order.filled_qty)."""
    execution = {"execution_id": execution_id, "order_id": order_id, "leaves_qty": None}
    return fill_at(DataSource.STREAM, execution_id, cum_qty, qty, price, **execution, **kw)


def rest_fill(
    order_id: str, activity_id: str, cum_qty: str, qty: str, price: str, **kw: Any
) -> Fill:
    """The same execution as a REST FILL activity (activity id, cum_qty, no execution id)."""
    activity = {"activity_id": activity_id, "order_id": order_id, "client_order_id": None}
    return fill_at(
        DataSource.REST, activity_id, cum_qty, qty, price, position_qty=None, **activity, **kw
    )


def make_activity(**overrides: Any) -> models.Activity:
    """A cash dividend of 1.02."""
    fields: dict[str, Any] = {
        "id": "20260302000000000::div-1",
        "activity_type": "DIV",
        "activity_subtype": "CDIV",
        "date": T0.date(),
        "transaction_time": None,
        "net_amount": Decimal("1.02"),
        "qty": Decimal(2),
        "per_share_amount": Decimal("0.51"),
        "symbol": "T",
        "order_id": None,
        "status": "executed",
    }
    fields.update(overrides)
    if "raw" not in overrides:
        fields["raw"] = _raw(id=fields["id"], net_amount=fields["net_amount"])
    return valid.make_activity(**fields)


def make_snapshot(**overrides: Any) -> models.AccountSnapshot:
    """A paper account in good standing with 100,000 cash."""
    amounts = {
        "cash": "100000",
        "equity": "100000",
        "last_equity": "99000.5",
        "buying_power": "200000",
        "regt_buying_power": "200000",
        "daytrading_buying_power": "0",
        "non_marginable_buying_power": "100000",
        "long_market_value": "0",
        "short_market_value": "0",
        "portfolio_value": "100000",
        "initial_margin": "0",
        "maintenance_margin": "0",
        "last_maintenance_margin": "0",
        "multiplier": "2",
        "sma": "0",
        "accrued_fees": "0",
    }
    fields: dict[str, Any] = {name: Decimal(value) for name, value in amounts.items()}
    fields.update(
        account_id="a1b2c3d4-0000-4000-8000-000000000001",
        account_number="PA3XYZ",
        status="ACTIVE",
        currency="USD",
        daytrade_count=0,
        created_at=T0 - dt.timedelta(days=30),
        observed_at=at(5),
    )
    fields.update(overrides)
    if "raw" not in overrides:
        fields["raw"] = _raw(cash=fields["cash"])
    return valid.make_snapshot(**fields)


def make_position(symbol: str = "AAPL", qty: str = "10", **overrides: Any) -> Position:
    """An open position (short when ``qty`` is negative) priced at 190."""
    quantity = Decimal(qty)
    price = Decimal("190")
    fields: dict[str, Any] = {
        "symbol": symbol,
        "asset_id": None,
        "asset_class": models.AssetClass.US_EQUITY,
        "exchange": "NASDAQ",
        "side": models.PositionSide.LONG if quantity >= 0 else models.PositionSide.SHORT,
        "qty": quantity,
        "qty_available": quantity,
        "avg_entry_price": Decimal("187.2"),
        "market_value": quantity * price,
        "cost_basis": quantity * Decimal("187.2"),
        "unrealized_pl": quantity * (price - Decimal("187.2")),
        "unrealized_plpc": Decimal("0.0149572649572649"),
        "unrealized_intraday_pl": None,
        "unrealized_intraday_plpc": None,
        "current_price": price,
        "lastday_price": Decimal("185"),
        "change_today": Decimal("0.0270270270270270"),
        "observed_at": at(5),
    }
    fields.update(overrides)
    if "raw" not in overrides:
        fields["raw"] = _raw(symbol=symbol, qty=fields["qty"])
    return Position(**fields)


def positions_at(when: dt.datetime, **qty_by_symbol: str) -> list[Position]:
    """A set of positions observed at ``when``: ``make_position(symbol, qty)`` per keyword."""
    return [make_position(symbol, qty, observed_at=when) for symbol, qty in qty_by_symbol.items()]
