"""Alpaca wire payloads -> provider-neutral models: the only code that reads Alpaca's JSON.

Every function is pure: it takes the response body (``bytes``; ``str`` is accepted) and returns
models, with no I/O and no clock reads (``observed_at`` is passed in by the caller). Bytes are
decoded straight into the msgspec Structs of ``schemas`` and then mapped; lists are decoded as
``list[msgspec.Raw]`` first so every model keeps the verbatim bytes of its own object in ``raw``.

Rules applied everywhere:

* prices, quantities and cash are exact ``Decimal`` whether Alpaca sent ``"1.10"`` or ``1.10``;
* timestamps become UTC; nanoseconds are truncated (never rounded) to microseconds;
* unknown fields are ignored and missing optional fields tolerated, but an unknown order status
  (or time in force, order type, side, class) raises ``ParseError`` naming the value, because
  guessing an order's state is how a book goes wrong silently;
* descriptive values (asset class, trade event kind) fall back to ``UNKNOWN``;
* empty strings Alpaca sends for "not applicable" (``order_class: ""``, an mleg parent's
  ``side: ""``) mean simple / absent.

Every failure is a ``ParseError`` with ``shape`` (what was being parsed) and ``value``.

This module imports only ``models``, ``errors`` and ``alpaca.schemas`` from the package; never the
client, the stream, storage or anything doing I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from alpaca_integration.alpaca.schemas import (
    WireAccount,
    WireAccountConfiguration,
    WireActivity,
    WireAsset,
    WireBulkItem,
    WireCalendarDay,
    WireClock,
    WireOrder,
    WirePortfolioHistory,
    WirePosition,
    WireStreamAuthorization,
    WireStreamEnvelope,
    WireStreamListening,
    WireTradeUpdate,
    WireWatchlist,
)
from alpaca_integration.errors import ParseError
from alpaca_integration.models import (
    AccountConfiguration,
    AccountSnapshot,
    Activity,
    Asset,
    AssetClass,
    BulkResult,
    CalendarDay,
    Clock,
    DataSource,
    Fill,
    FillType,
    Order,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    PortfolioHistory,
    Position,
    PositionIntent,
    PositionSide,
    TimeInForce,
    TradeEventKind,
    TradeUpdate,
    Watchlist,
)

__all__ = [
    "EXCHANGE_TIMEZONE",
    "StreamAuthorization",
    "StreamListening",
    "StreamMessage",
    "StreamTradeUpdate",
    "StreamUnknown",
    "decode_stream_frame",
    "encode_stream_auth",
    "encode_stream_listen",
    "fill_from_trade_update",
    "parse_account",
    "parse_account_configuration",
    "parse_activities",
    "parse_asset",
    "parse_assets",
    "parse_bulk_orders",
    "parse_bulk_positions",
    "parse_calendar",
    "parse_clock",
    "parse_error",
    "parse_order",
    "parse_orders",
    "parse_portfolio_history",
    "parse_position",
    "parse_positions",
    "parse_trade_update",
    "parse_watchlist",
    "parse_watchlists",
]

Body = bytes | bytearray | memoryview | str

# The calendar's open/close times are wall-clock times of the US equity exchanges.
EXCHANGE_TIMEZONE = ZoneInfo("America/New_York")

_UTC = dt.UTC
_ZERO = Decimal(0)
_fromisoformat = dt.datetime.fromisoformat
_ERROR_TEXT_LIMIT = 500

_T = TypeVar("_T")


# --------------------------------------------------------------------------- stream messages


class StreamAuthorization(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``authenticate``: ``status`` is ``authorized`` or ``unauthorized``."""

    status: str
    action: str

    @property
    def authorized(self) -> bool:
        return self.status == "authorized"


