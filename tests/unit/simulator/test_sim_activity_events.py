"""The simulator's activities event stream through the HTTP surface, in-process: replay from
``since_id`` in booking order up to ``until_id``, the query rules, auth, the endpoint switch and
the stream faults (drop, duplicate, cut after an event). Finite streams only (``until_id`` or a
fault ends them): the in-process transport reads an answer to its end."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx

from alpaca_integration.simulator.events import decode_event_id, encode_event_id

Factory = Callable[..., httpx.AsyncClient]
PATH = "/v2beta1/events/activities"
START = "0" * 26  # before the account's first event


async def _trade(client: httpx.AsyncClient) -> int:
    """A buy and a sell of AAPL (2 FILLs and a FEE); the activities booked."""
    await client.post("/_sim/prices", json={"AAPL": "190.00"})
    for side in ("buy", "sell"):
        order = {"symbol": "AAPL", "qty": "2", "side": side, "type": "market"}
        answer = await client.post("/v2/orders", json={**order, "time_in_force": "day"})
        assert answer.status_code == 200, answer.text
    activities = (await client.get("/v2/account/activities")).json()
    assert len(activities) == 3
    return len(activities)


def _until(count: int) -> str:
    return encode_event_id(dt.datetime.now(dt.UTC), count - 1)


def _events(answer: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """(id line, data) of every event in an answer's body."""
    out = []
    for block in answer.text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in lines:
            out.append((lines["id"], json.loads(lines["data"])))
    return out


def test_event_ids_sort_in_booking_order_and_name_their_position() -> None:
    at = dt.datetime(2026, 3, 2, 15, 4, 5, tzinfo=dt.UTC)
    ids = [encode_event_id(at, i) for i in range(40)]
    assert ids == sorted(ids)
    assert [decode_event_id(i) for i in ids] == list(range(40))
    assert decode_event_id(START) == -1
    assert decode_event_id("not-a-ulid") is None


async def test_since_id_replays_in_order_up_to_until_id(client_for: Factory) -> None:
    client = client_for(rate_limit=0)
    count = await _trade(client)
    answer = await client.get(PATH, params={"since_id": START, "until_id": _until(count)})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = _events(answer)
    assert [e["activity_type"] for _, e in events] == ["FILL", "FILL", "FEE"]
    assert [frame_id for frame_id, _ in events] == [e["event_id"] for _, e in events]
    # After the first event: the rest only.
    first = events[0][0]
    rest = await client.get(PATH, params={"since_id": first, "until_id": _until(count)})
    assert [e["event_id"] for _, e in _events(rest)] == [e["event_id"] for _, e in events[1:]]
    # The FILL's ref_id is the execution id the trade_updates stream reported.
    log = (await client.get("/_sim/accounts/PKAPPTEST00000000001/events")).json()
    executions = log["events"]
    fills = [e["data"]["execution_id"] for e in executions if "execution_id" in e["data"]]
    assert [e["ref_id"] for _, e in events if e["activity_type"] == "FILL"] == fills


async def test_the_query_rules_and_auth(client_for: Factory) -> None:
    client = client_for(rate_limit=0)
    refused = [
        {"since_id": "nope"},
        {"since_id": START, "since": "2026-01-01"},
        {"until": "2026-01-01"},
        {"until_id": START},
        {"since": "yesterday"},
    ]
    for params in refused:
        answer = await client.get(PATH, params=params)
        assert answer.status_code == 400, params
        assert "message" in answer.json()
    unauthorized = await client.get(PATH, headers={"APCA-API-SECRET-KEY": "wrong"})
    assert unauthorized.status_code == 401


async def test_a_venue_without_the_beta_answers_404(client_for: Factory) -> None:
    client = client_for(activity_events=False)
    answer = await client.get(PATH, params={"since_id": START})
    assert answer.status_code == 404
    assert answer.json()["message"] == "endpoint not found"


async def test_the_stream_faults(client_for: Factory) -> None:
    client = client_for(rate_limit=0)
    count = await _trade(client)
    params = {"since_id": START, "until_id": _until(count)}
    await client.post("/_sim/faults", json={"stream_duplicate_rate": 1.0})
    twice = [e["event_id"] for _, e in _events(await client.get(PATH, params=params))]
    assert len(twice) == 2 * count
    assert twice[::2] == twice[1::2]
    await client.post("/_sim/faults", json={"reset": True, "activity_events_drop_rate": 1.0})
    cut = _events(await client.get(PATH, params={"since_id": START}))
    assert len(cut) == 1  # the connection ends right after an event
    await client.post("/_sim/faults", json={"reset": True, "stream_mode": "drop"})
    dropped = await client.get(PATH, params={"since_id": START})
    assert dropped.status_code == 200
    assert _events(dropped) == []
