"""What the store's transactions cost in round trips to PostgreSQL beyond their statements: the
pool's pre-ping at every checkout is one simple query (not BEGIN, a query and ROLLBACK), and a
connection the server dropped is still found by it and replaced."""

from __future__ import annotations

import asyncpg
import pytest

from alpaca_integration.storage import Store
from support.storage_builders import make_order

pytestmark = pytest.mark.postgres


async def test_a_checkout_pings_with_one_simple_query_and_no_transaction(postgres_url: str) -> None:
    store = await Store.open(postgres_url, migrate=True)
    try:
        sent: list[str] = []
        async with store._engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            raw.add_query_logger(lambda record: sent.append(record.query))
        sent.clear()
        async with store._engine.connect():
            pass  # the checkout alone: its pre-ping
        assert len(sent) == 1, sent
        assert not any(query.strip(";").upper() in ("BEGIN", "ROLLBACK") for query in sent)
    finally:
        await store.aclose()


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
