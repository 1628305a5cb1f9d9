"""Alpaca's activities event stream (``GET /v2beta1/events/activities``): SSE frames -> models.

Two pure pieces, no I/O and no clock reads:

* ``SseDecoder``: the Server-Sent Events wire format, fed the response body in whatever chunks
  the network delivers (a frame may be split anywhere, even inside a ``\\r\\n``). It follows the
  WHATWG rules: ``\\n``, ``\\r\\n`` or ``\\r`` end a line; a blank line dispatches the event;
  ``data:`` lines are joined with ``\\n``; ``id:`` sets the last event id (an id containing NUL
  is ignored); ``retry:`` with digits only sets the reconnection time; a line starting with
  ``:`` is a comment (Alpaca sends heartbeats and errors such as ``: internal server error`` as
  comments); a field name without a colon has an empty value; unknown fields are ignored; an
  event with no data is not dispatched; a leading byte-order mark is dropped.
* ``parse_activity_event``: one event's ``data`` (Alpaca's ``ActivityEventV2``: a common
  envelope with ``event_id``, a ULID, lexically sortable and increasing, and type-specific
  ``details``) -> ``ActivityEvent(event_id, item)``, where ``item`` is what the REST activity
  parser makes of the same activity: a ``Fill`` for a ``FILL``, an ``Activity`` otherwise. The
  event is rewritten into the REST activity shape and handed to ``parse_activities``, so both
  sources share one set of rules.

Identity, which is what lets the sync dedupe this stream against REST paging and trade_updates:

* a FILL's ``ref_id`` is the execution id (Alpaca: "for trades, the execution_id is used"): the
  ``Fill`` has ``execution_id = ref_id`` and no activity id, so the store merges it with the
  trade_updates fill (same execution id) and the REST FILL activity (same ``order_id`` and
  ``cum_qty``) into one row;
* a non-trade activity's ``ref_id`` is its transaction id. Its ``Activity.id`` is built as
  Alpaca's REST activity id, ``<YYYYMMDDhhmmssmmm, New York time of executed_at>::<ref_id>``
  (``rest_activity_id``), so a REST page listing the same activity upserts the same row. This is
  how the simulator numbers activities; against the live venue it is an assumption (Alpaca does
  not document the link between the two ids), and a mismatch would show as two rows for one
  activity, which the reconcile checks report.

A trade correction or bust (``execution_type`` other than ``fill``) is refused with a
``ParseError``: the store has no model for them, and the REST catch-up keeps the truth.

Imports only ``models``, ``errors`` and ``alpaca.{decoding,parse}`` from the package.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import msgspec

from alpaca_integration.alpaca.decoding import as_bytes, decode, excerpt, required_timestamp
from alpaca_integration.alpaca.parse import parse_activities
from alpaca_integration.errors import ParseError
from alpaca_integration.models import Activity, DataSource, Fill

__all__ = [
    "ActivityEvent",
    "SseComment",
    "SseDecoder",
    "SseEvent",
    "parse_activity_event",
    "rest_activity_id",
]

_NEW_YORK = ZoneInfo("America/New_York")
_BOM = "\ufeff"


@dataclasses.dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: ``data`` (lines joined with ``\\n``), its ``event`` type (default
    ``message``), the last event ``id`` in force and the ``retry`` hint (ms) it carried."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SseComment:
    """A comment line (``: text``): a heartbeat, or a message such as ``internal server error``."""

    text: str


class SseDecoder:
    """Incremental SSE decoder: ``feed(chunk)`` returns the events and comments it completes."""

    def __init__(self) -> None:
        self._buffer = ""
        self._bytes = b""
        self._started = False
        self._pending_cr = False
        self._data: list[str] = []
        self._event = ""
        self._retry: int | None = None
        self.last_event_id: str | None = None
        self.retry: int | None = None

    def feed(self, chunk: bytes | str) -> list[SseEvent | SseComment]:
        text = self._text(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix(_BOM)
        out: list[SseEvent | SseComment] = []
        self._buffer += text
        while True:
            line, found = self._next_line()
            if not found:
                break
            self._line(line, out)
        return out

    def _text(self, chunk: bytes | str) -> str:
        if isinstance(chunk, str):
            return chunk
        # A multi-byte character may be split between chunks: keep its start for the next one.
        data = self._bytes + chunk
        try:
            text = data.decode("utf-8")
            self._bytes = b""
        except UnicodeDecodeError as exc:
            if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
                text, self._bytes = data[: exc.start].decode("utf-8"), data[exc.start :]
            else:
                text, self._bytes = data.decode("utf-8", errors="replace"), b""
        return text

    def _next_line(self) -> tuple[str, bool]:
        buffer = self._buffer
        if self._pending_cr:
            # The previous line ended with \r at the end of a chunk: a \n now belongs to it.
            if not buffer:
                return "", False
            self._pending_cr = False
            if buffer[0] == "\n":
                buffer = buffer[1:]
                self._buffer = buffer
        for index, char in enumerate(buffer):
            if char == "\n":
                self._buffer = buffer[index + 1 :]
                return buffer[:index], True
            if char == "\r":
                if index + 1 < len(buffer):
                    skip = 2 if buffer[index + 1] == "\n" else 1
                    self._buffer = buffer[index + skip :]
                else:
                    self._buffer = ""
                    self._pending_cr = True
                return buffer[:index], True
        return "", False

    def _line(self, line: str, out: list[SseEvent | SseComment]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line.startswith(":"):
            out.append(SseComment(line[1:].removeprefix(" ")))
            return
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value or None
        elif name == "retry" and value.isdigit():
            self._retry = self.retry = int(value)

    def _dispatch(self, out: list[SseEvent | SseComment]) -> None:
        data, event, retry = self._data, self._event, self._retry
        self._data, self._event, self._retry = [], "", None
        if not data:
            return
        out.append(
            SseEvent(
                data="\n".join(data), event=event or "message", id=self.last_event_id, retry=retry
            )
        )


# --------------------------------------------------------------------------- activity events


class _WireDetails(msgspec.Struct, kw_only=True):
    """``details`` of a trade (``ActivityV2DetailTRD``) or non-trade activity, fields of either
    kind optional. ``order_id``/``description``/``per_share_amount`` on a non-trade activity
    are read when the venue sends them."""

    order_id: str | None = None
    side: str | None = None
    symbol: str | None = None
    leaves_qty: Decimal | None = None
    cum_qty: Decimal | None = None
    order_status: str | None = None
    execution_type: str | None = None
    client_order_id: str | None = None
    system_date: str | None = None
    description: str | None = None
    per_share_amount: Decimal | None = None


class _WireActivityEvent(msgspec.Struct, kw_only=True):
    """``ActivityEventV2``: the common envelope."""

    event_id: str
    activity_type: str
    activity_subtype: str | None = None
    at: str | None = None
    executed_at: str
    status: str | None = None
    settle_date: str | None = None
    ref_id: str
    net_amount: Decimal | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    details: _WireDetails = msgspec.field(default_factory=_WireDetails)


_EVENT = msgspec.json.Decoder(_WireActivityEvent)
_ENCODER = msgspec.json.Encoder()


@dataclasses.dataclass(frozen=True, slots=True)
class ActivityEvent:
    """One event of the activities stream: its ``event_id`` (the ``since_id`` to resume after
    it) and the activity as the REST parser reads it."""

    event_id: str
    item: Fill | Activity


def rest_activity_id(executed_at: dt.datetime, ref_id: str) -> str:
    """Alpaca's REST activity id for an activity executed at ``executed_at`` with transaction id
    ``ref_id``: ``<YYYYMMDDhhmmssmmm in New York time>::<ref_id>``."""
    local = executed_at.astimezone(_NEW_YORK)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}::{ref_id}"


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def parse_activity_event(data: bytes | str) -> ActivityEvent:
    """One ``data`` payload of the activities stream -> ``ActivityEvent`` (``ParseError`` when
    it is not JSON, lacks the envelope's required fields, or is a FILL the store cannot take)."""
    raw = as_bytes(data)
    wire = decode(_EVENT, raw, "activity event")
    shape = f"activity event {wire.activity_type}"
    if not wire.event_id or not wire.ref_id:
        raise ParseError(
            f"{shape}: event_id and ref_id are required; payload starts {excerpt(raw)!r}",
            shape=shape,
            value=excerpt(raw),
        )
    executed_at = required_timestamp(wire.executed_at, shape, "executed_at")
    details = wire.details
    kind = wire.activity_type.upper()
    rest: dict[str, object] = {
        "activity_type": wire.activity_type,
        "transaction_time": wire.executed_at,
        "price": _decimal_text(wire.price),
        "qty": _decimal_text(wire.qty),
        "symbol": details.symbol,
        "order_id": details.order_id,
    }
    if kind == "FILL":
        if (details.execution_type or "fill") != "fill":
            raise ParseError(
                f"{shape} {wire.ref_id}: execution_type {details.execution_type!r} (a trade "
                "correction or bust) is not stored from the stream; the REST catch-up reads it",
                shape=shape,
                value=wire.ref_id,
            )
        filled = details.leaves_qty is not None and details.leaves_qty == 0
        rest.update(
            id=wire.ref_id,
            type="fill" if filled else "partial_fill",
            side=details.side,
            leaves_qty=_decimal_text(details.leaves_qty),
            cum_qty=_decimal_text(details.cum_qty),
            order_status=details.order_status,
        )
    else:
        rest.update(
            id=rest_activity_id(executed_at, wire.ref_id),
            activity_sub_type=wire.activity_subtype,
            date=details.system_date or wire.settle_date,
            net_amount=_decimal_text(wire.net_amount),
            per_share_amount=_decimal_text(details.per_share_amount),
            description=details.description,
            status=wire.status,
        )
    body = _ENCODER.encode([{k: v for k, v in rest.items() if v is not None}])
    (item,) = parse_activities(body)
    if isinstance(item, Fill):
        item = msgspec.structs.replace(
            item,
            fill_id=wire.ref_id,
            execution_id=wire.ref_id,
            activity_id=None,
            client_order_id=details.client_order_id or None,
            source=DataSource.STREAM,
            raw=raw,
        )
    else:
        item = msgspec.structs.replace(item, raw=raw)
    return ActivityEvent(event_id=wire.event_id, item=item)
