"""Domain models <-> table rows. Pure functions: no I/O, no clock reads.

A row is a plain dict keyed by column name; the column types in ``storage.dialect`` do the
per-dialect conversion. Raw venue payloads (JSON bytes) are stored as text verbatim.

Imports ``models`` and ``errors`` from the package; never the repository, SQLAlchemy or the
cache.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from alpaca_integration.errors import StorageError
from alpaca_integration.models import (
    AccountSnapshot,
    Activity,
    AssetClass,
    DataSource,
    Fill,
    FillType,
    Order,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PositionIntent,
    PositionSide,
    TimeInForce,
    order_status_rank,
)
from alpaca_integration.storage.tables import SNAPSHOT_AMOUNT_FIELDS, SNAPSHOT_FLAG_FIELDS

__all__ = [
    "POSITION_FIELDS",
    "SNAPSHOT_AMOUNT_FIELDS",
    "SNAPSHOT_FLAG_FIELDS",
    "activity_from_row",
    "activity_row",
    "fill_from_row",
    "fill_row",
    "flat_position_row",
    "holding_key",
    "order_from_row",
    "order_row",
    "position_from_row",
    "position_row",
    "raw_bytes",
    "raw_text",
    "snapshot_from_row",
    "snapshot_row",
]

Row = Mapping[Any, Any]

POSITION_FIELDS = (
    "symbol",
    "asset_id",
    "asset_class",
    "exchange",
    "side",
    "qty",
    "qty_available",
    "avg_entry_price",
    "market_value",
    "cost_basis",
    "unrealized_pl",
    "unrealized_plpc",
    "unrealized_intraday_pl",
    "unrealized_intraday_plpc",
    "current_price",
    "lastday_price",
    "change_today",
    "observed_at",
)

_ZERO = Decimal(0)


def raw_text(raw: bytes, *, what: str) -> str:
    """A raw payload as stored (UTF-8 JSON text)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StorageError(
            f"{what}: the raw payload is not UTF-8 JSON; keep the venue's bytes in `raw` as "
            "received (JSON)"
        ) from None


def raw_bytes(text: str | None) -> bytes:
    return text.encode("utf-8") if text else b""


def _value(member: Any) -> Any:
    return None if member is None else member.value


# --------------------------------------------------------------------------- orders


def order_row(
    order: Order,
    *,
    account: str,
    external: bool,
    source: str,
    data_source: str,
    now: dt.datetime,
    parent_id: str | None = None,
) -> dict[str, Any]:
    """The ``orders`` row of one order (its legs are rows of their own)."""
    return {
        "account": account,
        "id": order.id,
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "asset_id": order.asset_id,
        "asset_class": order.asset_class.value,
        "side": _value(order.side),
        "type": _value(order.type),
        "time_in_force": order.time_in_force.value,
        "order_class": order.order_class.value,
        "status": order.status.value,
        "status_rank": order_status_rank(order.status),
        "qty": order.qty,
        "notional": order.notional,
        "filled_qty": order.filled_qty,
        "filled_avg_price": order.filled_avg_price,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "trail_price": order.trail_price,
        "trail_percent": order.trail_percent,
        "hwm": order.hwm,
        "extended_hours": order.extended_hours,
        "position_intent": _value(order.position_intent),
        "ratio_qty": order.ratio_qty,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "submitted_at": order.submitted_at,
        "filled_at": order.filled_at,
        "expired_at": order.expired_at,
        "expires_at": order.expires_at,
        "canceled_at": order.canceled_at,
        "failed_at": order.failed_at,
        "replaced_at": order.replaced_at,
        "replaced_by": order.replaced_by,
        "replaces": order.replaces,
        "parent_id": order.parent_id or parent_id,
        "last_event_at": order.last_event_at,
        "external": external,
        "source": source,
        "raw": raw_text(order.raw, what=f"order {order.id}"),
        "data_source": data_source,
        "ingested_at": now,
    }


