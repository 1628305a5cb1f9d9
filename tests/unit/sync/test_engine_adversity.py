"""SyncEngine under adversity (issue 11): a host clock behind the venue, absurd numbers in
positions and account snapshots, unbounded memory. A real AlpacaClient on a paged
``httpx.MockTransport`` venue and a real SQLite store."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alpaca_integration.models import OrderStatus
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import FEED_ACCOUNT, FEED_ACTIVITIES, FEED_ORDERS, SyncEngine
from alpaca_integration.sync.validation import validate_order
from support.paged_venue import ACCOUNT, T0, PagedVenue, client_on, fill_json, order_json, store
from support.storage_builders import make_order

__all__ = ["store"]  # the fixture, used by name

DATA = Path(__file__).parents[2] / "data"


class Clock:
    """The host's clock, moved by the test."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at


# --------------------------------------------------------------------------- item 1: clock skew


def test_the_reason_for_a_time_ahead_of_the_clock_never_contains_the_current_time() -> None:
    """The same record refused at two instants gets the same reason, so it is one quarantine
    row, not one per sync."""
    ahead = T0 + dt.timedelta(seconds=75)
    order = make_order(updated_at=ahead)
    first = validate_order(order, T0)
    second = validate_order(order, T0 + dt.timedelta(seconds=5))
    assert first
    assert first == second
    assert T0.isoformat() not in first[0]


async def test_a_fill_ahead_of_the_host_clock_is_quarantined_once_and_stored_once_the_clock_passes(
    store: Store,
) -> None:
    """With the venue 75 s ahead, the second fill is refused for now: the activities checkpoint
    stays on the first fill (never past a record that was not stored), the same refusal is one
    quarantine row however often the sync runs, and once the host's clock has passed the fill's
    time the next sync stores it."""
    order = order_json("o-1", T0, "filled")
    order.update(filled_qty="10", filled_avg_price="100", filled_at=order["submitted_at"])
    fills = [
        fill_json(
            "20250602-a1", "o-1", T0, qty="4", cum_qty="4", leaves_qty="6", type="partial_fill"
        ),
        fill_json("20250602-a2", "o-1", T0 + dt.timedelta(seconds=75)),
    ]
    venue = PagedVenue([order], fills)
    clock = Clock(T0 + dt.timedelta(seconds=10))
    async with client_on(venue) as client:
        engine = SyncEngine(ACCOUNT, client, store, now=clock)
        await engine.sync_orders()
        first = await engine.sync_activities()
        clock.at += dt.timedelta(seconds=3)
        await engine.sync_activities()
        assert first.quarantined == 1
        assert await store.get_checkpoint(ACCOUNT, FEED_ACTIVITIES) == "20250602-a1"
        assert [f.cum_qty for f in await store.list_fills(ACCOUNT)] == [4]
        assert len(await store.list_quarantine(ACCOUNT)) == 1
        clock.at = T0 + dt.timedelta(minutes=5)
        await engine.sync_activities()
    assert [f.cum_qty for f in await store.list_fills(ACCOUNT)] == [4, 10]
    assert await store.get_checkpoint(ACCOUNT, FEED_ACTIVITIES) == "20250602-a2"


async def test_an_order_ahead_of_the_host_clock_is_read_again_by_the_next_sync(
    store: Store,
) -> None:
    """Orders 75 s and 200 s ahead of the host's clock are refused for now and the orders
    checkpoint does not move past them (before, it moved to the newest one and the overlap no
    longer reached the first); the next sync after the clock passed them stores both."""
    orders = [
        order_json("o-0", T0),
        order_json("o-1", T0 + dt.timedelta(seconds=75)),
        order_json("o-2", T0 + dt.timedelta(seconds=200)),
    ]
    venue = PagedVenue(orders, [])
    clock = Clock(T0 + dt.timedelta(seconds=10))
    async with client_on(venue) as client:
        engine = SyncEngine(ACCOUNT, client, store, now=clock)
        report = await engine.sync_orders()
        assert report.quarantined == 2
        assert sorted((await store.dump(ACCOUNT))["orders"]) == ["o-0"]
        clock.at = T0 + dt.timedelta(minutes=10)
        await engine.sync_orders()
        checkpoint = await store.get_checkpoint(ACCOUNT, FEED_ORDERS)
    assert sorted((await store.dump(ACCOUNT))["orders"]) == ["o-0", "o-1", "o-2"]
    assert checkpoint is not None
    assert dt.datetime.fromisoformat(checkpoint) == T0 + dt.timedelta(seconds=200)


