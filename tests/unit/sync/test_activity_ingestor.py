"""ActivityStreamIngestor: events through the engine's write path with their checkpoint, a
restart resumed from the stored event id, one row per execution across the stream and REST, an
unreadable event quarantined and caught up over REST. Real SQLite store; the venue's SSE answers
come from an in-process HTTP transport, its REST activities from a small in-memory fake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx

from alpaca_integration.alpaca.events import ActivityEventsStream
from alpaca_integration.alpaca.parse import parse_activities
from alpaca_integration.models import Activity, Fill
from alpaca_integration.storage import Store
from alpaca_integration.sync.activity_stream import (
    FEED_ACTIVITY_EVENTS,
    ActivityStreamFactory,
    ActivityStreamIngestor,
)
from alpaca_integration.sync.engine import SyncEngine
from support.activity_events import AT, EXECUTION, FEE_EVENT, FILL_EVENT, ORDER, sse_frame

ACCOUNT = "default"
# The same execution as REST lists it: a FILL activity with its own id, no execution id.
REST_FILL = {
    "id": "20260302100405123::aaaaaaaa-0000-4000-8000-000000000009",
    "activity_type": "FILL",
    "transaction_time": AT,
    "type": "fill",
    "price": "190.5",
    "qty": "2",
    "side": "sell",
    "symbol": "AAPL",
    "leaves_qty": "0",
    "cum_qty": "5",
    "order_id": ORDER,
    "order_status": "filled",
}


class RestVenue:
    """The client's REST reads the ingestor's catch-up uses: the activities listed."""

    def __init__(self, activities: list[dict[str, Any]]) -> None:
        self.items: list[Fill | Activity] = parse_activities(json.dumps(activities))
        self.listings = 0

    async def iter_activities(self, **_: Any) -> AsyncIterator[Fill | Activity]:
        self.listings += 1
        for item in self.items:
            yield item


class SseVenue:
    """Each request gets the next scripted body (then an endless quiet connection)."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.requests: list[httpx.Request] = []
        self.served = asyncio.Event()

    def factory(self) -> ActivityStreamFactory:
        def build(since_id: Any, on_connected: Any, on_gap: Any, on_bad_frame: Any) -> Any:
            return ActivityEventsStream(
                "key",
                "secret",
                "http://venue.test",
                since_id=since_id,
                on_connected=on_connected,
                on_gap=on_gap,
                on_bad_frame=on_bad_frame,
                initial_backoff=0.01,
                max_backoff=0.02,
                transport=httpx.MockTransport(self._handle),
            )

        return build

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.bodies:
            return httpx.Response(200, content=self.bodies.pop(0))
        self.served.set()
        return httpx.Response(200, stream=_Quiet())


class _Quiet(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        await asyncio.Event().wait()
        yield b""


async def _run_until(ingestor: ActivityStreamIngestor, done: Callable[[], Any]) -> None:
    runner = asyncio.create_task(ingestor.run())
    try:
        async with asyncio.timeout(60):
            while not await done():
                await asyncio.sleep(0.02)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_one_row_per_execution_and_a_restart_resumes_from_the_stored_id(
    store: Store,
) -> None:
    rest = RestVenue([REST_FILL])
    engine = SyncEngine(ACCOUNT, rest, store)  # type: ignore[arg-type]
    first = SseVenue([sse_frame(FILL_EVENT) + sse_frame(FEE_EVENT)])
    ingestor = ActivityStreamIngestor(engine, first.factory(), replay_settle=0.1)

    async def stored() -> bool:
        checkpoint = await store.get_checkpoint(ACCOUNT, FEED_ACTIVITY_EVENTS)
        return checkpoint == str(FEE_EVENT["event_id"])

    await _run_until(ingestor, stored)
    # No id stored yet: the stream could not replay, so REST read what came before.
    assert "since_id" not in first.requests[0].url.params
    assert rest.listings == 1
    dump = await store.dump(ACCOUNT)
    (fill,) = dump["fills"]
    assert (fill["execution_id"], fill["activity_id"]) == (EXECUTION, REST_FILL["id"])
    assert fill["fee"] == Decimal("0.03")
    assert list(dump["activities"]) == ["20260302100405123::5241d6f5-8ff5-4e98-844c-a5655a740321"]

    # A new ingestor (a restarted monitor) resumes after the stored id and reads no REST.
    second = SseVenue([])
    again = ActivityStreamIngestor(engine, second.factory(), replay_settle=0.1)

    async def served() -> bool:
        return second.served.is_set()

    await _run_until(again, served)
    assert second.requests[0].url.params["since_id"] == FEE_EVENT["event_id"]
    assert again.catch_ups == 0
    assert len((await store.dump(ACCOUNT))["fills"]) == 1


async def test_an_unreadable_event_is_quarantined_and_caught_up_over_rest(store: Store) -> None:
    rest = RestVenue([])
    engine = SyncEngine(ACCOUNT, rest, store)  # type: ignore[arg-type]
    bad = b"id: 01JQ0000000000000000000005\ndata: {oops\n\n"
    venue = SseVenue([bad + sse_frame(FEE_EVENT)])
    ingestor = ActivityStreamIngestor(engine, venue.factory(), replay_settle=0.1)

    async def applied() -> bool:
        return ingestor.events_applied == 1 and ingestor.gaps_recorded >= 1

    await _run_until(ingestor, applied)
    (row,) = await store.list_quarantine(ACCOUNT, record_kind="activity_event")
    assert bytes(row.raw) == b"{oops"
    # The lost event is an instant gap (the reconnect after the scripted body is another one).
    (gap,) = [g for g in await store.list_stream_gaps(ACCOUNT) if g.gap_from == g.gap_to]
    assert gap.closed_by == "rest_catch_up"
    assert gap.reason.startswith("activities stream: unreadable activity event skipped")
    assert rest.listings == 2  # the first connect's catch-up, then the lost event's