class StreamListening(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``listen``: the streams now subscribed."""

    streams: tuple[str, ...]


class StreamTradeUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One ``trade_updates`` event."""

    update: TradeUpdate


class StreamUnknown(msgspec.Struct, frozen=True, kw_only=True):
    """A message on a stream this package does not handle, kept verbatim."""

    stream: str
    raw: bytes


StreamMessage = StreamAuthorization | StreamListening | StreamTradeUpdate | StreamUnknown


# --------------------------------------------------------------------------- decoding helpers


def _as_bytes(body: Body) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def _excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", errors="replace")
    return text + ("..." if len(body) > 200 else "")


def _decode(decoder: msgspec.json.Decoder[_T], body: bytes, shape: str) -> _T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ParseError(
            f"{shape}: the payload does not have Alpaca's {shape} shape ({exc}); "
            f"payload starts {_excerpt(body)!r}",
            shape=shape,
            value=_excerpt(body),
        ) from None
    except msgspec.DecodeError as exc:
        raise ParseError(
            f"{shape}: the payload is not valid JSON ({exc}); payload starts {_excerpt(body)!r}",
            shape=shape,
            value=_excerpt(body),
        ) from None


_RAW_LIST: msgspec.json.Decoder[list[msgspec.Raw]] = msgspec.json.Decoder(list[msgspec.Raw])
_ACCOUNT = msgspec.json.Decoder(WireAccount)
_ACCOUNT_CONFIGURATION = msgspec.json.Decoder(WireAccountConfiguration)
_POSITION = msgspec.json.Decoder(WirePosition)
_ORDER = msgspec.json.Decoder(WireOrder)
_ACTIVITY = msgspec.json.Decoder(WireActivity)
_CLOCK = msgspec.json.Decoder(WireClock)
_CALENDAR_DAY = msgspec.json.Decoder(WireCalendarDay)
_ASSET = msgspec.json.Decoder(WireAsset)
_WATCHLIST = msgspec.json.Decoder(WireWatchlist)
_PORTFOLIO_HISTORY = msgspec.json.Decoder(WirePortfolioHistory)
_BULK_ITEM = msgspec.json.Decoder(WireBulkItem)
_TRADE_UPDATE = msgspec.json.Decoder(WireTradeUpdate)
_ENVELOPE = msgspec.json.Decoder(WireStreamEnvelope)
_AUTHORIZATION = msgspec.json.Decoder(WireStreamAuthorization)
_LISTENING = msgspec.json.Decoder(WireStreamListening)
# Numbers in free-form error bodies become exact Decimals too (float_hook gets the number's text).
_ANY = msgspec.json.Decoder(float_hook=Decimal)
_ENCODER = msgspec.json.Encoder()


def _list(body: Body, shape: str) -> tuple[bytes, list[msgspec.Raw]]:
    data = _as_bytes(body)
    return data, _decode(_RAW_LIST, data, f"list of {shape}")


def _timestamp(value: str | None, shape: str, field: str) -> dt.datetime | None:
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


def _required_timestamp(value: str | None, shape: str, field: str) -> dt.datetime:
    stamp = _timestamp(value, shape, field)
    if stamp is None:
        raise ParseError(f"{shape}.{field} is missing or empty", shape=shape, value=value)
    return stamp


def _date(value: str | None, shape: str, field: str) -> dt.date | None:
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


def _strict(table: Mapping[str, _T], value: str | None, shape: str, field: str, what: str) -> _T:
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


def _optional_enum(
    table: Mapping[str, _T], value: str | None, shape: str, field: str, what: str
) -> _T | None:
    if not value:
        return None
    return _strict(table, value, shape, field, what)


def _or_zero(value: Decimal | None) -> Decimal:
    return _ZERO if value is None else value


_ORDER_STATUS = {member.value: member for member in OrderStatus}
_TIME_IN_FORCE = {member.value: member for member in TimeInForce}
_ORDER_CLASS = {member.value: member for member in OrderClass}
_ORDER_CLASS[""] = OrderClass.SIMPLE
_ORDER_TYPE = {member.value: member for member in OrderType}
_ORDER_SIDE = {member.value: member for member in OrderSide}
# Account activities report short sales as their own side; the order side is still "sell".
_ACTIVITY_SIDE = {**_ORDER_SIDE, "sell_short": OrderSide.SELL, "buy_to_cover": OrderSide.BUY}
_POSITION_INTENT = {member.value: member for member in PositionIntent}
_ASSET_CLASS = {member.value: member for member in AssetClass}
_FILL_TYPE = {member.value: member for member in FillType}
_EVENT_KIND = {member.value: member for member in TradeEventKind}


_UNKNOWN_ASSET_CLASS = AssetClass.UNKNOWN


def _asset_class(value: str | None) -> AssetClass:
    return _ASSET_CLASS.get(value, _UNKNOWN_ASSET_CLASS) if value else _UNKNOWN_ASSET_CLASS


# --------------------------------------------------------------------------- account


def parse_account(body: Body, observed_at: dt.datetime) -> AccountSnapshot:
    """``GET /v2/account`` -> the account's figures as observed at ``observed_at``."""
    raw = _as_bytes(body)
    wire = _decode(_ACCOUNT, raw, "account")
    daytrade_count = wire.daytrade_count
    if isinstance(daytrade_count, str):
        try:
            daytrade_count = int(daytrade_count)
        except ValueError:
            raise ParseError(
                f"account.daytrade_count: {daytrade_count!r} is not a whole number",
                shape="account",
                value=daytrade_count,
            ) from None
    return AccountSnapshot(
        account_id=wire.id,
        account_number=wire.account_number,
        status=wire.status,
        currency=wire.currency,
        cash=wire.cash,
        equity=wire.equity,
        last_equity=_or_zero(wire.last_equity),
        buying_power=_or_zero(wire.buying_power),
        regt_buying_power=_or_zero(wire.regt_buying_power),
        daytrading_buying_power=_or_zero(wire.daytrading_buying_power),
        non_marginable_buying_power=_or_zero(wire.non_marginable_buying_power),
        long_market_value=_or_zero(wire.long_market_value),
        short_market_value=_or_zero(wire.short_market_value),
        portfolio_value=wire.equity if wire.portfolio_value is None else wire.portfolio_value,
        initial_margin=_or_zero(wire.initial_margin),
        maintenance_margin=_or_zero(wire.maintenance_margin),
        last_maintenance_margin=_or_zero(wire.last_maintenance_margin),
        multiplier=Decimal(1) if wire.multiplier is None else wire.multiplier,
        sma=_or_zero(wire.sma),
        daytrade_count=daytrade_count or 0,
        accrued_fees=_or_zero(wire.accrued_fees),
        pattern_day_trader=wire.pattern_day_trader,
        trading_blocked=wire.trading_blocked,
        transfers_blocked=wire.transfers_blocked,
        account_blocked=wire.account_blocked,
        shorting_enabled=wire.shorting_enabled,
        trade_suspended_by_user=wire.trade_suspended_by_user,
        created_at=_timestamp(wire.created_at, "account", "created_at"),
        observed_at=_observed(observed_at),
        raw=raw,
    )


def _observed(observed_at: dt.datetime) -> dt.datetime:
    if observed_at.tzinfo is None:
        raise ParseError(
            "observed_at must be timezone-aware (pass datetime.now(UTC))",
            shape="observed_at",
            value=observed_at,
        )
    return observed_at if observed_at.tzinfo is _UTC else observed_at.astimezone(_UTC)


def parse_account_configuration(body: Body) -> AccountConfiguration:
    """``GET``/``PATCH /v2/account/configurations`` -> the account's trading configuration."""
    raw = _as_bytes(body)
    wire = _decode(_ACCOUNT_CONFIGURATION, raw, "account configuration")
    multiplier = wire.max_margin_multiplier
    return AccountConfiguration(
        dtbp_check=wire.dtbp_check,
        trade_confirm_email=wire.trade_confirm_email,
        suspend_trade=wire.suspend_trade,
        no_shorting=wire.no_shorting,
        fractional_trading=wire.fractional_trading,
        max_margin_multiplier=None if multiplier is None else str(multiplier),
        pdt_check=wire.pdt_check,
        max_options_trading_level=wire.max_options_trading_level,
        raw=raw,
    )


# --------------------------------------------------------------------------- positions


def _position(raw: bytes, observed_at: dt.datetime) -> Position:
    wire = _decode(_POSITION, raw, "position")
    qty = wire.qty
    qty_available = wire.qty_available
    if wire.side == "short" or (wire.side is None and qty < 0):
        side = PositionSide.SHORT
        # Alpaca reports short quantities negative; make that a guarantee, not an assumption.
        if qty > 0:
            qty = -qty
        if qty_available is not None and qty_available > 0:
            qty_available = -qty_available
    elif wire.side in (None, "long"):
        side = PositionSide.LONG
        if qty < 0:
            raise ParseError(
                f"position {wire.symbol}: side is long but qty is {qty}",
                shape="position",
                value=str(qty),
            )
    else:
        raise ParseError(
            f"position {wire.symbol}: unknown side {wire.side!r} (known: long, short)",
            shape="position",
            value=wire.side,
        )
    return Position(
        symbol=wire.symbol,
        asset_id=wire.asset_id or None,
        asset_class=_asset_class(wire.asset_class),
        exchange=wire.exchange or None,
        side=side,
        qty=qty,
        qty_available=qty_available,
        avg_entry_price=wire.avg_entry_price,
        market_value=wire.market_value,
        cost_basis=wire.cost_basis,
        unrealized_pl=wire.unrealized_pl,
        unrealized_plpc=wire.unrealized_plpc,
        unrealized_intraday_pl=wire.unrealized_intraday_pl,
        unrealized_intraday_plpc=wire.unrealized_intraday_plpc,
        current_price=wire.current_price,
        lastday_price=wire.lastday_price,
        change_today=wire.change_today,
        observed_at=observed_at,
        raw=raw,
    )


def parse_position(body: Body, observed_at: dt.datetime) -> Position:
    """``GET /v2/positions/{symbol}`` -> one position; ``qty`` is negative for a short."""
    return _position(_as_bytes(body), _observed(observed_at))


def parse_positions(body: Body, observed_at: dt.datetime) -> list[Position]:
    """``GET /v2/positions`` -> every open position, in payload order."""
    observed = _observed(observed_at)
    _, items = _list(body, "positions")
    return [_position(bytes(item), observed) for item in items]


# --------------------------------------------------------------------------- orders


def _order(raw: bytes, parent_id: str | None) -> Order:
    # The hot path of every sync: lookups are inlined and absent timestamps skip the parser.
    wire = _decode(_ORDER, raw, "order")
    order_id = wire.id
    status = _ORDER_STATUS.get(wire.status)  # type: ignore[arg-type]
    time_in_force = _TIME_IN_FORCE.get(wire.time_in_force)  # type: ignore[arg-type]
    order_class = _ORDER_CLASS.get(wire.order_class or "")
    side = _ORDER_SIDE.get(wire.side) if wire.side else None
    type_value = wire.type or wire.order_type
    order_type = _ORDER_TYPE.get(type_value) if type_value else None
    intent = _POSITION_INTENT.get(wire.position_intent) if wire.position_intent else None
    created_at = wire.created_at
    if (
        status is None
        or time_in_force is None
        or order_class is None
        or (side is None and wire.side)
        or (order_type is None and type_value)
        or (intent is None and wire.position_intent)
        or not created_at
    ):
        _reject_order(wire)
    updated_at, submitted_at, filled_at = wire.updated_at, wire.submitted_at, wire.filled_at
    expired_at, expires_at, canceled_at = wire.expired_at, wire.expires_at, wire.canceled_at
    failed_at, replaced_at = wire.failed_at, wire.replaced_at
    legs: tuple[Order, ...] = ()
    if wire.legs:
        legs = tuple([_order(bytes(leg), order_id) for leg in wire.legs])
    asset_class = wire.asset_class
    filled_qty = wire.filled_qty
    return Order(
        id=order_id,
        client_order_id=wire.client_order_id,
        symbol=wire.symbol or "",
        asset_id=wire.asset_id or None,
        asset_class=_ASSET_CLASS.get(asset_class, _UNKNOWN_ASSET_CLASS)
        if asset_class
        else _UNKNOWN_ASSET_CLASS,
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
        created_at=_timestamp(created_at, "order", "created_at"),  # type: ignore[arg-type]
        updated_at=_timestamp(updated_at, "order", "updated_at") if updated_at else None,
        submitted_at=_timestamp(submitted_at, "order", "submitted_at") if submitted_at else None,
        filled_at=_timestamp(filled_at, "order", "filled_at") if filled_at else None,
        expired_at=_timestamp(expired_at, "order", "expired_at") if expired_at else None,
        expires_at=_timestamp(expires_at, "order", "expires_at") if expires_at else None,
        canceled_at=_timestamp(canceled_at, "order", "canceled_at") if canceled_at else None,
        failed_at=_timestamp(failed_at, "order", "failed_at") if failed_at else None,
        replaced_at=_timestamp(replaced_at, "order", "replaced_at") if replaced_at else None,
        replaced_by=wire.replaced_by or None,
        replaces=wire.replaces or None,
        parent_id=parent_id,
        legs=legs,
        raw=raw,
    )


def _reject_order(wire: WireOrder) -> NoReturn:
    """Raise the ParseError that names what made ``wire`` unmappable."""
    shape = "order"
    if wire.status not in _ORDER_STATUS:
        raise ParseError(
            f"order {wire.id}: unknown order status {wire.status!r}. The order's state cannot "
            "be known; upgrade alpaca-integration or report the new status",
            shape=shape,
            value=wire.status,
        )
    _strict(_TIME_IN_FORCE, wire.time_in_force, shape, "time_in_force", "time in force")
    _strict(_ORDER_CLASS, wire.order_class or "", shape, "order_class", "order class")
    _optional_enum(_ORDER_SIDE, wire.side, shape, "side", "order side")
    _optional_enum(_ORDER_TYPE, wire.type or wire.order_type, shape, "type", "order type")
    _optional_enum(
        _POSITION_INTENT, wire.position_intent, shape, "position_intent", "position intent"
    )
    raise ParseError(f"order {wire.id}: created_at is missing", shape=shape, value=None)


def parse_order(body: Body) -> Order:
    """One order (``GET``/``POST``/``PATCH`` of an order) with its legs nested."""
    return _order(_as_bytes(body), None)


def parse_orders(body: Body) -> list[Order]:
    """``GET /v2/orders`` -> the page's orders in payload order; legs nested under parents."""
    _, items = _list(body, "orders")
    return [_order(bytes(item), None) for item in items]


# --------------------------------------------------------------------------- activities


def _fill_activity(wire: WireActivity, raw: bytes) -> Fill:
    shape = "activity FILL"
    order_id, symbol, qty, price = wire.order_id, wire.symbol, wire.qty, wire.price
    if not order_id or not symbol or qty is None or price is None:
        missing = [
            name
            for name, value in (
                ("order_id", order_id),
                ("symbol", symbol),
                ("qty", qty),
                ("price", price),
            )
            if value in (None, "")
        ]
        raise ParseError(
            f"FILL activity {wire.id}: missing {', '.join(missing)}", shape=shape, value=wire.id
        )
    return Fill(
        fill_id=wire.id,
        execution_id=None,
        activity_id=wire.id,
        order_id=order_id,
        symbol=symbol,
        side=_strict(_ACTIVITY_SIDE, wire.side, shape, "side", "fill side"),
        qty=qty,
        price=price,
        timestamp=_required_timestamp(wire.transaction_time, shape, "transaction_time"),
        fill_type=_strict(_FILL_TYPE, wire.type or "fill", shape, "type", "fill type"),
        leaves_qty=wire.leaves_qty,
        cum_qty=wire.cum_qty,
        source=DataSource.REST,
        raw=raw,
    )


def _activity(raw: bytes) -> Fill | Activity:
    wire = _decode(_ACTIVITY, raw, "activity")
    if wire.activity_type == "FILL":
        return _fill_activity(wire, raw)
    shape = f"activity {wire.activity_type}"
    return Activity(
        id=wire.id,
        activity_type=wire.activity_type,
        activity_subtype=wire.activity_sub_type or None,
        date=_date(wire.date, shape, "date"),
        transaction_time=_timestamp(wire.transaction_time or wire.created_at, shape, "created_at"),
        net_amount=wire.net_amount,
        qty=wire.qty,
        per_share_amount=wire.per_share_amount,
        price=wire.price,
        symbol=wire.symbol or None,
        order_id=wire.order_id or None,
        description=wire.description or None,
        status=wire.status or None,
        raw=raw,
    )


def parse_activities(body: Body) -> list[Fill | Activity]:
    """``GET /v2/account/activities`` -> FILLs as ``Fill`` (source REST, ``fill_id`` = activity
    id), everything else as ``Activity``; payload order is kept."""
    _, items = _list(body, "activities")
    return [_activity(bytes(item)) for item in items]


# --------------------------------------------------------------------------- market / reference


def parse_clock(body: Body) -> Clock:
    """``GET /v2/clock`` -> the market clock, times in UTC."""
    raw = _as_bytes(body)
    wire = _decode(_CLOCK, raw, "clock")
    return Clock(
        timestamp=_required_timestamp(wire.timestamp, "clock", "timestamp"),
        is_open=wire.is_open,
        next_open=_required_timestamp(wire.next_open, "clock", "next_open"),
        next_close=_required_timestamp(wire.next_close, "clock", "next_close"),
        raw=raw,
    )


def _session_time(day: dt.date, value: str, field: str) -> dt.datetime:
    """``09:30`` or ``0930`` on ``day`` in New York -> UTC (DST handled by the zone)."""
    text = value.strip()
    digits = text.replace(":", "")
    if len(digits) != 4 or not digits.isdigit():
        raise ParseError(
            f"calendar {day}.{field}: {value!r} is not a time of day (expected HH:MM)",
            shape="calendar",
            value=value,
        )
    hour, minute = int(digits[:2]), int(digits[2:])
    if hour > 23 or minute > 59:
        raise ParseError(
            f"calendar {day}.{field}: {value!r} is not a time of day",
            shape="calendar",
            value=value,
        )
    local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=EXCHANGE_TIMEZONE)
    return local.astimezone(_UTC)


