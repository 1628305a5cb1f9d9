"""Simulator faults of the venue's state, on the broker and clock directly: the clock skew, the
visibility lag of new orders, and stale order snapshots in fill events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sim_venue import MONDAY_10AM, Venue

from alpaca_integration.simulator.clock import SimClock
from alpaca_integration.simulator.config import FaultConfig
from alpaca_integration.simulator.state import order_json
from alpaca_integration.simulator.wire import VenueError

Build = Callable[..., Venue]


def fill_events(v: Venue, order_id: str) -> list[dict[str, Any]]:
    return [
        message["data"]
        for _, message in v.events
        if message["data"]["order"]["id"] == order_id
        and message["data"]["event"] in ("fill", "partial_fill")
    ]


def test_a_skewed_clock_moves_every_timestamp_by_the_skew() -> None:
    """A clock built with a skew reads (and stamps) that far from the same clock without it."""
    plain = SimClock(MONDAY_10AM, realtime=False)
    behind = SimClock(MONDAY_10AM, realtime=False, skew_seconds=-90.5)
    assert behind.now() == plain.now() - dt.timedelta(seconds=90.5)
    assert behind.stamp() == MONDAY_10AM - dt.timedelta(seconds=90.5)


def test_a_skew_set_before_any_timestamp_applies_at_once_and_a_later_cut_never_goes_back() -> None:
    """Skew set on a fresh clock moves now at once; lowered after stamps were handed out, the
    clock holds at the last stamp (stamps stay strictly increasing) until it catches up."""
    clock = SimClock(MONDAY_10AM, realtime=False)
    clock.set_skew(30)
    first = clock.stamp()
    assert first == MONDAY_10AM + dt.timedelta(seconds=30)
    clock.set_skew(-30)
    later = [clock.stamp() for _ in range(3)]
    assert later == sorted(set(later))
    assert later[0] > first
    clock.advance(120)
    assert clock.now() == MONDAY_10AM + dt.timedelta(seconds=90)


def test_a_new_order_is_invisible_to_lookups_and_listings_during_the_lag(venue: Build) -> None:
    """Under visibility_lag_seconds the order fills normally, but by id, by client_order_id
    and in listings it does not exist (404 / absent) until the lag has passed."""
    v = venue()
    v.broker.apply_faults(FaultConfig(visibility_lag_seconds=5))
    v.price("AAPL", "100.00")
    answer = v.submit(symbol="AAPL", qty=2, side="buy", client_order_id="lagged-1")
    assert answer["id"]
    for lookup in (
        lambda: v.broker.get_order(v.account, answer["id"]),
        lambda: v.broker.order_by_client_id(v.account, "lagged-1"),
    ):
        with pytest.raises(VenueError) as info:
            lookup()
        assert (info.value.status, info.value.code) == (404, 40410000)
    for params in ({"status": "all"}, {"status": "closed", "nested": "true"}):
        assert v.broker.list_orders(v.account, params) == []
    assert v.account.positions["AAPL"].qty == 2
    assert v.event_names(answer["id"]) == ["pending_new", "new", "fill"]
    v.advance(5.001)
    assert order_json(v.broker.get_order(v.account, answer["id"]), nested=False)["status"] == (
        "filled"
    )
    assert v.broker.order_by_client_id(v.account, "lagged-1").id == answer["id"]
    assert [o["id"] for o in v.broker.list_orders(v.account, {"status": "all"})] == [answer["id"]]


def test_a_blind_resend_during_the_lag_is_still_a_duplicate(venue: Build) -> None:
    """An order hidden by the lag still owns its client_order_id: a resend is refused."""
    v = venue()
    v.broker.apply_faults(FaultConfig(visibility_lag_seconds=60))
    v.submit(symbol="AAPL", qty=1, side="buy", client_order_id="once")
    with pytest.raises(VenueError) as info:
        v.submit(symbol="AAPL", qty=1, side="buy", client_order_id="once")
    assert (info.value.status, info.value.message) == (422, "client_order_id must be unique")


def test_orders_placed_before_the_lag_was_set_stay_visible(venue: Build) -> None:
    """The lag applies to orders accepted while it is set, not to older ones."""
    v = venue()
    older = v.submit(symbol="AAPL", qty=1, side="buy")
    v.broker.apply_faults(FaultConfig(visibility_lag_seconds=60))
    newer = v.submit(symbol="MSFT", qty=1, side="buy")
    listed = [o["id"] for o in v.broker.list_orders(v.account, {"status": "all"})]
    assert listed == [older["id"]]
    assert newer["id"] not in listed


def test_stale_fill_snapshots_lag_one_execution_while_the_execution_fields_are_right(
    venue: Build,
) -> None:
    """With stale_order_in_fill_probability 1 each fill event's order is the order before that
    execution (filled_qty, filled_avg_price, status lag); qty, price, execution_id,
    position_qty and timestamp are the execution's own."""
    v = venue(liquidity_cap="3")
    v.broker.apply_faults(FaultConfig(stale_order_in_fill_probability=1.0))
    answer = v.trade("AAPL", "buy", 9, "100.00")
    v.broker.tick()
    v.price("AAPL", "101.00")
    events = fill_events(v, answer["id"])
    assert [e["event"] for e in events] == ["partial_fill", "partial_fill", "fill"]
    assert [e["order"]["filled_qty"] for e in events] == ["0", "3", "6"]
    assert [e["order"]["status"] for e in events] == ["new", "partially_filled", "partially_filled"]
    assert [e["order"]["filled_avg_price"] for e in events] == [None, "100", "100"]
    assert [(e["qty"], e["price"], e["position_qty"]) for e in events] == [
        ("3", "100", "3"),
        ("3", "100", "6"),
        ("3", "101", "9"),
    ]
    assert len({e["execution_id"] for e in events}) == 3
    fills = v.activities("FILL")
    assert [e["timestamp"] for e in events] == [f["transaction_time"] for f in fills]
    assert [f["cum_qty"] for f in fills] == ["3", "6", "9"]
    assert v.order(answer["id"])["filled_qty"] == "9"


def test_two_executions_can_carry_the_same_snapshot_filled_qty(venue: Build) -> None:
    """A fresh snapshot then a stale one: both fill events say order.filled_qty 3, while
    their execution ids (and qty) tell the two executions apart."""
    v = venue(liquidity_cap="3")
    answer = v.trade("AAPL", "buy", 6, "100.00")
    v.broker.apply_faults(FaultConfig(stale_order_in_fill_probability=1.0))
    v.broker.tick()
    first, second = fill_events(v, answer["id"])
    assert first["order"]["filled_qty"] == second["order"]["filled_qty"] == "3"
    assert (first["event"], second["event"]) == ("partial_fill", "fill")
    assert first["execution_id"] != second["execution_id"]
    assert (first["position_qty"], second["position_qty"]) == ("3", "6")


def test_without_the_fault_every_fill_snapshot_is_current(venue: Build) -> None:
    """Faults off: a fill event's order.filled_qty is the cumulative quantity so far."""
    v = venue(liquidity_cap="3")
    answer = v.trade("AAPL", "buy", 6, "100.00")
    v.broker.tick()
    assert [e["order"]["filled_qty"] for e in fill_events(v, answer["id"])] == ["3", "6"]
