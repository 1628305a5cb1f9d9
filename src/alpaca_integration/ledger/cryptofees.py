"""Crypto fees (``CFEE``): found a home among the executions they were charged for.

Alpaca charges a crypto trade's fee in what the trade credits (docs: "crypto spot trading fees"):
a buy of ``BTC/USD`` pays in BTC, so the position holds less coin than the fill says (alpaca-py
#374); a sell pays in USD. It posts the fee later, usually at the end of the day, as a ``CFEE``
activity without an execution id: ``symbol`` (``BTCUSD``, no slash), ``date``, and either a coin
``qty`` (negative) with the ``price`` it was valued at, or a USD ``net_amount`` (negative); an
``order_id`` when present.

The fee's executions are that order's fills, else the day's (New York date) fills of the symbol on
the side that pays in that currency (buys for coin, sells for USD), else the day's fills of the
symbol. A coin fee is a disposal: the coins leave the lots those fills opened (newest first, then
the book's matching order) at the fee's price, as ``CRYPTO_FEE`` matches whose close fee is the
coins' value, so the lot's quantity drops and its net P&L bears exactly the coins' cost. A USD fee
is shared over the fills' quantity by the matches they closed (``close_fee``) and the lots they
opened (``fee``). What finds no execution is returned to the caller as unattributed.

Only crypto fills are remembered here (by order and by day), so equities cost nothing.
Imports only ``models`` and ``ledger`` modules.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import msgspec

from alpaca_integration.ledger.book import Book, OpenLot, shares
from alpaca_integration.ledger.corporate import Desk
from alpaca_integration.ledger.events import NEW_YORK, Leg
from alpaca_integration.ledger.records import Match, MatchKind, unit_price
from alpaca_integration.ledger.symbols import plain_symbol
from alpaca_integration.models import Fill, OrderSide

__all__ = ["CryptoFees"]

_ZERO = Decimal(0)


@dataclasses.dataclass(slots=True)
class _Trace:
    """What one crypto order's fills did: its book, side, quantity and the matches it closed."""

    book: Book
    side: OrderSide
    qty: Decimal
    matches: list[int]  # global match positions (see Ledger.matches)


class CryptoFees:
    """The crypto fills' traces, and the CFEE handler that uses them."""

    def __init__(self) -> None:
        self.orders: dict[str, _Trace] = {}
        self.by_day: dict[tuple[str, dt.date], list[str]] = {}
        self.matches: dict[int, Match] = {}  # the latest version of every crypto match

    def note(self, fill: Fill, book: Book, matches: list[Match], first: int) -> None:
        """Remember a crypto fill after booking it, with the matches it made (``first`` is the
        position of the first of them among all the ledger's matches)."""
        trace = self.orders.get(fill.order_id)
        if trace is None:
            trace = self.orders[fill.order_id] = _Trace(book, fill.side, _ZERO, [])
            day = fill.timestamp.astimezone(NEW_YORK).date()
            self.by_day.setdefault((plain_symbol(fill.symbol), day), []).append(fill.order_id)
        trace.qty += fill.qty
        for offset, match in enumerate(matches):
            trace.matches.append(first + offset)
            self.matches[first + offset] = match

    def _candidates(self, leg: Leg, paid_in_coin: bool) -> list[_Trace]:
        if leg.order_id is not None and leg.order_id in self.orders:
            return [self.orders[leg.order_id]]
        day = leg.at.astimezone(NEW_YORK).date()
        orders = [
            self.orders[oid] for oid in self.by_day.get((plain_symbol(leg.symbol or ""), day), [])
        ]
        side = OrderSide.BUY if paid_in_coin else OrderSide.SELL
        return [trace for trace in orders if trace.side is side] or orders

    def charge(
        self, desk: Desk, leg: Leg, updated: dict[int, Match], batch_start: int
    ) -> tuple[Decimal, Decimal]:
        """Attach a CFEE. Returns the part of its USD value that found no execution, and the part
        added to matches made before ``batch_start`` (earlier batches)."""
        if leg.qty < 0 and leg.price:
            return self._coin_fee(desk, leg), _ZERO
        amount = -leg.net_amount
        traces = self._candidates(leg, paid_in_coin=False)
        targets: list[tuple[int | None, OpenLot | None, Decimal]] = []
        for trace in traces:
            targets += [(index, None, abs(self.matches[index].qty)) for index in trace.matches]
            targets += [
                (None, lot, abs(lot.qty))
                for lot in trace.book.open_lots()
                if lot.order_id and self.orders.get(lot.order_id) is trace
            ]
        weight = sum((part for _, _, part in targets), _ZERO)
        if not amount or not weight:
            return amount, _ZERO
        earlier = _ZERO
        portions = shares(amount, [part for _, _, part in targets])
        for (index, lot, _), share in zip(targets, portions, strict=True):
            if index is not None:
                match = msgspec.structs.replace(
                    self.matches[index], close_fee=self.matches[index].close_fee + share
                )
                self.matches[index] = updated[index] = match
                if index < batch_start:
                    earlier += share
            elif lot is not None:
                lot.fee += share
        for trace in traces:
            desk.touched.add((trace.book.sleeve, trace.book.symbol))
        return _ZERO, earlier

    def _coin_fee(self, desk: Desk, leg: Leg) -> Decimal:
        """Dispose of the fee's coins at its price, from the lots its fills opened first."""
        price = leg.price or _ZERO
        todo = -leg.qty
        for trace in self._candidates(leg, paid_in_coin=True):
            book = trace.book
            own = [lot for lot in book.open_lots() if self.orders.get(lot.order_id or "") is trace]
            pieces = []
            for lot in sorted(own, key=lambda lot: lot.opened_at, reverse=True):
                if not todo or lot.qty <= 0:
                    break
                piece = book.take_lot(lot, min(todo, lot.qty))
                todo -= piece.qty
                pieces.append(piece)
            _close_pieces(desk, book, pieces, price, leg)
            if todo and book.qty > 0:
                part = min(todo, book.qty)
                fee = part * price * book.multiplier  # the coins' value pays the fee
                book.trade(
                    -part,
                    price,
                    fee,
                    leg.activity_id,
                    None,
                    leg.at,
                    desk.matches,
                    MatchKind.CRYPTO_FEE,
                    open_rest=False,
                )
                todo -= part
            desk.touched.add((book.sleeve, book.symbol))
        return todo * price


def _close_pieces(desk: Desk, book: Book, pieces: list[OpenLot], price: Decimal, leg: Leg) -> None:
    for lot in pieces:
        value = lot.qty * price * book.multiplier
        gross = value - lot.cost
        desk.matches.append(
            Match(
                book.account,
                book.sleeve,
                book.symbol,
                lot.fill_id,
                leg.activity_id,
                lot.qty,
                lot.price
                if lot.price is not None
                else unit_price(lot.cost, lot.qty, book.multiplier),
                price,
                book.multiplier,
                gross,
                lot.fee,
                value,
                lot.opened_at,
                leg.at,
                MatchKind.CRYPTO_FEE,
            )
        )
