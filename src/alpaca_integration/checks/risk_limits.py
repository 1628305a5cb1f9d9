"""Pre-trade risk limits: the limits an account configures and the pure check of one order.

Limits live per account in the accounts file (``[accounts.NAME.risk]``, a plain mapping in
``config.AccountConfig.risk``); :meth:`RiskLimits.from_mapping` validates that mapping into a
:class:`RiskLimits` with one clear ``ConfigError`` per mistake. :func:`check_order` (pure) refuses
an order that breaks a limit, in named steps (``_check_gates``, ``_order_quantity``,
``_check_order_size``, ``_projected_position``, ``_check_position``, ``_check_exposure``);
:func:`check_replace` checks a replace as the order it would become, without the old order.

How a pending order counts: a check is worst case per symbol. The projected position for a buy is
the position plus every open buy's remaining quantity plus this order; for a sell, the position
minus every open sell's remaining quantity minus this order. Exit legs (orders with a parent) and
``held`` orders are not counted, since they only close what their entry opens. An order that does
not increase the exposure a limit measures is never refused by that limit (a risk-reducing sell
passes even over the limit); the halt switch and the symbol allow-list refuse everything.

Values are qty x price x multiplier (an option contract is worth 100 shares' premium). Option,
crypto and multi-leg orders also meet their asset class's rules (``checks.risk_assets``): the
account's options level and options buying power, ``max_contracts``, crypto's no-shorting and
cash-only buying power. The state a check reads (positions, prices, multipliers, open orders, the
account's figures) is ``checks.risk_state.RiskState``, re-exported here.

Imports ``models``, ``instruments``, ``errors``, ``checks.risk_state``, ``checks.risk_assets`` and
the pure ``alpaca.requests`` (the replaced order's shape); no I/O, never the client, the store,
sync, the simulator, the flows or the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal, NamedTuple

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alpaca_integration.alpaca.requests import replaced_intent, replaced_order_request
from alpaca_integration.checks.risk_assets import (
    check_crypto_order,
    check_max_contracts,
    check_multi_leg_options,
    check_option_order,
)
from alpaca_integration.checks.risk_state import (
    AccountFigures,
    RiskState,
    counts_as_working,
    pending,
    refusal,
    underlying_key,
)
from alpaca_integration.errors import ConfigError, RiskLimitError
from alpaca_integration.instruments import asset_class_of_symbol, position_key
from alpaca_integration.models import (
    AssetClass,
    MultiLegOrderRequest,
    OptionLegRequest,
    Order,
    OrderIntent,
    OrderRequest,
    OrderSide,
    ReplaceRequest,
)

__all__ = [
    "AccountFigures",
    "RiskLimits",
    "RiskState",
    "SymbolLimits",
    "check_order",
    "check_replace",
    "order_reference_price",
    "replaced_order_request",
]

_ZERO = Decimal(0)


class SymbolLimits(BaseModel):
    """Per-symbol overrides of the account-wide position limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_position_qty: Decimal | None = Field(default=None, gt=0)
    max_position_notional: Decimal | None = Field(default=None, gt=0)


