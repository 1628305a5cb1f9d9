"""Fills in the store: one row per execution whatever reports it, fees counted once."""

from __future__ import annotations

from decimal import Decimal

from alpaca_integration.models import DataSource, OrderStatus
from alpaca_integration.storage import Store
from support.storage_builders import (
    at,
    make_activity,
    make_fill,
    make_order,
    rest_fill,
    stream_fill,
)


def _fee(
    activity_id: str, order_id: str, amount: str, when_seconds: float, status: str = "executed"
) -> object:
    return make_activity(
        status=status,
        id=activity_id,
        activity_type="FEE",
        activity_subtype="REG",
        order_id=order_id,
        transaction_time=at(when_seconds),
        net_amount=Decimal(amount),
        qty=None,
        per_share_amount=None,
        symbol="AAPL",
        description="REG fee",
    )


async def test_a_stream_fill_round_trips_exactly(store: Store) -> None:
    """A fill event alone reads back equal to what was applied."""
    fill = make_fill()
    await store.apply("default", fills=[fill])
    assert await store.fills_for_order("default", "o-1") == [fill]


async def test_stream_event_and_rest_activity_of_one_execution_make_one_row(store: Store) -> None:
    """Either arrival order ends in one row carrying both ids, with REST's execution time."""
    stream = stream_fill("o-1", "exec-1", "10", "10", "187.2", timestamp=at(2.5))
    rest = rest_fill("o-1", "20260302143002::act-1", "10", "10", "187.2", timestamp=at(2))
    for account, first, second in (("a", stream, rest), ("b", rest, stream)):
        assert (await store.apply(account, fills=[first])).fills == 1
        assert (await store.apply(account, fills=[second])).fills == 1
        assert (await store.apply(account, fills=[first, second])).fills == 0
        [row] = await store.list_fills(account)
        assert (row.execution_id, row.activity_id) == ("exec-1", "20260302143002::act-1")
        assert row.fill_id == "exec-1"
        assert row.timestamp == at(2)
        assert row.position_qty == Decimal(10)
    assert (await store.dump("a"))["fills"] == (await store.dump("b"))["fills"]


async def test_both_reports_in_one_batch_make_one_row(store: Store) -> None:
    """The stream and REST copies of an execution inside one apply merge before the insert."""
    stream = stream_fill("o-1", "exec-1", "10", "10", "187.2")
    rest = rest_fill("o-1", "act-1", "10.000", "10", "187.2")
    result = await store.apply("default", fills=[stream, rest])
    assert result.fills == 1
    [row] = await store.list_fills("default")
    assert (row.execution_id, row.activity_id, row.cum_qty) == ("exec-1", "act-1", Decimal(10))


async def test_partial_fills_are_rows_of_their_own_in_execution_order(store: Store) -> None:
    """Three partial executions are three rows, returned by cumulative quantity."""
    fills = [
        stream_fill("o-1", "x-c", "10", "1", "187.3", timestamp=at(4)),
        stream_fill("o-1", "x-a", "2.5", "2.5", "187.1", timestamp=at(2)),
        stream_fill("o-1", "x-b", "9", "6.5", "187.2", timestamp=at(3)),
    ]
    assert (await store.apply("default", fills=fills)).fills == 3
    rows = await store.fills_for_order("default", "o-1")
    assert [f.execution_id for f in rows] == ["x-a", "x-b", "x-c"]
    assert sum(f.qty for f in rows) == Decimal(10)


async def test_fees_are_the_sum_of_the_fee_activities_and_never_double_counted(
    store: Store,
) -> None:
    """Two FEE activities on one execution add up once, whatever the order and the replays."""
    fill = rest_fill("o-1", "act-fill", "10", "10", "187.2", timestamp=at(2))
    reg = _fee("act-reg", "o-1", "-0.01", 2)
    taf = _fee("act-taf", "o-1", "-0.02", 2)
    other_time = _fee("act-later", "o-1", "-5", 60)
    await store.apply("default", activities=[reg])  # a fee before its fill
    first = await store.apply("default", fills=[fill], activities=[taf, other_time])
    assert first.fees == 1
    [row] = await store.list_fills("default")
    assert row.fee == Decimal("0.03")
    replay = await store.apply("default", fills=[fill], activities=[reg, taf, other_time])
    assert (replay.fills, replay.fees, replay.activities) == (0, 0, 0)
    assert await store.attach_fee("default", "o-1", at(2), Decimal("0.03")) is True
    assert await store.attach_fee("default", "o-1", at(2), Decimal("0.03")) is True
    assert [f.fee for f in await store.list_fills("default")] == [Decimal("0.03")]


async def test_a_canceled_fee_stops_charging_its_fill(store: Store) -> None:
    """A FEE later reported canceled takes its amount off the fill (to 0 when it was the only
    one); replaying the canceled FEE changes nothing."""
    fill = rest_fill("o-1", "act-fill", "10", "10", "187.2", timestamp=at(2))
    await store.apply("default", fills=[fill], activities=[_fee("act-reg", "o-1", "-0.05", 2)])
    assert [f.fee for f in await store.list_fills("default")] == [Decimal("0.05")]
    canceled = _fee("act-reg", "o-1", "-0.05", 2, status="canceled")
    result = await store.apply("default", activities=[canceled])
    assert (result.activities, result.fees) == (1, 1)
    assert [f.fee for f in await store.list_fills("default")] == [Decimal(0)]
    replay = await store.apply("default", fills=[fill], activities=[canceled])
    assert (replay.fills, replay.activities, replay.fees) == (0, 0, 0)
    assert [f.fee for f in await store.list_fills("default")] == [Decimal(0)]


