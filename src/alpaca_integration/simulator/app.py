"""The simulator as an ASGI application: Alpaca's REST API under ``/v2``, the trade_updates
WebSocket at ``/stream``, and the admin API under ``/_sim`` (no auth, no rate limit).

Every ``/v2`` request goes through the same gate, in this order: injected latency, API-key
authentication (401 with Alpaca's body), the per-key rate limit (429 with ``X-RateLimit-*``
headers, which every authenticated answer carries), injected 429 storms and 5xx errors (before
the request has any effect), the handler, and finally the lost-answer fault for order writes
(the effect happens, the answer does not arrive).

The broker runs on the server's event loop: handlers call it synchronously, so each request sees
and leaves a consistent state. A background task advances the market every ``tick_interval``.

This module imports nothing from the package outside the simulator (and ``errors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from alpaca_integration.errors import ConfigError
from alpaca_integration.simulator.broker import Broker
from alpaca_integration.simulator.clock import (
    NEW_YORK,
    AlwaysOpenCalendar,
    SimClock,
    TradingCalendar,
    XnysCalendar,
    xnys_sessions,
)
from alpaca_integration.simulator.config import FaultConfig, SimConfig
from alpaca_integration.simulator.market import Market, build_assets, load_bars
from alpaca_integration.simulator.ratelimit import RateLimiter
from alpaca_integration.simulator.state import Account
from alpaca_integration.simulator.stream import StreamHub
from alpaca_integration.simulator.wire import (
    CODE_BAD_REQUEST,
    CODE_NOT_FOUND,
    CODE_RATE_LIMITED,
    CODE_SERVER_ERROR,
    VenueError,
    parse_decimal,
    parse_time,
)

__all__ = ["SimulatorState", "create_app"]

logger = logging.getLogger("alpaca_integration.simulator")

_JSON = "application/json"
_LOST_ANSWER_LOG = "ASGI callable returned without completing response."
Handler = Callable[["SimulatorState", Account, Request], Awaitable[tuple[int, Any]]]


class _QuietLostAnswers(logging.Filter):
    """uvicorn reports the deliberately cut answers of the lost-answer fault; they are expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _LOST_ANSWER_LOG


_QUIET = _QuietLostAnswers()


class SimulatorState:
    """Everything one running venue holds; ``reset`` rebuilds it from the configuration."""

    def __init__(self, config: SimConfig) -> None:
        self.base_config = config
        self.config = config
        self.faults = config.faults
        self._fault_rng = random.Random(f"{config.seed}:faults")
        self.build(config)

    def build(self, config: SimConfig) -> None:
        self.config = config
        self.clock = SimClock(config.start_time, realtime=config.realtime)
        self.calendar: TradingCalendar = (
            AlwaysOpenCalendar() if config.clock == "always-open" else XnysCalendar()
        )
        self.assets = build_assets(config.symbols, config.seed)
        bars = load_bars(config.bars_file) if config.bars_file is not None else None
        self.market = Market(
            self.assets,
            seed=config.seed,
            start=self.clock.now(),
            volatility=config.volatility,
            step_seconds=config.price_step_seconds,
            bars=bars,
        )
        self.limiter = RateLimiter(config.rate_limit) if config.rate_limit else None
        hub = getattr(self, "hub", None)
        self.broker = Broker(
            config,
            clock=self.clock,
            calendar=self.calendar,
            market=self.market,
            assets=self.assets,
            sink=None,
        )
        self.broker.order_reject_rate = self.faults.order_reject_rate
        if hub is None:
            hub = StreamHub(
                authenticate=lambda key, secret: self.broker.authenticate(key, secret),
                faults=lambda: self.faults,
                seed=config.seed,
            )
        self.hub: StreamHub = hub
        self.broker.sink = hub.publish

    def reset(self, **overrides: Any) -> None:
        config = self.base_config.replace(**overrides) if overrides else self.base_config
        self.faults = config.faults
        self._fault_rng = random.Random(f"{config.seed}:faults")
        self.build(config)
        self.hub.apply_faults()

    def set_faults(self, changes: dict[str, Any]) -> FaultConfig:
        self.faults = self.faults.merged(changes)
        self.broker.order_reject_rate = self.faults.order_reject_rate
        self.hub.apply_faults()
        return self.faults

    def roll(self, rate: float) -> bool:
        return rate > 0 and self._fault_rng.random() < rate

    def clock_json(self) -> dict[str, Any]:
        self.broker.sync()
        now = self.clock.now()
        calendar = self.calendar
        return {
            "timestamp": now.astimezone(NEW_YORK).isoformat(),
            "is_open": calendar.phase(now) == "regular",
            "next_open": calendar.next_open(now).astimezone(NEW_YORK).isoformat(),
            "next_close": calendar.next_close(now).astimezone(NEW_YORK).isoformat(),
        }


