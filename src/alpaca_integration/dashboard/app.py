"""The dashboard's Starlette application: pages, fragments, the event stream, login, assets.

``create_app(store, cache, accounts, *, token=None, health=None, performance=None,
live="auto")`` builds it for any process: ``alpacactl dashboard`` serves it alone, and the
monitor can serve it from its own process (passing its cache, so the in-memory cache's
notifications reach the page, and ``health``, so the overview shows its stream and sync status).

Routes (every page takes ``?account=NAME``; without it, all accounts):

====================  ==========================================================================
``/``                 overview: equity, cash, buying power, P&L, exposure, health, equity curve
``/positions``        positions (open lots and realized P&L once a ledger provider is given)
``/orders``           orders newest first, filters ``status symbol side from to``, keyset pages
``/orders/{id}``      one order: legs, replace chain, fills
``/fills``            executions with fees and their order, filters ``symbol side order``
``/checks``           quality findings, quarantine, reconciliation, risk, stream gaps
``/performance``      the performance provider's charts and statistics
``/fragment/{name}``  one region of a page, re-rendered (what the live updates fetch)
``/events``           Server-Sent Events (``live``)
``/login``            the token form (only when a token is configured)
``/static/...``       CSS, JS and plotly.min.js, all from the installed packages
====================  ==========================================================================

Read-only: no route writes broker state. No page, fragment or error shows a key, a secret or
the database URL: the app is never given them, and errors are rendered without their text.

Imports the dashboard's modules and the cache's in-memory class; never the client, the sync
engine, the monitor or the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alpaca_integration.dashboard import formatting, security, views
from alpaca_integration.dashboard.ledger_performance import LedgerPerformance
from alpaca_integration.dashboard.live import LiveFeed
from alpaca_integration.dashboard.performance import PerformanceProvider
from alpaca_integration.errors import StorageError

if TYPE_CHECKING:
    from alpaca_integration.cache import Cache
    from alpaca_integration.storage import Store

__all__ = ["LIVE_MODES", "Dashboard", "create_app"]

log = logging.getLogger(__name__)

LIVE_MODES = ("auto", "cache", "poll")
_STATIC = resources.files("alpaca_integration.dashboard") / "static"
_ASSETS = ("dashboard.css", "dashboard.js")


def _plotly_js() -> Path:
    """plotly.min.js as the installed plotly package ships it (no CDN)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def _asset_version() -> str:
    digest = hashlib.sha256()
    for name in _ASSETS:
        digest.update((_STATIC / name).read_bytes())
    return digest.hexdigest()[:12]


def _live_mode(live: str, cache: Cache | None, health: Any | None) -> str:
    """``auto``: the cache's notifications when they can reach this process (a shared cache
    such as Redis, or the monitor's own cache when it passes its ``health``), else polling."""
    if live not in LIVE_MODES:
        raise ValueError(f"live must be one of {', '.join(LIVE_MODES)}, not {live!r}")
    if live != "auto":
        return live
    if cache is None:
        return "poll"
    from alpaca_integration.cache.memory import InMemoryCache

    if isinstance(cache, InMemoryCache) and health is None:
        return "poll"
    return "cache"


