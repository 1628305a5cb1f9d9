"""Domain order intents -> Alpaca request bodies and query parameters, checked before sending.

``validate_order_request`` applies Alpaca's own order rules locally, so a bad order fails with a
clear ``OrderValidationError`` (``field`` names the culprit) before any request is made, and a
request budget is never spent on an order the venue would refuse. Sizes and prices are also held
within sanity bounds (``MAX_ORDER_QTY``, ``MAX_ORDER_NOTIONAL``, ``MAX_PRICE``, at most
``MAX_QTY_DECIMALS`` decimals): a typo such as ``--qty 99999999999999999999999999999999`` is
refused here, naming the bound, instead of drawing a 500 that an order path would have to
resolve. ``build_*`` functions validate first, then produce the JSON body: prices and quantities
as plain decimal strings (``Decimal("1E+2")`` is sent as ``"100"``), enum values as Alpaca spells
them, optional fields omitted rather than sent as null.

Every order is held to its asset class's rules first (``asset_rules``: options take whole
contracts, market or limit, day only; crypto pairs gtc or ioc; a malformed OCC symbol is refused
saying why), and a ``MultiLegOrderRequest`` becomes an ``mleg`` body there. A replace is held to
the rules of the order it replaces when that order is known (``replace_needs_order`` says when
the client must fetch it). The fields themselves are checked in ``request_fields``.

The query builders (``orders_query``, ``activities_query``, ``rfc3339``) live in ``queries`` and
are re-exported here.

Pure: no I/O, no clock reads. Imports only ``models``, ``errors`` and
``alpaca.{queries,request_fields,asset_rules}`` from the package.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from alpaca_integration.alpaca.asset_rules import (
    EQUITY_RULES,
    AssetRules,
    check_order_gates,
    mleg_order_body,
    order_asset_class,
    price_of,
    rules_for_class,
    rules_for_order,
)
from alpaca_integration.alpaca.queries import (
    MAX_ACTIVITIES_PAGE,
    MAX_ORDERS_PAGE,
    activities_query,
    orders_query,
    rfc3339,
)
from alpaca_integration.alpaca.request_fields import (
    MAX_CLIENT_ORDER_ID_LENGTH,
    MAX_ORDER_NOTIONAL,
    MAX_ORDER_QTY,
    MAX_PRICE,
    MAX_QTY_DECIMALS,
    decimal_places,
    decimal_text,
    whole,
)
from alpaca_integration.alpaca.request_fields import checked_client_order_id as _client_order_id
from alpaca_integration.alpaca.request_fields import member as _enum
from alpaca_integration.alpaca.request_fields import positive as _positive
from alpaca_integration.alpaca.request_fields import price as _price
from alpaca_integration.alpaca.request_fields import refuse as _fail
from alpaca_integration.alpaca.request_fields import size as _size
from alpaca_integration.alpaca.request_fields import within as _within
from alpaca_integration.errors import RiskLimitError
from alpaca_integration.models import (
    MultiLegOrderRequest,
    OptionLegRequest,
    Order,
    OrderClass,
    OrderIntent,
    OrderRequest,
    OrderSide,
    OrderType,
    PositionIntent,
    ReplaceRequest,
    TimeInForce,
)

__all__ = [
    "MAX_ACTIVITIES_PAGE",
    "MAX_CLIENT_ORDER_ID_LENGTH",
    "MAX_ORDERS_PAGE",
    "MAX_ORDER_NOTIONAL",
    "MAX_ORDER_QTY",
    "MAX_PRICE",
    "MAX_QTY_DECIMALS",
    "activities_query",
    "build_order_body",
    "build_replace_body",
    "close_position_query",
    "decimal_text",
    "orders_query",
    "replace_needs_order",
    "replaced_intent",
    "replaced_order_request",
    "rfc3339",
    "validate_order_request",
    "validate_replace_request",
]

_LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT})
_STOP_TYPES = frozenset({OrderType.STOP, OrderType.STOP_LIMIT})
_BRACKET_TIFS = frozenset({TimeInForce.DAY, TimeInForce.GTC})
_EXTENDED_HOURS_TIFS = frozenset({TimeInForce.DAY, TimeInForce.GTC})
_HUNDRED = Decimal(100)


# --------------------------------------------------------------------------- new orders


def _order_body(req: OrderRequest) -> dict[str, Any]:
    """Validate ``req`` against Alpaca's rules and return the POST /v2/orders body."""
    symbol = req.symbol.strip() if isinstance(req.symbol, str) else ""
    if not symbol:
        raise _fail("symbol", "is empty", "pass the asset's symbol, e.g. 'AAPL'")
    rules = rules_for_class(order_asset_class(symbol))
    side: OrderSide = _enum(OrderSide, req.side, "side")
    order_type: OrderType = _enum(OrderType, req.type, "type")
    tif: TimeInForce = _enum(TimeInForce, req.time_in_force, "time_in_force")
    order_class: OrderClass = _enum(OrderClass, req.order_class, "order_class")
    client_order_id = _client_order_id(req.client_order_id)
    if order_class is OrderClass.MLEG:
        raise _fail(
            "order_class",
            "an OrderRequest names one instrument; a multi-leg (mleg) order is a "
            "MultiLegOrderRequest",
            "submit a MultiLegOrderRequest with its legs",
        )
    check_order_gates(rules, req, order_type, tif, order_class)

    body: dict[str, Any] = {
        "symbol": symbol,
        "side": side.value,
        "type": order_type.value,
        "time_in_force": tif.value,
    }
    _size_fields(req, rules, order_type, tif, order_class, body)
    limit_price = _type_prices(req, rules, order_type, order_class, body)
    _trailing_fields(req, order_type, body)
    if req.extended_hours:
        _extended_hours(order_type, tif, order_class, body)
    _order_class_legs(req, side, order_type, tif, order_class, limit_price, body)

    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    if req.position_intent is not None:
        intent: PositionIntent = _enum(PositionIntent, req.position_intent, "position_intent")
        body["position_intent"] = intent.value
    return body


