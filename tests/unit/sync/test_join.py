"""The sync engine's pure helpers: fee join, positions derived from fill events, checkpoints."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from alpaca_integration.models import (
    Activity,
    DataSource,
    Fill,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    TradeEventKind,
    TradeUpdate,
)
from alpaca_integration.sync.join import join_fees, max_submitted_at, position_after_fill
from support.correctness_factories import (
    make_activity,
    make_fill,
    make_order,
    make_position,
)

T0 = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


def _fill(order_id: str, at: dt.datetime, activity_id: str, qty: str = "1") -> Fill:
    """A REST FILL activity of ``qty`` AAPL sold at 100 (no execution id)."""
    return make_fill(
        fill_id=activity_id,
        execution_id=None,
        activity_id=activity_id,
        order_id=order_id,
        side=OrderSide.SELL,
        qty=Decimal(qty),
        timestamp=at,
        cum_qty=Decimal(qty),
        leaves_qty=None,
        source=DataSource.REST,
    )


def _fee(activity_id: str, order_id: str | None, at: dt.datetime | None, amount: str) -> Activity:
    return make_activity(
        id=activity_id,
        date=T0.date(),
        transaction_time=at,
        net_amount=Decimal(amount),
        symbol=None,
        order_id=order_id,
    )


def _order(
    order_id: str,
    *,
    submitted_at: dt.datetime,
    legs: tuple[Order, ...] = (),
    symbol: str = "AAPL",
) -> Order:
    """A market buy of 10 ``symbol``, filled at 100, every time at ``submitted_at``."""
    return make_order(
        id=order_id,
        client_order_id=f"c-{order_id}",
        symbol=symbol,
        type=OrderType.MARKET,
        status=OrderStatus.FILLED,
        filled_qty=Decimal(10),
        filled_avg_price=Decimal(100),
        limit_price=None,
        created_at=submitted_at,
        updated_at=submitted_at,
        submitted_at=submitted_at,
        legs=legs,
    )


def _fill_event(side: OrderSide, qty: str, price: str, position_qty: str) -> TradeUpdate:
    order = _order("o1", submitted_at=T0)
    order = Order(**{**{f: getattr(order, f) for f in order.__struct_fields__}, "side": side})
    return TradeUpdate(
        event=TradeEventKind.FILL,
        event_name="fill",
        order=order,
        timestamp=T0,
        execution_id="x1",
        price=Decimal(price),
        qty=Decimal(qty),
        position_qty=Decimal(position_qty),
    )


def _position(qty: str, avg: str) -> Position:
    """A position of ``qty`` AAPL at ``avg`` that states nothing else (no marks, no exchange)."""
    q = Decimal(qty)
    unknown = ("exchange", "qty_available", "market_value", "unrealized_pl", "unrealized_plpc")
    unmarked = (*unknown, "current_price", "lastday_price")
    return make_position(
        side=PositionSide.LONG if q > 0 else PositionSide.SHORT,
        qty=q,
        avg_entry_price=Decimal(avg),
        cost_basis=abs(q) * Decimal(avg),
        observed_at=T0,
        **dict.fromkeys(unmarked),
    )


def test_fee_on_the_same_page_is_added_to_its_fill() -> None:
    """A FEE with the FILL's order_id and transaction_time becomes the fill's (positive) fee."""
    page = join_fees([_fill("o1", T0, "a1"), _fee("a2", "o1", T0, "-0.02")])
    assert [f.fee for f in page.fills] == [Decimal("0.02")]
    assert [a.id for a in page.activities] == ["a2"]
    assert page.fee_attachments == []


def test_several_fees_on_one_execution_add_up() -> None:
    """Two FEE activities of one execution sum into one fee (no fee lost, none doubled)."""
    page = join_fees(
        [_fee("a0", "o1", T0, "-0.01"), _fill("o1", T0, "a1"), _fee("a2", "o1", T0, "-0.02")]
    )
    assert page.fills[0].fee == Decimal("0.03")


def test_fee_without_its_fill_becomes_an_attachment() -> None:
    """A FEE whose FILL is on another page is kept for a later attach by (order_id, time)."""
    page = join_fees([_fee("a2", "o9", T0, "-0.05")])
    assert page.fills == []
    assert [(a.order_id, a.transaction_time, a.amount) for a in page.fee_attachments] == [
        ("o9", T0, Decimal("0.05"))
    ]


def test_fee_at_another_time_is_not_joined() -> None:
    """A fee with a different transaction_time never lands on a fill of the same order."""
    page = join_fees([_fill("o1", T0, "a1"), _fee("a2", "o1", T0 + dt.timedelta(seconds=1), "-1")])
    assert page.fills[0].fee == 0
    assert len(page.fee_attachments) == 1


def test_fee_without_order_id_stays_an_activity_only() -> None:
    """The fallback: an aggregated fee with no order_id is stored as an activity, not joined."""
    page = join_fees([_fill("o1", T0, "a1"), _fee("a2", None, T0, "-1")])
    assert page.fills[0].fee == 0
    assert page.fee_attachments == []
    assert [a.id for a in page.activities] == ["a2"]


def test_max_submitted_at_ignores_a_leg_submitted_after_its_parent() -> None:
    """The orders checkpoint is the top-level orders' paging time: a later leg cannot move it
    past top-level orders the venue has not listed yet."""
    leg = _order("leg", submitted_at=T0 + dt.timedelta(minutes=10))
    parent = _order("p", submitted_at=T0, legs=(leg,))
    assert max_submitted_at([parent], None) == T0
    later = T0 + dt.timedelta(hours=1)
    assert max_submitted_at([parent], later) == later


def test_a_canceled_fee_is_not_charged_to_its_fill() -> None:
    """A FEE the venue canceled stays a record but adds nothing to the fill's fee."""
    canceled = msgspec.structs.replace(_fee("a2", "o1", T0, "-5"), status="canceled")
    page = join_fees([_fill("o1", T0, "a1"), canceled, _fee("a3", "o1", T0, "-1")])
    assert page.fills[0].fee == Decimal("1")
    assert page.fee_attachments == []
    assert [a.id for a in page.activities] == ["a2", "a3"]