def _calendar_day(raw: bytes) -> CalendarDay:
    wire = _decode(_CALENDAR_DAY, raw, "calendar day")
    day = _date(wire.date, "calendar", "date")
    assert day is not None  # a non-empty str always gives a date or raises
    return CalendarDay(
        date=day,
        open=_session_time(day, wire.open, "open"),
        close=_session_time(day, wire.close, "close"),
        session_open=_session_time(day, wire.session_open, "session_open")
        if wire.session_open
        else None,
        session_close=_session_time(day, wire.session_close, "session_close")
        if wire.session_close
        else None,
        settlement_date=_date(wire.settlement_date, "calendar", "settlement_date"),
        raw=raw,
    )


def parse_calendar(body: Body) -> list[CalendarDay]:
    """``GET /v2/calendar`` -> trading days; open/close as UTC instants (exchange time is New
    York)."""
    _, items = _list(body, "calendar days")
    return [_calendar_day(bytes(item)) for item in items]


def _asset(raw: bytes) -> Asset:
    wire = _decode(_ASSET, raw, "asset")
    return Asset(
        id=wire.id,
        symbol=wire.symbol,
        name=wire.name or None,
        asset_class=_asset_class(wire.asset_class),
        exchange=wire.exchange or None,
        status=wire.status,
        tradable=wire.tradable,
        marginable=wire.marginable,
        shortable=wire.shortable,
        easy_to_borrow=wire.easy_to_borrow,
        fractionable=wire.fractionable,
        maintenance_margin_requirement=wire.maintenance_margin_requirement,
        min_order_size=wire.min_order_size,
        min_trade_increment=wire.min_trade_increment,
        price_increment=wire.price_increment,
        attributes=tuple(wire.attributes or ()),
        raw=raw,
    )


