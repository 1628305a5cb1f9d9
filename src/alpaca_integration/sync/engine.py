"""The sync engine: one ingestion path that keeps the store and the cache equal to the broker.

REST snapshots, REST pages and stream events all end in ``SyncEngine._commit``: validated, then
written by one ``Store.apply`` call whose checkpoint lands in the same transaction as the rows it
covers, then mirrored to the cache. The store's upserts are idempotent and monotonic, so replaying
a page or an event twice, or late, changes nothing.

Feeds and their checkpoints (``sync_checkpoints``):

* ``orders``: the newest paging time (``submitted_at`` or ``created_at``) of the top-level orders
  seen, never a leg's. An incremental sync asks for ``status=all``
  orders submitted after it minus a safety overlap, then refreshes every order the store still
  holds as open (updates to old orders do not show under ``after``): one ``status=open`` listing,
  then one ``GET /v2/orders/{root}?nested=true`` per bracket/OCO root still unexplained.
* ``activities``: the id of the last activity applied (``page_token``), fills and non-trade
  activities alike, read oldest first. FEE activities are joined to their FILL (see ``join``).

One bad item never blocks a REST page: the client hands every item it cannot parse (an unknown
order status, a malformed FILL) to the engine's ``on_bad_item`` hook, which writes it to
``quarantine`` with its raw bytes and the reason (idempotently: a replayed page adds no second
row) and counts it in ``SyncReport.quarantined``; the good items beside it are stored and paging
moves on past it. A trade_updates frame the stream cannot read reaches
``quarantine_stream_frame`` (kind ``trade_update``, source ``stream``) with its bytes as received.
* ``account``: the time of the last account snapshot + positions.
* ``stream``: the newest trade_updates event time applied.

Imports the package's models, errors, sync helpers and (lazily) quality and parse; the client
only for typing; never the CLI, Prefect or the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import msgspec

from alpaca_integration.errors import NotFoundError, ParseError
from alpaca_integration.models import (
    AccountSnapshot,
    Activity,
    DataSource,
    Fill,
    Order,
    OrderClass,
    Position,
    TradeUpdate,
)
from alpaca_integration.storage.records import ApplyBatch, ApplyResult
from alpaca_integration.sync import validation
from alpaca_integration.sync.join import (
    FeeAttachment,
    join_fees,
    max_submitted_at,
    position_after_fill,
)
from alpaca_integration.sync.ports import SyncCache, SyncStore, VenueClient
from alpaca_integration.sync.validation import Quarantined

__all__ = [
    "FEED_ACCOUNT",
    "FEED_ACTIVITIES",
    "FEED_ORDERS",
    "FEED_STREAM",
    "SyncEngine",
    "SyncReport",
]

log = logging.getLogger(__name__)

FEED_ORDERS = "orders"
FEED_ACTIVITIES = "activities"
FEED_ACCOUNT = "account"
FEED_STREAM = "stream"

if TYPE_CHECKING:
    from alpaca_integration.alpaca.paging import BadItem

_T = TypeVar("_T")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _read_ahead(source: AsyncIterator[_T], limit: int) -> AsyncIterator[_T]:
    """Iterate ``source`` while a background task fetches up to ``limit`` items ahead, so the
    next page's request (and its wait for rate budget) overlaps the current batch's write."""
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=max(1, limit))

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((True, item))
        except Exception as exc:
            await queue.put((False, exc))
            return
        await queue.put((False, None))

    task = asyncio.create_task(pump())
    try:
        while True:
            more, value = await queue.get()
            if more:
                yield value
                continue
            if value is not None:
                raise value
            return
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _activity_id(item: Fill | Activity) -> str | None:
    return item.activity_id if isinstance(item, Fill) else item.id


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass
class SyncReport:
    """What one sync (or catch-up) did: rows actually changed per kind, requests-free figures."""

    account: str
    orders_seen: int = 0
    orders_changed: int = 0
    fills_changed: int = 0
    activities_changed: int = 0
    positions_changed: int = 0
    quarantined: int = 0
    fees_attached: int = 0
    started_at: dt.datetime = field(default_factory=_utcnow)
    finished_at: dt.datetime | None = None

    @property
    def rows_changed(self) -> int:
        return (
            self.orders_changed
            + self.fills_changed
            + self.activities_changed
            + self.positions_changed
            + self.fees_attached
        )

    def merge(self, other: SyncReport) -> SyncReport:
        self.orders_seen += other.orders_seen
        self.orders_changed += other.orders_changed
        self.fills_changed += other.fills_changed
        self.activities_changed += other.activities_changed
        self.positions_changed += other.positions_changed
        self.quarantined += other.quarantined
        self.fees_attached += other.fees_attached
        self.finished_at = other.finished_at or self.finished_at
        return self


ProgressCallback = Callable[[str, int], None]
# A commit's checkpoints, or a function of the records validation refused that returns them (a
# feed's checkpoint never moves past a record refused for now only: ``Quarantined.deferred``).
Checkpoints = Mapping[str, str] | Callable[[Sequence[Quarantined]], Mapping[str, str]]
# How many leg -> parent links the engine keeps in memory (the store answers for the rest).
PARENTS_KEPT = 10_000


@dataclass(frozen=True)
class _Rows:
    """What one commit brings, before and after validation (``refused``: what it dropped)."""

    orders: Sequence[Order] = ()
    fills: Sequence[Fill] = ()
    activities: Sequence[Activity] = ()
    snapshot: AccountSnapshot | None = None
    positions: Sequence[Position] | None = None
    position_events: Sequence[TradeUpdate] = ()
    refused: Sequence[Quarantined] = ()


@dataclass
class _Hold:
    """One sync's hold on a feed's checkpoint: once a record is deferred (refused for a time
    ahead of this host's clock), the checkpoint stays before it for the rest of the sync, so the
    next sync reads it again (it is stored once the clock has passed it)."""

    held: bool = False

    def orders(self, newest: dt.datetime | None, refused: Sequence[Quarantined]) -> dict[str, str]:
        if self.held or _deferred(refused, "order"):
            self.held = True
            return {}
        return {FEED_ORDERS: newest.isoformat()} if newest is not None else {}

    def activities(
        self, page: Sequence[Fill | Activity], refused: Sequence[Quarantined]
    ) -> dict[str, str]:
        """The id of the page's last item before the first deferred one (all of it when none)."""
        if self.held:
            return {}
        deferred = {(q.record_kind, q.record_key) for q in _deferred(refused)}
        last: str | None = None
        for item in page:
            if (validation.record_kind(item), validation.record_key(item)) in deferred:
                self.held = True
                break
            last = _activity_id(item) or last
        return {FEED_ACTIVITIES: last} if last else {}


def _refused_kind(refused: Sequence[Quarantined], kind: str) -> bool:
    return any(q.record_kind == kind for q in refused)


def _deferred(refused: Sequence[Quarantined], kind: str | None = None) -> list[Quarantined]:
    """The refused records (of ``kind``) that may be accepted later (times ahead of the clock)."""
    return [q for q in refused if q.deferred and (kind is None or q.record_kind == kind)]


class _Refused(Protocol):
    """A record refused before storage, as ``quarantine`` keeps it."""

    @property
    def record_kind(self) -> str: ...

    @property
    def record_key(self) -> str | None: ...

    @property
    def reason(self) -> str: ...

    @property
    def raw(self) -> bytes: ...

    @property
    def source(self) -> str: ...


@dataclass(frozen=True)
class _RefusedItem:
    """A REST page item the client could not parse, in the shape ``_persist_quarantine`` writes."""

    item: BadItem
    source: str = "rest"

    @property
    def record_kind(self) -> str:
        return self.item.kind

    @property
    def record_key(self) -> str | None:
        return self.item.key

    @property
    def reason(self) -> str:
        return self.item.reason

    @property
    def raw(self) -> bytes:
        return self.item.raw


@dataclass(frozen=True)
class _QuarantinedEvent:
    """A stream event refused before storage, in the shape ``_persist_quarantine`` writes."""

    update: TradeUpdate
    reason: str
    record_kind: str = "trade_update"
    source: str = "stream"

    @property
    def record_key(self) -> str:
        return self.update.execution_id or self.update.order.id

    @property
    def raw(self) -> bytes:
        return self.update.raw


@dataclass(frozen=True)
class _UnreadableFrame:
    """A trade_updates frame the stream could not read, in the shape ``_persist_quarantine``
    writes: the frame's bytes as received and the parser's reason."""

    raw: bytes
    reason: str
    record_kind: str = "trade_update"
    source: str = "stream"

    @property
    def record_key(self) -> str:
        return _frame_key(self.raw)


def _frame_key(raw: bytes) -> str:
    """The quarantine key of an unreadable stream frame: the execution id when the frame names
    one (an execution happens once); else the order id with a digest of the frame (two different
    unreadable events of one order are two rows, the same frame twice is one); else, when no id
    can be read at all, ``sha256:`` and the start of the frame's digest (as ``quality`` does)."""
    digest = hashlib.sha256(raw).hexdigest()[:32]
    data = _frame_data(raw)
    if data is not None:
        execution_id = data.get("execution_id")
        if isinstance(execution_id, str) and execution_id:
            return execution_id[:256]
        order = data.get("order")
        order_id = order.get("id") if isinstance(order, dict) else None
        if isinstance(order_id, str) and order_id:
            return f"{order_id[:200]}#sha256:{digest[:16]}"
    return f"sha256:{digest}"


def _frame_data(raw: bytes) -> dict[str, Any] | None:
    """The ``data`` object of a stream frame (JSON or MessagePack), or None when unreadable."""
    for decode in (msgspec.json.decode, msgspec.msgpack.decode):
        try:
            document = decode(raw)
        except (msgspec.DecodeError, RecursionError, ValueError):  # the digest will do
            continue
        if isinstance(document, dict):
            data = document.get("data")
            return data if isinstance(data, dict) else None
        return None
    return None


class SyncEngine:
    """Keeps one account's store rows and cache entries equal to the broker.

    ``client`` is an ``AlpacaClient`` (or anything with the reads ``ports.VenueClient`` names),
    ``store`` a ``storage.Store`` (``ports.SyncStore``), ``cache`` a ``cache.Cache``
    (``ports.SyncCache``) or None. Safe to use from the stream consumer and
    the periodic syncs at once: writes are serialised per engine, and every write is shielded so a
    cancellation (SIGINT) lets the transaction in flight complete (``drain``).
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
        now: Callable[[], dt.datetime] = _utcnow,
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
            async with self._write_lock:
                return await factory()

        task = asyncio.ensure_future(run())
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait for every write in flight (called on shutdown, after cancelling the loops)."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def _persist_quarantine(self, records: Sequence[_Refused]) -> None:
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
                await self._persist_quarantine([_RefusedItem(item)])

            await self._shielded(write)

        return quarantine

    async def quarantine_stream_frame(self, raw: bytes, reason: str) -> None:
        """Keep a trade_updates frame the stream could not read (its bytes verbatim, the reason)
        in ``quarantine``, serialised with the engine's writes; never raises (a failed write is
        logged: the gap the stream reports next still sends REST to re-read the venue)."""

        async def write() -> None:
            await self._persist_quarantine([_UnreadableFrame(bytes(raw), reason)])

        await self._shielded(write)

    async def _validated(self, rows: _Rows, report: SyncReport, source: str) -> _Rows:
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
        return _Rows(
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
        activities: Sequence[Activity] = (),
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
            _Rows(
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
        orders, fills, activities = screened.orders, screened.fills, screened.activities
        snapshot, positions = screened.snapshot, screened.positions
        position_events = screened.position_events
        marks = checkpoints(screened.refused) if callable(checkpoints) else checkpoints

        async def write() -> ApplyResult:
            moves = await self._stream_positions(position_events) if position_events else {}
            batch = ApplyBatch(
                orders=orders,
                fills=fills,
                activities=activities,
                snapshot=snapshot,
                positions=positions,
                positions_at=positions_at,
                position_updates={s: p for s, (p, _) in moves.items()} if moves else None,
                position_updates_at={s: at for s, (_, at) in moves.items()} if moves else None,
                checkpoints=marks or {},
                source=DataSource(source),
            )
            result = await self.store.apply_batch(self.account, batch)
            mirrored = positions if result.positions_refreshed else None
            if result.position_symbols:
                # The cache holds whole position sets: mirror the store's set as committed (one
                # read, only when a symbol really moved).
                mirrored = await self.store.positions(self.account)
            # Mirrored under the write lock, from the store's rows as committed: the cache then
            # sees commits in commit order, and a stale report (a late or duplicated event, an old
            # page that only added lineage) never overwrites a newer state in it.
            changed = result.order_ids
            await self._mirror(
                orders=await self.store.list_orders(self.account, ids=changed) if changed else [],
                snapshot=snapshot if result.account_updated else None,
                positions=mirrored,
                fills=fills,
            )
            return result

        result = await self._shielded(write)
        report.orders_changed += result.orders
        report.fills_changed += result.fills
        report.activities_changed += result.activities
        report.positions_changed += result.positions
        report.fees_attached += result.fees
        if fills:
            self._fills_applied += len(fills)
        return result

    async def apply_reconciled(
        self,
        account: str,
        *,
        orders: Sequence[Order] = (),
        fills: Sequence[Fill] = (),
        activities: Sequence[Activity] = (),
        snapshot: AccountSnapshot | None = None,
        positions: Sequence[Position] | None = None,
        source: DataSource = DataSource.RECONCILE,
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
            if snapshot is not None:
                await self.cache.set_account(self.account, snapshot)
            if positions is not None:
                await self.cache.set_positions(self.account, list(positions))
            if orders:
                await self.cache.update_orders(self.account, list(orders))
            if fills:
                await self.cache.publish(
                    self.account,
                    {"kind": "fills", "ids": [f.fill_id for f in fills]},
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

    # ------------------------------------------------------------------ REST syncs

    async def sync_account(self) -> SyncReport:
        """Account snapshot and the full set of positions (3 requests at most)."""
        report = SyncReport(self.account)
        hook = self._quarantine_hook(report)
        bad_positions: list[BadItem] = []

        async def on_bad_position(item: BadItem) -> None:
            bad_positions.append(item)
            await hook(item)

        for _ in range(2):
            fills_before = self._fills_applied
            bad_positions.clear()
            snapshot = await self.client.get_account()
            positions = await self.client.list_positions(on_bad_item=on_bad_position)
            if self._fills_applied == fills_before:
                break
            # A fill landed while we were reading: the positions may predate it; read again.
        observed = snapshot.observed_at.isoformat()
        await self._commit(
            report,
            snapshot=snapshot,
            # A full set without the refused position would close it: keep the stored set.
            positions=None if bad_positions else positions,
            checkpoints=lambda refused: (
                {} if _refused_kind(refused, "account") else {FEED_ACCOUNT: observed}
            ),
        )
        await self._rebuild_cache_if_needed()
        report.finished_at = self.now()
        return report

    async def _apply_order_batch(
        self, report: SyncReport, batch: list[Order], newest: dt.datetime | None, hold: _Hold
    ) -> None:
        await self._commit(
            report, orders=batch, checkpoints=lambda refused: hold.orders(newest, refused)
        )
        report.orders_seen += len(batch)
        if self.on_progress is not None:
            self.on_progress(FEED_ORDERS, report.orders_seen)

    async def sync_orders(self) -> SyncReport:
        """Orders since the checkpoint (everything on the first run), then the open refresh."""
        report = SyncReport(self.account)
        checkpoint = _parse_time(await self.store.get_checkpoint(self.account, FEED_ORDERS))
        after = checkpoint - self.order_overlap if checkpoint is not None else None
        newest = checkpoint
        seen: set[str] = set()
        batch: list[Order] = []
        hold = _Hold()
        orders = self.client.iter_orders(
            status="all",
            nested=True,
            direction="asc",
            after=after,
            on_bad_item=self._quarantine_hook(report),
        )
        async for order in _read_ahead(orders, self.batch_size):
            if order.parent_id is not None:
                continue  # nested=true: a leg also arrives inside its parent
            batch.append(order)
            seen.update(o.id for o in order.flatten())
            if len(batch) >= self.batch_size:
                newest = max_submitted_at(batch, newest)
                await self._apply_order_batch(report, batch, newest, hold)
                batch = []
        if batch:
            newest = max_submitted_at(batch, newest)
            await self._apply_order_batch(report, batch, newest, hold)
        await self._refresh_open_orders(report, seen)
        report.finished_at = self.now()
        self.last_sync_at = report.finished_at
        return report

    async def _refresh_open_orders(self, report: SyncReport, seen: set[str]) -> None:
        stale: list[Order] = [
            o for o in await self.store.open_orders(self.account) if o.id not in seen
        ]
        if not stale:
            return
        batch: list[Order] = []
        on_bad_item = self._quarantine_hook(report)
        if len({o.parent_id or o.id for o in stale}) > 1:
            async for order in self.client.iter_orders(
                status="open", nested=True, on_bad_item=on_bad_item
            ):
                if order.parent_id is not None:
                    continue
                batch.append(order)
                seen.update(o.id for o in order.flatten())
        roots = sorted({o.parent_id or o.id for o in stale if o.id not in seen})
        for root in roots:
            try:
                fetched = await self.client.get_order(root, nested=True, on_bad_item=on_bad_item)
            except NotFoundError:
                log.warning("order %s is open in the store but unknown to the broker", root)
                continue
            if fetched is None:
                continue  # quarantined by the hook; the store keeps its last good copy
            batch.append(fetched)
            seen.update(o.id for o in fetched.flatten())
        if batch:
            await self._apply_order_batch(report, batch, None, _Hold())

    async def sync_activities(self) -> SyncReport:
        """Fills and non-trade activities after the checkpoint, oldest first, fees joined.

        The checkpoint never moves past a FEE whose fill has not been seen yet: such a fee is
        carried to the next page (where its FILL usually is) and the checkpoint stays put until it
        is joined, so a crash between pages cannot lose a fee. A fee still unmatched when the
        venue has nothing more to list has no FILL to join (Alpaca's aggregated fees): it stays a
        non-trade activity and the checkpoint moves on.
        """
        report = SyncReport(self.account)
        checkpoint = await self.store.get_checkpoint(self.account, FEED_ACTIVITIES)
        carried: list[Activity] = []
        page: list[Fill | Activity] = []
        last_id: str | None = None
        hold = _Hold()
        items = self.client.iter_activities(
            direction="asc",
            page_token=checkpoint or None,
            on_bad_item=self._quarantine_hook(report),
        )
        async for item in _read_ahead(items, self.batch_size):
            page.append(item)
            if len(page) >= self.batch_size:
                carried = await self._apply_activity_page(report, page, carried, hold)
                last_id = _activity_id(page[-1])
                page = []
        if page:
            carried = await self._apply_activity_page(report, page, carried, hold)
            last_id = _activity_id(page[-1])
        if carried and last_id and not hold.held:
            log.info(
                "%d FEE activities have no FILL to join (kept as activities only)", len(carried)
            )
            await self._commit(report, checkpoints={FEED_ACTIVITIES: last_id})
        report.finished_at = self.now()
        return report

    async def _apply_activity_page(
        self, report: SyncReport, page: list[Fill | Activity], carried: list[Activity], hold: _Hold
    ) -> list[Activity]:
        """Apply one page; returns the FEE activities still waiting for their fill.

        The page's rows go first: storing a FEE activity makes the store recompute the fee of its
        execution when that fill is stored already (an earlier page, or the stream), and
        ``ApplyResult.fees`` counts only fees that actually changed, so a replay reports 0. Then
        ``attach_fee`` tells, for each fee whose FILL was not in this page, whether that fill is
        stored; the checkpoint moves only once none is missing (in the same transaction as the
        page when no fee had to be looked up, else in a second one: a crash in between replays
        the page, which changes nothing). A record refused for a time ahead of this host's clock
        holds the checkpoint before it (``_Hold``).
        """
        joined = join_fees([*carried, *page])
        attachments = joined.fee_attachments
        marks: dict[str, str] = {}

        def checkpoints(refused: Sequence[Quarantined]) -> dict[str, str]:
            marks.update(hold.activities(page, refused))
            return {} if attachments else marks

        await self._commit(
            report, fills=joined.fills, activities=joined.activities, checkpoints=checkpoints
        )
        unresolved: set[tuple[str, dt.datetime]] = set()
        for fee in attachments:

            async def attach(fee: FeeAttachment = fee) -> bool:
                return await self.store.attach_fee(
                    self.account, fee.order_id, fee.transaction_time, fee.amount
                )

            # True only says the fill is stored: the fee itself was set by the commit above.
            if not await self._shielded(attach):
                unresolved.add((fee.order_id, fee.transaction_time))
        still_carried = [
            a
            for a in joined.activities
            if a.activity_type.upper() == "FEE" and (a.order_id, a.transaction_time) in unresolved
        ]
        if attachments and marks and not still_carried:
            await self._commit(report, checkpoints=marks)
        if self.on_progress is not None:
            self.on_progress(FEED_ACTIVITIES, len(page))
        return still_carried

    async def sync_all(self) -> SyncReport:
        """Orders, activities, then account and positions: a full catch-up."""
        report = await self.sync_orders()
        report.merge(await self.sync_activities())
        report.merge(await self.sync_account())
        self.last_sync_at = self.now()
        return report

    # ------------------------------------------------------------------ stream

    async def _stream_positions(
        self, updates: Sequence[TradeUpdate]
    ) -> dict[str, tuple[Position | None, dt.datetime]]:
        """The positions stream fill events leave, by symbol (None: flat), each dated by its
        event's venue timestamp. Called under the write lock, before the batch is applied.

        An event moves a position only when it advances its order: its ``order.filled_qty`` is
        strictly above what the store (then the events before it in this batch) had for that
        order, and its execution is not stored yet. A late or duplicated event, or one whose
        execution REST already brought, is a report of the past: its ``position_qty`` would set
        the position back, so it is ignored (the order and fill rows still go through the store's
        monotonic upserts). The previous position (for the average entry price) is read from the
        store, never from memory, so repairs and other processes' writes are seen.
        """
        events = [u for u in updates if u.event.is_fill and u.position_qty is not None]
        if not events:
            return {}
        # One read for the whole batch: stored progress of its orders, positions of its symbols.
        known = await self.store.fill_progress(
            self.account, {u.order.id for u in events}, {u.order.symbol for u in events}
        )
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
            derived = position_after_fill(current.get(order.symbol), update, update.timestamp)
            if derived is None:
                continue
            symbol, position = derived
            moves[symbol] = (position, update.timestamp)
            if position is None:
                current.pop(symbol, None)
            else:
                current[symbol] = position
        return moves

    async def apply_trade_update(self, update: TradeUpdate) -> SyncReport:
        """Apply one trade_updates event: order status, fill row, position, cache, notification."""
        return await self.apply_trade_updates([update])

    async def apply_trade_updates(self, updates: Sequence[TradeUpdate]) -> SyncReport:
        """Apply events in arrival order in ONE transaction (the stream consumer passes what
        queued up while the previous write ran): orders, fills, the stream checkpoint and the
        positions the batch's fills move (only those symbols, dated by the venue's event time,
        only from events that advance their order: ``_stream_positions``); then the cache and the
        notifications."""
        from alpaca_integration.alpaca.parse import fill_from_trade_update

        report = SyncReport(self.account)
        if not updates:
            return report
        orders: list[Order] = []
        fills: list[Fill] = []
        refused: list[_QuarantinedEvent] = []
        stream_at = self._last_stream_at
        for update in updates:
            # A parent's event nests its legs: learn them before a leg's own event in this batch.
            for leg in update.order.flatten()[1:]:
                if leg.parent_id is not None:
                    self._remember_parent(leg.id, leg.parent_id)
        for update in updates:
            try:
                fill = fill_from_trade_update(update)
            except ParseError as exc:
                # A fill event without its execution fields: keep the order's update, quarantine
                # the event; the REST FILL activity will bring the execution.
                fill = None
                refused.append(_QuarantinedEvent(update, str(exc)))
            if fill is not None:
                fills.append(fill)
            order = update.order
            if order.parent_id is None and order.order_class is not OrderClass.SIMPLE:
                parent_id = await self._parent_of(order.id)
                if parent_id is not None:
                    order = msgspec.structs.replace(order, parent_id=parent_id)
            orders.append(order)
            if stream_at is None or update.timestamp > stream_at:
                stream_at = update.timestamp
        if refused:
            report.quarantined += len(refused)
            await self._shielded(lambda: self._persist_quarantine(refused))
        assert stream_at is not None
        await self._commit(
            report,
            orders=orders,
            fills=fills,
            checkpoints={FEED_STREAM: stream_at.isoformat()},
            source="stream",
            position_events=updates,
        )
        self._last_stream_at = stream_at
        self.events_applied += len(updates)
        self.last_event_lag = max(0.0, (self.now() - updates[-1].timestamp).total_seconds())
        return report

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

    async def record_gap(
        self,
        gap_from: dt.datetime,
        gap_to: dt.datetime,
        reason: str,
        *,
        closed_by: str,
        rows_recovered: int,
    ) -> None:
        """One ``stream_gaps`` row: the interval the stream missed and how it was closed."""

        async def write() -> int:
            return await self.store.insert_stream_gap(
                self.account,
                gap_from=gap_from,
                gap_to=gap_to,
                reason=reason,
                closed_by=closed_by,
                rows_recovered=rows_recovered,
            )

        await self._shielded(write)

    async def catch_up(self) -> SyncReport:
        """REST catch-up after a (re)connect or a silence: everything since the checkpoints."""
        started = time.perf_counter()
        report = await self.sync_all()
        log.info(
            "catch-up for %s: %d rows changed in %.2fs",
            self.account,
            report.rows_changed,
            time.perf_counter() - started,
        )
        return report

    async def open_order_statuses(self) -> dict[str, str]:
        """Status of every order the store holds as open (for the silence watchdog)."""
        return {o.id: o.status.value for o in await self.store.open_orders(self.account)}

    async def has_open_orders(self) -> bool:
        with contextlib.suppress(Exception):
            return bool(await self.store.open_orders(self.account))
        return False
