"""The simulator's HTTP surface in-process: the /v2 gate (auth, rate limit, faults) and the admin
API, through httpx's ASGI transport (no sockets, no background ticker)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sim_venue import APP_AUTH, APP_KEY

from alpaca_integration.simulator.config import AccountSpec

KEY = APP_KEY
SECRET = APP_AUTH["APCA-API-SECRET-KEY"]
AUTH = APP_AUTH
ORDER = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}

Factory = Callable[..., httpx.AsyncClient]


async def test_missing_or_wrong_keys_get_alpacas_401_body(client_for: Factory) -> None:
    """No key, or a known key with another secret, answers 401 {code 40110000, message}."""
    client = client_for()
    assert (await client.get("/v2/account")).status_code == 200
    for headers in (
        {"APCA-API-KEY-ID": "", "APCA-API-SECRET-KEY": ""},
        {**AUTH, "APCA-API-SECRET-KEY": "x"},
    ):
        answer = await client.get("/v2/account", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"code": 40110000, "message": "unauthorized."}


async def test_accounts_file_limits_who_gets_in(client_for: Factory) -> None:
    """With listed accounts only their key pairs are accepted, each with its own cash."""
    client = client_for(accounts=(AccountSpec(key_id=KEY, secret_key=SECRET, starting_cash="777"),))
    assert (await client.get("/v2/account")).json()["cash"] == "777"
    stranger = {"APCA-API-KEY-ID": "PKOTHER", "APCA-API-SECRET-KEY": "x"}
    assert (await client.get("/v2/account", headers=stranger)).status_code == 401


async def test_every_key_is_its_own_account(client_for: Factory) -> None:
    """Two key pairs see two accounts: one's order is not in the other's list."""
    client = client_for()
    await client.post("/v2/orders", json=ORDER)
    other = {"APCA-API-KEY-ID": "PKOTHER", "APCA-API-SECRET-KEY": "x"}
    assert (await client.get("/v2/orders?status=all", headers=other)).json() == []
    assert len((await client.get("/v2/orders?status=all")).json()) == 1


async def test_rate_limit_headers_and_429(client_for: Factory) -> None:
    """Every answer carries X-RateLimit-*; past the budget the key gets 429 until the reset."""
    client = client_for(rate_limit=3)
    answers = [await client.get("/v2/clock") for _ in range(3)]
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
    assert {a.headers["x-ratelimit-limit"] for a in answers} == {"3"}
    refused = await client.get("/v2/clock")
    assert refused.status_code == 429
    assert int(refused.headers["x-ratelimit-reset"]) >= int(answers[0].headers["x-ratelimit-reset"])
    other = {"APCA-API-KEY-ID": "PKOTHER", "APCA-API-SECRET-KEY": "x"}
    assert (await client.get("/v2/clock", headers=other)).status_code == 200
    assert (await client.get("/_sim/health")).status_code == 200


async def test_stats_count_budget_429s_by_key_but_not_storms(client_for: Factory) -> None:
    """/_sim/stats counts the 429s of an exhausted budget per key (what a test asserts is 0 for a
    client that keeps to the budget); 429s of an injected storm are not counted."""
    client = client_for(rate_limit=2)
    for _ in range(4):
        await client.get("/v2/clock")
    stats = (await client.get("/_sim/stats")).json()
    assert stats["rate_limited"] == {client.headers["apca-api-key-id"]: 2}
    await client.post("/_sim/faults", json={"rate_limit_storm_rate": 1.0})
    other = {"APCA-API-KEY-ID": "PKSTORM", "APCA-API-SECRET-KEY": "x"}
    assert (await client.get("/v2/clock", headers=other)).status_code == 429
    assert (await client.get("/_sim/stats")).json()["rate_limited"] == stats["rate_limited"]


async def test_rate_limit_off_sends_no_budget_headers(client_for: Factory) -> None:
    """rate_limit=0 switches the budget off: no 429, no X-RateLimit headers."""
    client = client_for(rate_limit=0)
    answer = await client.get("/v2/clock")
    assert "x-ratelimit-limit" not in answer.headers


async def test_route_error_fault_fails_before_any_effect(client_for: Factory) -> None:
    """A 5xx injected on POST /v2/orders leaves no order behind; other routes still work."""
    client = client_for()
    await client.post("/_sim/faults", json={"route_error_rates": {"POST /v2/orders": 1.0}})
    answer = await client.post("/v2/orders", json=ORDER)
    assert answer.status_code == 500
    assert answer.json()["code"] == 50010000
    assert (await client.get("/v2/orders?status=all")).json() == []


async def test_lost_answer_504_after_the_order_exists(client_for: Factory) -> None:
    """lost_answer_next=1 (504 mode): the order is created, the answer is a gateway timeout."""
    client = client_for()
    await client.post("/_sim/faults", json={"lost_answer_next": 1, "lost_answer_mode": "504"})
    answer = await client.post("/v2/orders", json={**ORDER, "client_order_id": "lost-1"})
    assert answer.status_code == 504
    found = await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "lost-1"})
    assert found.status_code == 200
    assert (
        await client.post("/v2/orders", json={**ORDER, "client_order_id": "next"})
    ).status_code == 200
    assert (await client.get("/_sim/faults")).json()["lost_answer_next"] == 0


async def test_rate_limit_storm_answers_plain_text_429(client_for: Factory) -> None:
    """During a 429 storm answers are 429 with a plain-text body, whatever the budget."""
    client = client_for()
    await client.post("/_sim/faults", json={"rate_limit_storm_rate": 1.0})
    answer = await client.get("/v2/account")
    assert (answer.status_code, answer.text) == (429, "Too Many Requests")
    await client.post("/_sim/faults", json={"reset": True})
    assert (await client.get("/v2/account")).status_code == 200


async def test_bad_json_and_unknown_routes(client_for: Factory) -> None:
    """A body that is not JSON is 400 / 40010000; an unknown path is a JSON 404."""
    client = client_for()
    answer = await client.post(
        "/v2/orders", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert (answer.status_code, answer.json()["code"]) == (400, 40010000)
    missing = await client.get("/v2/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["code"] == 40410000


async def test_bulk_deletes_answer_207(client_for: Factory) -> None:
    """DELETE /v2/orders and DELETE /v2/positions answer 207 Multi-Status."""
    client = client_for()
    await client.post("/_sim/price", json={"symbol": "AAPL", "price": "100"})
    await client.post("/v2/orders", json=ORDER)
    limit = {**ORDER, "type": "limit", "limit_price": "10", "side": "buy", "time_in_force": "gtc"}
    await client.post("/v2/orders", json={**limit, "symbol": "MSFT"})
    canceled = await client.delete("/v2/orders")
    closed = await client.delete("/v2/positions")
    assert (canceled.status_code, closed.status_code) == (207, 207)
    assert [entry["status"] for entry in canceled.json()] == [200]
    assert [entry["symbol"] for entry in closed.json()] == ["AAPL"]


async def test_admin_price_clock_and_reset(client_for: Factory) -> None:
    """Admin: pin a price, move the clock, and reset forgets accounts and orders."""
    client = client_for()
    pinned = (await client.post("/_sim/price", json={"symbol": "aapl", "price": 123.456})).json()
    assert pinned == {"symbol": "AAPL", "price": "123.46", "pinned": True}
    assert (await client.get("/_sim/prices")).json()["AAPL"] == "123.46"
    before = (await client.get("/_sim/clock")).json()["timestamp"]
    after = (await client.post("/_sim/clock/advance", json={"seconds": 3600})).json()["timestamp"]
    assert after > before
    await client.post("/v2/orders", json=ORDER)
    assert (await client.post("/_sim/reset")).json()["status"] == "reset"
    assert (await client.get("/_sim/accounts/" + KEY + "/dump")).json()["orders"] == []


async def test_admin_refuses_bad_input_with_the_fix(client_for: Factory) -> None:
    """Unknown faults, missing price, negative seconds and unknown symbols answer 4xx with why."""
    client = client_for()
    fault = await client.post("/_sim/faults", json={"chaos": 1})
    assert fault.status_code == 400
    assert "valid:" in fault.json()["message"]
    assert (await client.post("/_sim/price", json={"symbol": "AAPL"})).status_code == 400
    assert (await client.post("/_sim/clock/advance", json={"seconds": -5})).status_code == 400
    assert (
        await client.post("/_sim/price", json={"symbol": "NOPE", "price": 1})
    ).status_code == 404


async def test_admin_events_list_what_the_stream_would_send(client_for: Factory) -> None:
    """GET /_sim/accounts/KEY/events returns the trade_updates messages, resumable by seq."""
    client = client_for()
    await client.post("/_sim/price", json={"symbol": "AAPL", "price": "100"})
    await client.post("/v2/orders", json=ORDER)
    log = (await client.get(f"/_sim/accounts/{KEY}/events")).json()
    assert [m["data"]["event"] for m in log["events"]] == ["pending_new", "new", "fill"]
    later = (await client.get(f"/_sim/accounts/{KEY}/events?since={log['next_seq']}")).json()
    assert later["events"] == []


async def test_a_body_with_invalid_utf8_is_a_400_not_a_crash(client_for: Factory) -> None:
    """A JSON string holding invalid UTF-8 is refused with one line (400), at /v2 and /_sim."""
    client = client_for()
    bad = b'"\x80"'
    headers = {"content-type": "application/json"}
    answer = await client.post("/v2/orders", content=bad, headers=headers)
    assert answer.status_code == 400
    assert "JSON object" in answer.json()["message"]
    admin = await client.post("/_sim/faults", content=bad, headers=headers)
    assert admin.status_code == 400