def parse_asset(body: Body) -> Asset:
    """``GET /v2/assets/{symbol}`` -> one asset."""
    return _asset(_as_bytes(body))


def parse_assets(body: Body) -> list[Asset]:
    """``GET /v2/assets`` -> assets in payload order."""
    _, items = _list(body, "assets")
    return [_asset(bytes(item)) for item in items]


def _watchlist(raw: bytes) -> Watchlist:
    wire = _decode(_WATCHLIST, raw, "watchlist")
    return Watchlist(
        id=wire.id,
        account_id=wire.account_id or None,
        name=wire.name,
        created_at=_timestamp(wire.created_at, "watchlist", "created_at"),
        updated_at=_timestamp(wire.updated_at, "watchlist", "updated_at"),
        assets=tuple([_asset(bytes(item)) for item in wire.assets or ()]),
        raw=raw,
    )


def parse_watchlist(body: Body) -> Watchlist:
    """One watchlist (get, create, update, add or remove a symbol), with its assets."""
    return _watchlist(_as_bytes(body))


def parse_watchlists(body: Body) -> list[Watchlist]:
    """``GET /v2/watchlists`` -> watchlists (Alpaca lists them without assets)."""
    _, items = _list(body, "watchlists")
    return [_watchlist(bytes(item)) for item in items]


