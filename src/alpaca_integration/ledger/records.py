"""What the ledger hands out: frozen rows a store can write and a report can read.

Quantities are signed the way ``models.Position.qty`` is: a long lot is positive, a short lot
negative. Money is exact ``Decimal``; ``cost`` and P&L include the contract multiplier. Imports
nothing from the package.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import msgspec

__all__ = [
    "Income",
    "IncomeKind",
    "LedgerChanges",
    "LedgerTotals",
    "Lot",
    "LotValuation",
    "Match",
    "MatchKind",
    "MatchingMethod",
    "PendingAction",
    "PnlSummary",
    "unit_price",
]


class MatchingMethod(enum.StrEnum):
    """Which open lot a closing quantity consumes first."""

    FIFO = "fifo"  # oldest first (the default; what brokers report)
    LIFO = "lifo"  # newest first
    HIFO = "hifo"  # highest cost first: the close that realizes the least gain (see docs)


class MatchKind(enum.StrEnum):
    """What closed the quantity of a match."""

    TRADE = "trade"  # an opposite fill
    EXPIRY = "expiry"  # OPEXP: an option expired worthless (closed at zero)
    EXERCISE = "exercise"  # OPEXC: a long option exercised (its cost moves to the underlying)
    ASSIGNMENT = "assignment"  # OPASN: a short option assigned (its premium moves likewise)
    CASH_MERGER = "cash_merger"  # MA: shares taken for cash
    CASH_IN_LIEU = "cash_in_lieu"  # SPLIT: a fraction paid out in cash
    CASH_RETURN = "cash_return"  # MA: merger cash beyond the cost basis left in the shares
    WORTHLESS = "worthless"  # REORG/WRM: removed at zero
    CRYPTO_FEE = "crypto_fee"  # CFEE: coins taken as the fee (a disposal at the fee's price)


class Match(msgspec.Struct, frozen=True, gc=False):
    """One closed quantity: part (or all) of one lot, closed by one fill or activity.

    ``qty`` is the lot's signed quantity closed (negative: a short covered). ``gross`` is
    ``(close_price - open_price) * qty * multiplier`` exactly, from the lot's exact cost;
    ``open_fee``/``close_fee`` are the two sides' fees apportioned by quantity; ``net`` is
    ``gross - open_fee - close_fee``. Prices of adjusted lots (after a split or a carried option
    premium) are rounded to 1e-9 for display; ``gross`` is not.
    """

    account: str
    sleeve: str
    symbol: str
    open_fill_id: str
    close_fill_id: str
    qty: Decimal
    open_price: Decimal
    close_price: Decimal
    multiplier: Decimal
    gross: Decimal
    open_fee: Decimal
    close_fee: Decimal
    opened_at: dt.datetime
    closed_at: dt.datetime
    kind: MatchKind = MatchKind.TRADE

    @property
    def net(self) -> Decimal:
        # Computed, not stored: a million matches spare a million Decimals (see the benchmark).
        if self.open_fee or self.close_fee:
            return self.gross - self.open_fee - self.close_fee
        return self.gross

    @property
    def holding_period(self) -> dt.timedelta:
        return self.closed_at - self.opened_at

    @property
    def fees(self) -> Decimal:
        return self.open_fee + self.close_fee


class Lot(msgspec.Struct, frozen=True, kw_only=True):
    """An open lot. ``cost`` is the exact signed total paid (negative for a short: proceeds
    received); ``fee`` is the opening fee not yet apportioned to a match."""

    account: str
    sleeve: str
    symbol: str
    open_fill_id: str
    qty: Decimal
    cost: Decimal
    fee: Decimal
    multiplier: Decimal
    opened_at: dt.datetime

    @property
    def unit_cost(self) -> Decimal:
        """Cost per unit of quantity, without the multiplier (rounded to 1e-9 when inexact)."""
        return unit_price(self.cost, self.qty, self.multiplier)

    def unrealized(self, price: Decimal) -> Decimal:
        """Exact P&L if closed at ``price`` (before fees)."""
        return price * self.qty * self.multiplier - self.cost


class LotValuation(msgspec.Struct, frozen=True, kw_only=True):
    """An open lot valued at a price: ``market_value - cost``; None when no price is known."""

    lot: Lot
    price: Decimal | None
    market_value: Decimal | None
    unrealized: Decimal | None


class IncomeKind(enum.StrEnum):
    DIVIDEND = "dividend"  # DIV*, CGD (withholdings included, negative)
    INTEREST = "interest"  # INT* (margin interest negative)
    FEE = "fee"  # a FEE not joined to an execution, DIVFEE, PTC (negative)
    OTHER = "other"  # PTR and other cash the ledger books to a symbol or the account


class Income(msgspec.Struct, frozen=True, kw_only=True):
    """A non-trade cash item booked to a sleeve and symbol (``symbol`` None: the account's)."""

    account: str
    sleeve: str
    symbol: str | None
    activity_id: str
    activity_type: str
    kind: IncomeKind
    amount: Decimal
    at: dt.datetime


class PendingAction(msgspec.Struct, frozen=True, kw_only=True):
    """A corporate action or option exercise seen in part (waiting for its other legs)."""

    group: str
    activity_type: str
    activity_ids: tuple[str, ...]
    detached_qty: Decimal
    detached_cost: Decimal


class LedgerChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What one ``apply`` added or changed: the rows a store writes (idempotently) next."""

    matches: tuple[Match, ...] = ()
    updated_matches: tuple[tuple[int, Match], ...] = ()  # (position in Ledger.matches, new row)
    income: tuple[Income, ...] = ()
    books: frozenset[tuple[str, str]] = frozenset()  # (sleeve, symbol) whose open lots changed
    applied: int = 0
    duplicates: int = 0


class PnlSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Realized P&L of a group of matches (a symbol, a sleeve) and the income booked to it."""

    realized_gross: Decimal
    fees: Decimal
    realized_net: Decimal
    income: Decimal
    matches: int
    wins: int  # matches with net > 0
    losses: int  # matches with net < 0


class LedgerTotals(msgspec.Struct, frozen=True, kw_only=True):
    """The whole account's figures. ``fees_paid`` = fees on matches + fees still on open lots +
    fees that found no execution; it equals every fee the ledger was given, exactly."""

    realized_gross: Decimal
    realized_net: Decimal
    match_fees: Decimal
    open_lot_fees: Decimal
    unattributed_fees: Decimal
    fees_paid: Decimal
    income: Decimal
    open_cost: Decimal
    matches: int
    open_lots: int


_Q9 = Decimal("1e-9")


def unit_price(value: Decimal, qty: Decimal, multiplier: Decimal) -> Decimal:
    """``value / (qty * multiplier)``, rounded half-even to 1e-9 when it needs more places."""
    if not qty:
        return Decimal(0)
    unit = value / (qty * multiplier)
    rounded = unit.quantize(_Q9)
    return unit if rounded == unit else rounded