def _size_fields(
    req: OrderRequest,
    rules: AssetRules,
    order_type: OrderType,
    tif: TimeInForce,
    order_class: OrderClass,
    body: dict[str, Any],
) -> None:
    """``qty`` xor ``notional``, within the bounds; notional only for simple market orders with
    the asset class's notional time in force (day for equities; gtc or ioc for crypto)."""
    if req.qty is not None and req.notional is not None:
        raise _fail(
            "notional",
            "both qty and notional are set; Alpaca takes exactly one",
            "pass qty (shares) or notional (dollars), not both",
        )
    if req.qty is None and req.notional is None:
        raise _fail("qty", "neither qty nor notional is set", "pass qty or notional")
    if req.qty is not None:
        body["qty"] = decimal_text(_size(req.qty, "qty", MAX_ORDER_QTY))
        return
    notional = _size(req.notional, "notional", MAX_ORDER_NOTIONAL)
    if order_type is not OrderType.MARKET or tif not in rules.notional_time_in_force:
        allowed = "/".join(sorted(t.value for t in rules.notional_time_in_force))
        raise _fail(
            "notional",
            f"notional (dollar) {rules.what} orders must be market orders with time_in_force "
            f"{allowed}, got {order_type.value}/{tif.value}",
            f"use type market and time_in_force {allowed}, or pass qty instead of notional",
        )
    if order_class is not OrderClass.SIMPLE:
        raise _fail(
            "notional",
            f"notional orders must be simple, got order_class {order_class.value}",
            "pass qty for bracket, oco and oto orders",
        )
    body["notional"] = decimal_text(notional)


def _type_prices(
    req: OrderRequest,
    rules: AssetRules,
    order_type: OrderType,
    order_class: OrderClass,
    body: dict[str, Any],
) -> Decimal | None:
    """``limit_price`` and ``stop_price`` as the order type requires; the limit price."""
    limit_price: Decimal | None = None
    if req.limit_price is not None:
        if order_type not in _LIMIT_TYPES:
            raise _fail(
                "limit_price",
                f"is only used by limit and stop_limit orders, this is a {order_type.value} order",
                "remove limit_price or change type",
            )
        limit_price = price_of(rules, req.limit_price, "limit_price")
        body["limit_price"] = decimal_text(limit_price)
    elif order_type in _LIMIT_TYPES and order_class is not OrderClass.OCO:
        raise _fail("limit_price", f"is required for {order_type.value} orders", "pass limit_price")
    if req.stop_price is not None:
        if order_type not in _STOP_TYPES:
            raise _fail(
                "stop_price",
                f"is only used by stop and stop_limit orders, this is a {order_type.value} order "
                "(a trailing stop's stop price is set by the venue)",
                "remove stop_price or change type",
            )
        body["stop_price"] = decimal_text(price_of(rules, req.stop_price, "stop_price"))
    elif order_type in _STOP_TYPES:
        raise _fail("stop_price", f"is required for {order_type.value} orders", "pass stop_price")
    return limit_price


