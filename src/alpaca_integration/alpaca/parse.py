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

This module holds the account, position, activity, 207 and error parsers, and is the one import
path for every parser: orders live in ``parse_orders``, option contracts in ``parse_options``, the
clocks, calendars, assets, watchlists and portfolio history in ``parse_reference``, the stream in
``parse_stream``, the shared decoding rules in ``decoding``. It imports only ``models``,
``instruments``, ``errors`` and those ``alpaca`` modules from the package; never the client, the
stream connection, storage or anything doing I/O.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec

from alpaca_integration.alpaca import parse_stream as _stream
from alpaca_integration.alpaca.decoding import (
    ACTIVITY_SIDE,
    FILL_TYPE,
    Body,
    as_bytes,
    asset_class_of,
    calendar_date,
    decode,
    decode_each,
    decode_list,
    excerpt,
    missing_fields,
    or_zero,
    required_timestamp,
    strict_enum,
    utc_timestamp,
)
from alpaca_integration.alpaca.parse_options import (
    OptionContractsPage,
    parse_option_contract,
    parse_option_contracts_page,
)
from alpaca_integration.alpaca.parse_orders import parse_order, parse_orders
from alpaca_integration.alpaca.parse_reference import (
    EXCHANGE_TIMEZONE,
    parse_asset,
    parse_assets,
    parse_calendar,
    parse_clock,
    parse_market_calendar,
    parse_market_clocks,
    parse_portfolio_history,
    parse_watchlist,
    parse_watchlists,
)
from alpaca_integration.alpaca.parse_stream import *  # noqa: F403  (the stream's, re-exported)
from alpaca_integration.alpaca.schemas import (
    WireAccount,
    WireAccountConfiguration,
    WireActivity,
    WireBulkItem,
    WirePosition,
)
from alpaca_integration.errors import ParseError
from alpaca_integration.instruments import (
    asset_class_of_symbol,
    default_multiplier,
    instrument_class,
)
from alpaca_integration.models import (
    POSITION_VALUE_FIELDS,
    AccountConfiguration,
    AccountSnapshot,
    Activity,
    BulkResult,
    DataSource,
    Fill,
    Order,
    Position,
    PositionSide,
)

__all__ = [
    "EXCHANGE_TIMEZONE",
    "OptionContractsPage",
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
    "parse_market_calendar",
    "parse_market_clocks",
    "parse_option_contract",
    "parse_option_contracts_page",
    "parse_order",
    "parse_orders",
    "parse_portfolio_history",
    "parse_position",
    "parse_positions",
    "parse_watchlist",
    "parse_watchlists",
]
__all__ += _stream.__all__

_UTC = dt.UTC
_ERROR_TEXT_LIMIT = 500
_ACCOUNT = msgspec.json.Decoder(WireAccount)
_ACCOUNT_CONFIGURATION = msgspec.json.Decoder(WireAccountConfiguration)
_POSITION = msgspec.json.Decoder(WirePosition)
_ACTIVITY = msgspec.json.Decoder(WireActivity)
_BULK_ITEM = msgspec.json.Decoder(WireBulkItem)
# Numbers in free-form error bodies become exact Decimals too (float_hook gets the number's text).
_ANY = msgspec.json.Decoder(float_hook=Decimal)


# --------------------------------------------------------------------------- account


def parse_account(body: Body, observed_at: dt.datetime) -> AccountSnapshot:
    """``GET /v2/account`` -> the account's figures as observed at ``observed_at``."""
    raw = as_bytes(body)
    wire = decode(_ACCOUNT, raw, "account")
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
    equity = _equity(wire)
    return AccountSnapshot(
        account_id=wire.id,
        account_number=wire.account_number,
        status=wire.status,
        currency=wire.currency,
        cash=or_zero(wire.cash),
        equity=equity,
        last_equity=or_zero(wire.last_equity),
        buying_power=or_zero(wire.buying_power),
        regt_buying_power=or_zero(wire.regt_buying_power),
        daytrading_buying_power=or_zero(wire.daytrading_buying_power),
        non_marginable_buying_power=or_zero(wire.non_marginable_buying_power),
        long_market_value=or_zero(wire.long_market_value),
        short_market_value=or_zero(wire.short_market_value),
        portfolio_value=equity if wire.portfolio_value is None else wire.portfolio_value,
        initial_margin=or_zero(wire.initial_margin),
        maintenance_margin=or_zero(wire.maintenance_margin),
        last_maintenance_margin=or_zero(wire.last_maintenance_margin),
        multiplier=Decimal(1) if wire.multiplier is None else wire.multiplier,
        sma=or_zero(wire.sma),
        daytrade_count=daytrade_count or 0,
        accrued_fees=or_zero(wire.accrued_fees),
        pattern_day_trader=wire.pattern_day_trader,
        trading_blocked=wire.trading_blocked,
        transfers_blocked=wire.transfers_blocked,
        account_blocked=wire.account_blocked,
        shorting_enabled=wire.shorting_enabled,
        trade_suspended_by_user=wire.trade_suspended_by_user,
        created_at=utc_timestamp(wire.created_at, "account", "created_at"),
        observed_at=_observed(observed_at),
        options_buying_power=wire.options_buying_power,
        options_approved_level=wire.options_approved_level,
        options_trading_level=wire.options_trading_level,
        crypto_status=wire.crypto_status or None,
        raw=raw,
    )


