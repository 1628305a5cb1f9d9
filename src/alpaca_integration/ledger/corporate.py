"""Corporate actions and option lifecycle events applied to the books.

* Splits, name changes, stock mergers and option contract adjustments move lots: the removal legs'
  lots are taken out and put back under the addition legs' symbols with their exact total cost,
  fee, opening fill and opening time (so the holding period carries over); the new quantity is
  the one Alpaca reports, shared over the lots by quantity (rounded to 1e-9, the last lot taking
  the exact rest). An addition leg at price zero next to a priced one (a unit split's warrant)
  gets zero cost.
* Cash: a split's cash is cash in lieu of the fraction the rates promised but Alpaca did not
  deliver (that fraction is closed at the cash); a cash merger closes the lots at the cash; cash in
  a stock-and-cash merger is a return of capital: it lowers the new lots' cost, and what exceeds
  the cost is realized as a ``CASH_RETURN`` match of zero quantity.
* A spin-off creates lots of the new symbol, one per lot of the parent (holding period inherited),
  with the part of the parent's cost the activity's prices give (``new_qty * new_price`` over that
  plus ``source_qty * source_price``); without both prices, zero cost.
* Option expiry closes at zero; exercise and assignment close the option at its cost and carry
  that cost (premium paid, or received as negative cost) into the underlying trade (OPTRD).

Imports only ``ledger.book``, ``ledger.events``, ``ledger.records`` and ``ledger.symbols``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal

from alpaca_integration.ledger.book import Book, Books, OpenLot, apportion, round9, shares
from alpaca_integration.ledger.events import Leg, detail, detail_decimal
from alpaca_integration.ledger.records import Match, MatchKind, unit_price
from alpaca_integration.ledger.symbols import parse_occ_symbol

__all__ = [
    "Carry",
    "Desk",
    "group_complete",
    "leg_symbol",
    "option_event",
    "option_trade",
    "removal_sign",
    "resolve_group",
    "spin_off",
    "stock_dividend",
    "transfer",
]

_ZERO = Decimal(0)


@dataclasses.dataclass(slots=True)
class Desk:
    """What the handlers work on: the books and where their results go."""

    books: Books
    multiplier: Callable[[str], Decimal]
    default_sleeve: str
    matches: list[Match]
    touched: set[tuple[str, str]]

    def put(self, sleeve: str, symbol: str, lot: OpenLot) -> None:
        book = self.books.book(sleeve, symbol, self.multiplier(symbol))
        book.put(lot)
        book.restore_order()
        self.touched.add((sleeve, symbol))

    def put_unbought(self, symbol: str, leg: Leg, qty: Decimal | None = None) -> None:
        """Shares an action delivers with nothing of ours behind them: a zero-cost lot."""
        lot = OpenLot(
            leg.qty if qty is None else qty, _ZERO, _ZERO, None, leg.activity_id, None, leg.at
        )
        self.put(self.default_sleeve, symbol, lot)

    def lots_of(self, symbol: str) -> list[tuple[Book, OpenLot]]:
        """Every open lot of ``symbol`` with its book, sleeve by sleeve."""
        return [(book, lot) for book in self.books.holding(symbol) for lot in book.open_lots()]

    def touch_symbol(self, symbol: str) -> None:
        for sleeve in self.books.by_symbol.get(symbol, {}):
            self.touched.add((sleeve, symbol))


@dataclasses.dataclass(slots=True)
class Carry:
    """An exercised or assigned option's cost waiting for its underlying trade, per sleeve."""

    contracts: dict[str, Decimal]
    cost: dict[str, Decimal]


# --------------------------------------------------------------------------- grouped legs


def _removal_symbol(leg: Leg) -> str | None:
    if leg.activity_type == "OPCA":
        return detail(leg.details, "old_contract_symbol") or leg.symbol
    return leg.symbol or detail(
        leg.details, "old_symbol", "acquiree_symbol", "symbol", "source_symbol"
    )


def _addition_symbol(leg: Leg) -> str | None:
    if leg.activity_type == "OPCA":
        return detail(leg.details, "new_contract_symbol") or leg.symbol
    if leg.symbol:
        return leg.symbol
    alternate = detail(leg.details, "alternate_symbol")
    if alternate and leg.qty == detail_decimal(leg.details, "alternate_qty") and not leg.price:
        return alternate
    return detail(leg.details, "new_symbol", "acquirer_symbol", "symbol")