def _trailing_fields(req: OrderRequest, order_type: OrderType, body: dict[str, Any]) -> None:
    """A trailing stop's ``trail_price`` xor ``trail_percent`` (< 100); none on other types."""
    if order_type is not OrderType.TRAILING_STOP:
        for field in ("trail_price", "trail_percent"):
            if getattr(req, field) is not None:
                raise _fail(
                    field,
                    f"is only used by trailing_stop orders, this is a {order_type.value} order",
                    f"remove {field} or use type trailing_stop",
                )
        return
    if (req.trail_price is None) == (req.trail_percent is None):
        raise _fail(
            "trail_price",
            "a trailing_stop order needs exactly one of trail_price and trail_percent",
            "pass trail_price (dollars) or trail_percent (percent), not both",
        )
    if req.trail_price is not None:
        body["trail_price"] = decimal_text(_price(req.trail_price, "trail_price"))
        return
    percent = _positive(req.trail_percent, "trail_percent")
    if percent >= _HUNDRED:
        raise _fail(
            "trail_percent",
            f"{decimal_text(percent)} is not below 100",
            "pass a percentage such as 1.5 for 1.5%",
        )
    body["trail_percent"] = decimal_text(percent)


def _extended_hours(
    order_type: OrderType, tif: TimeInForce, order_class: OrderClass, body: dict[str, Any]
) -> None:
    """Extended hours only for simple limit orders with day or gtc."""
    if order_type is not OrderType.LIMIT or tif not in _EXTENDED_HOURS_TIFS:
        raise _fail(
            "extended_hours",
            f"extended-hours orders must be limit orders with time_in_force day or gtc, got "
            f"{order_type.value}/{tif.value}",
            "use type limit with day or gtc, or set extended_hours=False",
        )
    if order_class is not OrderClass.SIMPLE:
        raise _fail(
            "extended_hours",
            f"extended-hours orders must be simple, got order_class {order_class.value}",
            "set extended_hours=False for bracket, oco and oto orders",
        )
    body["extended_hours"] = True


def _order_class_legs(
    req: OrderRequest,
    side: OrderSide,
    order_type: OrderType,
    tif: TimeInForce,
    order_class: OrderClass,
    limit_price: Decimal | None,
    body: dict[str, Any],
) -> None:
    has_tp, has_sl = req.take_profit is not None, req.stop_loss is not None
    if order_class is OrderClass.SIMPLE:
        if has_tp or has_sl:
            raise _fail(
                "order_class",
                "take_profit/stop_loss are set on a simple order",
                "set order_class to bracket (both legs), oto (one leg) or oco (both, exit only)",
            )
        return
    if order_class is OrderClass.MLEG:
        raise _fail(
            "order_class",
            "multi-leg (mleg) option orders are not supported by OrderRequest",
            "place simple, bracket, oco or oto orders",
        )
    if order_class is OrderClass.BRACKET and not (has_tp and has_sl):
        missing = "take_profit" if not has_tp else "stop_loss"
        raise _fail(
            missing,
            "a bracket order needs both take_profit and stop_loss",
            f"add {missing}, or use order_class oto for a single exit leg",
        )
    if order_class is OrderClass.OTO and has_tp == has_sl:
        raise _fail(
            "take_profit" if has_tp else "stop_loss",
            "an oto order needs exactly one of take_profit and stop_loss",
            "pass one exit leg, or use order_class bracket for both",
        )
    if order_class is OrderClass.OCO:
        if not (has_tp and has_sl):
            missing = "take_profit" if not has_tp else "stop_loss"
            raise _fail(
                missing, "an oco order needs both take_profit and stop_loss", f"add {missing}"
            )
        if order_type is not OrderType.LIMIT:
            raise _fail(
                "type",
                f"an oco order must have type limit, got {order_type.value}",
                "set type=OrderType.LIMIT",
            )
    if order_class in (OrderClass.BRACKET, OrderClass.OTO) and tif not in _BRACKET_TIFS:
        raise _fail(
            "time_in_force",
            f"{order_class.value} orders must use time_in_force day or gtc, got {tif.value}",
            "use day or gtc",
        )

    take_profit: Decimal | None = None
    stop: Decimal | None = None
    if req.take_profit is not None:
        take_profit = _price(req.take_profit.limit_price, "take_profit.limit_price")
        body["take_profit"] = {"limit_price": decimal_text(take_profit)}
    if req.stop_loss is not None:
        stop = _price(req.stop_loss.stop_price, "stop_loss.stop_price")
        stop_loss: dict[str, str] = {"stop_price": decimal_text(stop)}
        if req.stop_loss.limit_price is not None:
            stop_loss["limit_price"] = decimal_text(
                _price(req.stop_loss.limit_price, "stop_loss.limit_price")
            )
        body["stop_loss"] = stop_loss
    body["order_class"] = order_class.value

    # An oco order *is* the exit; bracket/oto orders are entries whose legs exit the other way.
    exit_sells = (
        (side is OrderSide.SELL) if order_class is OrderClass.OCO else side is OrderSide.BUY
    )
    entry = limit_price if order_class is not OrderClass.OCO else None
    _check_exit_prices(exit_sells, take_profit, stop, entry, order_class)