def _equity(wire: WireAccount) -> Decimal:
    """Equity as sent; else portfolio_value (Alpaca's older name for it); else as Alpaca defines
    it, cash + long_market_value + short_market_value (short values are negative). The spec
    requires only id and status, so every figure may be absent (then zero, like the others)."""
    if wire.equity is not None:
        return wire.equity
    if wire.portfolio_value is not None:
        return wire.portfolio_value
    return or_zero(wire.cash) + or_zero(wire.long_market_value) + or_zero(wire.short_market_value)


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
    raw = as_bytes(body)
    wire = decode(_ACCOUNT_CONFIGURATION, raw, "account configuration")
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
    wire = decode(_POSITION, raw, "position")
    qty = wire.qty
    qty_available = wire.qty_available
    if not qty.is_finite() or (qty_available is not None and not qty_available.is_finite()):
        # NaN cannot be compared, so neither the side nor the sign could be told.
        raise ParseError(
            f"position {wire.symbol}: qty {qty} / qty_available {qty_available} is not a number",
            shape="position",
            value=str(qty),
        )
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
    asset_class = asset_class_of(wire.asset_class)
    return Position(
        symbol=wire.symbol,
        asset_id=wire.asset_id or None,
        asset_class=asset_class,
        multiplier=default_multiplier(instrument_class(asset_class, wire.symbol)),
        exchange=wire.exchange or None,
        side=side,
        qty=qty,
        qty_available=qty_available,
        avg_entry_price=wire.avg_entry_price,
        market_value=wire.market_value,
        cost_basis=wire.cost_basis,
        **{name: getattr(wire, name) for name in POSITION_VALUE_FIELDS},
        observed_at=observed_at,
        raw=raw,
    )


def parse_position(body: Body, observed_at: dt.datetime) -> Position:
    """``GET /v2/positions/{symbol}`` -> one position; ``qty`` is negative for a short."""
    return _position(as_bytes(body), _observed(observed_at))


def parse_positions(body: Body, observed_at: dt.datetime) -> list[Position]:
    """``GET /v2/positions`` -> every open position, in payload order."""
    observed = _observed(observed_at)
    _, items = decode_list(body, "positions")
    return [_position(bytes(item), observed) for item in items]


# --------------------------------------------------------------------------- activities


def _fill_activity(wire: WireActivity, raw: bytes) -> Fill:
    shape = "activity FILL"
    order_id, symbol, qty, price = wire.order_id, wire.symbol, wire.qty, wire.price
    if not order_id or not symbol or qty is None or price is None:
        missing = missing_fields(
            {"order_id": order_id, "symbol": symbol, "qty": qty, "price": price}
        )
        raise ParseError(f"FILL activity {wire.id}: missing {missing}", shape=shape, value=wire.id)
    asset_class = asset_class_of_symbol(symbol)
    return Fill(
        fill_id=wire.id,
        execution_id=None,
        activity_id=wire.id,
        order_id=order_id,
        symbol=symbol,
        side=strict_enum(ACTIVITY_SIDE, wire.side, shape, "side", "fill side"),
        qty=qty,
        price=price,
        timestamp=required_timestamp(wire.transaction_time, shape, "transaction_time"),
        fill_type=strict_enum(FILL_TYPE, wire.type or "fill", shape, "type", "fill type"),
        leaves_qty=wire.leaves_qty,
        cum_qty=wire.cum_qty,
        source=DataSource.REST,
        asset_class=asset_class,
        multiplier=default_multiplier(asset_class),
        raw=raw,
    )


def _activity(raw: bytes) -> Fill | Activity:
    wire = decode(_ACTIVITY, raw, "activity")
    if wire.activity_type == "FILL":
        return _fill_activity(wire, raw)
    shape = f"activity {wire.activity_type}"
    return Activity(
        id=wire.id,
        activity_type=wire.activity_type,
        activity_subtype=wire.activity_sub_type or None,
        date=calendar_date(wire.date, shape, "date"),
        transaction_time=utc_timestamp(
            wire.transaction_time or wire.created_at, shape, "created_at"
        ),
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
    return decode_each(body, "activities", _activity)


# --------------------------------------------------------------------------- 207 bulk answers


def _bulk(body: Body, key_field: str, shape: str) -> list[BulkResult]:
    _, items = decode_list(body, shape)
    results: list[BulkResult] = []
    for item in items:
        raw = bytes(item)
        wire = decode(_BULK_ITEM, raw, shape)
        key = wire.id if key_field == "id" else wire.symbol
        if not key:
            raise ParseError(
                f"{shape}: an entry has no {key_field!r}; payload {excerpt(raw)!r}",
                shape=shape,
                value=excerpt(raw),
            )
        order: Order | None = None
        error_code: int | None = None
        error_message: str | None = None
        entry_body = bytes(wire.body)
        if entry_body and entry_body != b"null":
            if 200 <= wire.status < 300:
                order = parse_order(entry_body)
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
    data = as_bytes(body)
    try:
        document = _ANY.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError):
        # A JSON string with invalid UTF-8 inside raises UnicodeDecodeError from msgspec.
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
