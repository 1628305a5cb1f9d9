"""Pre-trade risk limits and exposure measurement.

Limits live per account in the accounts file (``[accounts.NAME.risk]``, a plain mapping in
``config.AccountConfig.risk``); :meth:`RiskLimits.from_mapping` validates that mapping into a
:class:`RiskLimits` with one clear ``ConfigError`` per mistake. Every order the integration places
passes :func:`check_order` (pure) before a request is sent; :func:`make_pre_trade_check` builds the
async hook that ``AlpacaClient.submit_order(..., pre_trade_check=...)`` runs, reading the current
positions and open orders from the store (or the client). A replace is checked as the order it
would become (:func:`replaced_order_request`, :func:`check_replace`): the old order's remaining
quantity is released, so the old order is left out of the open orders it is compared with; the
hook's ``check_replace`` method is what ``AlpacaClient.replace_order`` runs. A refusal is
``RiskLimitError`` whose ``limit`` names the limit and whose message says the value, the limit and
what to do.

Exposure: :func:`measure_exposure` turns positions into an :class:`ExposureSnapshot` (gross, net,
long, short, per symbol), :func:`exposure_breaches` compares it with the limits, and
:func:`record_exposure` writes both as rows (``exposure_snapshots``, ``risk_breaches``) for the
account flow.

How a pending order counts: a check is worst case per symbol. The projected position for a buy is
the position plus every open buy's remaining quantity plus this order; for a sell, the position
minus every open sell's remaining quantity minus this order. Exit legs (orders with a parent) and
``held`` orders are not counted, since they only close what their entry opens. An order that does
not increase the exposure a limit measures is never refused by that limit (a risk-reducing sell
passes even over the limit); the halt switch and the symbol allow-list refuse everything.

This module imports ``models``, ``errors`` and ``config`` from the package, never the client,
storage or simulator modules (those are reached through small protocols).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import ROUND_UP, Decimal
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alpaca_integration.alpaca.requests import replaced_order_request
from alpaca_integration.config import AccountConfig
from alpaca_integration.errors import ConfigError, RiskLimitError
from alpaca_integration.models import (
    Order,
    OrderRequest,
    OrderSide,
    OrderStatus,
    Position,
    ReplaceRequest,
)

__all__ = [
    "ExposureSnapshot",
    "PreTradeCheck",
    "RiskBreach",
    "RiskCheck",
    "RiskLimits",
    "RiskState",
    "SymbolLimits",
    "check_order",
    "check_replace",
    "client_for_account",
    "exposure_breaches",
    "make_pre_trade_check",
    "measure_exposure",
    "order_reference_price",
    "record_exposure",
    "replaced_order_request",
]

if TYPE_CHECKING:
    from alpaca_integration.alpaca.client import AlpacaClient

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


class RiskState(msgspec.Struct, frozen=True, kw_only=True):
    """What a pre-trade check knows about the account: signed positions, reference prices, and the
    open orders (with their legs flattened or not; legs are skipped)."""

    positions: Mapping[str, Decimal] = msgspec.field(default_factory=dict)
    prices: Mapping[str, Decimal] = msgspec.field(default_factory=dict)
    open_orders: tuple[Order, ...] = ()

    @classmethod
    def from_records(
        cls,
        positions: Iterable[Position],
        open_orders: Iterable[Order] = (),
        prices: Mapping[str, Decimal] | None = None,
    ) -> RiskState:
        """Build the state from position and order models; a position's own price (current
        price, else market value / qty) is used where ``prices`` has none."""
        qty: dict[str, Decimal] = {}
        marks: dict[str, Decimal] = {}
        for position in positions:
            qty[position.symbol] = qty.get(position.symbol, _ZERO) + position.qty
            mark = _position_price(position)
            if mark is not None:
                marks[position.symbol] = mark
        marks.update(prices or {})
        flat: list[Order] = []
        for order in open_orders:
            flat.extend(order.flatten())
        return cls(positions=qty, prices=marks, open_orders=tuple(flat))


def _position_price(position: Position) -> Decimal | None:
    if position.current_price is not None and position.current_price > 0:
        return position.current_price
    if position.market_value is not None and position.qty != 0:
        return abs(position.market_value / position.qty)
    return None


def order_reference_price(request: OrderRequest, state: RiskState) -> Decimal | None:
    """The price a check values the order at: its limit price, else its stop price, else the
    state's price for the symbol (None when nothing is known)."""
    if request.limit_price is not None:
        return request.limit_price
    if request.stop_price is not None:
        return request.stop_price
    return state.prices.get(request.symbol.upper())


