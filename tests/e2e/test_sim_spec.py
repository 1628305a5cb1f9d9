"""Every JSON answer of the 23 core operations, validated against Alpaca's OpenAPI spec.

For each call the schema is looked up in the spec by path, method and the status the simulator
answered (so the status must be one the spec lists), then checked with ``OAS30Validator``
(``$ref`` resolved against the spec's components, formats checked).

Documented exceptions, where the spec disagrees with what Alpaca really sends (see
docs/simulator.md): ``NonTradeActivities.date`` is a plain date (``2024-03-04``), not a
date-time; and ``GET /v2/account/activities/{activity_type}`` declares its items ``oneOf``
TradingActivities / NonTradeActivities, which no answer can satisfy (neither schema requires a
field, so every activity matches both): it is read as ``anyOf``, like the unfiltered endpoint.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle

pytestmark = pytest.mark.e2e


def _documented_exceptions(spec: dict[str, Any]) -> dict[str, Any]:
    patched = copy.deepcopy(spec)
    non_trade = patched["components"]["schemas"]["NonTradeActivities"]["properties"]
    non_trade["date"] = {"type": "string", "format": "date"}
    by_type = patched["paths"]["/v2/account/activities/{activity_type}"]["get"]
    items = by_type["responses"]["200"]["content"]["application/json"]["schema"]["items"]
    items["anyOf"] = items.pop("oneOf")
    return patched


@pytest.fixture(scope="module")
def spec(trading_spec_path: Path) -> dict[str, Any]:
    """Alpaca's trading API spec with the documented exceptions applied."""
    return _documented_exceptions(json.loads(trading_spec_path.read_text(encoding="utf-8")))


class SpecChecker:
    """Calls the simulator and validates each answer against the spec's response schema."""

    def __init__(self, spec: dict[str, Any], client: httpx.Client) -> None:
        self.spec = spec
        self.client = client
        self.checked: set[tuple[str, str]] = set()

    def call(self, method: str, template: str, *, path: str | None = None, **kwargs: Any) -> Any:
        answer = self.client.request(method, path or template, **kwargs)
        operation = self.spec["paths"][template][method.lower()]
        responses = operation["responses"]
        assert str(answer.status_code) in responses, (
            f"{method} {template} answered {answer.status_code}, which the spec does not list "
            f"({sorted(responses)}): {answer.text[:300]}"
        )
        self.checked.add((method, template))
        content = responses[str(answer.status_code)].get("content", {}).get("application/json")
        if content is None:
            assert answer.content == b"", f"{method} {template}: body where the spec has none"
            return None
        body = answer.json()
        root = {**content["schema"], "components": self.spec["components"]}
        validator = OAS30Validator(root, format_checker=oas30_format_checker)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, f"{method} {template}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
        )
        return body


@pytest.fixture
def checker(spec: dict[str, Any], simulator: SimulatorHandle) -> Iterator[SpecChecker]:
    headers = {"APCA-API-KEY-ID": SIM_API_KEY, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}
    with httpx.Client(base_url=simulator.base_url, headers=headers, timeout=30) as client:
        yield SpecChecker(spec, client)


CORE_OPERATIONS = {
    ("GET", "/v2/account"),
    ("GET", "/v2/account/configurations"),
    ("PATCH", "/v2/account/configurations"),
    ("GET", "/v2/account/activities"),
    ("GET", "/v2/account/activities/{activity_type}"),
    ("GET", "/v2/account/portfolio/history"),
    ("GET", "/v2/assets"),
    ("GET", "/v2/assets/{symbol_or_asset_id}"),
    ("GET", "/v2/clock"),
    ("GET", "/v2/calendar"),
    ("POST", "/v2/orders"),
    ("GET", "/v2/orders"),
    ("DELETE", "/v2/orders"),
    ("GET", "/v2/orders/{order_id}"),
    ("PATCH", "/v2/orders/{order_id}"),
    ("DELETE", "/v2/orders/{order_id}"),
    ("GET", "/v2/orders:by_client_order_id"),
    ("GET", "/v2/positions"),
    ("GET", "/v2/positions/{symbol_or_asset_id}"),
    ("DELETE", "/v2/positions"),
    ("DELETE", "/v2/positions/{symbol_or_asset_id}"),
    ("GET", "/v2/watchlists"),
    ("POST", "/v2/watchlists"),
    ("GET", "/v2/watchlists/{watchlist_id}"),
    ("PUT", "/v2/watchlists/{watchlist_id}"),
    ("POST", "/v2/watchlists/{watchlist_id}"),
    ("DELETE", "/v2/watchlists/{watchlist_id}/{symbol}"),
    ("DELETE", "/v2/watchlists/{watchlist_id}"),
}


