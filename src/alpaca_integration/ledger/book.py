"""The matching engine: the open lots of one (sleeve, symbol) and how a trade consumes them.

This is the ledger's hot path, written for speed (plain classes with ``__slots__``, no per-fill
struct copies, lots mutated in place, a deque per book for FIFO/LIFO and a heap for HIFO) and for
exactness: a lot keeps its exact total ``cost``; a partial close takes ``cost * part / qty``
rounded half-even to 1e-9 (``apportion``) and leaves the exact rest in the lot, so the pieces of a
cost or a fee always add up to the whole. A lot opened by a plain fill (``cost = price * qty *
multiplier``) keeps its ``price`` and closes without any division at all.

Imports only ``ledger.records`` from the package.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import deque
from collections.abc import Sequence
from decimal import Decimal

import msgspec

from alpaca_integration.ledger.records import Lot, Match, MatchingMethod, MatchKind, unit_price
from alpaca_integration.ledger.symbols import is_crypto_symbol

__all__ = ["Book", "Books", "OpenLot", "apportion", "round9", "shares"]

_ZERO = Decimal(0)
_ONE = Decimal(1)
_Q9 = Decimal("1e-9")
_TRADE = MatchKind.TRADE


def round9(value: Decimal) -> Decimal:
    """``value`` rounded half-even to 1e-9 when it has more places (kept as is otherwise)."""
    rounded = value.quantize(_Q9)
    return value if rounded == value else rounded


def apportion(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """The share of ``total`` that ``part`` of ``whole`` carries, rounded half-even to 1e-9.

    The caller keeps ``total - share`` for the rest, so the shares of a total add up to it
    exactly whatever the rounding.
    """
    if not total:
        return _ZERO
    if part == whole:
        return total
    return round9(total * part / whole)


def shares(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``total`` shared by ``weights`` (``apportion`` each; the last takes the exact rest)."""
    whole = sum(weights, _ZERO)
    out: list[Decimal] = []
    left = total
    for index, weight in enumerate(weights):
        share = left if index == len(weights) - 1 else apportion(total, weight, whole)
        left -= share
        out.append(share)
    return out


class OpenLot(msgspec.Struct, gc=False):
    """A lot while it is open (mutable; ``Lot`` is its frozen public copy). ``price`` is the unit
    price while ``cost == price * qty * multiplier`` holds, None once the lot was adjusted.
    (A msgspec Struct: built in C, it is the cheapest mutable record per opening fill.)"""

    qty: Decimal
    cost: Decimal
    fee: Decimal
    price: Decimal | None
    fill_id: str
    order_id: str | None
    opened_at: dt.datetime
    seq: int = 0

    def split(self, qty: Decimal) -> OpenLot:
        """Take ``qty`` (same sign, smaller) out of this lot into a new one with its share of the
        cost and fee; this lot keeps the exact rest."""
        cost = apportion(self.cost, qty, self.qty)
        fee = apportion(self.fee, qty, self.qty)
        piece = OpenLot(qty, cost, fee, self.price, self.fill_id, self.order_id, self.opened_at)
        self.qty -= qty
        self.cost -= cost
        self.fee -= fee
        return piece


def _hifo_key(lot: OpenLot) -> Decimal:
    # A long closes its highest unit cost first; a short its lowest unit proceeds first: either
    # way the close that realizes the least gain. The heap pops the smallest key.
    unit = lot.price if lot.price is not None else lot.cost / lot.qty
    return -unit if lot.qty > 0 else unit


