"""The simulator's trade_updates WebSocket over real sockets: handshake, binary JSON and
MessagePack frames, event fields, one connection per key, and the stream faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import msgpack
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle

pytestmark = pytest.mark.e2e

ORDER = {"symbol": "AAPL", "qty": "2", "side": "buy", "type": "market", "time_in_force": "day"}


class Listener:
    """A raw client of the stream: sends JSON text, decodes binary frames (JSON or msgpack)."""

    def __init__(self, url: str, *, use_msgpack: bool = False) -> None:
        headers = {"Content-Type": "application/msgpack"} if use_msgpack else None
        self.ws: ClientConnection = connect(url, additional_headers=headers, open_timeout=10)
        self.msgpack = use_msgpack

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def recv(self, timeout: float = 10) -> dict[str, Any]:
        frame = self.ws.recv(timeout=timeout)
        assert isinstance(frame, bytes), "the stream sends binary frames"
        decoded = msgpack.unpackb(frame) if self.msgpack else json.loads(frame)
        assert isinstance(decoded, dict)
        return decoded

    def authenticate(self, key: str = SIM_API_KEY, secret: str = SIM_SECRET_KEY) -> dict[str, Any]:
        self.send({"action": "authenticate", "data": {"key_id": key, "secret_key": secret}})
        return self.recv()

    def listen(self) -> dict[str, Any]:
        self.send({"action": "listen", "data": {"streams": ["trade_updates"]}})
        return self.recv()

    def events(self, count: int) -> list[dict[str, Any]]:
        return [self.recv()["data"] for _ in range(count)]

    def order_events(self, count: int) -> list[tuple[str, str]]:
        """The next ``count`` events as (event, order id)."""
        return [(e["event"], e["order"]["id"]) for e in self.events(count)]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def rest(simulator: SimulatorHandle) -> Iterator[httpx.Client]:
    """An httpx client for the simulator's REST API with the demo keys; AAPL pinned at 100."""
    simulator.set_price("AAPL", "100.00")
    headers = {"APCA-API-KEY-ID": SIM_API_KEY, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}
    with httpx.Client(base_url=simulator.base_url, headers=headers, timeout=30) as client:
        client.get("/v2/account")
        yield client


def place(rest: httpx.Client) -> str:
    """Submit ``ORDER``; its id."""
    order_id = rest.post("/v2/orders", json=ORDER).json()["id"]
    assert isinstance(order_id, str)
    return order_id


def ready(simulator: SimulatorHandle, use_msgpack: bool = False) -> Listener:
    listener = Listener(simulator.stream_url, use_msgpack=use_msgpack)
    assert listener.authenticate() == {
        "stream": "authorization",
        "data": {"status": "authorized", "action": "authenticate"},
    }
    assert listener.listen() == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    return listener


def test_handshake_then_each_event_as_a_binary_json_frame(
    simulator: SimulatorHandle, rest: httpx.Client
) -> None:
    """After authorization and listening, a market order streams pending_new, new and fill,
    the fill with execution_id, price, qty and position_qty."""
    listener = ready(simulator)
    order = rest.post("/v2/orders", json=ORDER).json()
    pending, new, fill = listener.events(3)
    assert [e["event"] for e in (pending, new, fill)] == ["pending_new", "new", "fill"]
    assert {e["order"]["id"] for e in (pending, new, fill)} == {order["id"]}
    assert (fill["price"], fill["qty"], fill["position_qty"]) == ("100", "2", "2")
    assert fill["order"]["status"] == "filled"
    assert "execution_id" in fill
    assert "execution_id" not in new
    activity = rest.get("/v2/account/activities/FILL").json()[0]
    assert fill["timestamp"] == activity["transaction_time"]
    listener.close()


def test_the_stream_also_answers_at_stream_with_a_trailing_slash(
    simulator: SimulatorHandle, rest: httpx.Client
) -> None:
    """alpaca-trade-api connects at ``/stream/``: the same handshake there (JSON text
    authenticate and listen) authorizes, listens and receives the account's trade_updates."""
    listener = Listener(simulator.stream_url + "/")
    assert listener.authenticate()["data"] == {"status": "authorized", "action": "authenticate"}
    assert listener.listen()["data"] == {"streams": ["trade_updates"]}
    order = rest.post("/v2/orders", json=ORDER).json()
    events = listener.events(3)
    assert [e["event"] for e in events] == ["pending_new", "new", "fill"]
    assert {e["order"]["id"] for e in events} == {order["id"]}
    listener.close()


def test_msgpack_frames_when_the_handshake_asks_for_them(
    simulator: SimulatorHandle, rest: httpx.Client
) -> None:
    """With Content-Type: application/msgpack every frame, replies included, is MessagePack."""
    listener = ready(simulator, use_msgpack=True)
    rest.post("/v2/orders", json=ORDER)
    assert [e["event"] for e in listener.events(3)] == ["pending_new", "new", "fill"]
    listener.close()


