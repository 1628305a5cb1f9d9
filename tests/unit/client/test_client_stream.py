"""TradeUpdatesStream against a real local WebSocket server speaking Alpaca's protocol: auth,
listen, events, drops and silent connections, gaps, unreadable frames, msgpack, clean close."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
import pytest
from client_fakes import KEY_ID, SECRET, order_json
from websockets.asyncio.server import ServerConnection, serve

from alpaca_integration.alpaca.stream import TradeUpdatesStream
from alpaca_integration.errors import ConfigError, StreamError
from alpaca_integration.models import TradeEventKind, TradeUpdate


def event(name: str, order_id: str = "o-1", **extra: Any) -> dict[str, Any]:
    data = {
        "event": name,
        "order": order_json(order_id, status="new" if name == "new" else "filled"),
        "timestamp": "2025-06-02T14:30:00.123456789Z",
        **extra,
    }
    return {"stream": "trade_updates", "data": data}


# What one connection does after listening: a list of events (bytes go out verbatim), then how
# it ends.
@dataclass
class Session:
    events: list[dict[str, Any] | bytes] = field(default_factory=list)
    then: str = "stay"  # "stay" | "close" (clean 1000) | "drop" (no close frame) | "silent"


@dataclass
class FakeStreamServer:
    sessions: list[Session]
    url: str = ""
    connections: int = 0
    received: list[Any] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    authorized: bool = True
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def encode(self, ws: ServerConnection, message: dict[str, Any]) -> bytes:
        if (
            ws.request is not None
            and ws.request.headers.get("Content-Type") == "application/msgpack"
        ):
            return bytes(msgpack.packb(message))
        return json.dumps(message).encode()  # Alpaca sends JSON in binary frames

    async def handler(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        assert ws.request is not None
        self.headers.append(dict(ws.request.headers))
        auth = json.loads(await ws.recv())
        self.received.append(auth)
        status = "authorized" if self.authorized else "unauthorized"
        await ws.send(
            self.encode(
                ws,
                {"stream": "authorization", "data": {"status": status, "action": "authenticate"}},
            )
        )
        if not self.authorized:
            return
        listen = json.loads(await ws.recv())
        self.received.append(listen)
        await ws.send(
            self.encode(ws, {"stream": "listening", "data": {"streams": ["trade_updates"]}})
        )
        session = self.sessions[index] if index < len(self.sessions) else Session()
        for message in session.events:
            await ws.send(message if isinstance(message, bytes) else self.encode(ws, message))
        if session.then == "close":
            await ws.close(1000, "bye")
        elif session.then == "drop":
            ws.transport.abort()
        elif session.then == "silent":
            ws.transport.pause_reading()  # pings go unanswered
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=10)
            ws.transport.abort()
        else:
            with contextlib.suppress(Exception):
                await ws.wait_closed()


@contextlib.asynccontextmanager
async def running(sessions: list[Session], **kw: Any) -> AsyncIterator[FakeStreamServer]:
    server = FakeStreamServer(sessions, **kw)
    async with serve(server.handler, "127.0.0.1", 0, close_timeout=0.2) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        server.url = f"ws://127.0.0.1:{port}/stream"
        try:
            yield server
        finally:
            server.stop.set()


def fast_stream(url: str, **kw: Any) -> TradeUpdatesStream:
    options: dict[str, Any] = {
        "initial_backoff": 0.01,
        "max_backoff": 0.05,
        "unclean_drop_wait": 0.0,
        "ping_interval": 0.1,
        "ping_timeout": 0.3,
        "handshake_timeout": 2.0,
        "rng": random.Random(1),
    }
    options.update(kw)
    return TradeUpdatesStream(KEY_ID, SECRET, url, **options)


async def take(stream: TradeUpdatesStream, count: int) -> list[TradeUpdate]:
    out: list[TradeUpdate] = []
    async with asyncio.timeout(20):
        async for update in stream.updates():
            out.append(update)
            if len(out) == count:
                break
    return out


async def test_authenticates_listens_and_yields_events_in_order() -> None:
    """The auth and listen messages follow Alpaca's protocol; events arrive as TradeUpdates."""
    connected: list[float] = []

    async def on_connected() -> None:
        connected.append(1.0)

    async with running([Session(events=[event("new"), event("fill", price="10", qty="1")])]) as srv:
        stream = fast_stream(srv.url, on_connected=on_connected)
        updates = await take(stream, 2)
        await stream.aclose()
    assert srv.received[0] == {
        "action": "authenticate",
        "data": {"key_id": KEY_ID, "secret_key": SECRET},
    }
    assert srv.received[1] == {"action": "listen", "data": {"streams": ["trade_updates"]}}
    assert [u.event for u in updates] == [TradeEventKind.NEW, TradeEventKind.FILL]
    assert connected == [1.0]
    assert stream.last_event_at is not None
    assert stream.last_event_at.tzinfo is dt.UTC