def test_every_core_answer_matches_the_spec(
    checker: SpecChecker, simulator: SimulatorHandle
) -> None:
    """Account, activities, history, assets, clock, calendar, orders (every class), positions
    and watchlists answer with the spec's status codes and schemas."""
    simulator.set_price("AAPL", "100.00")
    simulator.set_price("PNNY", "0.5123")
    c = checker.call
    c("GET", "/v2/account")
    config = c("GET", "/v2/account/configurations")
    c("PATCH", "/v2/account/configurations", json={**config, "trade_confirm_email": "none"})
    c("GET", "/v2/assets")
    c("GET", "/v2/assets/{symbol_or_asset_id}", path="/v2/assets/PNNY")
    c("GET", "/v2/clock")
    c("GET", "/v2/calendar", params={"start": "2024-07-01", "end": "2024-07-10"})

    market = c(
        "POST",
        "/v2/orders",
        json={"symbol": "AAPL", "qty": 10, "side": "buy", "type": "market", "time_in_force": "day"},
    )
    limit = c(
        "POST",
        "/v2/orders",
        json={
            "symbol": "AAPL",
            "qty": "2",
            "side": "sell",
            "type": "limit",
            "limit_price": "120",
            "time_in_force": "gtc",
            "client_order_id": "spec-limit",
        },
    )
    c(
        "POST",
        "/v2/orders",
        json={
            "symbol": "AAPL",
            "qty": "3",
            "side": "sell",
            "type": "trailing_stop",
            "trail_percent": "5",
            "time_in_force": "gtc",
        },
    )
    c(
        "POST",
        "/v2/orders",
        json={
            "symbol": "MSFT",
            "notional": "500",
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
        },
    )
    c(
        "POST",
        "/v2/orders",
        json={
            "symbol": "PNNY",
            "qty": "100",
            "side": "buy",
            "type": "limit",
            "limit_price": "0.5",
            "time_in_force": "day",
            "order_class": "bracket",
            "take_profit": {"limit_price": "0.6"},
            "stop_loss": {"stop_price": "0.4", "limit_price": "0.39"},
        },
    )
    simulator.set_price("AAPL", "121.00")
    c("GET", "/v2/orders", params={"status": "all", "nested": "true", "limit": 500})
    c("GET", "/v2/orders", params={"status": "open"})
    c("GET", "/v2/orders/{order_id}", path=f"/v2/orders/{market['id']}")
    c("GET", "/v2/orders:by_client_order_id", params={"client_order_id": "spec-limit"})
    resting = c(
        "POST",
        "/v2/orders",
        json={
            "symbol": "AAPL",
            "qty": "1",
            "side": "buy",
            "type": "limit",
            "limit_price": "90",
            "time_in_force": "day",
        },
    )
    replaced = c(
        "PATCH", "/v2/orders/{order_id}", path=f"/v2/orders/{resting['id']}", json={"qty": "2"}
    )
    c("DELETE", "/v2/orders/{order_id}", path=f"/v2/orders/{replaced['id']}")
    assert limit["status"] == "new"

    c("GET", "/v2/positions")
    c("GET", "/v2/positions/{symbol_or_asset_id}", path="/v2/positions/AAPL")
    c("DELETE", "/v2/positions/{symbol_or_asset_id}", path="/v2/positions/MSFT")
    c("GET", "/v2/account/activities")
    c("GET", "/v2/account/activities", params={"activity_types": "FEE", "direction": "asc"})
    c("GET", "/v2/account/activities/{activity_type}", path="/v2/account/activities/FILL")
    c("GET", "/v2/account/portfolio/history", params={"period": "1D", "timeframe": "1Min"})
    c("DELETE", "/v2/orders")
    c("DELETE", "/v2/positions", params={"cancel_orders": "true"})

    watchlist = c("POST", "/v2/watchlists", json={"name": "spec", "symbols": ["AAPL"]})
    one = f"/v2/watchlists/{watchlist['id']}"
    c("GET", "/v2/watchlists")
    c("GET", "/v2/watchlists/{watchlist_id}", path=one)
    c("PUT", "/v2/watchlists/{watchlist_id}", path=one, json={"name": "spec2", "symbols": ["GME"]})
    c("POST", "/v2/watchlists/{watchlist_id}", path=one, json={"symbol": "AAPL"})
    c("DELETE", "/v2/watchlists/{watchlist_id}/{symbol}", path=f"{one}/AAPL")
    c("DELETE", "/v2/watchlists/{watchlist_id}", path=one)

    assert checker.checked >= CORE_OPERATIONS


def test_the_documented_exceptions_are_needed(
    spec: dict[str, Any], trading_spec_path: Path
) -> None:
    """Unpatched, the spec would refuse a FEE's plain date and any FILL listed by type."""
    original = copy.deepcopy(spec)
    original["components"]["schemas"]["NonTradeActivities"]["properties"]["date"] = {
        "type": "string",
        "format": "date-time",
    }
    root = {"$ref": "#/components/schemas/NonTradeActivities", "components": original["components"]}
    validator = OAS30Validator(root, format_checker=oas30_format_checker)
    assert not validator.is_valid({"activity_type": "FEE", "date": "2024-03-04"})
    raw = json.loads(trading_spec_path.read_text(encoding="utf-8"))
    by_type = raw["paths"]["/v2/account/activities/{activity_type}"]["get"]
    schema = by_type["responses"]["200"]["content"]["application/json"]["schema"]
    fill = {"activity_type": "FILL", "qty": "1", "price": "1", "side": "buy", "type": "fill"}
    strict = OAS30Validator({**schema, "components": raw["components"]})
    assert not strict.is_valid([fill])


