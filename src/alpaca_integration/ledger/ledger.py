"""The lot ledger of one account: fills and activities in, lots, matches and income out.

``Ledger.apply(events)`` books a batch: fills, activities and orders (orders only say which sleeve
their fills belong to), deduplicated by ``fill_id`` / activity ``id`` (applying one twice is a
no-op), sorted by (time, kind rank, id). Events that change lots must come in time order across
batches: one older than the newest already applied raises ``LedgerOrderError``, and the caller
rebuilds (``Ledger.rebuild`` with every event, which yields the same rows as the incremental path
would have). Cash items that do not depend on lots (interest, unattached fees, deposits) may come
in any order.

Pure: no I/O, no clock; ``Decimal`` arithmetic runs in a 60-digit context, and the only rounding is
``book.apportion``'s (1e-9, half-even, remainder carried). Imports ``models``, ``errors`` and the
``ledger`` modules only.
"""

from __future__ import annotations

import datetime as dt
import decimal
import operator
from collections.abc import Iterable, Mapping
from decimal import Decimal

from alpaca_integration.errors import AlpacaIntegrationError
from alpaca_integration.ledger.book import Book, Books, shares
from alpaca_integration.ledger.corporate import (
    Carry,
    Desk,
    group_complete,
    option_event,
    option_trade,
    removal_sign,
    resolve_group,
    spin_off,
    stock_dividend,
    transfer,
)
from alpaca_integration.ledger.cryptofees import CryptoFees
from alpaca_integration.ledger.events import (
    Leg,
    Role,
    activity_key,
    fill_key_rank,
    group_key,
    leg_of,
    option_group_key,
    role_of,
)
from alpaca_integration.ledger.records import (
    Income,
    IncomeKind,
    LedgerChanges,
    LedgerTotals,
    Lot,
    LotValuation,
    Match,
    MatchingMethod,
    PendingAction,
    PnlSummary,
)
from alpaca_integration.ledger.sleeves import SleeveConvention
from alpaca_integration.ledger.symbols import contract_multiplier
from alpaca_integration.ledger.views import pending_actions, summarize, value_lot
from alpaca_integration.models import Activity, Fill, Order, OrderSide

__all__ = ["Ledger", "LedgerError", "LedgerEvent", "LedgerOrderError"]

LedgerEvent = Fill | Activity | Order

_ZERO = Decimal(0)
_BUY = OrderSide.BUY
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
_SHARED_VALUES = 1 << 16
_GROSS = operator.attrgetter("gross")
_OPEN_FEE = operator.attrgetter("open_fee")
_CLOSE_FEE = operator.attrgetter("close_fee")
_RANK_FILL = fill_key_rank()
_CHARGE_KINDS = {"FEE": IncomeKind.FEE, "DIVFEE": IncomeKind.FEE, "PTC": IncomeKind.FEE}


class LedgerError(AlpacaIntegrationError, ValueError):
    """An event the ledger cannot book (a fill of no quantity, an activity with no time)."""


class LedgerOrderError(LedgerError):
    """An event that changes lots is older than one already applied: rebuild the ledger."""


def _key_of(item: Fill | tuple[Activity, Role]) -> tuple[dt.datetime, int, str]:
    if isinstance(item, Fill):
        return item.timestamp, _RANK_FILL, item.fill_id
    return activity_key(*item)


