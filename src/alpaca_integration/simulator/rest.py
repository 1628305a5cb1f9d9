"""Alpaca's REST API under ``/v2``: the gate every request passes and the handlers behind it.

Every ``/v2`` request goes through the same gate, in this order: injected latency, API-key
authentication (401 with Alpaca's body), the per-key rate limit (429 with ``X-RateLimit-*``
headers, which every authenticated answer carries), injected 429 storms and 5xx errors (before
the request has any effect), the handler, and finally the lost-answer fault for order writes
(the effect happens, the answer does not arrive). Every answer carries an HTTP ``Date`` from the
venue's clock (see ``runtime.SimulatorState.http_date``). Handlers call the broker synchronously on the
event loop, so each request sees and leaves a consistent state.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from alpaca_integration.simulator.broker import Broker
from alpaca_integration.simulator.catalog import calendar_days
from alpaca_integration.simulator.config import FaultConfig
from alpaca_integration.simulator.runtime import SimulatorState
from alpaca_integration.simulator.state import Account, Order, order_json
from alpaca_integration.simulator.wire import (
    CODE_RATE_LIMITED,
    CODE_SERVER_ERROR,
    VenueError,
    bad_request,
)

__all__ = ["LOST_ANSWER_LOG", "json_response", "v2_routes"]

_JSON = "application/json"
# What uvicorn logs for the deliberately cut answers of the lost-answer fault.
LOST_ANSWER_LOG = "ASGI callable returned without completing response."
Handler = Callable[[SimulatorState, Account, Request], Awaitable[tuple[int, Any]]]


# ---------------------------------------------------------------------------- responses


def json_response(
    status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    """A JSON answer (no body for None) with extra raw headers."""
    response = Response(
        content=b"" if body is None else msgspec.json.encode(body),
        status_code=status,
        media_type=None if body is None else _JSON,
    )
    if headers:
        response.raw_headers.extend(headers)
    return response


class _LostAnswer(Response):
    """Starts a 200 answer and stops mid-body: the server closes the connection."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"4096")]
        headers += [(name, value) for name, value in self.raw_headers if name == b"date"]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"id":"', "more_body": True})


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise bad_request("request body format is invalid: send a JSON object") from None


def _params(request: Request) -> dict[str, str]:
    return dict(request.query_params)


# ---------------------------------------------------------------------------- the /v2 gate


_ORDER_WRITES = frozenset(
    {"POST /v2/orders", "PATCH /v2/orders/{order_id}", "DELETE /v2/orders/{order_id}"}
)


def _injected_failure(
    sim: SimulatorState,
    faults: FaultConfig,
    route_key: str,
    rate_headers: list[tuple[bytes, bytes]],
) -> Response | None:
    """A 429 storm or an injected 5xx, decided before the request has any effect."""
    if sim.roll(faults.rate_limit_storm_rate):
        response = Response("Too Many Requests", status_code=429, media_type="text/plain")
        response.raw_headers.extend(rate_headers)
        return response
    rate = faults.route_error_rates.get(
        route_key, faults.route_error_rates.get("*", faults.error_rate)
    )
    if sim.roll(rate):
        return json_response(
            faults.error_status,
            {"code": CODE_SERVER_ERROR, "message": "internal server error"},
            rate_headers,
        )
    return None


def _lost_answer(sim: SimulatorState, faults: FaultConfig) -> Response | None:
    """The lost-answer fault, for an order write that took effect: the answer that replaces
    the real one (None: the real one goes out)."""
    if not (faults.lost_answer_next > 0 or sim.roll(faults.lost_answer_rate)):
        return None
    if faults.lost_answer_next > 0:
        sim.faults = dataclasses.replace(faults, lost_answer_next=faults.lost_answer_next - 1)
    if faults.lost_answer_mode == "504":
        return Response("504 Gateway Time-out", status_code=504, media_type="text/plain")
    return _LostAnswer()