class Book:
    """The open lots of one account, sleeve and symbol; every lot has the position's sign."""

    __slots__ = (
        "account",
        "crypto",
        "heap",
        "hifo",
        "lots",
        "method",
        "multiplier",
        "next_seq",
        "qty",
        "sleeve",
        "symbol",
        "unit",
    )

    def __init__(
        self,
        account: str,
        sleeve: str,
        symbol: str,
        multiplier: Decimal,
        method: MatchingMethod,
    ) -> None:
        self.account = account
        self.sleeve = sleeve
        self.symbol = symbol
        self.multiplier = multiplier
        self.unit = multiplier == _ONE
        self.crypto = is_crypto_symbol(symbol)
        self.method = method
        self.hifo = method is MatchingMethod.HIFO
        self.qty = _ZERO
        self.next_seq = 0
        # FIFO/LIFO keep the lots in opening order in ``lots``; HIFO keeps (key, seq, lot) in
        # the min-heap ``heap``. One of the two stays empty.
        self.lots: deque[OpenLot] = deque()
        self.heap: list[tuple[Decimal, int, OpenLot]] = []

    # ------------------------------------------------------------------ reading

    def open_lots(self) -> list[OpenLot]:
        """The lots in the order they were opened."""
        if self.hifo:
            return sorted(
                (entry[2] for entry in self.heap), key=lambda lot: (lot.opened_at, lot.fill_id)
            )
        return list(self.lots)

    def frozen(self) -> list[Lot]:
        return [
            Lot(
                account=self.account,
                sleeve=self.sleeve,
                symbol=self.symbol,
                open_fill_id=lot.fill_id,
                qty=lot.qty,
                cost=lot.cost,
                fee=lot.fee,
                multiplier=self.multiplier,
                opened_at=lot.opened_at,
            )
            for lot in self.open_lots()
        ]

    # ------------------------------------------------------------------ changing

    def put(self, lot: OpenLot) -> None:
        """Add an open lot (a fill's remainder, or a lot moved here by a corporate action)."""
        if self.hifo:
            lot.seq = self.next_seq
            self.next_seq += 1
            heapq.heappush(self.heap, (_hifo_key(lot), lot.seq, lot))
        else:
            self.lots.append(lot)
        self.qty += lot.qty

    def restore_order(self) -> None:
        """Re-sort FIFO/LIFO lots by opening time after lots from elsewhere were put here."""
        if not self.hifo:
            self.lots = deque(sorted(self.lots, key=lambda lot: (lot.opened_at, lot.fill_id)))

    def take(self, qty: Decimal) -> list[OpenLot]:
        """Detach ``qty`` (the lots' sign) in matching order, splitting the last lot if needed;
        at most what the book holds."""
        taken: list[OpenLot] = []
        todo = qty
        while (self.heap if self.hifo else self.lots) and todo:
            lot = self._head()
            if (lot.qty <= todo) if lot.qty > 0 else (lot.qty >= todo):
                self._pop()
                taken.append(lot)
            else:
                taken.append(lot.split(todo))
            todo -= taken[-1].qty
            self.qty -= taken[-1].qty
        return taken

    def take_lot(self, lot: OpenLot, qty: Decimal) -> OpenLot:
        """Detach ``qty`` (the lot's sign, at most its quantity) of this particular lot."""
        if qty != lot.qty:
            piece = lot.split(qty)
        else:
            piece = lot
            if self.hifo:
                self.heap = [entry for entry in self.heap if entry[2] is not lot]
                heapq.heapify(self.heap)
            else:
                self.lots.remove(lot)
        self.qty -= piece.qty
        return piece

    def _head(self) -> OpenLot:
        if self.hifo:
            return self.heap[0][2]
        return self.lots[0] if self.method is MatchingMethod.FIFO else self.lots[-1]

    def _pop(self) -> None:
        if self.hifo:
            heapq.heappop(self.heap)
        elif self.method is MatchingMethod.FIFO:
            self.lots.popleft()
        else:
            self.lots.pop()

    def trade(
        self,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        fill_id: str,
        order_id: str | None,
        at: dt.datetime,
        out: list[Match],
        kind: MatchKind = _TRADE,
        value: Decimal | None = None,
        *,
        open_rest: bool = True,
        at_cost: bool = False,
    ) -> Decimal:
        """Book a trade of signed ``qty`` at ``price``: close opposite lots in matching order
        (appending a ``Match`` per lot to ``out``), then open the rest as a new lot.

        ``value`` (the trade's exact signed total, ``qty * price * multiplier`` when None) lets a
        trade carry more than its price, e.g. an option premium. ``at_cost`` closes at each lot's
        cost (zero gross). ``open_rest=False`` never opens a lot. Returns the cost closed.
        """
        held = self.qty
        if not held or (held > _ZERO) is (qty > _ZERO):
            if not open_rest:
                return _ZERO
            if value is None and not self.hifo:  # the common case, inline
                cost = price * qty if self.unit else price * qty * self.multiplier
                self.lots.append(OpenLot(qty, cost, fee, price, fill_id, order_id, at))
                self.qty = held + qty
            else:
                self._open(qty, price, fee, value, fill_id, order_id, at)
            return _ZERO
        method = self.method
        fifo = method is MatchingMethod.FIFO
        lifo = method is MatchingMethod.LIFO
        lots = self.lots
        heap = self.heap
        pool: deque[OpenLot] | list[tuple[Decimal, int, OpenLot]] = heap if self.hifo else lots
        unit = self.unit
        multiplier = self.multiplier
        close_price = price if value is None else unit_price(value, qty, multiplier)
        todo = -qty  # what is left to close, in the lots' sign
        fee_left = fee
        value_left = value
        closed_cost = _ZERO
        account, sleeve, symbol = self.account, self.sleeve, self.symbol
        while pool and todo:
            lot = lots[0] if fifo else lots[-1] if lifo else heap[0][2]
            lot_qty = lot.qty
            if (lot_qty <= todo) if lot_qty > _ZERO else (lot_qty >= todo):
                closed = lot_qty
                cost = lot.cost
                open_fee = lot.fee
                if fifo:
                    lots.popleft()
                elif lifo:
                    lots.pop()
                else:
                    heapq.heappop(heap)
            else:
                closed = todo
                lot_price = lot.price
                if lot_price is None:
                    cost = apportion(lot.cost, closed, lot_qty)
                else:
                    cost = lot_price * closed if unit else lot_price * closed * multiplier
                open_fee = apportion(lot.fee, closed, lot_qty) if lot.fee else _ZERO
                lot.qty = lot_qty - closed
                lot.cost -= cost
                lot.fee -= open_fee
            todo -= closed
            if not fee_left:
                close_fee = _ZERO
            elif not todo:
                close_fee = fee_left
            else:
                close_fee = apportion(fee, -closed, qty)
                fee_left -= close_fee
            if at_cost:
                proceeds = cost
                closed_cost += cost
            elif value_left is None or value is None:
                proceeds = price * closed if unit else price * closed * multiplier
            else:
                share = value_left if not todo else apportion(value, -closed, qty)
                value_left -= share
                proceeds = -share
            gross = proceeds - cost
            open_price = (
                lot.price if lot.price is not None else unit_price(cost, closed, multiplier)
            )
            out.append(
                Match(
                    account,
                    sleeve,
                    symbol,
                    lot.fill_id,
                    fill_id,
                    closed,
                    open_price,
                    open_price if at_cost else close_price,
                    multiplier,
                    gross,
                    open_fee,
                    close_fee,
                    lot.opened_at,
                    at,
                    kind,
                )
            )
        # Either the trade was all closing, or it emptied the book and the rest opens.
        self.qty = held + qty if not todo else _ZERO
        if todo and open_rest:
            self._open(-todo, price, fee_left, value_left, fill_id, order_id, at)
        return closed_cost

    def _open(
        self,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        value: Decimal | None,
        fill_id: str,
        order_id: str | None,
        at: dt.datetime,
    ) -> None:
        if value is None:
            cost = price * qty if self.unit else price * qty * self.multiplier
            lot = OpenLot(qty, cost, fee, price, fill_id, order_id, at)
        else:
            lot = OpenLot(qty, value, fee, None, fill_id, order_id, at)
        if self.hifo:
            self.put(lot)
        else:
            self.lots.append(lot)
            self.qty += qty