class Ledger:
    """Lots per (sleeve, symbol) of one account, matched by ``method``."""

    def __init__(
        self,
        account: str = "default",
        *,
        method: MatchingMethod = MatchingMethod.FIFO,
        sleeves: SleeveConvention | None = None,
        multipliers: Mapping[str, Decimal] | None = None,
        keep_matches: bool = True,
    ) -> None:
        self.account = account
        self.method = method
        self.sleeves = sleeves or SleeveConvention()
        self.keep_matches = keep_matches
        self._overrides = dict(multipliers or {})
        self._multipliers: dict[str, Decimal] = {}
        self._books = Books(account, method)
        # The state is the open lots; matches are output. Kept here unless the caller stores them
        # from each LedgerChanges (a million matches are most of a big ledger's memory).
        self._matches: list[Match] = []
        self._match_count = 0
        self._realized_gross = _ZERO
        self._match_fees = _ZERO
        self._income: list[Income] = []
        self._desk = Desk(self._books, self._multiplier, self.sleeves.default_sleeve, [], set())
        self._seen_fills: set[str] = set()
        self._seen_activities: set[str] = set()
        self._order_sleeves: dict[str, str] = {}
        self._coid_sleeves: dict[str | None, str] = {None: self.sleeves.default_sleeve}
        self._last_key: tuple[dt.datetime, int, str] | None = None
        self._pending: dict[str, list[Leg]] = {}
        self._carries: dict[str, Carry] = {}
        self._crypto = CryptoFees()
        self._values: dict[Decimal, Decimal] = {}
        self._fees_given = _ZERO
        self._unattributed = _ZERO
        self.unhandled: dict[str, int] = {}

    @classmethod
    def rebuild(
        cls,
        events: Iterable[LedgerEvent],
        like: Ledger | None = None,
        *,
        account: str = "default",
        method: MatchingMethod = MatchingMethod.FIFO,
    ) -> Ledger:
        """A fresh ledger with every event applied: configured like ``like`` when given (the way
        to check or replace an incremental one), else for ``account`` and ``method``."""
        if like is None:
            ledger = cls(account, method=method)
        else:
            ledger = cls(
                like.account,
                method=like.method,
                sleeves=like.sleeves,
                multipliers=like._overrides,
                keep_matches=like.keep_matches,
            )
        ledger.apply(events)
        return ledger

    # ------------------------------------------------------------------ applying

    def apply(self, events: Iterable[LedgerEvent]) -> LedgerChanges:
        """Book a batch of events; returns what changed (see ``LedgerChanges``)."""
        with decimal.localcontext(_CONTEXT):
            return self._apply(events)

    def _apply(self, events: Iterable[LedgerEvent]) -> LedgerChanges:
        first_income = len(self._income)
        batch: list[Match] = []
        self._desk.matches = batch
        sequenced: list[Fill | tuple[Activity, Role]] = []
        later: list[tuple[Activity, Role]] = []
        claimed: list[str] = []  # activity ids marked seen by this batch, released if refused
        duplicates = 0
        seen_fills, seen_activities = self._seen_fills, self._seen_activities
        last = self._last_key
        # The newest (time, rank, id) so far, unpacked: a batch in order (the usual case) then
        # needs no key tuples at all, which a million fills would otherwise allocate.
        at, rank, ident = last if last is not None else (None, 0, "")
        in_order = True
        try:
            for event in events:
                previous = at
                if type(event) is Fill:
                    fill_id = event.fill_id
                    count = len(seen_fills)
                    seen_fills.add(fill_id)
                    if len(seen_fills) == count:
                        duplicates += 1
                        continue
                    sequenced.append(event)
                    if event.qty <= _ZERO:
                        raise LedgerError(f"fill {fill_id}: quantity {event.qty} is not positive")
                    at, key_rank, key_id = event.timestamp, _RANK_FILL, fill_id
                elif isinstance(event, Activity):
                    if event.id in seen_activities:
                        duplicates += 1
                        continue
                    seen_activities.add(event.id)
                    claimed.append(event.id)
                    if (event.status or "").lower() == "canceled":
                        continue  # reversed by the venue: books nothing
                    role = role_of(event)
                    try:
                        at, key_rank, key_id = activity_key(event, role)
                    except ValueError as exc:
                        raise LedgerError(str(exc)) from exc
                    if not role.sequenced:
                        at = previous
                        later.append((event, role))
                        continue
                    sequenced.append((event, role))
                else:
                    if isinstance(event, Order):
                        self._tag(event)
                    continue
                if (
                    in_order
                    and previous is not None
                    and (at < previous or (at == previous and (key_rank, key_id) < (rank, ident)))
                ):
                    in_order = False
                rank, ident = key_rank, key_id
            if not in_order:
                keys = [_key_of(item) for item in sequenced]
                if last is not None:
                    self._refuse_stale(sequenced, keys, last)
                order = sorted(range(len(keys)), key=keys.__getitem__)
                sequenced = [sequenced[index] for index in order]
                newest = keys[order[-1]]
                self._last_key = newest if last is None or newest > last else last
            elif sequenced and at is not None:
                self._last_key = (at, rank, ident)
        except LedgerError:
            seen_fills.difference_update(e.fill_id for e in sequenced if isinstance(e, Fill))
            seen_activities.difference_update(claimed)
            raise
        touched: set[Book] = set()
        updated: dict[int, Match] = {}
        for item in sequenced:
            if type(item) is Fill:
                touched.add(self._book_fill(item))
            else:
                activity, role = item  # type: ignore[misc]
                self._book_activity(activity, role, updated)
        for activity, role in later:
            self._book_cash_item(activity, role)
        applied = len(sequenced) + len(later)
        earlier = self._emit(batch, updated)
        books = {(book.sleeve, book.symbol) for book in touched} | self._desk.touched
        self._desk.touched = set()
        return LedgerChanges(
            matches=tuple(batch),
            updated_matches=earlier,
            income=tuple(self._income[first_income:]),
            books=frozenset(books),
            applied=applied,
            duplicates=duplicates,
        )

    def _refuse_stale(
        self,
        sequenced: list[Fill | tuple[Activity, Role]],
        keys: list[tuple[dt.datetime, int, str]],
        last: tuple[dt.datetime, int, str],
    ) -> None:
        """Raise if an event is older than the last applied. A leg of a grouped action at the same
        instant is not: its group waits for every leg, so their order does not matter."""
        for item, key in zip(sequenced, keys, strict=True):
            if key >= last:
                continue
            if isinstance(item, tuple) and item[1] is Role.REORG_LEG and key[:2] == last[:2]:
                continue
            raise LedgerOrderError(
                f"ledger {self.account}: an event at {key[0]} is older than one applied at "
                f"{last[0]}; rebuild the ledger from the store"
            )

    def _emit(self, batch: list[Match], updated: dict[int, Match]) -> tuple[tuple[int, Match], ...]:
        """Number the batch's matches after the ones before, fold in fee updates, keep totals."""
        start = self._match_count
        earlier = []
        for index, match in sorted(updated.items()):
            if index >= start:
                batch[index - start] = match
            else:
                earlier.append((index, match))
                if self.keep_matches:
                    self._matches[index] = match
        self._realized_gross += sum(map(_GROSS, batch), _ZERO)
        self._match_fees += sum(map(_OPEN_FEE, batch), _ZERO) + sum(map(_CLOSE_FEE, batch), _ZERO)
        self._match_count += len(batch)
        if self.keep_matches:
            self._matches.extend(batch)
        return tuple(earlier)

    def _tag(self, order: Order) -> None:
        """Record the sleeve of an order and its legs; a leg or a replacement inherits it."""
        inherited = self._order_sleeves.get(order.parent_id or "") or self._order_sleeves.get(
            order.replaces or ""
        )
        sleeve = self.sleeves.sleeve_of(order.client_order_id)
        if sleeve == self.sleeves.default_sleeve and inherited is not None:
            sleeve = inherited
        self._order_sleeves.setdefault(order.id, sleeve)
        for leg in order.legs:
            self._order_sleeves.setdefault(leg.id, sleeve)

    def _multiplier(self, symbol: str) -> Decimal:
        multiplier = self._multipliers.get(symbol)
        if multiplier is None:
            multiplier = self._multipliers[symbol] = contract_multiplier(symbol, self._overrides)
        return multiplier

    def _book_fill(self, fill: Fill) -> Book:
        sleeve = self._order_sleeves.get(fill.order_id)
        if sleeve is None:
            sleeve = self._coid_sleeves.get(fill.client_order_id)
            if sleeve is None:
                sleeve = self._coid_sleeves[fill.client_order_id] = self.sleeves.sleeve_of(
                    fill.client_order_id
                )
        symbol = fill.symbol
        book = self._books.by_key.get((sleeve, symbol))
        if book is None:
            book = self._books.book(sleeve, symbol, self._multiplier(symbol))
        qty, price, fee = fill.qty, fill.price, fill.fee
        if self.keep_matches:
            # Kept matches hold the fills' prices, quantities and fees: sharing equal values
            # (prices sit on a cent grid, quantities repeat) keeps a million matches smaller.
            values = self._values
            if len(values) > _SHARED_VALUES:
                values.clear()
            qty = values.setdefault(qty, qty)
            price = values.setdefault(price, price)
            fee = values.setdefault(fee, fee)
        out = self._desk.matches
        first = len(out)
        book.trade(
            qty if fill.side is _BUY else -qty,
            price,
            fee,
            fill.fill_id,
            fill.order_id,
            fill.timestamp,
            out,
        )
        if fee:
            self._fees_given += fee
        if book.crypto:
            self._crypto.note(fill, book, out[first:], self._match_count + first)
        return book

    def _book_activity(self, activity: Activity, role: Role, updated: dict[int, Match]) -> None:
        leg = leg_of(activity)
        desk = self._desk
        if role is Role.REORG_LEG:
            key = group_key(leg)
            legs = self._pending.setdefault(key, [])
            legs.append(leg)
            sign = removal_sign(self._books, legs)
            if group_complete(legs, sign):
                del self._pending[key]
                resolve_group(desk, legs, sign)
        elif role is Role.SPIN:
            spin_off(desk, leg)
        elif role is Role.STOCK_DIVIDEND:
            stock_dividend(desk, leg)
        elif role is Role.DIVIDEND:
            self._dividend(activity, leg)
        elif role is Role.OPTION_EVENT:
            option_event(desk, leg, self._carries, option_group_key(leg))
        elif role is Role.OPTION_TRADE:
            option_trade(desk, leg, self._carries.pop(option_group_key(leg), None))
        elif role is Role.TRANSFER:
            transfer(desk, leg)
        elif role is Role.CRYPTO_FEE:
            value = (
                -leg.qty * (leg.price or _ZERO) if leg.qty < 0 and leg.price else -leg.net_amount
            )
            self._fees_given += value
            left, attached = self._crypto.charge(desk, leg, updated, self._match_count)
            self._match_fees += attached
            if left:
                self._unattributed += left
                self._add_income(activity, leg, self.sleeves.default_sleeve, IncomeKind.FEE, -left)

    def _dividend(self, activity: Activity, leg: Leg) -> None:
        """Cash dividends go to the sleeves holding the symbol, by quantity held."""
        if not leg.net_amount:
            return
        holders = self._books.holding(leg.symbol) if leg.symbol else []
        if not holders:
            self._add_income(
                activity, leg, self.sleeves.default_sleeve, IncomeKind.DIVIDEND, leg.net_amount
            )
            return
        portions = shares(leg.net_amount, [abs(book.qty) for book in holders])
        for book, share in zip(holders, portions, strict=True):
            self._add_income(activity, leg, book.sleeve, IncomeKind.DIVIDEND, share)

    def _book_cash_item(self, activity: Activity, role: Role) -> None:
        kind = activity.activity_type.upper()
        amount = activity.net_amount or _ZERO
        if role is Role.INTEREST:
            self._add_income(
                activity, None, self.sleeves.default_sleeve, IncomeKind.INTEREST, amount
            )
        elif role is Role.CHARGE:
            # A FEE with an order id and a time was joined to its fill by the store (sync.join).
            if kind == "FEE" and activity.order_id and activity.transaction_time:
                return
            income_kind = _CHARGE_KINDS.get(kind, IncomeKind.OTHER)
            if income_kind is IncomeKind.FEE:
                self._fees_given -= amount
                self._unattributed -= amount
            self._add_income(activity, None, self.sleeves.default_sleeve, income_kind, amount)
        elif role is Role.IGNORED:
            self.unhandled[kind] = self.unhandled.get(kind, 0) + 1

    def _add_income(
        self, activity: Activity, leg: Leg | None, sleeve: str, kind: IncomeKind, amount: Decimal
    ) -> None:
        self._income.append(
            Income(
                account=self.account,
                sleeve=sleeve,
                symbol=activity.symbol,
                activity_id=activity.id,
                activity_type=activity.activity_type.upper(),
                kind=kind,
                amount=amount,
                at=leg.at if leg is not None else leg_of(activity).at,
            )
        )

    # ------------------------------------------------------------------ reading

    def matches(self) -> tuple[Match, ...]:
        """Every closed match, in the order they were made (the same order on a rebuild)."""
        if not self.keep_matches:
            raise LedgerError("this ledger hands its matches out in LedgerChanges and keeps none")
        return tuple(self._matches)

    def income(self) -> tuple[Income, ...]:
        """Income and charges by time (the same order however the events were batched)."""
        return tuple(sorted(self._income, key=lambda i: (i.at, i.activity_id, i.sleeve)))

    def open_lots(self, symbol: str | None = None, sleeve: str | None = None) -> list[Lot]:
        """Open lots (of one symbol, one sleeve) by symbol, sleeve, then opening time; a store
        rewrites the lots of each book in ``LedgerChanges.books`` from here."""
        keys = sorted(self._books.by_key, key=lambda key: (key[1], key[0]))
        return [
            lot
            for book_sleeve, book_symbol in keys
            if (symbol is None or book_symbol == symbol) and (sleeve in (None, book_sleeve))
            for lot in self._books.by_key[(book_sleeve, book_symbol)].frozen()
        ]

    def positions(self) -> dict[str, Decimal]:
        """Net open quantity per symbol (all sleeves): what the broker's positions should show."""
        held = {symbol: self._books.position(symbol) for symbol in self._books.by_symbol}
        return {symbol: qty for symbol, qty in sorted(held.items()) if qty}

    def pending(self) -> list[PendingAction]:
        """Grouped actions seen in part, and option exercises waiting for their OPTRD."""
        return pending_actions(self._pending, self._carries)

    def valuations(self, prices: Mapping[str, Decimal]) -> list[LotValuation]:
        """Each open lot valued at ``prices[symbol]`` (the latest position price)."""
        return [value_lot(lot, prices.get(lot.symbol)) for lot in self.open_lots()]

    def summary(self, by: str = "symbol") -> dict[str, PnlSummary]:
        """Realized P&L and income per ``symbol`` or per ``sleeve`` (needs the kept matches)."""
        return summarize(self.matches(), self._income, by)

    def totals(self) -> LedgerTotals:
        lots = self.open_lots()
        open_fees = sum((lot.fee for lot in lots), _ZERO)
        return LedgerTotals(
            realized_gross=self._realized_gross,
            realized_net=self._realized_gross - self._match_fees,
            match_fees=self._match_fees,
            open_lot_fees=open_fees,
            unattributed_fees=self._unattributed,
            fees_paid=self._match_fees + open_fees + self._unattributed,
            income=sum((i.amount for i in self._income if i.kind is not IncomeKind.FEE), _ZERO),
            open_cost=sum((lot.cost for lot in lots), _ZERO),
            matches=self._match_count,
            open_lots=len(lots),
        )

    @property
    def fees_given(self) -> Decimal:
        """Every fee the ledger was given (fills' fees, crypto fees, unattached FEEs)."""
        return self._fees_given