def parse_portfolio_history(body: Body) -> PortfolioHistory:
    """``GET /v2/account/portfolio/history`` -> aligned series; ``None`` where Alpaca sent null
    (periods before the account had data)."""
    raw = _as_bytes(body)
    wire = _decode(_PORTFOLIO_HISTORY, raw, "portfolio history")
    timestamps = tuple(dt.datetime.fromtimestamp(second, _UTC) for second in wire.timestamp or ())
    series = {
        "equity": tuple(wire.equity or ()),
        "profit_loss": tuple(wire.profit_loss or ()),
        "profit_loss_pct": tuple(wire.profit_loss_pct or ()),
    }
    for name, values in series.items():
        if len(values) != len(timestamps):
            raise ParseError(
                f"portfolio history: {name} has {len(values)} values for {len(timestamps)} "
                "timestamps; the series must be aligned",
                shape="portfolio history",
                value=name,
            )
    return PortfolioHistory(
        timestamps=timestamps,
        equity=series["equity"],
        profit_loss=series["profit_loss"],
        profit_loss_pct=series["profit_loss_pct"],
        base_value=wire.base_value,
        timeframe=wire.timeframe,
        raw=raw,
    )


# --------------------------------------------------------------------------- 207 bulk answers


def _bulk(body: Body, key_field: str, shape: str) -> list[BulkResult]:
    _, items = _list(body, shape)
    results: list[BulkResult] = []
    for item in items:
        raw = bytes(item)
        wire = _decode(_BULK_ITEM, raw, shape)
        key = wire.id if key_field == "id" else wire.symbol
        if not key:
            raise ParseError(
                f"{shape}: an entry has no {key_field!r}; payload {_excerpt(raw)!r}",
                shape=shape,
                value=_excerpt(raw),
            )
        order: Order | None = None
        error_code: int | None = None
        error_message: str | None = None
        entry_body = bytes(wire.body)
        if entry_body and entry_body != b"null":
            if 200 <= wire.status < 300:
                order = _order(entry_body, None)
            else:
                error_code, error_message, _ = parse_error(entry_body)
        results.append(
            BulkResult(
                key=key,
                status=wire.status,
                order=order,
                error_code=error_code,
                error_message=error_message,
                raw=raw,
            )
        )
    return results


