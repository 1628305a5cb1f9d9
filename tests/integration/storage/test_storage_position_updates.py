"""Partial position updates inside ``Store.apply``: monotonic per symbol, atomic with the batch."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from alpaca_integration.errors import StorageError
from alpaca_integration.models import Position
from alpaca_integration.storage import ApplyBatch, Store
from alpaca_integration.storage.records import FillProgress, StreamPositions
from support.storage_builders import at, make_fill, make_order, make_position, positions_at


async def _seed_progress(store: Store) -> None:
    """o-1 filled 10 AAPL (execution x-1); held: 10 AAPL and 1 SPY as of t=3."""
    await store.apply(
        "default",
        orders=[make_order(filled_qty=Decimal(10))],
        fills=[make_fill()],
        positions=positions_at(at(3), AAPL="10", SPY="1"),
    )


async def _held(store: Store) -> dict[str, Decimal]:
    return {p.symbol: p.qty for p in await store.positions("default")}


async def test_position_updates_are_monotonic_per_symbol(store: Store) -> None:
    """A newer update is written and reported; an older one or a replay changes nothing."""
    await store.apply("default", positions=[make_position("SPY", "3", observed_at=at(10))])
    moved = await store.apply(
        "default", position_updates={"AAPL": make_position("AAPL", "12", observed_at=at(30))}
    )
    assert (moved.positions, moved.position_symbols) == (1, ("AAPL",))
    replay = make_position("AAPL", "12", observed_at=at(30))
    older = make_position("AAPL", "5", observed_at=at(20))
    for stale_position in (replay, older):
        stale = await store.apply("default", position_updates={"AAPL": stale_position})
        assert (stale.positions, stale.position_symbols) == (0, ())
    # A full set read at t=25 neither undoes AAPL (dated t=30) nor is overridden by older updates.
    await store.apply("default", positions=[make_position("AAPL", "10", observed_at=at(25))])
    older_than_set = await store.apply(
        "default", position_updates={"MSFT": None}, position_updates_at=at(24)
    )
    assert older_than_set.position_symbols == ()
    assert await _held(store) == {"AAPL": Decimal(12)}


async def test_a_close_in_position_updates_is_dated_and_kept_in_history(store: Store) -> None:
    """None closes a symbol at position_updates_at, leaving others alone; history shows both."""
    await store.apply(
        "default",
        positions=positions_at(at(10), AAPL="10", SPY="4"),
    )
    closed = await store.apply(
        "default", position_updates={"SPY": None}, position_updates_at={"SPY": at(40)}
    )
    assert (closed.positions, closed.position_symbols) == (1, ("SPY",))
    again = await store.apply("default", position_updates={"SPY": None}, position_updates_at=at(41))
    assert (again.positions, again.position_symbols) == (0, ())
    assert await _held(store) == {"AAPL": Decimal(10)}
    assert {p.symbol for p in await store.positions_as_of("default", at(35))} == {"AAPL", "SPY"}
    assert {p.symbol for p in await store.positions_as_of("default", at(40))} == {"AAPL"}


async def test_position_updates_commit_with_the_fill_and_the_checkpoint(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure at the checkpoint step rolls back the position with the fill; success stores all."""
    page: dict[str, Any] = {
        "orders": [make_order(filled_qty=Decimal(10))],
        "fills": [make_fill()],
        "position_updates": {"AAPL": make_position("AAPL", "10", observed_at=at(2))},
        "checkpoints": {"stream": at(2).isoformat()},
        "source": "stream",
    }

    async def crash(*_args: Any, **_kwargs: Any) -> int:
        raise RuntimeError("crash before the checkpoint")

    monkeypatch.setattr(store, "_upsert_checkpoints", crash)
    with pytest.raises(RuntimeError, match="crash"):
        await store.apply("default", **page)
    assert await _held(store) == {}
    assert await store.fills_for_order("default", "o-1") == []
    assert await store.get_checkpoint("default", "stream") is None
    monkeypatch.undo()
    result = await store.apply("default", **page)
    assert (result.fills, result.positions, result.checkpoints) == (1, 1, 1)
    assert await _held(store) == {"AAPL": Decimal(10)}
    assert await store.get_checkpoint("default", "stream") == at(2).isoformat()


async def test_position_updates_refuse_a_position_under_another_symbol(store: Store) -> None:
    """Each update must be keyed by its own position's symbol."""
    with pytest.raises(StorageError, match="MSFT"):
        await store.apply("default", position_updates={"AAPL": make_position("MSFT", "1")})


async def test_fill_progress_reads_orders_fills_and_positions_in_one_call(store: Store) -> None:
    """fill_progress reports stored filled_qty, execution ids, cum_qty keys and asked positions."""
    await _seed_progress(store)
    progress = await store.fill_progress("default", ["o-1", "o-missing"], ["AAPL", "TSLA"])
    assert progress.filled_qty == {"o-1": Decimal(10)}
    assert progress.executions == frozenset({"x-1"})
    assert progress.cum_qtys == frozenset({("o-1", Decimal(10))})
    assert {s: p.qty for s, p in progress.positions.items()} == {"AAPL": Decimal(10)}


async def test_stream_positions_are_judged_inside_the_transaction_and_read_back(
    store: Store,
) -> None:
    """``ApplyBatch.stream_positions``: the judge sees the store as it was before the batch
    (what ``fill_progress`` would have said), its moves are written with the batch, and
    ``read_back`` returns the changed orders and the whole positions set as committed."""
    await _seed_progress(store)
    before = await store.fill_progress("default", ["o-1", "o-2"], ["AAPL"])
    seen: list[FillProgress] = []

    def judge(known: FillProgress) -> dict[str, tuple[Position | None, dt.datetime]]:
        seen.append(known)
        return {"AAPL": (make_position("AAPL", "15", observed_at=at(9)), at(9))}

    second = make_order(id="o-2", client_order_id="c-2", filled_qty=Decimal(5), created_at=at(4))
    result = await store.apply_batch(
        "default",
        ApplyBatch(
            orders=[second],
            fills=[
                make_fill(order_id="o-2", fill_id="x-2", execution_id="x-2", cum_qty=Decimal(5))
            ],
            stream_positions=StreamPositions(
                order_ids=frozenset({"o-1", "o-2"}), symbols=frozenset({"AAPL"}), judge=judge
            ),
            read_back=True,
        ),
    )
    assert seen == [before]  # o-2 and its fill not yet there when judged
    assert (result.fills, result.position_symbols) == (1, ("AAPL",))
    assert await _held(store) == {"AAPL": Decimal(15), "SPY": Decimal(1)}
    assert list(result.committed_orders) == await store.list_orders("default", ids=["o-2"])
    assert list(result.committed_positions or ()) == await store.positions("default")
    # Nothing moved, nothing changed: no positions read back, no orders.
    again = await store.apply_batch(
        "default",
        ApplyBatch(
            orders=[second],
            stream_positions=StreamPositions(
                order_ids=frozenset({"o-2"}), symbols=frozenset({"AAPL"}), judge=lambda _: {}
            ),
            read_back=True,
        ),
    )
    assert (again.committed_orders, again.committed_positions) == ((), None)