def leg_symbol(leg: Leg, position: Callable[[str], Decimal]) -> str | None:
    """The symbol whose position a grouped action's leg changes: a removal leg (its quantity of
    the opposite sign to the old symbol's ``position``) the old symbol's, an addition leg the new
    one's (a spin-off's, a stock dividend's and a share transfer's symbol comes the same way). The
    data-quality rule adds each leg's signed quantity there, as the ledger moves the lots."""
    old = _removal_symbol(leg)
    if old is not None and position(old) * leg.qty < 0:
        return old
    return _addition_symbol(leg)


def removal_sign(books: Books, legs: list[Leg]) -> int:
    """-1 when removal legs have negative quantity (a long position), +1 for a short one."""
    for leg in legs:
        symbol = _removal_symbol(leg)
        if symbol and leg.qty > 0 and books.position(symbol) < 0:
            return 1
    return -1


def _split_legs(legs: list[Leg], sign: int) -> tuple[list[Leg], list[Leg], Decimal]:
    removals = [leg for leg in legs if leg.qty and (leg.qty > 0) is (sign > 0)]
    additions = [leg for leg in legs if leg.qty and (leg.qty > 0) is not (sign > 0)]
    return removals, additions, sum((leg.net_amount for leg in legs), _ZERO)


def group_complete(legs: list[Leg], sign: int) -> bool:
    """Whether every leg the action's type and subtype promise has been seen."""
    removals, additions, _ = _split_legs(legs, sign)
    if not removals:
        return False
    kind, subtype = legs[0].activity_type, legs[0].subtype
    has_cash = any(leg.net_amount and not leg.qty for leg in legs) or any(
        leg.net_amount for leg in removals
    )
    if kind == "REORG":
        return True
    if kind == "MA":
        details = legs[0].details
        if not subtype:
            stock = detail(details, "acquirer_symbol") is not None
            cash = detail(details, "cash_rate", "cash_payout") is not None
            subtype = "SCMA" if stock and cash else "CMA" if cash else "SMA"
        if subtype == "CMA":
            return has_cash
        if subtype == "SCMA":
            return has_cash and bool(additions)
        return bool(additions)
    if kind == "SPLIT" and subtype == "USPLIT" and detail(legs[0].details, "alternate_symbol"):
        return len(additions) >= 2
    if kind == "SPLIT" and additions and not has_cash:
        # Rates that promise more than was delivered announce cash in lieu: wait for it.
        removed = -sum((leg.qty for leg in removals), _ZERO)
        return _promised_fraction(removals[0], removed, additions) is None
    return bool(additions)


def resolve_group(desk: Desk, legs: list[Leg], sign: int) -> None:
    """Apply a complete grouped action (see the module docstring for the rules)."""
    removals, additions, cash = _split_legs(legs, sign)
    removal = removals[0]
    if removal.activity_type == "OPCA":
        cash = _ZERO  # the legs' net_amounts value the contracts; no cash moves
    old_symbol = _removal_symbol(removal)
    if old_symbol is None:
        return
    at = max(leg.at for leg in legs)
    if not additions:
        kind = MatchKind.WORTHLESS if removal.activity_type == "REORG" else MatchKind.CASH_MERGER
        desk.books.dispose(
            old_symbol, removal.qty, -cash, _ZERO, removal.activity_id, at, kind, desk.matches
        )
        desk.touch_symbol(old_symbol)
        return
    removed = -sum((leg.qty for leg in removals), _ZERO)
    detached = desk.books.detach(old_symbol, removed)
    desk.touch_symbol(old_symbol)
    held = sum((lot.qty for _, lot in detached), _ZERO)
    basis = [leg for leg in additions if leg.price or len(additions) == 1]
    weights = [leg.qty * (leg.price or 1) for leg in basis]
    delivered = {id(leg): leg.qty for leg in additions}
    in_lieu = _in_lieu(removal, removed, basis, cash) if removal.activity_type == "SPLIT" else None
    if in_lieu is not None:
        delivered[id(basis[0])] = basis[0].qty + in_lieu
    for leg in additions:
        symbol = _addition_symbol(leg)
        if symbol is None:
            continue
        total = (
            delivered[id(leg)]
            if not held or held == removed
            else apportion(delivered[id(leg)], held, removed)
        )
        carries_basis = any(leg is other for other in basis)
        _attach(desk, detached, old_symbol, symbol, total, leg, basis, weights, carries_basis)
    first = _addition_symbol(basis[0]) if basis else None
    if first is None or not cash:
        return
    if in_lieu is not None:
        desk.books.dispose(
            first,
            -in_lieu,
            -cash,
            _ZERO,
            removal.activity_id,
            at,
            MatchKind.CASH_IN_LIEU,
            desk.matches,
        )
        desk.touch_symbol(first)
    else:
        _return_capital(desk, first, cash, legs[-1])


