"""A sync page (more than 100 rows per table: on PostgreSQL, its new rows go straight in by COPY
and its stored ones through the staged upsert) follows the same rules as a small batch, on both
databases: stored rows never move backwards, new rows are stored as given, a replay changes
nothing, and a new execution whose id is stored under another cum_qty is quarantined."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from alpaca_integration.models import Order, OrderStatus
from alpaca_integration.storage import Store
from support.storage_builders import at, make_order, stream_fill

ACCOUNT = "default"


def _filled(i: int, seconds: float) -> Order:
    return make_order(
        id=f"o-{i}",
        client_order_id=f"ai-o-{i}",
        status=OrderStatus.FILLED,
        filled_qty=Decimal(10),
        filled_avg_price=Decimal("187.25"),
        updated_at=at(seconds),
    )


async def test_a_page_of_stored_and_new_orders_keeps_the_stored_ones_newest(store: Store) -> None:
    stored = [_filled(i, 50) for i in range(60)]
    assert (await store.apply(ACCOUNT, orders=stored)).orders == 60
    # The same 60 orders as an older report (accepted, at 1 s), and 90 new ones.
    older = [make_order(id=f"o-{i}", client_order_id=f"ai-o-{i}") for i in range(60)]
    new = [_filled(i, 20) for i in range(60, 150)]
    result = await store.apply(ACCOUNT, orders=[*older, *new])
    assert (result.orders, sorted(result.order_ids)) == (90, sorted(o.id for o in new))
    by_id = {order.id: order for order in await store.list_orders(ACCOUNT)}
    assert len(by_id) == 150
    assert {by_id[f"o-{i}"].status for i in range(60)} == {OrderStatus.FILLED}
    assert {by_id[f"o-{i}"].updated_at for i in range(60)} == {at(50)}
    assert {by_id[f"o-{i}"].updated_at for i in range(60, 150)} == {at(20)}
    assert by_id["o-70"].raw == new[10].raw
    assert (await store.apply(ACCOUNT, orders=[*older, *new])).rows_changed == 0


async def test_a_page_of_stored_and_new_fills_writes_the_new_ones_once(store: Store) -> None:
    await store.apply(ACCOUNT, orders=[make_order(id=f"o-{i}") for i in range(3)])
    page = [stream_fill(f"o-{i % 3}", f"x-{i}", str(i + 1), "1", "100") for i in range(150)]
    assert (await store.apply(ACCOUNT, fills=page[:50])).fills == 50
    result = await store.apply(ACCOUNT, fills=page)
    assert (result.fills, result.quarantined) == (100, 0)
    stored = await store.list_fills(ACCOUNT)
    assert sorted((f.order_id, f.cum_qty, f.execution_id) for f in stored) == sorted(
        (f.order_id, f.cum_qty, f.execution_id) for f in page
    )
    assert (await store.apply(ACCOUNT, fills=page)).rows_changed == 0


async def test_a_new_fill_in_a_page_whose_id_is_stored_elsewhere_is_quarantined(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await store.apply(ACCOUNT, orders=[make_order(id="o-1"), make_order(id="o-2")])
    await store.apply(ACCOUNT, fills=[stream_fill("o-1", "x-1", "10", "10", "100")])
    # x-1 again, at a cum_qty of another order (a key not stored), among 149 new executions.
    clash = stream_fill("o-2", "x-1", "5", "5", "100")
    others = [stream_fill("o-2", f"y-{i}", str(100 + i), "1", "100") for i in range(149)]
    with caplog.at_level(logging.WARNING, logger="alpaca_integration.storage.writes"):
        result = await store.apply(ACCOUNT, fills=[clash, *others])
    # The unique execution id refused the write (the COPY of new rows, on PostgreSQL), and the
    # careful retry quarantined the clash.
    assert "retrying with per-fill checks" in caplog.text
    assert (result.fills, result.quarantined) == (149, 1)
    (row,) = await store.list_quarantine(ACCOUNT)
    assert (row.record_kind, row.record_key) == ("fill", "x-1")
    fills = await store.list_fills(ACCOUNT)
    assert len(fills) == 150
    assert [(f.order_id, f.cum_qty) for f in fills if f.execution_id == "x-1"] == [
        ("o-1", Decimal(10))
    ]
