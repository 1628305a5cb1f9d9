"""The venue's order desk: accepting, replacing, canceling, finding and listing orders.

``OrderDesk.submit`` takes a request through ``validation``'s rules, creates the order (and the
legs of a bracket, OTO or OCO), sets aside its cost or quantity, and accepts it: ``pending_new``
then ``new`` during its session (``accepted`` outside it), answering that accepted snapshot
before matching runs. ``replace`` creates the replacement order and retires the old one
(``pending_replace``, ``replaced``); ``cancel`` emits ``pending_cancel`` then ``canceled``.
Lookups and listings follow Alpaca's filters and paging (see docs/simulator.md).

Two faults live here: ``order_reject_rate`` (an accepted order is then rejected) and
``visibility_lag_seconds`` (a new order is invisible to lookups and listings for that long,
while it works and fills normally).

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

from alpaca_integration.simulator.accounting import Accounting
from alpaca_integration.simulator.clock import SimClock
from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.exposure import OrderRules
from alpaca_integration.simulator.market import AssetSpec, Market
from alpaca_integration.simulator.matching import MatchingEngine
from alpaca_integration.simulator.mleg import MlegDesk
from alpaca_integration.simulator.state import Account, Order, order_json
from alpaca_integration.simulator.tape import Tape
from alpaca_integration.simulator.validation import OrderIntent, parse_order, parse_replace
from alpaca_integration.simulator.wire import (
    VenueError,
    invalid,
    not_found,
    parse_bool,
    parse_descending,
    parse_page_size,
    parse_window,
    require_object,
    unprocessable,
)

__all__ = ["OrderDesk"]

WORKING = frozenset({"new", "partially_filled"})
NOT_REPLACEABLE = frozenset({"accepted", "pending_new", "pending_cancel", "pending_replace"})
_MAX_ORDERS_PAGE = 500
_ZERO = Decimal(0)


def _order_not_found() -> VenueError:
    return not_found("order not found")


@dataclasses.dataclass(frozen=True, slots=True)
class _ListQuery:
    """The filters of one ``GET /v2/orders``."""

    status: str
    limit: int
    descending: bool
    after: dt.datetime | None
    until: dt.datetime | None
    nested: bool
    symbols: set[str] | None
    side: str | None


def _list_query(params: dict[str, str]) -> _ListQuery:
    status = params.get("status") or "open"
    if status not in ("open", "closed", "all"):
        raise unprocessable(f"status must be open, closed or all, got {status!r}")
    limit = parse_page_size(
        params, "limit", default=50, most=_MAX_ORDERS_PAGE, hint="page with after/until for more"
    )
    descending = parse_descending(params)
    after, until = parse_window(params)
    nested = parse_bool(params.get("nested") or "false", "nested")
    symbols = (
        {s.strip().upper() for s in params["symbols"].split(",") if s.strip()}
        if params.get("symbols")
        else None
    )
    side = params.get("side") or None
    if side is not None and side not in ("buy", "sell"):
        raise unprocessable(f"side must be buy or sell, got {side!r}")
    return _ListQuery(status, limit, descending, after, until, nested, symbols, side)


def _top_level(order: Order) -> bool:
    parent = order.parent
    return parent is None or order not in parent.legs


def _root(order: Order) -> Order:
    while order.parent is not None and order in order.parent.legs:
        order = order.parent
    return order


def _group_open(order: Order) -> bool:
    if not order.is_terminal and order.status != "held":
        return True
    return any(not leg.is_terminal and leg.status != "held" for leg in order.legs)


def _listed(order: Order, query: _ListQuery) -> bool:
    """Does ``order`` pass the status, symbol and side filters?"""
    if query.symbols is not None and order.symbol not in query.symbols:
        return False
    if query.side is not None and order.side != query.side:
        return False
    if query.nested:
        if not _top_level(order):
            return False
        group_open = _group_open(order)
        return not (
            (query.status == "open" and not group_open) or (query.status == "closed" and group_open)
        )
    if query.status == "open" and (order.is_terminal or order.status == "held"):
        return False
    return not (query.status == "closed" and not order.is_terminal)


@dataclasses.dataclass(eq=False, repr=False)
class OrderDesk:
    """Order requests of every account. See the module docstring."""

    config: dataclasses.InitVar[SimConfig]
    _: dataclasses.KW_ONLY
    clock: SimClock
    tape: Tape
    market: Market
    rules: OrderRules
    engine: MatchingEngine
    accounting: Accounting
    resolve_asset: Callable[[str], AssetSpec | None]
    order_reject_rate: float = dataclasses.field(default=0.0, init=False)
    visibility_lag_seconds: float = dataclasses.field(default=0.0, init=False)

    def __post_init__(self, config: SimConfig) -> None:
        self._rejects = random.Random(f"{config.seed}:rejects")
        self.mleg = MlegDesk(self)

    # ------------------------------------------------------------------ new orders

    def _make_order(
        self,
        account: Account,
        intent: OrderIntent,
        *,
        side: str | None = None,
        order_type: str | None = None,
        limit_price: Decimal | None = None,
        stop_price: Decimal | None = None,
        client_order_id: str | None = None,
        position_intent: str,
    ) -> Order:
        return Order(
            id=self.tape.new_id(),
            client_order_id=client_order_id or self.tape.new_id(),
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
            at=self.tape.stamp(),
        )

    def _order_from(self, account: Account, intent: OrderIntent, position_intent: str) -> Order:
        """The order a request (or a replacement) asks for, with its prices and client id."""
        return self._make_order(
            account,
            intent,
            limit_price=intent.limit_price,
            stop_price=intent.stop_price,
            client_order_id=intent.client_order_id,
            position_intent=position_intent,
        )

    def register(self, account: Account, order: Order) -> None:
        account.orders[order.id] = order
        account.orders_seq.append(order)
        account.order_times.append(order.submitted_at)
        account.by_client_id[order.client_order_id] = order
        account.open_orders[order.id] = order
        if self.visibility_lag_seconds:
            order.visible_at = order.submitted_at + dt.timedelta(
                seconds=self.visibility_lag_seconds
            )

    def submit(self, account: Account, body: Any) -> dict[str, Any]:
        """POST /v2/orders: validate, accept, answer the accepted snapshot, then match."""
        body = require_object(body)
        if body.get("order_class") == "mleg":
            return self.mleg.submit(account, body)
        intent = parse_order(account, body, self.resolve_asset)
        self.rules.check_class(account, intent)
        self.rules.check_wash_trade(account, intent)
        closing, unit, total = self.rules.check_exposure(account, intent)
        buy = intent.is_buy
        position_intent = intent.position_intent or (
            ("buy_to_close" if buy else "sell_to_close")
            if closing
            else ("buy_to_open" if buy else "sell_to_open")
        )
        order = self._order_from(account, intent, position_intent)
        self.register(account, order)
        if order.type == "trailing_stop":
            self.engine.trail(order, self.market.price(order.symbol))
        if intent.order_class in ("bracket", "oto", "oco"):
            self._attach_legs(account, order, intent, position_intent)
        if closing:
            self.accounting.take_hold(order)
        else:
            self.accounting.reserve(order, unit, total)
        if self.order_reject_rate and self._rejects.random() < self.order_reject_rate:
            self.tape.emit(order, "pending_new", order.submitted_at)
            snapshot = order_json(order, nested=True)
            self.engine.finish(order, "rejected", self.tape.stamp())
            return snapshot
        self.accept(order)
        snapshot = order_json(order, nested=True)
        if order.status == "new":
            self.engine.match(order)
            if order.order_class == "oco" and not order.legs[0].is_terminal:
                self.engine.match(order.legs[0])
        return snapshot

    def _attach_legs(
        self, account: Account, order: Order, intent: OrderIntent, position_intent: str
    ) -> None:
        """A bracket's take-profit and stop-loss, an OTO's one exit, or an OCO's stop-loss:
        held until the entry fills (an OCO's stop-loss is watched at once)."""
        oco = intent.order_class == "oco"
        exit_side = "sell" if intent.is_buy else "buy"
        exit_intent = "sell_to_close" if intent.is_buy else "buy_to_close"
        legs: list[Order] = []
        if intent.take_profit is not None and not oco:
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
                side=intent.side if oco else exit_side,
                order_type="stop_limit" if intent.stop_loss_limit is not None else "stop",
                limit_price=intent.stop_loss_limit,
                stop_price=intent.stop_loss_stop,
                position_intent=position_intent if oco else exit_intent,
            )
            stop_loss.leg_role = "stop_loss"
            legs.append(stop_loss)
        for leg in legs:
            leg.parent = order
            leg.status = "held"
            leg.extended_hours = False
            self.register(account, leg)
        order.legs = legs
        if intent.order_class == "bracket":
            legs[0].peer, legs[1].peer = legs[1], legs[0]
        elif oco:
            order.peer, legs[0].peer = legs[0], order

    def accept(self, order: Order) -> None:
        """``pending_new`` then ``new`` when it may work now, else ``accepted`` and waiting."""
        oco_stop = order.legs[0] if order.order_class == "oco" else None
        if self.engine.can_work_now(order):
            self.tape.emit(order, "pending_new", order.submitted_at)
            at = self.tape.stamp()
            self.engine.go_live(order, at)
            if oco_stop is not None:
                oco_stop.armed = True
                self.engine.rest(oco_stop)
            self.tape.emit(order, "new", at)
            return
        order.status = "accepted"
        for leg in order.legs:
            if leg.leg_role == "mleg":
                leg.status = "accepted"
        self.engine.waiting[order.id] = order
        if oco_stop is not None:
            oco_stop.armed = True
        self.tape.emit(order, "accepted", order.submitted_at)

    # ------------------------------------------------------------------ replace

    def replace(self, account: Account, order_id: str, body: Any) -> dict[str, Any]:
        """PATCH /v2/orders/{id}: a new order replaces the old one (see docs/simulator.md)."""
        body = require_object(body)
        old = account.orders.get(order_id.lower())
        if old is None:
            raise _order_not_found()
        self._check_replaceable(old)
        if old.order_class == "mleg":
            return self.mleg.replace(account, old, body)
        intent = parse_replace(account, old, body)
        closing, unit, total = (False, _ZERO, _ZERO)
        if old.leg_role is None or old.status in WORKING:
            closing, unit, total = self.rules.check_exposure(
                account, intent, credit=old.reserved, hold_credit=old.hold_qty
            )
        at = self.tape.stamp()
        old.status = "pending_replace"
        old.updated_at = at
        self.tape.emit(old, "pending_replace", at)
        new = self._order_from(account, intent, old.position_intent)
        was_armed = old.armed
        self.hand_over(old, new)
        self.engine.finish(old, "replaced", self.tape.stamp())
        self.register(account, new)
        if was_armed:
            new.status = "held"
            new.armed = True
        else:
            new.status = "new"
            if closing or old.leg_role is not None:
                self.accounting.take_hold(new)
            else:
                self.accounting.reserve(new, unit, total)
        if new.type == "trailing_stop":
            self.engine.trail(new, self.market.price(new.symbol))
        self.engine.rest(new)
        if not was_armed:
            self.tape.emit(new, "new", new.submitted_at)
        snapshot = order_json(new, nested=True)
        self.engine.match(new)
        return snapshot

    def _check_replaceable(self, old: Order) -> None:
        if old.status == "held" and not old.armed:
            self.tape.emit(old, "order_replace_rejected", self.tape.stamp())
            raise unprocessable(
                "this leg is held until its entry order fills and cannot be replaced yet"
            )
        if old.is_terminal or old.status in NOT_REPLACEABLE:
            raise unprocessable(
                f'order is not replaceable: its status is "{old.status}" (only new, '
                "partially_filled or held stop-loss orders can be replaced)"
            )
        if old.type == "market":
            raise unprocessable("market orders cannot be replaced")

    @staticmethod
    def hand_over(old: Order, new: Order) -> None:
        """The replacement takes the old order's place: trigger state, parent, legs, peer."""
        new.replaces = old.id
        new.leg_role = old.leg_role
        new.hwm = old.hwm
        new.triggered = old.triggered
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

    # ------------------------------------------------------------------ cancel

    def _cancel(self, order: Order) -> dict[str, Any]:
        at = self.tape.stamp()
        order.status = "pending_cancel"
        order.updated_at = at
        self.tape.emit(order, "pending_cancel", at)
        snapshot = order_json(order, nested=False)
        self.engine.finish(order, "canceled", self.tape.stamp())
        return snapshot

    def cancel(self, account: Account, order_id: str) -> None:
        """DELETE /v2/orders/{id}: pending_cancel, then canceled (legs and peers follow)."""
        order = account.orders.get(order_id.lower())
        if order is None:
            raise _order_not_found()
        if order.is_terminal:
            raise unprocessable(f'order is already in "{order.status}" state')
        if order.ratio_qty is not None and order.parent is not None:
            raise unprocessable(
                f"this is a leg of the mleg order {order.parent.id}: cancel that order instead"
            )
        if order.status == "held" and not order.armed:
            self.tape.emit(order, "order_cancel_rejected", self.tape.stamp())
            parent = order.parent.id if order.parent is not None else "?"
            raise unprocessable(
                f"this leg is held until its entry order fills; cancel the entry order {parent} "
                "instead"
            )
        self._cancel(order)

    def cancel_all(self, account: Account) -> list[dict[str, Any]]:
        """DELETE /v2/orders: one {id, status, body} entry per order canceled (HTTP 207)."""
        results: list[dict[str, Any]] = []
        for order in list(account.open_orders.values()):
            if order.is_terminal or (order.status == "held" and not order.armed):
                continue
            results.append({"id": order.id, "status": 200, "body": self._cancel(order)})
        return results

    # ------------------------------------------------------------------ lookups

    def _hidden(self, order: Order) -> bool:
        """Under the visibility-lag fault: not yet visible to lookups and listings."""
        return order.visible_at is not None and self.clock.now() < order.visible_at

    def get_order(self, account: Account, order_id: str) -> Order:
        order = account.orders.get(order_id.lower())
        if order is None or self._hidden(order):
            raise _order_not_found()
        return order

    def order_by_client_id(self, account: Account, client_order_id: str | None) -> Order:
        if not client_order_id:
            raise invalid(
                "client_order_id is required (GET /v2/orders:by_client_order_id?"
                "client_order_id=...)"
            )
        order = account.by_client_id.get(client_order_id)
        if order is None or self._hidden(order):
            raise _order_not_found()
        return order

    def list_orders(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /v2/orders with Alpaca's filters and paging (see docs/simulator.md)."""
        query = _list_query(params)
        out: list[dict[str, Any]] = []
        for order in self._candidates(account, query):
            if not _listed(order, query) or self._hidden(order):
                continue
            out.append(order_json(order, nested=query.nested))
            if len(out) >= query.limit:
                break
        return out

    @staticmethod
    def _candidates(account: Account, query: _ListQuery) -> Iterator[Order]:
        """Orders in the time window, newest first unless ascending. Open orders come from
        the open set (their roots when nested); the rest from the submission sequence."""
        after, until = query.after, query.until
        if query.status == "open":
            pool: dict[str, Order] = {}
            for open_order in account.open_orders.values():
                top = _root(open_order) if query.nested else open_order
                if (after is None or top.submitted_at > after) and (
                    until is None or top.submitted_at < until
                ):
                    pool[top.id] = top
            return iter(
                sorted(pool.values(), key=lambda o: o.submitted_at, reverse=query.descending)
            )
        times = account.order_times
        low = bisect.bisect_right(times, after) if after is not None else 0
        high = bisect.bisect_left(times, until) if until is not None else len(times)
        indices: Iterable[int] = (
            range(high - 1, low - 1, -1) if query.descending else range(low, high)
        )
        seq = account.orders_seq
        return (seq[i] for i in indices)
