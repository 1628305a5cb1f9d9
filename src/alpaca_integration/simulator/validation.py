"""Alpaca's rules for the fields of an order request: what ``POST /v2/orders`` and
``PATCH /v2/orders/{id}`` accept, field by field, in the order Alpaca complains about them.

``parse_order`` turns a request body into an ``OrderIntent``; ``parse_replace`` validates a
replace request against the order it replaces and says what the replacement will be;
``close_qty`` reads ``DELETE /v2/positions/{symbol}``'s quantity. A refusal is the
``VenueError`` Alpaca answers (422 for a malformed or refused field, 403 for what the account's
configuration forbids). What the account may afford or sell is ``exposure``'s business. Nothing
here changes the venue's state.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from alpaca_integration.simulator.asset_classes import (
    check_asset_class_order,
    check_fine_price,
    option_symbol_problem,
)
from alpaca_integration.simulator.market import AssetSpec, price_tick
from alpaca_integration.simulator.state import Account, Order, Position
from alpaca_integration.simulator.wire import (
    fmt,
    forbidden,
    invalid,
    parse_bool,
    parse_decimal,
    unprocessable,
)

__all__ = [
    "LIMIT_TYPES",
    "ORDER_TYPES",
    "STOP_TYPES",
    "TIME_IN_FORCE",
    "OrderIntent",
    "check_sub_penny",
    "client_order_id_of",
    "close_qty",
    "parse_order",
    "parse_replace",
]

ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
ORDER_CLASSES = ("", "simple", "bracket", "oco", "oto", "mleg")
STOP_TYPES = frozenset({"stop", "stop_limit", "trailing_stop"})
LIMIT_TYPES = frozenset({"limit", "stop_limit"})
POSITION_INTENTS = ("buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close")
_ZERO = Decimal(0)
_NINE_PLACES = Decimal("1E-9")
_CENT = Decimal("0.01")
_REPLACEABLE_FIELDS = (
    "qty",
    "time_in_force",
    "limit_price",
    "stop_price",
    "trail",
    "client_order_id",
)


@dataclasses.dataclass(slots=True)
class OrderIntent:
    """A validated order request (a new order, or what a replacement becomes)."""

    asset: AssetSpec
    side: str
    type: str
    time_in_force: str
    order_class: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    extended_hours: bool
    client_order_id: str | None
    take_profit: Decimal | None
    stop_loss_stop: Decimal | None
    stop_loss_limit: Decimal | None
    position_intent: str | None

    @property
    def is_buy(self) -> bool:
        return self.side == "buy"


def check_sub_penny(field: str, price: Decimal) -> None:
    """A price must be positive and on the tick (cents from $1, hundredths of a cent below)."""
    if price <= 0:
        raise invalid(f"{field} must be > 0, got {fmt(price)}")
    tick = price_tick(price)
    if price % tick:
        places = 2 if tick == _CENT else 4
        raise unprocessable(
            f"invalid {field} {fmt(price)}. sub-penny increment does not fulfill minimum pricing "
            f"criteria: use at most {places} decimals for prices "
            f"{'>= $1' if places == 2 else 'under $1'}"
        )


def _decimal(source: dict[str, Any], name: str) -> Decimal | None:
    value = source.get(name)
    return None if value is None or value == "" else parse_decimal(value, name)


def client_order_id_of(account: Account, body: dict[str, Any]) -> str | None:
    """The request's ``client_order_id``: optional, 1-128 characters, unique per account."""
    client_order_id = body.get("client_order_id")
    if client_order_id is None:
        return None
    if not isinstance(client_order_id, str) or not client_order_id:
        raise invalid("client_order_id must be a non-empty string")
    if len(client_order_id) > 128:
        raise invalid("client_order_id must be at most 128 characters")
    if client_order_id in account.by_client_id:
        raise invalid("client_order_id must be unique")
    return client_order_id


