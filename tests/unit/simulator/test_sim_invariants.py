"""Broker invariants under randomized sessions (hypothesis, bounded and derandomized).

Whatever mix of orders, replaces, cancels, price moves, clock jumps and position closes a
session makes, afterwards: cash and positions reconcile with the fills and fees to the cent; no
order fills beyond its quantity; no event follows an order's terminal status; every fee sits on
a fill of the same order and time; the account's figures add up; nothing stays reserved or held
for orders that are gone; no open order is left with nothing to fill.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_venue import KEY, Venue

from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.state import TERMINAL
from alpaca_integration.simulator.wire import VenueError

SYMBOLS = ("AAPL", "MSFT", "GME")
START = {
    "always-open": dt.datetime(2024, 3, 4, 15, 0, tzinfo=dt.UTC),
    # 15:00 New York on a Monday: sessions end within reach of the clock jumps.
    "market": dt.datetime(2024, 3, 4, 20, 0, tzinfo=dt.UTC),
}

prices = st.decimals(min_value=Decimal("80"), max_value=Decimal("120"), places=2)
quantities = st.integers(min_value=1, max_value=25)

submit = st.tuples(
    st.just("submit"),
    st.sampled_from(SYMBOLS),
    st.sampled_from(("buy", "sell")),
    st.sampled_from(("market", "limit", "stop", "stop_limit", "trailing_stop", "bracket")),
    st.sampled_from(("day", "gtc", "ioc", "fok", "opg", "cls")),
    quantities,
    prices,
    st.booleans(),
)
price_move = st.tuples(st.just("price"), st.sampled_from(SYMBOLS), prices)
# Submissions and price moves weigh more: they are what produces executions.
actions = st.one_of(
    submit,
    submit,
    submit,
    submit,
    price_move,
    price_move,
    st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=50)),
    st.tuples(st.just("replace"), st.integers(min_value=0, max_value=50), quantities, prices),
    st.tuples(st.just("tick")),
    st.tuples(st.just("advance"), st.sampled_from((1, 60, 1800, 7200, 86400))),
    st.tuples(st.just("close"), st.sampled_from(SYMBOLS)),
    st.tuples(st.just("cancel_all")),
)


def order_body(action: tuple[Any, ...]) -> dict[str, Any]:
    _, symbol, side, kind, tif, qty, price, extended = action
    body: dict[str, Any] = {"symbol": symbol, "side": side, "qty": str(qty), "time_in_force": tif}
    offset = Decimal("2.00")
    away = price - offset if side == "buy" else price + offset
    if kind == "bracket":
        body.update(
            type="limit",
            limit_price=str(price),
            order_class="bracket",
            time_in_force="gtc",
            take_profit={"limit_price": str(price + offset if side == "buy" else price - offset)},
            stop_loss={"stop_price": str(price - offset if side == "buy" else price + offset)},
        )
    elif kind == "market":
        body["type"] = "market"
    elif kind == "limit":
        body.update(type="limit", limit_price=str(price), extended_hours=extended and tif == "day")
    elif kind == "stop":
        body.update(type="stop", stop_price=str(away if side == "sell" else price + offset))
    elif kind == "stop_limit":
        stop = away if side == "sell" else price + offset
        body.update(type="stop_limit", stop_price=str(stop), limit_price=str(stop))
    else:
        body.update(type="trailing_stop", trail_price="1.50")
    return body


def run_session(venue: Venue, session: list[tuple[Any, ...]]) -> None:
    broker, account = venue.broker, venue.account
    refusals: list[VenueError] = []
    for action in session:
        kind = action[0]
        try:
            if kind == "submit":
                broker.submit_order(account, order_body(action))
            elif kind == "price":
                broker.set_price(action[1], action[2])
            elif kind == "cancel" and account.orders_seq:
                order = account.orders_seq[action[1] % len(account.orders_seq)]
                broker.cancel_order(account, order.id)
            elif kind == "replace" and account.orders_seq:
                order = account.orders_seq[action[1] % len(account.orders_seq)]
                change: dict[str, Any] = {"qty": str(action[2])}
                if order.type in ("limit", "stop_limit"):
                    change["limit_price"] = str(action[3])
                broker.replace_order(account, order.id, change)
            elif kind == "tick":
                broker.tick()
            elif kind == "advance":
                venue.advance(action[1])
            elif kind == "close":
                broker.close_position(account, action[1], {})
            elif kind == "cancel_all":
                broker.cancel_all(account)
        except VenueError as exc:
            refusals.append(exc)
    # Refusals are part of the venue; server errors are not.
    assert all(r.status < 500 for r in refusals), [r.body() for r in refusals]


def check_invariants(venue: Venue) -> None:
    broker, account = venue.broker, venue.account
    dump = broker.dump(KEY)
    fills = dump["fills"]
    fees = [a for a in dump["activities"] if a["activity_type"] == "FEE"]

    # Cash and positions reconcile with fills and fees.
    flows = sum(
        (
            Decimal(f["qty"]) * Decimal(f["price"]) * (1 if f["side"] == "sell" else -1)
            for f in fills
        ),
        Decimal(0),
    )
    fee_total = sum((Decimal(f["net_amount"]) for f in fees), Decimal(0))
    assert Decimal(dump["cash"]) == account.starting_cash + flows + fee_total
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for fill in fills:
        expected[fill["symbol"]] += Decimal(fill["qty"]) * (1 if fill["side"] == "buy" else -1)
    held = {p["symbol"]: Decimal(p["qty"]) for p in dump["positions"]}
    assert held == {s: q for s, q in expected.items() if q != 0}

    # Every fee belongs to a sell fill of the same order at the same time, with its qty.
    fill_keys = {
        (f["order_id"], f["transaction_time"], f["qty"]) for f in fills if f["side"] == "sell"
    }
    for fee in fees:
        assert (fee["order_id"], fee["transaction_time"], fee["qty"]) in fill_keys
    assert len(fees) == len(fill_keys)

    # No order fills beyond its quantity; its fills add up to filled_qty in rising cum_qty.
    per_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fill in fills:
        per_order[fill["order_id"]].append(fill)
    for order in account.orders.values():
        executions = per_order.get(order.id, [])
        total = sum((Decimal(f["qty"]) for f in executions), Decimal(0))
        assert total == order.filled_qty
        if order.target_qty is not None:
            assert order.filled_qty <= order.target_qty
        cums = [Decimal(f["cum_qty"]) for f in executions]
        assert cums == sorted(cums)
        if cums:
            assert cums[-1] == order.filled_qty
        if order.status == "filled":
            assert order.filled_qty == order.target_qty

    # No event after a terminal status; fill events agree with their FILL activities.
    finished: set[str] = set()
    fill_by_time = {(f["order_id"], f["transaction_time"]): f for f in fills}
    for _, message in venue.events:
        data = message["data"]
        order_id = data["order"]["id"]
        assert order_id not in finished, (order_id, data["event"])
        if data["order"]["status"] in TERMINAL:
            finished.add(order_id)
        if data["event"] in ("fill", "partial_fill"):
            activity = fill_by_time[(order_id, data["timestamp"])]
            assert data["order"]["filled_qty"] == activity["cum_qty"]
            assert data["qty"] == activity["qty"]

    # The account's figures add up; what is reserved or held belongs to open orders.
    figures = broker.account_json(account)
    assert Decimal(figures["equity"]) == Decimal(figures["cash"]) + Decimal(
        figures["long_market_value"]
    ) + Decimal(figures["short_market_value"])
    open_orders = [o for o in account.orders.values() if not o.is_terminal]
    assert account.reserved == sum((o.reserved for o in open_orders), Decimal(0))
    assert account.reserved >= 0
    for symbol in SYMBOLS:
        held_qty = sum((o.hold_qty for o in open_orders if o.symbol == symbol), Decimal(0))
        assert account.held.get(symbol, Decimal(0)) == held_qty
    assert set(account.open_orders) == {o.id for o in open_orders}
    for order in open_orders:
        assert order.remaining is None or order.remaining > 0, (order.id, order.status)


@pytest.mark.parametrize("clock", ["always-open", "market"])
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(session=st.lists(actions, min_size=10, max_size=60), cap=st.sampled_from((None, "7")))
def test_broker_invariants_hold_for_any_session(
    clock: str, session: list[tuple[Any, ...]], cap: str | None
) -> None:
    """Random sessions keep cash, positions, fills, fees, events and reservations consistent."""
    venue = Venue(
        SimConfig(
            clock=clock,  # type: ignore[arg-type]
            seed=9,
            volatility=0.002,
            liquidity_cap=cap,
            start_time=START[clock],
            rate_limit=0,
            tick_interval=0,
        )
    )
    for symbol in SYMBOLS:
        venue.broker.set_price(symbol, Decimal("100.00"))
    run_session(venue, session)
    check_invariants(venue)
