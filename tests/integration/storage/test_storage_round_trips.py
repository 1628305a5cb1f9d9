"""What the store's transactions cost in round trips: the pool's pre-ping at every checkout is
the BEGIN of the checkout's transaction on PostgreSQL (not a query of its own), and a
connection the server dropped is still found by it and replaced; reading the changed orders and the positions back
(``read_back``, the stream's cache mirror) costs no statement of its own and gives the rows as
committed."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
import pytest
import sqlalchemy as sa

from alpaca_integration.models import DataSource, OrderStatus
from alpaca_integration.storage import Store
from alpaca_integration.storage.records import ApplyBatch, StreamPositions
from support.storage_builders import at, make_order, make_position, positions_at, stream_fill


@pytest.mark.postgres
async def test_a_pooled_checkout_pings_with_the_begin_of_its_transaction(postgres_url: str) -> None:
    """A write from a pooled connection sends BEGIN, its statements and COMMIT, nothing else:
    the pre-ping is that BEGIN (it was a ``SELECT 1`` of its own before, and SQLAlchemy's
    default is BEGIN, a query and ROLLBACK)."""
    store = await Store.open(postgres_url, migrate=True)
    try:
        sent: list[str] = []
        async with store._engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            raw.add_query_logger(lambda record: sent.append(record.query.strip().upper()))
        sent.clear()
        async with store._engine.connect() as connection, connection.begin():
            await connection.execute(sa.text("SELECT 1"))
        # The statement itself goes as a prepared statement, which the logger does not list.
        assert [q.strip(";") for q in sent] == ["BEGIN", "COMMIT"], sent
        sent.clear()
        async with store._engine.connect() as connection:
            pass  # a checkout that sends nothing: the BEGIN, rolled back at check-in
        assert [q.strip(";") for q in sent] == ["BEGIN", "ROLLBACK"], sent
    finally:
        await store.aclose()


@pytest.mark.postgres
async def test_a_read_only_transaction_on_a_pooled_connection_is_read_only(
    postgres_url: str,
) -> None:
    """``postgresql_readonly`` applies at BEGIN, which the checkout's ping has already sent: the
    option must still give a read-only transaction (on a fresh connection and a pooled one)."""
    store = await Store.open(postgres_url, migrate=True)
    try:
        for _ in range(2):  # twice: the second is a pooled connection, pinged (whatever the first)
            async with store._engine.connect() as connection:
                connection = await connection.execution_options(postgresql_readonly=True)
                with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
                    await connection.execute(sa.text("CREATE TEMP TABLE t (x int)"))
    finally:
        await store.aclose()


@pytest.mark.postgres
async def test_pooled_connections_the_server_dropped_are_replaced_at_checkout(
    postgres_url: str,
) -> None:
    store = await Store.open(postgres_url, migrate=True)
    try:
        await store.apply("ping", orders=[make_order(id="o-1", client_order_id="ai-1")])
        database = store._engine.url.database
        admin = await asyncpg.connect(postgres_url)
        try:
            dropped = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        finally:
            await admin.close()
        assert dropped >= 1
        await store.apply("ping", orders=[make_order(id="o-2", client_order_id="ai-2")])
        assert {order.id for order in await store.list_orders("ping")} == {"o-1", "o-2"}
    finally:
        await store.aclose()


def _statements(store: Store) -> list[str]:
    sent: list[str] = []

    def note(*args: Any) -> None:
        sent.append(str(args[2]))

    sa.event.listen(store._engine.sync_engine, "before_cursor_execute", note)
    return sent


async def test_reading_the_changed_orders_back_costs_no_statement(store: Store) -> None:
    sent = _statements(store)
    counts = []
    for n, read_back in enumerate((False, True, False, True)):
        order = make_order(
            id=f"o-{n}",
            client_order_id=f"ai-o-{n}",
            status=OrderStatus.FILLED,
            filled_qty=make_order().qty,
        )
        fill = stream_fill(f"o-{n}", f"x-{n}", "10", "10", "187.20")
        batch = ApplyBatch(orders=(order,), fills=(fill,), read_back=read_back)
        sent.clear()
        result = await store.apply_batch("trips", batch)
        counts.append(len(sent))
        assert result.order_ids == (f"o-{n}",)
        if read_back:
            assert list(result.committed_orders) == await store.list_orders("trips", ids=[f"o-{n}"])
    # (The first apply also creates the account's row.)
    assert counts[3] == counts[2] == counts[1], counts


async def test_orders_read_back_are_the_rows_as_committed(store: Store) -> None:
    """Including an ownership flag changed after the upsert (a replacement recognised as ours),
    and a page large enough for PostgreSQL's staged path; oldest first, as ``list_orders``."""
    replacement = make_order(
        id="q-2", client_order_id="venue-q2", replaces="q-1", created_at=at(3), updated_at=at(3)
    )
    await store.apply("default", orders=[replacement])
    original = make_order(
        id="q-1", client_order_id="ai-q1", status=OrderStatus.REPLACED, replaced_by="q-2"
    )
    await store.apply("default", orders=[original])
    newer = msgspec.structs.replace(replacement, status=OrderStatus.CANCELED, updated_at=at(5))
    fillers = [
        make_order(id=f"f-{i:03d}", client_order_id=f"ai-f-{i}", created_at=at(150 - i))
        for i in range(150)
    ]
    for orders in ([newer], [*fillers, msgspec.structs.replace(newer, updated_at=at(6))]):
        result = await store.apply_batch("default", ApplyBatch(orders=orders, read_back=True))
        committed = list(result.committed_orders)
        assert committed == await store.list_orders("default", ids=result.order_ids)
        assert {order.id for order in committed} == set(result.order_ids)
    assert "q-2" in {order.id for order in committed}
    assert (await store.external_flags("default"))["q-2"] is False


