"""Stream ingestion: trade_updates events applied as they arrive, with REST catch-up for gaps.

``StreamIngestor`` drives an ``alpaca.stream.TradeUpdatesStream`` (which owns the WebSocket,
authentication, reconnects with backoff and jitter, the one-connection rule and the ~90 s wait after
an unclean drop). This module adds what the product needs on top:

* every event goes through ``SyncEngine.apply_trade_update`` (the one ingestion path);
* after every (re)connect (``on_connected``) a REST catch-up from the checkpoints, because Alpaca
  does not replay what happened while the connection was down;
* a watchdog for a connected-but-silent stream: when orders are open and nothing has arrived for
  ``silence_timeout`` seconds, a REST catch-up; if it recovers rows, the silence was a real gap;
* one ``stream_gaps`` row per gap (from, to, reason, closed_by, rows_recovered);
* every frame the stream cannot read (``on_bad_frame``) kept in ``quarantine`` with its bytes
  and the reason (``SyncEngine.quarantine_stream_frame``), before its instant gap is reported;
* a record of its stream sessions: when the stream is closed again and again right after it
  connects, a WARNING naming the likely cause (another monitor or program streaming with the same
  API key: the venue keeps one trade_updates connection per key and closes the older one), also
  shown as :attr:`StreamIngestor.stream_warning` on the status line.

A stream factory is called as ``factory(on_connected, on_gap, on_bad_frame)``.

Imports the sync engine and models only; the stream class is passed in (or built lazily).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from alpaca_integration._closing import raise_if_cancelling
from alpaca_integration.models import TradeUpdate
from alpaca_integration.sync.batches import apply_isolating, consume_in_batches
from alpaca_integration.sync.engine import SyncEngine, SyncReport

__all__ = [
    "SHORT_SESSIONS_TO_WARN",
    "SHORT_SESSION_SECONDS",
    "GapRecord",
    "SessionLog",
    "StreamIngestor",
    "TradeUpdateSource",
    "default_stream_factory",
]

log = logging.getLogger(__name__)


class TradeUpdateSource(Protocol):
    """What ``alpaca.stream.TradeUpdatesStream`` offers the ingestor."""

    def updates(self) -> AsyncIterator[TradeUpdate]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class GapRecord:
    gap_from: dt.datetime
    gap_to: dt.datetime
    reason: str


ConnectedCallback = Callable[[], Awaitable[None]]
GapCallback = Callable[[dt.datetime, dt.datetime, str], Awaitable[None]]
BadFrameCallback = Callable[[bytes, str], Awaitable[None]]
StreamFactory = Callable[[ConnectedCallback, GapCallback, BadFrameCallback], TradeUpdateSource]

# A session that ends sooner than this after connecting was cut short; this many in a row are no
# accident.
SHORT_SESSION_SECONDS = 30.0
SHORT_SESSIONS_TO_WARN = 3


class SessionLog:
    """The stream's sessions: how many in a row ended within :data:`SHORT_SESSION_SECONDS` of
    connecting, and the warning to give when that keeps happening."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.started_at: dt.datetime | None = None
        self.short_in_a_row = 0
        self.warning: str | None = None

    def connected(self) -> None:
        self.started_at = dt.datetime.now(dt.UTC)

    def ended(self, last_alive: dt.datetime, reason: str) -> str | None:
        """Record the end of the current session; the warning to log now, if any."""
        if self.started_at is None:
            return None
        lasted = (last_alive - self.started_at).total_seconds()
        self.started_at = None
        if lasted >= SHORT_SESSION_SECONDS:
            self.short_in_a_row, self.warning = 0, None
            return None
        self.short_in_a_row += 1
        if self.short_in_a_row < SHORT_SESSIONS_TO_WARN:
            return None
        self.warning = (
            f"account {self.account!r}: the trade_updates stream was closed {self.short_in_a_row} "
            f"times in a row within {SHORT_SESSION_SECONDS:g}s of connecting (last: {reason}). "
            "Likely cause: another monitor or program is streaming with the same API key; the "
            "venue keeps one stream connection per key and closes the older one, so the two keep "
            "kicking each other off (events are caught up over REST after each reconnect). Run "
            "one monitor per account"
        )
        # Loud, not a flood: again every few cut-short sessions while it lasts.
        return self.warning if self.short_in_a_row % SHORT_SESSIONS_TO_WARN == 0 else None