async def test_canceling_one_of_two_fees_leaves_the_other(store: Store) -> None:
    """Of two FEE activities on one execution, canceling one leaves the other's amount."""
    fill = rest_fill("o-1", "act-fill", "10", "10", "187.2", timestamp=at(2))
    reg = _fee("act-reg", "o-1", "-0.01", 2)
    await store.apply("default", fills=[fill], activities=[reg, _fee("act-taf", "o-1", "-0.02", 2)])
    result = await store.apply(
        "default", activities=[_fee("act-taf", "o-1", "-0.02", 2, status="CANCELED")]
    )
    assert result.fees == 1
    assert [f.fee for f in await store.list_fills("default")] == [Decimal("0.01")]


async def test_attach_fee_waits_for_the_fill_and_uses_the_amount_without_activities(
    store: Store,
) -> None:
    """No fill yet: False. With the fill and no stored FEE activity, the amount is set once."""
    assert await store.attach_fee("default", "o-1", at(2), Decimal("0.04")) is False
    await store.apply(
        "default", fills=[rest_fill("o-1", "act-1", "10", "10", "187.2", timestamp=at(2))]
    )
    assert await store.attach_fee("default", "o-1", at(2), Decimal("0.04")) is True
    assert await store.attach_fee("default", "o-1", at(2), Decimal("0.04")) is True
    [row] = await store.list_fills("default")
    assert row.fee == Decimal("0.04")


async def test_a_fill_carrying_its_fee_keeps_it_on_replay(store: Store) -> None:
    """A fill joined with its fee upstream stores the fee; replays and the stream copy keep it."""
    rest = rest_fill("o-1", "act-1", "10", "10", "187.2", fee=Decimal("0.05"))
    await store.apply("default", fills=[rest])
    result = await store.apply(
        "default", fills=[rest, stream_fill("o-1", "exec-1", "10", "10", "187.2")]
    )
    assert result.fills == 1  # the stream copy added its execution id
    [row] = await store.list_fills("default")
    assert (row.fee, row.execution_id) == (Decimal("0.05"), "exec-1")


async def test_a_fill_without_cum_qty_is_quarantined_not_stored(store: Store) -> None:
    """Without its cumulative quantity an execution has no identity: it goes to quarantine."""
    orphan = make_fill(fill_id="x-9", execution_id="x-9", cum_qty=None)
    good = make_fill()
    result = await store.apply("default", fills=[orphan, good])
    assert (result.fills, result.quarantined) == (1, 1)
    [held] = await store.list_quarantine("default")
    assert (held.record_kind, held.record_key, held.raw) == ("fill", "x-9", orphan.raw)
    assert "cum_qty" in held.reason
    again = await store.apply("default", fills=[orphan, good])
    assert (again.fills, again.quarantined) == (0, 0)


async def test_an_execution_id_reused_for_another_execution_is_quarantined(store: Store) -> None:
    """A later report giving a stored execution id another cum_qty is quarantined; the rest of
    its batch is still stored."""
    await store.apply("default", fills=[stream_fill("o-1", "exec-1", "5", "5", "187.2")])
    clash = stream_fill("o-1", "exec-1", "7", "2", "187.3")
    fine = stream_fill("o-1", "exec-2", "10", "5", "187.4")
    result = await store.apply(
        "default",
        orders=[make_order(status=OrderStatus.FILLED, filled_qty=Decimal(10), updated_at=at(9))],
        fills=[clash, fine],
        checkpoints={"stream": at(9).isoformat()},
    )
    assert (result.orders, result.fills, result.quarantined, result.checkpoints) == (1, 1, 1, 1)
    rows = await store.fills_for_order("default", "o-1")
    assert [(f.execution_id, f.cum_qty) for f in rows] == [
        ("exec-1", Decimal(5)),
        ("exec-2", Decimal(10)),
    ]
    [held] = await store.list_quarantine("default")
    assert "exec-1" in held.reason


async def test_one_id_claimed_twice_inside_a_batch_is_quarantined(store: Store) -> None:
    """Inside one batch, the second execution claiming an execution id is quarantined."""
    first = stream_fill("o-1", "exec-1", "5", "5", "187.2")
    second = stream_fill("o-1", "exec-1", "6", "1", "187.2")
    result = await store.apply("default", fills=[first, second])
    assert (result.fills, result.quarantined) == (1, 1)


async def test_fill_sources_are_kept_per_copy(store: Store) -> None:
    """The row remembers the first source and keeps each source's raw payload."""
    stream = stream_fill("o-1", "exec-1", "10", "10", "187.2")
    rest = rest_fill("o-1", "act-1", "10", "10", "187.2")
    await store.apply("default", fills=[stream])
    await store.apply("default", fills=[rest])
    [row] = await store.list_fills("default")
    assert row.source is DataSource.STREAM
    assert row.raw == stream.raw