def _promised_fraction(removal: Leg, removed: Decimal, basis: list[Leg]) -> Decimal | None:
    """What a split's rates promised beyond the delivered quantity (to 1e-9), if anything."""
    old_rate = detail_decimal(removal.details, "old_rate")
    new_rate = detail_decimal(removal.details, "new_rate")
    if not old_rate or not new_rate or len(basis) != 1:
        return None
    promised = round9(removed * new_rate / old_rate)
    fraction = promised - basis[0].qty
    return fraction if fraction and (fraction > 0) is (promised > 0) else None


def _in_lieu(removal: Leg, removed: Decimal, basis: list[Leg], cash: Decimal) -> Decimal | None:
    """The fraction a split paid in cash: the rates' promise minus what was delivered."""
    return _promised_fraction(removal, removed, basis) if cash else None


def _attach(
    desk: Desk,
    detached: list[tuple[str, OpenLot]],
    old_symbol: str,
    symbol: str,
    total: Decimal,
    leg: Leg,
    basis: list[Leg],
    weights: list[Decimal],
    carries_basis: bool,
) -> None:
    if not detached:
        desk.put_unbought(symbol, leg, total)
        return
    index = next((i for i, other in enumerate(basis) if other is leg), -1)
    last_basis = index == len(basis) - 1
    quantities = shares(total, [lot.qty for _, lot in detached])
    for (sleeve, lot), qty in zip(detached, quantities, strict=True):
        if not carries_basis:
            desk.put(
                sleeve, symbol, OpenLot(qty, _ZERO, _ZERO, None, lot.fill_id, None, lot.opened_at)
            )
            continue
        # Each basis leg takes its weight's share of what is still on the lot; the last takes all.
        remaining = sum(weights[index:], _ZERO)
        cost = lot.cost if last_basis else apportion(lot.cost, weights[index], remaining)
        fee = lot.fee if last_basis else apportion(lot.fee, weights[index], remaining)
        lot.cost -= cost
        lot.fee -= fee
        same = qty == lot.qty and desk.multiplier(symbol) == desk.multiplier(old_symbol)
        price = lot.price if same and last_basis and index == 0 else None
        desk.put(
            sleeve, symbol, OpenLot(qty, cost, fee, price, lot.fill_id, lot.order_id, lot.opened_at)
        )


def _return_capital(desk: Desk, symbol: str, cash: Decimal, leg: Leg) -> None:
    """Lower the new lots' cost by their share of ``cash``; realize what exceeds it."""
    lots = desk.lots_of(symbol)
    for (book, lot), share in zip(lots, shares(cash, [lot.qty for _, lot in lots]), strict=True):
        reduce = min(share, lot.cost) if lot.cost > 0 else _ZERO
        lot.cost -= reduce
        lot.price = None
        desk.touched.add((book.sleeve, symbol))
        excess = share - reduce
        if excess:
            desk.matches.append(
                Match(
                    book.account,
                    book.sleeve,
                    symbol,
                    lot.fill_id,
                    leg.activity_id,
                    _ZERO,
                    _ZERO,
                    _ZERO,
                    book.multiplier,
                    excess,
                    _ZERO,
                    _ZERO,
                    lot.opened_at,
                    leg.at,
                    MatchKind.CASH_RETURN,
                )
            )


# --------------------------------------------------------------------------- single legs


def spin_off(desk: Desk, leg: Leg) -> None:
    """New lots of the spun-off symbol, one per parent lot, with the cost the prices allocate."""
    symbol = leg.symbol or detail(leg.details, "new_symbol")
    source = detail(leg.details, "source_symbol")
    if symbol is None or not leg.qty:
        return
    parents = desk.lots_of(source) if source else []
    if not parents:
        desk.put_unbought(symbol, leg)
        return
    new_price = detail_decimal(leg.details, "new_price")
    source_price = detail_decimal(leg.details, "source_price")
    source_qty = detail_decimal(leg.details, "source_qty")
    spun = parent = _ZERO
    if new_price and source_price and source_qty:
        spun = leg.qty * new_price * desk.multiplier(symbol)
        parent = source_qty * source_price * desk.multiplier(source or "")
    quantities = shares(leg.qty, [lot.qty for _, lot in parents])
    for (book, lot), qty in zip(parents, quantities, strict=True):
        moved = apportion(lot.cost, spun, spun + parent) if spun else _ZERO
        if moved:
            lot.cost -= moved
            lot.price = None
            desk.touched.add((book.sleeve, book.symbol))
        desk.put(
            book.sleeve, symbol, OpenLot(qty, moved, _ZERO, None, lot.fill_id, None, lot.opened_at)
        )