# --------------------------------------------------------------------------- item 5: absurd numbers


def _account(**changes: Any) -> dict[str, Any]:
    account: dict[str, Any] = json.loads((DATA / "http_get_v2_account.json").read_text())
    account.update(changes)
    return account


def _positions(**changes: Any) -> list[dict[str, Any]]:
    positions: list[dict[str, Any]] = json.loads((DATA / "http_get_v2_positions.json").read_text())
    positions[0].update(changes)
    return positions


@pytest.mark.parametrize("absurd", ["NaN", "1e400", "9" * 400, "Infinity"])
async def test_an_absurd_position_quantity_is_quarantined_and_the_account_sync_goes_on(
    store: Store, absurd: str
) -> None:
    """A position whose qty is NaN, infinite or beyond any real quantity is a quarantine row;
    the sync completes, the positions set the store held stays (a set without that symbol
    would close it), and the stored positions still read back."""
    good = _positions()
    venue = PagedVenue([], [], account=_account(), positions=good)
    async with client_on(venue) as client:
        engine = SyncEngine(ACCOUNT, client, store)
        await engine.sync_account()
        before = {p.symbol: p.qty for p in await store.positions(ACCOUNT)}
        venue.positions = _positions(qty=absurd)
        report = await engine.sync_account()
    assert report.quarantined == 1
    (row,) = await store.list_quarantine(ACCOUNT)
    assert (row.record_kind, row.record_key) == ("position", good[0]["symbol"])
    assert {p.symbol: p.qty for p in await store.positions(ACCOUNT)} == before


@pytest.mark.parametrize("absurd", ["NaN", "1e400", "9" * 400])
async def test_an_absurd_account_snapshot_is_quarantined_and_the_checkpoint_stays(
    store: Store, absurd: str
) -> None:
    """An account snapshot with an absurd cash figure is a quarantine row; the stored snapshot
    is the last good one and the account checkpoint does not move."""
    venue = PagedVenue([], [], account=_account(), positions=_positions())
    async with client_on(venue) as client:
        engine = SyncEngine(ACCOUNT, client, store)
        await engine.sync_account()
        checkpoint = await store.get_checkpoint(ACCOUNT, FEED_ACCOUNT)
        venue.account = _account(cash=absurd)
        report = await engine.sync_account()
    assert report.quarantined == 1
    (row,) = await store.list_quarantine(ACCOUNT)
    assert row.record_kind == "account"
    snapshot = await store.latest_snapshot(ACCOUNT)
    assert snapshot is not None
    assert snapshot.cash == _account_cash()
    assert await store.get_checkpoint(ACCOUNT, FEED_ACCOUNT) == checkpoint


def _account_cash() -> Any:
    from decimal import Decimal

    return Decimal(_account()["cash"])


# --------------------------------------------------------------------------- item 6: memory


async def test_the_map_of_leg_parents_is_bounded(store: Store) -> None:
    """However many bracket legs go through the engine, it keeps at most ``parents_kept`` leg ->
    parent links in memory; a forgotten leg's parent is read back from the store."""
    orders = []
    for i in range(30):
        parent = order_json(f"p-{i:02d}", T0 + dt.timedelta(seconds=i))
        parent["order_class"] = "bracket"
        leg = copy.deepcopy(parent)
        leg.update(id=f"l-{i:02d}", client_order_id=f"ai-l-{i:02d}", type="stop", stop_price="90")
        leg.pop("limit_price")
        leg["side"] = "sell"
        parent["legs"] = [leg]
        orders.append(parent)
    venue = PagedVenue(orders, [])
    async with client_on(venue) as client:
        engine = SyncEngine(
            ACCOUNT, client, store, now=Clock(T0 + dt.timedelta(days=1)), parents_kept=8
        )
        await engine.sync_orders()
        assert 0 < len(engine._parents) <= 8
        assert await engine._parent_of("l-00") == "p-00"
        assert len(engine._parents) <= 8


