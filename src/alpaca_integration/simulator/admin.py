"""The simulator's admin API under ``/_sim`` (JSON, no auth, no rate limit): what tests use to
steer and inspect the venue (prices, clock, faults, resets, account dumps, event logs).

A bad admin request answers 400 (or the broker's 4xx) with one line saying what to send.

This module imports nothing from the package outside the simulator (and ``errors``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from alpaca_integration.errors import ConfigError
from alpaca_integration.simulator.config import FaultConfig
from alpaca_integration.simulator.rest import json_response
from alpaca_integration.simulator.runtime import SimulatorState
from alpaca_integration.simulator.wire import VenueError, bad_request, parse_decimal

__all__ = ["admin_routes"]

AdminHandler = Callable[[SimulatorState, Request], Awaitable[Any]]


def _admin_error(status: int, message: str) -> Response:
    return json_response(status, {"code": status * 100000, "message": message})


async def _admin_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise bad_request("admin body must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_request("admin body must be a JSON object")
    return body


def _admin(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sim: SimulatorState = request.app.state.sim
        try:
            response = json_response(200, await handler(sim, request))
        except VenueError as exc:
            response = json_response(exc.status, exc.body())
        except ConfigError as exc:
            response = _admin_error(400, str(exc))
        response.raw_headers.append((b"date", sim.http_date()))
        return response

    return endpoint


async def _admin_health(sim: SimulatorState, request: Request) -> Any:
    return {"status": "ok", "clock": sim.config.clock, "seed": sim.config.seed}


async def _admin_reset(sim: SimulatorState, request: Request) -> Any:
    body = await _admin_body(request)
    overrides: dict[str, Any] = {}
    if "seed" in body:
        overrides["seed"] = body["seed"]
    if "starting_cash" in body:
        overrides["starting_cash"] = body["starting_cash"]
    unknown = sorted(set(body) - {"seed", "starting_cash"})
    if unknown:
        raise bad_request(f"reset accepts seed and starting_cash, not {', '.join(unknown)}")
    sim.reset(**overrides)
    return {"status": "reset", "seed": sim.config.seed}


async def _admin_price(sim: SimulatorState, request: Request) -> Any:
    body = await _admin_body(request)
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise bad_request('give {"symbol": "AAPL", "price": "190.00"}')
    symbol = symbol.upper()
    if body.get("release"):
        sim.broker.release_price(symbol)
        return {"symbol": symbol, "price": str(sim.market.price(symbol)), "pinned": False}
    if "price" not in body:
        raise bad_request('give {"symbol": "AAPL", "price": "190.00"}')
    price = parse_decimal(body["price"], "price")
    pinned = sim.broker.set_price(symbol, price)
    return {"symbol": symbol, "price": str(pinned), "pinned": True}


async def _admin_split(sim: SimulatorState, request: Request) -> Any:
    body = await _admin_body(request)
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol or "new_rate" not in body:
        raise bad_request('give {"symbol": "AAPL", "new_rate": "2", "old_rate": "1"}')
    old_rate = parse_decimal(body.get("old_rate", "1"), "old_rate")
    return sim.broker.split(symbol.upper(), old_rate, parse_decimal(body["new_rate"], "new_rate"))


async def _admin_prices(sim: SimulatorState, request: Request) -> Any:
    sim.broker.sync()
    return {symbol: str(price) for symbol, price in sim.market.prices().items()}


async def _admin_clock(sim: SimulatorState, request: Request) -> Any:
    clock = sim.clock_json()
    clock["phase"] = sim.calendar.phase(sim.clock.now())
    return clock


async def _admin_advance(sim: SimulatorState, request: Request) -> Any:
    body = await _admin_body(request)
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise bad_request('give {"seconds": N} with N >= 0')
    sim.clock.advance(float(seconds))
    sim.broker.sync()
    return await _admin_clock(sim, request)


async def _admin_get_faults(sim: SimulatorState, request: Request) -> Any:
    return sim.faults.to_dict()


async def _admin_set_faults(sim: SimulatorState, request: Request) -> Any:
    body = await _admin_body(request)
    if body.pop("reset", False):
        sim.faults = FaultConfig()
    return sim.set_faults(body).to_dict()


async def _admin_dump(sim: SimulatorState, request: Request) -> Any:
    return sim.broker.dump(request.path_params["key_id"])


async def _admin_events(sim: SimulatorState, request: Request) -> Any:
    since = request.query_params.get("since") or "0"
    if not since.isdigit():
        raise bad_request("since must be a whole number")
    return sim.broker.events(request.path_params["key_id"], int(since))


async def _admin_tick(sim: SimulatorState, request: Request) -> Any:
    sim.broker.tick()
    return {"status": "ok", "at": sim.clock.now().isoformat()}


async def _admin_drop_streams(sim: SimulatorState, request: Request) -> Any:
    return {"dropped": sim.hub.drop_all(), "activity_streams": sim.activity_events.drop_all()}


async def _admin_stats(sim: SimulatorState, request: Request) -> Any:
    accounts = sim.broker.accounts.values()
    return {
        "accounts": len(accounts),
        "orders": sum(len(a.orders) for a in accounts),
        "open_orders": sum(len(a.open_orders) for a in accounts),
        "activities": sum(len(a.activities) for a in accounts),
        "events": sum(a.event_count for a in accounts),
        "stream_listeners": sim.hub.listener_count(),
        "stream_frames_sent": sim.hub.delivered,
        # 429s for an exhausted per-key budget (not injected storms), by key.
        "rate_limited": dict(sim.limiter.refused) if sim.limiter is not None else {},
    }


async def _admin_stream_lags(sim: SimulatorState, request: Request) -> Any:
    try:
        since = float(request.query_params.get("since") or "0")
    except ValueError:
        raise bad_request("since must be a UNIX time in seconds") from None
    lags = sim.hub.fill_send_lags_since(since)
    return {"fills": [{"order_id": order_id, "send_lag_ms": lag} for order_id, lag in lags]}


async def _admin_orders(sim: SimulatorState, request: Request) -> Any:
    """Orders of many accounts in one request: ``{"orders": [{"key_id": K, "order": BODY}]}``,
    each placed as ``POST /v2/orders`` with ``BODY`` would place it for the account of ``K``
    (which must have made a request already), with no rate limit and no injected fault. For load
    generators: on a real desk the venue's order entry runs on the venue's machines, not beside
    the monitors. Answers how many were placed and, for the others, why not."""
    body = await _admin_body(request)
    items = body.get("orders")
    if not isinstance(items, list):
        raise bad_request('send {"orders": [{"key_id": "...", "order": {...}}, ...]}')
    placed, refused = 0, []
    for index, item in enumerate(items):
        key_id = item.get("key_id") if isinstance(item, dict) else None
        account = sim.broker.accounts.get(key_id) if isinstance(key_id, str) else None
        if account is None:
            refused.append({"index": index, "message": "unknown key_id (no request made yet)"})
            continue
        try:
            sim.broker.submit_order(account, item.get("order"))
            placed += 1
        except VenueError as exc:
            refused.append({"index": index, "message": exc.message})
    return {"placed": placed, "refused": refused}


_ADMIN_ROUTES: list[tuple[str, str, AdminHandler]] = [
    ("GET", "/_sim/health", _admin_health),
    ("POST", "/_sim/reset", _admin_reset),
    ("POST", "/_sim/price", _admin_price),
    ("GET", "/_sim/prices", _admin_prices),
    ("POST", "/_sim/split", _admin_split),
    ("GET", "/_sim/clock", _admin_clock),
    ("POST", "/_sim/clock/advance", _admin_advance),
    ("GET", "/_sim/faults", _admin_get_faults),
    ("POST", "/_sim/faults", _admin_set_faults),
    ("GET", "/_sim/accounts/{key_id}/dump", _admin_dump),
    ("GET", "/_sim/accounts/{key_id}/events", _admin_events),
    ("POST", "/_sim/tick", _admin_tick),
    ("POST", "/_sim/stream/drop", _admin_drop_streams),
    ("GET", "/_sim/stream/lags", _admin_stream_lags),
    ("GET", "/_sim/stats", _admin_stats),
    ("POST", "/_sim/orders", _admin_orders),
]


def admin_routes() -> list[Route]:
    """Every /_sim route."""
    return [Route(path, _admin(h), methods=[method]) for method, path, h in _ADMIN_ROUTES]
