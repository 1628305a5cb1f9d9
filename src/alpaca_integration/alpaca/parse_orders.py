"""Alpaca order JSON -> ``models.Order``, legs nested: the hot path of every sync.

One order is read in three named steps: its enums (strict: an unknown status, time in force,
class, side, type or position intent raises ``ParseError`` naming the value, because guessing an
order's state is how a book goes wrong silently), its timestamps (UTC, truncated to the
microsecond), then the model with its legs (each leg's ``parent_id`` set). Every model keeps the
exact bytes of its own JSON object in ``raw``.

An order's ``multiplier`` is its instrument's standard one (100 for a US option, by its stated
asset class, else by its symbol); an mleg parent takes its legs'.

Pure: no I/O, no clock reads. Imports only ``models``, ``instruments``, ``errors`` and
``alpaca.{schemas,decoding}`` from the package.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NoReturn

import msgspec

from alpaca_integration import models
from alpaca_integration.alpaca.decoding import (
    ASSET_CLASS,
    ORDER_CLASS,
    ORDER_SIDE,
    ORDER_STATUS,
    ORDER_TYPE,
    POSITION_INTENT,
    TIME_IN_FORCE,
    UNKNOWN_ASSET_CLASS,
    Body,
    as_bytes,
    decode,
    decode_list,
    optional_enum,
    strict_enum,
    utc_timestamp,
)
from alpaca_integration.alpaca.schemas import WireOrder
from alpaca_integration.errors import ParseError
from alpaca_integration.instruments import CONTRACT_MULTIPLIER, instrument_multiplier
from alpaca_integration.models import Order, OrderClass

__all__ = ["parse_order", "parse_orders"]

_ORDER = msgspec.json.Decoder(WireOrder)
_ZERO = Decimal(0)


# status, time in force, class, side, type, position intent (a plain tuple: this is the hot path)
_OrderEnums = tuple[
    models.OrderStatus,
    models.TimeInForce,
    OrderClass,
    models.OrderSide | None,
    models.OrderType | None,
    models.PositionIntent | None,
]


def _order_enums(wire: WireOrder) -> _OrderEnums:
    """The order's enums, mapped with inlined lookups; ``ParseError`` naming the first unknown
    value (or a missing ``created_at``, which the model cannot do without)."""
    status = ORDER_STATUS.get(wire.status)  # type: ignore[arg-type]
    time_in_force = TIME_IN_FORCE.get(wire.time_in_force)  # type: ignore[arg-type]
    order_class = ORDER_CLASS.get(wire.order_class or "")
    side = ORDER_SIDE.get(wire.side) if wire.side else None
    type_value = wire.type or wire.order_type
    order_type = ORDER_TYPE.get(type_value) if type_value else None
    intent = POSITION_INTENT.get(wire.position_intent) if wire.position_intent else None
    if (
        status is None
        or time_in_force is None
        or order_class is None
        or (side is None and wire.side)
        or (order_type is None and type_value)
        or (intent is None and wire.position_intent)
        or not wire.created_at
    ):
        _reject_order(wire)
    return status, time_in_force, order_class, side, order_type, intent


def _reject_order(wire: WireOrder) -> NoReturn:
    """Raise the ParseError that names what made ``wire`` unmappable."""
    shape = "order"
    if wire.status not in ORDER_STATUS:
        raise ParseError(
            f"order {wire.id}: unknown order status {wire.status!r}. The order's state cannot "
            "be known; upgrade alpaca-integration or report the new status",
            shape=shape,
            value=wire.status,
        )
    strict_enum(TIME_IN_FORCE, wire.time_in_force, shape, "time_in_force", "time in force")
    strict_enum(ORDER_CLASS, wire.order_class or "", shape, "order_class", "order class")
    optional_enum(ORDER_SIDE, wire.side, shape, "side", "order side")
    optional_enum(ORDER_TYPE, wire.type or wire.order_type, shape, "type", "order type")
    optional_enum(
        POSITION_INTENT, wire.position_intent, shape, "position_intent", "position intent"
    )
    raise ParseError(f"order {wire.id}: created_at is missing", shape=shape, value=None)


def _order_times(wire: WireOrder) -> tuple[dt.datetime | None, ...]:
    """updated, submitted, filled, expired, expires, canceled, failed, replaced (in that order).
    Absent timestamps skip the parser (most are null); the checks are inlined: hot path."""
    stamp = utc_timestamp
    updated, submitted, filled = wire.updated_at, wire.submitted_at, wire.filled_at
    expired, expires, canceled = wire.expired_at, wire.expires_at, wire.canceled_at
    failed, replaced = wire.failed_at, wire.replaced_at
    return (
        stamp(updated, "order", "updated_at") if updated else None,
        stamp(submitted, "order", "submitted_at") if submitted else None,
        stamp(filled, "order", "filled_at") if filled else None,
        stamp(expired, "order", "expired_at") if expired else None,
        stamp(expires, "order", "expires_at") if expires else None,
        stamp(canceled, "order", "canceled_at") if canceled else None,
        stamp(failed, "order", "failed_at") if failed else None,
        stamp(replaced, "order", "replaced_at") if replaced else None,
    )


def _order(raw: bytes, parent_id: str | None) -> Order:
    wire = decode(_ORDER, raw, "order")
    status, time_in_force, order_class, side, order_type, intent = _order_enums(wire)
    created_at = utc_timestamp(wire.created_at, "order", "created_at")
    updated, submitted, filled, expired, expires, canceled, failed, replaced = _order_times(wire)
    order_id = wire.id
    legs = tuple([_order(bytes(leg), order_id) for leg in wire.legs]) if wire.legs else ()
    wire_class = wire.asset_class
    asset_class = (
        ASSET_CLASS.get(wire_class, UNKNOWN_ASSET_CLASS) if wire_class else UNKNOWN_ASSET_CLASS
    )
    symbol = wire.symbol or ""
    filled_qty = wire.filled_qty
    return Order(
        id=order_id,
        client_order_id=wire.client_order_id,
        symbol=symbol,
        asset_id=wire.asset_id or None,
        asset_class=asset_class,
        multiplier=_multiplier(order_class, asset_class, symbol, legs),
        side=side,
        type=order_type,
        time_in_force=time_in_force,
        order_class=order_class,
        status=status,
        qty=wire.qty,
        notional=wire.notional,
        filled_qty=_ZERO if filled_qty is None else filled_qty,
        filled_avg_price=wire.filled_avg_price,
        limit_price=wire.limit_price,
        stop_price=wire.stop_price,
        trail_price=wire.trail_price,
        trail_percent=wire.trail_percent,
        hwm=wire.hwm,
        extended_hours=bool(wire.extended_hours),
        position_intent=intent,
        ratio_qty=wire.ratio_qty,
        created_at=created_at,  # type: ignore[arg-type]
        updated_at=updated,
        submitted_at=submitted,
        filled_at=filled,
        expired_at=expired,
        expires_at=expires,
        canceled_at=canceled,
        failed_at=failed,
        replaced_at=replaced,
        replaced_by=wire.replaced_by or None,
        replaces=wire.replaces or None,
        parent_id=parent_id,
        legs=legs,
        raw=raw,
    )


def _multiplier(
    order_class: OrderClass, asset_class: models.AssetClass, symbol: str, legs: tuple[Order, ...]
) -> Decimal:
    """The instrument's multiplier; an mleg parent's net prices are per share of its contracts."""
    if order_class is OrderClass.MLEG and not symbol:
        return legs[0].multiplier if legs else CONTRACT_MULTIPLIER
    return instrument_multiplier(asset_class, symbol)


def parse_order(body: Body) -> Order:
    """One order (``GET``/``POST``/``PATCH`` of an order) with its legs nested."""
    return _order(as_bytes(body), None)


def parse_orders(body: Body) -> list[Order]:
    """``GET /v2/orders`` -> the page's orders in payload order; legs nested under parents."""
    _, items = decode_list(body, "orders")
    return [_order(bytes(item), None) for item in items]