class RiskLimits(BaseModel):
    """An account's pre-trade limits. ``None`` means "no limit". Quantities are shares (absolute),
    notionals are in the account currency (absolute).

    Keys (all optional) in ``[accounts.NAME.risk]``::

        halted = false                    # true: refuse every order (the kill switch)
        allowed_symbols = ["AAPL", "SPY"] # only these symbols may be traded
        shorting_allowed = true           # false: no order may take a position below zero
        max_order_qty = "1000"            # one order's quantity
        max_order_notional = "25000"      # one order's notional (qty x reference price)
        max_open_orders = 20              # open orders at once, this one included
        max_position_qty = "5000"         # any symbol's position, worst case with open orders
        max_position_notional = "100000"  # any symbol's position value
        max_gross_exposure = "250000"     # sum of |position value| over symbols
        max_net_exposure = "150000"       # |sum of signed position value|
        max_contracts = 20                # option contracts one order trades (all legs)
        [accounts.NAME.risk.symbols.AAPL] # overrides for one symbol
        max_position_qty = "200"
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    halted: bool = False
    allowed_symbols: frozenset[str] | None = None
    shorting_allowed: bool = True
    max_order_qty: Decimal | None = Field(default=None, gt=0)
    max_order_notional: Decimal | None = Field(default=None, gt=0)
    max_open_orders: int | None = Field(default=None, ge=0)
    max_position_qty: Decimal | None = Field(default=None, gt=0)
    max_position_notional: Decimal | None = Field(default=None, gt=0)
    max_gross_exposure: Decimal | None = Field(default=None, gt=0)
    max_net_exposure: Decimal | None = Field(default=None, gt=0)
    max_contracts: int | None = Field(default=None, gt=0)
    symbols: dict[str, SymbolLimits] = Field(default_factory=dict)

    @field_validator("allowed_symbols", mode="before")
    @classmethod
    def _symbols_upper(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ValueError('must be a list of symbols such as ["AAPL", "SPY"]')
        symbols = []
        for symbol in value:
            if not isinstance(symbol, str) or not symbol.strip():
                raise ValueError(f"every symbol must be a non-empty string, got {symbol!r}")
            symbols.append(symbol.strip().upper())
        return frozenset(symbols)

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbol_keys_upper(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(key).strip().upper(): limits for key, limits in value.items()}
        return value

    @field_validator(
        "max_order_qty",
        "max_order_notional",
        "max_position_qty",
        "max_position_notional",
        "max_gross_exposure",
        "max_net_exposure",
        mode="before",
    )
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        # A float in TOML (25000.1) would carry binary noise into a money limit: read it via str.
        if isinstance(value, float):
            return Decimal(str(value))
        return value

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], *, account: str | None = None) -> RiskLimits:
        """Validate an account's ``risk`` table; raise ``ConfigError`` naming the key and the fix."""
        where = f"accounts.{account}.risk" if account else "risk"
        try:
            return cls.model_validate(dict(mapping))
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in first["loc"]) or "risk"
            reason = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            if first.get("type") == "extra_forbidden":
                known = ", ".join(sorted(cls.model_fields))
                fix = f"use one of: {known}"
            else:
                fix = "see docs/correctness.md for each key's meaning and type"
            raise ConfigError(
                f"invalid risk limit {where}.{key}: {reason}. Fix: {fix}",
                setting=f"{where}.{key}",
            ) from None

    def position_qty_limit(self, symbol: str) -> Decimal | None:
        override = self.symbols.get(symbol)
        if override is not None and override.max_position_qty is not None:
            return override.max_position_qty
        return self.max_position_qty

    def position_notional_limit(self, symbol: str) -> Decimal | None:
        override = self.symbols.get(symbol)
        if override is not None and override.max_position_notional is not None:
            return override.max_position_notional
        return self.max_position_notional

    @property
    def needs_prices(self) -> bool:
        """Whether a check needs a reference price (some limit is a notional)."""
        return any(
            limit is not None
            for limit in (
                self.max_order_notional,
                self.max_position_notional,
                self.max_gross_exposure,
                self.max_net_exposure,
            )
        ) or any(s.max_position_notional is not None for s in self.symbols.values())


def order_reference_price(request: OrderRequest, state: RiskState) -> Decimal | None:
    """The price a check values the order at (per unit of the underlying): its limit price, else
    its stop price, else the state's price for the symbol (None when nothing is known)."""
    if request.limit_price is not None:
        return request.limit_price
    if request.stop_price is not None:
        return request.stop_price
    return state.price(request.symbol)


