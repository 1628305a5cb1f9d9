"""Executions that share a cumulative quantity (issue 11 items 2 and 3), on both databases:
two real executions at one (order_id, cum_qty) are never merged silently (the later one is
quarantined), a real execution replaces the one reconciliation inferred at its cum_qty, and an
order's fills never sum past its filled_qty when real executions land inside an inferred span."""

from __future__ import annotations

from decimal import Decimal

from alpaca_integration.models import DataSource, Fill
from alpaca_integration.storage import Store
from support.storage_builders import fill_at, make_order, stream_fill

ACCOUNT = "default"


def _inferred(cum_qty: str, qty: str, price: str = "100") -> Fill:
    """What ``reconcile`` infers: no execution or activity id, the missing quantity at cum."""
    reconcile_id = f"reconcile-o-1-{cum_qty}"
    return fill_at(DataSource.RECONCILE, reconcile_id, cum_qty, qty, price, position_qty=None)


async def _fills(store: Store) -> list[tuple[Decimal, Decimal, str | None]]:
    return [
        (f.cum_qty or Decimal(0), f.qty, f.execution_id) for f in await store.list_fills(ACCOUNT)
    ]


async def test_a_second_execution_at_a_stored_cum_qty_is_quarantined_not_merged(
    store: Store,
) -> None:
    await store.apply(ACCOUNT, orders=[make_order(id="o-1")])
    await store.apply(ACCOUNT, fills=[stream_fill("o-1", "x-1", "10", "10", "100")])
    result = await store.apply(ACCOUNT, fills=[stream_fill("o-1", "x-2", "10", "10", "101")])
    assert result.quarantined == 1
    assert await _fills(store) == [(Decimal(10), Decimal(10), "x-1")]
    (row,) = await store.list_quarantine(ACCOUNT)
    assert (row.record_kind, row.record_key) == ("fill", "x-2")
    assert "x-1" in row.reason


async def test_two_executions_at_one_cum_qty_in_one_batch_are_not_merged(store: Store) -> None:
    await store.apply(ACCOUNT, orders=[make_order(id="o-1")])
    result = await store.apply(
        ACCOUNT,
        fills=[
            stream_fill("o-1", "x-1", "10", "10", "100"),
            stream_fill("o-1", "x-2", "10", "10", "101"),
        ],
    )
    assert result.quarantined == 1
    assert await _fills(store) == [(Decimal(10), Decimal(10), "x-1")]


async def test_a_real_execution_replaces_the_inferred_one_at_its_cum_qty(store: Store) -> None:
    await store.apply(ACCOUNT, orders=[make_order(id="o-1")])
    await store.apply(ACCOUNT, fills=[stream_fill("o-1", "x-1", "5", "5", "100")])
    await store.apply(ACCOUNT, fills=[_inferred("10", "5", "100")], source=DataSource.RECONCILE)
    await store.apply(ACCOUNT, fills=[stream_fill("o-1", "x-2", "10", "5", "101.5")])
    fills = await store.list_fills(ACCOUNT)
    assert [(f.cum_qty, f.qty, f.price, f.execution_id) for f in fills] == [
        (Decimal(5), Decimal(5), Decimal(100), "x-1"),
        (Decimal(10), Decimal(5), Decimal("101.5"), "x-2"),
    ]


async def test_fills_never_sum_past_filled_qty_when_executions_land_inside_an_inferred_span(
    store: Store,
) -> None:
    """Stored: 5 at cum 5; inferred: 5 at cum 10 (the order filled 10). The real executions were
    2 at cum 7 and 3 at cum 10: whichever arrives, the fills sum to 10, never 12."""
    await store.apply(ACCOUNT, orders=[make_order(id="o-1")])
    await store.apply(ACCOUNT, fills=[stream_fill("o-1", "x-1", "5", "5", "100")])
    await store.apply(ACCOUNT, fills=[_inferred("10", "5")], source=DataSource.RECONCILE)
    await store.apply(ACCOUNT, fills=[stream_fill("o-1", "x-2", "7", "2", "100")])
    assert sum(qty for _, qty, _ in await _fills(store)) == 10
    assert await _fills(store) == [
        (Decimal(5), Decimal(5), "x-1"),
        (Decimal(7), Decimal(2), "x-2"),
        (Decimal(10), Decimal(3), None),
    ]
    await store.apply(ACCOUNT, fills=[stream_fill("o-1", "x-3", "10", "3", "100")])
    assert await _fills(store) == [
        (Decimal(5), Decimal(5), "x-1"),
        (Decimal(7), Decimal(2), "x-2"),
        (Decimal(10), Decimal(3), "x-3"),
    ]
