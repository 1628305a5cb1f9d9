"""The venue's matching engine: working orders against the current price.

``MatchingEngine`` keeps the book (working orders by symbol) and the orders waiting for their
session. ``match`` executes an order when the price lets it: market orders at once, limits when
marketable, stops once triggered (trailing stops move their stop with the high-water mark),
IOC/FOK with their cancel rules, ``liquidity_cap`` splitting large orders. ``execute`` books one
execution (through ``accounting``) and emits its fill event; ``finish`` moves an order to a
terminal status with the order-class consequences: a bracket/OTO entry hands its legs the filled
quantity, one member of a one-cancels-other pair cancels the other, a held stop-loss goes live
when its stop is hit. ``run_boundary`` applies a session boundary: activations, the opening and
closing auctions and day-order expiries.

With the stale-snapshot fault (``stale_fill_probability``), a fill event carries the order as
it stood before that execution while its ``qty``, ``price`` and ``execution_id`` are right.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Iterable
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from alpaca_integration.simulator.accounting import Accounting
from alpaca_integration.simulator.clock import BoundaryKind, Phase, TradingCalendar
from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.market import Market, price_tick
from alpaca_integration.simulator.mleg import net_price
from alpaca_integration.simulator.state import Order, order_json
from alpaca_integration.simulator.tape import Tape
from alpaca_integration.simulator.validation import LIMIT_TYPES, STOP_TYPES
from alpaca_integration.simulator.wire import fmt

__all__ = ["MatchingEngine"]

_ZERO = Decimal(0)
_NINE_PLACES = Decimal("1E-9")
_TERMINAL_STAMPS = {
    "canceled": "canceled_at",
    "expired": "expired_at",
    "rejected": "failed_at",
    "replaced": "replaced_at",
}


@dataclasses.dataclass(eq=False, repr=False)
class MatchingEngine:
    """The book, the waiting orders, and the rules that execute and end orders."""

    config: SimConfig
    _: dataclasses.KW_ONLY
    symbols: dataclasses.InitVar[Iterable[str]]
    market: Market
    calendar: TradingCalendar
    tape: Tape
    accounting: Accounting
    phase: Phase
    waiting: dict[str, Order] = dataclasses.field(default_factory=dict, init=False)
    stale_fill_probability: float = dataclasses.field(default=0.0, init=False)

    def __post_init__(self, symbols: Iterable[str]) -> None:
        self.book: dict[str, dict[str, Order]] = {symbol: {} for symbol in symbols}
        self._stale = random.Random(f"{self.config.seed}:stale")

    # ------------------------------------------------------------------ the book

    def rest(self, order: Order) -> None:
        """Put a working order (or a watched stop-loss) in the book; an mleg order under each
        of its legs' contracts (a move of any of them may make it marketable)."""
        for symbol in _book_symbols(order):
            self.book[symbol][order.id] = order

    def unlist(self, order: Order) -> None:
        for symbol in _book_symbols(order):
            self.book[symbol].pop(order.id, None)
        self.waiting.pop(order.id, None)
        order.account.open_orders.pop(order.id, None)

    def _all_book_orders(self) -> list[Order]:
        return [order for orders in self.book.values() for order in orders.values()]

    def _tradeable(self, order: Order, auction: str | None) -> bool:
        if self.calendar.always_open or order.asset.is_crypto:
            return True
        tif = order.time_in_force
        if tif == "opg":
            return auction == "open"
        if tif == "cls":
            return auction == "close"
        if self.phase == "regular":
            return True
        return self.phase in ("pre", "post") and order.extended_hours

    def can_work_now(self, order: Order) -> bool:
        """May a new order start working now (else it waits, ``accepted``, for its session)?"""
        if self.calendar.always_open or order.asset.is_crypto:
            return True
        if order.time_in_force in ("opg", "cls"):
            # Auction orders rest as new during the session; outside it they wait.
            return order.time_in_force == "cls" and self.phase == "regular"
        if self.phase == "regular":
            return True
        return self.phase in ("pre", "post") and order.extended_hours

    # ------------------------------------------------------------------ matching

    def match_symbol(self, symbol: str, auction: str | None = None) -> None:
        book = self.book.get(symbol)
        if not book:
            return
        for order in list(book.values()):
            if order.id in book:
                self.match(order, auction)

    def match_all(self, auction: str | None = None) -> None:
        for symbol in self.book:
            self.match_symbol(symbol, auction)

    def match(self, order: Order, auction: str | None = None) -> None:
        """Try to execute ``order`` against the current price (see the docs for the rules)."""
        if order.is_terminal or not self._tradeable(order, auction):
            return
        if _is_mleg_parent(order):
            self._match_mleg(order)
            return
        price = self.market.price(order.symbol)
        if not self._triggered(order, price) or not self._marketable(order, price):
            return
        remaining = order.remaining
        if remaining is None:
            remaining = self._notional_target(order, price)
            if remaining is None:
                return
        if remaining <= 0:
            return
        qty = remaining
        cap = self.config.liquidity_cap
        if cap is not None and qty > cap:
            if order.time_in_force == "fok":
                self.finish(order, "canceled", self.tape.stamp())
                return
            qty = cap
        self.execute(order, qty, price)
        if order.time_in_force == "ioc" and not order.is_terminal:
            self.finish(order, "canceled", self.tape.stamp())

    def _triggered(self, order: Order, price: Decimal) -> bool:
        """A stop order waits for its stop; hitting it arms the order (and fires a held
        stop-loss)."""
        if order.type not in STOP_TYPES or order.triggered:
            return True
        if order.type == "trailing_stop":
            self.trail(order, price)
        assert order.stop_price is not None
        hit = price >= order.stop_price if order.is_buy else price <= order.stop_price
        if not hit:
            return False
        order.triggered = True
        if order.armed:
            self._fire_armed(order)
        return True

    def _marketable(self, order: Order, price: Decimal) -> bool:
        """A limit trades at its price or better; an IOC/FOK limit that cannot is canceled."""
        if order.type not in LIMIT_TYPES:
            return True
        assert order.limit_price is not None
        if price <= order.limit_price if order.is_buy else price >= order.limit_price:
            return True
        if order.time_in_force in ("ioc", "fok"):
            self.finish(order, "canceled", self.tape.stamp())
        return False

    def _notional_target(self, order: Order, price: Decimal) -> Decimal | None:
        """A notional order's quantity, fixed at its first execution (None: rejected)."""
        assert order.notional is not None
        target = (order.notional / price).quantize(_NINE_PLACES, rounding=ROUND_DOWN)
        if target <= 0:
            self.finish(order, "rejected", self.tape.stamp())
            return None
        order.target_qty = target
        return target

    def trail(self, order: Order, price: Decimal) -> None:
        """Move a trailing stop's high-water mark and stop (during the regular session)."""
        if self.phase != "regular" and not self.calendar.always_open:
            return
        buy = order.is_buy
        if order.hwm is None or (price < order.hwm if buy else price > order.hwm):
            order.hwm = price
        hwm = order.hwm
        if order.trail_price is not None:
            stop = hwm + order.trail_price if buy else hwm - order.trail_price
        else:
            assert order.trail_percent is not None
            factor = order.trail_percent / 100
            stop = hwm * (1 + factor) if buy else hwm * (1 - factor)
        tick = price_tick(stop if stop > 0 else price)
        stop = stop.quantize(tick, rounding=ROUND_DOWN if not buy else ROUND_UP)
        order.stop_price = max(stop, tick)

    # ------------------------------------------------------------------ executions

    def execute(self, order: Order, qty: Decimal, price: Decimal) -> None:
        """One execution: book it, emit its fill event, shrink a one-cancels-other peer."""
        stale = self._stale_snapshot(order)
        at = self.tape.stamp()
        position_qty = self.accounting.settle(order, qty, price, at)
        order.filled_qty += qty
        order.filled_notional += qty * price
        assert order.target_qty is not None
        done = order.target_qty - order.filled_qty <= 0
        order.status = "filled" if done else "partially_filled"
        order.updated_at = at
        kind = "fill" if done else "partial_fill"
        if done:
            order.filled_at = at
            self.unlist(order)
            self.accounting.release(order)
        self.accounting.record_fill(order, qty, price, at, kind)
        execution_id = self.tape.new_id()
        self.accounting.note_execution(order, execution_id)
        self.tape.emit(
            order,
            kind,
            at,
            snapshot=stale,
            execution_id=execution_id,
            price=fmt(price),
            qty=fmt(qty),
            position_qty=fmt(position_qty),
        )
        self._shrink_peer(order, qty)
        if done:
            self._after_terminal(order)

    def _match_mleg(self, parent: Order) -> None:
        """Every leg at once at its premium when the net price is within the limit; then the
        parent, filled at the net price (its event carries no execution of its own)."""
        net = net_price(parent, self.market)
        if parent.limit_price is not None and net > parent.limit_price:
            return
        for leg in parent.legs:
            if leg.remaining:
                self.execute(leg, leg.remaining, self.market.price(leg.symbol))
        assert parent.qty is not None
        at = self.tape.stamp()
        parent.filled_qty = parent.qty
        parent.filled_notional = net * parent.qty
        parent.status = "filled"
        parent.updated_at = parent.filled_at = at
        self.unlist(parent)
        self.accounting.release(parent)
        self.tape.emit(parent, "fill", at)

    def _stale_snapshot(self, order: Order) -> dict[str, Any] | None:
        """The fault's lagging snapshot: the order before this execution (None: no fault)."""
        rate = self.stale_fill_probability
        if rate and self._stale.random() < rate:
            return order_json(order, nested=True)
        return None

    def _shrink_peer(self, order: Order, qty: Decimal) -> None:
        peer = order.peer
        if peer is None or peer.is_terminal or peer.triggered:
            return
        # The other member of a one-cancels-other pair shrinks with every partial execution;
        # once nothing is left it is canceled with its last working qty, as Alpaca shows it.
        remaining = (peer.qty or _ZERO) - qty
        if remaining <= 0:
            self.finish(peer, "canceled", self.tape.stamp(), cascade=False)
        else:
            peer.qty = remaining
            peer.target_qty = remaining

    # ------------------------------------------------------------------ state changes

    def finish(
        self,
        order: Order,
        status: str,
        at: dt.datetime,
        *,
        cascade: bool = True,
        event: str | None = None,
    ) -> None:
        """Move ``order`` to a terminal status, free what it held, tell the stream, and apply
        the order-class consequences (legs, one-cancels-other) unless ``cascade`` is off."""
        order.status = status
        order.updated_at = at
        stamp_field = _TERMINAL_STAMPS.get(status)
        if stamp_field is not None:
            setattr(order, stamp_field, at)
        order.armed = False
        self.unlist(order)
        self.accounting.release(order)
        self.tape.emit(order, event or status, at)
        if cascade:
            self._after_terminal(order)

    def _after_terminal(self, order: Order) -> None:
        if order.status == "replaced":
            return
        if _is_mleg_parent(order):
            for leg in order.legs:
                if not leg.is_terminal:
                    self.finish(leg, order.status, self.tape.stamp(), cascade=False)
            return
        if order.legs and order.order_class in ("bracket", "oto") and order.leg_role is None:
            if order.filled_qty > 0:
                self._activate_legs(order)
            else:
                for leg in order.legs:
                    if not leg.is_terminal:
                        self.finish(leg, "canceled", self.tape.stamp(), cascade=False)
        peer = order.peer
        if peer is not None and not peer.is_terminal:
            self.finish(peer, "canceled", self.tape.stamp(), cascade=False)

    def go_live(self, order: Order, at: dt.datetime) -> None:
        """An accepted order starts working: ``new``, in the book, and its event."""
        order.status = "new"
        order.updated_at = at
        self.rest(order)
        if _is_mleg_parent(order):
            for leg in order.legs:
                leg.status, leg.updated_at = "new", at

    def activate(self, order: Order, at: dt.datetime) -> None:
        """A waiting (accepted) order starts working."""
        self.waiting.pop(order.id, None)
        if order.is_terminal or self._reject_at_activation(order, at):
            return
        self.go_live(order, at)
        for leg in order.legs:
            if leg.armed:
                self.rest(leg)
        self.tape.emit(order, "new", at)

    def _reject_at_activation(self, order: Order, at: dt.datetime) -> bool:
        """A queued opening order whose cost at today's price exceeds the buying power left is
        rejected when it would start working (as Alpaca does at the open)."""
        if order.type != "market" or order.notional is not None or not order.reserve_unit:
            return False
        assert order.qty is not None
        price = self.market.price(order.symbol)
        needed = order.qty * price * order.asset.multiplier - order.reserved
        if needed <= 0:
            return False
        available = self.accounting.available_buying_power(order.account, order.asset)
        if needed <= available:
            return False
        self.finish(order, "rejected", at)
        return True

    def _activate_legs(self, entry: Order) -> None:
        filled = entry.filled_qty
        live = [leg for leg in entry.legs if not leg.is_terminal]
        for leg in live:
            leg.qty = filled
            leg.target_qty = filled
            leg.position_intent = "sell_to_close" if leg.side == "sell" else "buy_to_close"
        for leg in live:
            at = self.tape.stamp()
            leg.updated_at = at
            if entry.order_class == "bracket" and leg.leg_role == "stop_loss":
                # The stop of a bracket is watched by the venue; it stays held until triggered.
                leg.armed = True
            else:
                leg.status = "new"
                self.accounting.take_hold(leg)
                self.tape.emit(leg, "new", at)
            self.rest(leg)
        for leg in live:
            self.match(leg)

    def _fire_armed(self, order: Order) -> None:
        """A held stop-loss whose stop was hit: its take-profit peer is canceled, it goes live."""
        order.armed = False
        peer = order.peer
        if peer is not None and not peer.is_terminal:
            self.finish(peer, "canceled", self.tape.stamp(), cascade=False)
        at = self.tape.stamp()
        order.status = "new"
        order.updated_at = at
        self.accounting.take_hold(order)
        self.tape.emit(order, "new", at)

    # ------------------------------------------------------------------ sessions

    def run_boundary(self, kind: BoundaryKind) -> None:
        """Activations, auctions and expiries of one session boundary (the tape's
        ``processing_at`` is the boundary's time)."""
        if kind == "pre_open":
            for order in list(self.waiting.values()):
                if order.extended_hours:
                    self.activate(order, self.tape.stamp())
        elif kind == "open":
            for order in list(self.waiting.values()):
                self.activate(order, self.tape.stamp())
            self.match_all(auction="open")
            self._end_where(lambda order: order.time_in_force == "opg", "canceled")
        elif kind == "close":
            self.match_all(auction="close")
            self._end_where(
                lambda order: (
                    order.time_in_force == "cls"
                    or (order.time_in_force == "day" and not order.extended_hours)
                ),
                "expired",
            )
        elif kind == "post_close":
            self._end_where(lambda order: order.time_in_force == "day", "expired")

    def _end_where(self, applies: Callable[[Order], bool], status: str) -> None:
        for order in self._all_book_orders():
            if not order.is_terminal and applies(order):
                self.finish(order, status, self.tape.stamp())


def _is_mleg_parent(order: Order) -> bool:
    return order.order_class == "mleg" and order.ratio_qty is None


def _book_symbols(order: Order) -> list[str]:
    if _is_mleg_parent(order):
        return [leg.symbol for leg in order.legs]
    return [order.symbol]
