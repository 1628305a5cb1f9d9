"""Positions and account snapshots: exact signed quantities, full sets, history, monotonic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from alpaca_integration.errors import StorageError
from alpaca_integration.models import AssetClass, PositionSide
from alpaca_integration.storage import Store
from support.storage_builders import at, make_position, make_snapshot, positions_at


async def test_short_and_fractional_positions_round_trip_exactly(store: Store) -> None:
    """A short, a fractional share and a 9-decimal crypto quantity read back identical."""
    held = [
        make_position("AAPL", "0.123456789", observed_at=at(5)),
        make_position(
            "BTC/USD",
            "1.000000001",
            asset_class=AssetClass.CRYPTO,
            avg_entry_price=Decimal("64123.123456789012"),
            observed_at=at(5),
        ),
        make_position("TSLA", "-25", observed_at=at(5)),
    ]
    result = await store.apply("default", positions=held)
    assert (result.positions, result.positions_refreshed) == (3, True)
    stored = await store.positions("default")
    assert stored == held
    short = stored[2]
    assert (short.side, short.qty, short.cost_basis) == (
        PositionSide.SHORT,
        Decimal(-25),
        Decimal("-4680.0"),
    )


async def test_a_newer_set_closes_missing_symbols_and_keeps_history(store: Store) -> None:
    """Each full set replaces the current positions; positions_as_of answers for past instants."""
    await store.apply("default", positions=[make_position("AAPL", "10", observed_at=at(10))])
    await store.apply(
        "default",
        positions=positions_at(at(20), AAPL="15", MSFT="-3"),
    )
    closed = await store.apply(
        "default", positions=[make_position("MSFT", "-3", observed_at=at(30))]
    )
    assert closed.positions == 1  # AAPL closed; MSFT unchanged
    assert [p.symbol for p in await store.positions("default")] == ["MSFT"]

    async def held(seconds: float) -> dict[str, Decimal]:
        return {p.symbol: p.qty for p in await store.positions_as_of("default", at(seconds))}

    assert await held(5) == {}
    assert await held(10) == {"AAPL": Decimal(10)}
    assert await held(25) == {"AAPL": Decimal(15), "MSFT": Decimal(-3)}
    assert await held(35) == {"MSFT": Decimal(-3)}


async def test_an_older_set_arriving_late_is_ignored(store: Store) -> None:
    """A positions set older than the stored one changes nothing; a replay changes nothing."""
    newer = [make_position("AAPL", "20", observed_at=at(20))]
    older = [make_position("AAPL", "5", observed_at=at(10))]
    await store.apply("default", positions=newer)
    for late in (older, newer):
        result = await store.apply("default", positions=late)
        assert (result.positions, result.positions_refreshed) == (0, False)
    assert [p.qty for p in await store.positions("default")] == [Decimal(20)]


async def test_an_empty_set_needs_its_time_and_then_closes_everything(store: Store) -> None:
    """No open positions: without positions_at the store refuses; with it, all are closed."""
    await store.apply("default", positions=[make_position("AAPL", "10", observed_at=at(10))])
    with pytest.raises(StorageError, match="positions_at"):
        await store.apply("default", positions=[])
    result = await store.apply("default", positions=[], positions_at=at(20))
    assert result.positions == 1
    assert await store.positions("default") == []


async def test_a_stream_derived_position_is_not_undone_by_an_older_rest_read(store: Store) -> None:
    """set_position at t=30 survives a REST set read at t=25 (newer than the last set)."""
    await store.apply("default", positions=[make_position("AAPL", "10", observed_at=at(10))])
    assert (
        await store.set_position("default", "AAPL", make_position("AAPL", "12", observed_at=at(30)))
        == 1
    )
    await store.apply(
        "default",
        positions=positions_at(at(25), AAPL="10", SPY="1"),
    )
    assert {p.symbol: p.qty for p in await store.positions("default")} == {
        "AAPL": Decimal(12),
        "SPY": Decimal(1),
    }
    assert await store.set_position("default", "SPY", None, observed_at=at(40)) == 1
    assert await store.set_position("default", "SPY", None, observed_at=at(41)) == 0
    assert [p.symbol for p in await store.positions("default")] == ["AAPL"]
    assert {p.symbol for p in await store.positions_as_of("default", at(35))} == {"AAPL", "SPY"}


async def test_set_position_refuses_a_mismatched_symbol(store: Store) -> None:
    """The symbol argument and the position must agree."""
    with pytest.raises(StorageError, match="MSFT"):
        await store.set_position("default", "AAPL", make_position("MSFT", "1"))


async def test_latest_snapshot_is_the_newest_one_whatever_the_arrival_order(store: Store) -> None:
    """Snapshots are a time series; a late older one is kept but never becomes the latest."""
    new = make_snapshot(observed_at=at(20), cash=Decimal("95000.12"))
    old = make_snapshot(observed_at=at(10), cash=Decimal("100000"))
    first = await store.apply("default", snapshot=new)
    late = await store.apply("default", snapshot=old)
    replay = await store.apply("default", snapshot=new)
    assert (first.snapshots, first.account_updated) == (1, True)
    assert (late.snapshots, late.account_updated) == (1, False)
    assert (replay.snapshots, replay.account_updated) == (0, False)
    assert await store.latest_snapshot("default") == new
    assert [s.observed_at for s in await store.list_snapshots("default")] == [at(10), at(20)]
    assert (await store.dump("default"))["cash"] == Decimal("95000.12")


async def test_snapshots_are_listed_by_a_time_window(store: Store) -> None:
    """``since`` is inclusive, ``until`` exclusive; ``limit`` with ``newest_first`` keeps the
    newest."""
    for seconds in (10, 20, 30, 40):
        await store.apply("default", snapshot=make_snapshot(observed_at=at(seconds)))

    async def times(**window: Any) -> list[dt.datetime]:
        return [s.observed_at for s in await store.list_snapshots("default", **window)]

    assert await times(since=at(20), until=at(40)) == [at(20), at(30)]
    assert await times(limit=2, newest_first=True) == [at(40), at(30)]
    assert await times(since=at(15), limit=1) == [at(20)]


async def test_a_snapshot_dates_an_empty_positions_set(store: Store) -> None:
    """An empty set applied with a snapshot takes the snapshot's time."""
    await store.apply("default", positions=[make_position("AAPL", "1", observed_at=at(1))])
    result = await store.apply("default", snapshot=make_snapshot(observed_at=at(9)), positions=[])
    assert result.positions == 1
    assert await store.positions("default") == []