def check_order(
    request: OrderIntent,
    state: RiskState,
    limits: RiskLimits,
    *,
    account: str | None = None,
) -> None:
    """Refuse ``request`` with ``RiskLimitError(limit=...)`` if it breaks a limit; pure.

    Checks, in order: halted, allowed_symbols, max_open_orders, max_order_qty, max_order_notional,
    max_contracts, shorting_allowed, max_position_qty, max_position_notional, max_gross_exposure,
    max_net_exposure, then the asset class's own rules (``checks.risk_assets``: the options level
    and buying power, crypto's no-shorting and cash buying power). Values are qty x price x
    multiplier. A ``MultiLegOrderRequest`` is checked leg by leg and as one strategy. The first
    breach is raised.
    """
    if isinstance(request, MultiLegOrderRequest):
        _check_multi_leg(request, state, limits, account)
        return
    symbol = request.symbol.strip().upper()
    _check_gates((symbol,), state, limits, account)
    price = order_reference_price(request, state)
    multiplier = state.multiplier(symbol)
    qty = _order_quantity(request, symbol, price, limits, account)
    _check_order_size(request, symbol, qty, price, multiplier, limits, account)
    order_qty = qty if qty is not None else _ZERO
    asset_class = asset_class_of_symbol(symbol)
    if asset_class is AssetClass.US_OPTION:
        check_max_contracts(order_qty, limits.max_contracts, account)
    move = _projected_position(request.side, state, symbol, order_qty)
    _check_position(request.side, symbol, order_qty, move, price, multiplier, limits, account)
    if price is not None:
        after = {position_key(symbol): move.after * price * multiplier}
        _check_exposure(state, after, limits, account)
    if asset_class is AssetClass.US_OPTION:
        check_option_order(request, order_qty, price, state, account)
    elif asset_class is AssetClass.CRYPTO:
        check_crypto_order(request, qty, price, state, account)


def _check_gates(
    symbols: tuple[str, ...], state: RiskState, limits: RiskLimits, account: str | None
) -> None:
    """The limits that refuse whatever the order's size: halted, allowed_symbols (an option
    contract is allowed when its underlying is), max_open_orders."""
    if limits.halted:
        raise refusal(
            "halted",
            "trading is halted for this account. Fix: set halted = false in its risk table once "
            "it is safe to trade again",
            account,
        )
    if limits.allowed_symbols is not None:
        allowed_keys = {position_key(name) for name in limits.allowed_symbols}
        for symbol in symbols:
            if not {position_key(symbol), underlying_key(symbol)} & allowed_keys:
                allowed = ", ".join(sorted(limits.allowed_symbols)) or "(none)"
                raise refusal(
                    "allowed_symbols",
                    f"{symbol} is not an allowed symbol (allowed: {allowed}). Fix: add it to "
                    "allowed_symbols if it should be tradable",
                    account,
                )
    if limits.max_open_orders is not None:
        working = sum(1 for order in state.open_orders if counts_as_working(order))
        if working + 1 > limits.max_open_orders:
            raise refusal(
                "max_open_orders",
                f"{working} orders are open and the limit is {limits.max_open_orders}. Fix: "
                "cancel or wait for open orders first",
                account,
            )


def _needs_price(limits: RiskLimits, symbol: str, *, order_notional: bool) -> bool:
    """Whether a limit values the order or the position: then a price must be known."""
    return (
        (limits.max_order_notional is not None and order_notional)
        or limits.position_notional_limit(symbol) is not None
        or limits.max_gross_exposure is not None
        or limits.max_net_exposure is not None
    )


def _no_price(symbol: str, account: str | None) -> RiskLimitError:
    return refusal(
        "reference_price",
        f"no reference price is known for {symbol}, so notional limits cannot be checked. "
        "Fix: give a limit price, or hold a position in the symbol so its price is known",
        account,
    )


def _order_quantity(
    request: OrderRequest,
    symbol: str,
    price: Decimal | None,
    limits: RiskLimits,
    account: str | None,
) -> Decimal | None:
    """The order's quantity (a notional order's through the reference price); refuses when a
    limit needs a quantity or a price nobody knows."""
    if request.qty is not None:
        qty: Decimal | None = request.qty
    elif request.notional is not None and price:
        qty = request.notional / price
    else:
        qty = None
    if qty is None and (
        limits.max_order_qty is not None or limits.position_qty_limit(symbol) is not None
    ):
        raise refusal(
            "reference_price",
            f"the quantity of this notional order on {symbol} cannot be known without a reference "
            "price. Fix: send a qty instead of a notional, or a limit price",
            account,
        )
    # A notional order's own notional is its order value: only the position and exposure limits
    # need a price then.
    if price is None and _needs_price(limits, symbol, order_notional=request.notional is None):
        raise _no_price(symbol, account)
    return qty