def parse_bulk_orders(body: Body) -> list[BulkResult]:
    """The 207 answer of ``DELETE /v2/orders``: one result per order id."""
    return _bulk(body, "id", "cancel-all orders answer")


def parse_bulk_positions(body: Body) -> list[BulkResult]:
    """The 207 answer of ``DELETE /v2/positions``: one result per symbol; ``order`` is the
    closing order."""
    return _bulk(body, "symbol", "close-all positions answer")


# --------------------------------------------------------------------------- errors


def _error_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_error(body: Body) -> tuple[int | None, str, dict[str, Any]]:
    """An error body -> ``(code, message, extra)``. Never raises: a body that is not a JSON
    object (``b"Too Many Requests"``, an HTML page) becomes ``(None, its text, {})``."""
    data = _as_bytes(body)
    try:
        document = _ANY.decode(data)
    except msgspec.DecodeError:
        document = None
    if isinstance(document, dict):
        extra = {key: value for key, value in document.items() if key not in ("code", "message")}
        message = document.get("message")
        if message is None:
            message = extra.pop("error", None)
        code = _error_code(document.get("code"))
        if code is None and "code" in document:
            extra["code"] = document["code"]
        return code, "" if message is None else str(message), extra
    text = data.decode("utf-8", errors="replace").strip()
    if len(text) > _ERROR_TEXT_LIMIT:
        text = text[:_ERROR_TEXT_LIMIT] + "..."
    return None, text, {}


