"""The trade_updates WebSocket of the simulated venue.

Protocol (as Alpaca's paper endpoint): the client sends ``authenticate`` with its key pair and
gets an ``authorization`` reply; then ``listen`` with ``["trade_updates"]`` and gets a
``listening`` reply; from then on every event of its account arrives as
``{"stream": "trade_updates", "data": {...}}``. Frames are binary: JSON, or MessagePack when the
handshake carried ``Content-Type: application/msgpack``. Client messages may be text or binary,
JSON or MessagePack.

One connection per key: when a second connection of the same key authenticates, the older one is
closed with code 1008 ("replaced by a newer connection"). Nothing is replayed: events produced
while a key has no listening connection are lost, as on Alpaca.

Faults (``FaultConfig``): ``stream_mode`` ``silent`` keeps connections open and answering the
handshake but sends no events; ``drop`` closes every connection (new ones right after
authorization) with code 1011; ``stream_duplicate_rate`` sends an event twice;
``stream_late_rate`` delays an event by ``stream_late_ms`` so later events overtake it;
``reorder_probability`` holds an event back until the account's next event, which goes out
first (each still exactly once; a held event with no successor within ``reorder_window_ms`` goes
out alone).

For benchmarks, the hub keeps when each fill event's frame was handed to its connection's socket,
against the event's own ``timestamp`` (``fill_send_lags``: the venue's part of a fill's way to a
client's store, ``GET /_sim/stream/lags``).

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import msgpack
import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from alpaca_integration.simulator.config import FaultConfig

__all__ = ["StreamHub"]

_REPLACED = 1008
_DROPPED = 1011
# Fill events whose send lag is kept (the latest; a benchmark reads them after each phase).
SEND_LAGS_KEPT = 100_000
_FILL_EVENTS = frozenset({"fill", "partial_fill"})

# A frame queued for a connection, with the fill it reports: (venue time in UNIX seconds, order id).
_Fill = tuple[float, str]
_Queued = tuple[bytes, _Fill | None]


class _Connection:
    __slots__ = ("closed", "held", "key_id", "listening", "msgpack", "queue", "websocket")

    def __init__(self, websocket: WebSocket, *, use_msgpack: bool) -> None:
        self.websocket = websocket
        self.msgpack = use_msgpack
        self.key_id: str | None = None
        self.listening = False
        self.closed = False
        self.queue: asyncio.Queue[_Queued | None] = asyncio.Queue()
        # The event held back by the reorder fault, waiting to be overtaken by the next one.
        self.held: _Queued | None = None

    def encode(self, message: dict[str, Any]) -> bytes:
        if self.msgpack:
            return bytes(msgpack.packb(message, use_bin_type=True))
        return msgspec.json.encode(message)

    def close_soon(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


class StreamHub:
    """Connections by key, and the fan-out of broker events to them."""

    def __init__(
        self,
        *,
        authenticate: Callable[[str | None, str | None], object],
        faults: Callable[[], FaultConfig],
        seed: int,
    ) -> None:
        self._authenticate = authenticate
        self._faults = faults
        self._rng = random.Random(f"{seed}:stream")
        self._by_key: dict[str, _Connection] = {}
        self._close_codes: dict[int, int] = {}
        self.delivered = 0
        # (fill's venue time, its order id, ms from that time until its frame was handed to the
        # socket), oldest first.
        self.fill_send_lags: deque[tuple[float, str, float]] = deque(maxlen=SEND_LAGS_KEPT)

    def listener_count(self) -> int:
        return sum(1 for c in self._by_key.values() if c.listening and not c.closed)

    def has_listener(self, key_id: str) -> bool:
        connection = self._by_key.get(key_id)
        return connection is not None and connection.listening

    def publish(self, key_id: str, message: dict[str, Any]) -> None:
        """Called by the broker for every event (on the event loop)."""
        connection = self._by_key.get(key_id)
        if connection is None or not connection.listening or connection.closed:
            return
        faults = self._faults()
        if faults.stream_mode != "normal":
            return
        frame = (connection.encode(message), _fill_of(message))
        held = connection.held
        if held is not None:
            # The reorder fault: this event overtakes the one held back for it.
            connection.held = None
            self._send(connection, frame, faults)
            self._send(connection, held, faults)
        elif faults.reorder_probability and self._rng.random() < faults.reorder_probability:
            connection.held = frame
            loop = asyncio.get_running_loop()
            loop.call_later(faults.reorder_window_ms / 1000, self._release_held, connection, frame)
        else:
            self._send(connection, frame, faults)

    def fill_send_lags_since(self, since: float) -> list[tuple[str, float]]:
        """(order id, send lag in ms) of the fill events whose venue time is >= ``since``."""
        return [(order_id, lag) for at, order_id, lag in self.fill_send_lags if at >= since]

    def _send(self, connection: _Connection, frame: _Queued, faults: FaultConfig) -> None:
        """Queue ``frame``, late or twice when those faults say so."""
        if faults.stream_late_rate and self._rng.random() < faults.stream_late_rate:
            loop = asyncio.get_running_loop()
            loop.call_later(faults.stream_late_ms / 1000, self._late, connection, frame)
        else:
            connection.queue.put_nowait(frame)
        if faults.stream_duplicate_rate and self._rng.random() < faults.stream_duplicate_rate:
            connection.queue.put_nowait(frame)

    @staticmethod
    def _late(connection: _Connection, frame: _Queued) -> None:
        if not connection.closed:
            connection.queue.put_nowait(frame)

    def _release_held(self, connection: _Connection, frame: _Queued) -> None:
        """No event came to overtake the held one within the window: it goes out alone."""
        if connection.held is frame and not connection.closed:
            connection.held = None
            self._send(connection, frame, self._faults())

    def drop_all(self) -> int:
        """Close every connection (code 1011), as a network failure would."""
        connections = list(self._by_key.values())
        for connection in connections:
            self._close_codes[id(connection)] = _DROPPED
            connection.close_soon()
        self._by_key.clear()
        return len(connections)

    def apply_faults(self) -> None:
        if self._faults().stream_mode == "drop":
            self.drop_all()

    async def serve(self, websocket: WebSocket) -> None:
        """Run one client connection until it closes."""
        content_type = websocket.headers.get("content-type", "")
        connection = _Connection(websocket, use_msgpack="msgpack" in content_type.lower())
        await websocket.accept()
        sender = asyncio.create_task(self._send_loop(connection))
        try:
            await self._receive_loop(connection)
        except (WebSocketDisconnect, RuntimeError):
            # The peer left (or we closed and the server reports it): the connection is over.
            pass
        finally:
            connection.close_soon()
            if connection.key_id is not None and self._by_key.get(connection.key_id) is connection:
                del self._by_key[connection.key_id]
            with contextlib.suppress(Exception):
                await sender

    async def _send_loop(self, connection: _Connection) -> None:
        websocket = connection.websocket
        try:
            while True:
                queued = await connection.queue.get()
                if queued is None:
                    break
                frame, fill = queued
                await websocket.send_bytes(frame)
                self.delivered += 1
                if fill is not None:
                    at, order_id = fill
                    self.fill_send_lags.append((at, order_id, (time.time() - at) * 1000))
        except Exception:  # the peer went away while we were sending: nothing left to do
            connection.closed = True
            return
        code = self._close_codes.pop(id(connection), 1000)
        if websocket.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close(code=code)

    def _reply(self, connection: _Connection, message: dict[str, Any]) -> None:
        if not connection.closed:
            connection.queue.put_nowait((connection.encode(message), None))

    async def _receive_loop(self, connection: _Connection) -> None:
        websocket = connection.websocket
        while not connection.closed:
            received = await websocket.receive()
            if received["type"] == "websocket.disconnect":
                return
            raw = received.get("bytes") or (received.get("text") or "").encode()
            message = _decode(raw)
            if message is None:
                self._reply(
                    connection,
                    {"stream": "error", "data": {"error_message": "invalid syntax"}},
                )
                continue
            action = message.get("action")
            raw_data = message.get("data")
            data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
            if action in ("authenticate", "auth"):
                self._on_authenticate(connection, data)
            elif action == "listen":
                self._on_listen(connection, data)
            else:
                self._reply(
                    connection,
                    {"stream": "error", "data": {"error_message": f"unknown action {action!r}"}},
                )

    def _on_authenticate(self, connection: _Connection, data: dict[str, Any]) -> None:
        key_id = data.get("key_id")
        secret = data.get("secret_key")
        try:
            self._authenticate(
                key_id if isinstance(key_id, str) else None,
                secret if isinstance(secret, str) else None,
            )
        except Exception:
            self._reply(
                connection,
                {
                    "stream": "authorization",
                    "data": {"status": "unauthorized", "action": "authenticate"},
                },
            )
            connection.close_soon()
            return
        assert isinstance(key_id, str)
        self._reply(
            connection,
            {"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}},
        )
        if self._faults().stream_mode == "drop":
            self._close_codes[id(connection)] = _DROPPED
            connection.close_soon()
            return
        previous = self._by_key.get(key_id)
        if previous is not None and previous is not connection:
            self._close_codes[id(previous)] = _REPLACED
            previous.close_soon()
        connection.key_id = key_id
        self._by_key[key_id] = connection

    def _on_listen(self, connection: _Connection, data: dict[str, Any]) -> None:
        if connection.key_id is None:
            self._reply(
                connection,
                {"stream": "authorization", "data": {"status": "unauthorized", "action": "listen"}},
            )
            return
        streams = data.get("streams")
        wanted = [s for s in streams if isinstance(s, str)] if isinstance(streams, list) else []
        connection.listening = "trade_updates" in wanted
        self._reply(
            connection,
            {
                "stream": "listening",
                "data": {"streams": ["trade_updates"] if connection.listening else []},
            },
        )


def _fill_of(message: dict[str, Any]) -> _Fill | None:
    """(venue time in UNIX seconds, order id) of a fill event; None for any other message."""
    data = message.get("data")
    if not isinstance(data, dict) or data.get("event") not in _FILL_EVENTS:
        return None
    order = data.get("order")
    with contextlib.suppress(AttributeError, KeyError, TypeError, ValueError):
        at = dt.datetime.fromisoformat(str(data["timestamp"])).timestamp()
        return at, str(order["id"])  # type: ignore[index]
    return None


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(raw)
    except ValueError:
        try:
            message = msgpack.unpackb(raw, raw=False)
        except Exception:
            return None
    return message if isinstance(message, dict) else None