class StreamIngestor:
    """Consumes one account's trade_updates into its ``SyncEngine`` until stopped."""

    def __init__(
        self,
        engine: SyncEngine,
        stream_factory: StreamFactory,
        *,
        silence_timeout: float = 30.0,
        max_batch: int = 100,
    ) -> None:
        if silence_timeout <= 0:
            raise ValueError("silence_timeout must be > 0 seconds")
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch = max_batch
        self.engine = engine
        self.stream_factory = stream_factory
        self.silence_timeout = silence_timeout
        self.connects = 0
        self.gaps_recorded = 0
        self.events_failed = 0
        self.frames_quarantined = 0
        self._last_activity = time.monotonic()
        self._last_activity_at = engine.now()
        self._pending_gaps: list[GapRecord] = []
        self._last_catch_up: tuple[dt.datetime, SyncReport] | None = None
        self._catch_up_lock = asyncio.Lock()
        self._stream: TradeUpdateSource | None = None
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._side_catch_up: asyncio.Task[None] | None = None
        self._catch_up_again = False
        self.catch_ups = 0
        self.sessions = SessionLog(engine.account)

    # ------------------------------------------------------------------ callbacks

    @property
    def connected(self) -> bool:
        """Whether the stream is connected and listening right now."""
        return bool(getattr(self._stream, "connected", False))

    @property
    def stream_warning(self) -> str | None:
        """Why the stream keeps being cut short, while it does (see :class:`SessionLog`)."""
        return self.sessions.warning

    def add_gap(self, gap_from: dt.datetime, gap_to: dt.datetime, reason: str) -> None:
        """A gap known before the stream starts (e.g. an account taken over from a monitor that
        died): recorded, with the rows it recovered, by the first connect's catch-up."""
        self._pending_gaps.append(GapRecord(gap_from, gap_to, reason))

    async def _on_connected(self) -> None:
        self.connects += 1
        self.sessions.connected()
        self._touch()
        await self._catch_up_and_close_gaps("rest_catch_up")

    async def _on_gap(self, gap_from: dt.datetime, gap_to: dt.datetime, reason: str) -> None:
        self._pending_gaps.append(GapRecord(gap_from, gap_to, reason))
        if gap_from != gap_to:
            # A reconnect's gap: the previous session ended at gap_from.
            warning = self.sessions.ended(gap_from, reason)
            if warning is not None:
                log.warning("%s", warning)
        if gap_from == gap_to:
            # An event lost on a live connection (unreadable frame): no reconnect will follow,
            # so catch up now, beside the stream, rather than at the next periodic sync.
            self._schedule_catch_up()
            return
        # The stream may report the gap after on_connected already caught up past it.
        if self._last_catch_up is not None and self._last_catch_up[0] >= gap_to:
            await self._flush_gaps(self._last_catch_up[1], "rest_catch_up")

    async def _on_bad_frame(self, raw: bytes, reason: str) -> None:
        # Awaited before the stream reports the frame's gap, so the row exists before the
        # catch-up that closes it; the engine's write lock orders it with the event writes.
        await self.engine.quarantine_stream_frame(raw, reason)
        self.frames_quarantined += 1

    def _schedule_catch_up(self) -> None:
        """One catch-up beside the stream for however many lost events: while one runs, more
        lost events ask for ONE more after it (it may have read the venue before they happened),
        so a burst of 50 unreadable frames costs at most two catch-ups, not 50."""
        if self._side_catch_up is not None and not self._side_catch_up.done():
            self._catch_up_again = True
            return
        task = asyncio.create_task(self._side_catch_ups())
        self._side_catch_up = task
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _side_catch_ups(self) -> None:
        while True:
            self._catch_up_again = False
            await self._catch_up_and_close_gaps("rest_catch_up")
            if not self._catch_up_again:
                return

    async def _catch_up_and_close_gaps(self, closed_by: str) -> SyncReport:
        async with self._catch_up_lock:
            self.catch_ups += 1
            report = await self.engine.catch_up()
            self._last_catch_up = (self.engine.now(), report)
            await self._flush_gaps(report, closed_by)
            return report

    async def _flush_gaps(self, report: SyncReport, closed_by: str) -> None:
        gaps, self._pending_gaps = self._pending_gaps, []
        for gap in gaps:
            try:
                await self.engine.record_gap(
                    gap.gap_from,
                    gap.gap_to,
                    gap.reason,
                    closed_by=closed_by,
                    rows_recovered=report.rows_changed,
                )
                self.gaps_recorded += 1
            except Exception:
                log.exception("could not record the stream gap %s", gap)

    def _touch(self) -> None:
        self._last_activity = time.monotonic()
        self._last_activity_at = self.engine.now()

    # ------------------------------------------------------------------ loops

    def _build_stream(self) -> TradeUpdateSource:
        return self.stream_factory(self._on_connected, self._on_gap, self._on_bad_frame)

    async def _read(self, queue: asyncio.Queue[TradeUpdate]) -> None:
        self._stream = self._build_stream()
        try:
            async for update in self._stream.updates():
                self._touch()
                await queue.put(update)
        finally:
            with contextlib.suppress(Exception):
                await self._stream.aclose()

    async def _consume(self) -> None:
        """Apply events as they arrive; what queued up during a write goes in the next one."""
        await consume_in_batches(
            self._read, self._apply, max_batch=self.max_batch, name=f"read-{self.engine.account}"
        )

    async def _apply(self, batch: list[TradeUpdate]) -> None:
        def failed(update: TradeUpdate) -> None:
            # One bad event never stops the stream; the next REST sync repairs its order.
            self.events_failed += 1
            log.exception("could not apply a trade update for order %s", update.order.id)

        await apply_isolating(self.engine.apply_trade_updates, batch, failed)

    async def _watch_silence(self) -> None:
        while True:
            raise_if_cancelling()  # one swallowed below (``_closing``) still ends the loop
            await asyncio.sleep(self.silence_timeout / 2)
            silent_for = time.monotonic() - self._last_activity
            if silent_for < self.silence_timeout or not self.connected:
                continue
            if not await self.engine.has_open_orders():
                continue
            gap_from = self._last_activity_at
            self._touch()
            try:
                before = await self.engine.open_order_statuses()
                report = await self.engine.catch_up()
                after = await self.engine.open_order_statuses()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("REST catch-up after a silent stream failed")
                continue
            # What the stream would have told us: executions and status changes. REST also
            # refreshes figures the stream never sends (a trailing stop's hwm), which are no gap.
            missed = report.fills_changed + sum(
                1 for order_id, status in before.items() if after.get(order_id) != status
            )
            if missed:
                log.warning(
                    "stream silent for %.0fs while orders were open; REST recovered %d "
                    "executions or status changes",
                    silent_for,
                    missed,
                )
                await self.engine.record_gap(
                    gap_from,
                    self.engine.now(),
                    "silent",
                    closed_by="rest_catch_up",
                    rows_recovered=missed,
                )
                self.gaps_recorded += 1

    async def run(self) -> None:
        """Consume until cancelled; on cancellation the write in flight completes first."""
        consumer = asyncio.create_task(self._consume(), name=f"stream-{self.engine.account}")
        watchdog = asyncio.create_task(self._watch_silence(), name=f"silence-{self.engine.account}")
        try:
            done, _ = await asyncio.wait({consumer, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            tasks = [consumer, watchdog, *self._side_tasks]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Shielded: cancelled again while it waits (a stop that ran out of patience), this
            # task ends and the writes go on (the caller drains them), instead of being
            # cancelled with the wait.
            await asyncio.shield(self.engine.drain())


def default_stream_factory(key_id: str, secret_key: str, url: str, **options: Any) -> StreamFactory:
    """A factory building the package's ``TradeUpdatesStream`` with the ingestor's callbacks."""

    def build(
        on_connected: ConnectedCallback,
        on_gap: GapCallback,
        on_bad_frame: BadFrameCallback | None = None,
    ) -> TradeUpdateSource:
        from alpaca_integration.alpaca.stream import TradeUpdatesStream

        stream: TradeUpdateSource = TradeUpdatesStream(
            key_id,
            secret_key,
            url,
            on_connected=on_connected,
            on_gap=on_gap,
            on_bad_frame=on_bad_frame,
            **options,
        )
        return stream

    return build