def test_wrong_secret_is_unauthorized_and_closed(
    simulator: SimulatorHandle, rest: httpx.Client
) -> None:
    """A key with the wrong secret gets an unauthorized reply and the connection closes."""
    listener = Listener(simulator.stream_url)
    reply = listener.authenticate(secret="not-the-secret")
    assert reply["data"] == {"status": "unauthorized", "action": "authenticate"}
    with pytest.raises(ConnectionClosed):
        listener.recv(timeout=10)


def test_listen_before_authenticating_is_refused(simulator: SimulatorHandle) -> None:
    """listen without authenticate first answers unauthorized for the listen action."""
    listener = Listener(simulator.stream_url)
    reply = listener.listen()
    assert reply["data"] == {"status": "unauthorized", "action": "listen"}
    listener.close()


def test_a_second_connection_for_a_key_closes_the_first(
    simulator: SimulatorHandle, rest: httpx.Client
) -> None:
    """One connection per key: a newer one takes over and the older is closed with 1008."""
    first = ready(simulator)
    second = ready(simulator)
    with pytest.raises(ConnectionClosed) as info:
        first.recv(timeout=10)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1008
    rest.post("/v2/orders", json=ORDER)
    assert [e["event"] for e in second.events(3)] == ["pending_new", "new", "fill"]
    second.close()


def test_silent_stream_stays_open_and_mute(simulator: SimulatorHandle, rest: httpx.Client) -> None:
    """In silent mode the handshake works but events are lost; back to normal they flow."""
    listener = ready(simulator)
    simulator.set_faults(stream_mode="silent")
    muted = rest.post("/v2/orders", json=ORDER).json()
    simulator.set_faults(stream_mode="normal")
    heard = rest.post("/v2/orders", json=ORDER).json()
    events = listener.events(3)
    assert {e["order"]["id"] for e in events} == {heard["id"]}
    assert muted["id"] != heard["id"]
    listener.close()


def test_drop_mode_closes_connections_until_switched_off(simulator: SimulatorHandle) -> None:
    """stream_mode=drop closes open connections (1011) and new ones right after authorizing."""
    listener = ready(simulator)
    simulator.set_faults(stream_mode="drop")
    with pytest.raises(ConnectionClosed) as info:
        listener.recv(timeout=10)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1011
    again = Listener(simulator.stream_url)
    assert again.authenticate()["data"]["status"] == "authorized"
    with pytest.raises(ConnectionClosed):
        again.recv(timeout=10)
    simulator.set_faults(stream_mode="normal")
    ready(simulator).close()


def test_duplicated_events(simulator: SimulatorHandle, rest: httpx.Client) -> None:
    """With stream_duplicate_rate 1 every event arrives twice, back to back."""
    listener = ready(simulator)
    simulator.set_faults(stream_duplicate_rate=1.0)
    rest.post("/v2/orders", json=ORDER)
    names = [e["event"] for e in listener.events(6)]
    assert names == ["pending_new", "pending_new", "new", "new", "fill", "fill"]
    listener.close()


def test_late_events_arrive_after_later_ones(
    simulator: SimulatorHandle, rest: httpx.Client
) -> None:
    """With stream_late_rate 1 an order's events are held back; a later order's, sent on time
    once the fault is off, overtake them."""
    listener = ready(simulator)
    simulator.set_faults(stream_late_rate=1.0, stream_late_ms=1500)
    late = place(rest)
    simulator.set_faults(stream_late_rate=0.0)
    prompt = place(rest)
    order_ids = [e["order"]["id"] for e in listener.events(6)]
    assert order_ids == [prompt] * 3 + [late] * 3
    listener.close()


def test_reordered_events_swap_with_the_next_one_and_come_once(
    simulator: SimulatorHandle, rest: httpx.Client
) -> None:
    """With reorder_probability 1 an event is held until the account's next one, which goes
    first: pending_new and new swap; the held fill goes out alone after the window."""
    listener = ready(simulator)
    simulator.set_faults(reorder_probability=1.0, reorder_window_ms=200)
    order = place(rest)
    assert listener.order_events(3) == [("new", order), ("pending_new", order), ("fill", order)]
    simulator.set_faults(reorder_probability=0.0)
    after = place(rest)
    assert listener.order_events(3) == [("pending_new", after), ("new", after), ("fill", after)]
    listener.close()


def test_a_held_event_is_overtaken_by_the_next_order_s_first_event(
    simulator: SimulatorHandle, rest: httpx.Client
) -> None:
    """An event held back (long window) is overtaken by the account's next event even when
    that belongs to another order, and then arrives; nothing is lost or repeated."""
    listener = ready(simulator)
    simulator.set_faults(reorder_probability=1.0, reorder_window_ms=60_000)
    first = place(rest)
    assert listener.order_events(2) == [("new", first), ("pending_new", first)]
    simulator.set_faults(reorder_probability=0.0)
    second = place(rest)
    assert listener.order_events(4) == [
        ("pending_new", second),
        ("fill", first),
        ("new", second),
        ("fill", second),
    ]
    listener.close()