def _gate(route_key: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    lost_answer_applies = route_key in _ORDER_WRITES

    async def answer(sim: SimulatorState, request: Request) -> Response:
        faults = sim.faults
        rest_faults = faults.any_rest_fault
        if rest_faults and (faults.latency_ms or faults.latency_jitter_ms):
            delay = faults.latency_ms + sim._fault_rng.uniform(0, faults.latency_jitter_ms)
            await asyncio.sleep(delay / 1000)
        headers = request.headers
        key_id = headers.get("apca-api-key-id")
        try:
            account = sim.broker.authenticate(key_id, headers.get("apca-api-secret-key"))
        except VenueError as exc:
            return json_response(exc.status, exc.body())
        rate_headers: list[tuple[bytes, bytes]] = []
        if sim.limiter is not None:
            budget = sim.limiter.check(account.key_id)
            rate_headers = budget.headers()
            if not budget.allowed:
                body = {"code": CODE_RATE_LIMITED, "message": "rate limit exceeded"}
                return json_response(429, body, rate_headers)
        if rest_faults:
            failure = _injected_failure(sim, faults, route_key, rate_headers)
            if failure is not None:
                return failure
        try:
            status, body = await handler(sim, account, request)
        except VenueError as exc:
            return json_response(exc.status, exc.body(), rate_headers)
        if lost_answer_applies and rest_faults and status < 300:
            lost = _lost_answer(sim, faults)
            if lost is not None:
                return lost
        return json_response(status, body, rate_headers)

    async def endpoint(request: Request) -> Response:
        sim: SimulatorState = request.app.state.sim
        response = await answer(sim, request)
        # Dated after the handler: the venue's clock when the answer leaves (skew included).
        response.raw_headers.append((b"date", sim.http_date()))
        return response

    return endpoint


# ---------------------------------------------------------------------------- /v2 handlers


def _of_account(call: Callable[[Broker, Account], Any], status: int = 200) -> Handler:
    """The handler answering ``status`` and ``call(broker, account)``."""

    async def handler(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
        return status, call(sim.broker, account)

    return handler


def _with_params(
    call: Callable[[Broker, Account, dict[str, str]], Any], status: int = 200
) -> Handler:
    """The handler answering ``status`` and ``call(broker, account, query parameters)``."""

    async def handler(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
        return status, call(sim.broker, account, _params(request))

    return handler


def _with_body(call: Callable[[Broker, Account, Any], Any]) -> Handler:
    """The handler answering 200 and ``call(broker, account, JSON body)``."""

    async def handler(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
        return 200, call(sim.broker, account, await _body(request))

    return handler


def _of_params(call: Callable[[Broker, dict[str, str]], Any]) -> Handler:
    """The handler answering 200 and ``call(broker, query parameters)`` (no account's data)."""

    async def handler(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
        return 200, call(sim.broker, _params(request))

    return handler


async def _get_activities_by_type(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    kind = request.path_params["activity_type"]
    return 200, sim.broker.activities(account, _params(request), kind)


async def _get_asset(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.broker.asset(request.path_params["symbol_or_asset_id"])


async def _get_clock(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.clock_json()


async def _get_calendar(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, await asyncio.to_thread(calendar_days, _params(request))


async def _order_by_client_id(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    params = _params(request)
    order = sim.broker.order_by_client_id(account, params.get("client_order_id"))
    nested = (params.get("nested") or "false").lower() == "true"
    return 200, _order(order, nested)


def _order(order: Order, nested: bool) -> dict[str, Any]:
    return order_json(order, nested=nested)


async def _get_order(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    order = sim.broker.get_order(account, request.path_params["order_id"])
    nested = (request.query_params.get("nested") or "false").lower() == "true"
    return 200, _order(order, nested)


async def _patch_order(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    body = await _body(request)
    return 200, sim.broker.replace_order(account, request.path_params["order_id"], body)


async def _delete_order(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    sim.broker.cancel_order(account, request.path_params["order_id"])
    return 204, None


async def _get_position(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.broker.get_position(account, request.path_params["symbol_or_asset_id"])


async def _close_position(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    symbol = request.path_params["symbol_or_asset_id"]
    return 200, sim.broker.close_position(account, symbol, _params(request))


async def _get_option_contract(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 200, sim.broker.option_contract(request.path_params["symbol_or_id"])


async def _option_instruction(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    """POST .../exercise or .../do-not-exercise: 200 without a body."""
    contract = request.path_params["symbol_or_contract_id"]
    if request.url.path.endswith("/do-not-exercise"):
        sim.broker.do_not_exercise(account, contract)
    else:
        sim.broker.exercise(account, contract)
    return 200, None


def _watchlist_ref(request: Request) -> tuple[str | None, str | None]:
    watchlist_id = request.path_params.get("watchlist_id")
    return watchlist_id, None if watchlist_id is not None else request.query_params.get("name")


async def _get_watchlist(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    watchlist_id, name = _watchlist_ref(request)
    return 200, sim.broker.get_watchlist(account, watchlist_id, name)


def _watchlist_edit(
    call: Callable[[Broker, Account, str | None, Any, str | None], dict[str, Any]],
) -> Handler:
    """The handler of a watchlist change by id or by name (PUT replaces, POST adds a symbol)."""

    async def handler(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
        watchlist_id, name = _watchlist_ref(request)
        return 200, call(sim.broker, account, watchlist_id, await _body(request), name)

    return handler


async def _delete_watchlist(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    watchlist_id, name = _watchlist_ref(request)
    sim.broker.delete_watchlist(account, watchlist_id, name)
    return 204, None


async def _remove_from_watchlist(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    params = request.path_params
    return 200, sim.broker.remove_from_watchlist(account, params["watchlist_id"], params["symbol"])


_V2_ROUTES: list[tuple[str, dict[str, Handler]]] = [
    ("/v2/account", {"GET": _of_account(Broker.account_json)}),
    (
        "/v2/account/configurations",
        {
            "GET": _of_account(Broker.configuration),
            "PATCH": _with_body(Broker.update_configuration),
        },
    ),
    ("/v2/account/activities", {"GET": _with_params(Broker.activities)}),
    ("/v2/account/activities/{activity_type}", {"GET": _get_activities_by_type}),
    ("/v2/account/portfolio/history", {"GET": _with_params(Broker.portfolio_history)}),
    ("/v2/assets", {"GET": _of_params(Broker.asset_list)}),
    ("/v2/assets/{symbol_or_asset_id:path}", {"GET": _get_asset}),
    ("/v2/clock", {"GET": _get_clock}),
    ("/v2/calendar", {"GET": _get_calendar}),
    (
        "/v2/orders",
        {
            "GET": _with_params(Broker.list_orders),
            "POST": _with_body(Broker.submit_order),
            "DELETE": _of_account(Broker.cancel_all, 207),
        },
    ),
    ("/v2/orders:by_client_order_id", {"GET": _order_by_client_id}),
    ("/v2/orders/{order_id}", {"GET": _get_order, "PATCH": _patch_order, "DELETE": _delete_order}),
    ("/v2/options/contracts", {"GET": _of_params(Broker.option_contracts)}),
    ("/v2/options/contracts/{symbol_or_id}", {"GET": _get_option_contract}),
    (
        "/v2/positions",
        {"GET": _of_account(Broker.positions), "DELETE": _with_params(Broker.close_all, 207)},
    ),
    ("/v2/positions/{symbol_or_contract_id}/exercise", {"POST": _option_instruction}),
    ("/v2/positions/{symbol_or_contract_id}/do-not-exercise", {"POST": _option_instruction}),
    (
        "/v2/positions/{symbol_or_asset_id:path}",
        {"GET": _get_position, "DELETE": _close_position},
    ),
    (
        "/v2/watchlists",
        {"GET": _of_account(Broker.watchlists), "POST": _with_body(Broker.create_watchlist)},
    ),
    (
        "/v2/watchlists:by_name",
        {
            "GET": _get_watchlist,
            "PUT": _watchlist_edit(Broker.update_watchlist),
            "POST": _watchlist_edit(Broker.add_to_watchlist),
            "DELETE": _delete_watchlist,
        },
    ),
    (
        "/v2/watchlists/{watchlist_id}",
        {
            "GET": _get_watchlist,
            "PUT": _watchlist_edit(Broker.update_watchlist),
            "POST": _watchlist_edit(Broker.add_to_watchlist),
            "DELETE": _delete_watchlist,
        },
    ),
    ("/v2/watchlists/{watchlist_id}/{symbol}", {"DELETE": _remove_from_watchlist}),
]


def _dispatch(path: str, handlers: dict[str, Handler]) -> Route:
    template = path.replace(":path}", "}")
    gated = {method: _gate(f"{method} {template}", handler) for method, handler in handlers.items()}

    async def endpoint(request: Request) -> Response:
        return await gated[request.method](request)

    return Route(path, endpoint, methods=list(handlers))


def v2_routes() -> list[Route]:
    """Every /v2 route, each method behind the gate."""
    return [_dispatch(path, handlers) for path, handlers in _V2_ROUTES]