class Books:
    """Every book of one account, by (sleeve, symbol) and by symbol."""

    __slots__ = ("account", "by_key", "by_symbol", "method")

    def __init__(self, account: str, method: MatchingMethod) -> None:
        self.account = account
        self.method = method
        self.by_key: dict[tuple[str, str], Book] = {}
        self.by_symbol: dict[str, dict[str, Book]] = {}

    def book(self, sleeve: str, symbol: str, multiplier: Decimal) -> Book:
        key = (sleeve, symbol)
        book = self.by_key.get(key)
        if book is None:
            book = Book(self.account, sleeve, symbol, multiplier, self.method)
            self.by_key[key] = book
            self.by_symbol.setdefault(symbol, {})[sleeve] = book
        return book

    def holding(self, symbol: str) -> list[Book]:
        """The books with an open position in ``symbol``, by sleeve name."""
        sleeves = self.by_symbol.get(symbol, {})
        return [sleeves[name] for name in sorted(sleeves) if sleeves[name].qty]

    def position(self, symbol: str) -> Decimal:
        return sum((book.qty for book in self.by_symbol.get(symbol, {}).values()), _ZERO)

    def detach(self, symbol: str, qty: Decimal | None = None) -> list[tuple[str, OpenLot]]:
        """Take ``qty`` (default: all) of ``symbol`` out of its books, sleeve by sleeve."""
        taken: list[tuple[str, OpenLot]] = []
        for book in self.holding(symbol):
            want = book.qty if qty is None else qty
            if qty is not None and abs(want) > abs(book.qty):
                want = book.qty
            for lot in book.take(want):
                taken.append((book.sleeve, lot))
            if qty is not None:
                qty -= want
                if not qty:
                    break
        return taken

    def dispose(
        self,
        symbol: str,
        qty: Decimal,
        value: Decimal | None,
        fee: Decimal,
        ref_id: str,
        at: dt.datetime,
        kind: MatchKind,
        out: list[Match],
    ) -> tuple[Decimal, dict[str, Decimal]]:
        """Close signed trade ``qty`` of ``symbol`` across sleeves (never opening a lot) for the
        signed total ``value`` (None: at cost, zero gross) and ``fee``, both apportioned by
        quantity. Returns the quantity left unclosed and the cost closed per sleeve."""
        cost_by_sleeve: dict[str, Decimal] = {}
        books = [book for book in self.holding(symbol) if (book.qty > 0) is (qty < 0)]
        held = sum((book.qty for book in books), _ZERO)
        todo = qty
        value_left, fee_left = value, fee
        for index, book in enumerate(books):
            part = -book.qty if abs(book.qty) < abs(todo) else todo
            last = index == len(books) - 1 or part == todo
            fee_part = fee_left if last else apportion(fee, part, -held)
            fee_left -= fee_part
            value_part: Decimal | None = None
            if value_left is not None:
                value_part = value_left if last else apportion(value_left, part, todo)
                value_left -= value_part
            price = _ZERO if value_part is None else unit_price(value_part, part, book.multiplier)
            cost = book.trade(
                part,
                price,
                fee_part,
                ref_id,
                None,
                at,
                out,
                kind,
                value_part,
                open_rest=False,
                at_cost=value is None,
            )
            cost_by_sleeve[book.sleeve] = cost
            todo -= part
            if not todo:
                break
        return todo, cost_by_sleeve