# --------------------------------------------------------------------------- trade_updates stream


def parse_trade_update(data: bytes | str | Mapping[str, Any]) -> TradeUpdate:
    """The ``data`` object of a ``trade_updates`` message -> ``TradeUpdate``. A missing
    ``timestamp`` falls back to the order's newest timestamp."""
    raw = _ENCODER.encode(data) if isinstance(data, Mapping) else _as_bytes(data)
    wire = _decode(_TRADE_UPDATE, raw, "trade update")
    order = _order(bytes(wire.order), None)
    timestamp = _timestamp(wire.timestamp, "trade update", "timestamp") or order.last_event_at
    return TradeUpdate(
        event=_EVENT_KIND.get(wire.event, TradeEventKind.UNKNOWN),
        event_name=wire.event,
        order=order,
        timestamp=timestamp,
        execution_id=wire.execution_id or None,
        price=wire.price,
        qty=wire.qty,
        position_qty=wire.position_qty,
        raw=raw,
    )


def _frame_json(frame: bytes | str) -> bytes:
    """A frame as JSON bytes: JSON frames as they are, MessagePack frames re-encoded."""
    if isinstance(frame, str):
        return frame.encode("utf-8")
    data = bytes(frame)
    first = data.lstrip()[:1]
    if first in (b"{", b"["):
        return data
    try:
        document = msgspec.msgpack.decode(data)
    except msgspec.DecodeError as exc:
        raise ParseError(
            f"stream frame is neither JSON nor MessagePack ({exc}); frame starts "
            f"{_excerpt(data)!r}",
            shape="stream frame",
            value=_excerpt(data),
        ) from None
    return _ENCODER.encode(document)


