"""Reconciliation's pure comparisons: orders, fills (incl. inference), positions, ownership."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from alpaca_integration.checks.reconcile import (
    diff_fills,
    diff_orders,
    diff_positions,
    infer_missing_fill,
    is_integration_order,
)
from alpaca_integration.models import DataSource, FillType, OrderSide, OrderStatus, PositionSide
from support.correctness_factories import (
    NOW,
    make_fill,
    make_filled_order,
    make_order,
    make_position,
)


def test_integration_prefix_defines_ownership() -> None:
    """Orders whose client_order_id has the integration's prefix are ours; others are external."""
    assert is_integration_order("ai-0123abcd")
    assert not is_integration_order("b3c1e2f0-uuid-from-alpaca-py")
    assert not is_integration_order(None)
    assert is_integration_order("desk-1", prefix="desk-")


def test_diff_orders_missing_drift_unknown_and_external() -> None:
    """Missing orders are inserted, drifted ones updated, unknown ones kept; ownership by prefix."""
    ours_open = make_order(id="o1", client_order_id="ai-1")
    broker_filled = make_filled_order()
    foreign = make_order(id="o2", client_order_id="alpaca-py-xyz")
    stale = make_order(id="o3", client_order_id="ai-3")
    same = make_order(id="o4", client_order_id="ai-4")
    findings, to_write, external = diff_orders(
        {"o1": ours_open, "o3": stale, "o4": same},
        {"o1": broker_filled, "o2": foreign, "o4": same},
    )
    kinds = {(f.kind, f.subject, f.decision) for f in findings}
    assert kinds == {
        ("order_drift", "o1", "updated"),
        ("order_missing", "o2", "inserted"),
        ("order_unknown_at_broker", "o3", "kept"),
    }
    drift = next(f for f in findings if f.kind == "order_drift")
    assert "status new -> filled" in drift.difference
    assert "filled_qty 0 -> 10" in drift.difference
    assert {o.id for o in to_write} == {"o1", "o2"}
    assert external == {"o2"}


def test_diff_orders_legs_inherit_ownership_and_flag_is_corrected() -> None:
    """A leg belongs to its root order; a wrong stored external flag is reported and rewritten."""
    parent = make_order(id="p", client_order_id="ai-p")
    leg = make_order(id="l", client_order_id="random-leg-id", parent_id="p")
    findings, to_write, external = diff_orders(
        {"p": parent, "l": leg},
        {"p": parent, "l": leg},
        stored_external={"p": False, "l": True},
    )
    assert external == set()
    assert [(f.kind, f.subject, f.decision) for f in findings] == [
        ("order_external", "l", "marked_ours")
    ]
    assert [o.id for o in to_write] == ["l"]


def test_diff_orders_equal_finds_nothing() -> None:
    """Identical sides produce no finding and nothing to write."""
    order = make_order()
    assert diff_orders({"ord-1": order}, {"ord-1": order}) == ([], [], set())


def test_diff_fills_matches_on_activity_identity_or_fill_id() -> None:
    """A broker fill already stored under any of its identities is not missing; others are."""
    stream_fill = make_fill(fill_id="exec-1", cum_qty=Decimal(10))
    activity_same_execution = make_fill(
        fill_id="act-1", execution_id=None, activity_id="act-1", cum_qty=Decimal(10)
    )
    new_execution = make_fill(
        fill_id="act-2",
        execution_id=None,
        activity_id="act-2",
        order_id="ord-2",
        cum_qty=Decimal(5),
        qty=Decimal(5),
    )
    findings, missing = diff_fills([stream_fill], [activity_same_execution, new_execution])
    assert [f.fill_id for f in missing] == ["act-2"]
    assert [(f.kind, f.subject) for f in findings] == [("fill_missing", "act-2")]
    assert diff_fills([stream_fill, new_execution], [activity_same_execution, new_execution]) == (
        [],
        [],
    )


def test_infer_missing_fill_from_cumulative_and_average() -> None:
    """The missing execution's qty and price follow from filled_qty and the average price."""
    order = make_filled_order(
        filled_avg_price=Decimal("101"),
        filled_at=NOW,
    )
    first = make_fill(order_id="o1", qty=Decimal(4), price=Decimal(100), cum_qty=Decimal(4))
    fill = infer_missing_fill(order, [first], at=NOW)
    assert fill is not None
    assert fill.qty == Decimal(6)
    # 10 x 101 = 1010; 4 x 100 = 400; (1010 - 400) / 6 = 101.666666667
    assert fill.price == Decimal("101.666666667")
    assert fill.cum_qty == Decimal(10)
    assert fill.leaves_qty == Decimal(0)
    assert fill.fill_type is FillType.FILL
    assert fill.source is DataSource.RECONCILE
    assert fill.fill_id == "reconcile-o1-10"
    assert fill.side is OrderSide.BUY
    # once stored, the same order explains itself: a second run infers nothing
    assert infer_missing_fill(order, [first, fill], at=NOW) is None


def test_infer_nothing_when_fills_explain_the_order() -> None:
    """An unfilled order, or one whose fills add up, needs no inferred fill."""
    assert infer_missing_fill(make_order(), [], at=NOW) is None
    order = make_order(
        status=OrderStatus.FILLED, filled_qty=Decimal(10), filled_avg_price=Decimal(100)
    )
    assert infer_missing_fill(order, [make_fill()], at=NOW) is None


def test_infer_partial_fill_keeps_deterministic_identity() -> None:
    """A partially filled order with no stored fills gets one fill at its average price."""
    order = make_order(
        id="o9",
        status=OrderStatus.PARTIALLY_FILLED,
        filled_qty=Decimal("2.5"),
        filled_avg_price=Decimal("99.5"),
        updated_at=NOW - dt.timedelta(seconds=5),
    )
    fill = infer_missing_fill(order, [], at=NOW)
    assert fill is not None
    assert (fill.qty, fill.price, fill.fill_type) == (
        Decimal("2.5"),
        Decimal("99.5"),
        FillType.PARTIAL_FILL,
    )
    assert fill.fill_id == "reconcile-o9-2.5"
    assert fill.timestamp == NOW - dt.timedelta(seconds=5)


def test_diff_positions() -> None:
    """Quantity or average drift, a missing and an extra position are each one finding."""
    stored = [
        make_position(symbol="AAPL", qty=Decimal(10)),
        make_position(symbol="MSFT", qty=Decimal(3)),
    ]
    broker = [
        make_position(symbol="AAPL", qty=Decimal(12)),
        make_position(symbol="SPY", side=PositionSide.SHORT, qty=Decimal(-1)),
    ]
    found = {(f.kind, f.subject) for f in diff_positions(stored, broker)}
    assert found == {
        ("position_drift", "AAPL"),
        ("position_unknown_at_broker", "MSFT"),
        ("position_missing", "SPY"),
    }
    assert diff_positions(broker, broker) == []


def test_replacement_inherits_ownership() -> None:
    """A replacement placed without the prefix still belongs to the owner of the order it replaces."""
    from alpaca_integration.checks.reconcile import external_order_ids

    original = make_order(id="a", client_order_id="ai-a", replaced_by="b")
    replacement = make_order(id="b", client_order_id="venue-made-id", replaces="a")
    foreign = make_order(id="c", client_order_id="other", replaced_by="d")
    foreign_replacement = make_order(id="d", client_order_id="other-2", replaces="c")
    orders = {o.id: o for o in (original, replacement, foreign, foreign_replacement)}
    assert external_order_ids(orders) == {"c", "d"}
