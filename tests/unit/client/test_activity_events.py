"""The activities event stream: the SSE decoder, the ActivityEventV2 parser and the client's
handling of unreadable events, refusals and resumption (over an in-process HTTP transport)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from alpaca_integration.alpaca.events import ActivityEventsStream, ActivityStreamUnavailable
from alpaca_integration.alpaca.parse_events import (
    SseComment,
    SseDecoder,
    SseEvent,
    parse_activity_event,
    rest_activity_id,
)
from alpaca_integration.errors import ConfigError, ParseError, StreamError
from alpaca_integration.models import Activity, DataSource, Fill
from support.activity_events import FEE_EVENT, FILL_EVENT, sse_frame

# --------------------------------------------------------------------------- the SSE decoder


def test_a_frame_split_at_every_byte_decodes_to_the_same_event() -> None:
    wire = b': heartbeat\r\nid: 7\r\nevent: activity\r\ndata: {"a":\r\ndata:  1}\r\n\r\n'
    whole = SseDecoder().feed(wire)
    assert whole == [
        SseComment("heartbeat"),
        SseEvent(data='{"a":\n 1}', event="activity", id="7"),
    ]
    for cut in range(1, len(wire)):
        decoder = SseDecoder()
        assert decoder.feed(wire[:cut]) + decoder.feed(wire[cut:]) == whole, cut
    decoder = SseDecoder()
    one_by_one = [m for i in range(len(wire)) for m in decoder.feed(wire[i : i + 1])]
    assert one_by_one == whole


def test_comments_retry_ids_and_line_endings() -> None:
    decoder = SseDecoder()
    out = decoder.feed("\ufeff:\n: internal server error\nretry: 2500\nretry: soon\n\n")
    assert out == [SseComment(""), SseComment("internal server error")]
    assert decoder.retry == 2500  # a non-numeric retry is ignored
    # \r alone ends a line too; an event without data is not dispatched but its id counts.
    assert decoder.feed("id: 9\r\rdata\rdata:x\r\r") == [SseEvent(data="\nx", id="9")]
    assert decoder.feed("id: a\0b\ndata: y\n\n") == [SseEvent(data="y", id="9")]
    assert decoder.last_event_id == "9"
    assert decoder.feed("unknown: field\ndata: z\n") == []  # no blank line yet
    assert decoder.feed("\n") == [SseEvent(data="z", id="9")]


def test_a_multibyte_character_split_between_chunks_survives() -> None:
    wire = 'data: {"d": "caf\u00e9 \u20ac"}\n\n'.encode()
    cut = wire.index(b"\xe2") + 1
    decoder = SseDecoder()
    assert decoder.feed(wire[:cut]) + decoder.feed(wire[cut:]) == [
        SseEvent(data='{"d": "caf\u00e9 \u20ac"}')
    ]


# --------------------------------------------------------------------------- the event parser


def test_a_fill_event_becomes_the_fill_trade_updates_and_rest_also_report() -> None:
    event = parse_activity_event(json.dumps(FILL_EVENT))
    fill = event.item
    assert event.event_id == FILL_EVENT["event_id"]
    assert isinstance(fill, Fill)
    # Keyed as the store keys executions: the execution id, the order and its cum_qty.
    assert fill.execution_id == fill.fill_id == FILL_EVENT["ref_id"]
    assert fill.activity_id is None
    assert (fill.order_id, fill.cum_qty, fill.leaves_qty) == (
        FILL_EVENT["details"]["order_id"],
        Decimal(5),
        Decimal(0),
    )
    assert (fill.qty, fill.price, fill.side.value, fill.symbol) == (
        Decimal(2),
        Decimal("190.5"),
        "sell",
        "AAPL",
    )
    assert fill.fill_type.value == "fill"
    assert fill.client_order_id == "mine-1"
    assert fill.source is DataSource.STREAM
    assert fill.timestamp == dt.datetime(2026, 3, 2, 15, 4, 5, 123456, tzinfo=dt.UTC)


def test_a_non_trade_event_gets_its_rest_activity_id() -> None:
    event = parse_activity_event(json.dumps(FEE_EVENT))
    fee = event.item
    assert isinstance(fee, Activity)
    # 15:04:05.123 UTC is 10:04:05.123 in New York (EST in March before the switch).
    assert fee.id == "20260302100405123::5241d6f5-8ff5-4e98-844c-a5655a740321"
    assert fee.id == rest_activity_id(fee.transaction_time, FEE_EVENT["ref_id"])  # type: ignore[arg-type]
    assert (fee.activity_type, fee.activity_subtype) == ("FEE", "REG")
    assert fee.net_amount == Decimal("-0.03")
    assert fee.order_id == FEE_EVENT["details"]["order_id"]
    assert fee.date == dt.date(2026, 3, 2)


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        "[]",
        json.dumps({k: v for k, v in FILL_EVENT.items() if k != "event_id"}),
        json.dumps({**FILL_EVENT, "details": {**FILL_EVENT["details"], "side": "sideways"}}),
        json.dumps(
            {**FILL_EVENT, "details": {**FILL_EVENT["details"], "execution_type": "trade_bust"}}
        ),
    ],
    ids=["bad-json", "not-an-object", "no-event-id", "unknown-side", "trade-bust"],
)
def test_unreadable_events_raise_parse_error(payload: str) -> None:
    with pytest.raises(ParseError):
        parse_activity_event(payload)


# --------------------------------------------------------------------------- the client


class _Venue:
    """An in-process HTTP venue: each request gets the next scripted answer."""

    def __init__(
        self, answers: list[tuple[int, bytes]], headers: dict[str, str] | None = None
    ) -> None:
        self.answers = answers
        self.headers = headers or {}
        self.requests: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            status, body = self.answers.pop(0) if self.answers else (503, b"")
            return httpx.Response(status, content=body, headers=self.headers)

        return httpx.MockTransport(handle)


def _stream(venue: _Venue, **options: Any) -> ActivityEventsStream:
    return ActivityEventsStream(
        "key",
        "secret-value",
        "http://venue.test",
        initial_backoff=0.01,
        max_backoff=0.02,
        transport=venue.transport(),
        **options,
    )


async def _take(stream: ActivityEventsStream, count: int) -> list[Any]:
    out = []
    async with asyncio.timeout(30):
        async for event in stream.events():
            out.append(event)
            if len(out) == count:
                await stream.aclose()
    return out


async def test_an_unreadable_event_is_quarantined_and_the_stream_goes_on_resuming_after_it() -> (
    None
):
    bad = b'id: 01JQ0000000000000000000009\ndata: {"event_id": oops\n\n'
    venue = _Venue([(200, sse_frame(FILL_EVENT) + bad), (200, sse_frame(FEE_EVENT))])
    quarantined: list[tuple[bytes, str]] = []
    gaps: list[tuple[dt.datetime, dt.datetime, str]] = []
    resumed: list[bool] = []

    async def on_bad_frame(raw: bytes, reason: str) -> None:
        quarantined.append((raw, reason))

    async def on_gap(start: dt.datetime, end: dt.datetime, reason: str) -> None:
        gaps.append((start, end, reason))

    async def on_connected(was_resumed: bool) -> None:
        resumed.append(was_resumed)

    stream = _stream(venue, on_bad_frame=on_bad_frame, on_gap=on_gap, on_connected=on_connected)
    events = await _take(stream, 2)
    assert [e.event_id for e in events] == [FILL_EVENT["event_id"], FEE_EVENT["event_id"]]
    assert quarantined
    assert quarantined[0][0] == b'{"event_id": oops'
    assert gaps[0][0] == gaps[0][1]  # the lost event: an instant gap
    assert gaps[1][0] <= gaps[1][1]  # the reconnect's gap
    # The first request had no id; the reconnect resumed after the unreadable event's id.
    assert "since_id" not in venue.requests[0].url.params
    assert venue.requests[1].url.params["since_id"] == "01JQ0000000000000000000009"
    assert resumed == [False, True]
    assert venue.requests[0].headers["APCA-API-KEY-ID"] == "key"
    assert "secret-value" not in repr(stream)


async def test_resumes_from_the_callers_stored_id_and_retries_a_5xx() -> None:
    venue = _Venue([(503, b""), (200, sse_frame(FEE_EVENT))])
    events = await _take(_stream(venue, since_id="01JQ0000000000000000000001"), 1)
    assert events[0].event_id == FEE_EVENT["event_id"]
    assert [r.url.params["since_id"] for r in venue.requests] == ["01JQ0000000000000000000001"] * 2


@pytest.mark.parametrize("status", [403, 404])
async def test_a_venue_without_the_beta_endpoint_is_reported_once(status: int) -> None:
    venue = _Venue([(status, b'{"message": "not found"}')])
    with pytest.raises(ActivityStreamUnavailable) as caught:
        await _take(_stream(venue), 1)
    assert caught.value.status == status
    assert len(venue.requests) == 1


async def test_refused_keys_end_the_stream() -> None:
    with pytest.raises(StreamError, match="401"):
        await _take(_stream(_Venue([(401, b"")])), 1)


async def test_a_refused_since_id_starts_afresh_without_it() -> None:
    venue = _Venue([(400, b'{"message": "invalid since_id"}'), (200, sse_frame(FEE_EVENT))])
    await _take(_stream(venue, since_id="stale"), 1)
    assert venue.requests[0].url.params["since_id"] == "stale"
    assert "since_id" not in venue.requests[1].url.params


def test_the_live_venue_needs_the_opt_in() -> None:
    with pytest.raises(ConfigError, match="LIVE"):
        ActivityEventsStream("key", "secret", "https://api.alpaca.markets")
    ActivityEventsStream("key", "secret", "https://api.alpaca.markets", allow_live=True)


async def test_every_connect_takes_a_slot_of_the_keys_rate_budget() -> None:
    from alpaca_integration.alpaca.ratelimit import make_rate_budget

    budget = make_rate_budget("key", limit=100, shared=False)
    venue = _Venue([(503, b""), (503, b""), (200, sse_frame(FEE_EVENT))])
    await _take(_stream(venue, rate_budget=budget), 1)
    assert len(venue.requests) == 3
    assert (await budget.snapshot()).used == 3


async def test_a_429_on_connect_pauses_the_keys_budget_and_its_headers_count() -> None:
    """The stream's connect is a request of the key like any other: the venue's rate-limit
    headers align the shared budget, and a 429 pauses it (every REST call of the key waits)
    before the stream tries again."""
    from alpaca_integration.alpaca.ratelimit_local import InMemoryRateBudget

    budget = InMemoryRateBudget(200)
    headers = {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"}
    venue = _Venue([(429, b'{"message": "too many requests"}'), (200, sse_frame(FEE_EVENT))])
    venue.headers = headers
    stream = _stream(venue, rate_budget=budget)
    paused: list[float | None] = []

    async def watch() -> None:
        while not paused:
            snapshot = await budget.snapshot()
            if snapshot.paused_until is not None:
                paused.append(snapshot.paused_until)
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    await _take(stream, 1)
    await asyncio.wait_for(watcher, 5)
    assert (await budget.snapshot()).used >= 200  # the venue's count was taken in


async def test_a_429_without_a_date_header_pauses_by_the_venues_clock_not_this_hosts() -> None:
    """The reset in a 429 is a time by the venue's clock. An answer without a ``Date`` header is
    measured against the account client's estimate of that clock (``venue_now``), as REST
    answers are: with this host an hour ahead, the host's clock would see the reset long past
    and not pause at all (then every process on the key hammers the venue)."""
    import time

    from alpaca_integration.alpaca.ratelimit_local import InMemoryRateBudget

    venue_time = time.time() - 3600
    budget = InMemoryRateBudget(200)
    venue = _Venue([(429, b'{"message": "too many requests"}'), (200, sse_frame(FEE_EVENT))])
    venue.headers = {"X-RateLimit-Limit": "200", "X-RateLimit-Reset": str(int(venue_time) + 3)}
    stream = _stream(
        venue,
        rate_budget=budget,
        venue_now=lambda: dt.datetime.fromtimestamp(time.time() - 3600, dt.UTC),
    )
    pauses: list[float] = []

    async def watch() -> None:
        while not pauses:
            snapshot = await budget.snapshot()
            if snapshot.paused_until is not None:
                pauses.append(snapshot.paused_until - time.time())
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    await _take(stream, 1)
    await asyncio.wait_for(watcher, 10)
    assert 0.5 < pauses[0] <= 3.5  # until the venue's reset, measured on the venue's clock
