"""StreamIngestor: gaps are recorded once closed by a REST catch-up, a lost event is caught up at
once, a silence is a gap only when REST finds something the stream missed, and events queued
during a write share the next transaction. Real SQLite store; the venue is a small in-memory fake
of the client's read methods and of the stream."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from alpaca_integration.alpaca.parse import parse_account, parse_order, parse_trade_update
from alpaca_integration.errors import NotFoundError
from alpaca_integration.models import AccountSnapshot, Activity, Fill, Order, Position, TradeUpdate
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import SyncEngine
from alpaca_integration.sync.stream import StreamIngestor
from support.wire_json import integration_order_json

ACCOUNT = "default"


def _ts(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _order_json(order_id: str, status: str, at: dt.datetime, filled: str = "0") -> dict[str, Any]:
    """An integration's limit buy of 5 AAPL with ``filled`` of it filled (at 100)."""
    average = "100" if filled != "0" else None
    return integration_order_json(
        order_id, at, status, qty="5", filled_qty=filled, filled_avg_price=average
    )


class FakeVenue:
    """The client's read methods over an in-memory book (the store under test is real)."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        now = dt.datetime.now(dt.UTC)
        self.account_body = msgspec.json.encode(
            {
                "id": "acct",
                "account_number": "PA1",
                "status": "ACTIVE",
                "currency": "USD",
                "cash": "1000",
                "equity": "1000",
                "last_equity": "1000",
                "buying_power": "1000",
                "regt_buying_power": "1000",
                "daytrading_buying_power": "1000",
                "non_marginable_buying_power": "1000",
                "long_market_value": "0",
                "short_market_value": "0",
                "portfolio_value": "1000",
                "initial_margin": "0",
                "maintenance_margin": "0",
                "last_maintenance_margin": "0",
                "multiplier": "1",
                "sma": "0",
                "daytrade_count": 0,
                "created_at": _ts(now),
            }
        )
        self.catch_ups = 0

    def put(self, order_id: str, status: str, filled: str = "0", *, listed: bool = True) -> Order:
        """The order as the venue now reports it; ``listed=False`` keeps it out of REST answers
        (as if only the stream had told us)."""
        order = parse_order(
            msgspec.json.encode(_order_json(order_id, status, dt.datetime.now(dt.UTC), filled))
        )
        if listed:
            self.orders[order_id] = order
        return order

    async def get_account(self) -> AccountSnapshot:
        self.catch_ups += 1
        return parse_account(self.account_body, dt.datetime.now(dt.UTC))

    async def list_positions(self, **_: Any) -> list[Position]:
        return []

    async def get_order(
        self, order_id: str, *, nested: bool | None = None, on_bad_item: Any = None
    ) -> Order:
        # As the venue answers an id it does not know: 404 (the engine skips it), never KeyError.
        if order_id not in self.orders:
            raise NotFoundError(f"order {order_id} not found", status=404)
        return self.orders[order_id]

    async def iter_orders(self, **filters: Any) -> AsyncIterator[Order]:
        for order in list(self.orders.values()):
            if filters.get("status") == "open" and order.is_terminal:
                continue
            yield order

    async def iter_activities(self, **filters: Any) -> AsyncIterator[Fill | Activity]:
        for item in ():
            yield item


class FakeStream:
    """Plays a script: each step is an event to yield or an awaitable to run (a callback)."""

    def __init__(
        self,
        on_connected: Callable[[], Awaitable[None]],
        on_gap: Callable[[dt.datetime, dt.datetime, str], Awaitable[None]],
        script: list[Any],
    ) -> None:
        self.on_connected = on_connected
        self.on_gap = on_gap
        self.script = script
        self.connected = False
        self.done = asyncio.Event()

    async def updates(self) -> AsyncIterator[TradeUpdate]:
        for step in self.script:
            if isinstance(step, TradeUpdate):
                yield step
                continue
            # A callback may also produce an event (one that must happen after the steps before).
            produced = await step(self)
            if isinstance(produced, TradeUpdate):
                yield produced
        self.done.set()
        await asyncio.Event().wait()  # stay connected and quiet

    async def aclose(self) -> None:
        self.connected = False


def _event(order: Order, event: str, **fill: str) -> TradeUpdate:
    raw = msgspec.json.decode(order.raw)
    return parse_trade_update(
        {"event": event, "order": raw, "timestamp": raw["updated_at"], **fill}
    )


DEADLINE = 10.0  # generous: a busy CI machine may be slow, but a correct run is quick


async def _eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``DEADLINE`` seconds saying what was awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not await condition():
        if loop.time() > deadline:
            pytest.fail(f"not within {DEADLINE:g} s: {what}")
        await asyncio.sleep(0.02)


async def _run(
    engine: SyncEngine,
    script: list[Any],
    *,
    until: Callable[[FakeStream], Awaitable[bool]],
    what: str,
    silence: float = 3600.0,
    settled: bool = False,
) -> StreamIngestor:
    """Run an ingestor over ``script`` until the stream has played it and ``until`` holds (and,
    with ``settled``, no catch-up beside the stream is running or queued)."""
    streams: list[FakeStream] = []

    def factory(on_connected: Any, on_gap: Any, on_bad_frame: Any) -> FakeStream:
        streams.append(FakeStream(on_connected, on_gap, script))
        return streams[-1]

    async def finished() -> bool:
        if task.done():
            task.result()  # the ingestor died: surface why instead of waiting out the deadline
        if settled and ingestor._side_tasks:
            return False
        return bool(streams) and streams[0].done.is_set() and await until(streams[0])

    ingestor = StreamIngestor(engine, factory, silence_timeout=silence)
    task = asyncio.create_task(ingestor.run())
    try:
        await _eventually(finished, what)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return ingestor


def _gap_count(store: Store, at_least: int) -> Callable[[FakeStream], Awaitable[bool]]:
    async def check(_stream: FakeStream) -> bool:
        return len(await store.list_stream_gaps(ACCOUNT)) >= at_least

    return check


async def _connect(stream: FakeStream) -> None:
    stream.connected = True
    await stream.on_connected()


async def test_a_reconnect_gap_is_recorded_with_what_the_catch_up_recovered(
    store: Store,
) -> None:
    """A reconnect gap becomes one stream_gaps row closed by the REST catch-up, with its count."""
    venue = FakeVenue()
    venue.put("o1", "filled", filled="5")
    engine = SyncEngine(ACCOUNT, venue, store)  # type: ignore[arg-type]
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)

    async def gap(stream: FakeStream) -> None:
        await stream.on_gap(t0, t0 + dt.timedelta(seconds=2), "connection lost")

    await _run(engine, [gap, _connect], until=_gap_count(store, 1), what="a gap row")
    gaps = await store.list_stream_gaps(ACCOUNT)
    assert [(g.reason, g.closed_by) for g in gaps] == [("connection lost", "rest_catch_up")]
    assert gaps[0].rows_recovered >= 1
    assert (await store.get_order(ACCOUNT, "o1")) is not None


async def test_a_lost_event_on_a_live_connection_is_caught_up_at_once(store: Store) -> None:
    """An instant gap (an unreadable frame) runs a catch-up without waiting for a reconnect."""
    venue = FakeVenue()
    engine = SyncEngine(ACCOUNT, venue, store)  # type: ignore[arg-type]

    async def lose_one(stream: FakeStream) -> None:
        venue.put("o2", "new")
        now = dt.datetime.now(dt.UTC)
        await stream.on_gap(now, now, "unreadable event skipped")

    async def caught_up(_stream: FakeStream) -> bool:
        return (await store.get_order(ACCOUNT, "o2")) is not None and await _gap_count(store, 1)(
            _stream
        )

    await _run(engine, [_connect, lose_one], until=caught_up, what="o2 stored and a gap row")
    assert (await store.get_order(ACCOUNT, "o2")) is not None
    gaps = await store.list_stream_gaps(ACCOUNT)
    assert [g.reason for g in gaps] == ["unreadable event skipped"]


async def test_a_silence_is_a_gap_only_when_rest_finds_what_the_stream_missed(
    store: Store,
) -> None:
    """A mute stream with open orders is a 'silent' gap only when REST finds a missed change."""
    venue = FakeVenue()
    engine = SyncEngine(ACCOUNT, venue, store)  # type: ignore[arg-type]
    venue.put("o3", "new")
    await engine.sync_all()

    async def fill_silently(stream: FakeStream) -> None:
        venue.put("o3", "filled", filled="5")

    await _run(
        engine,
        [_connect, fill_silently],
        silence=0.2,
        until=_gap_count(store, 1),
        what="the silence watch records a gap",
    )
    gaps = await store.list_stream_gaps(ACCOUNT)
    assert [(g.reason, g.closed_by) for g in gaps] == [("silent", "rest_catch_up")]
    stored = await store.get_order(ACCOUNT, "o3")
    assert stored is not None
    assert stored.status.value == "filled"

    # Still silent, still an open order elsewhere, but nothing changes: no further gap.
    venue.put("o4", "new")
    await engine.sync_all()
    watched_from = 0

    async def mark(stream: FakeStream) -> None:
        nonlocal watched_from
        watched_from = venue.catch_ups  # the connect's own catch-up is already counted

    async def watched_twice(_stream: FakeStream) -> bool:
        # The watch is one loop: its second catch-up starting means the first one (and any gap
        # it would have recorded) is complete.
        return venue.catch_ups >= watched_from + 2

    await _run(
        engine,
        [_connect, mark],
        silence=0.2,
        until=watched_twice,
        what="two silence-watch catch-ups",
    )
    assert len(await store.list_stream_gaps(ACCOUNT)) == 1


async def test_events_are_applied_in_order_and_a_late_stale_one_changes_nothing(
    store: Store,
) -> None:
    """new, fill, late 'new' from the stream alone: filled, one fill row, position derived."""
    venue = FakeVenue()
    engine = SyncEngine(ACCOUNT, venue, store)  # type: ignore[arg-type]
    opened = venue.put("o5", "new", listed=False)

    async def fill(_stream: FakeStream) -> TradeUpdate:
        # The fill happens after the connect's catch-up read the (flat) positions: a position
        # is dated by the venue's event time, so an earlier fill would be older than that read.
        await asyncio.sleep(0.002)
        filled = venue.put("o5", "filled", filled="5", listed=False)
        return _event(filled, "fill", execution_id="x-1", price="100", qty="5", position_qty="5")

    async def applied(_stream: FakeStream) -> bool:
        return engine.events_applied >= 3

    await _run(
        engine,
        [_connect, _event(opened, "new"), fill, _event(opened, "new")],
        until=applied,
        what="three events applied",
    )
    stored = await store.get_order(ACCOUNT, "o5")
    assert stored is not None
    assert stored.status.value == "filled"
    assert stored.filled_qty == Decimal(5)
    assert engine.events_applied == 3
    fills = await store.fills_for_order(ACCOUNT, "o5")
    assert [(f.execution_id, f.qty) for f in fills] == [("x-1", Decimal(5))]
    positions = await store.positions(ACCOUNT)
    assert [(p.symbol, p.qty) for p in positions] == [("AAPL", Decimal(5))]


def _frame(order_id: str, status: str, event: str = "new") -> bytes:
    order = _order_json(order_id, status, dt.datetime.now(dt.UTC))
    data = {"event": event, "order": order, "timestamp": order["updated_at"]}
    return msgspec.json.encode({"stream": "trade_updates", "data": data})


async def _serve_frames(frames: list[bytes]) -> tuple[Any, str]:
    """A local WebSocket server speaking Alpaca's handshake, then sending ``frames`` verbatim."""
    from websockets.asyncio.server import ServerConnection, serve

    def control(stream: str, data: dict[str, Any]) -> bytes:
        return msgspec.json.encode({"stream": stream, "data": data})

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(control("authorization", {"status": "authorized", "action": "authenticate"}))
        await ws.recv()
        await ws.send(control("listening", {"streams": ["trade_updates"]}))
        for frame in frames:
            await ws.send(frame)
        await ws.wait_closed()

    server = await serve(handler, "127.0.0.1", 0, close_timeout=0.2)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/stream"