def decode_stream_frame(frame: bytes | str) -> StreamMessage:
    """One WebSocket frame of the trading stream (JSON or MessagePack, detected) -> a message."""
    data = _frame_json(frame)
    envelope = _decode(_ENVELOPE, data, "stream frame")
    stream = envelope.stream
    payload = bytes(envelope.data) or b"{}"
    if stream == "trade_updates":
        return StreamTradeUpdate(update=parse_trade_update(payload))
    if stream == "authorization":
        authorization = _decode(_AUTHORIZATION, payload, "stream authorization")
        return StreamAuthorization(status=authorization.status, action=authorization.action)
    if stream == "listening":
        listening = _decode(_LISTENING, payload, "stream listening")
        return StreamListening(streams=tuple(listening.streams))
    return StreamUnknown(stream=stream, raw=data)


def fill_from_trade_update(update: TradeUpdate) -> Fill | None:
    """The execution a fill/partial_fill event reports, or ``None`` for any other event.

    ``fill_id`` is the execution id; ``cum_qty`` the order's filled qty after this execution;
    ``leaves_qty`` what remains of the order's qty (None for notional orders)."""
    if not update.event.is_fill:
        return None
    order = update.order
    execution_id, price, qty, side = update.execution_id, update.price, update.qty, order.side
    if not execution_id or price is None or qty is None or side is None:
        missing = [
            name
            for name, value in (
                ("execution_id", execution_id),
                ("price", price),
                ("qty", qty),
                ("order.side", side),
            )
            if value in (None, "")
        ]
        raise ParseError(
            f"trade update {update.event_name} for order {order.id}: missing "
            f"{', '.join(missing)}; a fill cannot be recorded without them",
            shape=f"trade update {update.event_name}",
            value=order.id,
        )
    leaves_qty = None if order.qty is None else order.qty - order.filled_qty
    return Fill(
        fill_id=execution_id,
        execution_id=execution_id,
        activity_id=None,
        order_id=order.id,
        client_order_id=order.client_order_id or None,
        symbol=order.symbol,
        side=side,
        qty=qty,
        price=price,
        timestamp=update.timestamp,
        fill_type=FillType.FILL if update.event is TradeEventKind.FILL else FillType.PARTIAL_FILL,
        leaves_qty=leaves_qty,
        cum_qty=order.filled_qty,
        position_qty=update.position_qty,
        source=DataSource.STREAM,
        raw=update.raw,
    )


def encode_stream_auth(key_id: str, secret_key: str) -> bytes:
    """The ``authenticate`` message. It carries the secret by necessity: send it, never log it."""
    return _ENCODER.encode(
        {"action": "authenticate", "data": {"key_id": key_id, "secret_key": secret_key}}
    )


def encode_stream_listen() -> bytes:
    """The ``listen`` message subscribing to ``trade_updates``."""
    return _ENCODER.encode({"action": "listen", "data": {"streams": ["trade_updates"]}})
