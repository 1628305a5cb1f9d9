"""The activities event stream of the simulated venue: ``GET /v2beta1/events/activities`` (SSE).

Every activity the venue books (``Account.activities``) is also an event, in Alpaca's
``ActivityEventV2`` shape: ``event_id`` is a ULID whose time part is the activity's time and
whose random part is the activity's position in its account (so ids sort in booking order and
``since_id`` maps straight back to a position), ``ref_id`` is the execution id for a FILL and the
uuid of the REST activity id (``<time>::<uuid>``) otherwise, ``details`` carries the trade fields
(``ActivityV2DetailTRD``) or the non-trade ones (``system_date``, and ``symbol``, ``order_id``,
``description``, ``per_share_amount``, ``group_id`` when the activity has them).

Query rules as Alpaca's: ``since_id`` (or ``since``, an RFC 3339 time or a date) replays the
account's events after it, in id order, then new ones are pushed as they are booked; without
either, only new events. ``until_id``/``until`` end the stream (200) at that point; ``until``
needs ``since``, ``until_id`` needs ``since_id``, and ``since`` with ``since_id`` is refused
(400). Each event goes out as ``id: <event_id>`` + ``data: <json>``; a ``: heartbeat`` comment
every ``heartbeat_seconds`` keeps an idle connection visibly alive.

Faults (``FaultConfig``): ``stream_mode`` ``drop`` ends every connection (new ones right after
the 200), ``silent`` keeps them open and mute (no events, no heartbeats); ``stream_duplicate_rate``
sends an event twice; ``activity_events_drop_rate`` ends the connection right after an event.

Auth and the rate budget as every /v2 route. This module imports nothing from the package
outside the simulator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from alpaca_integration.simulator.clock import NEW_YORK
from alpaca_integration.simulator.config import FaultConfig
from alpaca_integration.simulator.state import Account
from alpaca_integration.simulator.wire import (
    CODE_BAD_REQUEST,
    CODE_RATE_LIMITED,
    VenueError,
    ts,
)

__all__ = ["ActivityEventHub", "decode_event_id", "encode_event_id"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {c: i for i, c in enumerate(_CROCKFORD)}


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def encode_event_id(at: dt.datetime, index: int) -> str:
    """The ULID of the account's ``index``-th activity, booked at ``at``."""
    millis = max(0, int(at.timestamp() * 1000))
    return _base32(millis, 10) + _base32(index + 1, 16)


def decode_event_id(event_id: str) -> int | None:
    """The activity position an event id names (-1 for an id before the first), or None when
    it is no ULID."""
    text = event_id.strip().upper()
    if len(text) != 26 or any(c not in _VALUE for c in text):
        return None
    value = 0
    for char in text[10:]:
        value = value * 32 + _VALUE[char]
    return value - 1  # -1: before the account's first event


class _Listener:
    __slots__ = ("account", "closed", "wake")

    def __init__(self, account: Account) -> None:
        self.account = account
        self.wake = asyncio.Event()
        self.closed = False


