"""The stream's small batches: written whole whatever their size, through a bounded set of
statements (a new size must not cost a compile inside a live write, nor memory): on PostgreSQL
one statement whatever the size (one array per column), on SQLite one rendered statement per
power-of-two row count."""

from __future__ import annotations

from decimal import Decimal

from alpaca_integration.models import OrderStatus
from alpaca_integration.storage import Store
from alpaca_integration.storage.bulk import RENDERED_ROWS, rendered_pieces
from support.storage_builders import make_order, stream_fill


def test_pieces_are_powers_of_two_largest_first_and_cover_every_row() -> None:
    for count in range(RENDERED_ROWS + 1):
        rows = [{"n": n} for n in range(count)]
        pieces = rendered_pieces(rows)
        assert [row for piece in pieces for row in piece] == rows
        sizes = [len(piece) for piece in pieces]
        assert sizes == sorted(sizes, reverse=True)
        assert all(size & (size - 1) == 0 for size in sizes)


async def test_batches_of_every_size_are_stored_whole_through_few_rendered_statements(
    store: Store,
) -> None:
    account = "render"
    stored = 0
    for size in range(1, 41):
        ids = [f"o-{stored + n}" for n in range(size)]
        orders = [
            make_order(
                id=order_id,
                client_order_id=f"ai-{order_id}",
                status=OrderStatus.FILLED,
                filled_qty=Decimal(10),
            )
            for order_id in ids
        ]
        fills = [stream_fill(order_id, f"x-{order_id}", "10", "10", "187.20") for order_id in ids]
        result = await store.apply(account, orders=orders, fills=fills, source="stream")
        assert (result.orders, result.fills) == (size, size)
        stored += size

    assert len(await store.list_orders(account)) == stored == 820
    assert len(await store.list_fills(account)) == stored
    # SQLite: one rendered statement per power of two up to 32 (1, 2, 4, 8, 16, 32) per table,
    # not one per batch size (40). PostgreSQL: one statement for every size (arrays unnested).
    small = {
        name: len(bulk._unnested) if unnest else len(bulk._rendered)
        for (name, staged, unnest), (bulk, _) in store._statements.items()
        if unnest or not staged
    }
    bound = 1 if store.dialect == "postgresql" else 6
    assert 1 <= small["orders"] <= bound
    assert 1 <= small["fills"] <= bound