def order_from_row(row: Row, legs: tuple[Order, ...] = ()) -> Order:
    side = row["side"]
    order_type = row["type"]
    intent = row["position_intent"]
    return Order(
        id=row["id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        asset_id=row["asset_id"],
        asset_class=AssetClass(row["asset_class"]),
        side=None if side is None else OrderSide(side),
        type=None if order_type is None else OrderType(order_type),
        time_in_force=TimeInForce(row["time_in_force"]),
        order_class=OrderClass(row["order_class"]),
        status=OrderStatus(row["status"]),
        qty=row["qty"],
        notional=row["notional"],
        filled_qty=row["filled_qty"],
        filled_avg_price=row["filled_avg_price"],
        limit_price=row["limit_price"],
        stop_price=row["stop_price"],
        trail_price=row["trail_price"],
        trail_percent=row["trail_percent"],
        hwm=row["hwm"],
        extended_hours=bool(row["extended_hours"]),
        position_intent=None if intent is None else PositionIntent(intent),
        ratio_qty=row["ratio_qty"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        submitted_at=row["submitted_at"],
        filled_at=row["filled_at"],
        expired_at=row["expired_at"],
        expires_at=row["expires_at"],
        canceled_at=row["canceled_at"],
        failed_at=row["failed_at"],
        replaced_at=row["replaced_at"],
        replaced_by=row["replaced_by"],
        replaces=row["replaces"],
        parent_id=row["parent_id"],
        legs=legs,
        raw=raw_bytes(row["raw"]),
    )


# --------------------------------------------------------------------------- fills


def fill_row(fill: Fill, *, account: str, data_source: str, now: dt.datetime) -> dict[str, Any]:
    """The ``fills`` row of one execution (``cum_qty`` must be known: it is the identity)."""
    raw = raw_text(fill.raw, what=f"fill {fill.fill_id}") if fill.raw else None
    from_stream = fill.source is DataSource.STREAM
    return {
        "account": account,
        "order_id": fill.order_id,
        "cum_qty": fill.cum_qty,
        "fill_id": fill.fill_id,
        "execution_id": fill.execution_id,
        "activity_id": fill.activity_id,
        "client_order_id": fill.client_order_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "qty": fill.qty,
        "price": fill.price,
        "timestamp": fill.timestamp,
        "fee": fill.fee,
        "fill_type": fill.fill_type.value,
        "leaves_qty": fill.leaves_qty,
        "position_qty": fill.position_qty,
        "source": DataSource(fill.source).value,
        "raw_stream": raw if from_stream else None,
        "raw_rest": None if from_stream else raw,
        "data_source": data_source,
        "ingested_at": now,
    }


def fill_from_row(row: Row) -> Fill:
    return Fill(
        fill_id=row["fill_id"],
        execution_id=row["execution_id"],
        activity_id=row["activity_id"],
        order_id=row["order_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=OrderSide(row["side"]),
        qty=row["qty"],
        price=row["price"],
        timestamp=row["timestamp"],
        fee=row["fee"],
        fill_type=FillType(row["fill_type"]),
        leaves_qty=row["leaves_qty"],
        cum_qty=row["cum_qty"],
        position_qty=row["position_qty"],
        source=DataSource(row["source"]),
        raw=raw_bytes(row["raw_stream"] or row["raw_rest"]),
    )


# --------------------------------------------------------------------------- activities


def activity_row(
    activity: Activity, *, account: str, source: str, data_source: str, now: dt.datetime
) -> dict[str, Any]:
    return {
        "account": account,
        "id": activity.id,
        "activity_type": activity.activity_type,
        "activity_subtype": activity.activity_subtype,
        "date": activity.date,
        "transaction_time": activity.transaction_time,
        "net_amount": activity.net_amount,
        "qty": activity.qty,
        "per_share_amount": activity.per_share_amount,
        "price": activity.price,
        "symbol": activity.symbol,
        "order_id": activity.order_id,
        "description": activity.description,
        "status": activity.status,
        "raw": raw_text(activity.raw, what=f"activity {activity.id}"),
        "source": source,
        "data_source": data_source,
        "ingested_at": now,
    }


def activity_from_row(row: Row) -> Activity:
    return Activity(
        id=row["id"],
        activity_type=row["activity_type"],
        activity_subtype=row["activity_subtype"],
        date=row["date"],
        transaction_time=row["transaction_time"],
        net_amount=row["net_amount"],
        qty=row["qty"],
        per_share_amount=row["per_share_amount"],
        price=row["price"],
        symbol=row["symbol"],
        order_id=row["order_id"],
        description=row["description"],
        status=row["status"],
        raw=raw_bytes(row["raw"]),
    )


# --------------------------------------------------------------------------- account snapshots


def snapshot_row(
    snapshot: AccountSnapshot, *, account: str, source: str, data_source: str, now: dt.datetime
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "account": account,
        "observed_at": snapshot.observed_at,
        "alpaca_account_id": snapshot.account_id,
        "account_number": snapshot.account_number,
        "status": snapshot.status,
        "currency": snapshot.currency,
        "daytrade_count": snapshot.daytrade_count,
        "created_at": snapshot.created_at,
        "raw": raw_text(snapshot.raw, what=f"account snapshot of {account}"),
        "source": source,
        "data_source": data_source,
        "ingested_at": now,
    }
    for name in SNAPSHOT_AMOUNT_FIELDS:
        row[name] = getattr(snapshot, name)
    for name in SNAPSHOT_FLAG_FIELDS:
        row[name] = getattr(snapshot, name)
    return row


def snapshot_from_row(row: Row) -> AccountSnapshot:
    values: dict[str, Any] = {name: row[name] for name in SNAPSHOT_AMOUNT_FIELDS}
    values.update({name: bool(row[name]) for name in SNAPSHOT_FLAG_FIELDS})
    return AccountSnapshot(
        account_id=row["alpaca_account_id"],
        account_number=row["account_number"],
        status=row["status"],
        currency=row["currency"],
        daytrade_count=row["daytrade_count"],
        created_at=row["created_at"],
        observed_at=row["observed_at"],
        raw=raw_bytes(row["raw"]),
        **values,
    )


# --------------------------------------------------------------------------- positions


def position_row(
    position: Position,
    *,
    account: str,
    source: str,
    data_source: str,
    now: dt.datetime,
    observed_at: dt.datetime | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {name: getattr(position, name) for name in POSITION_FIELDS}
    row["asset_class"] = position.asset_class.value
    row["side"] = position.side.value
    if observed_at is not None:
        row["observed_at"] = observed_at
    row.update(
        account=account,
        raw=raw_text(position.raw, what=f"position {position.symbol}"),
        source=source,
        data_source=data_source,
        ingested_at=now,
    )
    return row


def flat_position_row(
    previous: Row,
    *,
    observed_at: dt.datetime,
    source: str,
    data_source: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The history row recording that ``previous``'s holding closed at ``observed_at``."""
    row: dict[str, Any] = dict.fromkeys(POSITION_FIELDS)
    row.update(
        account=previous["account"],
        symbol=previous["symbol"],
        asset_id=previous["asset_id"],
        asset_class=previous["asset_class"],
        exchange=previous["exchange"],
        side=PositionSide.LONG.value,
        qty=_ZERO,
        avg_entry_price=_ZERO,
        cost_basis=_ZERO,
        observed_at=observed_at,
        raw="",
        source=source,
        data_source=data_source,
        ingested_at=now,
    )
    return row


def position_from_row(row: Row) -> Position:
    return Position(
        symbol=row["symbol"],
        asset_id=row["asset_id"],
        asset_class=AssetClass(row["asset_class"]),
        exchange=row["exchange"],
        side=PositionSide(row["side"]),
        qty=row["qty"],
        qty_available=row["qty_available"],
        avg_entry_price=row["avg_entry_price"],
        market_value=row["market_value"],
        cost_basis=row["cost_basis"],
        unrealized_pl=row["unrealized_pl"],
        unrealized_plpc=row["unrealized_plpc"],
        unrealized_intraday_pl=row["unrealized_intraday_pl"],
        unrealized_intraday_plpc=row["unrealized_intraday_plpc"],
        current_price=row["current_price"],
        lastday_price=row["lastday_price"],
        change_today=row["change_today"],
        observed_at=row["observed_at"],
        raw=raw_bytes(row["raw"]),
    )


def holding_key(row: Row) -> tuple[Any, ...]:
    """What makes a holding different (a history row is written when it changes)."""
    return (row["side"], row["qty"], row["avg_entry_price"], row["cost_basis"])
