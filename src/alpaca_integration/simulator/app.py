"""The simulator as an ASGI application: Alpaca's REST API under ``/v2`` (``rest``), the
trade_updates WebSocket at ``/stream`` and ``/stream/`` (``stream``), the activities event stream
at ``/v2beta1/events/activities`` (``events``, SSE), and the admin API under ``/_sim``
(``admin``, no auth, no rate limit).

The broker runs on the server's event loop: handlers call it synchronously, so each request sees
and leaves a consistent state. A background task advances the market every ``tick_interval``.
``SimulatorState`` (the running venue, ``app.state.sim``) lives in ``runtime`` and is re-exported
here.

This module imports nothing from the package outside the simulator (and ``errors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from alpaca_integration.simulator.admin import admin_routes
from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.rest import LOST_ANSWER_LOG, json_response, v2_routes
from alpaca_integration.simulator.runtime import SimulatorState
from alpaca_integration.simulator.wire import CODE_NOT_FOUND, VenueError

__all__ = ["SimulatorState", "create_app"]

logger = logging.getLogger("alpaca_integration.simulator")


class _QuietLostAnswers(logging.Filter):
    """uvicorn reports the deliberately cut answers of the lost-answer fault; they are expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != LOST_ANSWER_LOG


_QUIET = _QuietLostAnswers()


# ---------------------------------------------------------------------------- the app


async def _stream(websocket: WebSocket) -> None:
    sim: SimulatorState = websocket.app.state.sim
    await sim.hub.serve(websocket)


async def _activity_events(request: Request) -> Response:
    """``GET /v2beta1/events/activities``: authenticated and rate-limited as /v2, then SSE."""
    sim: SimulatorState = request.app.state.sim
    headers = request.headers
    response: Response
    if not sim.config.activity_events:
        response = json_response(404, {"code": CODE_NOT_FOUND, "message": "endpoint not found"})
        response.raw_headers.append((b"date", sim.http_date()))
        return response
    try:
        account = sim.broker.authenticate(
            headers.get("apca-api-key-id"), headers.get("apca-api-secret-key")
        )
    except VenueError as exc:
        response = json_response(exc.status, exc.body())
    else:
        limited = sim.limiter is not None and not sim.limiter.check(account.key_id).allowed
        response = sim.activity_events.response(account, request, limited=limited)
    response.raw_headers.append((b"date", sim.http_date()))
    return response


async def _not_found(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        response = json_response(405, {"code": 40510000, "message": "method not allowed"})
    else:
        body = {"code": CODE_NOT_FOUND, "message": "endpoint not found"}
        response = json_response(exc.status_code, body)
    sim: SimulatorState = request.app.state.sim
    response.raw_headers.append((b"date", sim.http_date()))
    return response


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
            state.activity_events.drop_all()

    routes: list[Any] = [*v2_routes(), *admin_routes()]
    # Alpaca accepts both spellings; alpaca-trade-api connects at /stream/ and, refused there,
    # retries in a tight loop without ever getting trade_updates.
    routes += [WebSocketRoute("/stream", _stream), WebSocketRoute("/stream/", _stream)]
    routes.append(Route("/v2beta1/events/activities", _activity_events, methods=["GET"]))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.sim = state
    return app
