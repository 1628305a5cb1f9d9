"""REST faults over real sockets: a lost answer after the order exists, injected 5xx before any
effect, 429 storms, latency, faults set at start, and the real per-key rate limit."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable

import httpx
import pytest

from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle

pytestmark = pytest.mark.e2e

HEADERS = {"APCA-API-KEY-ID": SIM_API_KEY, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}
ORDER = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}


def rest(handle: SimulatorHandle) -> httpx.Client:
    return httpx.Client(base_url=handle.base_url, headers=HEADERS, timeout=30)


def test_lost_answer_drops_the_connection_after_the_order_exists(
    simulator: SimulatorHandle,
) -> None:
    """The unknown outcome: the order is placed, the answer dies mid-body; a lookup by
    client_order_id finds it, and a blind resend with that id is refused as a duplicate."""
    simulator.set_faults(lost_answer_next=1)
    with rest(simulator) as client, pytest.raises(httpx.RemoteProtocolError):
        client.post("/v2/orders", json={**ORDER, "client_order_id": "maybe-1"})
    with rest(simulator) as client:
        found = client.get("/v2/orders:by_client_order_id", params={"client_order_id": "maybe-1"})
        assert found.status_code == 200
        assert found.json()["status"] == "filled"
        again = client.post("/v2/orders", json={**ORDER, "client_order_id": "maybe-1"})
        assert (again.status_code, again.json()["code"]) == (422, 40010001)
    assert len(simulator.dump(SIM_API_KEY)["orders"]) == 1


def test_lost_answer_rate_applies_to_replace_and_cancel_too(simulator: SimulatorHandle) -> None:
    """With lost_answer_rate 1 a cancel still happens though its answer is lost."""
    with rest(simulator) as client:
        limit = {**ORDER, "type": "limit", "limit_price": "1", "time_in_force": "gtc"}
        order = client.post("/v2/orders", json=limit).json()
    simulator.set_faults(lost_answer_rate=1.0)
    with rest(simulator) as client, pytest.raises(httpx.RemoteProtocolError):
        client.delete(f"/v2/orders/{order['id']}")
    simulator.set_faults(lost_answer_rate=0.0)
    with rest(simulator) as client:
        assert client.get(f"/v2/orders/{order['id']}").json()["status"] == "canceled"


def test_server_errors_come_before_any_effect_and_only_on_their_route(
    simulator: SimulatorHandle,
) -> None:
    """A 503 injected on GET /v2/account leaves orders working; the error body is Alpaca's."""
    simulator.set_faults(route_error_rates={"GET /v2/account": 1.0}, error_status=503)
    with rest(simulator) as client:
        failed = client.get("/v2/account")
        assert failed.status_code == 503
        assert failed.json() == {"code": 50010000, "message": "internal server error"}
        assert client.post("/v2/orders", json=ORDER).status_code == 200


def test_faults_given_at_start_apply_from_the_first_request(
    simulator_factory: Callable[..., SimulatorHandle],
) -> None:
    """A venue started with faults (a 429 storm, latency) answers accordingly at once."""
    stormy = simulator_factory(faults={"rate_limit_storm_rate": 1.0, "latency_ms": 5})
    with rest(stormy) as client:
        answer = client.get("/v2/clock")
    assert (answer.status_code, answer.text) == (429, "Too Many Requests")
    assert stormy.faults()["rate_limit_storm_rate"] == 1.0


def test_the_real_rate_limit_refuses_the_201st_request_of_a_minute(
    simulator_factory: Callable[..., SimulatorHandle],
) -> None:
    """At 200 requests/minute the 201st gets 429 with Remaining 0 and a reset time."""
    limited = simulator_factory(rate_limit=200)
    with rest(limited) as client:
        answers = [client.get("/v2/clock") for _ in range(200)]
        refused = client.get("/v2/clock")
    assert {a.status_code for a in answers} == {200}
    assert answers[-1].headers["X-RateLimit-Remaining"] == "0"
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) > 0


def test_one_date_header_on_the_venue_clock_over_real_sockets(
    simulator_factory: Callable[..., SimulatorHandle],
) -> None:
    """Served for real, an answer has exactly one Date (the server adds none of its own): the
    venue's clock, an hour behind with a -3600 s skew, then half an hour ahead once changed."""
    skewed = simulator_factory(faults={"clock_skew_seconds": -3600})
    with rest(skewed) as client:
        behind = client.get("/v2/account").headers.get_list("date")
        skewed.set_faults(clock_skew_seconds=1800)
        ahead = client.get("/v2/clock").headers.get_list("date")
    host = dt.datetime.now(dt.UTC)
    assert len(behind) == len(ahead) == 1
    slack = dt.timedelta(seconds=120)
    assert abs(email.utils.parsedate_to_datetime(behind[0]) - (host - dt.timedelta(hours=1))) < (
        slack
    )
    assert abs(email.utils.parsedate_to_datetime(ahead[0]) - (host + dt.timedelta(minutes=30))) < (
        slack
    )
