"""The decoding rules every Alpaca parser shares: bytes in, exact values out, ``ParseError`` on
anything unmappable.

* ``decode``: bytes -> a wire Struct of ``schemas``; a wrong shape or invalid JSON is a
  ``ParseError`` naming the shape and quoting the payload's start.
* ``utc_timestamp``: RFC 3339 text -> UTC; digits past the microsecond truncated, never rounded.
* ``strict_enum``: an unknown value (an order status, a side) is a ``ParseError`` naming it;
  descriptive values use their tables' ``UNKNOWN`` fallback instead (``asset_class_of``).

Pure: no I/O, no clock reads. Imports only ``models``, ``errors`` from the package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TypeVar

import msgspec

from alpaca_integration.errors import ParseError
from alpaca_integration.models import (
    AssetClass,
    FillType,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionIntent,
    TimeInForce,
    TradeEventKind,
)

__all__ = [
    "ACTIVITY_SIDE",
    "ASSET_CLASS",
    "EVENT_KIND",
    "FILL_TYPE",
    "ORDER_CLASS",
    "ORDER_SIDE",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "POSITION_INTENT",
    "TIME_IN_FORCE",
    "UNKNOWN_ASSET_CLASS",
    "Body",
    "as_bytes",
    "asset_class_of",
    "calendar_date",
    "decode",
    "decode_each",
    "decode_list",
    "excerpt",
    "missing_fields",
    "optional_enum",
    "or_zero",
    "required_timestamp",
    "strict_enum",
    "utc_timestamp",
]

Body = bytes | bytearray | memoryview | str

_UTC = dt.UTC
_ZERO = Decimal(0)
_fromisoformat = dt.datetime.fromisoformat

_T = TypeVar("_T")


def as_bytes(body: Body) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", errors="replace")
    return text + ("..." if len(body) > 200 else "")


def decode(decoder: msgspec.json.Decoder[_T], body: bytes, shape: str) -> _T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ParseError(
            f"{shape}: the payload does not have Alpaca's {shape} shape ({exc}); "
            f"payload starts {excerpt(body)!r}",
            shape=shape,
            value=excerpt(body),
        ) from None
    except msgspec.DecodeError as exc:
        raise ParseError(
            f"{shape}: the payload is not valid JSON ({exc}); payload starts {excerpt(body)!r}",
            shape=shape,
            value=excerpt(body),
        ) from None


_RAW_LIST: msgspec.json.Decoder[list[msgspec.Raw]] = msgspec.json.Decoder(list[msgspec.Raw])


def decode_list(body: Body, shape: str) -> tuple[bytes, list[msgspec.Raw]]:
    data = as_bytes(body)
    return data, decode(_RAW_LIST, data, f"list of {shape}")


def decode_each(body: Body, shape: str, parse_item: Callable[[bytes], _T]) -> list[_T]:
    """A JSON list of ``shape`` parsed item by item, in payload order (each item gets its own
    verbatim bytes)."""
    _, items = decode_list(body, shape)
    return [parse_item(bytes(item)) for item in items]


def utc_timestamp(value: str | None, shape: str, field: str) -> dt.datetime | None:
    """RFC 3339 text -> UTC datetime; digits past microseconds are truncated by fromisoformat."""
    if not value:
        return None
    try:
        stamp = _fromisoformat(value)
    except ValueError:
        raise ParseError(
            f"{shape}.{field}: {value!r} is not an RFC 3339 timestamp",
            shape=shape,
            value=value,
        ) from None
    tz = stamp.tzinfo
    if tz is _UTC:
        return stamp
    if tz is None:
        raise ParseError(
            f"{shape}.{field}: {value!r} has no UTC offset; Alpaca timestamps always carry one",
            shape=shape,
            value=value,
        )
    return stamp.astimezone(_UTC)


def required_timestamp(value: str | None, shape: str, field: str) -> dt.datetime:
    stamp = utc_timestamp(value, shape, field)
    if stamp is None:
        raise ParseError(f"{shape}.{field} is missing or empty", shape=shape, value=value)
    return stamp


def calendar_date(value: str | None, shape: str, field: str) -> dt.date | None:
    """A calendar date, sent as ``2024-03-15`` or as a full timestamp (its date as written)."""
    if not value:
        return None
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        return _fromisoformat(value).date()
    except ValueError:
        raise ParseError(
            f"{shape}.{field}: {value!r} is not a date (expected YYYY-MM-DD)",
            shape=shape,
            value=value,
        ) from None


def strict_enum(
    table: Mapping[str, _T], value: str | None, shape: str, field: str, what: str
) -> _T:
    found = table.get(value) if value is not None else None
    if found is None:
        known = ", ".join(sorted(table))
        raise ParseError(
            f"{shape}.{field}: unknown {what} {value!r} (known: {known}). Alpaca may have added "
            "a value this version does not handle; upgrade alpaca-integration or report it",
            shape=shape,
            value=value,
        )
    return found


def optional_enum(
    table: Mapping[str, _T], value: str | None, shape: str, field: str, what: str
) -> _T | None:
    if not value:
        return None
    return strict_enum(table, value, shape, field, what)


def missing_fields(values: Mapping[str, object]) -> str:
    """The names of ``values`` that are absent (None or empty), comma separated: what a record
    was sent without, for its ``ParseError``."""
    return ", ".join(name for name, value in values.items() if value in (None, ""))


def or_zero(value: Decimal | None) -> Decimal:
    return _ZERO if value is None else value


ORDER_STATUS = {member.value: member for member in OrderStatus}
TIME_IN_FORCE = {member.value: member for member in TimeInForce}
ORDER_CLASS = {member.value: member for member in OrderClass}
ORDER_CLASS[""] = OrderClass.SIMPLE
ORDER_TYPE = {member.value: member for member in OrderType}
ORDER_SIDE = {member.value: member for member in OrderSide}
# Account activities report short sales as their own side; the order side is still "sell".
ACTIVITY_SIDE = {**ORDER_SIDE, "sell_short": OrderSide.SELL, "buy_to_cover": OrderSide.BUY}
POSITION_INTENT = {member.value: member for member in PositionIntent}
ASSET_CLASS = {member.value: member for member in AssetClass}
FILL_TYPE = {member.value: member for member in FillType}
EVENT_KIND = {member.value: member for member in TradeEventKind}


UNKNOWN_ASSET_CLASS = AssetClass.UNKNOWN


def asset_class_of(value: str | None) -> AssetClass:
    return ASSET_CLASS.get(value, UNKNOWN_ASSET_CLASS) if value else UNKNOWN_ASSET_CLASS
