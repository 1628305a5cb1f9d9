"""The activities event stream as a second real-time source beside trade_updates.

``ActivityStreamIngestor`` drives an ``alpaca.events.ActivityEventsStream`` (which owns the
HTTP connection, the SSE decoding, reconnects with backoff and the resume by ``since_id``) and
adds what the product needs on top:

* every event goes through the engine's one write path (``SyncEngine._commit``, as a REST
  activity page does: fees joined to their FILL by ``join.join_fees``, then ``attach_fee`` for a
  fee whose fill came earlier), with the id of the last event of the batch as the
  ``activity_events`` checkpoint in the same transaction;
* it starts from that stored checkpoint, so a restarted monitor resumes where the last one
  stopped, and the stream itself resumes from the last event it yielded after every reconnect;
* dedupe: a FILL event is a ``Fill`` with the execution id and the order's ``cum_qty``; the store
  keeps one row per (order, cum_qty) and merges the trade_updates fill and the REST FILL
  activity of the same execution into it, so a fill never counts twice; a non-trade activity
  upserts by its REST activity id; a replayed or duplicated event changes nothing;
* when no event id is known (first run, or the venue refused the stored one) the stream cannot
  replay: after connecting, a REST catch-up of the activities (``sync_activities``) reads what
  came before;
* one ``stream_gaps`` row per interval without a connection (reason prefixed ``activities
  stream:``), closed by ``since_id_replay`` with the rows the replay changed, or by
  ``rest_catch_up``;
* an unreadable event is kept in ``quarantine`` (kind ``activity_event``) with its bytes;
* HTTP 403/404 (the endpoint is a beta): one WARNING line, ``available`` turns False and the
  ingestor ends; the monitor's periodic REST paging keeps the activities up to date.

A factory is called as ``factory(since_id, on_connected, on_gap, on_bad_frame)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from alpaca_integration.alpaca.events import ActivityStreamUnavailable
from alpaca_integration.alpaca.parse_events import ActivityEvent
from alpaca_integration.sync.batches import apply_isolating, consume_in_batches
from alpaca_integration.sync.engine import SyncEngine, SyncReport
from alpaca_integration.sync.join import FeeAttachment, join_fees
from alpaca_integration.sync.refusals import UnreadableFrame
from alpaca_integration.sync.stream import GapRecord

__all__ = [
    "FEED_ACTIVITY_EVENTS",
    "ActivityEventSource",
    "ActivityStreamIngestor",
    "apply_activity_events",
    "default_activity_stream_factory",
]

log = logging.getLogger(__name__)

FEED_ACTIVITY_EVENTS = "activity_events"
# A replay goes out at once after the reconnect; this long without an event means it is over.
REPLAY_SETTLE_SECONDS = 5.0


class ActivityEventSource(Protocol):
    """What ``alpaca.events.ActivityEventsStream`` offers the ingestor."""

    def events(self) -> AsyncIterator[ActivityEvent]: ...

    async def aclose(self) -> None: ...


ResumedCallback = Callable[[bool], Awaitable[None]]
GapCallback = Callable[[dt.datetime, dt.datetime, str], Awaitable[None]]
BadFrameCallback = Callable[[bytes, str], Awaitable[None]]
ActivityStreamFactory = Callable[
    [str | None, ResumedCallback, GapCallback, BadFrameCallback], ActivityEventSource
]


async def apply_activity_events(engine: SyncEngine, events: Sequence[ActivityEvent]) -> SyncReport:
    """Apply a batch of activity events through the engine's one write path, with the last
    event's id as the ``activity_events`` checkpoint in the same transaction."""
    report = SyncReport(engine.account)
    if not events:
        return report
    joined = join_fees([event.item for event in events])
    await engine._commit(
        report,
        fills=joined.fills,
        activities=joined.activities,
        checkpoints={FEED_ACTIVITY_EVENTS: events[-1].event_id},
        source="stream",
    )
    for fee in joined.fee_attachments:
        # The fee of a fill stored by an earlier batch (or another source).
        async def attach(fee: FeeAttachment = fee) -> bool:
            return await engine.store.attach_fee(
                engine.account, fee.order_id, fee.transaction_time, fee.amount
            )

        await engine._shielded(attach)
    return report


