"""The trade_updates stream: frames (JSON and MessagePack), every event kind, fills from events."""

from __future__ import annotations

import json
from decimal import Decimal

import msgpack
import msgspec
import pytest
from wire_payloads import DATA_DIR, load_json, payload, utc

from alpaca_integration.alpaca.parse import (
    StreamAuthorization,
    StreamListening,
    StreamTradeUpdate,
    StreamUnknown,
    decode_stream_frame,
    encode_stream_auth,
    encode_stream_listen,
    fill_from_trade_update,
    parse_trade_update,
)
from alpaca_integration.errors import ParseError
from alpaca_integration.models import (
    DataSource,
    FillType,
    OrderSide,
    OrderStatus,
    TradeEventKind,
    TradeUpdate,
)

D = Decimal
ORDER_ID = "db4b9387-1e6e-5297-9759-97902a6eba6a"
EVENT_FILES = sorted(path.name for path in DATA_DIR.glob("ws_trade_updates_*.json"))


def _update(name: str) -> TradeUpdate:
    message = decode_stream_frame(payload(name))
    assert isinstance(message, StreamTradeUpdate)
    return message.update


def test_a_payload_file_exists_for_every_event_kind() -> None:
    """tests/data holds one trade_updates file per known event kind."""
    kinds = {name.removeprefix("ws_trade_updates_").removesuffix(".json") for name in EVENT_FILES}
    assert kinds == {kind.value for kind in TradeEventKind} - {"unknown"}


@pytest.mark.parametrize("name", EVENT_FILES)
def test_every_event_file_parses_to_its_kind_and_order_status(name: str) -> None:
    """Each event maps to its TradeEventKind with the order (and status) it carried."""
    expected = load_json(name)["data"]
    update = _update(name)
    assert update.event.value == expected["event"] == update.event_name
    assert update.order.id == expected["order"]["id"]
    assert update.order.status.value == expected["order"]["status"]
    assert json.loads(update.raw) == expected
    assert update.timestamp.tzinfo is not None
    assert update.timestamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_fill_event_every_field() -> None:
    """A fill event: execution id, this execution's qty and price, position after it."""
    update = _update("ws_trade_updates_fill.json")
    assert update.event is TradeEventKind.FILL
    assert update.execution_id == "8c4d3a1f-9e5b-4d2c-8f7a-6b3e2d1c0fa2"
    assert update.price == D("187.50")
    assert update.qty == D("60")
    assert update.position_qty == D("200")
    assert update.timestamp == utc(2024, 3, 15, 13, 45, 3, 100200)
    order = update.order
    assert order.id == ORDER_ID
    assert (order.status, order.qty, order.filled_qty) == (OrderStatus.FILLED, D("100"), D("100"))
    assert order.filled_avg_price == D("187.496")


def test_partial_fill_with_json_numbers_and_nanoseconds() -> None:
    """Numbers sent as JSON numbers are exact Decimals; .999999999 truncates, never rounds up."""
    update = _update("ws_trade_updates_partial_fill.json")
    assert (update.price, update.qty, update.position_qty) == (D("187.49"), D("40"), D("140"))
    assert update.timestamp == utc(2024, 3, 15, 13, 45, 2, 999999)


def test_canceled_event_with_offset_timestamp_becomes_utc() -> None:
    """A -04:00 event timestamp is the same instant in UTC; non-fill events carry no price."""
    update = _update("ws_trade_updates_canceled.json")
    assert update.timestamp == utc(2024, 3, 15, 14, 0, 0, 500000)
    assert (update.price, update.qty, update.execution_id) == (None, None, None)
    assert update.order.canceled_at == utc(2024, 3, 15, 14, 0, 0, 500000)


def test_replaced_event_names_the_replacement() -> None:
    """A replaced event's order points to the order replacing it."""
    update = _update("ws_trade_updates_replaced.json")
    assert update.order.status is OrderStatus.REPLACED
    assert update.order.replaced_by == "a00d0b88-e40d-5807-b975-bc6251c0de57"


def test_held_event_is_a_bracket_leg() -> None:
    """A held event carries the waiting stop leg of a bracket."""
    update = _update("ws_trade_updates_held.json")
    assert update.event is TradeEventKind.HELD
    assert update.order.status is OrderStatus.HELD
    assert update.order.stop_price == D("172.00")


def test_unknown_event_kind_is_kept_not_lost() -> None:
    """An event name this version does not know maps to UNKNOWN and keeps its name."""
    data = load_json("ws_trade_updates_new.json")["data"]
    update = parse_trade_update({**data, "event": "pending_review"})
    assert update.event is TradeEventKind.UNKNOWN
    assert update.event_name == "pending_review"


def test_missing_event_timestamp_falls_back_to_the_order() -> None:
    """Without a timestamp the event is dated by the order's newest timestamp."""
    data = load_json("ws_trade_updates_new.json")["data"]
    del data["timestamp"]
    update = parse_trade_update(json.dumps(data))
    assert update.timestamp == update.order.updated_at == utc(2024, 3, 15, 13, 45, 0, 4000)


def test_trade_update_from_a_mapping_equals_from_bytes() -> None:
    """parse_trade_update accepts the decoded data mapping as well as its bytes."""
    data = load_json("ws_trade_updates_fill.json")["data"]
    from_mapping = parse_trade_update(data)
    from_bytes = parse_trade_update(json.dumps(data).encode())
    assert from_mapping.order == parse_trade_update(from_mapping.raw).order
    assert (from_mapping.price, from_mapping.qty) == (from_bytes.price, from_bytes.qty)
    assert from_mapping.order.filled_qty == from_bytes.order.filled_qty


