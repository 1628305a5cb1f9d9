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
from alpaca_integration.order_fields import ORDER_AMOUNT_FIELDS, ORDER_TIME_FIELDS
from alpaca_integration.storage.tables import (
    POSITION_VALUE_FIELDS,
    SNAPSHOT_AMOUNT_FIELDS,
    SNAPSHOT_FLAG_FIELDS,
)

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
    "multiplier",
    "exchange",
    "side",
    "qty",
    "qty_available",
    "avg_entry_price",
    "market_value",
    "cost_basis",
    *POSITION_VALUE_FIELDS,
    "observed_at",
)

# Columns named and valued as the model's field (the rest are converted one by one).
_ORDER_PLAIN = (
    "id",
    "client_order_id",
    "symbol",
    "asset_id",
    *ORDER_AMOUNT_FIELDS,
    "hwm",
    "ratio_qty",
    "multiplier",
    *ORDER_TIME_FIELDS,
    "expires_at",
    "replaced_by",
    "replaces",
)
# Enum fields stored as their value (None stays None).
_ORDER_ENUMS: dict[str, type[Any]] = {
    "asset_class": AssetClass,
    "side": OrderSide,
    "type": OrderType,
    "time_in_force": TimeInForce,
    "order_class": OrderClass,
    "status": OrderStatus,
    "position_intent": PositionIntent,
}
_FILL_PLAIN = (
    "fill_id",
    "execution_id",
    "activity_id",
    "order_id",
    "client_order_id",
    "symbol",
    "qty",
    "price",
    "timestamp",
    "fee",
    "leaves_qty",
    "cum_qty",
    "position_qty",
    "multiplier",
)
_ACTIVITY_FIELDS = (
    "id",
    "activity_type",
    "activity_subtype",
    "date",
    "transaction_time",
    "net_amount",
    "qty",
    "per_share_amount",
    "price",
    "symbol",
    "order_id",
    "description",
    "status",
)

_SNAPSHOT_PLAIN = (
    "observed_at",
    "account_number",
    "status",
    "currency",
    "daytrade_count",
    "created_at",
    "options_buying_power",
    "options_approved_level",
    "options_trading_level",
)

_ZERO = Decimal(0)


def _fields(model: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(model, name) for name in names}


def _columns(row: Row, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: row[name] for name in names}


def _written(account: str, source: str, data_source: str, now: dt.datetime) -> dict[str, Any]:
    """Who wrote a row and when: the columns every broker-state row carries."""
    return {"account": account, "source": source, "data_source": data_source, "ingested_at": now}


def _enums(row: Row, enums: Mapping[str, type[Any]]) -> dict[str, Any]:
    return {name: None if row[name] is None else kind(row[name]) for name, kind in enums.items()}


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
    row = _fields(order, _ORDER_PLAIN)
    row.update({name: _value(getattr(order, name)) for name in _ORDER_ENUMS})
    row.update(
        _written(account, source, data_source, now),
        status_rank=order_status_rank(order.status),
        extended_hours=order.extended_hours,
        parent_id=order.parent_id or parent_id,
        last_event_at=order.last_event_at,
        external=external,
        raw=raw_text(order.raw, what=f"order {order.id}"),
    )
    return row


def order_from_row(row: Row, legs: tuple[Order, ...] = ()) -> Order:
    return Order(
        **_columns(row, _ORDER_PLAIN),
        **_enums(row, _ORDER_ENUMS),
        extended_hours=bool(row["extended_hours"]),
        parent_id=row["parent_id"],
        legs=legs,
        raw=raw_bytes(row["raw"]),
    )


# --------------------------------------------------------------------------- fills


def fill_row(fill: Fill, *, account: str, data_source: str, now: dt.datetime) -> dict[str, Any]:
    """The ``fills`` row of one execution (``cum_qty`` must be known: it is the identity)."""
    raw = raw_text(fill.raw, what=f"fill {fill.fill_id}") if fill.raw else None
    from_stream = fill.source is DataSource.STREAM
    row = _fields(fill, _FILL_PLAIN)
    row.update(
        account=account,
        side=fill.side.value,
        asset_class=fill.asset_class.value,
        fill_type=fill.fill_type.value,
        source=DataSource(fill.source).value,
        raw_stream=raw if from_stream else None,
        raw_rest=None if from_stream else raw,
        data_source=data_source,
        ingested_at=now,
    )
    return row


def fill_from_row(row: Row) -> Fill:
    return Fill(
        **_columns(row, _FILL_PLAIN),
        side=OrderSide(row["side"]),
        asset_class=AssetClass(row["asset_class"]),
        fill_type=FillType(row["fill_type"]),
        source=DataSource(row["source"]),
        raw=raw_bytes(row["raw_stream"] or row["raw_rest"]),
    )


# --------------------------------------------------------------------------- activities


def activity_row(
    activity: Activity, *, account: str, source: str, data_source: str, now: dt.datetime
) -> dict[str, Any]:
    row = _fields(activity, _ACTIVITY_FIELDS)
    row.update(
        _written(account, source, data_source, now),
        raw=raw_text(activity.raw, what=f"activity {activity.id}"),
    )
    return row


def activity_from_row(row: Row) -> Activity:
    return Activity(**_columns(row, _ACTIVITY_FIELDS), raw=raw_bytes(row["raw"]))


# --------------------------------------------------------------------------- account snapshots


def snapshot_row(
    snapshot: AccountSnapshot, *, account: str, source: str, data_source: str, now: dt.datetime
) -> dict[str, Any]:
    row = _fields(snapshot, (*_SNAPSHOT_PLAIN, *SNAPSHOT_AMOUNT_FIELDS, *SNAPSHOT_FLAG_FIELDS))
    row.update(
        _written(account, source, data_source, now),
        alpaca_account_id=snapshot.account_id,
        raw=raw_text(snapshot.raw, what=f"account snapshot of {account}"),
    )
    return row


def snapshot_from_row(row: Row) -> AccountSnapshot:
    values = _columns(row, (*_SNAPSHOT_PLAIN, *SNAPSHOT_AMOUNT_FIELDS))
    values.update({name: bool(row[name]) for name in SNAPSHOT_FLAG_FIELDS})
    return AccountSnapshot(account_id=row["alpaca_account_id"], raw=raw_bytes(row["raw"]), **values)


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
    row = _fields(position, POSITION_FIELDS)
    row["asset_class"] = position.asset_class.value
    row["side"] = position.side.value
    if observed_at is not None:
        row["observed_at"] = observed_at
    row.update(
        _written(account, source, data_source, now),
        raw=raw_text(position.raw, what=f"position {position.symbol}"),
    )
    return row


# What the history row of a closed holding keeps of the holding's last row.
_KEPT_WHEN_FLAT = ("account", "symbol", "asset_id", "asset_class", "multiplier", "exchange")


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
    row.update(_columns(previous, _KEPT_WHEN_FLAT))
    row.update(
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
    values = _columns(row, POSITION_FIELDS)
    values.update(asset_class=AssetClass(row["asset_class"]), side=PositionSide(row["side"]))
    return Position(**values, raw=raw_bytes(row["raw"]))


def holding_key(row: Row) -> tuple[Any, ...]:
    """What makes a holding different (a history row is written when it changes)."""
    return (row["side"], row["qty"], row["avg_entry_price"], row["cost_basis"])