def _check_exit_prices(
    exit_sells: bool,
    take_profit: Decimal | None,
    stop: Decimal | None,
    entry: Decimal | None,
    order_class: OrderClass,
) -> None:
    """Exits that close a long sell above (take profit) and below (stop) the entry; exits that
    close a short mirror that. Otherwise one leg would trigger at once."""
    position = "long" if exit_sells else "short"
    if take_profit is not None and stop is not None:
        ok = take_profit > stop if exit_sells else take_profit < stop
        if not ok:
            relation = "above" if exit_sells else "below"
            raise _fail(
                "take_profit.limit_price",
                f"{decimal_text(take_profit)} must be {relation} stop_loss.stop_price "
                f"{decimal_text(stop)} for this {order_class.value} order closing a {position}",
                "swap or correct the two exit prices",
            )
    if entry is None:
        return
    if take_profit is not None and not (take_profit > entry if exit_sells else take_profit < entry):
        relation = "above" if exit_sells else "below"
        raise _fail(
            "take_profit.limit_price",
            f"{decimal_text(take_profit)} must be {relation} the entry limit_price "
            f"{decimal_text(entry)} when the exit closes a {position}",
            "move the take-profit beyond the entry price",
        )
    if stop is not None and not (stop < entry if exit_sells else stop > entry):
        relation = "below" if exit_sells else "above"
        raise _fail(
            "stop_loss.stop_price",
            f"{decimal_text(stop)} must be {relation} the entry limit_price "
            f"{decimal_text(entry)} when the exit closes a {position}",
            "move the stop beyond the entry price on the losing side",
        )


def validate_order_request(req: OrderIntent) -> None:
    """Raise ``OrderValidationError`` (with ``field``) if Alpaca would refuse ``req``."""
    build_order_body(req)


def build_order_body(req: OrderIntent) -> dict[str, Any]:
    """The JSON body of ``POST /v2/orders`` for ``req`` (validated first): a single-instrument
    order under its asset class's rules, or a multi-leg option order."""
    if isinstance(req, MultiLegOrderRequest):
        return mleg_order_body(req)
    return _order_body(req)


# --------------------------------------------------------------------------- replace


def _replace_body(req: ReplaceRequest, old: Order | None) -> dict[str, Any]:
    rules = EQUITY_RULES if old is None else rules_for_order(old)
    body: dict[str, Any] = {}
    if req.qty is not None:
        qty = _size(req.qty, "qty", MAX_ORDER_QTY)
        if rules.whole_qty is not None:
            whole(qty, "qty", rules.whole_qty)
        body["qty"] = decimal_text(qty)
    if req.time_in_force is not None:
        tif: TimeInForce = _enum(TimeInForce, req.time_in_force, "time_in_force")
        if tif not in rules.time_in_force:
            allowed = ", ".join(sorted(t.value for t in rules.time_in_force))
            raise _fail(
                "time_in_force",
                f"{rules.what} orders take time_in_force {allowed}, got {tif.value}",
                f"use {allowed}",
            )
        body["time_in_force"] = tif.value
    if req.limit_price is not None:
        body["limit_price"] = decimal_text(price_of(rules, req.limit_price, "limit_price"))
    if req.stop_price is not None:
        body["stop_price"] = decimal_text(price_of(rules, req.stop_price, "stop_price"))
    if req.trail is not None:
        body["trail"] = decimal_text(
            _within(_positive(req.trail, "trail"), "trail", MAX_PRICE, "trail")
        )
    client_order_id = _client_order_id(req.client_order_id)
    if not body:
        raise _fail(
            "qty",
            "the replace request changes nothing",
            "set at least one of qty, time_in_force, limit_price, stop_price, trail",
        )
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    return body


def validate_replace_request(req: ReplaceRequest, old: Order | None = None) -> None:
    """Raise ``OrderValidationError`` if ``req`` is not a valid replace (of ``old``, when
    known)."""
    _replace_body(req, old)