@dataclasses.dataclass(eq=False, repr=False)
class ActivityStreamIngestor:
    """Consumes one account's activities event stream into its ``SyncEngine`` until stopped."""

    engine: SyncEngine
    stream_factory: ActivityStreamFactory
    _: dataclasses.KW_ONLY
    max_batch: int = 100
    replay_settle: float = REPLAY_SETTLE_SECONDS

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.available = True
        self.unavailable_reason: str | None = None
        self.events_applied = 0
        self.events_failed = 0
        self.gaps_recorded = 0
        self.frames_quarantined = 0
        self.catch_ups = 0
        self._stream: ActivityEventSource | None = None
        self._pending_gaps: list[GapRecord] = []
        self._replay_rows = 0
        self._replaying = False
        self._settle: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return bool(getattr(self._stream, "connected", False))

    # ------------------------------------------------------------------ callbacks

    async def _on_connected(self, resumed: bool) -> None:
        if resumed:
            # The venue replays everything after since_id first: the gap closes once it is in.
            self._replaying, self._replay_rows = True, 0
            self._restart_settle()
            return
        # No event id to resume from: what happened before this connection comes over REST.
        await self._rest_catch_up()

    async def _on_gap(self, gap_from: dt.datetime, gap_to: dt.datetime, reason: str) -> None:
        self._pending_gaps.append(GapRecord(gap_from, gap_to, f"activities stream: {reason}"))
        if gap_from == gap_to:
            # An unreadable event on a live connection: the REST catch-up re-reads the venue.
            await self._rest_catch_up()

    async def _rest_catch_up(self) -> None:
        """Read the activities over REST and close the pending gaps with it. A failure is
        logged, never ends the stream: the gaps stay pending and the periodic REST paging
        reads the same activities."""
        async with self._lock:
            self.catch_ups += 1
            try:
                report = await self.engine.sync_activities()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("REST catch-up of the activities failed for %s", self.engine.account)
                return
            await self._flush_gaps("rest_catch_up", report.rows_changed)

    async def _on_bad_frame(self, raw: bytes, reason: str) -> None:
        frame = UnreadableFrame(bytes(raw), reason, record_kind="activity_event")

        async def write() -> None:
            await self.engine._persist_quarantine([frame])

        try:
            await self.engine._shielded(write)
            self.frames_quarantined += 1
        except Exception:
            log.exception("could not quarantine an unreadable activity event")

    def _restart_settle(self) -> None:
        if self._settle is not None:
            self._settle.cancel()
        self._settle = asyncio.create_task(self._settle_replay())

    async def _settle_replay(self) -> None:
        await asyncio.sleep(self.replay_settle)
        async with self._lock:
            if self._replaying:
                self._replaying = False
                await self._flush_gaps("since_id_replay", self._replay_rows)

    async def _flush_gaps(self, closed_by: str, rows: int) -> None:
        gaps, self._pending_gaps = self._pending_gaps, []
        for gap in gaps:
            try:
                await self.engine.record_gap(
                    gap.gap_from, gap.gap_to, gap.reason, closed_by=closed_by, rows_recovered=rows
                )
                self.gaps_recorded += 1
            except Exception:
                log.exception("could not record the activities stream gap %s", gap)

    # ------------------------------------------------------------------ loops

    async def _read(self, queue: asyncio.Queue[ActivityEvent]) -> None:
        since_id = await self.engine.store.get_checkpoint(self.engine.account, FEED_ACTIVITY_EVENTS)
        self._stream = self.stream_factory(
            since_id or None, self._on_connected, self._on_gap, self._on_bad_frame
        )
        try:
            async for event in self._stream.events():
                await queue.put(event)
        finally:
            with contextlib.suppress(Exception):
                await self._stream.aclose()

    async def _apply(self, batch: list[ActivityEvent]) -> None:
        async def apply(events: list[ActivityEvent]) -> None:
            report = await apply_activity_events(self.engine, events)
            self.events_applied += len(events)
            if self._replaying:
                self._replay_rows += report.rows_changed
                self._restart_settle()

        def failed(event: ActivityEvent) -> None:
            # One bad event never stops the stream; the periodic REST paging repairs it.
            self.events_failed += 1
            log.exception("could not apply the activity event %s", event.event_id)

        await apply_isolating(apply, batch, failed)

    async def run(self) -> None:
        """Consume until cancelled, or until the venue says the stream is not offered."""
        name = f"activities-{self.engine.account}"
        try:
            await consume_in_batches(self._read, self._apply, max_batch=self.max_batch, name=name)
        except ActivityStreamUnavailable as exc:
            self.available = False
            self.unavailable_reason = str(exc)
            log.warning(
                "account %r: %s; falling back to REST paging of the activities",
                self.engine.account,
                exc,
            )
        finally:
            if self._settle is not None:
                self._settle.cancel()
                await asyncio.gather(self._settle, return_exceptions=True)
            if self._replaying and self._pending_gaps:
                # Stopped while a replay was settling: what it brought in closed the gap.
                self._replaying = False
                await self._flush_gaps("since_id_replay", self._replay_rows)


def default_activity_stream_factory(
    key_id: str, secret_key: str, base_url: str, **options: Any
) -> ActivityStreamFactory:
    """A factory building the package's ``ActivityEventsStream`` with the ingestor's callbacks."""

    def build(
        since_id: str | None,
        on_connected: ResumedCallback,
        on_gap: GapCallback,
        on_bad_frame: BadFrameCallback,
    ) -> ActivityEventSource:
        from alpaca_integration.alpaca.events import ActivityEventsStream

        return ActivityEventsStream(
            key_id,
            secret_key,
            base_url,
            since_id=since_id,
            on_connected=on_connected,
            on_gap=on_gap,
            on_bad_frame=on_bad_frame,
            **options,
        )

    return build