class Dashboard:
    """What the routes share: the store, the live feed, the guard, the templates."""

    def __init__(
        self,
        store: Store,
        cache: Cache | None,
        accounts: Sequence[str] | None,
        *,
        token: str | None,
        health: views.HealthSource | None,
        performance: PerformanceProvider | None,
        live: str,
        poll_interval: float,
    ) -> None:
        self.store = store
        self.configured = list(accounts) if accounts else None
        self.guard = security.TokenGuard(token)
        self.health = health
        self.performance = performance or LedgerPerformance(store)
        self.feed = LiveFeed(
            store,
            cache,
            self.account_names,
            mode=_live_mode(live, cache, health),
            poll_interval=poll_interval,
        )
        self.version = _asset_version()
        self.templates = formatting.environment()
        self.templates.globals.update(static=self.static_url, link=_link)
        self._warming: asyncio.Task[None] | None = None

    async def account_names(self) -> list[str]:
        """The configured accounts, else every account the store holds."""
        if self.configured is not None:
            return list(self.configured)
        return list(await self.store.list_accounts())

    def start(self) -> None:
        """The live feed, and the performance provider's warm-up (``warm(accounts)``, when it
        has one: the ledger over every stored fill, built before the first page asks)."""
        self.feed.start()
        warm = getattr(self.performance, "warm", None)
        if warm is not None and self._warming is None:
            self._warming = asyncio.create_task(self._warm(warm), name="dashboard-warm-up")

    async def _warm(self, warm: Any) -> None:
        try:
            await warm(await self.account_names())
        except (SQLAlchemyError, StorageError, OSError) as exc:
            # The pages build it when asked (and say so if the store cannot be read).
            log.warning(
                "dashboard: warming the performance provider failed: %s", type(exc).__name__
            )

    async def warmed(self) -> None:
        """Until the start-up warm-up (if any) is over."""
        if self._warming is not None:
            await asyncio.shield(self._warming)

    async def aclose(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming
        await self.feed.aclose()

    # ------------------------------------------------------------------ rendering

    def static_url(self, name: str) -> str:
        version = self.version if name in _ASSETS else "plotly"
        return f"/static/{name}?v={version}"

    async def view(self, request: Request, *, path_id: str | None = None) -> views.View:
        names = await self.account_names()
        chosen = request.query_params.get("account") or None
        if chosen is not None and chosen not in names:
            raise HTTPException(404, f"no account named {chosen!r} in this store")
        return views.View(
            store=self.store,
            accounts=[chosen] if chosen else names,
            account=chosen,
            query=dict(request.query_params),
            performance=self.performance,
            health=self.health,
            path_id=path_id,
        )

    def html(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        body = self.templates.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status_code)

    async def page(self, request: Request, name: str, *, path_id: str | None = None) -> Response:
        # The event number before any read: whatever commits after it reaches the page.
        self.feed.start()
        since = self.feed.current_id()
        view = await self.view(request, path_id=path_id)
        page = views.PAGES[name]
        regions = [views.REGIONS[region] for region in page.regions]
        data = {region.name: await region.loader(view) for region in regions}
        events = _link("/events", {"account": view.account})
        return self.html(
            "page.html",
            page=page,
            pages=[p for p in views.PAGES.values() if p.in_menu],
            regions=regions,
            data=data,
            view=view,
            names=await self.account_names(),
            since=since,
            events_url=events,
            live=self.feed.description,
            fragment_url=lambda region: _link(
                f"/fragment/{region}", {**view.query, "order_id": path_id}
            ),
            request_path=request.url.path,
            auth=self.guard.required,
        )

    async def fragment(self, request: Request) -> Response:
        region = views.REGIONS.get(request.path_params["region"])
        if region is None:
            raise HTTPException(404, "no such region")
        view = await self.view(request, path_id=request.query_params.get("order_id"))
        return self.html(
            f"regions/{region.name}.html",
            data=await region.loader(view),
            view=view,
            names=await self.account_names(),
        )


def _link(path: str, params: dict[str, Any] | None = None, **changes: Any) -> str:
    """``path`` with the non-empty ``params`` (updated by ``changes``) as its query string."""
    merged = {**(params or {}), **changes}
    query = urlencode({k: v for k, v in merged.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path


# --------------------------------------------------------------------------- routes


def _routes(board: Dashboard) -> list[Route]:
    async def overview(request: Request) -> Response:
        return await board.page(request, "overview")

    def page_route(name: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await board.page(request, name)

        return Route(views.PAGES[name].path, endpoint, name=name)

    async def order(request: Request) -> Response:
        return await board.page(request, "order", path_id=request.path_params["order_id"])

    async def events(request: Request) -> Response:
        view = await board.view(request)
        since = request.headers.get("last-event-id") or request.query_params.get("since")
        accounts = frozenset(view.accounts) if view.account else None
        return StreamingResponse(
            board.feed.stream(accounts, since),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def login_form(request: Request) -> Response:
        if not board.guard.required:
            return RedirectResponse("/", status_code=303)
        target = security.safe_next(request.query_params.get("next"))
        return board.html("login.html", next=target, failed=False)

    async def login(request: Request) -> Response:
        if not board.guard.required:
            return RedirectResponse("/", status_code=303)
        token, target = await security.login_token(request)
        if not board.guard.token_matches(token):
            return board.html("login.html", status_code=401, next=target, failed=True)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            security.COOKIE_NAME,
            board.guard.session_value,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(security.COOKIE_NAME)
        return response

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            path = _plotly_js()
        elif name in _ASSETS:
            path = Path(str(_STATIC / name))
        else:
            raise HTTPException(404, "no such asset")
        return FileResponse(path, headers={"cache-control": "public, max-age=31536000, immutable"})

    return [
        Route("/", overview, name="overview"),
        *(page_route(name) for name in ("positions", "orders", "fills", "checks", "performance")),
        Route("/orders/{order_id}", order, name="order"),
        Route("/fragment/{region}", board.fragment, name="fragment"),
        Route("/events", events, name="events"),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/static/{name}", static, name="static"),
    ]


# --------------------------------------------------------------------------- errors and guard


def _error_handlers(board: Dashboard) -> dict[Any, Any]:
    """Error pages that say what went wrong in the dashboard's words, never the exception's
    text (a database error may name its server)."""

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else ""
        return board.html("error.html", status_code=status, status=status, message=detail)

    async def bad_request(request: Request, exc: Exception) -> Response:
        return board.html("error.html", status_code=400, status=400, message=str(exc))

    async def unreadable_store(request: Request, exc: Exception) -> Response:
        log.warning("dashboard: %s %s: %s", request.method, request.url.path, exc)
        message = "the store cannot be read right now; nothing was changed"
        return board.html("error.html", status_code=503, status=503, message=message)

    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette answers this one outside the guard middleware: the headers are added here.
        message = "the dashboard failed to render this page (details are in its log)"
        page = board.html("error.html", status_code=500, status=500, message=message)
        return security.with_headers(page)

    return {
        HTTPException: http_error,
        views.BadRequest: bad_request,
        StorageError: unreadable_store,
        SQLAlchemyError: unreadable_store,
        Exception: server_error,
    }


class _GuardMiddleware:
    """Refuses what the token guard does not allow; adds the security headers to every answer
    (errors included)."""

    def __init__(self, app: ASGIApp, board: Dashboard) -> None:
        self.app = app
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        guard = self.board.guard
        if not guard.is_public(request.url.path) and not guard.allows(request):
            response: Response = security.denied(request, guard)
            wants_page = "text/html" in request.headers.get("accept", "")
            if guard.required and wants_page and request.method == "GET":
                target = security.safe_next(request.url.path + _query(request))
                response = self.board.html("login.html", status_code=401, next=target, failed=False)
            await security.with_headers(response)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.encode(), value.encode())
                    for name, value in security.SECURITY_HEADERS.items()
                    if name.encode() not in present
                ]
                if b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


# --------------------------------------------------------------------------- the app


def create_app(
    store: Store,
    cache: Cache | None,
    accounts: Sequence[str] | None,
    *,
    token: str | None = None,
    health: views.HealthSource | None = None,
    performance: PerformanceProvider | None = None,
    live: str = "auto",
    poll_interval: float = 1.0,
) -> Starlette:
    """The dashboard over ``store`` for ``accounts`` (None or empty: every account the store
    holds). ``token``: required from every client when given (see ``dashboard.security``).
    ``health(account)``: the monitor's view of an account's stream and syncs. ``performance``:
    where P&L and charts come from (default: ``LedgerPerformance``, the pure ledger over the
    stored fills and snapshots). ``live``: ``auto``,
    ``cache`` (follow ``cache``'s notifications) or ``poll`` (poll the store every
    ``poll_interval`` seconds). ``app.state.dashboard.aclose()`` ends the event streams."""
    board = Dashboard(
        store,
        cache,
        accounts,
        token=token,
        health=health,
        performance=performance,
        live=live,
        poll_interval=poll_interval,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        board.start()
        try:
            yield
        finally:
            await board.aclose()

    app = Starlette(
        routes=_routes(board),
        exception_handlers=_error_handlers(board),
        lifespan=lifespan,
    )
    app.add_middleware(_GuardMiddleware, board=board)
    app.state.dashboard = board
    return app