async def test_unreadable_frames_are_quarantined_with_their_bytes_and_gaps(store: Store) -> None:
    """Through the real stream: each unreadable frame is a quarantine row (its bytes verbatim,
    kind trade_update, source stream) and a gap row; the good events around them are stored."""
    from alpaca_integration.sync.stream import default_stream_factory

    garbage = b"\x00\xffnot a frame"
    unknown_status = _frame("o-bad", "frobnicated")
    frames = [_frame("o1", "new"), garbage, unknown_status, _frame("o2", "new")]
    server, url = await _serve_frames(frames)
    venue = FakeVenue()  # REST knows none of these orders: only the stream can store them
    engine = SyncEngine(ACCOUNT, venue, store)  # type: ignore[arg-type]
    factory = default_stream_factory("PK", "secret", url, ping_interval=5.0, ping_timeout=5.0)
    ingestor = StreamIngestor(engine, factory)
    task = asyncio.create_task(ingestor.run())

    async def settled() -> bool:
        if task.done():
            task.result()
        stored = [await store.get_order(ACCOUNT, o) for o in ("o1", "o2")]
        gaps = await store.list_stream_gaps(ACCOUNT)
        return None not in stored and len(gaps) == 2 and ingestor.frames_quarantined == 2

    try:
        await _eventually(settled, "o1 and o2 stored, two frames quarantined, two gap rows")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
        await server.wait_closed()
    rows = {row.raw: row for row in await store.list_quarantine(ACCOUNT)}
    assert set(rows) == {garbage, unknown_status}
    assert {(r.record_kind, r.source) for r in rows.values()} == {("trade_update", "stream")}
    assert rows[unknown_status].record_key.startswith("o-bad#")
    assert "frobnicated" in rows[unknown_status].reason
    assert rows[garbage].record_key.startswith("sha256:")
    gaps = await store.list_stream_gaps(ACCOUNT)
    assert all(g.gap_from == g.gap_to and g.closed_by == "rest_catch_up" for g in gaps)
    assert (await store.get_order(ACCOUNT, "o-bad")) is None