def _refuse(limit: str, message: str, account: str | None) -> RiskLimitError:
    prefix = f"account {account!r}: " if account else ""
    return RiskLimitError(
        f"{prefix}order refused by risk limit {limit}: {message}", limit=limit, account=account
    )


def _counts_as_working(order: Order) -> bool:
    return order.status.is_open and order.status is not OrderStatus.HELD and order.parent_id is None


def _pending(state: RiskState, symbol: str, side: OrderSide) -> Decimal:
    total = _ZERO
    for order in state.open_orders:
        if (
            order.symbol.upper() != symbol
            or order.side is not side
            or not _counts_as_working(order)
        ):
            continue
        if order.qty is not None:
            total += max(order.qty - order.filled_qty, _ZERO)
        elif order.notional is not None:
            price = state.prices.get(symbol)
            if price:
                total += (order.notional / price).quantize(Decimal("0.000000001"), ROUND_UP)
    return total


def check_order(
    request: OrderRequest,
    state: RiskState,
    limits: RiskLimits,
    *,
    account: str | None = None,
) -> None:
    """Refuse ``request`` with ``RiskLimitError(limit=...)`` if it breaks a limit; pure.

    Checks, in order: halted, allowed_symbols, max_open_orders, max_order_qty, max_order_notional,
    shorting_allowed, max_position_qty, max_position_notional, max_gross_exposure,
    max_net_exposure. The first breach is raised.
    """
    symbol = request.symbol.strip().upper()
    if limits.halted:
        raise _refuse(
            "halted",
            "trading is halted for this account. Fix: set halted = false in its risk table once "
            "it is safe to trade again",
            account,
        )
    if limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
        allowed = ", ".join(sorted(limits.allowed_symbols)) or "(none)"
        raise _refuse(
            "allowed_symbols",
            f"{symbol} is not an allowed symbol (allowed: {allowed}). Fix: add it to "
            "allowed_symbols if it should be tradable",
            account,
        )
    if limits.max_open_orders is not None:
        working = sum(1 for order in state.open_orders if _counts_as_working(order))
        if working + 1 > limits.max_open_orders:
            raise _refuse(
                "max_open_orders",
                f"{working} orders are open and the limit is {limits.max_open_orders}. Fix: "
                "cancel or wait for open orders first",
                account,
            )

    price = order_reference_price(request, state)
    if request.qty is not None:
        qty: Decimal | None = request.qty
    elif request.notional is not None and price:
        qty = request.notional / price
    else:
        qty = None
    if qty is None and (
        limits.max_order_qty is not None or limits.position_qty_limit(symbol) is not None
    ):
        raise _refuse(
            "reference_price",
            f"the quantity of this notional order on {symbol} cannot be known without a reference "
            "price. Fix: send a qty instead of a notional, or a limit price",
            account,
        )
    # A notional order's own notional is its order value: only the position and exposure limits
    # need a price then.
    needs_price = (
        (limits.max_order_notional is not None and request.notional is None)
        or limits.position_notional_limit(symbol) is not None
        or limits.max_gross_exposure is not None
        or limits.max_net_exposure is not None
    )
    if needs_price and price is None:
        raise _refuse(
            "reference_price",
            f"no reference price is known for {symbol}, so notional limits cannot be checked. "
            "Fix: give a limit price, or hold a position in the symbol so its price is known",
            account,
        )

    if limits.max_order_qty is not None and qty is not None and qty > limits.max_order_qty:
        raise _refuse(
            "max_order_qty",
            f"quantity {qty} of {symbol} exceeds the limit {limits.max_order_qty}. Fix: split "
            "the order or raise max_order_qty",
            account,
        )
    if limits.max_order_notional is not None:
        notional = (
            request.notional
            if request.notional is not None
            else abs(qty or _ZERO) * (price or _ZERO)
        )
        if notional > limits.max_order_notional:
            raise _refuse(
                "max_order_notional",
                f"notional {notional:.2f} of {symbol} exceeds the limit "
                f"{limits.max_order_notional}. Fix: reduce the order or raise max_order_notional",
                account,
            )

    order_qty = qty if qty is not None else _ZERO
    position = state.positions.get(symbol, _ZERO)
    if request.side is OrderSide.BUY:
        before = position + _pending(state, symbol, OrderSide.BUY)
        after = before + order_qty
    else:
        before = position - _pending(state, symbol, OrderSide.SELL)
        after = before - order_qty
    increases = abs(after) > abs(before) or (after < 0 <= before)

    if not limits.shorting_allowed and request.side is OrderSide.SELL and after < 0:
        raise _refuse(
            "shorting_allowed",
            f"selling {order_qty} {symbol} would take the position to {after} (counting open "
            "sells) and shorting is not allowed. Fix: sell at most the long quantity not already "
            "being sold",
            account,
        )
    qty_limit = limits.position_qty_limit(symbol)
    if qty_limit is not None and increases and abs(after) > qty_limit:
        raise _refuse(
            "max_position_qty",
            f"the {symbol} position would reach {after} (counting open orders), beyond the limit "
            f"{qty_limit}. Fix: reduce the order or raise the limit",
            account,
        )
    notional_limit = limits.position_notional_limit(symbol)
    if notional_limit is not None and increases and price is not None:
        value = abs(after) * price
        if value > notional_limit:
            raise _refuse(
                "max_position_notional",
                f"the {symbol} position would be worth {value:.2f}, beyond the limit "
                f"{notional_limit}. Fix: reduce the order or raise the limit",
                account,
            )

    if (limits.max_gross_exposure is None and limits.max_net_exposure is None) or price is None:
        return
    values = _position_values(state)
    gross_before = sum((abs(v) for v in values.values()), _ZERO)
    net_before = sum(values.values(), _ZERO)
    current = values.get(symbol, _ZERO)
    gross_after = gross_before - abs(current) + abs(after * price)
    net_after = net_before - current + after * price
    if (
        limits.max_gross_exposure is not None
        and gross_after > limits.max_gross_exposure
        and gross_after > gross_before
    ):
        raise _refuse(
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
        raise _refuse(
            "max_net_exposure",
            f"net exposure would reach {net_after:.2f}, beyond the limit "
            f"{limits.max_net_exposure}. Fix: reduce the order or hedge first",
            account,
        )


def _position_values(state: RiskState) -> dict[str, Decimal]:
    values: dict[str, Decimal] = {}
    for symbol, qty in state.positions.items():
        price = state.prices.get(symbol)
        if price is not None:
            values[symbol] = qty * price
    return values


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

    The replacement is checked like a new order (:func:`check_order`) against ``state`` without
    ``old``: the venue releases the old order's remaining quantity when the replacement takes its
    place, so counting both would refuse harmless replaces, and counting neither would let a
    replace raise the quantity past a limit.
    """
    request = replaced_order_request(old, change)
    check_order(request, _without_order(state, old.id), limits, account=account)


# --------------------------------------------------------------------------- pre-trade hook

PreTradeCheck = Callable[[OrderRequest], Awaitable[None]]


class _StoreLike(Protocol):
    async def positions(self, account: str) -> Sequence[Position]: ...

    async def open_orders(self, account: str) -> Sequence[Order]: ...


class _ClientLike(Protocol):
    async def list_positions(self) -> Sequence[Position]: ...

    def iter_orders(
        self, *, status: str = ..., nested: bool | None = ...
    ) -> AsyncIterator[Order]: ...


PriceLookup = Callable[[str], Awaitable[Decimal | None]]


async def _load_state(
    source: Any, account: str, price_lookup: PriceLookup | None, symbol: str
) -> RiskState:
    if hasattr(source, "open_orders") and hasattr(source, "positions"):
        positions = list(await source.positions(account))
        orders = list(await source.open_orders(account))
    else:
        positions = list(await source.list_positions())
        # Every page: one page (the venue's default 50) would hide the rest of the open orders.
        orders = [order async for order in source.iter_orders(status="open", nested=True)]
    prices: dict[str, Decimal] = {}
    if price_lookup is not None:
        looked_up = await price_lookup(symbol)
        if looked_up is not None:
            prices[symbol] = looked_up
    return RiskState.from_records(positions, orders, prices)


class RiskCheck:
    """The pre-trade hook :func:`make_pre_trade_check` returns.

    ``await check(request)`` checks a new order; ``await check.check_replace(old, change)`` checks
    a replace (``AlpacaClient.replace_order`` calls it). Both read the current state from the
    source first, and refuse with ``RiskLimitError``; a halted account refuses without reading.
    """

    def __init__(
        self,
        source: _StoreLike | _ClientLike | Any,
        limits: RiskLimits,
        *,
        account: str = "default",
        price_lookup: PriceLookup | None = None,
    ) -> None:
        self.source = source
        self.limits = limits
        self.account = account
        self.price_lookup = price_lookup

    def __repr__(self) -> str:
        return f"RiskCheck(account={self.account!r})"

    def _refuse_if_halted(self, request: OrderRequest) -> None:
        if self.limits.halted:
            # No state is needed to refuse, and a halted account must refuse even when the store
            # cannot be read.
            check_order(request, RiskState(), self.limits, account=self.account)

    async def _state(self, symbol: str) -> RiskState:
        return await _load_state(
            self.source, self.account, self.price_lookup, symbol.strip().upper()
        )

    async def __call__(self, request: OrderRequest) -> None:
        self._refuse_if_halted(request)
        state = await self._state(request.symbol)
        check_order(request, state, self.limits, account=self.account)

    async def check_replace(self, old: Order, change: ReplaceRequest) -> None:
        self._refuse_if_halted(replaced_order_request(old, change))
        state = await self._state(old.symbol)
        check_replace(old, change, state, self.limits, account=self.account)


def make_pre_trade_check(
    source: Any,
    limits: RiskLimits,
    *,
    account: str = "default",
    price_lookup: PriceLookup | None = None,
) -> RiskCheck:
    """An async ``pre_trade_check(request)`` for ``AlpacaClient.submit_order`` (and, through its
    ``check_replace`` method, for ``AlpacaClient.replace_order``).

    ``source`` is the store (``positions(account)``, ``open_orders(account)``: cheap, no request
    budget used) or the client (``list_positions()``, every page of ``iter_orders(status="open")``:
    exact, two requests or more). ``price_lookup(symbol)`` may supply a reference price for symbols
    with no position (a quote feed); without it a market order on a new symbol is refused only
    when a limit needs its price. Raises ``RiskLimitError``; returns None when the order may go.
    """
    return RiskCheck(source, limits, account=account, price_lookup=price_lookup)


def client_for_account(
    account: AccountConfig,
    *,
    redis_url: str | None = None,
    apply_risk_limits: bool = True,
    **options: Any,
) -> AlpacaClient:
    """A client for one configured account with the account's ``[risk]`` limits installed as its
    pre-trade check (read through that client: positions and every page of open orders), so
    every ``submit_order``/``replace_order`` passes them. Invalid limits raise ``ConfigError``
    here, before any order can be placed. ``apply_risk_limits=False`` leaves them out (only for
    code that runs its own check); a ``pre_trade_check=`` option replaces them."""
    from alpaca_integration.alpaca.client import AlpacaClient

    factory = None
    if apply_risk_limits and account.risk:
        limits = RiskLimits.from_mapping(account.risk, account=account.name)

        def factory(client: AlpacaClient) -> RiskCheck:
            return make_pre_trade_check(client, limits, account=account.name)

    return AlpacaClient.from_account(
        account,
        redis_url=redis_url,
        apply_risk_limits=apply_risk_limits,
        pre_trade_check_factory=factory,
        **options,
    )


# --------------------------------------------------------------------------- exposure


class ExposureSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """An account's exposure at ``at``: gross = long + short, net = long - short; ``per_symbol``
    maps each symbol to its signed market value. Symbols without any price are listed in
    ``unpriced`` and left out of the sums."""

    account: str
    at: dt.datetime
    gross: Decimal
    net: Decimal
    long: Decimal
    short: Decimal
    per_symbol: dict[str, Decimal]
    quantities: dict[str, Decimal]
    unpriced: tuple[str, ...] = ()


class RiskBreach(msgspec.Struct, frozen=True, kw_only=True):
    """A limit that the account's current state exceeds (a row of ``risk_breaches``)."""

    account: str
    at: dt.datetime
    limit_name: str
    subject: str
    value: Decimal
    limit: Decimal
    detail: str


def measure_exposure(
    positions: Iterable[Position], *, account: str, at: dt.datetime
) -> ExposureSnapshot:
    """Exposure from positions: each valued at its market value (else qty x current price)."""
    if at.tzinfo is None:
        raise ValueError("measure_exposure needs a timezone-aware 'at' (UTC)")
    per_symbol: dict[str, Decimal] = {}
    quantities: dict[str, Decimal] = {}
    unpriced: list[str] = []
    for position in positions:
        quantities[position.symbol] = quantities.get(position.symbol, _ZERO) + position.qty
        if position.market_value is not None:
            # The venue keeps the sign on short market values in some versions and not in
            # others: the sign always follows the position's quantity here.
            value = abs(position.market_value) * (-1 if position.qty < 0 else 1)
        elif position.current_price is not None:
            value = position.qty * position.current_price
        else:
            unpriced.append(position.symbol)
            continue
        per_symbol[position.symbol] = per_symbol.get(position.symbol, _ZERO) + value
    long = sum((v for v in per_symbol.values() if v > 0), _ZERO)
    short = -sum((v for v in per_symbol.values() if v < 0), _ZERO)
    return ExposureSnapshot(
        account=account,
        at=at.astimezone(dt.UTC),
        gross=long + short,
        net=long - short,
        long=long,
        short=short,
        per_symbol=per_symbol,
        quantities=quantities,
        unpriced=tuple(sorted(unpriced)),
    )


def exposure_breaches(snapshot: ExposureSnapshot, limits: RiskLimits) -> list[RiskBreach]:
    """Every limit the snapshot exceeds now (position, gross, net, shorting, allowed symbols)."""
    out: list[RiskBreach] = []

    def breach(name: str, subject: str, value: Decimal, limit: Decimal, detail: str) -> None:
        out.append(
            RiskBreach(
                account=snapshot.account,
                at=snapshot.at,
                limit_name=name,
                subject=subject,
                value=value,
                limit=limit,
                detail=detail,
            )
        )

    for symbol in sorted(snapshot.quantities):
        qty = snapshot.quantities[symbol]
        if qty == 0:
            continue
        if limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
            breach(
                "allowed_symbols", symbol, qty, _ZERO, f"position of {qty} in a symbol not allowed"
            )
        if not limits.shorting_allowed and qty < 0:
            breach(
                "shorting_allowed",
                symbol,
                qty,
                _ZERO,
                f"short position of {qty} while shorting is not allowed",
            )
        qty_limit = limits.position_qty_limit(symbol)
        if qty_limit is not None and abs(qty) > qty_limit:
            breach(
                "max_position_qty",
                symbol,
                abs(qty),
                qty_limit,
                f"position {qty} beyond {qty_limit}",
            )
        notional_limit = limits.position_notional_limit(symbol)
        value = snapshot.per_symbol.get(symbol)
        if notional_limit is not None and value is not None and abs(value) > notional_limit:
            breach(
                "max_position_notional",
                symbol,
                abs(value),
                notional_limit,
                f"position worth {value} beyond {notional_limit}",
            )
    if limits.max_gross_exposure is not None and snapshot.gross > limits.max_gross_exposure:
        breach(
            "max_gross_exposure",
            "account",
            snapshot.gross,
            limits.max_gross_exposure,
            f"gross exposure {snapshot.gross} beyond {limits.max_gross_exposure}",
        )
    if limits.max_net_exposure is not None and abs(snapshot.net) > limits.max_net_exposure:
        breach(
            "max_net_exposure",
            "account",
            abs(snapshot.net),
            limits.max_net_exposure,
            f"net exposure {snapshot.net} beyond {limits.max_net_exposure}",
        )
    return out


async def record_exposure(
    store: Any,
    account: str,
    positions: Iterable[Position],
    limits: RiskLimits | None,
    *,
    at: dt.datetime,
) -> tuple[ExposureSnapshot, list[RiskBreach]]:
    """Measure exposure, compare with the limits, and write the snapshot and every breach as rows
    (the account flow calls this after each account sync)."""
    snapshot = measure_exposure(positions, account=account, at=at)
    breaches = exposure_breaches(snapshot, limits) if limits is not None else []
    await store.insert_exposure_snapshot(snapshot)
    if breaches:
        await store.insert_risk_breaches(breaches)
    return snapshot, breaches