def _kind(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(side, type, time_in_force, order_class), each one of Alpaca's values."""
    side = body.get("side")
    if side not in ("buy", "sell"):
        raise invalid(f'side must be "buy" or "sell", got {side!r}')
    order_type = body.get("type", body.get("order_type"))
    if order_type not in ORDER_TYPES:
        raise invalid(f"type must be one of {', '.join(ORDER_TYPES)}, got {order_type!r}")
    tif = body.get("time_in_force")
    if tif not in TIME_IN_FORCE:
        raise invalid(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, got {tif!r}")
    order_class = body.get("order_class") or ""
    if order_class not in ORDER_CLASSES:
        raise invalid(f"order_class must be one of simple, bracket, oco, oto, got {order_class!r}")
    if order_class == "mleg":
        raise unprocessable("mleg (options) orders are not supported by this simulator")
    return side, order_type, tif, order_class


def _quantity(
    account: Account, asset: AssetSpec, body: dict[str, Any], order_type: str, tif: str
) -> tuple[Decimal | None, Decimal | None]:
    """(qty, notional): exactly one, on its grid, fractional only where allowed."""
    qty = _decimal(body, "qty")
    notional = _decimal(body, "notional")
    if qty is None and notional is None:
        raise invalid("qty or notional is required")
    if qty is not None and notional is not None:
        raise invalid("only one of qty or notional may be given")
    if qty is not None:
        if qty <= 0:
            raise invalid(f"qty must be > 0, got {fmt(qty)}")
        if qty != qty.quantize(_NINE_PLACES):
            raise invalid("qty must have at most 9 decimal places")
    if notional is not None:
        if notional <= 0:
            raise invalid(f"notional must be > 0, got {fmt(notional)}")
        if notional != notional.quantize(_CENT):
            raise invalid("notional must have at most 2 decimal places")
    if notional is not None or (qty is not None and qty % 1 != 0):
        if not asset.fractionable:
            raise unprocessable(
                f'asset "{asset.symbol}" is not fractionable: order whole shares with qty'
            )
        if not account.configuration.get("fractional_trading", True):
            raise forbidden("fractional trading is disabled in this account's configuration")
        if not asset.is_crypto and (order_type not in ("market", "limit") or tif != "day"):
            raise unprocessable(
                "fractional and notional orders must be market or limit orders with "
                "time_in_force day"
            )
        if notional is not None and order_type != "market":
            raise unprocessable("notional orders must be market orders")
    return qty, notional


def _check_trailing(
    order_type: str,
    tif: str,
    stop_price: Decimal | None,
    trail_price: Decimal | None,
    trail_percent: Decimal | None,
) -> None:
    if order_type != "trailing_stop":
        if trail_price is not None or trail_percent is not None:
            raise unprocessable("trail_price and trail_percent are only for trailing_stop orders")
        return
    if (trail_price is None) == (trail_percent is None):
        raise invalid("trailing_stop orders need exactly one of trail_price or trail_percent")
    if trail_price is not None:
        check_sub_penny("trail_price", trail_price)
    if trail_percent is not None and not 0 < trail_percent < 100:
        raise invalid("trail_percent must be between 0 and 100")
    if stop_price is not None:
        raise unprocessable("stop_price is derived for trailing_stop orders; give trail")
    if tif not in ("day", "gtc"):
        raise unprocessable("trailing_stop orders must be day or gtc")


def _prices(
    body: dict[str, Any], order_type: str, tif: str, order_class: str, asset: AssetSpec
) -> tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]:
    """(limit_price, stop_price, trail_price, trail_percent) as the order type needs them."""
    limit_price = _decimal(body, "limit_price")
    stop_price = _decimal(body, "stop_price")
    trail_price = _decimal(body, "trail_price")
    trail_percent = _decimal(body, "trail_percent")
    if order_type in LIMIT_TYPES and limit_price is None and order_class != "oco":
        raise invalid(f"limit_price is required for {order_type} orders")
    if order_type in ("market", "stop", "trailing_stop") and limit_price is not None:
        raise unprocessable(f"limit_price is not allowed for {order_type} orders")
    if order_type in ("stop", "stop_limit") and stop_price is None:
        raise invalid(f"stop_price is required for {order_type} orders")
    if order_type in ("market", "limit") and stop_price is not None:
        raise unprocessable(f"stop_price is not allowed for {order_type} orders")
    _check_trailing(order_type, tif, stop_price, trail_price, trail_percent)
    for name, value in (("limit_price", limit_price), ("stop_price", stop_price)):
        if value is not None:
            (check_fine_price if asset.is_crypto else check_sub_penny)(name, value)
    return limit_price, stop_price, trail_price, trail_percent


def _extended_hours(body: dict[str, Any], order_type: str, tif: str, order_class: str) -> bool:
    extended = body.get("extended_hours")
    extended_hours = False if extended is None else parse_bool(extended, "extended_hours")
    if extended_hours and (
        order_type != "limit" or tif != "day" or order_class not in ("", "simple")
    ):
        raise unprocessable(
            "extended hours orders must be simple limit orders with time_in_force day"
        )
    return extended_hours


def _exit_prices(
    body: dict[str, Any], order_class: str
) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """(take_profit.limit_price, stop_loss.stop_price, stop_loss.limit_price)."""
    take_profit = body.get("take_profit")
    stop_loss = body.get("stop_loss")
    for name, value in (("take_profit", take_profit), ("stop_loss", stop_loss)):
        if value is not None and not isinstance(value, dict):
            raise invalid(f"{name} must be an object")
    tp_limit = _decimal(take_profit, "limit_price") if take_profit else None
    sl_stop = _decimal(stop_loss, "stop_price") if stop_loss else None
    sl_limit = _decimal(stop_loss, "limit_price") if stop_loss else None
    for name, value in (
        ("take_profit.limit_price", tp_limit),
        ("stop_loss.stop_price", sl_stop),
        ("stop_loss.limit_price", sl_limit),
    ):
        if value is not None:
            check_sub_penny(name, value)
    if order_class in ("", "simple") and (take_profit or stop_loss):
        raise unprocessable("take_profit and stop_loss need order_class bracket, oco or oto")
    return tp_limit, sl_stop, sl_limit


def _position_intent(body: dict[str, Any]) -> str | None:
    intent = body.get("position_intent")
    if intent is not None and intent not in POSITION_INTENTS:
        raise invalid(
            f"position_intent {intent!r} is not one of buy_to_open, "
            "buy_to_close, sell_to_open, sell_to_close"
        )
    return intent


def close_qty(position: Position, params: dict[str, str]) -> Decimal:
    """DELETE /v2/positions/{symbol}: all of it, ``qty`` shares, or ``percentage`` of it."""
    size = abs(position.qty)
    qty_text = params.get("qty")
    percentage_text = params.get("percentage")
    if qty_text and percentage_text:
        raise invalid("give qty or percentage, not both")
    if qty_text:
        qty = parse_decimal(qty_text, "qty")
        if qty <= 0 or qty > size:
            raise invalid(f"qty must be > 0 and at most the position size {fmt(size)}")
        return qty
    if percentage_text:
        percentage = parse_decimal(percentage_text, "percentage")
        if not 0 < percentage <= 100:
            raise invalid("percentage must be > 0 and at most 100")
        places = _NINE_PLACES if position.asset.fractionable else Decimal(1)
        qty = (size * percentage / 100).quantize(places, rounding=ROUND_DOWN)
        if qty <= 0:
            raise invalid(f"{fmt(percentage)}% of {fmt(size)} shares rounds to zero shares")
        return qty
    return size


def _asset(body: dict[str, Any], resolve_asset: Callable[[str], AssetSpec | None]) -> AssetSpec:
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise invalid('symbol is required (e.g. "AAPL")')
    problem = option_symbol_problem(symbol.strip())
    if problem is not None:
        raise unprocessable(problem)
    asset = resolve_asset(symbol.strip())
    if asset is None:
        raise unprocessable(
            f'asset "{symbol}" not found; GET /v2/assets lists the symbols this venue trades'
        )
    if not asset.tradable:
        raise unprocessable(f'asset "{asset.symbol}" is not tradable')
    return asset


def parse_order(
    account: Account, body: dict[str, Any], resolve_asset: Callable[[str], AssetSpec | None]
) -> OrderIntent:
    """POST /v2/orders' body, field by field in Alpaca's order of complaints."""
    asset = _asset(body, resolve_asset)
    side, order_type, tif, order_class = _kind(body)
    check_asset_class_order(asset, body, order_type, tif, order_class)
    qty, notional = _quantity(account, asset, body, order_type, tif)
    limit_price, stop_price, trail_price, trail_percent = _prices(
        body, order_type, tif, order_class, asset
    )
    extended_hours = _extended_hours(body, order_type, tif, order_class)
    client_order_id = client_order_id_of(account, body)
    take_profit, stop_loss_stop, stop_loss_limit = _exit_prices(body, order_class)
    return OrderIntent(
        asset=asset,
        side=side,
        type=order_type,
        time_in_force=tif,
        order_class=order_class,
        qty=qty,
        notional=notional,
        limit_price=limit_price,
        stop_price=stop_price,
        trail_price=trail_price,
        trail_percent=trail_percent,
        extended_hours=extended_hours,
        client_order_id=client_order_id,
        take_profit=take_profit,
        stop_loss_stop=stop_loss_stop,
        stop_loss_limit=stop_loss_limit,
        position_intent=_position_intent(body),
    )


def parse_replace(account: Account, old: Order, body: dict[str, Any]) -> OrderIntent:
    """PATCH /v2/orders/{id}'s body against the (replaceable) order ``old``: what the
    replacement will be. ``qty`` defaults to what ``old`` has left to fill."""
    if not any(body.get(name) is not None for name in _REPLACEABLE_FIELDS):
        raise invalid(
            "nothing to replace: give at least one of qty, time_in_force, limit_price, "
            "stop_price, trail or client_order_id"
        )
    qty = _decimal(body, "qty")
    limit_price = _decimal(body, "limit_price")
    stop_price = _decimal(body, "stop_price")
    trail = _decimal(body, "trail")
    tif = body.get("time_in_force") or old.time_in_force
    if tif not in TIME_IN_FORCE:
        raise invalid(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}")
    _check_replaced_fields(old, qty, limit_price, stop_price, trail)
    client_order_id = body.get("client_order_id")
    if client_order_id is not None:
        if not isinstance(client_order_id, str) or not 0 < len(client_order_id) <= 128:
            raise invalid("client_order_id must be a string of 1 to 128 characters")
        if client_order_id in account.by_client_id:
            raise invalid("client_order_id must be unique")
    intent = OrderIntent(
        asset=old.asset,
        side=old.side,
        type=old.type,
        time_in_force=tif,
        order_class=old.order_class,
        qty=qty if qty is not None else (old.remaining or old.qty),
        notional=None,
        limit_price=limit_price if limit_price is not None else old.limit_price,
        stop_price=stop_price if stop_price is not None else old.stop_price,
        trail_price=old.trail_price,
        trail_percent=old.trail_percent,
        extended_hours=old.extended_hours,
        client_order_id=client_order_id,
        take_profit=None,
        stop_loss_stop=None,
        stop_loss_limit=None,
        position_intent=old.position_intent,
    )
    if trail is not None:
        _apply_trail(intent, old, trail)
    return intent


def _check_replaced_fields(
    old: Order,
    qty: Decimal | None,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
    trail: Decimal | None,
) -> None:
    """Each given field must suit the order being replaced."""
    if qty is not None:
        if qty <= 0 or qty != qty.quantize(_NINE_PLACES):
            raise invalid("qty must be > 0 with at most 9 decimal places")
        if qty % 1 and not old.asset.fractionable:
            raise unprocessable(f'asset "{old.symbol}" is not fractionable')
    if limit_price is not None:
        if old.type not in LIMIT_TYPES:
            raise unprocessable(f"limit_price cannot be set on a {old.type} order")
        check_sub_penny("limit_price", limit_price)
    if stop_price is not None:
        if old.type not in ("stop", "stop_limit"):
            raise unprocessable(f"stop_price cannot be set on a {old.type} order")
        check_sub_penny("stop_price", stop_price)
    if trail is not None:
        if old.type != "trailing_stop":
            raise unprocessable("trail can only be set on a trailing_stop order")
        if trail <= 0:
            raise invalid("trail must be > 0")


def _apply_trail(intent: OrderIntent, old: Order, trail: Decimal) -> None:
    """``trail`` is a price for a trail_price order, a percent for a trail_percent one."""
    if old.trail_price is not None:
        check_sub_penny("trail", trail)
        intent.trail_price = trail
        return
    if not 0 < trail < 100:
        raise invalid("trail (a percent for this order) must be between 0 and 100")
    intent.trail_percent = trail