# --------------------------------------------------------------------------- item 3: the lock


class _LockWatchingVenue:
    """A broker with one filled order and nothing else, that notes whether the engine's write
    lock is held while reconciliation reads it."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        self.locked_while_read: list[bool] = []

    def _note(self) -> None:
        self.locked_while_read.append(self.engine._write_lock.locked())

    async def get_account(self) -> Any:
        self._note()
        from alpaca_integration.alpaca.parse import parse_account

        return parse_account(json.dumps(_account()).encode(), dt.datetime.now(dt.UTC))

    async def list_positions(self) -> list[Any]:
        self._note()
        return []

    async def iter_orders(self, **_: Any) -> Any:
        self._note()
        order = make_order(id="o-1", client_order_id="ai-o-1")
        yield order

    async def iter_activities(self, **_: Any) -> Any:
        self._note()
        for item in ():
            yield item


async def test_reconcile_reads_broker_and_store_and_repairs_under_the_engine_write_lock(
    store: Store,
) -> None:
    """With the monitor's wiring (``apply=engine.apply_reconciled, exclusive=engine.exclusive``)
    every broker read happens with the engine's write lock held (the stream's writes wait), and
    the repairs still go through the engine (no deadlock on the lock it holds)."""
    from alpaca_integration.checks.reconcile import reconcile

    engine = SyncEngine(ACCOUNT, _LockWatchingVenue(None), store)  # type: ignore[arg-type]
    venue = _LockWatchingVenue(engine)
    report = await reconcile(
        venue,  # type: ignore[arg-type]
        store,
        ACCOUNT,
        apply=engine.apply_reconciled,
        exclusive=engine.exclusive,
    )
    assert venue.locked_while_read
    assert all(venue.locked_while_read)
    assert not engine._write_lock.locked()
    assert "order_missing" in report.counts
    assert await store.get_order(ACCOUNT, "o-1") is not None


# --------------------------------------------------------------------------- item 6: paging


class _ManyOrdersVenue:
    """A broker with ``count`` filled orders (no activities: the fills are inferred), counting how
    many it has handed out."""

    def __init__(self, count: int) -> None:
        self.orders = [
            make_order(
                id=f"o-{i:03d}",
                client_order_id=f"ai-o-{i:03d}",
                status=OrderStatus.FILLED,
                filled_qty=Decimal(10),
                filled_avg_price=Decimal(100),
                filled_at=T0,
            )
            for i in range(count)
        ]
        self.handed_out = 0

    async def get_account(self) -> Any:
        from alpaca_integration.alpaca.parse import parse_account

        return parse_account(json.dumps(_account()).encode(), dt.datetime.now(dt.UTC))

    async def list_positions(self) -> list[Any]:
        return []

    async def iter_orders(self, **_: Any) -> Any:
        for order in self.orders:
            self.handed_out += 1
            yield order

    async def iter_activities(self, **_: Any) -> Any:
        for item in ():
            yield item


async def test_reconcile_reads_the_broker_history_a_page_at_a_time(store: Store) -> None:
    """With 12 orders and pages of 5, the repairs of a page are written before the next page is
    read, and no write carries more than a page: memory follows the page, not the history
    (before, all 12 were read before the one write). The outcome is the same: every order and
    its inferred fill stored, a second run clean."""
    from alpaca_integration.checks.reconcile import reconcile

    venue = _ManyOrdersVenue(12)
    writes: list[tuple[int, int]] = []

    async def apply(account: str, **rows: Any) -> Any:
        writes.append((len(rows.get("orders", ())), venue.handed_out))
        return await store.apply(account, **rows)

    report = await reconcile(venue, store, ACCOUNT, apply=apply, page_size=5)  # type: ignore[arg-type]
    order_writes = [(count, read) for count, read in writes if count]
    assert [count for count, _ in order_writes] == [5, 5, 2]
    assert [read for _, read in order_writes] == [5, 10, 12]
    assert report.counts["order_missing"] == 12
    assert report.counts["fill_inferred"] == 12
    assert len(await store.list_fills(ACCOUNT)) == 12
    again = await reconcile(venue, store, ACCOUNT, page_size=5)  # type: ignore[arg-type]
    assert set(again.counts) <= {"cash_drift"}
