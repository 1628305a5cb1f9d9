"""Fills and activities for the ledger tests, with only the fields the ledger reads set."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec

from alpaca_integration.models import Activity, DataSource, Fill, FillType, OrderSide

__all__ = ["DAY0", "T0", "activity", "at", "fill", "legs"]

# Monday 2 March 2026, 10:00 in New York.
T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
DAY0 = dt.date(2026, 3, 2)


def at(minutes: float = 0, days: int = 0) -> dt.datetime:
    return T0 + dt.timedelta(days=days, minutes=minutes)


def fill(
    fill_id: str,
    side: str,
    qty: str | int,
    price: str | int,
    *,
    symbol: str = "AAPL",
    when: dt.datetime | None = None,
    fee: str | int = 0,
    order_id: str | None = None,
    client_order_id: str | None = None,
) -> Fill:
    return Fill(
        fill_id=fill_id,
        execution_id=fill_id,
        activity_id=None,
        order_id=order_id or f"order-{fill_id}",
        client_order_id=client_order_id,
        symbol=symbol,
        side=OrderSide(side),
        qty=Decimal(qty),
        price=Decimal(price),
        timestamp=when or T0,
        fee=Decimal(fee),
        fill_type=FillType.FILL,
        source=DataSource.STREAM,
    )


def activity(
    activity_id: str,
    activity_type: str,
    *,
    day: dt.date | None = None,
    when: dt.datetime | None = None,
    symbol: str | None = None,
    qty: str | int | None = None,
    price: str | int | None = None,
    net_amount: str | int | None = None,
    subtype: str | None = None,
    order_id: str | None = None,
    status: str | None = None,
    payload: dict[str, Any] | None = None,
) -> Activity:
    """An activity; ``payload`` becomes its raw JSON (group_id, details ...)."""
    return Activity(
        id=activity_id,
        activity_type=activity_type,
        activity_subtype=subtype,
        date=day if day is not None else (None if when is not None else DAY0),
        transaction_time=when,
        net_amount=None if net_amount is None else Decimal(net_amount),
        qty=None if qty is None else Decimal(qty),
        price=None if price is None else Decimal(price),
        symbol=symbol,
        order_id=order_id,
        status=status,
        raw=msgspec.json.encode(payload) if payload is not None else b"",
    )


def legs(
    kind: str,
    day: dt.date,
    removal: tuple[str, str | int, str | int],
    addition: tuple[str, str | int, str | int],
    *,
    group: str | None = None,
    subtype: str | None = None,
    details: dict[str, Any] | None = None,
) -> list[Activity]:
    """The removal and addition legs of a corporate action, REST-shaped: (symbol, qty, price)."""
    payload = {"group_id": group, **(details or {})} if group or details else None
    return [
        activity(
            f"{kind.lower()}-{day}-{side}",
            kind,
            day=day,
            symbol=symbol,
            qty=qty,
            price=price,
            net_amount=0,
            subtype=subtype,
            payload=payload,
        )
        for side, (symbol, qty, price) in (("remove", removal), ("add", addition))
    ]