def test_error_bodies_match_the_spec_error_schema(
    spec: dict[str, Any], simulator: SimulatorHandle
) -> None:
    """401, 403, 404 and 422 answers carry {code, message} as the spec's Error schema says."""
    root = {"$ref": "#/components/schemas/Error", "components": spec["components"]}
    validator = OAS30Validator(root, format_checker=oas30_format_checker)
    headers = {"APCA-API-KEY-ID": SIM_API_KEY, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}
    order = {"symbol": "AAPL", "side": "buy", "type": "market", "time_in_force": "day"}
    with httpx.Client(base_url=simulator.base_url, headers=headers, timeout=30) as client:
        client.get("/v2/account")  # the first use binds the key to its secret
        answers = {
            401: client.get("/v2/account", headers={"APCA-API-SECRET-KEY": "wrong"}),
            403: client.post("/v2/orders", json={**order, "qty": "100000"}),
            404: client.get("/v2/orders/00000000-0000-4000-8000-000000000000"),
            422: client.post("/v2/orders", json={**order, "qty": "1", "symbol": "NOPE"}),
        }
    for status, answer in answers.items():
        assert answer.status_code == status
        body = answer.json()
        assert validator.is_valid(body), body
        assert str(body["code"]).startswith(str(status))


OPTION_OPERATIONS = {
    ("GET", "/v2/options/contracts"),
    ("GET", "/v2/options/contracts/{symbol_or_id}"),
    ("POST", "/v2/positions/{symbol_or_contract_id}/exercise"),
    ("POST", "/v2/positions/{symbol_or_contract_id}/do-not-exercise"),
}


def test_options_and_crypto_answers_match_the_spec(
    spec: dict[str, Any], options_day: SimulatorHandle
) -> None:
    """Contracts (listed, with deliverables, fetched), option, mleg and crypto orders, their
    positions, exercise, do-not-exercise, and the OPEXC/OPTRD/OPEXP/CFEE activities."""
    sim = options_day
    headers = {"APCA-API-KEY-ID": SIM_API_KEY, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}
    call, put, high = "AAPL240304C00190000", "AAPL240304P00190000", "AAPL240304C00200000"
    sim.set_price("AAPL", "195.00")
    for symbol, price in ((call, "6.00"), (put, "1.00"), (high, "1.00"), ("BTC/USD", "50000")):
        sim.set_price(symbol, price)
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=30) as client:
        checker = SpecChecker(spec, client)
        c = checker.call
        listed = c(
            "GET",
            "/v2/options/contracts",
            params={"underlying_symbols": "AAPL", "show_deliverables": "true", "limit": 3},
        )
        assert len(listed["option_contracts"]) == 3
        assert listed["next_page_token"]
        c("GET", "/v2/options/contracts/{symbol_or_id}", path=f"/v2/options/contracts/{call}")
        order = {"type": "market", "time_in_force": "day", "side": "buy"}
        c("POST", "/v2/orders", json={**order, "symbol": call, "qty": "2"})
        c("POST", "/v2/orders", json={**order, "symbol": high, "qty": "1"})
        spread = c(
            "POST",
            "/v2/orders",
            json={
                "order_class": "mleg",
                "type": "limit",
                "limit_price": "-0.50",
                "time_in_force": "day",
                "qty": "1",
                "legs": [
                    {"symbol": put, "ratio_qty": "1", "side": "sell"},
                    {"symbol": "AAPL240304P00185000", "ratio_qty": "1", "side": "buy"},
                ],
            },
        )
        crypto = {"symbol": "BTC/USD", "type": "market", "time_in_force": "gtc"}
        c("POST", "/v2/orders", json={**crypto, "side": "buy", "qty": "0.02"})
        c("POST", "/v2/orders", json={**crypto, "side": "sell", "qty": "0.01"})
        sim.tick()
        c("GET", "/v2/orders/{order_id}", path=f"/v2/orders/{spread['id']}")
        c("GET", "/v2/orders", params={"status": "all", "nested": "true"})
        c("GET", "/v2/positions")
        c("GET", "/v2/positions/{symbol_or_asset_id}", path="/v2/positions/BTCUSD")
        c(
            "POST",
            "/v2/positions/{symbol_or_contract_id}/do-not-exercise",
            path=f"/v2/positions/{high}/do-not-exercise",
        )
        c(
            "POST",
            "/v2/positions/{symbol_or_contract_id}/exercise",
            path=f"/v2/positions/{call}/exercise",
        )
        # Past 16:00 New York (the expiry) and midnight UTC (the day's CFEE activities post).
        sim.advance_clock(9 * 3600 + 1)
        activities = c("GET", "/v2/account/activities", params={"direction": "asc"})
        c("GET", "/v2/account/activities/{activity_type}", path="/v2/account/activities/OPEXP")
        c("GET", "/v2/account")
    kinds = {a["activity_type"] for a in activities}
    assert kinds >= {"FILL", "OPEXC", "OPTRD", "OPEXP", "CFEE"}
    assert checker.checked >= OPTION_OPERATIONS