# --------------------------------------------------------------------------- fills


def test_fill_from_a_fill_event() -> None:
    """A fill event yields a stream Fill keyed by execution id with cum and leaves qty."""
    fill = fill_from_trade_update(_update("ws_trade_updates_fill.json"))
    assert fill is not None
    assert fill.fill_id == fill.execution_id == "8c4d3a1f-9e5b-4d2c-8f7a-6b3e2d1c0fa2"
    assert fill.activity_id is None
    assert fill.order_id == ORDER_ID
    assert fill.client_order_id == "ai-2c1f0d3e9b8a4f7e8d6c5b4a39281706"
    assert fill.symbol == "AAPL"
    assert fill.side is OrderSide.BUY
    assert (fill.qty, fill.price) == (D("60"), D("187.50"))
    assert fill.timestamp == utc(2024, 3, 15, 13, 45, 3, 100200)
    assert fill.fill_type is FillType.FILL
    assert (fill.cum_qty, fill.leaves_qty, fill.position_qty) == (D("100"), D("0"), D("200"))
    assert fill.source is DataSource.STREAM


def test_fill_from_a_partial_fill_event() -> None:
    """A partial fill: leaves_qty is what remains of the order."""
    fill = fill_from_trade_update(_update("ws_trade_updates_partial_fill.json"))
    assert fill is not None
    assert fill.fill_type is FillType.PARTIAL_FILL
    assert (fill.qty, fill.cum_qty, fill.leaves_qty) == (D("40"), D("40"), D("60"))


@pytest.mark.parametrize(
    "name", [n for n in EVENT_FILES if not n.endswith(("_fill.json", "_partial_fill.json"))]
)
def test_no_fill_from_other_events(name: str) -> None:
    """Only fill and partial_fill events produce a Fill."""
    assert fill_from_trade_update(_update(name)) is None


def test_fill_event_without_execution_id_is_an_error() -> None:
    """A fill event missing its execution id cannot be recorded: ParseError naming it."""
    data = load_json("ws_trade_updates_fill.json")["data"]
    del data["execution_id"]
    with pytest.raises(ParseError, match="execution_id"):
        fill_from_trade_update(parse_trade_update(data))


# --------------------------------------------------------------------------- frames


def test_authorization_and_listening_frames() -> None:
    """Control frames decode to StreamAuthorization / StreamListening."""
    authorized = decode_stream_frame(payload("ws_authorization_authorized.json"))
    assert authorized == StreamAuthorization(status="authorized", action="authenticate")
    assert isinstance(authorized, StreamAuthorization)
    assert authorized.authorized
    refused = decode_stream_frame(payload("ws_authorization_unauthorized.json"))
    assert isinstance(refused, StreamAuthorization)
    assert not refused.authorized
    listening = decode_stream_frame(payload("ws_listening.json").decode())
    assert listening == StreamListening(streams=("trade_updates",))


def test_messagepack_frame_decodes_like_json() -> None:
    """A MessagePack frame (detected, no flag) decodes to the same event as its JSON twin."""
    message = load_json("ws_trade_updates_fill.json")
    from_json = decode_stream_frame(payload("ws_trade_updates_fill.json"))
    from_msgpack = decode_stream_frame(msgpack.packb(message))
    assert isinstance(from_json, StreamTradeUpdate)
    assert isinstance(from_msgpack, StreamTradeUpdate)
    # raw differs between encodings (msgpack is re-encoded as JSON); every other field matches
    assert msgspec.structs.replace(from_msgpack.update.order, raw=b"") == msgspec.structs.replace(
        from_json.update.order, raw=b""
    )
    assert (from_msgpack.update.price, from_msgpack.update.execution_id) == (
        D("187.50"),
        "8c4d3a1f-9e5b-4d2c-8f7a-6b3e2d1c0fa2",
    )
    authorized = decode_stream_frame(msgpack.packb(load_json("ws_authorization_authorized.json")))
    assert authorized == StreamAuthorization(status="authorized", action="authenticate")


def test_unknown_stream_is_kept_verbatim() -> None:
    """A message on another stream is returned as StreamUnknown with its bytes."""
    frame = b'{"stream":"account_updates","data":{"cash":"1"}}'
    assert decode_stream_frame(frame) == StreamUnknown(stream="account_updates", raw=frame)


@pytest.mark.parametrize(
    "frame", [b"not json at all \xff", b'{"stream": "trade_updates", "data": ', b"\xc1"]
)
def test_garbage_frame_is_a_parse_error(frame: bytes) -> None:
    """A frame that is neither JSON nor MessagePack raises ParseError, not a raw exception."""
    with pytest.raises(ParseError):
        decode_stream_frame(frame)


def test_encode_auth_and_listen_messages() -> None:
    """The outgoing authenticate and listen messages have Alpaca's shape."""
    assert json.loads(encode_stream_auth("KEY", "SECRET")) == {
        "action": "authenticate",
        "data": {"key_id": "KEY", "secret_key": "SECRET"},
    }
    assert json.loads(encode_stream_listen()) == {
        "action": "listen",
        "data": {"streams": ["trade_updates"]},
    }