def build_replace_body(req: ReplaceRequest, old: Order | None = None) -> dict[str, Any]:
    """The JSON body of ``PATCH /v2/orders/{id}`` for ``req`` (validated first). Knowing the
    order it replaces (``old``), the asset class's rules apply: whole contracts and day only for
    options, gtc/ioc for crypto, an mleg order's signed net price; without it, equities'."""
    return _replace_body(req, old)


def replace_needs_order(req: ReplaceRequest) -> bool:
    """Whether judging ``req`` needs the order it replaces: a changed time in force, a fractional
    quantity or a price that only some asset classes take (finer than the equity tick, zero or
    negative). Other changes are valid for every class, or refused for all."""
    if req.time_in_force is not None:
        return True
    if isinstance(req.qty, Decimal) and req.qty != req.qty.to_integral_value():
        return True
    for value in (req.limit_price, req.stop_price):
        if isinstance(value, Decimal) and value.is_finite():
            places = decimal_places(value)
            if value <= 0 or places > (2 if value >= 1 else 4):
                return True
    return False


# --------------------------------------------------------------------------- closing a position


def close_position_query(qty: object = None, percentage: object = None) -> dict[str, str]:
    """The query of ``DELETE /v2/positions/{symbol}``: a quantity (within the size bounds) or a
    percentage in (0, 100], not both; nothing closes the whole position."""
    if qty is not None and percentage is not None:
        raise _fail("qty", "both qty and percentage are set", "give qty or percentage, not both")
    if qty is not None:
        return {"qty": decimal_text(_size(qty, "qty", MAX_ORDER_QTY))}
    if percentage is not None:
        share = _positive(percentage, "percentage")
        if share > _HUNDRED:
            raise _fail(
                "percentage", f"must be in (0, 100], got {decimal_text(share)}", "pass 1..100"
            )
        return {"percentage": decimal_text(share)}
    return {}


def replaced_intent(old: Order, change: ReplaceRequest) -> OrderIntent:
    """The order ``old`` becomes once ``change`` is applied: a ``MultiLegOrderRequest`` for an
    mleg parent (its legs, the new quantity and net price), else ``replaced_order_request``."""
    if old.order_class is not OrderClass.MLEG or old.side is not None:
        return replaced_order_request(old, change)
    legs = tuple(
        OptionLegRequest(
            symbol=leg.symbol,
            ratio_qty=leg.ratio_qty or Decimal(1),
            side=leg.side,
            position_intent=leg.position_intent,
        )
        for leg in old.legs
    )
    limit_price = change.limit_price if change.limit_price is not None else old.limit_price
    return MultiLegOrderRequest(
        legs=legs,
        qty=change.qty if change.qty is not None else old.qty or Decimal(0),
        type=old.type or (OrderType.LIMIT if limit_price is not None else OrderType.MARKET),
        time_in_force=change.time_in_force or old.time_in_force,
        limit_price=limit_price,
        client_order_id=change.client_order_id,
    )


def replaced_order_request(old: Order, change: ReplaceRequest) -> OrderRequest:
    """The order ``old`` becomes once ``change`` is applied (fields left None keep their value),
    as an ``OrderRequest`` a check can value. It carries the replacement's client_order_id.

    The quantity is the replacement's whole quantity (``change.qty``, else the old order's): the
    old order's filled part is already in the position, so counting it again errs on the safe
    side. ``RiskLimitError(limit="replace")`` when the old order has no side (nothing to check).
    """
    if old.side is None:
        raise RiskLimitError(
            f"order {old.id} has no side, so the replace cannot be checked against the risk "
            "limits. Fix: cancel it and submit a new order instead",
            limit="replace",
        )
    limit_price = change.limit_price if change.limit_price is not None else old.limit_price
    stop_price = change.stop_price if change.stop_price is not None else old.stop_price
    trail_price, trail_percent = old.trail_price, old.trail_percent
    if change.trail is not None:
        # The venue applies ``trail`` to whichever trail the order already has.
        if old.trail_percent is not None:
            trail_percent = change.trail
        else:
            trail_price = change.trail
    qty: Decimal | None = change.qty if change.qty is not None else old.qty
    notional = old.notional if qty is None else None
    order_type = old.type
    if order_type is None:
        order_type = OrderType.LIMIT if limit_price is not None else OrderType.MARKET
    return OrderRequest(
        symbol=old.symbol,
        side=old.side,
        type=order_type,
        time_in_force=change.time_in_force or old.time_in_force,
        qty=qty,
        notional=notional,
        limit_price=limit_price,
        stop_price=stop_price,
        trail_price=trail_price,
        trail_percent=trail_percent,
        extended_hours=old.extended_hours,
        client_order_id=change.client_order_id,
        order_class=old.order_class,
        position_intent=old.position_intent,
    )
