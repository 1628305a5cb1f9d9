"""Store.apply as the sync engine uses it: checkpoints commit with their rows, and any replay of
pages and events, twice and out of order, ends in the same rows."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpaca_integration.errors import StorageError
from alpaca_integration.models import DataSource, OrderClass, OrderStatus
from alpaca_integration.storage import ApplyBatch, Store
from support.storage_builders import (
    at,
    make_activity,
    make_bracket_leg,
    make_order,
    make_position,
    make_snapshot,
    rest_fill,
    stream_fill,
)

_account_names = itertools.count()


async def _install_failing_fill_trigger(store: Store) -> None:
    """A real database failure on the first fill insert, after the orders were written."""
    async with store.engine.begin() as connection:
        if store.dialect == "postgresql":
            await connection.execute(
                sa.text(
                    "CREATE FUNCTION refuse_fill() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"
                )
            )
            await connection.execute(
                sa.text(
                    "CREATE TRIGGER refuse_fill BEFORE INSERT ON fills "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_fill()"
                )
            )
        else:
            await connection.execute(
                sa.text(
                    "CREATE TRIGGER refuse_fill BEFORE INSERT ON fills "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )


async def _drop_failing_fill_trigger(store: Store) -> None:
    async with store.engine.begin() as connection:
        if store.dialect == "postgresql":
            await connection.execute(sa.text("DROP TRIGGER refuse_fill ON fills"))
        else:
            await connection.execute(sa.text("DROP TRIGGER refuse_fill"))


async def test_checkpoints_are_written_with_their_rows(store: Store) -> None:
    """The checkpoint lands with the page; the same value again is no change."""
    result = await store.apply(
        "default", orders=[make_order()], checkpoints={"orders": at(0).isoformat()}
    )
    assert (result.orders, result.checkpoints) == (1, 1)
    assert await store.get_checkpoint("default", "orders") == at(0).isoformat()
    again = await store.apply(
        "default", orders=[make_order()], checkpoints={"orders": at(0).isoformat()}
    )
    assert (again.orders, again.checkpoints) == (0, 0)
    assert await store.get_checkpoint("default", "activities") is None
    assert set(await store.checkpoints("default")) == {"orders"}


def _filled_page() -> dict[str, Any]:
    """One page as apply keywords: o-1 filled by one execution, the snapshot and the position it
    leaves, and the stream checkpoint t9."""
    return {
        "orders": [make_order(status=OrderStatus.FILLED, filled_qty=Decimal(10), updated_at=at(9))],
        "fills": [stream_fill("o-1", "exec-1", "10", "10", "187.2")],
        "snapshot": make_snapshot(observed_at=at(9)),
        "positions": [make_position("AAPL", "10", observed_at=at(9))],
        "checkpoints": {"stream": "t9"},
    }


async def test_apply_batch_writes_what_apply_with_the_same_keywords_writes(store: Store) -> None:
    """One ApplyBatch and the same fields as apply keywords store the same rows and counts."""
    page = {**_filled_page(), "source": DataSource.STREAM}
    by_keywords = await store.apply("keywords", **page)
    by_batch = await store.apply_batch("batch", ApplyBatch(**page))
    assert by_batch == by_keywords
    assert by_batch.rows_changed == 4  # order, fill, snapshot, position
    assert await store.dump("batch") == await store.dump("keywords")


async def test_a_failure_mid_transaction_leaves_rows_and_checkpoint_unchanged(store: Store) -> None:
    """The fills insert fails after the orders were written: neither the orders nor the
    checkpoint move; once the fault is gone the same apply goes through."""
    await store.apply(
        "default",
        orders=[make_order(id="o-0", client_order_id="ai-0")],
        checkpoints={"stream": "t0"},
    )
    before = await store.dump("default")
    await _install_failing_fill_trigger(store)
    page = _filled_page()
    with pytest.raises(StorageError, match="injected failure"):
        await store.apply("default", **page)
    assert await store.dump("default") == before
    assert await store.get_checkpoint("default", "stream") == "t0"
    await _drop_failing_fill_trigger(store)
    result = await store.apply("default", **page)
    assert (result.orders, result.fills, result.checkpoints) == (1, 1, 1)
    assert await store.get_checkpoint("default", "stream") == "t9"


# --------------------------------------------------------------------------- replays


def _history() -> list[dict[str, Any]]:
    """One session as pages and events: a bracket that fills in two parts then exits, a limit
    order replaced then canceled, fees, a dividend, snapshots and positions."""
    tp = make_bracket_leg("tp", "entry", client_order_id="v-tp")
    sl = make_bracket_leg("sl", "entry", stop=True, client_order_id="v-sl")

    def entry(status: OrderStatus, filled: str, second: float, tp_status: OrderStatus) -> Any:
        return make_order(
            id="entry",
            client_order_id="ai-entry",
            order_class=OrderClass.BRACKET,
            status=status,
            filled_qty=Decimal(filled),
            filled_avg_price=Decimal("187.2") if filled != "0" else None,
            updated_at=at(second),
            legs=(
                make_order(**{**_fields(tp), "status": tp_status, "updated_at": at(second)}),
                sl,
            ),
        )

    fee = make_activity(
        id="fee-1",
        activity_type="FEE",
        activity_subtype="TAF",
        order_id="entry",
        transaction_time=at(4),
        net_amount=Decimal("-0.02"),
        qty=None,
        per_share_amount=None,
        symbol="AAPL",
    )
    return [
        {
            "orders": [entry(OrderStatus.NEW, "0", 1, OrderStatus.HELD)],
            "checkpoints": {"orders": "1"},
        },
        {
            "orders": [entry(OrderStatus.PARTIALLY_FILLED, "4", 3, OrderStatus.HELD)],
            "fills": [stream_fill("entry", "e-1", "4", "4", "187.1", timestamp=at(3.1))],
            "checkpoints": {"stream": "3"},
        },
        {
            "orders": [entry(OrderStatus.FILLED, "10", 4, OrderStatus.NEW)],
            "fills": [stream_fill("entry", "e-2", "10", "6", "187.267", timestamp=at(4.2))],
            "checkpoints": {"stream": "4"},
        },
        {
            "fills": [
                rest_fill("entry", "a-1", "4", "4", "187.1", timestamp=at(3)),
                rest_fill("entry", "a-2", "10", "6", "187.267", timestamp=at(4)),
            ],
            "activities": [fee, make_activity()],
            "checkpoints": {"activities": "a-2"},
        },
        {
            "orders": [
                make_order(
                    id="lim", client_order_id="ai-lim", status=OrderStatus.NEW, updated_at=at(5)
                )
            ]
        },
        {
            "orders": [
                make_order(
                    id="lim",
                    client_order_id="ai-lim",
                    status=OrderStatus.REPLACED,
                    replaced_by="lim2",
                    updated_at=at(6),
                ),
                make_order(
                    id="lim2",
                    client_order_id="ai-lim2",
                    replaces="lim",
                    created_at=at(6),
                    updated_at=at(6),
                ),
            ]
        },
        {
            "orders": [
                make_order(
                    id="lim2",
                    client_order_id="ai-lim2",
                    replaces="lim",
                    status=OrderStatus.CANCELED,
                    created_at=at(6),
                    updated_at=at(8),
                )
            ]
        },
        {"snapshot": make_snapshot(observed_at=at(2)), "positions": [], "positions_at": at(2)},
        {
            "snapshot": make_snapshot(observed_at=at(7), cash=Decimal("98127.31")),
            "positions": [make_position("AAPL", "10", observed_at=at(7))],
        },
    ]


def _fields(order: Any) -> dict[str, Any]:
    return {name: getattr(order, name) for name in order.__struct_fields__}


def _comparable(dump: dict[str, Any]) -> dict[str, Any]:
    # Checkpoints are opaque progress markers the caller owns: a late page may move one back.
    return {key: value for key, value in dump.items() if key != "checkpoints"}


async def _replay(store: Store, account: str, pages: Sequence[dict[str, Any]]) -> None:
    for page in pages:
        await store.apply(account, **page)


async def test_the_session_applied_twice_changes_nothing_the_second_time(store: Store) -> None:
    """Every page of the session applied again reports zero changed rows."""
    pages = _history()
    await _replay(store, "default", pages)
    before = await store.dump("default")
    for page in pages:
        result = await store.apply("default", **page)
        assert result.rows_changed == 0, page
    assert await store.dump("default") == before
    assert [f["fee"] for f in before["fills"]] == [Decimal(0), Decimal("0.02")]
    assert before["positions"]["AAPL"]["qty"] == Decimal(10)
    assert before["orders"]["entry"]["status"] == "filled"
    assert before["orders"]["tp"]["status"] == "new"


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_replay_order_with_duplicates_ends_in_the_same_rows(
    store: Store, data: st.DataObject
) -> None:
    """Pages and events replayed in any order, some twice, leave exactly the in-order rows."""
    pages = _history()
    reference = f"ref-{next(_account_names)}"
    await _replay(store, reference, pages)
    twice = data.draw(st.lists(st.integers(0, len(pages) - 1), max_size=len(pages)), label="again")
    shuffled = data.draw(st.permutations([*range(len(pages)), *twice]), label="order")
    account = f"replay-{next(_account_names)}"
    await _replay(store, account, [pages[i] for i in shuffled])
    assert _comparable(await store.dump(account)) == _comparable(await store.dump(reference))


async def test_concurrent_applies_of_one_account_queue_and_lose_nothing(store: Store) -> None:
    """Ten writers at once (stream events and REST pages): every update lands, the newest wins."""
    pages = [
        {
            "orders": [
                make_order(
                    id=f"c-{i}",
                    client_order_id=f"ai-c-{i}",
                    status=OrderStatus.FILLED if i % 2 else OrderStatus.NEW,
                    filled_qty=Decimal(10) if i % 2 else Decimal(0),
                    updated_at=at(i),
                )
            ],
            "fills": [stream_fill(f"c-{i}", f"x-{i}", "10", "10", "187.2")] if i % 2 else [],
            "checkpoints": {f"feed-{i}": str(i)},
        }
        for i in range(10)
    ]
    results = await asyncio.gather(*(store.apply("default", **page) for page in pages))
    assert sum(r.orders for r in results) == 10
    assert sum(r.fills for r in results) == 5
    assert len(await store.open_orders("default")) == 5
    assert len(await store.checkpoints("default")) == 10


async def test_a_page_larger_than_one_bulk_statement(store: Store) -> None:
    """12,000 orders in one apply are all stored, and all unchanged when applied again."""
    page = [
        make_order(id=f"big-{i}", client_order_id=f"ai-big-{i}", raw=b"{}", created_at=at(i))
        for i in range(12_000)
    ]
    assert (await store.apply("default", orders=page)).orders == 12_000
    assert (await store.apply("default", orders=page)).orders == 0
    assert len(await store.list_orders("default", limit=20_000)) == 12_000
