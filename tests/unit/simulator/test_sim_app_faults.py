"""The venue-state faults through the HTTP surface, in-process: every answer dated by the venue's
(skewed) clock, venue timestamps on that clock, the visibility lag of new orders, and the admin
API's refusal of bad knob values."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sim_venue import APP_KEY

Factory = Callable[..., httpx.AsyncClient]
ORDER = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}
# Generous: the assertions tell a clock hours off from one that is not, on a busy machine.
SLACK = dt.timedelta(seconds=120)


def date_of(answer: httpx.Response) -> dt.datetime:
    dates = answer.headers.get_list("date")
    assert len(dates) == 1, f"one Date header expected, got {dates}"
    return email.utils.parsedate_to_datetime(dates[0])


def near(value: dt.datetime | str, expected: dt.datetime) -> bool:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return abs(value - expected) < SLACK


async def test_every_answer_is_dated_by_the_venue_clock(client_for: Factory) -> None:
    """With a +1 h skew, 200, 401, 404, 429 and admin answers all carry one Date an hour
    ahead of the host's clock."""
    client = client_for(faults={"clock_skew_seconds": 3600})
    venue_now = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    answers = [
        await client.get("/v2/account"),
        await client.get("/v2/account", headers={"APCA-API-SECRET-KEY": "wrong"}),
        await client.get("/v2/no-such-endpoint"),
        await client.get("/_sim/health"),
    ]
    await client.post("/_sim/faults", json={"rate_limit_storm_rate": 1.0})
    answers.append(await client.get("/v2/clock"))
    assert [a.status_code for a in answers] == [200, 401, 404, 200, 429]
    for answer in answers:
        assert near(date_of(answer), venue_now), answer.request.url


async def test_venue_timestamps_follow_a_skew_set_at_run_time(client_for: Factory) -> None:
    """A -2 h skew set before the first request moves the Date header, /v2/clock, the order's
    times, its fill activity, its stream events and the rate-limit reset two hours back."""
    client = client_for()
    await client.post("/_sim/faults", json={"clock_skew_seconds": -7200})
    venue_now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    clock = await client.get("/v2/clock")
    assert near(clock.json()["timestamp"], venue_now)
    assert near(date_of(clock), venue_now)
    reset = dt.datetime.fromtimestamp(int(clock.headers["x-ratelimit-reset"]), dt.UTC)
    assert near(reset, venue_now + dt.timedelta(seconds=60))
    await client.post("/_sim/price", json={"symbol": "AAPL", "price": "100"})
    order = (await client.post("/v2/orders", json=ORDER)).json()
    assert near(order["submitted_at"], venue_now)
    fill = (await client.get("/v2/account/activities/FILL")).json()[0]
    assert near(fill["transaction_time"], venue_now)
    log = (await client.get(f"/_sim/accounts/{APP_KEY}/events")).json()
    assert all(near(m["data"]["timestamp"], venue_now) for m in log["events"])
    assert near((await client.get("/v2/account")).json()["created_at"], venue_now)


async def test_a_new_order_answers_404_until_the_visibility_lag_passes(
    client_for: Factory,
) -> None:
    """visibility_lag_seconds 30: the POST answers the order and it fills, but GET by id and
    by client_order_id answer 404 and listings omit it until 30 venue seconds have passed."""
    client = client_for(realtime=False)
    await client.post("/_sim/faults", json={"visibility_lag_seconds": 30})
    await client.post("/_sim/price", json={"symbol": "AAPL", "price": "100"})
    order = (await client.post("/v2/orders", json={**ORDER, "client_order_id": "slow-1"})).json()
    by_id = await client.get(f"/v2/orders/{order['id']}")
    assert (by_id.status_code, by_id.json()) == (
        404,
        {"code": 40410000, "message": "order not found"},
    )
    by_client_id = await client.get(
        "/v2/orders:by_client_order_id", params={"client_order_id": "slow-1"}
    )
    assert by_client_id.status_code == 404
    assert (await client.get("/v2/orders", params={"status": "all"})).json() == []
    assert [p["qty"] for p in (await client.get("/v2/positions")).json()] == ["1"]
    await client.post("/_sim/clock/advance", json={"seconds": 31})
    found = await client.get(f"/v2/orders/{order['id']}")
    assert (found.status_code, found.json()["status"]) == (200, "filled")
    assert [o["id"] for o in (await client.get("/v2/orders?status=all")).json()] == [order["id"]]


@pytest.mark.parametrize(
    ("knob", "value", "fragment"),
    [
        ("clock_skew_seconds", "soon", "faults.clock_skew_seconds must be a number"),
        (
            "visibility_lag_seconds",
            -1,
            "faults.visibility_lag_seconds must be a finite number >= 0",
        ),
        ("stale_order_in_fill_probability", 1.5, "must be between 0 and 1"),
        ("reorder_probability", True, "faults.reorder_probability must be a number between 0"),
        ("reorder_window_ms", -5, "faults.reorder_window_ms must be a finite number >= 0"),
    ],
)
async def test_bad_knob_values_answer_400_with_one_line(
    client_for: Factory, knob: str, value: Any, fragment: str
) -> None:
    """A bad value for a new fault knob is refused with 400 and a one-line reason, and the
    faults in force stay as they were."""
    client = client_for()
    before = (await client.get("/_sim/faults")).json()
    answer = await client.post("/_sim/faults", json={knob: value})
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert fragment in message
    assert "\n" not in message
    assert (await client.get("/_sim/faults")).json() == before