@pytest.mark.parametrize("how", ["drop", "close"])
async def test_reconnects_after_a_drop_and_reports_the_gap(how: str) -> None:
    """After a drop: on_gap(from, to, reason), on_connected again, events keep flowing."""
    gaps: list[tuple[dt.datetime, dt.datetime, str]] = []
    connects = 0

    async def on_gap(gap_from: dt.datetime, gap_to: dt.datetime, reason: str) -> None:
        gaps.append((gap_from, gap_to, reason))

    async def on_connected() -> None:
        nonlocal connects
        connects += 1

    sessions = [Session(events=[event("new", "a")], then=how), Session(events=[event("new", "b")])]
    async with running(sessions) as srv:
        stream = fast_stream(srv.url, on_gap=on_gap, on_connected=on_connected)
        updates = await take(stream, 2)
        await stream.aclose()
    assert [u.order.id for u in updates] == ["a", "b"]
    assert connects == 2
    assert len(gaps) == 1
    gap_from, gap_to, reason = gaps[0]
    assert gap_from <= gap_to
    assert reason
    assert srv.connections == 2


GARBAGE = b"\x00\xffnot a frame"
UNKNOWN_STATUS = json.dumps(
    {
        "stream": "trade_updates",
        "data": {
            "event": "new",
            "order": order_json("o-bad", status="frobnicated"),
            "timestamp": "2025-06-02T14:30:00Z",
        },
    }
).encode()


@pytest.mark.parametrize(
    ("bad", "says"), [(GARBAGE, "neither JSON nor MessagePack"), (UNKNOWN_STATUS, "frobnicated")]
)
async def test_an_unreadable_frame_goes_to_on_bad_frame_before_its_gap(
    bad: bytes, says: str
) -> None:
    """An unreadable frame's bytes and reason reach on_bad_frame, then an instant gap; the good
    events on either side of it are both yielded on the same connection."""
    calls: list[tuple[str, Any]] = []

    async def on_bad_frame(raw: bytes, reason: str) -> None:
        calls.append(("bad_frame", (raw, reason)))

    async def on_gap(gap_from: dt.datetime, gap_to: dt.datetime, reason: str) -> None:
        calls.append(("gap", (gap_from, gap_to, reason)))

    sessions = [Session(events=[event("new", "a"), bad, event("new", "b")])]
    async with running(sessions) as srv:
        stream = fast_stream(srv.url, on_gap=on_gap, on_bad_frame=on_bad_frame)
        updates = await take(stream, 2)
        await stream.aclose()
    assert [u.order.id for u in updates] == ["a", "b"]
    assert [name for name, _ in calls] == ["bad_frame", "gap"]
    raw, reason = calls[0][1]
    assert raw == bad
    assert says in reason
    gap_from, gap_to, _ = calls[1][1]
    assert gap_from == gap_to
    assert srv.connections == 1
    assert stream.bad_frames == 1


async def test_a_failing_on_bad_frame_never_ends_the_stream() -> None:
    """on_bad_frame raising is logged; the gap is still reported and later events still arrive."""
    gaps: list[str] = []

    async def on_bad_frame(raw: bytes, reason: str) -> None:
        raise RuntimeError("the quarantine is down")

    async def on_gap(gap_from: dt.datetime, gap_to: dt.datetime, reason: str) -> None:
        gaps.append(reason)

    sessions = [Session(events=[GARBAGE, event("new", "a")])]
    async with running(sessions) as srv:
        stream = fast_stream(srv.url, on_gap=on_gap, on_bad_frame=on_bad_frame)
        updates = await take(stream, 1)
        await stream.aclose()
    assert [u.order.id for u in updates] == ["a"]
    assert len(gaps) == 1
    assert srv.connections == 1


async def test_a_silent_connection_is_detected_by_ping_and_replaced() -> None:
    """Open but mute (no pong): treated as a drop, with a gap naming the silence."""
    gaps: list[str] = []

    async def on_gap(gap_from: dt.datetime, gap_to: dt.datetime, reason: str) -> None:
        gaps.append(reason)

    sessions = [
        Session(events=[event("new", "a")], then="silent"),
        Session(events=[event("new", "b")]),
    ]
    async with running(sessions) as srv:
        stream = fast_stream(srv.url, on_gap=on_gap)
        updates = await take(stream, 2)
        await stream.aclose()
    assert [u.order.id for u in updates] == ["a", "b"]
    assert len(gaps) == 1
    assert "silent" in gaps[0]


