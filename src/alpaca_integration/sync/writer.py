"""The sync engine's write path (``EngineCore``): serialised, shielded, validated, committed in
one transaction with its checkpoints, mirrored to the cache. ``rest.RestSyncs`` and
``engine.SyncEngine`` build on it; ``exclusive()`` lets reconciliation hold the write lock for
its whole read-compare-repair."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from alpaca_integration import models
from alpaca_integration._closing import cancel_until_ended
from alpaca_integration.models import AccountSnapshot, Fill, Order, Position, TradeUpdate
from alpaca_integration.storage.records import (
    ApplyBatch,
    ApplyResult,
    FillProgress,
    StreamPositions,
)
from alpaca_integration.sync import validation
from alpaca_integration.sync.join import (
    position_after_fill,
)
from alpaca_integration.sync.ports import SyncCache, SyncStore, VenueClient
from alpaca_integration.sync.refusals import (
    PARENTS_KEPT,
    Checkpoints,
    Refused,
    RefusedItem,
    Rows,
    UnreadableFrame,
)
from alpaca_integration.sync.report import ProgressCallback, SyncReport, utcnow

if TYPE_CHECKING:
    from alpaca_integration.alpaca.paging import BadItem

__all__ = ["EngineCore"]

log = logging.getLogger("alpaca_integration.sync.engine")

_T = TypeVar("_T")
# The engine whose write lock the current task (and the tasks it starts) holds (``exclusive``).
_HOLDER: contextvars.ContextVar[EngineCore | None] = contextvars.ContextVar(
    "sync_engine_exclusive", default=None
)


class EngineCore:
    """The engine's one write path: every write serialised by one lock and shielded from
    cancellation, validation and quarantine, the commit (rows and checkpoints in one
    transaction), the cache mirror, the positions stream fills move, the leg -> parent map.

    ``client`` is an ``AlpacaClient`` (or anything with the reads ``ports.VenueClient`` names),
    ``store`` a ``storage.Store`` (``ports.SyncStore``), ``cache`` a ``cache.Cache``
    (``ports.SyncCache``) or None.
    """

    def __init__(
        self,
        account: str,
        client: VenueClient,
        store: SyncStore,
        cache: SyncCache | None = None,
        *,
        order_overlap: dt.timedelta = dt.timedelta(seconds=30),
        batch_size: int = 500,
        validate: bool = True,
        now: Callable[[], dt.datetime] = utcnow,
        on_progress: ProgressCallback | None = None,
        parents_kept: int = PARENTS_KEPT,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.account = account
        self.client = client
        self.store = store
        self.cache = cache
        self.order_overlap = order_overlap
        self.batch_size = batch_size
        self.validate = validate
        self.now = now
        self.on_progress = on_progress
        self._write_lock = asyncio.Lock()
        self._inflight: set[asyncio.Task[Any]] = set()
        # leg id -> parent id: a leg's own stream events do not say whose leg it is. Bounded
        # (least recently used out); a forgotten leg's parent is read back from the store.
        self._parents: OrderedDict[str, str] = OrderedDict()
        self.parents_kept = parents_kept
        self._last_stream_at: dt.datetime | None = None
        self._fills_applied = 0
        # figures for the status line
        self.events_applied = 0
        self.last_sync_at: dt.datetime | None = None
        self.last_event_lag: float | None = None

    # ------------------------------------------------------------------ writes

    async def _shielded(self, factory: Callable[[], Awaitable[_T]]) -> _T:
        async def run() -> _T:
            if _HOLDER.get() is self:
                return await factory()  # inside ``exclusive()``: the lock is held for us
            async with self._write_lock:
                return await factory()

        task = asyncio.ensure_future(run())
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the engine's write lock for a whole read-compare-repair (reconciliation): the
        stream and the syncs wait, so what was read of the store is what the repairs are applied
        to; the engine's own writes from inside the block go through without waiting."""
        async with self._write_lock:
            token = _HOLDER.set(self)
            try:
                yield
            finally:
                _HOLDER.reset(token)

    async def drain(
        self,
        *,
        patience: float | None = None,
        on_stuck: Callable[[asyncio.Future[Any]], None] | None = None,
    ) -> None:
        """Wait for every write in flight (called on shutdown, after cancelling the loops).
        ``patience``: a write still running that many seconds later is handed to ``on_stuck``
        (to report where it waits) and cancelled (its transaction rolls back; the account's
        next catch-up reads the venue again), as ``_closing.cancel_until_ended``."""
        while self._inflight:
            writes = list(self._inflight)
            if patience is None:
                await asyncio.gather(*writes, return_exceptions=True)
                continue
            _, stuck = await asyncio.wait(writes, timeout=patience)
            if stuck:
                report = on_stuck or (lambda _: None)
                for write in stuck:
                    report(write)
                await cancel_until_ended(stuck, patience=patience, on_stuck=report)
                return

    async def _persist_quarantine(self, records: Sequence[Refused]) -> None:
        """Store the quarantined records (``quality.Quarantined``); never fails the sync."""
        for record in records:
            try:
                await self.store.insert_quarantine(
                    self.account,
                    record_kind=record.record_kind,
                    record_key=record.record_key,
                    reason=record.reason,
                    raw=record.raw,
                    source=record.source,
                )
            except Exception:
                log.exception("could not quarantine %s %s", record.record_kind, record.record_key)

    def _quarantine_hook(self, report: SyncReport) -> Callable[[BadItem], Awaitable[None]]:
        """The client's ``on_bad_item``: quarantine the unparseable item (serialised with the
        engine's writes), count it, and let the page's other items through."""

        async def quarantine(item: BadItem) -> None:
            report.quarantined += 1

            async def write() -> None:
                await self._persist_quarantine([RefusedItem(item)])

            await self._shielded(write)

        return quarantine

    async def quarantine_stream_frame(self, raw: bytes, reason: str) -> None:
        """Keep a trade_updates frame the stream could not read (its bytes verbatim, the reason)
        in ``quarantine``, serialised with the engine's writes; never raises (a failed write is
        logged: the gap the stream reports next still sends REST to re-read the venue)."""

        async def write() -> None:
            await self._persist_quarantine([UnreadableFrame(bytes(raw), reason)])

        await self._shielded(write)

    async def _validated(self, rows: Rows, report: SyncReport, source: str) -> Rows:
        """Drop (and quarantine) what validation refuses, for every record kind; one bad record
        never blocks the rest. A full positions set with a refused position is left out whole
        (applied without it, the symbol would be closed); so is a refused snapshot."""
        # Legs become rows of their own (parent_id kept), so one bad leg is quarantined alone
        # and never takes its parent and siblings with it.
        orders = [
            one if not one.legs else msgspec.structs.replace(one, legs=())
            for root in rows.orders
            for one in root.flatten()
        ]
        for order in orders:
            if order.parent_id is not None:
                self._remember_parent(order.id, order.parent_id)
        if not self.validate:
            return replace(rows, orders=orders)
        now = self.now()
        split_orders = validation.screen(orders, now, source=source)
        split_fills = validation.screen(rows.fills, now, source=source)
        split_activities = validation.screen(rows.activities, now, source=source)
        snapshots = [rows.snapshot] if rows.snapshot is not None else []
        split_snapshot = validation.screen(snapshots, now, source=source)
        split_positions = validation.screen(rows.positions or (), now, source=source)
        good_ids = {o.id for o in split_orders.good}
        events = [
            u
            for u in rows.position_events
            if u.order.id in good_ids and not validation.validate_trade_update(u, now)
        ]
        bad = [
            *split_orders.quarantined,
            *split_fills.quarantined,
            *split_activities.quarantined,
            *split_snapshot.quarantined,
            *split_positions.quarantined,
        ]
        if bad:
            report.quarantined += len(bad)
            # Under the write lock and shielded like every other write: a stop never loses it.
            await self._shielded(lambda: self._persist_quarantine(bad))
        return Rows(
            orders=split_orders.good,
            fills=split_fills.good,
            activities=split_activities.good,
            snapshot=split_snapshot.good[0] if split_snapshot.good else None,
            positions=None
            if rows.positions is None or split_positions.quarantined
            else split_positions.good,
            position_events=events,
            refused=bad,
        )

    async def _commit(
        self,
        report: SyncReport,
        *,
        orders: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        activities: Sequence[models.Activity] = (),
        snapshot: AccountSnapshot | None = None,
        positions: Sequence[Position] | None = None,
        positions_at: dt.datetime | None = None,
        checkpoints: Checkpoints | None = None,
        source: str = "rest",
        position_events: Sequence[TradeUpdate] = (),
    ) -> ApplyResult:
        """The one write path: validate, apply (rows + checkpoint in one transaction), mirror.

        ``position_events``: stream fill events whose ``position_qty`` may move a position. They
        are judged under the write lock against the store as it is then (see
        ``_stream_positions``), and only the symbols they move are written, in the batch's own
        transaction (``apply(position_updates=...)``): never a full set, so a holding this engine
        has not seen (a repair by reconciliation, a write by another process) is never closed by
        a stream event, and a crash never leaves a fill stored without its position.
        """
        screened = await self._validated(
            Rows(
                orders=orders,
                fills=fills,
                activities=activities,
                snapshot=snapshot,
                positions=positions,
                position_events=position_events,
            ),
            report,
            source,
        )
        marks = checkpoints(screened.refused) if callable(checkpoints) else checkpoints

        async def write() -> ApplyResult:
            return await self._apply(screened, positions_at, marks or {}, source)

        result = await self._shielded(write)
        report.orders_changed += result.orders
        report.fills_changed += result.fills
        report.activities_changed += result.activities
        report.positions_changed += result.positions
        report.fees_attached += result.fees
        if screened.fills:
            self._fills_applied += len(screened.fills)
        return result

    async def _apply(
        self,
        rows: Rows,
        positions_at: dt.datetime | None,
        checkpoints: Mapping[str, str],
        source: str,
    ) -> ApplyResult:
        """Under the write lock: ONE ``apply_batch`` (the positions the stream events move are
        judged inside its transaction, ``_stream_positions``), then the cache mirrored from the
        rows as that transaction committed them (read back inside it)."""
        batch = ApplyBatch(
            orders=rows.orders,
            fills=rows.fills,
            activities=rows.activities,
            snapshot=rows.snapshot,
            positions=rows.positions,
            positions_at=positions_at,
            checkpoints=checkpoints,
            source=models.DataSource(source),
            stream_positions=self._stream_positions(rows.position_events),
            read_back=self.cache is not None,
        )
        result = await self.store.apply_batch(self.account, batch)
        mirrored = rows.positions if result.positions_refreshed else None
        if result.position_symbols:
            # The cache holds whole position sets: mirror the store's set as committed (read in
            # the transaction, only when a symbol really moved).
            mirrored = result.committed_positions
        # Mirrored under the write lock, from the store's rows as committed: the cache then sees
        # commits in commit order, and a stale report (a late or duplicated event, an old page
        # that only added lineage) never overwrites a newer state in it.
        await self._mirror(
            orders=result.committed_orders,
            snapshot=rows.snapshot if result.account_updated else None,
            positions=mirrored,
            fills=rows.fills,
        )
        return result

    async def apply_reconciled(
        self,
        account: str,
        *,
        orders: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        activities: Sequence[models.Activity] = (),
        snapshot: AccountSnapshot | None = None,
        positions: Sequence[Position] | None = None,
        source: models.DataSource = models.DataSource.RECONCILE,
    ) -> ApplyResult:
        """Reconciliation's repairs through the one write path (``reconcile(apply=...)``):
        validated, serialised with the stream and the syncs, and mirrored to the cache, so a
        repair never leaves the cache behind the store."""
        if account != self.account:
            raise ValueError(f"this engine writes account {self.account!r}, not {account!r}")
        return await self._commit(
            SyncReport(self.account),
            orders=orders,
            fills=fills,
            activities=activities,
            snapshot=snapshot,
            positions=positions,
            source=source,
        )

    async def _mirror(
        self,
        *,
        orders: Sequence[Order],
        snapshot: AccountSnapshot | None,
        positions: Sequence[Position] | None,
        fills: Sequence[Fill],
    ) -> None:
        """Refresh the cache after a commit (each write announces itself on the account's
        channel). A cache failure never fails the sync: the cache marks itself stale and is
        rebuilt from the store at the next account sync."""
        if self.cache is None:
            return
        try:
            # One atomic write, one round trip: each part still announces itself as before.
            await self.cache.mirror(
                self.account,
                snapshot=snapshot,
                positions=None if positions is None else list(positions),
                orders=list(orders),
                fill_ids=[f.fill_id for f in fills],
            )
        except Exception:
            log.warning("cache refresh failed for account %s", self.account, exc_info=True)

    async def _rebuild_cache_if_needed(self) -> None:
        """After a cache outage (or on first use), rewrite the cache from the store."""
        if self.cache is None:
            return
        try:
            if not await self.cache.needs_rebuild(self.account):
                return
            from alpaca_integration.cache import rebuild_from_store

            await rebuild_from_store(self.cache, self.store, self.account)
            log.info("cache rebuilt from the store for account %s", self.account)
        except Exception:
            log.warning("cache rebuild failed for account %s", self.account, exc_info=True)

    def _stream_positions(self, updates: Sequence[TradeUpdate]) -> StreamPositions | None:
        """The positions stream fill events leave, by symbol (None: flat), each dated by this
        host's clock as it applies them: judged by the store inside the batch's transaction,
        under the account's lock, against what it holds then (``ApplyBatch.stream_positions``).

        Host-dated like the REST positions sets (``observed_at`` is when the client read them), so
        the store's "newer wins" between a stream update and a REST set compares one clock: with
        the venue's clock ahead, a venue-dated stream position would outrank every later REST
        set and stay wrong. Events of one batch are ordered among themselves by the venue's
        timestamps (one clock too).

        An event moves a position only when it advances its order: its ``order.filled_qty`` is
        strictly above what the store (then the events before it in this batch) had for that
        order, and its execution is not stored yet. A late or duplicated event, or one whose
        execution REST already brought, is a report of the past: its ``position_qty`` would set
        the position back, so it is ignored (the order and fill rows still go through the store's
        monotonic upserts). The previous position (for the average entry price) is the store's,
        never memory's, so repairs and other processes' writes are seen.
        """
        events = [u for u in updates if u.event.is_fill and u.position_qty is not None]
        if not events:
            return None
        applied_at = self.now()

        def judge(known: FillProgress) -> dict[str, tuple[Position | None, dt.datetime]]:
            return _judge_positions(events, known, applied_at)

        return StreamPositions(
            order_ids=frozenset(u.order.id for u in events),
            symbols=frozenset(u.order.symbol for u in events),
            judge=judge,
        )

    def _remember_parent(self, leg_id: str, parent_id: str) -> None:
        self._parents[leg_id] = parent_id
        self._parents.move_to_end(leg_id)
        while len(self._parents) > self.parents_kept:
            self._parents.popitem(last=False)

    async def _parent_of(self, order_id: str) -> str | None:
        """The parent of a leg seen before (in memory, else in the store); None for a root."""
        parent_id = self._parents.get(order_id)
        if parent_id is None:
            stored = await self.store.get_order(self.account, order_id, with_legs=False)
            if stored is not None and stored.parent_id is not None:
                parent_id = stored.parent_id
        if parent_id is not None:
            self._remember_parent(order_id, parent_id)
        return parent_id