def stock_dividend(desk: Desk, leg: Leg) -> None:
    """Shares paid as a dividend join the existing lots pro rata; the total cost is unchanged."""
    symbol = leg.symbol or detail(leg.details, "symbol")
    if symbol is None:
        return
    lots = desk.lots_of(symbol)
    if not lots:
        desk.put_unbought(symbol, leg)
        return
    for (book, lot), extra in zip(lots, shares(leg.qty, [lot.qty for _, lot in lots]), strict=True):
        lot.qty += extra
        lot.price = None
        book.qty += extra
        desk.touched.add((book.sleeve, symbol))


def transfer(desk: Desk, leg: Leg) -> None:
    """Shares journaled or transferred in (out) open (close) at the activity's price."""
    if leg.symbol is None:
        return
    price = leg.price or (abs(leg.net_amount) / abs(leg.qty) if leg.net_amount else _ZERO)
    book = desk.books.book(desk.default_sleeve, leg.symbol, desk.multiplier(leg.symbol))
    book.trade(leg.qty, price, _ZERO, leg.activity_id, None, leg.at, desk.matches, MatchKind.TRADE)
    desk.touched.add((book.sleeve, leg.symbol))


def option_event(desk: Desk, leg: Leg, carries: dict[str, Carry], key: str) -> None:
    """OPEXP closes at zero; OPEXC/OPASN close at cost and leave the cost for the OPTRD."""
    if leg.symbol is None or not leg.qty:
        return
    if leg.activity_type == "OPEXP":
        desk.books.dispose(
            leg.symbol,
            leg.qty,
            _ZERO,
            _ZERO,
            leg.activity_id,
            leg.at,
            MatchKind.EXPIRY,
            desk.matches,
        )
        desk.touch_symbol(leg.symbol)
        return
    kind = MatchKind.EXERCISE if leg.activity_type == "OPEXC" else MatchKind.ASSIGNMENT
    before = {book.sleeve: book.qty for book in desk.books.holding(leg.symbol)}
    _, cost = desk.books.dispose(
        leg.symbol, leg.qty, None, _ZERO, leg.activity_id, leg.at, kind, desk.matches
    )
    desk.touch_symbol(leg.symbol)
    carry = carries.setdefault(key, Carry({}, {}))
    for sleeve, closed_cost in cost.items():
        book = desk.books.by_key[(sleeve, leg.symbol)]
        contracts = abs(before[sleeve] - book.qty)
        carry.contracts[sleeve] = carry.contracts.get(sleeve, _ZERO) + contracts
        carry.cost[sleeve] = carry.cost.get(sleeve, _ZERO) + closed_cost


def option_trade(desk: Desk, leg: Leg, carry: Carry | None) -> None:
    """The underlying bought or sold at the strike, with the option's carried cost in its value."""
    if leg.symbol is None or not leg.qty:
        return
    multiplier = desk.multiplier(leg.symbol)
    # The cash that changed hands is exact in net_amount (Alpaca's own example has a wrong price).
    cash_value = -leg.net_amount if leg.net_amount else leg.qty * (leg.price or _ZERO) * multiplier
    if carry is None or not carry.contracts:
        carry = Carry({desk.default_sleeve: Decimal(1)}, {desk.default_sleeve: _ZERO})
    sleeves = sorted(carry.contracts)
    quantities = shares(leg.qty, [carry.contracts[sleeve] for sleeve in sleeves])
    values = shares(cash_value, quantities)
    for sleeve, qty, share in zip(sleeves, quantities, values, strict=True):
        value = share + carry.cost[sleeve]
        price = unit_price(value, qty, multiplier)
        book = desk.books.book(sleeve, leg.symbol, multiplier)
        book.trade(
            qty, price, _ZERO, leg.activity_id, None, leg.at, desk.matches, MatchKind.TRADE, value
        )
        desk.touched.add((sleeve, leg.symbol))


def option_underlying(symbol: str) -> str | None:
    option = parse_occ_symbol(symbol)
    return None if option is None else option.underlying
