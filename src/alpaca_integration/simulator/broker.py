"""The simulated broker: accounts, order lifecycle, matching, positions, activities, events.

``Broker`` holds every account of the venue and is driven by three kinds of calls, all on one
thread (the server's event loop), so no call ever sees another half done:

* requests (``submit_order``, ``replace_order``, ``cancel_order``, ``list_orders``, ...) that
  answer Alpaca's JSON or raise ``VenueError`` with Alpaca's status, code and message;
* ``sync()``, which brings the venue to the clock's now: phase boundaries (pre-market, open,
  close, after-hours end) with their auctions and expiries, then price moves and the matching of
  the symbols whose price changed (matching is incremental: only those symbols' working orders);
* admin calls (``set_price``, ``dump``).

Every state change emits a trade_updates event (``sink(key_id, message)``) whose order snapshot is
taken at that moment. A fill's event timestamp is its FILL activity's ``transaction_time``, which
is also the ``transaction_time`` of the FEE activity a sell pays; the event's ``order.filled_qty``
is the activity's ``cum_qty``.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from alpaca_integration.simulator.clock import NEW_YORK, Boundary, SimClock, TradingCalendar
from alpaca_integration.simulator.config import AccountSpec, SimConfig
from alpaca_integration.simulator.market import AssetSpec, Market, price_tick
from alpaca_integration.simulator.state import (
    Account,
    Order,
    Position,
    asset_json,
    money,
    order_json,
    position_json,
)
from alpaca_integration.simulator.wire import (
    CODE_BAD_REQUEST,
    CODE_FORBIDDEN,
    CODE_NOT_FOUND,
    CODE_UNAUTHORIZED,
    CODE_UNPROCESSABLE,
    CODE_VALIDATION,
    VenueError,
    fmt,
    parse_bool,
    parse_decimal,
    parse_int,
    parse_time,
    ts,
)

__all__ = ["ACTIVITY_TYPES", "Broker", "EventSink"]

EventSink = Callable[[str, dict[str, Any]], None]

ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")
TIME_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
ORDER_CLASSES = ("", "simple", "bracket", "oco", "oto", "mleg")
STOP_TYPES = frozenset({"stop", "stop_limit", "trailing_stop"})
LIMIT_TYPES = frozenset({"limit", "stop_limit"})
WORKING = frozenset({"new", "partially_filled"})
NOT_REPLACEABLE = frozenset({"accepted", "pending_new", "pending_cancel", "pending_replace"})
ACTIVITY_TYPES = (
    "FILL",
    "TRANS",
    "MISC",
    "ACATC",
    "ACATS",
    "CFEE",
    "CSD",
    "CSW",
    "DIV",
    "DIVCGL",
    "DIVCGS",
    "DIVFEE",
    "DIVFT",
    "DIVNRA",
    "DIVROC",
    "DIVTW",
    "DIVTXEX",
    "FEE",
    "INT",
    "INTNRA",
    "INTTW",
    "JNL",
    "JNLC",
    "JNLS",
    "MA",
    "NC",
    "OPASN",
    "OPEXP",
    "OPXRC",
    "PTC",
    "PTR",
    "REORG",
    "SC",
    "SSO",
    "SSP",
    "SPLIT",
)
_ZERO = Decimal(0)
_NINE_PLACES = Decimal("1E-9")
_CENT = Decimal("0.01")
_TEN_PLACES = Decimal("1E-10")
_HALF = Decimal("0.5")
_MAX_ORDERS_PAGE = 500
_MAX_ACTIVITIES_PAGE = 100
_PDT_EQUITY = Decimal(25_000)


@dataclasses.dataclass(slots=True)
class _Intent:
    """A validated order request."""

    asset: AssetSpec
    side: str
    type: str
    time_in_force: str
    order_class: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    extended_hours: bool
    client_order_id: str | None
    take_profit: Decimal | None
    stop_loss_stop: Decimal | None
    stop_loss_limit: Decimal | None
    position_intent: str | None


def _unprocessable(message: str, **extra: Any) -> VenueError:
    return VenueError(422, CODE_UNPROCESSABLE, message, **extra)


def _invalid(message: str) -> VenueError:
    return VenueError(422, CODE_VALIDATION, message)


def _forbidden(message: str, **extra: Any) -> VenueError:
    return VenueError(403, CODE_FORBIDDEN, message, **extra)


def _order_not_found() -> VenueError:
    return VenueError(404, CODE_NOT_FOUND, "order not found")


def _check_sub_penny(field: str, price: Decimal) -> None:
    if price <= 0:
        raise _invalid(f"{field} must be > 0, got {fmt(price)}")
    tick = price_tick(price)
    if price % tick:
        places = 2 if tick == _CENT else 4
        raise _unprocessable(
            f"invalid {field} {fmt(price)}. sub-penny increment does not fulfill minimum pricing "
            f"criteria: use at most {places} decimals for prices "
            f"{'>= $1' if places == 2 else 'under $1'}"
        )


def _activity_id(at: dt.datetime, rng: random.Random) -> str:
    local = at.astimezone(NEW_YORK)
    prefix = local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"
    return f"{prefix}::{uuid.UUID(int=rng.getrandbits(128), version=4)}"


class Broker:
    """Every account of the venue and the rules that move them. See the module docstring."""

    def __init__(
        self,
        config: SimConfig,
        *,
        clock: SimClock,
        calendar: TradingCalendar,
        market: Market,
        assets: dict[str, AssetSpec],
        sink: EventSink | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.calendar = calendar
        self.market = market
        self.assets = assets
        self.assets_by_id = {spec.id: spec for spec in assets.values()}
        self.sink = sink
        self.order_reject_rate = 0.0
        self._ids = random.Random(f"{config.seed}:ids")
        self._rejects = random.Random(f"{config.seed}:rejects")
        self._account_namespace = uuid.UUID(
            int=random.Random(f"{config.seed}:account").getrandbits(128)
        )
        specs = config.resolved_accounts()
        self._allowed: dict[str, AccountSpec] | None = (
            None if specs is None else {spec.key_id: spec for spec in specs}
        )
        self.accounts: dict[str, Account] = {}
        self._book: dict[str, dict[str, Order]] = {symbol: {} for symbol in assets}
        self._waiting: dict[str, Order] = {}
        self._processing_at: dt.datetime | None = None
        self._synced = clock.now()
        self.phase = calendar.phase(self._synced)
        self._sample_minute = -1

    # ------------------------------------------------------------------ ids, events, accounts

    def _stamp(self) -> dt.datetime:
        """Now, or the boundary being caught up with (so an auction fill at the open carries
        the open's time even when the clock has since moved on)."""
        if self._processing_at is not None:
            return self.clock.stamp_at(self._processing_at)
        return self.clock.stamp()

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _emit(self, order: Order, event: str, at: dt.datetime, **fill: str) -> None:
        account = order.account
        data: dict[str, Any] = {
            "event": event,
            "order": order_json(order, nested=True),
            "timestamp": ts(at),
        }
        data.update(fill)
        message = {"stream": "trade_updates", "data": data}
        account.event_count += 1
        if account.events.maxlen:
            account.events.append(message)
        if self.sink is not None:
            self.sink(account.key_id, message)

    def _account_id(self, key_id: str) -> str:
        return str(uuid.uuid5(self._account_namespace, key_id))

    def _account_number(self, key_id: str) -> str:
        digits = uuid.uuid5(self._account_namespace, "number:" + key_id).int % 10**10
        return "PA" + str(digits).zfill(10)

    def authenticate(self, key_id: str | None, secret_key: str | None) -> Account:
        """The account of this key pair, created on first use (or 401 with Alpaca's body)."""
        if not key_id or not secret_key:
            raise VenueError(401, CODE_UNAUTHORIZED, "unauthorized.")
        account = self.accounts.get(key_id)
        if account is not None:
            if account.secret_key != secret_key:
                raise VenueError(401, CODE_UNAUTHORIZED, "unauthorized.")
            return account
        cash = self.config.starting_cash
        account_type: str = self.config.account_type
        if self._allowed is not None:
            spec = self._allowed.get(key_id)
            if spec is None or spec.secret_key != secret_key:
                raise VenueError(401, CODE_UNAUTHORIZED, "unauthorized.")
            cash = spec.starting_cash if spec.starting_cash is not None else cash
            account_type = spec.account_type or account_type
        account = Account(
            key_id=key_id,
            secret_key=secret_key,
            account_id=self._account_id(key_id),
            number=self._account_number(key_id),
            account_type=account_type,
            starting_cash=cash,
            at=self._stamp(),
            event_log_size=self.config.event_log_size,
        )
        if not self.config.shorting_enabled:
            account.configuration["no_shorting"] = True
        self.accounts[key_id] = account
        return account

    # ------------------------------------------------------------------ time and matching

    def sync(self) -> None:
        """Bring the venue to the clock's now: boundaries, price moves, matching."""
        now = self.clock.now()
        if now <= self._synced:
            return
        for boundary in self.calendar.boundaries(self._synced, now):
            self.market.advance(boundary.at)
            self._processing_at = boundary.at
            try:
                self._on_boundary(boundary)
            finally:
                self._processing_at = None
        changed = self.market.advance(now)
        self._synced = now
        self.phase = self.calendar.phase(now)
        for symbol in changed:
            self._match_symbol(symbol)
        minute = int(now.timestamp()) // 60
        if minute != self._sample_minute:
            self._sample_minute = minute
            for account in self.accounts.values():
                account.equity_samples.append((minute * 60, self._figures(account)["equity"]))

    def tick(self) -> None:
        """Run matching over every symbol once (the background ticker calls ``sync``)."""
        self.sync()
        for symbol in self._book:
            self._match_symbol(symbol)

    def set_price(self, symbol: str, price: Decimal) -> Decimal:
        self.sync()
        if symbol not in self.assets:
            raise VenueError(404, CODE_NOT_FOUND, f"unknown symbol {symbol!r}")
        if price <= 0:
            raise _invalid("price must be > 0")
        pinned = self.market.set_price(symbol, price)
        self._match_symbol(symbol)
        return pinned

    def release_price(self, symbol: str) -> None:
        if symbol not in self.assets:
            raise VenueError(404, CODE_NOT_FOUND, f"unknown symbol {symbol!r}")
        self.market.release(symbol, self.clock.now())

    def _on_boundary(self, boundary: Boundary) -> None:
        self.phase = self.calendar.phase(boundary.at)
        kind = boundary.kind
        if kind == "pre_open":
            for order in list(self._waiting.values()):
                if order.extended_hours:
                    self._activate(order, self._stamp())
        elif kind == "open":
            for order in list(self._waiting.values()):
                self._activate(order, self._stamp())
            for symbol in self._book:
                self._match_symbol(symbol, auction="open")
            for order in self._all_book_orders():
                if not order.is_terminal and order.time_in_force == "opg":
                    self._finish(order, "canceled", self._stamp())
        elif kind == "close":
            for symbol in self._book:
                self._match_symbol(symbol, auction="close")
            for order in self._all_book_orders():
                if order.is_terminal:
                    continue
                if order.time_in_force == "cls" or (
                    order.time_in_force == "day" and not order.extended_hours
                ):
                    self._finish(order, "expired", self._stamp())
            self.market.mark_close()
            for account in self.accounts.values():
                figures = self._figures(account)
                account.last_equity = figures["equity"]
                account.last_maintenance_margin = figures["maintenance_margin"]
                account.equity_samples.append((int(boundary.at.timestamp()), figures["equity"]))
        elif kind == "post_close":
            for order in self._all_book_orders():
                if not order.is_terminal and order.time_in_force == "day":
                    self._finish(order, "expired", self._stamp())

    def _all_book_orders(self) -> list[Order]:
        return [order for orders in self._book.values() for order in orders.values()]

    def _tradeable(self, order: Order, auction: str | None) -> bool:
        if self.calendar.always_open:
            return True
        tif = order.time_in_force
        if tif == "opg":
            return auction == "open"
        if tif == "cls":
            return auction == "close"
        if self.phase == "regular":
            return True
        return self.phase in ("pre", "post") and order.extended_hours

    def _can_work_now(self, order: Order) -> bool:
        if self.calendar.always_open:
            return True
        if order.time_in_force in ("opg", "cls"):
            # Auction orders rest as new during the session; outside it they wait.
            return order.time_in_force == "cls" and self.phase == "regular"
        if self.phase == "regular":
            return True
        return self.phase in ("pre", "post") and order.extended_hours

    def _match_symbol(self, symbol: str, auction: str | None = None) -> None:
        book = self._book.get(symbol)
        if not book:
            return
        for order in list(book.values()):
            if order.id in book:
                self._match(order, auction)

    def _match(self, order: Order, auction: str | None = None) -> None:
        """Try to execute ``order`` against the current price (see the docs for the rules)."""
        if order.is_terminal or not self._tradeable(order, auction):
            return
        price = self.market.price(order.symbol)
        buy = order.is_buy
        if order.type in STOP_TYPES and not order.triggered:
            if order.type == "trailing_stop":
                self._trail(order, price)
            assert order.stop_price is not None
            hit = price >= order.stop_price if buy else price <= order.stop_price
            if not hit:
                return
            order.triggered = True
            if order.armed:
                self._fire_armed(order)
        if order.type in LIMIT_TYPES:
            assert order.limit_price is not None
            marketable = price <= order.limit_price if buy else price >= order.limit_price
            if not marketable:
                if order.time_in_force in ("ioc", "fok"):
                    self._finish(order, "canceled", self._stamp())
                return
        remaining = order.remaining
        if remaining is None:
            assert order.notional is not None
            target = (order.notional / price).quantize(_NINE_PLACES, rounding=ROUND_DOWN)
            if target <= 0:
                self._finish(order, "rejected", self._stamp())
                return
            order.target_qty = target
            remaining = target
        if remaining <= 0:
            return
        qty = remaining
        cap = self.config.liquidity_cap
        if cap is not None and qty > cap:
            if order.time_in_force == "fok":
                self._finish(order, "canceled", self._stamp())
                return
            qty = cap
        self._execute(order, qty, price)
        if order.time_in_force == "ioc" and not order.is_terminal:
            self._finish(order, "canceled", self._stamp())

    def _trail(self, order: Order, price: Decimal) -> None:
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

    def _execute(self, order: Order, qty: Decimal, price: Decimal) -> None:
        account = order.account
        at = self._stamp()
        signed = qty if order.is_buy else -qty
        position_qty = self._apply_position(account, order.asset, signed, price, at)
        account.cash -= signed * price
        if order.reserve_unit:
            release = min(order.reserved, (qty * order.reserve_unit).quantize(_TEN_PLACES))
            order.reserved -= release
            account.reserved -= release
        if order.hold_qty:
            released = min(order.hold_qty, qty)
            order.hold_qty -= released
            account.held[order.symbol] = account.held.get(order.symbol, _ZERO) - released
        order.filled_qty += qty
        order.filled_notional += qty * price
        assert order.target_qty is not None
        leaves = order.target_qty - order.filled_qty
        done = leaves <= 0
        order.status = "filled" if done else "partially_filled"
        order.updated_at = at
        kind = "fill" if done else "partial_fill"
        if done:
            order.filled_at = at
            self._unlist(order)
            self._release(order)
        self._record_activity(
            account,
            at,
            {
                "activity_type": "FILL",
                "transaction_time": ts(at),
                "type": kind,
                "price": fmt(price),
                "qty": fmt(qty),
                "side": order.side,
                "symbol": order.symbol,
                "leaves_qty": fmt(max(leaves, _ZERO)),
                "cum_qty": fmt(order.filled_qty),
                "order_id": order.id,
                "order_status": order.status,
            },
        )
        if not order.is_buy:
            self._charge_fees(order, qty, price, at)
        self._emit(
            order,
            kind,
            at,
            execution_id=self._new_id(),
            price=fmt(price),
            qty=fmt(qty),
            position_qty=fmt(position_qty),
        )
        peer = order.peer
        if peer is not None and not peer.is_terminal and not peer.triggered:
            # The other member of a one-cancels-other pair shrinks with every partial execution;
            # once nothing is left it is canceled with its last working qty, as Alpaca shows it.
            remaining = (peer.qty or _ZERO) - qty
            if remaining <= 0:
                self._finish(peer, "canceled", self._stamp(), cascade=False)
            else:
                peer.qty = remaining
                peer.target_qty = remaining
        if done:
            self._after_terminal(order)

    def _charge_fees(self, order: Order, qty: Decimal, price: Decimal, at: dt.datetime) -> None:
        notional = qty * price
        sec = notional * self.config.sec_fee_rate
        taf = min(qty * self.config.taf_per_share, self.config.taf_max)
        fee = (sec + taf).quantize(_CENT, rounding=ROUND_UP)
        if fee <= 0:
            return
        account = order.account
        account.cash -= fee
        account.fees_paid += fee
        self._record_activity(
            account,
            at,
            {
                "activity_type": "FEE",
                "activity_sub_type": "REG",
                "date": at.astimezone(NEW_YORK).date().isoformat(),
                "transaction_time": ts(at),
                "net_amount": fmt(-fee),
                "description": (
                    f"Regulatory fees (SEC {fmt(sec.quantize(_TEN_PLACES))}, FINRA TAF "
                    f"{fmt(taf)}) on the sale of {fmt(qty)} {order.symbol} at {fmt(price)}"
                ),
                "symbol": order.symbol,
                "qty": fmt(qty),
                "price": fmt(price),
                "order_id": order.id,
                "status": "executed",
                "currency": "USD",
            },
        )

    def _record_activity(self, account: Account, at: dt.datetime, body: dict[str, Any]) -> None:
        activity_id = _activity_id(at, self._ids)
        activity = {"id": activity_id, "account_id": account.id, **body}
        account.activity_index[activity_id] = len(account.activities)
        account.activities.append(activity)
        account.activity_times.append(at)

    def _apply_position(
        self, account: Account, asset: AssetSpec, signed: Decimal, price: Decimal, at: dt.datetime
    ) -> Decimal:
        symbol = asset.symbol
        position = account.positions.get(symbol)
        if position is None:
            position = account.positions[symbol] = Position(asset, at)
        old = position.qty
        new = old + signed
        if old == 0 or (old > 0) == (signed > 0):
            total = position.avg_entry_price * abs(old) + price * abs(signed)
            position.avg_entry_price = (total / abs(new)).quantize(_TEN_PLACES)
            if old == 0:
                position.opened_at = at
        else:
            closing = min(abs(signed), abs(old))
            direction = 1 if old > 0 else -1
            realized = (price - position.avg_entry_price) * closing * direction
            account.realized_pl[symbol] = account.realized_pl.get(symbol, _ZERO) + realized
            if abs(signed) > abs(old):
                position.avg_entry_price = price
                position.opened_at = at
        position.qty = new
        if new == 0:
            del account.positions[symbol]
        return new

    # ------------------------------------------------------------------ order state changes

    def _unlist(self, order: Order) -> None:
        self._book[order.symbol].pop(order.id, None)
        self._waiting.pop(order.id, None)
        order.account.open_orders.pop(order.id, None)

    def _release(self, order: Order) -> None:
        account = order.account
        if order.reserved:
            account.reserved -= order.reserved
            order.reserved = _ZERO
        if order.hold_qty:
            account.held[order.symbol] = account.held.get(order.symbol, _ZERO) - order.hold_qty
            order.hold_qty = _ZERO

    def _finish(
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
        if status == "canceled":
            order.canceled_at = at
        elif status == "expired":
            order.expired_at = at
        elif status == "rejected":
            order.failed_at = at
        elif status == "replaced":
            order.replaced_at = at
        order.armed = False
        self._unlist(order)
        self._release(order)
        self._emit(order, event or status, at)
        if cascade:
            self._after_terminal(order)

    def _after_terminal(self, order: Order) -> None:
        if order.status == "replaced":
            return
        if order.legs and order.order_class in ("bracket", "oto") and order.leg_role is None:
            if order.filled_qty > 0:
                self._activate_legs(order)
            else:
                for leg in order.legs:
                    if not leg.is_terminal:
                        self._finish(leg, "canceled", self._stamp(), cascade=False)
        peer = order.peer
        if peer is not None and not peer.is_terminal:
            self._finish(peer, "canceled", self._stamp(), cascade=False)

    def _activate(self, order: Order, at: dt.datetime) -> None:
        """A waiting (accepted) order starts working."""
        self._waiting.pop(order.id, None)
        if order.is_terminal or self._reject_at_activation(order, at):
            return
        order.status = "new"
        order.updated_at = at
        self._book[order.symbol][order.id] = order
        for leg in order.legs:
            if leg.armed:
                self._book[leg.symbol][leg.id] = leg
        self._emit(order, "new", at)

    def _reject_at_activation(self, order: Order, at: dt.datetime) -> bool:
        """A queued opening order whose cost at today's price exceeds the buying power left is
        rejected when it would start working (as Alpaca does at the open)."""
        if order.type != "market" or order.notional is not None or not order.reserve_unit:
            return False
        assert order.qty is not None
        price = self.market.price(order.symbol)
        needed = order.qty * price - order.reserved
        if needed <= 0:
            return False
        available = self._available_buying_power(order.account, order.asset)
        if needed <= available:
            return False
        self._finish(order, "rejected", at)
        return True

    def _activate_legs(self, entry: Order) -> None:
        filled = entry.filled_qty
        live = [leg for leg in entry.legs if not leg.is_terminal]
        for leg in live:
            leg.qty = filled
            leg.target_qty = filled
            leg.position_intent = "sell_to_close" if leg.side == "sell" else "buy_to_close"
        for leg in live:
            at = self._stamp()
            leg.updated_at = at
            if entry.order_class == "bracket" and leg.leg_role == "stop_loss":
                # The stop of a bracket is watched by the venue; it stays held until triggered.
                leg.armed = True
            else:
                leg.status = "new"
                self._take_hold(leg)
                self._emit(leg, "new", at)
            self._book[leg.symbol][leg.id] = leg
        for leg in live:
            self._match(leg)

    def _fire_armed(self, order: Order) -> None:
        """A held stop-loss whose stop was hit: its take-profit peer is canceled, it goes live."""
        order.armed = False
        peer = order.peer
        if peer is not None and not peer.is_terminal:
            self._finish(peer, "canceled", self._stamp(), cascade=False)
        at = self._stamp()
        order.status = "new"
        order.updated_at = at
        self._take_hold(order)
        self._emit(order, "new", at)

    def _take_hold(self, order: Order) -> None:
        remaining = order.remaining or _ZERO
        if remaining <= 0 or order.hold_qty:
            return
        order.hold_qty = remaining
        order.account.held[order.symbol] = order.account.held.get(order.symbol, _ZERO) + remaining

    # ------------------------------------------------------------------ account figures

    def _figures(self, account: Account) -> dict[str, Decimal]:
        long_value = _ZERO
        short_value = _ZERO
        margin_long = _ZERO
        margin_short = _ZERO
        for symbol, position in account.positions.items():
            value = position.qty * self.market.price(symbol)
            rate_long = _HALF if position.asset.marginable else Decimal(1)
            if value >= 0:
                long_value += value
                margin_long += value * rate_long
            else:
                short_value += value
                margin_short += -value * rate_long
        equity = account.cash + long_value + short_value
        maintenance = (
            long_value * Decimal("0.25") - short_value * Decimal("0.30")
            if account.account_type == "margin"
            else long_value
        )
        initial = margin_long + margin_short if account.account_type == "margin" else long_value
        max_multiplier = Decimal(str(account.configuration.get("max_margin_multiplier") or "1"))
        if account.account_type == "cash" or max_multiplier <= 1:
            multiplier = Decimal(1)
            regt = max(_ZERO, account.cash - account.reserved)
            daytrading = _ZERO
            buying_power = regt
            non_marginable = regt
        else:
            multiplier = Decimal(4) if equity >= _PDT_EQUITY and max_multiplier >= 4 else Decimal(2)
            excess = max(_ZERO, equity - initial)
            regt = max(_ZERO, excess * 2 - account.reserved)
            daytrading = (
                max(_ZERO, (equity - maintenance) * 4 - account.reserved)
                if multiplier == 4
                else _ZERO
            )
            buying_power = daytrading if multiplier == 4 else regt
            non_marginable = max(_ZERO, excess - account.reserved)
        return {
            "cash": account.cash,
            "long_market_value": long_value,
            "short_market_value": short_value,
            "equity": equity,
            "initial_margin": initial,
            "maintenance_margin": maintenance,
            "multiplier": multiplier,
            "regt_buying_power": regt,
            "daytrading_buying_power": daytrading,
            "buying_power": buying_power,
            "non_marginable_buying_power": non_marginable,
        }

    def _available_buying_power(self, account: Account, asset: AssetSpec) -> Decimal:
        figures = self._figures(account)
        if not asset.marginable:
            return min(figures["buying_power"], figures["non_marginable_buying_power"])
        return figures["buying_power"]

    def account_json(self, account: Account) -> dict[str, Any]:
        self.sync()
        figures = self._figures(account)
        config = account.configuration
        return {
            "id": account.id,
            "account_number": account.number,
            "status": "ACTIVE",
            "crypto_status": "INACTIVE",
            "currency": "USD",
            "buying_power": money(figures["buying_power"]),
            "regt_buying_power": money(figures["regt_buying_power"]),
            "daytrading_buying_power": money(figures["daytrading_buying_power"]),
            "effective_buying_power": money(figures["buying_power"]),
            "non_marginable_buying_power": money(figures["non_marginable_buying_power"]),
            "options_buying_power": money(figures["non_marginable_buying_power"]),
            "bod_dtbp": "0",
            "cash": fmt(account.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "pending_reg_taf_fees": "0",
            "portfolio_value": fmt(figures["equity"]),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": ts(account.created_at),
            "trade_suspended_by_user": bool(config["suspend_trade"]),
            "multiplier": fmt(figures["multiplier"]),
            "shorting_enabled": account.account_type == "margin" and not config["no_shorting"],
            "equity": fmt(figures["equity"]),
            "last_equity": fmt(account.last_equity),
            "long_market_value": fmt(figures["long_market_value"]),
            "short_market_value": fmt(figures["short_market_value"]),
            "position_market_value": fmt(
                figures["long_market_value"] - figures["short_market_value"]
            ),
            "initial_margin": money(figures["initial_margin"]),
            "maintenance_margin": money(figures["maintenance_margin"]),
            "last_maintenance_margin": money(account.last_maintenance_margin),
            "sma": "0",
            "daytrade_count": 0,
            "balance_asof": self.clock.now().astimezone(NEW_YORK).date().isoformat(),
            "intraday_adjustments": "0",
            "options_approved_level": 0,
            "options_trading_level": 0,
        }

    # ------------------------------------------------------------------ order requests

    def _resolve_asset(self, symbol_or_id: str) -> AssetSpec | None:
        spec = self.assets.get(symbol_or_id.upper())
        if spec is None:
            spec = self.assets_by_id.get(symbol_or_id.lower())
        return spec

    def _parse_order(self, account: Account, body: dict[str, Any]) -> _Intent:
        symbol = body.get("symbol")
        if not isinstance(symbol, str) or not symbol.strip():
            raise _invalid('symbol is required (e.g. "AAPL")')
        asset = self._resolve_asset(symbol.strip())
        if asset is None:
            raise _unprocessable(
                f'asset "{symbol}" not found; GET /v2/assets lists the symbols this venue trades'
            )
        if not asset.tradable:
            raise _unprocessable(f'asset "{asset.symbol}" is not tradable')
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise _invalid(f'side must be "buy" or "sell", got {side!r}')
        order_type = body.get("type", body.get("order_type"))
        if order_type not in ORDER_TYPES:
            raise _invalid(f"type must be one of {', '.join(ORDER_TYPES)}, got {order_type!r}")
        tif = body.get("time_in_force")
        if tif not in TIME_IN_FORCE:
            raise _invalid(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}, got {tif!r}")
        order_class = body.get("order_class") or ""
        if order_class not in ORDER_CLASSES:
            raise _invalid(
                f"order_class must be one of simple, bracket, oco, oto, got {order_class!r}"
            )
        if order_class == "mleg":
            raise _unprocessable("mleg (options) orders are not supported by this simulator")

        def decimal_field(name: str, source: dict[str, Any] = body) -> Decimal | None:
            value = source.get(name)
            return None if value is None or value == "" else parse_decimal(value, name)

        qty = decimal_field("qty")
        notional = decimal_field("notional")
        if qty is None and notional is None:
            raise _invalid("qty or notional is required")
        if qty is not None and notional is not None:
            raise _invalid("only one of qty or notional may be given")
        if qty is not None:
            if qty <= 0:
                raise _invalid(f"qty must be > 0, got {fmt(qty)}")
            if qty != qty.quantize(_NINE_PLACES):
                raise _invalid("qty must have at most 9 decimal places")
        if notional is not None:
            if notional <= 0:
                raise _invalid(f"notional must be > 0, got {fmt(notional)}")
            if notional != notional.quantize(_CENT):
                raise _invalid("notional must have at most 2 decimal places")
        fractional = notional is not None or (qty is not None and qty % 1 != 0)
        if fractional:
            if not asset.fractionable:
                raise _unprocessable(
                    f'asset "{asset.symbol}" is not fractionable: order whole shares with qty'
                )
            if not account.configuration.get("fractional_trading", True):
                raise _forbidden("fractional trading is disabled in this account's configuration")
            if order_type not in ("market", "limit") or tif != "day":
                raise _unprocessable(
                    "fractional and notional orders must be market or limit orders with "
                    "time_in_force day"
                )
            if notional is not None and order_type != "market":
                raise _unprocessable("notional orders must be market orders")
        limit_price = decimal_field("limit_price")
        stop_price = decimal_field("stop_price")
        trail_price = decimal_field("trail_price")
        trail_percent = decimal_field("trail_percent")
        if order_type in LIMIT_TYPES and limit_price is None and order_class != "oco":
            raise _invalid(f"limit_price is required for {order_type} orders")
        if order_type in ("market", "stop", "trailing_stop") and limit_price is not None:
            raise _unprocessable(f"limit_price is not allowed for {order_type} orders")
        if order_type in ("stop", "stop_limit") and stop_price is None:
            raise _invalid(f"stop_price is required for {order_type} orders")
        if order_type in ("market", "limit") and stop_price is not None:
            raise _unprocessable(f"stop_price is not allowed for {order_type} orders")
        if order_type == "trailing_stop":
            if (trail_price is None) == (trail_percent is None):
                raise _invalid(
                    "trailing_stop orders need exactly one of trail_price or trail_percent"
                )
            if trail_price is not None:
                _check_sub_penny("trail_price", trail_price)
            if trail_percent is not None and not 0 < trail_percent < 100:
                raise _invalid("trail_percent must be between 0 and 100")
            if stop_price is not None:
                raise _unprocessable("stop_price is derived for trailing_stop orders; give trail")
            if tif not in ("day", "gtc"):
                raise _unprocessable("trailing_stop orders must be day or gtc")
        elif trail_price is not None or trail_percent is not None:
            raise _unprocessable("trail_price and trail_percent are only for trailing_stop orders")
        for name, value in (("limit_price", limit_price), ("stop_price", stop_price)):
            if value is not None:
                _check_sub_penny(name, value)
        extended = body.get("extended_hours")
        extended_hours = False if extended is None else parse_bool(extended, "extended_hours")
        if extended_hours and (
            order_type != "limit" or tif != "day" or order_class not in ("", "simple")
        ):
            raise _unprocessable(
                "extended hours orders must be simple limit orders with time_in_force day"
            )
        client_order_id = body.get("client_order_id")
        if client_order_id is not None:
            if not isinstance(client_order_id, str) or not client_order_id:
                raise _invalid("client_order_id must be a non-empty string")
            if len(client_order_id) > 128:
                raise _invalid("client_order_id must be at most 128 characters")
            if client_order_id in account.by_client_id:
                raise _invalid("client_order_id must be unique")
        take_profit = body.get("take_profit")
        stop_loss = body.get("stop_loss")
        for name, value in (("take_profit", take_profit), ("stop_loss", stop_loss)):
            if value is not None and not isinstance(value, dict):
                raise _invalid(f"{name} must be an object")
        tp_limit = decimal_field("limit_price", take_profit) if take_profit else None
        sl_stop = decimal_field("stop_price", stop_loss) if stop_loss else None
        sl_limit = decimal_field("limit_price", stop_loss) if stop_loss else None
        for name, value in (
            ("take_profit.limit_price", tp_limit),
            ("stop_loss.stop_price", sl_stop),
            ("stop_loss.limit_price", sl_limit),
        ):
            if value is not None:
                _check_sub_penny(name, value)
        if order_class in ("", "simple") and (take_profit or stop_loss):
            raise _unprocessable("take_profit and stop_loss need order_class bracket, oco or oto")
        intent = body.get("position_intent")
        if intent is not None and intent not in (
            "buy_to_open",
            "buy_to_close",
            "sell_to_open",
            "sell_to_close",
        ):
            raise _invalid(
                f"position_intent {intent!r} is not one of buy_to_open, "
                "buy_to_close, sell_to_open, sell_to_close"
            )
        return _Intent(
            asset=asset,
            side=side,
            type=order_type,
            time_in_force=tif,
            order_class=order_class,
            qty=qty,
            notional=notional,
            limit_price=limit_price,
            stop_price=stop_price,
            trail_price=trail_price,
            trail_percent=trail_percent,
            extended_hours=extended_hours,
            client_order_id=client_order_id,
            take_profit=tp_limit,
            stop_loss_stop=sl_stop,
            stop_loss_limit=sl_limit,
            position_intent=intent,
        )

    def _check_class(self, account: Account, intent: _Intent) -> None:
        order_class = intent.order_class
        if order_class in ("", "simple"):
            return
        position = account.positions.get(intent.asset.symbol)
        held_qty = position.qty if position is not None else _ZERO
        closing = (intent.side == "sell" and held_qty > 0) or (
            intent.side == "buy" and held_qty < 0
        )
        if intent.qty is None:
            raise _unprocessable(f"{order_class} orders need qty (notional is not allowed)")
        if intent.time_in_force not in ("day", "gtc"):
            raise _unprocessable(f"{order_class} orders must be day or gtc")
        buy = intent.side == "buy"
        if order_class == "oco":
            if intent.type != "limit":
                raise _unprocessable("oco orders must be limit orders (the take-profit)")
            if intent.take_profit is None or intent.stop_loss_stop is None:
                raise _invalid(
                    "oco orders require take_profit.limit_price and stop_loss.stop_price"
                )
            if intent.limit_price is None:
                intent.limit_price = intent.take_profit
            if not closing:
                raise _unprocessable("oco orders must be exit orders: there is no position to exit")
            if (
                (intent.take_profit <= intent.stop_loss_stop)
                if not buy
                else (intent.take_profit >= intent.stop_loss_stop)
            ):
                raise _unprocessable(
                    "take_profit.limit_price must be "
                    f"{'above' if not buy else 'below'} stop_loss.stop_price"
                )
            return
        if intent.type not in ("market", "limit"):
            raise _unprocessable(f"{order_class} orders must be market or limit orders")
        if closing:
            raise _unprocessable(f"{order_class} orders must be entry orders")
        if order_class == "bracket":
            if intent.take_profit is None or intent.stop_loss_stop is None:
                raise _invalid(
                    "bracket orders require take_profit.limit_price and stop_loss.stop_price"
                )
        elif (intent.take_profit is None) == (intent.stop_loss_stop is None):
            raise _invalid("oto orders require exactly one of take_profit or stop_loss")
        base = intent.limit_price or self.market.price(intent.asset.symbol)
        tick = price_tick(base)
        if intent.take_profit is not None:
            if buy and intent.take_profit < base + tick:
                raise _unprocessable(
                    f"take_profit.limit_price must be >= base_price + {fmt(tick)} "
                    f"(base_price {fmt(base)})"
                )
            if not buy and intent.take_profit > base - tick:
                raise _unprocessable(
                    f"take_profit.limit_price must be <= base_price - {fmt(tick)} "
                    f"(base_price {fmt(base)})"
                )
        if intent.stop_loss_stop is not None:
            if buy and intent.stop_loss_stop > base - tick:
                raise _unprocessable(
                    f"stop_loss.stop_price must be <= base_price - {fmt(tick)} "
                    f"(base_price {fmt(base)})"
                )
            if not buy and intent.stop_loss_stop < base + tick:
                raise _unprocessable(
                    f"stop_loss.stop_price must be >= base_price + {fmt(tick)} "
                    f"(base_price {fmt(base)})"
                )

    def _reference_price(
        self, intent_type: str, limit: Decimal | None, stop: Decimal | None, symbol: str
    ) -> Decimal:
        if intent_type in LIMIT_TYPES and limit is not None:
            return limit
        if intent_type == "stop" and stop is not None:
            return max(stop, self.market.price(symbol))
        return self.market.price(symbol)

    def _check_exposure(
        self,
        account: Account,
        intent: _Intent,
        *,
        credit: Decimal = _ZERO,
        hold_credit: Decimal = _ZERO,
    ) -> tuple[bool, Decimal, Decimal]:
        """Position and buying-power rules. Returns (closing, reserve_unit, reserve_total);
        ``credit``/``hold_credit`` are what an order being replaced frees."""
        symbol = intent.asset.symbol
        config = account.configuration
        if config.get("suspend_trade"):
            raise _forbidden(
                "trading is suspended on this account (configuration suspend_trade); PATCH "
                "/v2/account/configurations to resume"
            )
        position = account.positions.get(symbol)
        position_qty = position.qty if position is not None else _ZERO
        held = account.held.get(symbol, _ZERO) - hold_credit
        buy = intent.side == "buy"
        closing = (not buy and position_qty > 0) or (buy and position_qty < 0)
        if closing:
            assert intent.qty is not None or intent.notional is not None
            qty = intent.qty
            if qty is None:
                assert intent.notional is not None
                qty = (intent.notional / self.market.price(symbol)).quantize(_NINE_PLACES)
            available = abs(position_qty) - held
            if qty > available:
                raise _forbidden(
                    f"insufficient qty available for order (requested: {fmt(qty)}, available: "
                    f"{fmt(available)})",
                    available=fmt(available),
                    existing_qty=fmt(abs(position_qty)),
                    held_for_orders=fmt(held),
                    symbol=symbol,
                )
            return True, _ZERO, _ZERO
        if not buy:
            if account.account_type != "margin" or config.get("no_shorting"):
                raise _forbidden("account is not allowed to short")
            if not intent.asset.shortable or not intent.asset.easy_to_borrow:
                raise _forbidden(f"asset {symbol} is not shortable")
            if intent.qty is None or intent.qty % 1:
                raise _forbidden("fractional orders cannot be sold short: use whole shares")
        if intent.notional is not None:
            unit = _ZERO
            total = intent.notional
        else:
            assert intent.qty is not None
            unit = self._reference_price(intent.type, intent.limit_price, intent.stop_price, symbol)
            total = intent.qty * unit
        available_bp = self._available_buying_power(account, intent.asset) + credit
        if total > available_bp:
            raise _forbidden(
                "insufficient buying power",
                buying_power=money(max(available_bp, _ZERO)),
                cost_basis=fmt(total.quantize(_CENT, rounding=ROUND_UP)),
            )
        return False, unit, total

    def _check_wash_trade(self, account: Account, intent: _Intent) -> None:
        if not self.config.wash_trade_check or intent.type not in ("market", "limit"):
            return
        buy = intent.side == "buy"
        for other in account.open_orders.values():
            if (
                other.symbol != intent.asset.symbol
                or other.side == intent.side
                or other.status not in ("new", "partially_filled", "accepted")
                or other.leg_role is not None
                or other.order_class == "oco"
                or other.type not in ("market", "limit")
            ):
                continue
            if other.type == "market" or intent.type == "market":
                crosses = True
            else:
                assert other.limit_price is not None
                assert intent.limit_price is not None
                crosses = (
                    other.limit_price <= intent.limit_price
                    if buy
                    else other.limit_price >= intent.limit_price
                )
            if crosses:
                raise _unprocessable(
                    f"potential wash trade detected: open {other.side} order {other.id} on "
                    f"{other.symbol} could fill against this one. use complex orders (bracket/"
                    "oco) or cancel the other order first",
                    existing_order_id=other.id,
                    reject_reason="potential wash trade detected. use complex orders",
                )

    def _register(self, account: Account, order: Order) -> None:
        account.orders[order.id] = order
        account.orders_seq.append(order)
        account.order_times.append(order.submitted_at)
        account.by_client_id[order.client_order_id] = order
        account.open_orders[order.id] = order

    def _make_order(
        self,
        account: Account,
        intent: _Intent,
        *,
        side: str | None = None,
        order_type: str | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        client_order_id: str | None = None,
        position_intent: str,
    ) -> Order:
        return Order(
            id=self._new_id(),
            client_order_id=client_order_id or self._new_id(),
            account=account,
            asset=intent.asset,
            side=side or intent.side,
            type=order_type or intent.type,
            time_in_force=intent.time_in_force,
            order_class=intent.order_class,
            qty=intent.qty,
            notional=intent.notional,
            limit_price=limit_price,
            stop_price=stop_price,
            trail_price=intent.trail_price if order_type is None else None,
            trail_percent=intent.trail_percent if order_type is None else None,
            extended_hours=intent.extended_hours,
            position_intent=position_intent,
            at=self._stamp(),
        )

    def submit_order(self, account: Account, body: Any) -> dict[str, Any]:
        """POST /v2/orders: validate, accept, answer the accepted snapshot, then match."""
        self.sync()
        if not isinstance(body, dict):
            raise VenueError(400, CODE_BAD_REQUEST, "request body must be a JSON object")
        intent = self._parse_order(account, body)
        self._check_class(account, intent)
        self._check_wash_trade(account, intent)
        closing, unit, total = self._check_exposure(account, intent)
        buy = intent.side == "buy"
        position_intent = intent.position_intent or (
            ("buy_to_close" if buy else "sell_to_close")
            if closing
            else ("buy_to_open" if buy else "sell_to_open")
        )
        order = self._make_order(
            account,
            intent,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            client_order_id=intent.client_order_id,
            position_intent=position_intent,
        )
        self._register(account, order)
        if order.type == "trailing_stop":
            self._trail(order, self.market.price(order.symbol))
        exit_side = "sell" if buy else "buy"
        exit_intent = "sell_to_close" if buy else "buy_to_close"
        if intent.order_class in ("bracket", "oto", "oco"):
            legs: list[Order] = []
            if intent.take_profit is not None and intent.order_class != "oco":
                take_profit = self._make_order(
                    account,
                    intent,
                    side=exit_side,
                    order_type="limit",
                    limit_price=intent.take_profit,
                    position_intent=exit_intent,
                )
                take_profit.leg_role = "take_profit"
                legs.append(take_profit)
            if intent.stop_loss_stop is not None:
                stop_loss = self._make_order(
                    account,
                    intent,
                    side=exit_side if intent.order_class != "oco" else intent.side,
                    order_type="stop_limit" if intent.stop_loss_limit is not None else "stop",
                    limit_price=intent.stop_loss_limit,
                    stop_price=intent.stop_loss_stop,
                    position_intent=exit_intent if intent.order_class != "oco" else position_intent,
                )
                stop_loss.leg_role = "stop_loss"
                legs.append(stop_loss)
            for leg in legs:
                leg.parent = order
                leg.status = "held"
                leg.extended_hours = False
                self._register(account, leg)
            order.legs = legs
            if intent.order_class == "bracket":
                legs[0].peer, legs[1].peer = legs[1], legs[0]
            elif intent.order_class == "oco":
                order.peer, legs[0].peer = legs[0], order
        if closing:
            self._take_hold(order)
        else:
            order.reserve_unit = unit
            order.reserved = total
            account.reserved += total
        if self.order_reject_rate and self._rejects.random() < self.order_reject_rate:
            self._emit(order, "pending_new", order.submitted_at)
            snapshot = order_json(order, nested=True)
            self._finish(order, "rejected", self._stamp())
            return snapshot
        if self._can_work_now(order):
            self._emit(order, "pending_new", order.submitted_at)
            at = self._stamp()
            order.status = "new"
            order.updated_at = at
            self._book[order.symbol][order.id] = order
            if intent.order_class == "oco":
                order.legs[0].armed = True
                self._book[order.symbol][order.legs[0].id] = order.legs[0]
            self._emit(order, "new", at)
        else:
            order.status = "accepted"
            self._waiting[order.id] = order
            if intent.order_class == "oco":
                order.legs[0].armed = True
            self._emit(order, "accepted", order.submitted_at)
        snapshot = order_json(order, nested=True)
        if order.status == "new":
            self._match(order)
            if intent.order_class == "oco" and not order.legs[0].is_terminal:
                self._match(order.legs[0])
        return snapshot

    # ------------------------------------------------------------------ lookups

    def get_order(self, account: Account, order_id: str) -> Order:
        self.sync()
        order = account.orders.get(order_id.lower())
        if order is None:
            raise _order_not_found()
        return order

    def order_by_client_id(self, account: Account, client_order_id: str | None) -> Order:
        self.sync()
        if not client_order_id:
            raise _invalid(
                "client_order_id is required (GET /v2/orders:by_client_order_id?"
                "client_order_id=...)"
            )
        order = account.by_client_id.get(client_order_id)
        if order is None:
            raise _order_not_found()
        return order

    @staticmethod
    def _top_level(order: Order) -> bool:
        parent = order.parent
        return parent is None or order not in parent.legs

    @staticmethod
    def _root(order: Order) -> Order:
        while order.parent is not None and order in order.parent.legs:
            order = order.parent
        return order

    @staticmethod
    def _group_open(order: Order) -> bool:
        if not order.is_terminal and order.status != "held":
            return True
        return any(not leg.is_terminal and leg.status != "held" for leg in order.legs)

    def list_orders(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /v2/orders with Alpaca's filters and paging (see docs/simulator.md)."""
        self.sync()
        status = params.get("status") or "open"
        if status not in ("open", "closed", "all"):
            raise _unprocessable(f"status must be open, closed or all, got {status!r}")
        limit = parse_int(params.get("limit"), "limit", default=50)
        if not 1 <= limit <= _MAX_ORDERS_PAGE:
            raise _unprocessable(
                f"limit must be between 1 and {_MAX_ORDERS_PAGE}, got {limit}; page with after/"
                "until for more"
            )
        direction = params.get("direction") or "desc"
        if direction not in ("asc", "desc"):
            raise _unprocessable(f"direction must be asc or desc, got {direction!r}")
        after = parse_time(params["after"], "after") if params.get("after") else None
        until = parse_time(params["until"], "until") if params.get("until") else None
        nested = parse_bool(params.get("nested") or "false", "nested")
        symbols = (
            {s.strip().upper() for s in params["symbols"].split(",") if s.strip()}
            if params.get("symbols")
            else None
        )
        side = params.get("side") or None
        if side is not None and side not in ("buy", "sell"):
            raise _unprocessable(f"side must be buy or sell, got {side!r}")
        times = account.order_times
        low = bisect.bisect_right(times, after) if after is not None else 0
        high = bisect.bisect_left(times, until) if until is not None else len(times)
        indices: Iterable[int] = (
            range(low, high) if direction == "asc" else range(high - 1, low - 1, -1)
        )
        if status == "open":
            pool: dict[str, Order] = {}
            for open_order in account.open_orders.values():
                top = self._root(open_order) if nested else open_order
                if (after is None or top.submitted_at > after) and (
                    until is None or top.submitted_at < until
                ):
                    pool[top.id] = top
            candidates: Iterator[Order] = iter(
                sorted(pool.values(), key=lambda o: o.submitted_at, reverse=direction == "desc")
            )
        else:
            seq = account.orders_seq
            candidates = (seq[i] for i in indices)
        out: list[dict[str, Any]] = []
        for order in candidates:
            if symbols is not None and order.symbol not in symbols:
                continue
            if side is not None and order.side != side:
                continue
            if nested:
                if not self._top_level(order):
                    continue
                group_open = self._group_open(order)
                if (status == "open" and not group_open) or (status == "closed" and group_open):
                    continue
            else:
                if status == "open" and (order.is_terminal or order.status == "held"):
                    continue
                if status == "closed" and not order.is_terminal:
                    continue
            out.append(order_json(order, nested=nested))
            if len(out) >= limit:
                break
        return out

    # ------------------------------------------------------------------ replace and cancel

    def replace_order(self, account: Account, order_id: str, body: Any) -> dict[str, Any]:
        """PATCH /v2/orders/{id}: a new order replaces the old one (see docs/simulator.md)."""
        self.sync()
        if not isinstance(body, dict):
            raise VenueError(400, CODE_BAD_REQUEST, "request body must be a JSON object")
        old = account.orders.get(order_id.lower())
        if old is None:
            raise _order_not_found()
        if old.status == "held" and not old.armed:
            at = self._stamp()
            self._emit(old, "order_replace_rejected", at)
            raise _unprocessable(
                "this leg is held until its entry order fills and cannot be replaced yet"
            )
        if old.is_terminal or old.status in NOT_REPLACEABLE:
            raise _unprocessable(
                f'order is not replaceable: its status is "{old.status}" (only new, '
                "partially_filled or held stop-loss orders can be replaced)"
            )
        if old.type == "market":
            raise _unprocessable("market orders cannot be replaced")
        known = {"qty", "time_in_force", "limit_price", "stop_price", "trail", "client_order_id"}
        if not any(body.get(name) is not None for name in known):
            raise _invalid(
                "nothing to replace: give at least one of qty, time_in_force, limit_price, "
                "stop_price, trail or client_order_id"
            )

        def decimal_field(name: str) -> Decimal | None:
            value = body.get(name)
            return None if value is None or value == "" else parse_decimal(value, name)

        qty = decimal_field("qty")
        limit_price = decimal_field("limit_price")
        stop_price = decimal_field("stop_price")
        trail = decimal_field("trail")
        tif = body.get("time_in_force") or old.time_in_force
        if tif not in TIME_IN_FORCE:
            raise _invalid(f"time_in_force must be one of {', '.join(TIME_IN_FORCE)}")
        if qty is not None:
            if qty <= 0 or qty != qty.quantize(_NINE_PLACES):
                raise _invalid("qty must be > 0 with at most 9 decimal places")
            if qty % 1 and not old.asset.fractionable:
                raise _unprocessable(f'asset "{old.symbol}" is not fractionable')
        if limit_price is not None:
            if old.type not in LIMIT_TYPES:
                raise _unprocessable(f"limit_price cannot be set on a {old.type} order")
            _check_sub_penny("limit_price", limit_price)
        if stop_price is not None:
            if old.type not in ("stop", "stop_limit"):
                raise _unprocessable(f"stop_price cannot be set on a {old.type} order")
            _check_sub_penny("stop_price", stop_price)
        if trail is not None:
            if old.type != "trailing_stop":
                raise _unprocessable("trail can only be set on a trailing_stop order")
            if trail <= 0:
                raise _invalid("trail must be > 0")
        client_order_id = body.get("client_order_id")
        if client_order_id is not None:
            if not isinstance(client_order_id, str) or not 0 < len(client_order_id) <= 128:
                raise _invalid("client_order_id must be a string of 1 to 128 characters")
            if client_order_id in account.by_client_id:
                raise _invalid("client_order_id must be unique")
        new_qty = qty if qty is not None else (old.remaining or old.qty)
        intent = _Intent(
            asset=old.asset,
            side=old.side,
            type=old.type,
            time_in_force=tif,
            order_class=old.order_class,
            qty=new_qty,
            notional=None,
            limit_price=limit_price if limit_price is not None else old.limit_price,
            stop_price=stop_price if stop_price is not None else old.stop_price,
            trail_price=old.trail_price,
            trail_percent=old.trail_percent,
            extended_hours=old.extended_hours,
            client_order_id=client_order_id,
            take_profit=None,
            stop_loss_stop=None,
            stop_loss_limit=None,
            position_intent=old.position_intent,
        )
        if trail is not None:
            if old.trail_price is not None:
                _check_sub_penny("trail", trail)
                intent.trail_price = trail
            else:
                if not 0 < trail < 100:
                    raise _invalid("trail (a percent for this order) must be between 0 and 100")
                intent.trail_percent = trail
        closing, unit, total = (False, _ZERO, _ZERO)
        if old.leg_role is None or old.status in WORKING:
            closing, unit, total = self._check_exposure(
                account, intent, credit=old.reserved, hold_credit=old.hold_qty
            )
        at = self._stamp()
        old.status = "pending_replace"
        old.updated_at = at
        self._emit(old, "pending_replace", at)
        new = Order(
            id=self._new_id(),
            client_order_id=client_order_id or self._new_id(),
            account=account,
            asset=old.asset,
            side=old.side,
            type=old.type,
            time_in_force=tif,
            order_class=old.order_class,
            qty=new_qty,
            notional=None,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            trail_price=intent.trail_price,
            trail_percent=intent.trail_percent,
            extended_hours=old.extended_hours,
            position_intent=old.position_intent,
            at=self._stamp(),
        )
        new.replaces = old.id
        new.leg_role = old.leg_role
        new.hwm = old.hwm
        new.triggered = old.triggered
        was_armed = old.armed
        parent = old.parent
        if parent is not None:
            new.parent = parent
            parent.legs = [new if leg is old else leg for leg in parent.legs]
        new.legs = old.legs
        old.legs = []
        for leg in new.legs:
            leg.parent = new
        peer = old.peer
        if peer is not None:
            new.peer = peer
            peer.peer = new
        old.replaced_by = new.id
        old.peer = None
        self._finish(old, "replaced", self._stamp())
        self._register(account, new)
        if was_armed:
            new.status = "held"
            new.armed = True
        else:
            new.status = "new"
            if closing or old.leg_role is not None:
                self._take_hold(new)
            else:
                new.reserve_unit = unit
                new.reserved = total
                account.reserved += total
        if new.type == "trailing_stop":
            self._trail(new, self.market.price(new.symbol))
        self._book[new.symbol][new.id] = new
        if not was_armed:
            self._emit(new, "new", new.submitted_at)
        snapshot = order_json(new, nested=True)
        self._match(new)
        return snapshot

    def _cancel(self, order: Order) -> dict[str, Any]:
        at = self._stamp()
        order.status = "pending_cancel"
        order.updated_at = at
        self._emit(order, "pending_cancel", at)
        snapshot = order_json(order, nested=False)
        self._finish(order, "canceled", self._stamp())
        return snapshot

    def cancel_order(self, account: Account, order_id: str) -> None:
        """DELETE /v2/orders/{id}: pending_cancel, then canceled (legs and peers follow)."""
        self.sync()
        order = account.orders.get(order_id.lower())
        if order is None:
            raise _order_not_found()
        if order.is_terminal:
            raise _unprocessable(f'order is already in "{order.status}" state')
        if order.status == "held" and not order.armed:
            self._emit(order, "order_cancel_rejected", self._stamp())
            parent = order.parent.id if order.parent is not None else "?"
            raise _unprocessable(
                f"this leg is held until its entry order fills; cancel the entry order {parent} "
                "instead"
            )
        self._cancel(order)

    def cancel_all(self, account: Account) -> list[dict[str, Any]]:
        """DELETE /v2/orders: one {id, status, body} entry per order canceled (HTTP 207)."""
        self.sync()
        results: list[dict[str, Any]] = []
        for order in list(account.open_orders.values()):
            if order.is_terminal or (order.status == "held" and not order.armed):
                continue
            results.append({"id": order.id, "status": 200, "body": self._cancel(order)})
        return results

    # ------------------------------------------------------------------ positions

    def _position(self, account: Account, symbol_or_id: str) -> Position:
        asset = self._resolve_asset(symbol_or_id)
        position = account.positions.get(asset.symbol) if asset is not None else None
        if position is None:
            raise VenueError(404, CODE_NOT_FOUND, "position does not exist")
        return position

    def position_json(self, account: Account, position: Position) -> dict[str, Any]:
        symbol = position.symbol
        return position_json(
            position,
            price=self.market.price(symbol),
            lastday=self.market.lastday[symbol],
            held=account.held.get(symbol, _ZERO),
        )

    def positions(self, account: Account) -> list[dict[str, Any]]:
        self.sync()
        return [
            self.position_json(account, account.positions[symbol])
            for symbol in sorted(account.positions)
        ]

    def get_position(self, account: Account, symbol_or_id: str) -> dict[str, Any]:
        self.sync()
        return self.position_json(account, self._position(account, symbol_or_id))

    def close_position(
        self, account: Account, symbol_or_id: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """DELETE /v2/positions/{symbol}: a market order for all, ``qty`` or ``percentage``."""
        self.sync()
        position = self._position(account, symbol_or_id)
        size = abs(position.qty)
        qty_text = params.get("qty")
        percentage_text = params.get("percentage")
        if qty_text and percentage_text:
            raise _invalid("give qty or percentage, not both")
        qty = size
        if qty_text:
            qty = parse_decimal(qty_text, "qty")
            if qty <= 0 or qty > size:
                raise _invalid(f"qty must be > 0 and at most the position size {fmt(size)}")
        elif percentage_text:
            percentage = parse_decimal(percentage_text, "percentage")
            if not 0 < percentage <= 100:
                raise _invalid("percentage must be > 0 and at most 100")
            places = _NINE_PLACES if position.asset.fractionable else Decimal(1)
            qty = (size * percentage / 100).quantize(places, rounding=ROUND_DOWN)
            if qty <= 0:
                raise _invalid(f"{fmt(percentage)}% of {fmt(size)} shares rounds to zero shares")
        body = {
            "symbol": position.symbol,
            "qty": fmt(qty),
            "side": "sell" if position.qty > 0 else "buy",
            "type": "market",
            "time_in_force": "day",
        }
        return self.submit_order(account, body)

    def close_all(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        """DELETE /v2/positions: one {symbol, status, body} entry per position (HTTP 207)."""
        self.sync()
        if parse_bool(params.get("cancel_orders") or "false", "cancel_orders"):
            self.cancel_all(account)
        results: list[dict[str, Any]] = []
        for symbol in sorted(account.positions):
            try:
                body = self.close_position(account, symbol, {})
            except VenueError as exc:
                results.append({"symbol": symbol, "status": exc.status, "body": exc.body()})
            else:
                results.append({"symbol": symbol, "status": 200, "body": body})
        return results

    # ------------------------------------------------------------------ activities and history

    def activities(
        self, account: Account, params: dict[str, str], activity_type: str | None = None
    ) -> list[dict[str, Any]]:
        """GET /v2/account/activities[/{type}] with Alpaca's filters and page_token paging."""
        self.sync()
        if activity_type is not None:
            types: set[str] | None = {activity_type.upper()}
        elif params.get("activity_types"):
            types = {t.strip().upper() for t in params["activity_types"].split(",") if t.strip()}
        else:
            types = None
        if types is not None:
            unknown = sorted(types - set(ACTIVITY_TYPES))
            if unknown:
                raise _unprocessable(
                    f"invalid activity type(s) {', '.join(unknown)}; valid: "
                    f"{', '.join(ACTIVITY_TYPES)}"
                )
        category = params.get("category")
        if category is not None:
            if category not in ("trade_activity", "non_trade_activity"):
                raise _unprocessable("category must be trade_activity or non_trade_activity")
            if types is not None:
                raise _unprocessable("give activity_types or category, not both")
        page_size = parse_int(params.get("page_size"), "page_size", default=_MAX_ACTIVITIES_PAGE)
        if not 1 <= page_size <= _MAX_ACTIVITIES_PAGE:
            raise _unprocessable(
                f"page_size must be between 1 and {_MAX_ACTIVITIES_PAGE}, got {page_size}; use "
                "page_token to read further"
            )
        direction = params.get("direction") or "desc"
        if direction not in ("asc", "desc"):
            raise _unprocessable(f"direction must be asc or desc, got {direction!r}")
        after = parse_time(params["after"], "after") if params.get("after") else None
        until = parse_time(params["until"], "until") if params.get("until") else None
        day: dt.date | None = None
        if params.get("date"):
            day = parse_time(params["date"], "date").date()
        activities = account.activities
        times = account.activity_times
        if direction == "desc":
            start = len(activities) - 1
            step = -1
        else:
            start = 0
            step = 1
        token = params.get("page_token")
        if token:
            index = account.activity_index.get(token)
            if index is None:
                raise _unprocessable(
                    "page_token is not the id of an activity of this account; pass the id of "
                    "the last activity of the previous page"
                )
            start = index + step
        out: list[dict[str, Any]] = []
        index = start
        while 0 <= index < len(activities) and len(out) < page_size:
            activity = activities[index]
            at = times[index]
            index += step
            kind = activity["activity_type"]
            if types is not None and kind not in types:
                continue
            if category == "trade_activity" and kind != "FILL":
                continue
            if category == "non_trade_activity" and kind == "FILL":
                continue
            if after is not None and at <= after:
                if direction == "desc":
                    break
                continue
            if until is not None and at >= until:
                if direction == "asc":
                    break
                continue
            if day is not None and at.astimezone(NEW_YORK).date() != day:
                continue
            out.append(activity)
        return out

    def portfolio_history(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        """GET /v2/account/portfolio/history from the equity sampled once a simulated minute."""
        self.sync()
        timeframe = params.get("timeframe") or "1D"
        buckets = {"1Min": 60, "5Min": 300, "15Min": 900, "1H": 3600, "1D": 86400}
        if timeframe not in buckets:
            raise _unprocessable(f"timeframe must be one of {', '.join(buckets)}")
        period = params.get("period") or "1M"
        units = {"D": 86400, "W": 7 * 86400, "M": 30 * 86400, "A": 365 * 86400}
        try:
            span = int(period[:-1] or "1") * units[period[-1]]
        except (KeyError, ValueError, IndexError):
            raise _unprocessable(
                f"period must be a number and a unit D, W, M or A (e.g. 1W), got {period!r}"
            ) from None
        now = self.clock.now()
        end = parse_time(params["end"], "end") if params.get("end") else now
        start = (
            parse_time(params["start"], "start")
            if params.get("start")
            else end - dt.timedelta(seconds=span)
        )
        bucket = buckets[timeframe]
        points: dict[int, Decimal] = {}
        samples = list(account.equity_samples)
        samples.append((int(now.timestamp()), self._figures(account)["equity"]))
        for at, equity in samples:
            if start.timestamp() <= at <= end.timestamp():
                points[at - at % bucket] = equity
        base = account.starting_cash
        stamps = sorted(points)
        equity_values = [float(points[s]) for s in stamps]
        return {
            "timestamp": stamps,
            "equity": equity_values,
            "profit_loss": [round(float(points[s] - base), 4) for s in stamps],
            "profit_loss_pct": [
                round(float((points[s] - base) / base), 6) if base else 0.0 for s in stamps
            ],
            "base_value": float(base),
            "base_value_asof": start.astimezone(NEW_YORK).date().isoformat(),
            "timeframe": timeframe,
        }

    # ------------------------------------------------------------------ configuration

    def configuration(self, account: Account) -> dict[str, Any]:
        return dict(account.configuration)

    def update_configuration(self, account: Account, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise VenueError(400, CODE_BAD_REQUEST, "request body must be a JSON object")
        config = account.configuration
        choices: dict[str, tuple[str, ...]] = {
            "dtbp_check": ("both", "entry", "exit"),
            "pdt_check": ("both", "entry", "exit"),
            "trade_confirm_email": ("all", "none"),
            "max_margin_multiplier": ("1", "2", "4"),
        }
        flags = (
            "suspend_trade",
            "no_shorting",
            "fractional_trading",
            "ptp_no_exception_entry",
            "disable_overnight_trading",
        )
        updates: dict[str, Any] = {}
        for name, value in body.items():
            if value is None:
                continue
            if name in flags:
                updates[name] = parse_bool(value, name)
            elif name in choices:
                text = str(value)
                if text not in choices[name]:
                    raise _invalid(f"{name} must be one of {', '.join(choices[name])}")
                updates[name] = text
            elif name == "max_options_trading_level":
                if value not in (0, 1, 2, 3):
                    raise _invalid("max_options_trading_level must be 0, 1, 2 or 3")
                updates[name] = value
            else:
                raise _invalid(f"unknown account configuration {name!r}")
        if account.account_type == "cash":
            if updates.get("max_margin_multiplier", "1") != "1":
                raise _forbidden("a cash account cannot use margin")
            if updates.get("no_shorting") is False:
                raise _forbidden("a cash account cannot sell short")
        config.update(updates)
        return dict(config)

    # ------------------------------------------------------------------ assets and watchlists

    def asset_list(self, params: dict[str, str]) -> list[dict[str, Any]]:
        status = params.get("status")
        asset_class = params.get("asset_class")
        exchange = params.get("exchange")
        out = []
        for spec in self.assets.values():
            if status and spec.status != status:
                continue
            if asset_class and asset_class != "us_equity":
                continue
            if exchange and spec.exchange != exchange:
                continue
            out.append(asset_json(spec))
        return out

    def asset(self, symbol_or_id: str) -> dict[str, Any]:
        spec = self._resolve_asset(symbol_or_id)
        if spec is None:
            raise VenueError(404, CODE_NOT_FOUND, f"asset not found for {symbol_or_id}")
        return asset_json(spec)

    def _watchlist(self, account: Account, watchlist_id: str) -> dict[str, Any]:
        watchlist = account.watchlists.get(watchlist_id.lower())
        if watchlist is None:
            raise VenueError(404, CODE_NOT_FOUND, "watchlist not found")
        return watchlist

    def _watchlist_by_name(self, account: Account, name: str | None) -> dict[str, Any]:
        if not name:
            raise _invalid("name is required")
        for watchlist in account.watchlists.values():
            if watchlist["name"] == name:
                return watchlist
        raise VenueError(404, CODE_NOT_FOUND, "watchlist not found")

    def watchlist_json(
        self, watchlist: dict[str, Any], *, with_assets: bool = True
    ) -> dict[str, Any]:
        out = {k: v for k, v in watchlist.items() if k != "symbols"}
        if with_assets:
            out["assets"] = [asset_json(self.assets[s]) for s in watchlist["symbols"]]
        return out

    def _watchlist_symbols(self, symbols: Any) -> list[str]:
        if symbols is None:
            return []
        if not isinstance(symbols, list):
            raise _invalid("symbols must be a list of tickers")
        out: list[str] = []
        for symbol in symbols:
            if symbol is None:
                continue
            spec = self._resolve_asset(str(symbol))
            if spec is None:
                raise _unprocessable(f'asset "{symbol}" not found')
            if spec.symbol not in out:
                out.append(spec.symbol)
        return out

    def watchlists(self, account: Account) -> list[dict[str, Any]]:
        return [self.watchlist_json(w, with_assets=False) for w in account.watchlists.values()]

    def create_watchlist(self, account: Account, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise VenueError(400, CODE_BAD_REQUEST, "request body must be a JSON object")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise _invalid("name is required: a string of 1 to 64 characters")
        if any(w["name"] == name for w in account.watchlists.values()):
            raise _unprocessable(f"a watchlist named {name!r} already exists")
        at = ts(self._stamp())
        watchlist: dict[str, Any] = {
            "id": self._new_id(),
            "account_id": account.id,
            "name": name,
            "created_at": at,
            "updated_at": at,
            "symbols": self._watchlist_symbols(body.get("symbols")),
        }
        account.watchlists[watchlist["id"]] = watchlist
        return self.watchlist_json(watchlist)

    def get_watchlist(
        self, account: Account, watchlist_id: str | None, name: str | None = None
    ) -> dict[str, Any]:
        watchlist = (
            self._watchlist(account, watchlist_id)
            if watchlist_id is not None
            else self._watchlist_by_name(account, name)
        )
        return self.watchlist_json(watchlist)

    def update_watchlist(
        self, account: Account, watchlist_id: str | None, body: Any, name: str | None = None
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise VenueError(400, CODE_BAD_REQUEST, "request body must be a JSON object")
        watchlist = (
            self._watchlist(account, watchlist_id)
            if watchlist_id is not None
            else self._watchlist_by_name(account, name)
        )
        new_name = body.get("name")
        if new_name is not None:
            if not isinstance(new_name, str) or not new_name.strip() or len(new_name) > 64:
                raise _invalid("name must be a string of 1 to 64 characters")
            if any(
                w["name"] == new_name and w is not watchlist for w in account.watchlists.values()
            ):
                raise _unprocessable(f"a watchlist named {new_name!r} already exists")
            watchlist["name"] = new_name
        if "symbols" in body:
            watchlist["symbols"] = self._watchlist_symbols(body.get("symbols"))
        watchlist["updated_at"] = ts(self._stamp())
        return self.watchlist_json(watchlist)

    def add_to_watchlist(
        self, account: Account, watchlist_id: str | None, body: Any, name: str | None = None
    ) -> dict[str, Any]:
        watchlist = (
            self._watchlist(account, watchlist_id)
            if watchlist_id is not None
            else self._watchlist_by_name(account, name)
        )
        symbol = body.get("symbol") if isinstance(body, dict) else None
        if not isinstance(symbol, str) or not symbol:
            raise _invalid("symbol is required")
        spec = self._resolve_asset(symbol)
        if spec is None:
            raise _unprocessable(f'asset "{symbol}" not found')
        if spec.symbol in watchlist["symbols"]:
            raise _unprocessable(f"{spec.symbol} is already in the watchlist")
        watchlist["symbols"].append(spec.symbol)
        watchlist["updated_at"] = ts(self._stamp())
        return self.watchlist_json(watchlist)

    def remove_from_watchlist(
        self, account: Account, watchlist_id: str, symbol: str
    ) -> dict[str, Any]:
        watchlist = self._watchlist(account, watchlist_id)
        spec = self._resolve_asset(symbol)
        if spec is None or spec.symbol not in watchlist["symbols"]:
            raise VenueError(404, CODE_NOT_FOUND, f"{symbol} is not in the watchlist")
        watchlist["symbols"].remove(spec.symbol)
        watchlist["updated_at"] = ts(self._stamp())
        return self.watchlist_json(watchlist)

    def delete_watchlist(
        self, account: Account, watchlist_id: str | None, name: str | None = None
    ) -> None:
        watchlist = (
            self._watchlist(account, watchlist_id)
            if watchlist_id is not None
            else self._watchlist_by_name(account, name)
        )
        del account.watchlists[watchlist["id"]]

    # ------------------------------------------------------------------ admin views

    def dump(self, key_id: str) -> dict[str, Any]:
        """Everything about one account, for tests and reconciliation (admin only)."""
        self.sync()
        account = self.accounts.get(key_id) or self._blank_account(key_id)
        figures = self._figures(account)
        return {
            "key_id": account.key_id,
            "account": self.account_json(account),
            "account_type": account.account_type,
            "starting_cash": fmt(account.starting_cash),
            "cash": fmt(account.cash),
            "equity": fmt(figures["equity"]),
            "long_market_value": fmt(figures["long_market_value"]),
            "short_market_value": fmt(figures["short_market_value"]),
            "buying_power": fmt(figures["buying_power"]),
            "reserved_buying_power": fmt(account.reserved),
            "fees_paid": fmt(account.fees_paid),
            "realized_pl": {s: fmt(v) for s, v in sorted(account.realized_pl.items())},
            "positions": self.positions(account),
            "orders": [
                order_json(order, nested=True)
                for order in account.orders_seq
                if self._top_level(order)
            ],
            "fills": [a for a in account.activities if a["activity_type"] == "FILL"],
            "activities": list(account.activities),
            "watchlists": [self.watchlist_json(w) for w in account.watchlists.values()],
            "configuration": dict(account.configuration),
            "event_count": account.event_count,
        }

    def _blank_account(self, key_id: str) -> Account:
        """What a key that has made no request yet would start with (not registered)."""
        if self._allowed is not None and key_id not in self._allowed:
            raise VenueError(
                404,
                CODE_NOT_FOUND,
                f"no account for key {key_id!r}: it is not in the accounts file",
            )
        spec = self._allowed.get(key_id) if self._allowed is not None else None
        cash = spec.starting_cash if spec and spec.starting_cash is not None else None
        return Account(
            key_id=key_id,
            secret_key="",
            account_id=self._account_id(key_id),
            number=self._account_number(key_id),
            account_type=(spec.account_type if spec else None) or self.config.account_type,
            starting_cash=cash if cash is not None else self.config.starting_cash,
            at=self.clock.now(),
            event_log_size=0,
        )

    def events(self, key_id: str, since: int = 0) -> dict[str, Any]:
        """The account's most recent trade_updates events (bounded by ``event_log_size``)."""
        account = self.accounts.get(key_id)
        if account is None:
            raise VenueError(404, CODE_NOT_FOUND, f"no account for key {key_id!r}")
        events = list(account.events)
        first = account.event_count - len(events)
        start = max(since - first, 0)
        return {"first_seq": first, "next_seq": account.event_count, "events": events[start:]}