# ---------------------------------------------------------------------------- responses


def _json(status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
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
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id":"', "more_body": True})


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise VenueError(
            400, CODE_BAD_REQUEST, "request body format is invalid: send a JSON object"
        ) from None


def _params(request: Request) -> dict[str, str]:
    return dict(request.query_params)


# ---------------------------------------------------------------------------- the /v2 gate


_ORDER_WRITES = frozenset(
    {"POST /v2/orders", "PATCH /v2/orders/{order_id}", "DELETE /v2/orders/{order_id}"}
)


def _gate(route_key: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    lost_answer_applies = route_key in _ORDER_WRITES

    async def endpoint(request: Request) -> Response:
        sim: SimulatorState = request.app.state.sim
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
            return _json(exc.status, exc.body())
        rate_headers: list[tuple[bytes, bytes]] = []
        if sim.limiter is not None:
            budget = sim.limiter.check(account.key_id)
            rate_headers = budget.headers()
            if not budget.allowed:
                return _json(
                    429,
                    {"code": CODE_RATE_LIMITED, "message": "rate limit exceeded"},
                    rate_headers,
                )
        if rest_faults:
            if sim.roll(faults.rate_limit_storm_rate):
                response = Response("Too Many Requests", status_code=429, media_type="text/plain")
                response.raw_headers.extend(rate_headers)
                return response
            rate = faults.route_error_rates.get(
                route_key, faults.route_error_rates.get("*", faults.error_rate)
            )
            if sim.roll(rate):
                return _json(
                    faults.error_status,
                    {"code": CODE_SERVER_ERROR, "message": "internal server error"},
                    rate_headers,
                )
        try:
            status, body = await handler(sim, account, request)
        except VenueError as exc:
            return _json(exc.status, exc.body(), rate_headers)
        if lost_answer_applies and rest_faults and status < 300:
            lost = faults.lost_answer_next > 0 or sim.roll(faults.lost_answer_rate)
            if lost:
                if faults.lost_answer_next > 0:
                    sim.faults = dataclasses.replace(
                        faults, lost_answer_next=faults.lost_answer_next - 1
                    )
                if faults.lost_answer_mode == "504":
                    return Response(
                        "504 Gateway Time-out", status_code=504, media_type="text/plain"
                    )
                return _LostAnswer()
        return _json(status, body, rate_headers)

    return endpoint


# ---------------------------------------------------------------------------- /v2 handlers


async def _get_account(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.broker.account_json(account)


async def _get_configurations(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 200, sim.broker.configuration(account)


async def _patch_configurations(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 200, sim.broker.update_configuration(account, await _body(request))


async def _get_activities(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 200, sim.broker.activities(account, _params(request))


async def _get_activities_by_type(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    kind = request.path_params["activity_type"]
    return 200, sim.broker.activities(account, _params(request), kind)


async def _get_portfolio_history(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 200, sim.broker.portfolio_history(account, _params(request))


async def _list_assets(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.broker.asset_list(_params(request))


async def _get_asset(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.broker.asset(request.path_params["symbol_or_asset_id"])


async def _get_clock(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.clock_json()


def _calendar_days(params: dict[str, str]) -> list[dict[str, Any]]:
    days = xnys_sessions()
    start = parse_time(params["start"], "start").date() if params.get("start") else None
    end = parse_time(params["end"], "end").date() if params.get("end") else None
    by_settlement = (params.get("date_type") or "TRADING").upper() == "SETTLEMENT"
    out = []
    for index, day in enumerate(days):
        settlement = days[index + 1].date if index + 1 < len(days) else day.date
        key = settlement if by_settlement else day.date
        if (start is not None and key < start) or (end is not None and key > end):
            continue
        out.append(
            {
                "date": day.date.isoformat(),
                "open": day.open.astimezone(NEW_YORK).strftime("%H:%M"),
                "close": day.close.astimezone(NEW_YORK).strftime("%H:%M"),
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": settlement.isoformat(),
            }
        )
    return out


async def _get_calendar(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    params = _params(request)
    date_type = (params.get("date_type") or "TRADING").upper()
    if date_type not in ("TRADING", "SETTLEMENT"):
        raise VenueError(400, CODE_BAD_REQUEST, "date_type must be TRADING or SETTLEMENT")
    return 200, await asyncio.to_thread(_calendar_days, params)


async def _post_order(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.broker.submit_order(account, await _body(request))


async def _list_orders(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.broker.list_orders(account, _params(request))


async def _cancel_orders(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 207, sim.broker.cancel_all(account)


async def _order_by_client_id(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    params = _params(request)
    order = sim.broker.order_by_client_id(account, params.get("client_order_id"))
    nested = (params.get("nested") or "false").lower() == "true"
    return 200, _order(order, nested)


def _order(order: Any, nested: bool) -> dict[str, Any]:
    from alpaca_integration.simulator.state import order_json

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


async def _list_positions(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 200, sim.broker.positions(account)


async def _close_positions(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 207, sim.broker.close_all(account, _params(request))


async def _get_position(sim: SimulatorState, account: Account, request: Request) -> tuple[int, Any]:
    return 200, sim.broker.get_position(account, request.path_params["symbol_or_asset_id"])


async def _close_position(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    symbol = request.path_params["symbol_or_asset_id"]
    return 200, sim.broker.close_position(account, symbol, _params(request))


async def _list_watchlists(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 200, sim.broker.watchlists(account)


async def _create_watchlist(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    return 200, sim.broker.create_watchlist(account, await _body(request))


def _watchlist_ref(request: Request) -> tuple[str | None, str | None]:
    watchlist_id = request.path_params.get("watchlist_id")
    return watchlist_id, None if watchlist_id is not None else request.query_params.get("name")


async def _get_watchlist(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    watchlist_id, name = _watchlist_ref(request)
    return 200, sim.broker.get_watchlist(account, watchlist_id, name)


async def _update_watchlist(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    watchlist_id, name = _watchlist_ref(request)
    body = await _body(request)
    return 200, sim.broker.update_watchlist(account, watchlist_id, body, name)


async def _add_to_watchlist(
    sim: SimulatorState, account: Account, request: Request
) -> tuple[int, Any]:
    watchlist_id, name = _watchlist_ref(request)
    body = await _body(request)
    return 200, sim.broker.add_to_watchlist(account, watchlist_id, body, name)


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
    ("/v2/account", {"GET": _get_account}),
    (
        "/v2/account/configurations",
        {"GET": _get_configurations, "PATCH": _patch_configurations},
    ),
    ("/v2/account/activities", {"GET": _get_activities}),
    ("/v2/account/activities/{activity_type}", {"GET": _get_activities_by_type}),
    ("/v2/account/portfolio/history", {"GET": _get_portfolio_history}),
    ("/v2/assets", {"GET": _list_assets}),
    ("/v2/assets/{symbol_or_asset_id:path}", {"GET": _get_asset}),
    ("/v2/clock", {"GET": _get_clock}),
    ("/v2/calendar", {"GET": _get_calendar}),
    ("/v2/orders", {"GET": _list_orders, "POST": _post_order, "DELETE": _cancel_orders}),
    ("/v2/orders:by_client_order_id", {"GET": _order_by_client_id}),
    ("/v2/orders/{order_id}", {"GET": _get_order, "PATCH": _patch_order, "DELETE": _delete_order}),
    ("/v2/positions", {"GET": _list_positions, "DELETE": _close_positions}),
    (
        "/v2/positions/{symbol_or_asset_id:path}",
        {"GET": _get_position, "DELETE": _close_position},
    ),
    ("/v2/watchlists", {"GET": _list_watchlists, "POST": _create_watchlist}),
    (
        "/v2/watchlists:by_name",
        {
            "GET": _get_watchlist,
            "PUT": _update_watchlist,
            "POST": _add_to_watchlist,
            "DELETE": _delete_watchlist,
        },
    ),
    (
        "/v2/watchlists/{watchlist_id}",
        {
            "GET": _get_watchlist,
            "PUT": _update_watchlist,
            "POST": _add_to_watchlist,
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


# ---------------------------------------------------------------------------- admin


def _admin_error(status: int, message: str) -> Response:
    return _json(status, {"code": status * 100000, "message": message})


async def _admin_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise VenueError(400, CODE_BAD_REQUEST, "admin body must be a JSON object") from None
    if not isinstance(body, dict):
        raise VenueError(400, CODE_BAD_REQUEST, "admin body must be a JSON object")
    return body


def _admin(
    handler: Callable[[SimulatorState, Request], Awaitable[Any]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        sim: SimulatorState = request.app.state.sim
        try:
            return _json(200, await handler(sim, request))
        except VenueError as exc:
            return _json(exc.status, exc.body())
        except ConfigError as exc:
            return _admin_error(400, str(exc))

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
        raise VenueError(
            400, CODE_BAD_REQUEST, f"reset accepts seed and starting_cash, not {', '.join(unknown)}"
        )
    sim.reset(**overrides)
    return {"status": "reset", "seed": sim.config.seed}


async def _admin_price(sim: SimulatorState, request: Request) -> Any:
    body = await _admin_body(request)
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise VenueError(400, CODE_BAD_REQUEST, 'give {"symbol": "AAPL", "price": "190.00"}')
    symbol = symbol.upper()
    if body.get("release"):
        sim.broker.release_price(symbol)
        return {"symbol": symbol, "price": str(sim.market.price(symbol)), "pinned": False}
    if "price" not in body:
        raise VenueError(400, CODE_BAD_REQUEST, 'give {"symbol": "AAPL", "price": "190.00"}')
    price = parse_decimal(body["price"], "price")
    pinned = sim.broker.set_price(symbol, price)
    return {"symbol": symbol, "price": str(pinned), "pinned": True}


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
        raise VenueError(400, CODE_BAD_REQUEST, 'give {"seconds": N} with N >= 0')
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
        raise VenueError(400, CODE_BAD_REQUEST, "since must be a whole number")
    return sim.broker.events(request.path_params["key_id"], int(since))


async def _admin_tick(sim: SimulatorState, request: Request) -> Any:
    sim.broker.tick()
    return {"status": "ok", "at": sim.clock.now().isoformat()}


async def _admin_drop_streams(sim: SimulatorState, request: Request) -> Any:
    return {"dropped": sim.hub.drop_all()}


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
    }


_ADMIN_ROUTES: list[tuple[str, str, Callable[[SimulatorState, Request], Awaitable[Any]]]] = [
    ("GET", "/_sim/health", _admin_health),
    ("POST", "/_sim/reset", _admin_reset),
    ("POST", "/_sim/price", _admin_price),
    ("GET", "/_sim/prices", _admin_prices),
    ("GET", "/_sim/clock", _admin_clock),
    ("POST", "/_sim/clock/advance", _admin_advance),
    ("GET", "/_sim/faults", _admin_get_faults),
    ("POST", "/_sim/faults", _admin_set_faults),
    ("GET", "/_sim/accounts/{key_id}/dump", _admin_dump),
    ("GET", "/_sim/accounts/{key_id}/events", _admin_events),
    ("POST", "/_sim/tick", _admin_tick),
    ("POST", "/_sim/stream/drop", _admin_drop_streams),
    ("GET", "/_sim/stats", _admin_stats),
]


# ---------------------------------------------------------------------------- the app


async def _stream(websocket: WebSocket) -> None:
    sim: SimulatorState = websocket.app.state.sim
    await sim.hub.serve(websocket)


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return _json(405, {"code": 40510000, "message": "method not allowed"})
    return _json(exc.status_code, {"code": CODE_NOT_FOUND, "message": "endpoint not found"})


async def _ticker(sim: SimulatorState) -> None:
    interval = sim.config.tick_interval
    while True:
        await asyncio.sleep(interval)
        try:
            sim.broker.sync()
        except Exception:  # a bug in one pass must not stop the market; it is logged
            logger.exception("simulator market tick failed")


def create_app(config: SimConfig | None = None) -> Starlette:
    """The simulator's ASGI app (serve it with uvicorn). ``app.state.sim`` is its state."""
    config = config or SimConfig()
    state = SimulatorState(config)
    logging.getLogger("uvicorn.error").addFilter(_QUIET)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_ticker(state)) if config.tick_interval > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            state.hub.drop_all()

    routes: list[Any] = [_dispatch(path, handlers) for path, handlers in _V2_ROUTES]
    routes += [Route(path, _admin(h), methods=[method]) for method, path, h in _ADMIN_ROUTES]
    routes.append(WebSocketRoute("/stream", _stream))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.sim = state
    return app
