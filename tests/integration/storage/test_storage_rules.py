"""The upsert rules are stated once (storage.rules) and rendered twice: as the SQL upsert and as
the in-batch merge. Random versions of orders and fills applied one at a time (the SQL path) and
all in one batch (the Python merge, then one insert) must leave the same rows, on PostgreSQL and
SQLite."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpaca_integration.models import DataSource, Fill, Order, OrderStatus
from alpaca_integration.storage import ApplyBatch, Store
from alpaca_integration.storage.tables import fills, orders
from support.storage_builders import at, make_fill, make_order

_accounts = itertools.count()

_STATUSES = (
    OrderStatus.PENDING_NEW,
    OrderStatus.NEW,
    OrderStatus.PARTIALLY_FILLED,
    OrderStatus.FILLED,
    OrderStatus.CANCELED,
)
# 2.5 and 2.5 + 1e-19 are one amount once stored (18 decimals): the merge must see that too.
_QUANTITIES = ("0", "1", "2.5", "2.5000000000000000001", "10")


@st.composite
def _order_versions(draw: st.DrawFn) -> Order:
    """One report of one of two orders: any time, status, fill, lineage and ownership."""
    order_id = draw(st.sampled_from(("r-1", "r-2")))
    return make_order(
        id=order_id,
        client_order_id=draw(st.sampled_from((f"ai-{order_id}", f"dash-{order_id}"))),
        status=draw(st.sampled_from(_STATUSES)),
        filled_qty=Decimal(draw(st.sampled_from(_QUANTITIES))),
        limit_price=Decimal(draw(st.sampled_from(("187.25", "188")))),
        updated_at=at(draw(st.integers(0, 3))),
        parent_id=draw(st.sampled_from((None, "parent-1"))),
        replaces=draw(st.sampled_from((None, "older-1"))),
        replaced_by=draw(st.sampled_from((None, "newer-1"))),
    )


@st.composite
def _fill_versions(draw: st.DrawFn) -> Fill:
    """One report of one of two executions of r-1: from the stream or REST, with any figures."""
    cum_qty = draw(st.sampled_from(("1", "2.5")))
    from_stream = draw(st.booleans())
    fill_id = f"e-{cum_qty}" if from_stream else f"a-{cum_qty}"
    return make_fill(
        fill_id=fill_id,
        execution_id=fill_id if from_stream else None,
        activity_id=None if from_stream else fill_id,
        order_id="r-1",
        client_order_id=draw(st.sampled_from((None, "ai-r-1"))),
        cum_qty=Decimal(cum_qty),
        qty=Decimal(1),
        price=Decimal(draw(st.sampled_from(("187.1", "187.2")))),
        timestamp=at(draw(st.integers(1, 2))),
        fee=Decimal(draw(st.sampled_from(("0", "0.01", "0.02")))),
        leaves_qty=draw(st.sampled_from((None, Decimal(1)))),
        position_qty=draw(st.sampled_from((None, Decimal(5)))),
        source=DataSource.STREAM if from_stream else DataSource.REST,
    )


async def _rows(store: Store, account: str) -> dict[str, Any]:
    """Every stored column of the account's orders and fills but when they were written."""

    def plain(row: Any) -> dict[str, Any]:
        return {k: v for k, v in row.items() if k not in ("account", "ingested_at")}

    async with store.engine.connect() as connection:
        order_rows = (
            await connection.execute(sa.select(orders).where(orders.c.account == account))
        ).mappings()
        by_order = {row["id"]: plain(row) for row in order_rows}
        fill_rows = (
            await connection.execute(sa.select(fills).where(fills.c.account == account))
        ).mappings()
        by_fill = {(row["order_id"], row["cum_qty"]): plain(row) for row in fill_rows}
    return {"orders": by_order, "fills": by_fill}


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(versions=st.lists(st.one_of(_order_versions(), _fill_versions()), min_size=1, max_size=10))
async def test_one_at_a_time_and_one_batch_leave_the_same_rows(
    store: Store, versions: list[Order | Fill]
) -> None:
    """Versions applied one by one (SQL upserts) equal the same versions in one batch (merge)."""
    one_by_one = f"one-{next(_accounts)}"
    for version in versions:
        if isinstance(version, Order):
            await store.apply(one_by_one, orders=[version])
        else:
            await store.apply(one_by_one, fills=[version])
    batched = f"batch-{next(_accounts)}"
    await store.apply_batch(
        batched,
        ApplyBatch(
            orders=[v for v in versions if isinstance(v, Order)],
            fills=[v for v in versions if isinstance(v, Fill)],
        ),
    )
    assert await _rows(store, batched) == await _rows(store, one_by_one)