def test_a_stream_cut_short_again_and_again_names_the_likely_cause() -> None:
    """Three sessions in a row closed right after connecting give the warning (naming a second
    monitor on the same key); one session that lasts clears it; a single blip says nothing."""
    import datetime as dt

    from alpaca_integration.sync.stream import SHORT_SESSION_SECONDS, SessionLog

    sessions = SessionLog("main")

    def session(seconds: float) -> str | None:
        sessions.connected()
        assert sessions.started_at is not None
        return sessions.ended(sessions.started_at + dt.timedelta(seconds=seconds), "code 1008")

    assert session(1) is None
    assert session(2) is None
    warning = session(1)
    assert warning is not None
    assert "same API key" in warning
    assert "'main'" in warning
    assert "code 1008" in warning
    assert sessions.warning == warning
    assert session(SHORT_SESSION_SECONDS + 1) is None
    assert sessions.warning is None
    assert session(1) is None


async def test_a_burst_of_unreadable_frames_costs_at_most_two_catch_ups(store: Store) -> None:
    """50 events lost on a live connection (unreadable frames) are 50 gap rows but at most two
    REST catch-ups beside the stream (one running, one more after it), not 50."""
    venue = FakeVenue()
    engine = SyncEngine(ACCOUNT, venue, store)  # type: ignore[arg-type]
    t0 = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)

    async def lost(stream: FakeStream) -> None:
        await stream.on_gap(t0, t0, "unreadable frame")

    ingestor = await _run(
        engine,
        [_connect, *([lost] * 50)],
        until=_gap_count(store, 50),
        what="50 gap rows and no catch-up left to run",
        settled=True,
    )
    assert ingestor.gaps_recorded == 50
    # The connect's catch-up (one account read each), then at most two for the burst.
    assert venue.catch_ups <= 3
