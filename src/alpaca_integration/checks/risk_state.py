"""What a pre-trade check knows about the account, and how a refusal reads.

:class:`RiskState` holds the signed positions, a reference price and the multiplier per
instrument, the open orders, and (when read) the account's options and crypto figures
(:class:`AccountFigures`). Symbols meet under one key (``instruments.position_key``): an order on
``BTC/USD`` and the position ``BTCUSD`` are the same holding. Prices are per unit of the
underlying (an option's premium per share); a value is qty x price x multiplier.

:func:`refusal` words every refusal the same way; :func:`pending` is the worst-case quantity the
open orders on one side may still add.

Imports ``models``, ``instruments`` and ``errors`` from the package; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_UP, Decimal

import msgspec

from alpaca_integration.errors import RiskLimitError
from alpaca_integration.instruments import (
    CRYPTO_QTY_STEP,
    contract_multiplier,
    parse_occ_symbol,
    position_key,
)
from alpaca_integration.models import (
    AccountSnapshot,
    Order,
    OrderSide,
    OrderStatus,
    Position,
)

__all__ = [
    "AccountFigures",
    "RiskState",
    "counts_as_working",
    "pending",
    "refusal",
    "underlying_key",
]

_ZERO = Decimal(0)


class AccountFigures(msgspec.Struct, frozen=True, kw_only=True):
    """The account's figures a check of option and crypto orders needs (None: not stated).
    ``options_level`` is the effective level: 0 disabled, 1 covered calls and cash-secured puts,
    2 long calls and puts, 3 spreads; ``crypto_buying_power`` is the non-marginable buying power
    (crypto is never bought on margin)."""

    options_level: int | None = None
    options_buying_power: Decimal | None = None
    crypto_buying_power: Decimal | None = None

    @classmethod
    def from_account(cls, account: AccountSnapshot) -> AccountFigures:
        return cls(
            options_level=account.options_level,
            options_buying_power=account.options_buying_power,
            crypto_buying_power=account.non_marginable_buying_power,
        )


class RiskState(msgspec.Struct, frozen=True, kw_only=True):
    """What a pre-trade check knows about the account: signed positions, reference prices and
    multipliers (keyed by ``position_key``), the open orders (legs are skipped), and the
    account's figures when they were read."""

    positions: Mapping[str, Decimal] = msgspec.field(default_factory=dict)
    prices: Mapping[str, Decimal] = msgspec.field(default_factory=dict)
    open_orders: tuple[Order, ...] = ()
    multipliers: Mapping[str, Decimal] = msgspec.field(default_factory=dict)
    account: AccountFigures | None = None

    @classmethod
    def from_records(
        cls,
        positions: Iterable[Position],
        open_orders: Iterable[Order] = (),
        prices: Mapping[str, Decimal] | None = None,
        account: AccountSnapshot | None = None,
    ) -> RiskState:
        """Build the state from position and order models; a position's own price (current
        price, else market value / (qty x multiplier)) is used where ``prices`` has none."""
        qty: dict[str, Decimal] = {}
        marks: dict[str, Decimal] = {}
        multipliers: dict[str, Decimal] = {}
        for position in positions:
            key = position_key(position.symbol)
            qty[key] = qty.get(key, _ZERO) + position.qty
            multipliers[key] = position.multiplier
            mark = _position_price(position)
            if mark is not None:
                marks[key] = mark
        marks.update({position_key(symbol): price for symbol, price in (prices or {}).items()})
        flat: list[Order] = []
        for order in open_orders:
            flat.extend(order.flatten())
        return cls(
            positions=qty,
            prices=marks,
            open_orders=tuple(flat),
            multipliers=multipliers,
            account=None if account is None else AccountFigures.from_account(account),
        )

    def position(self, symbol: str) -> Decimal:
        return self.positions.get(position_key(symbol), _ZERO)

    def price(self, symbol: str) -> Decimal | None:
        return self.prices.get(position_key(symbol))

    def multiplier(self, symbol: str) -> Decimal:
        """Value per unit of quantity: the position's, else the symbol's standard one."""
        known = self.multipliers.get(position_key(symbol))
        return known if known is not None else contract_multiplier(symbol.strip().upper())


def _position_price(position: Position) -> Decimal | None:
    if position.current_price is not None and position.current_price > 0:
        return position.current_price
    if position.market_value is not None and position.qty != 0:
        return abs(position.market_value / (position.qty * position.multiplier))
    return None


def underlying_key(symbol: str) -> str:
    """The key of what ``symbol`` is on: an option contract's underlying, else the symbol."""
    option = parse_occ_symbol(symbol.strip().upper())
    return position_key(option.underlying if option is not None else symbol)


def refusal(limit: str, message: str, account: str | None) -> RiskLimitError:
    """The ``RiskLimitError`` of one refused order: the account, the limit, why and the fix."""
    prefix = f"account {account!r}: " if account else ""
    return RiskLimitError(
        f"{prefix}order refused by risk limit {limit}: {message}", limit=limit, account=account
    )


def counts_as_working(order: Order) -> bool:
    """An open entry order that may still trade (exit legs and held orders only close)."""
    return order.status.is_open and order.status is not OrderStatus.HELD and order.parent_id is None


def pending(state: RiskState, symbol: str, side: OrderSide) -> Decimal:
    """What the working orders on ``side`` may still add to ``symbol``'s position (a notional
    order through the reference price, rounded up to the finest fraction)."""
    key = position_key(symbol)
    total = _ZERO
    for order in state.open_orders:
        if position_key(order.symbol) != key or order.side is not side:
            continue
        if not counts_as_working(order):
            continue
        if order.qty is not None:
            total += max(order.qty - order.filled_qty, _ZERO)
        elif order.notional is not None:
            price = state.prices.get(key)
            if price:
                total += (order.notional / price).quantize(CRYPTO_QTY_STEP, ROUND_UP)
    return total