def _check_order_size(
    request: OrderRequest,
    symbol: str,
    qty: Decimal | None,
    price: Decimal | None,
    multiplier: Decimal,
    limits: RiskLimits,
    account: str | None,
) -> None:
    """max_order_qty and max_order_notional: the order alone (qty x price x multiplier)."""
    if qty is not None:
        what = f"quantity {qty} of {symbol}"
        _check_order_limit(limits, "max_order_qty", qty, what, account, fix="split the order")
    if limits.max_order_notional is not None:
        notional = (
            request.notional
            if request.notional is not None
            else abs(qty or _ZERO) * (price or _ZERO) * multiplier
        )
        what = f"notional {notional:.2f} of {symbol}"
        _check_order_limit(limits, "max_order_notional", notional, what, account)


def _check_order_limit(
    limits: RiskLimits,
    name: Literal["max_order_qty", "max_order_notional"],
    value: Decimal,
    what: str,
    account: str | None,
    *,
    fix: str = "reduce the order",
) -> None:
    """One order's (or one leg's) size ``value`` (``what`` says which and how much) within the
    limit ``name`` of ``limits`` when it is set (the name reads the limit: they cannot differ)."""
    limit: Decimal | None = getattr(limits, name)
    if limit is not None and value > limit:
        raise refusal(
            name, f"{what} exceeds the limit {limit}. Fix: {fix} or raise {name}", account
        )


class _PositionMove(NamedTuple):
    """The symbol's worst-case position before and after the order, counting open orders."""

    before: Decimal
    after: Decimal

    @property
    def increases(self) -> bool:
        return abs(self.after) > abs(self.before) or (self.after < 0 <= self.before)


def _projected_position(
    side: OrderSide, state: RiskState, symbol: str, order_qty: Decimal
) -> _PositionMove:
    position = state.position(symbol)
    if side is OrderSide.BUY:
        before = position + pending(state, symbol, OrderSide.BUY)
        return _PositionMove(before, before + order_qty)
    before = position - pending(state, symbol, OrderSide.SELL)
    return _PositionMove(before, before - order_qty)


def _check_position(
    side: OrderSide,
    symbol: str,
    order_qty: Decimal,
    move: _PositionMove,
    price: Decimal | None,
    multiplier: Decimal,
    limits: RiskLimits,
    account: str | None,
) -> None:
    """shorting_allowed, max_position_qty, max_position_notional: the symbol's position."""
    after = move.after
    if not limits.shorting_allowed and side is OrderSide.SELL and after < 0:
        raise refusal(
            "shorting_allowed",
            f"selling {order_qty} {symbol} would take the position to {after} (counting open "
            "sells) and shorting is not allowed. Fix: sell at most the long quantity not already "
            "being sold",
            account,
        )
    qty_limit = limits.position_qty_limit(symbol)
    if qty_limit is not None and move.increases and abs(after) > qty_limit:
        raise refusal(
            "max_position_qty",
            f"the {symbol} position would reach {after} (counting open orders), beyond the limit "
            f"{qty_limit}. Fix: reduce the order or raise the limit",
            account,
        )
    notional_limit = limits.position_notional_limit(symbol)
    if notional_limit is not None and move.increases and price is not None:
        value = abs(after) * price * multiplier
        if value > notional_limit:
            raise refusal(
                "max_position_notional",
                f"the {symbol} position would be worth {value:.2f}, beyond the limit "
                f"{notional_limit}. Fix: reduce the order or raise the limit",
                account,
            )


def _check_exposure(
    state: RiskState, values_after: Mapping[str, Decimal], limits: RiskLimits, account: str | None
) -> None:
    """max_gross_exposure and max_net_exposure: the whole account with each position in
    ``values_after`` (by position key) worth its new value; only an order that raises the
    measure is refused."""
    if limits.max_gross_exposure is None and limits.max_net_exposure is None:
        return
    values = _position_values(state)
    gross_before = sum((abs(v) for v in values.values()), _ZERO)
    net_before = sum(values.values(), _ZERO)
    gross_after, net_after = gross_before, net_before
    for key, value_after in values_after.items():
        current = values.get(key, _ZERO)
        gross_after += abs(value_after) - abs(current)
        net_after += value_after - current
    if (
        limits.max_gross_exposure is not None
        and gross_after > limits.max_gross_exposure
        and gross_after > gross_before
    ):
        raise refusal(
            "max_gross_exposure",
            f"gross exposure would reach {gross_after:.2f}, beyond the limit "
            f"{limits.max_gross_exposure}. Fix: reduce the order or close other positions",
            account,
        )
    if (
        limits.max_net_exposure is not None
        and abs(net_after) > limits.max_net_exposure
        and abs(net_after) > abs(net_before)
    ):
        raise refusal(
            "max_net_exposure",
            f"net exposure would reach {net_after:.2f}, beyond the limit "
            f"{limits.max_net_exposure}. Fix: reduce the order or hedge first",
            account,
        )


