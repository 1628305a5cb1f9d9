"""Alpaca ``trade_updates`` stream frames -> messages and models; the messages this package sends.

A frame is JSON or MessagePack (detected); ``decode_stream_frame`` returns one of
``StreamAuthorization``, ``StreamListening``, ``StreamTradeUpdate`` or ``StreamUnknown`` (a stream
this package does not handle, kept verbatim). ``fill_from_trade_update`` turns a fill event into a
``Fill`` keyed by its execution id, and refuses (``ParseError``) to make one up without it.

Pure: no I/O, no clock reads. Imports only ``models``, ``instruments``, ``errors`` and
``alpaca.{schemas,decoding,parse_orders}`` from the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from alpaca_integration.alpaca.decoding import (
    EVENT_KIND,
    as_bytes,
    decode,
    excerpt,
    missing_fields,
    utc_timestamp,
)
from alpaca_integration.alpaca.parse_orders import parse_order
from alpaca_integration.alpaca.schemas import (
    WireStreamAuthorization,
    WireStreamEnvelope,
    WireStreamListening,
    WireTradeUpdate,
)
from alpaca_integration.errors import ParseError
from alpaca_integration.instruments import instrument_class
from alpaca_integration.models import (
    DataSource,
    Fill,
    FillType,
    TradeEventKind,
    TradeUpdate,
)

__all__ = [
    "StreamAuthorization",
    "StreamListening",
    "StreamMessage",
    "StreamTradeUpdate",
    "StreamUnknown",
    "decode_stream_frame",
    "encode_stream_auth",
    "encode_stream_listen",
    "fill_from_trade_update",
    "parse_trade_update",
]

_TRADE_UPDATE = msgspec.json.Decoder(WireTradeUpdate)
_ENVELOPE = msgspec.json.Decoder(WireStreamEnvelope)
_AUTHORIZATION = msgspec.json.Decoder(WireStreamAuthorization)
_LISTENING = msgspec.json.Decoder(WireStreamListening)
_ENCODER = msgspec.json.Encoder()


class StreamAuthorization(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``authenticate``: ``status`` is ``authorized`` or ``unauthorized``."""

    status: str
    action: str

    @property
    def authorized(self) -> bool:
        return self.status == "authorized"


class StreamListening(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to ``listen``: the streams now subscribed."""

    streams: tuple[str, ...]


class StreamTradeUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One ``trade_updates`` event."""

    update: TradeUpdate


class StreamUnknown(msgspec.Struct, frozen=True, kw_only=True):
    """A message on a stream this package does not handle, kept verbatim."""

    stream: str
    raw: bytes


StreamMessage = StreamAuthorization | StreamListening | StreamTradeUpdate | StreamUnknown


def parse_trade_update(data: bytes | str | Mapping[str, Any]) -> TradeUpdate:
    """The ``data`` object of a ``trade_updates`` message -> ``TradeUpdate``. A missing
    ``timestamp`` falls back to the order's newest timestamp."""
    raw = _ENCODER.encode(data) if isinstance(data, Mapping) else as_bytes(data)
    wire = decode(_TRADE_UPDATE, raw, "trade update")
    order = parse_order(bytes(wire.order))
    timestamp = utc_timestamp(wire.timestamp, "trade update", "timestamp") or order.last_event_at
    return TradeUpdate(
        event=EVENT_KIND.get(wire.event, TradeEventKind.UNKNOWN),
        event_name=wire.event,
        order=order,
        timestamp=timestamp,
        execution_id=wire.execution_id or None,
        price=wire.price,
        qty=wire.qty,
        position_qty=wire.position_qty,
        raw=raw,
    )


def _frame_json(frame: bytes | str) -> bytes:
    """A frame as JSON bytes: JSON frames as they are, MessagePack frames re-encoded."""
    if isinstance(frame, str):
        return frame.encode("utf-8")
    data = bytes(frame)
    first = data.lstrip()[:1]
    if first in (b"{", b"["):
        return data
    try:
        document = msgspec.msgpack.decode(data)
    except msgspec.DecodeError as exc:
        raise ParseError(
            f"stream frame is neither JSON nor MessagePack ({exc}); frame starts {excerpt(data)!r}",
            shape="stream frame",
            value=excerpt(data),
        ) from None
    return _ENCODER.encode(document)


def decode_stream_frame(frame: bytes | str) -> StreamMessage:
    """One WebSocket frame of the trading stream (JSON or MessagePack, detected) -> a message."""
    data = _frame_json(frame)
    envelope = decode(_ENVELOPE, data, "stream frame")
    stream = envelope.stream
    payload = bytes(envelope.data) or b"{}"
    if stream == "trade_updates":
        return StreamTradeUpdate(update=parse_trade_update(payload))
    if stream == "authorization":
        authorization = decode(_AUTHORIZATION, payload, "stream authorization")
        return StreamAuthorization(status=authorization.status, action=authorization.action)
    if stream == "listening":
        listening = decode(_LISTENING, payload, "stream listening")
        return StreamListening(streams=tuple(listening.streams))
    return StreamUnknown(stream=stream, raw=data)


def fill_from_trade_update(update: TradeUpdate) -> Fill | None:
    """The execution a fill/partial_fill event reports, or ``None`` for any other event.

    ``fill_id`` is the execution id; ``cum_qty`` the order's filled qty after this execution;
    ``leaves_qty`` what remains of the order's qty (None for notional orders)."""
    if not update.event.is_fill:
        return None
    order = update.order
    execution_id, price, qty, side = update.execution_id, update.price, update.qty, order.side
    if not execution_id or price is None or qty is None or side is None:
        missing = missing_fields(
            {"execution_id": execution_id, "price": price, "qty": qty, "order.side": side}
        )
        raise ParseError(
            f"trade update {update.event_name} for order {order.id}: missing {missing}; a fill"
            " cannot be recorded without them",
            shape=f"trade update {update.event_name}",
            value=order.id,
        )
    leaves_qty = None if order.qty is None else order.qty - order.filled_qty
    return Fill(
        fill_id=execution_id,
        execution_id=execution_id,
        activity_id=None,
        order_id=order.id,
        client_order_id=order.client_order_id or None,
        symbol=order.symbol,
        side=side,
        qty=qty,
        price=price,
        timestamp=update.timestamp,
        fill_type=FillType.FILL if update.event is TradeEventKind.FILL else FillType.PARTIAL_FILL,
        leaves_qty=leaves_qty,
        cum_qty=order.filled_qty,
        position_qty=update.position_qty,
        source=DataSource.STREAM,
        asset_class=instrument_class(order.asset_class, order.symbol),
        multiplier=order.multiplier,
        raw=update.raw,
    )


def encode_stream_auth(key_id: str, secret_key: str) -> bytes:
    """The ``authenticate`` message. It carries the secret by necessity: send it, never log it."""
    return _ENCODER.encode(
        {"action": "authenticate", "data": {"key_id": key_id, "secret_key": secret_key}}
    )


def encode_stream_listen() -> bytes:
    """The ``listen`` message subscribing to ``trade_updates``."""
    return _ENCODER.encode({"action": "listen", "data": {"streams": ["trade_updates"]}})