def _judge_positions(
    events: Sequence[TradeUpdate], known: FillProgress, applied_at: dt.datetime
) -> dict[str, tuple[Position | None, dt.datetime]]:
    """``EngineCore._stream_positions``'s judge: pure, on the store's ``FillProgress``."""
    filled: dict[str, Decimal] = dict(known.filled_qty)
    executions = known.executions
    cum_qtys = known.cum_qtys
    current: dict[str, Position] = dict(known.positions)
    moves: dict[str, tuple[Position | None, dt.datetime]] = {}
    for update in events:
        order = update.order
        before = filled.get(order.id)
        if before is not None and order.filled_qty <= before:
            continue
        filled[order.id] = order.filled_qty
        if update.execution_id in executions or (order.id, order.filled_qty) in cum_qtys:
            continue
        earlier = moves.get(order.symbol)
        if earlier is not None and update.timestamp < earlier[1]:
            continue  # another order's later fill in this batch already moved the symbol
        derived = position_after_fill(current.get(order.symbol), update, applied_at)
        if derived is None:
            continue
        symbol, position = derived
        moves[symbol] = (position, update.timestamp)
        if position is None:
            current.pop(symbol, None)
        else:
            current[symbol] = position
    return {symbol: (position, applied_at) for symbol, (position, _) in moves.items()}