def _position_values(state: RiskState) -> dict[str, Decimal]:
    """Each priced position's signed value: qty x price x multiplier."""
    values: dict[str, Decimal] = {}
    for key, qty in state.positions.items():
        price = state.prices.get(key)
        if price is not None:
            values[key] = qty * price * state.multiplier(key)
    return values


# --------------------------------------------------------------------------- multi-leg orders


def _leg_side(leg: OptionLegRequest) -> OrderSide:
    if leg.side is not None:
        return leg.side
    intent = leg.position_intent
    return (
        OrderSide.BUY if intent is not None and intent.value.startswith("buy") else OrderSide.SELL
    )


def _check_multi_leg(
    request: MultiLegOrderRequest, state: RiskState, limits: RiskLimits, account: str | None
) -> None:
    """A multi-leg order: the gates for every leg; max_contracts over all legs; the strategy's
    notional (|net price| x qty x multiplier); each leg's quantity and position (qty x ratio
    contracts); the exposure with every leg applied; then the options level and buying power."""
    symbols = tuple(leg.symbol.strip().upper() for leg in request.legs)
    _check_gates(symbols, state, limits, account)
    contracts = sum((request.qty * leg.ratio_qty for leg in request.legs), _ZERO)
    multiplier = max((state.multiplier(symbol) for symbol in symbols), default=_ZERO)
    if limits.max_order_notional is not None:
        if request.limit_price is None:
            raise _no_price("this market multi-leg order (no net price)", account)
        notional = abs(request.limit_price) * request.qty * multiplier
        what = f"notional {notional:.2f} of the multi-leg order"
        _check_order_limit(limits, "max_order_notional", notional, what, account)
    check_max_contracts(contracts, limits.max_contracts, account)
    values_after: dict[str, Decimal] = {}
    for leg, symbol in zip(request.legs, symbols, strict=True):
        leg_qty = request.qty * leg.ratio_qty
        what = f"the {symbol} leg trades {leg_qty} contracts, which"
        _check_order_limit(limits, "max_order_qty", leg_qty, what, account)
        price = state.price(symbol)
        if price is None and _needs_price(limits, symbol, order_notional=False):
            raise _no_price(symbol, account)
        side = _leg_side(leg)
        leg_multiplier = state.multiplier(symbol)
        move = _projected_position(side, state, symbol, leg_qty)
        _check_position(side, symbol, leg_qty, move, price, leg_multiplier, limits, account)
        if price is not None:
            values_after[position_key(symbol)] = move.after * price * leg_multiplier
    _check_exposure(state, values_after, limits, account)
    check_multi_leg_options(request, state, account)


# --------------------------------------------------------------------------- replaces


def _without_order(state: RiskState, order_id: str) -> RiskState:
    remaining = tuple(order for order in state.open_orders if order.id != order_id)
    return msgspec.structs.replace(state, open_orders=remaining)


def check_replace(
    old: Order,
    change: ReplaceRequest,
    state: RiskState,
    limits: RiskLimits,
    *,
    account: str | None = None,
) -> None:
    """Refuse replacing ``old`` with ``change`` if the resulting order breaks a limit; pure.

    The replacement is checked like a new order (:func:`check_order`; an mleg order as the
    strategy it becomes) against ``state`` without ``old``: the venue releases the old order's
    remaining quantity when the replacement takes its place, so counting both would refuse
    harmless replaces, and counting neither would let a replace raise the quantity past a limit.
    """
    request = replaced_intent(old, change)
    check_order(request, _without_order(state, old.id), limits, account=account)