class ActivityEventHub:
    """The open activities streams, woken whenever their account books an activity."""

    def __init__(
        self,
        *,
        faults: Callable[[], FaultConfig],
        execution_ids: Callable[[], dict[str, str]],
        seed: int,
        heartbeat_seconds: float = 15.0,
    ) -> None:
        self._faults = faults
        self._execution_ids = execution_ids
        self._rng = random.Random(f"{seed}:activity-events")
        # The open streams by account (keyed by the Account object's identity).
        self._listeners: dict[int, set[_Listener]] = {}
        self.heartbeat_seconds = heartbeat_seconds
        self.delivered = 0

    def listener_count(self) -> int:
        return sum(len(listeners) for listeners in self._listeners.values())

    def notify(self, account: Account) -> None:
        """Called by the accounting for every activity booked."""
        for listener in self._listeners.get(id(account), ()):
            listener.wake.set()

    def drop_all(self) -> int:
        """End every open stream, as a network failure would."""
        listeners = [one for group in self._listeners.values() for one in group]
        for listener in listeners:
            listener.closed = True
            listener.wake.set()
        return len(listeners)

    def apply_faults(self) -> None:
        if self._faults().stream_mode == "drop":
            self.drop_all()

    # ------------------------------------------------------------------ events

    def event(self, account: Account, index: int) -> dict[str, Any]:
        """The account's ``index``-th activity as an ``ActivityEventV2``."""
        activity = account.activities[index]
        at = account.activity_times[index]
        kind = str(activity["activity_type"])
        executed_at = activity.get("transaction_time") or ts(at)
        uuid_part = str(activity["id"]).partition("::")[2] or str(activity["id"])
        day = activity.get("date") or at.astimezone(NEW_YORK).date().isoformat()
        event: dict[str, Any] = {
            "event_id": encode_event_id(at, index),
            "at": ts(at),
            "activity_type": kind,
            "executed_at": executed_at,
            "status": activity.get("status") or "executed",
            "settle_date": day,
            "currency": activity.get("currency") or "USD",
            "ref_id": uuid_part,
        }
        if activity.get("activity_sub_type"):
            event["activity_subtype"] = activity["activity_sub_type"]
        for name in ("net_amount", "price", "qty"):
            if activity.get(name) is not None:
                event[name] = activity[name]
        if kind == "FILL":
            event["ref_id"] = self._execution_ids().get(str(activity["id"]), uuid_part)
            order = account.orders.get(str(activity["order_id"]))
            details: dict[str, Any] = {
                "order_id": activity["order_id"],
                "side": activity["side"],
                "symbol": activity["symbol"],
                "asset_id": order.asset.id if order is not None else uuid_part,
                "leaves_qty": activity["leaves_qty"],
                "cum_qty": activity["cum_qty"],
                "order_status": activity.get("order_status") or "filled",
                "execution_type": "fill",
            }
            if order is not None and order.client_order_id:
                details["client_order_id"] = order.client_order_id
        else:
            details = {"system_date": day}
            for name in ("symbol", "order_id", "description", "per_share_amount"):
                if activity.get(name) is not None:
                    details[name] = activity[name]
            if activity.get("group_id"):
                # The stream's group_id is a uuid: the same one for every leg of the group.
                details["group_id"] = str(uuid.uuid5(uuid.NAMESPACE_OID, str(activity["group_id"])))
            if kind == "FEE":
                details["parent_id"] = activity.get("order_id") or uuid_part
        event["details"] = details
        return event

    # ------------------------------------------------------------------ serving

    def response(self, account: Account, request: Request, *, limited: bool = False) -> Response:
        """The streaming answer to one request (or its refusal)."""
        try:
            start, stop_index, since, until = self._query(account, dict(request.query_params))
        except VenueError as exc:
            return _json(exc.status, exc.body())
        if limited:
            return _json(429, {"code": CODE_RATE_LIMITED, "message": "rate limit exceeded"})
        listener = _Listener(account)
        return StreamingResponse(
            self._frames(listener, start, stop_index, since, until),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    def _query(
        self, account: Account, params: dict[str, str]
    ) -> tuple[int | None, int | None, dt.datetime | None, dt.datetime | None]:
        since_id, until_id = params.get("since_id"), params.get("until_id")
        since, until = _time(params.get("since"), "since"), _time(params.get("until"), "until")
        if since_id and since is not None:
            raise VenueError(400, CODE_BAD_REQUEST, "since and since_id cannot be used together")
        if until is not None and since is None:
            raise VenueError(400, CODE_BAD_REQUEST, "until requires since")
        if until_id and not since_id:
            raise VenueError(400, CODE_BAD_REQUEST, "until_id requires since_id")
        start: int | None = None
        if since_id:
            index = decode_event_id(since_id)
            if index is None:
                raise VenueError(400, CODE_BAD_REQUEST, f"invalid since_id {since_id!r}")
            start = index + 1
        elif since is not None:
            start = next(
                (i for i, at in enumerate(account.activity_times) if at >= since),
                len(account.activities),
            )
        stop_index = None
        if until_id:
            stop = decode_event_id(until_id)
            if stop is None:
                raise VenueError(400, CODE_BAD_REQUEST, f"invalid until_id {until_id!r}")
            stop_index = stop + 1
        return start, stop_index, since, until

    async def _frames(
        self,
        listener: _Listener,
        start: int | None,
        stop_index: int | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
    ) -> AsyncIterator[bytes]:
        account = listener.account
        position = len(account.activities) if start is None else start
        self._listeners.setdefault(id(account), set()).add(listener)
        try:
            if self._faults().stream_mode == "drop":
                return
            while not listener.closed:
                listener.wake.clear()
                faults = self._faults()
                if faults.stream_mode == "normal":
                    while position < len(account.activities):
                        if stop_index is not None and position >= stop_index:
                            return
                        at = account.activity_times[position]
                        if until is not None and at > until:
                            return
                        frame = self._frame(account, position)
                        position += 1
                        yield frame
                        self.delivered += 1
                        if faults.stream_duplicate_rate and self._roll(
                            faults.stream_duplicate_rate
                        ):
                            yield frame
                        if listener.closed or self._roll(faults.activity_events_drop_rate):
                            return
                    if stop_index is not None and position >= stop_index:
                        return
                try:
                    await asyncio.wait_for(listener.wake.wait(), timeout=self.heartbeat_seconds)
                except TimeoutError:
                    if self._faults().stream_mode == "normal":
                        yield b": heartbeat\n\n"
        finally:
            group = self._listeners.get(id(account), set())
            group.discard(listener)
            if not group:
                self._listeners.pop(id(account), None)

    def _frame(self, account: Account, index: int) -> bytes:
        event = self.event(account, index)
        data = msgspec.json.encode(event).decode()
        return f"id: {event['event_id']}\ndata: {data}\n\n".encode()

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(msgspec.json.encode(body), status, media_type="application/json")


def _time(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=NEW_YORK)
        else:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise VenueError(
            400, CODE_BAD_REQUEST, f"{name} must be RFC 3339 or YYYY-MM-DD, got {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