def test_a_canceled_fee_alone_makes_no_attachment() -> None:
    """A canceled FEE whose fill is on another page is not attached to it later either."""
    canceled = msgspec.structs.replace(_fee("a2", "o1", T0, "-5"), status="CANCELED")
    assert join_fees([canceled]).fee_attachments == []


def test_buy_fill_averages_into_a_long_position() -> None:
    """Adding 10 @ 110 to 10 @ 100 gives 20 @ 105."""
    result = position_after_fill(
        _position("10", "100"), _fill_event(OrderSide.BUY, "10", "110", "20"), T0
    )
    assert result is not None
    symbol, position = result
    assert symbol == "AAPL"
    assert position is not None
    assert (position.qty, position.avg_entry_price, position.side) == (
        Decimal(20),
        Decimal(105),
        PositionSide.LONG,
    )


def test_reducing_fill_keeps_the_average() -> None:
    """Selling part of a long keeps its average entry price."""
    result = position_after_fill(
        _position("20", "105"), _fill_event(OrderSide.SELL, "5", "120", "15"), T0
    )
    assert result is not None
    assert result[1] is not None
    assert (result[1].qty, result[1].avg_entry_price) == (Decimal(15), Decimal(105))


def test_crossing_zero_restarts_at_the_fill_price() -> None:
    """Selling through a long into a short starts the short at the fill's price, signed."""
    result = position_after_fill(
        _position("5", "100"), _fill_event(OrderSide.SELL, "8", "90", "-3"), T0
    )
    assert result is not None
    assert result[1] is not None
    assert (result[1].qty, result[1].avg_entry_price, result[1].side) == (
        Decimal(-3),
        Decimal(90),
        PositionSide.SHORT,
    )


def test_flat_after_fill_means_no_position() -> None:
    """position_qty 0 removes the position."""
    assert position_after_fill(
        _position("5", "100"), _fill_event(OrderSide.SELL, "5", "90", "0"), T0
    ) == ("AAPL", None)


def test_non_fill_event_changes_no_position() -> None:
    """A canceled event carries no position information."""
    event = _fill_event(OrderSide.BUY, "1", "1", "1")
    canceled = TradeUpdate(
        event=TradeEventKind.CANCELED, event_name="canceled", order=event.order, timestamp=T0
    )
    assert position_after_fill(None, canceled, T0) is None


def test_an_average_that_does_not_terminate_is_rounded_as_the_venue_reports_it() -> None:
    """1 @ 100 then 2 @ 100.01 averages 100.0066666667 (ten decimals), cost basis to match."""
    result = position_after_fill(
        _position("1", "100"), _fill_event(OrderSide.BUY, "2", "100.01", "3"), T0
    )
    assert result is not None
    assert result[1] is not None
    assert (result[1].avg_entry_price, result[1].cost_basis) == (
        Decimal("100.0066666667"),
        Decimal("300.0200000001"),
    )