def _aapl_batch(n: int, qty: str | None, **batch: Any) -> ApplyBatch:
    """The ``n``-th stream batch of a run: order ``o-n`` filled, its execution, and AAPL moved
    to ``qty`` (None: closed) as of ``at(10 + n)``."""
    position = None if qty is None else make_position("AAPL", qty, observed_at=at(10 + n))
    moves = {"AAPL": (position, at(10 + n))}
    order = make_order(
        id=f"o-{n}",
        client_order_id=f"ai-o-{n}",
        status=OrderStatus.FILLED,
        filled_qty=make_order().qty,
        updated_at=at(10 + n),
    )
    return ApplyBatch(
        orders=(order,),
        fills=(stream_fill(f"o-{n}", f"x-{n}", "10", "10", "187.20"),),
        stream_positions=StreamPositions(
            order_ids=frozenset({f"o-{n}"}),
            symbols=frozenset({"AAPL"}),
            judge=lambda _: moves,
        ),
        **batch,
    )


async def _assert_committed_set(store: Store, result: Any, qty: str | None) -> None:
    """``result`` read the account's positions back as committed: MSFT untouched, AAPL at
    ``qty`` (None: closed)."""
    assert result.committed_positions is not None
    assert list(result.committed_positions) == await store.positions("trips")
    held = {p.symbol: p.qty for p in result.committed_positions}
    assert held == {"MSFT": 3, **({} if qty is None else {"AAPL": int(qty)})}


async def test_reading_the_positions_back_costs_no_statement(store: Store) -> None:
    """A stream batch that moves a symbol (opens, changes, closes it) beside one it leaves
    alone: the account's whole set as committed, with as many statements as without it."""
    await store.apply("trips", positions=positions_at(at(1), MSFT="3"))
    sent = _statements(store)
    counts: dict[bool, set[int]] = {False: set(), True: set()}
    for n, qty in enumerate(("10", "4", None, "7", "2", None)):
        read_back = n % 2 == 1
        sent.clear()
        result = await store.apply_batch("trips", _aapl_batch(n, qty, read_back=read_back))
        assert result.position_symbols == ("AAPL",)
        counts[read_back].add(len(sent))
        if read_back:
            await _assert_committed_set(store, result, qty)
    # (With read_back the account's positions come with the judge's read: one statement fewer.)
    assert max(counts[True]) < min(counts[False]), counts


@pytest.mark.postgres
async def test_a_stream_batch_writes_fills_history_and_checkpoint_in_one_statement(
    postgres_url: str,
) -> None:
    """PostgreSQL: the fills, the positions' history rows and the checkpoint of a stream batch
    go as one statement (nothing in between reads them), and their counts are still exact: the
    same batch again changes nothing."""
    store = await Store.open(postgres_url, migrate=True)
    try:
        await store.apply("trips", orders=[make_order(id="o-0", client_order_id="ai-o-0")])
        sent = _statements(store)
        order = make_order(status=OrderStatus.FILLED, filled_qty=make_order().qty, updated_at=at(9))
        moves = {"AAPL": (make_position("AAPL", "10", observed_at=at(9)), at(9))}
        batch = ApplyBatch(
            orders=(order,),
            fills=(stream_fill("o-1", "x-1", "10", "10", "187.20"),),
            checkpoints={"trade_updates": at(9).isoformat()},
            source=DataSource.STREAM,
            stream_positions=StreamPositions(
                order_ids=frozenset({"o-1"}), symbols=frozenset({"AAPL"}), judge=lambda _: moves
            ),
            read_back=True,
        )
        first = await store.apply_batch("trips", batch)
        assert (first.fills, first.checkpoints, first.positions) == (1, 1, 1)
        together = [
            s
            for s in sent
            if "INSERT INTO fills" in s
            or "INSERT INTO sync_checkpoints" in s
            or "INSERT INTO position_snapshots" in s
        ]
        assert len(together) == 1, together
        assert "INSERT INTO sync_checkpoints" in together[0]
        assert "INSERT INTO position_snapshots" in together[0]
        again = await store.apply_batch("trips", batch)
        assert (again.fills, again.checkpoints, again.positions) == (0, 0, 0)
        assert len(await store.list_fills("trips")) == 1
        assert [p.qty for p in await store.positions("trips")] == [10]
    finally:
        await store.aclose()


@pytest.mark.postgres
async def test_a_stream_batch_moves_its_positions_in_the_fills_statement(
    postgres_url: str,
) -> None:
    """PostgreSQL, positions read back: the upsert (RETURNING) or the delete of the symbols a
    stream batch moves go in the one statement with its fills (nothing after them in the
    transaction reads the positions), and what comes back is the set as committed, an open
    symbol beside them untouched."""
    store = await Store.open(postgres_url, migrate=True)
    try:
        await store.apply("trips", positions=positions_at(at(1), MSFT="3"))
        sent = _statements(store)
        for n, qty in enumerate(("10", None, "7", "4")):
            batch = _aapl_batch(n, qty, read_back=True, source=DataSource.STREAM)
            sent.clear()
            result = await store.apply_batch("trips", batch)
            assert result.position_symbols == ("AAPL",)
            writes = [
                s for s in sent if "INSERT INTO positions " in s or "DELETE FROM positions" in s
            ]
            assert len(writes) == 1, writes
            assert "INSERT INTO fills" in writes[0]
            assert ("DELETE FROM positions" in writes[0]) is (qty is None)
            await _assert_committed_set(store, result, qty)
    finally:
        await store.aclose()
