"""The sync engine: one ingestion path that keeps the store and the cache equal to the broker.

The engine is built in layers a reader can hold one at a time: ``report`` (feeds, ``SyncReport``),
``refusals`` (what validation refused and how it holds a checkpoint back), ``writer.EngineCore``
(the write lock, validation, the commit, the cache mirror), ``rest.RestSyncs`` (the REST syncs)
and, here, ``SyncEngine`` (stream events, gaps, catch-up).

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

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Sequence

import msgspec

from alpaca_integration.errors import ParseError
from alpaca_integration.models import (
    Fill,
    Order,
    OrderClass,
    TradeUpdate,
)
from alpaca_integration.sync.refusals import QuarantinedEvent
from alpaca_integration.sync.report import (
    FEED_ACCOUNT,
    FEED_ACTIVITIES,
    FEED_ORDERS,
    FEED_STREAM,
    SyncReport,
)
from alpaca_integration.sync.rest import RestSyncs

__all__ = [
    "FEED_ACCOUNT",
    "FEED_ACTIVITIES",
    "FEED_ORDERS",
    "FEED_STREAM",
    "SyncEngine",
    "SyncReport",
]

log = logging.getLogger(__name__)


class SyncEngine(RestSyncs):
    """Keeps one account's store rows and cache entries equal to the broker.

    ``client`` is an ``AlpacaClient`` (or anything with the reads ``ports.VenueClient`` names),
    ``store`` a ``storage.Store`` (``ports.SyncStore``), ``cache`` a ``cache.Cache``
    (``ports.SyncCache``) or None. Safe to use from the stream consumer and
    the periodic syncs at once: writes are serialised per engine, and every write is shielded so a
    cancellation (SIGINT) lets the transaction in flight complete (``drain``).
    """

    # ------------------------------------------------------------------ stream

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
        refused: list[QuarantinedEvent] = []
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
                refused.append(QuarantinedEvent(update, str(exc)))
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