async def test_refused_authorization_raises_stream_error() -> None:
    """Wrong keys are not retried in a loop: StreamError after one attempt."""
    async with running([], authorized=False) as srv:
        stream = fast_stream(srv.url)
        with pytest.raises(StreamError, match="ALPACA_API_KEY"):
            await take(stream, 1)
    assert srv.connections == 1


async def test_msgpack_is_requested_and_decoded() -> None:
    """msgpack=True sends the Content-Type header and reads MessagePack frames."""
    async with running([Session(events=[event("canceled")])]) as srv:
        stream = fast_stream(srv.url, msgpack=True)
        [update] = await take(stream, 1)
        await stream.aclose()
    assert srv.headers[0]["content-type"] == "application/msgpack"
    assert update.event is TradeEventKind.CANCELED


async def test_aclose_ends_the_iteration_cleanly() -> None:
    """Closing while waiting for events ends updates() without an error or a reconnect."""
    async with running([Session()]) as srv:
        stream = fast_stream(srv.url)
        received: list[TradeUpdate] = []

        async def consume() -> None:
            async for update in stream.updates():
                received.append(update)

        task = asyncio.create_task(consume())
        while not stream.connected:
            await asyncio.sleep(0.01)
        await stream.aclose()
        await asyncio.wait_for(task, timeout=5)
    assert received == []
    assert srv.connections == 1


async def test_aclose_stops_a_stream_still_trying_to_connect() -> None:
    """With the venue unreachable, the stream keeps retrying until aclose() ends it."""
    stream = fast_stream("ws://127.0.0.1:9/stream", initial_backoff=0.05, max_backoff=0.1)

    async def consume() -> None:
        async for _ in stream.updates():
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    await stream.aclose()
    await asyncio.wait_for(task, timeout=5)
    assert stream.connects == 0


def test_backoff_grows_is_capped_and_respects_the_unclean_wait() -> None:
    """Equal-jitter backoff: never below half the step, capped, and >= unclean_drop_wait."""
    stream = TradeUpdatesStream(
        KEY_ID,
        SECRET,
        "wss://x.test/stream",
        initial_backoff=2,
        max_backoff=90,
        unclean_drop_wait=15,
        rng=random.Random(4),
    )
    for failures, low, high in [(1, 1, 2), (2, 2, 4), (3, 4, 8), (10, 45, 90)]:
        for _ in range(50):
            assert low <= stream._backoff(failures, clean=True) <= high
    assert all(stream._backoff(1, clean=False) >= 15 for _ in range(50))


async def test_the_secret_never_reaches_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    """Through connect, drop and reconnect, no log line or repr contains the secret key."""
    sessions = [
        Session(events=[event("new", "a")], then="drop"),
        Session(events=[event("new", "b")]),
    ]
    with caplog.at_level(logging.DEBUG):
        async with running(sessions) as srv:
            stream = fast_stream(srv.url)
            await take(stream, 2)
            await stream.aclose()
    assert SECRET not in caplog.text
    assert SECRET not in repr(stream)


def test_bad_settings_are_refused() -> None:
    """An http URL or missing keys are a ConfigError with the fix."""
    with pytest.raises(ConfigError, match="ALPACA_STREAM_URL"):
        TradeUpdatesStream(KEY_ID, SECRET, "https://paper-api.alpaca.markets/stream")
    with pytest.raises(ConfigError, match="ALPACA_SECRET_KEY"):
        TradeUpdatesStream(KEY_ID, "", "wss://x.test/stream")


async def test_cancelling_the_consumer_closes_the_websocket() -> None:
    """A monitor stops an account (handover, lost lease, shutdown) by cancelling its consumer,
    then closing the client: the connection to the venue is closed, not left open."""
    from websockets.protocol import State

    async with running([Session()]) as server:
        stream = fast_stream(server.url, ping_interval=30)

        async def consume() -> None:
            async for _ in stream.updates():
                pass

        task = asyncio.create_task(consume())
        while not stream.connected:
            await asyncio.sleep(0.01)
        ws = stream._ws
        assert ws is not None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await stream.aclose()
        for _ in range(50):
            if ws.state is State.CLOSED:
                break
            await asyncio.sleep(0.02)
        state = ws.state
        if state is not State.CLOSED:
            ws.transport.abort()
        assert state is State.CLOSED
