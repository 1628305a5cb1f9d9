"""Alpaca's order rules per asset class, applied before an order is sent: US equities, single-leg
options, crypto pairs and multi-leg option (``mleg``) orders.

The class of an order follows from its symbol (``instruments``): an OCC symbol is an option (a
symbol meant as one but malformed is refused, saying what is wrong with it), a pair with a slash
is crypto. :class:`AssetRules` states, per class, the order types and times in force the venue
takes, whether quantities are whole, the price tick, and whether notional, extended-hours and
advanced order classes apply. ``requests`` checks every new order and every replace against them;
:func:`mleg_order_body` builds and checks a multi-leg order. docs/assets.md lists each rule with
where it comes from.

What is the venue's to judge stays the venue's: buying power, whether a sell exceeds the
position, the options approval level and whether an exercise comes too late (the pre-trade risk
check covers some of these when installed).

Pure: no I/O, no clock reads. Imports only ``models``, ``instruments``, ``errors`` and
``alpaca.request_fields`` from the package.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from alpaca_integration.alpaca.request_fields import (
    MAX_ORDER_QTY,
    checked_client_order_id,
    decimal_text,
    member,
    price,
    refuse,
    size,
    whole,
)
from alpaca_integration.instruments import (
    asset_class_of_symbol,
    instrument_class,
    looks_like_option_symbol,
    occ_symbol_problem,
    parse_occ_symbol,
)
from alpaca_integration.models import (
    AssetClass,
    MultiLegOrderRequest,
    OptionLegRequest,
    Order,
    OrderClass,
    OrderRequest,
    OrderSide,
    OrderType,
    PositionIntent,
    TimeInForce,
)

__all__ = [
    "CRYPTO_RULES",
    "EQUITY_RULES",
    "MLEG_MAX_LEGS",
    "MLEG_MIN_LEGS",
    "MLEG_RULES",
    "OPTION_RULES",
    "AssetRules",
    "check_order_gates",
    "mleg_order_body",
    "order_asset_class",
    "price_of",
    "rules_for_class",
    "rules_for_order",
]

MLEG_MIN_LEGS = 2
MLEG_MAX_LEGS = 4


@dataclass(frozen=True, slots=True)
class AssetRules:
    """What the venue takes for one kind of order. ``whole_qty`` says why quantities are whole
    (None: fractions allowed); ``price_decimals`` is the finest price (None: the equity tick, 2
    decimals from $1 and 4 below) and ``price_why`` names that rule; ``signed_price``: a net
    price may be zero or negative (a credit)."""

    what: str
    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    notional_time_in_force: frozenset[TimeInForce]
    whole_qty: str | None = None
    price_decimals: int | None = None
    price_why: str = ""
    signed_price: bool = False
    simple_only: bool = False
    extended_hours: bool = True
    hint: str = ""


_DAY = frozenset({TimeInForce.DAY})
_OPTION_TICK = "finer than a cent: option premiums trade in $0.01 steps at the finest"

EQUITY_RULES = AssetRules(
    what="equity",
    order_types=frozenset(OrderType),
    time_in_force=frozenset(TimeInForce),
    notional_time_in_force=_DAY,
)
OPTION_RULES = AssetRules(
    what="option",
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
    time_in_force=_DAY,
    notional_time_in_force=frozenset(),
    whole_qty="options trade in whole contracts (Alpaca has no fractional options)",
    price_decimals=2,
    price_why=_OPTION_TICK,
    simple_only=True,
    extended_hours=False,
    hint="options trade in the core session only, with time_in_force day",
)
# An mleg order is an option order (same types, day only, cent prices, core session) whose net
# price may be a credit and which is not a simple order.
MLEG_RULES = replace(
    OPTION_RULES,
    what="multi-leg option",
    whole_qty="an mleg order trades whole units of its strategy",
    signed_price=True,
    simple_only=False,
)
CRYPTO_RULES = AssetRules(
    what="crypto",
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT}),
    time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC}),
    notional_time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC}),
    price_decimals=9,
    price_why="finer than Alpaca's 9 decimals",
    simple_only=True,
    extended_hours=False,
    hint="crypto trades around the clock: day, opg and cls mean nothing there",
)


def rules_for_class(asset_class: AssetClass) -> AssetRules:
    """The rules of an order on an instrument of ``asset_class`` (an unknown class: equities')."""
    if asset_class is AssetClass.US_OPTION:
        return OPTION_RULES
    if asset_class is AssetClass.CRYPTO:
        return CRYPTO_RULES
    return EQUITY_RULES


def rules_for_order(order: Order) -> AssetRules:
    """The rules an existing order keeps when it is replaced."""
    if order.order_class is OrderClass.MLEG and not order.symbol:
        return MLEG_RULES
    return rules_for_class(instrument_class(order.asset_class, order.symbol))


def order_asset_class(symbol: str, field: str = "symbol") -> AssetClass:
    """The asset class ``symbol`` names; a symbol meant as an option contract (six digits in a
    row) that is not a valid OCC symbol is refused, saying what is wrong with it."""
    if looks_like_option_symbol(symbol):
        problem = occ_symbol_problem(symbol)
        if problem is not None:
            raise refuse(
                field,
                f"not a valid option contract symbol: {problem}",
                "look the contract up with `alpacactl options chain UNDERLYING` and copy its "
                "symbol",
            )
    return asset_class_of_symbol(symbol)


def price_of(rules: AssetRules, value: object, field: str) -> Decimal:
    """``value`` as a price under ``rules`` (tick, sign)."""
    if rules.price_decimals is None:
        return price(value, field)
    return price(
        value,
        field,
        max_decimals=rules.price_decimals,
        why=rules.price_why,
        signed=rules.signed_price,
    )


def _names(values: frozenset[Any], joiner: str = ", ") -> str:
    return joiner.join(sorted(value.value for value in values))


def check_order_gates(
    rules: AssetRules,
    req: OrderRequest,
    order_type: OrderType,
    tif: TimeInForce,
    order_class: OrderClass,
) -> None:
    """Refuse what ``rules`` rule out whatever the prices: the order class, type and time in
    force, extended hours, notional, fractional quantities."""
    what = rules.what
    if rules.simple_only and order_class is not OrderClass.SIMPLE:
        fix = "place the exits as separate orders"
        if rules is OPTION_RULES:
            fix += ", or a MultiLegOrderRequest (order_class mleg) for a spread"
        raise refuse("order_class", f"{what} orders are simple, got {order_class.value}", fix)
    if order_type not in rules.order_types:
        raise refuse(
            "type",
            f"{what} orders take type {_names(rules.order_types)}, got {order_type.value}",
            f"use {_names(rules.order_types, ' or ')}",
        )
    if tif not in rules.time_in_force:
        raise refuse(
            "time_in_force",
            f"{what} orders take time_in_force {_names(rules.time_in_force)}, got {tif.value} "
            f"({rules.hint})",
            f"use {_names(rules.time_in_force, ' or ')}",
        )
    if req.extended_hours and not rules.extended_hours:
        raise refuse(
            "extended_hours",
            f"{what} orders cannot be extended-hours orders ({rules.hint})",
            "set extended_hours=False",
        )
    if req.notional is not None and not rules.notional_time_in_force:
        raise refuse(
            "notional",
            f"{what} orders cannot be sized in dollars",
            "pass qty (whole contracts) instead of notional",
        )
    if req.qty is not None and rules.whole_qty is not None:
        whole(size(req.qty, "qty", MAX_ORDER_QTY), "qty", rules.whole_qty)


# --------------------------------------------------------------------------- multi-leg orders


def _leg_side(leg: OptionLegRequest, field: str) -> tuple[OrderSide, PositionIntent | None]:
    """The leg's side (given, or read from its intent) and its intent; refuses a leg with
    neither, or with a side its intent contradicts."""
    side = None if leg.side is None else member(OrderSide, leg.side, f"{field}.side")
    intent = (
        None
        if leg.position_intent is None
        else member(PositionIntent, leg.position_intent, f"{field}.position_intent")
    )
    if intent is None:
        if side is None:
            raise refuse(
                f"{field}.side",
                "a leg needs a side or a position_intent",
                "pass side buy/sell, or position_intent such as buy_to_open",
            )
        return side, None
    implied = OrderSide.BUY if intent.value.startswith("buy") else OrderSide.SELL
    if side is not None and side is not implied:
        raise refuse(
            f"{field}.position_intent",
            f"{intent.value} contradicts side {side.value}",
            f"use side {implied.value}, or the {side.value}_to_* intent",
        )
    return implied, intent


def _mleg_leg(leg: OptionLegRequest, field: str) -> tuple[dict[str, str], str, bool]:
    """One leg's body, the underlying it trades, and whether it is an option contract."""
    symbol = leg.symbol.strip().upper() if isinstance(leg.symbol, str) else ""
    if not symbol:
        raise refuse(f"{field}.symbol", "is empty", "pass the contract's OCC symbol")
    asset_class = order_asset_class(symbol, f"{field}.symbol")
    if asset_class not in (AssetClass.US_OPTION, AssetClass.US_EQUITY):
        raise refuse(
            f"{field}.symbol",
            f"{symbol} cannot be a leg: an mleg order combines option contracts (and shares of "
            "their underlying)",
            "trade it in an order of its own",
        )
    ratio = size(leg.ratio_qty, f"{field}.ratio_qty", MAX_ORDER_QTY)
    whole(ratio, f"{field}.ratio_qty", "a leg trades whole contracts per unit of the strategy")
    side, intent = _leg_side(leg, field)
    body = {"symbol": symbol, "ratio_qty": decimal_text(ratio), "side": side.value}
    if intent is not None:
        body["position_intent"] = intent.value
    option = parse_occ_symbol(symbol)
    return body, symbol if option is None else option.underlying, option is not None


def _mleg_legs(legs: tuple[OptionLegRequest, ...]) -> list[dict[str, str]]:
    """The legs' bodies: 2 to 4 distinct contracts on one underlying, at least one an option."""
    count = len(legs)
    if not MLEG_MIN_LEGS <= count <= MLEG_MAX_LEGS:
        raise refuse(
            "legs",
            f"an mleg order has {MLEG_MIN_LEGS} to {MLEG_MAX_LEGS} legs, got {count}",
            "submit one contract as a simple OrderRequest; split more than "
            f"{MLEG_MAX_LEGS} legs into several orders",
        )
    bodies: list[dict[str, str]] = []
    underlyings: set[str] = set()
    options = 0
    for n, leg in enumerate(legs):
        body, underlying, is_option = _mleg_leg(leg, f"legs[{n}]")
        if any(seen["symbol"] == body["symbol"] for seen in bodies):
            raise refuse(
                f"legs[{n}].symbol",
                f"{body['symbol']} is already a leg; each leg is a different contract",
                "merge the two legs into one (add their ratios)",
            )
        bodies.append(body)
        underlyings.add(underlying)
        options += is_option
    if not options:
        raise refuse("legs", "no leg is an option contract", "use an equity order instead")
    if len(underlyings) > 1:
        raise refuse(
            "legs",
            f"the legs trade different underlyings ({', '.join(sorted(underlyings))}); an mleg "
            "order is one strategy on one underlying",
            "place one order per underlying",
        )
    return bodies


def mleg_order_body(req: MultiLegOrderRequest) -> dict[str, Any]:
    """The ``POST /v2/orders`` body of a multi-leg option order, checked against Alpaca's rules:
    2-4 legs on one underlying, whole units and ratios, market or limit, day only, a limit
    order's net price (positive debit, negative credit) in cents."""
    rules = MLEG_RULES
    order_type: OrderType = member(OrderType, req.type, "type")
    tif: TimeInForce = member(TimeInForce, req.time_in_force, "time_in_force")
    if order_type not in rules.order_types:
        raise refuse(
            "type",
            f"mleg orders take type {_names(rules.order_types)}, got {order_type.value}",
            "use market, or limit with the net price",
        )
    if tif not in rules.time_in_force:
        raise refuse(
            "time_in_force",
            f"mleg orders take time_in_force day, got {tif.value} ({rules.hint})",
            "use day",
        )
    legs = _mleg_legs(tuple(req.legs))
    qty = whole(size(req.qty, "qty", MAX_ORDER_QTY), "qty", rules.whole_qty or "")
    body: dict[str, Any] = {
        "order_class": OrderClass.MLEG.value,
        "qty": decimal_text(qty),
        "type": order_type.value,
        "time_in_force": tif.value,
        "legs": legs,
    }
    if order_type is OrderType.LIMIT:
        if req.limit_price is None:
            raise refuse(
                "limit_price",
                "is required for limit orders",
                "pass the net price per unit: positive for a debit, negative for a credit",
            )
        body["limit_price"] = decimal_text(price_of(rules, req.limit_price, "limit_price"))
    elif req.limit_price is not None:
        raise refuse("limit_price", "is only used by limit orders", "remove it or use type limit")
    client_order_id = checked_client_order_id(req.client_order_id)
    if client_order_id is not None:
        body["client_order_id"] = client_order_id
    return body
