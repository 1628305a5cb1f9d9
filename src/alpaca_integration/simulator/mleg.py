"""Multi-leg option orders (``order_class: mleg``): a spread of 2 to 4 option contracts on one
underlying, traded as one order at a net price and matched atomically.

``parse_mleg`` applies Alpaca's rules to the request (docs/assets.md): 2 to 4 distinct option
contracts on one underlying, each with ``ratio_qty`` (whole) and ``side`` and/or
``position_intent``; ``qty`` whole units of the strategy; market or limit, time in force day; a
limit's ``limit_price`` is the net price per unit (positive a debit, negative a credit, cents).

The parent order carries the legs, one order per contract for ``qty x ratio_qty`` contracts. It
answers without ``symbol``, ``side`` and ``asset_class`` (Alpaca sends empty strings there, which
its own schema refuses; the simulator leaves them out). ``net_price`` is what one unit costs at
the legs' current premiums; the engine fills every leg at once when a limit allows it (each leg
its FILL activity and ``fill`` event; the parent's ``fill`` event carries no execution) and the
parent at the net price. A debit's cost (net x qty x 100) is set aside from buying power.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import ROUND_UP, Decimal
from typing import Any

from alpaca_integration.simulator.asset_classes import option_symbol_problem
from alpaca_integration.simulator.market import AssetSpec, Market
from alpaca_integration.simulator.state import Account, Order, money
from alpaca_integration.simulator.validation import client_order_id_of
from alpaca_integration.simulator.wire import (
    fmt,
    forbidden,
    invalid,
    parse_bool,
    parse_decimal,
    unprocessable,
)

__all__ = ["MlegLeg", "MlegRequest", "debit", "net_price", "parse_mleg"]

_CENT = Decimal("0.01")
_ZERO = Decimal(0)
_SIDES = {
    "buy_to_open": "buy",
    "buy_to_close": "buy",
    "sell_to_open": "sell",
    "sell_to_close": "sell",
}


@dataclasses.dataclass(slots=True)
class MlegLeg:
    asset: AssetSpec
    side: str
    ratio: Decimal
    position_intent: str | None


@dataclasses.dataclass(slots=True)
class MlegRequest:
    type: str
    qty: Decimal
    limit_price: Decimal | None
    client_order_id: str | None
    legs: list[MlegLeg]


def _leg(raw: object, n: int, resolve: Callable[[str], AssetSpec | None]) -> MlegLeg:
    where = f"legs[{n}]"
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object with symbol, ratio_qty and side")
    symbol = raw.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise invalid(f"{where}.symbol is required (an option contract symbol)")
    problem = option_symbol_problem(symbol)
    if problem is not None:
        raise unprocessable(f"{where}: {problem}")
    asset = resolve(symbol)
    if asset is None:
        raise unprocessable(f'{where}: asset "{symbol}" not found')
    if not asset.is_option:
        raise unprocessable(f"{where}: {symbol} is not an option contract; mleg legs are options")
    ratio = parse_decimal(raw.get("ratio_qty"), f"{where}.ratio_qty")
    if ratio < 1 or ratio % 1:
        raise invalid(f"{where}.ratio_qty must be a whole number >= 1, got {fmt(ratio)}")
    intent = raw.get("position_intent")
    if intent is not None and intent not in _SIDES:
        raise invalid(f"{where}.position_intent must be one of {', '.join(_SIDES)}")
    side = raw.get("side") or (_SIDES[intent] if intent else None)
    if side not in ("buy", "sell"):
        raise invalid(f'{where}.side must be "buy" or "sell" (or give position_intent)')
    if intent is not None and _SIDES[intent] != side:
        raise invalid(f"{where}: side {side} contradicts position_intent {intent}")
    return MlegLeg(asset, side, ratio, intent)


def _check_legs(legs: list[MlegLeg]) -> None:
    symbols = [leg.asset.symbol for leg in legs]
    if len(set(symbols)) != len(symbols):
        raise unprocessable("the legs of an mleg order must be distinct contracts")
    underlyings = {leg.asset.underlying for leg in legs}
    if len(underlyings) > 1:
        names = ", ".join(sorted(u or "?" for u in underlyings))
        raise unprocessable(f"the legs of an mleg order must share one underlying, got {names}")


def parse_mleg(
    account: Account, body: dict[str, Any], resolve: Callable[[str], AssetSpec | None]
) -> MlegRequest:
    """POST /v2/orders with ``order_class: mleg`` (see the module docstring)."""
    raw_legs = body.get("legs")
    count = len(raw_legs) if isinstance(raw_legs, list) else 0
    if not isinstance(raw_legs, list) or not 2 <= count <= 4:
        raise unprocessable(f"mleg orders need 2 to 4 legs, got {count}")
    order_type = body.get("type", body.get("order_type"))
    if order_type not in ("market", "limit"):
        raise unprocessable(f"mleg orders must be market or limit orders, got {order_type!r}")
    if body.get("time_in_force") != "day":
        raise unprocessable(
            f"mleg orders must have time_in_force day, got {body.get('time_in_force')!r}"
        )
    if body.get("notional") not in (None, ""):
        raise unprocessable("mleg orders cannot be sized in dollars: give qty")
    extended = body.get("extended_hours")
    if extended is not None and parse_bool(extended, "extended_hours"):
        raise unprocessable("options orders cannot trade in extended hours")
    qty = parse_decimal(body.get("qty"), "qty")
    if qty <= 0 or qty % 1:
        raise unprocessable(f"qty must be a whole number of units >= 1 for mleg, got {fmt(qty)}")
    limit_price = None
    if order_type == "limit":
        if body.get("limit_price") in (None, ""):
            raise invalid("limit_price is required for limit orders (the net price per unit)")
        limit_price = parse_decimal(body.get("limit_price"), "limit_price")
        if limit_price != limit_price.quantize(_CENT):
            raise unprocessable(f"limit_price {fmt(limit_price)}: the net price takes cents")
    elif body.get("limit_price") not in (None, ""):
        raise unprocessable("limit_price is not allowed for market orders")
    legs = [_leg(raw, n, resolve) for n, raw in enumerate(raw_legs)]
    _check_legs(legs)
    client_order_id = client_order_id_of(account, body)
    return MlegRequest(order_type, qty, limit_price, client_order_id, legs)


def net_price(parent: Order, market: Market) -> Decimal:
    """One unit of the strategy at the legs' current premiums: buys add, sells take away."""
    total = _ZERO
    for leg in parent.legs:
        assert leg.ratio_qty is not None
        sign = 1 if leg.is_buy else -1
        total += sign * leg.ratio_qty * market.price(leg.symbol)
    return total


def debit(net: Decimal, qty: Decimal, multiplier: Decimal) -> Decimal:
    """What a strategy costs out of buying power: a debit's net x qty x multiplier, else 0."""
    return max(net, _ZERO) * qty * multiplier


def check_debit(cost: Decimal, available: Decimal) -> None:
    if cost > available:
        raise forbidden(
            "insufficient buying power",
            buying_power=money(max(available, _ZERO)),
            cost_basis=fmt(cost.quantize(_CENT, rounding=ROUND_UP)),
        )
