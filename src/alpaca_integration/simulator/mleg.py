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
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alpaca_integration.simulator.asset_classes import option_symbol_problem
from alpaca_integration.simulator.market import AssetSpec, Market
from alpaca_integration.simulator.state import Account, Order, order_json
from alpaca_integration.simulator.validation import client_order_id_of
from alpaca_integration.simulator.wire import (
    fmt,
    invalid,
    parse_bool,
    parse_decimal,
    unprocessable,
)

if TYPE_CHECKING:
    from alpaca_integration.simulator.orders import OrderDesk

__all__ = ["MlegDesk", "MlegLeg", "MlegRequest", "debit", "net_price", "parse_mleg"]

_CENT = Decimal("0.01")
_ZERO = Decimal(0)
# What every mleg order (parent or leg) is, before its own side, intent and terms.
_MLEG_ORDER: dict[str, Any] = {
    "side": "buy",
    "time_in_force": "day",
    "order_class": "mleg",
    "notional": None,
    "stop_price": None,
    "trail_price": None,
    "trail_percent": None,
    "extended_hours": False,
    "position_intent": "",
}
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


def _whole_qty(body: dict[str, Any]) -> Decimal:
    qty = parse_decimal(body.get("qty"), "qty")
    if qty <= 0 or qty % 1:
        raise unprocessable(f"qty must be a whole number of units >= 1 for mleg, got {fmt(qty)}")
    return qty


def _net_limit(body: dict[str, Any]) -> Decimal:
    limit_price = parse_decimal(body.get("limit_price"), "limit_price")
    if limit_price != limit_price.quantize(_CENT):
        raise unprocessable(f"limit_price {fmt(limit_price)}: the net price takes cents")
    return limit_price


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
    qty = _whole_qty(body)
    limit_price = None
    if order_type == "limit":
        if body.get("limit_price") in (None, ""):
            raise invalid("limit_price is required for limit orders (the net price per unit)")
        limit_price = _net_limit(body)
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


def _opening_or_closing(account: Account, leg: MlegLeg) -> str:
    """A leg's position intent when the request gave none: by the position it meets."""
    position = account.positions.get(leg.asset.symbol)
    held = position.qty if position is not None else _ZERO
    if leg.side == "buy":
        return "buy_to_close" if held < 0 else "buy_to_open"
    return "sell_to_close" if held > 0 else "sell_to_open"


class MlegDesk:
    """Submitting and replacing mleg orders through the order desk's own steps (``register``,
    ``accept``, ``hand_over``), so an mleg order lives like any other."""

    def __init__(self, desk: OrderDesk) -> None:
        self.desk = desk
        self.tape = desk.tape
        self.market = desk.market
        self.engine = desk.engine
        self.accounting = desk.accounting

    def _parent(self, account: Account, asset: AssetSpec, request: MlegRequest | Order) -> Order:
        client_order_id = request.client_order_id or self.tape.new_id()
        terms: dict[str, Any] = {
            "type": request.type,
            "qty": request.qty,
            "limit_price": request.limit_price,
        }
        return Order(
            id=self.tape.new_id(),
            client_order_id=client_order_id,
            account=account,
            asset=asset,
            at=self.tape.stamp(),
            **terms,
            **_MLEG_ORDER,
        )

    def _leg(self, account: Account, parent: Order, spec: MlegLeg) -> Order:
        leg = self._parent(account, spec.asset, parent)
        leg.client_order_id = self.tape.new_id()
        leg.side = spec.side
        leg.position_intent = spec.position_intent or _opening_or_closing(account, spec)
        leg.limit_price = None
        assert parent.qty is not None
        leg.qty = leg.target_qty = parent.qty * spec.ratio
        leg.parent, leg.ratio_qty, leg.leg_role = parent, spec.ratio, "mleg"
        return leg

    def _cost(self, account: Account, parent: Order, credit: Decimal = _ZERO) -> Decimal:
        """The debit set aside (refused beyond the buying power, plus what ``credit`` frees)."""
        assert parent.qty is not None
        net = parent.limit_price
        if net is None:
            net = net_price(parent, self.market)
        cost = debit(net, parent.qty, parent.asset.multiplier)
        self.desk.rules.check_buying_power(account, parent.asset, cost, credit)
        return cost

    def submit(self, account: Account, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/orders with order_class mleg: the parent and its legs, accepted and
        matched as one."""
        request = parse_mleg(account, body, self.desk.resolve_asset)
        self.desk.rules.check_not_suspended(account)
        parent = self._parent(account, request.legs[0].asset, request)
        parent.legs = [self._leg(account, parent, spec) for spec in request.legs]
        cost = self._cost(account, parent)
        for order in (parent, *parent.legs):
            self.desk.register(account, order)
        for leg in parent.legs:
            account.open_orders.pop(leg.id, None)  # legs work through their parent
        self.accounting.reserve(parent, _ZERO, cost)
        self.desk.accept(parent)
        snapshot = order_json(parent, nested=True)
        if parent.status == "new":
            self.engine.match(parent)
        return snapshot

    def replace(self, account: Account, old: Order, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH /v2/orders/{id} of an mleg order: ``qty``, ``limit_price`` (the net price),
        ``time_in_force`` (day), ``client_order_id``; the legs move to the replacement."""
        if old.ratio_qty is not None and old.parent is not None:
            raise unprocessable(
                f"this is a leg of the mleg order {old.parent.id}: replace that order instead"
            )
        if body.get("time_in_force") not in (None, "day"):
            raise unprocessable("mleg orders must have time_in_force day")
        if body.get("stop_price") is not None or body.get("trail") is not None:
            raise unprocessable("mleg orders take only qty, limit_price and client_order_id")
        changed = _replacement(old, body, client_order_id_of(account, body))
        new = self._parent(account, old.asset, changed)
        new.legs = old.legs
        assert new.qty is not None
        cost = self._cost(account, new, credit=old.reserved)
        at = self.tape.stamp()
        old.status, old.updated_at = "pending_replace", at
        self.tape.emit(old, "pending_replace", at)
        self.engine.unlist(old)
        self.desk.hand_over(old, new)
        for leg in new.legs:
            assert leg.ratio_qty is not None
            leg.qty = leg.target_qty = new.qty * leg.ratio_qty
        self.engine.finish(old, "replaced", self.tape.stamp())
        self.desk.register(account, new)
        self.accounting.reserve(new, _ZERO, cost)
        self.engine.go_live(new, new.submitted_at)
        self.tape.emit(new, "new", new.submitted_at)
        snapshot = order_json(new, nested=True)
        self.engine.match(new)
        return snapshot


def _replacement(old: Order, body: dict[str, Any], client_order_id: str | None) -> MlegRequest:
    """What the replacement of ``old`` is (its legs stay ``old``'s)."""
    if not any(body.get(name) is not None for name in ("qty", "limit_price", "client_order_id")):
        raise invalid("nothing to replace: give qty, limit_price or client_order_id")
    qty = _whole_qty(body) if body.get("qty") is not None else old.qty
    assert qty is not None
    limit_price = old.limit_price
    if body.get("limit_price") is not None:
        if old.type != "limit":
            raise unprocessable("limit_price cannot be set on a market mleg order")
        limit_price = _net_limit(body)
    return MlegRequest(old.type, qty, limit_price, client_order_id, [])
