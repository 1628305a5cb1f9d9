"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

The store is filled by the real write path: the simulator trades a scripted session (every
order type and class, a replace, a cancel, partial fills), the monitor (``MonitorService``:
stream + periodic syncs + exposure, risk breaches, reconciliation) writes it to PostgreSQL, a
stream outage leaves a recorded gap, and the quality rules run over it.

What is pinned: every page renders with no console error, for one account and for all (a
screenshot of each is saved under ``tests/artifacts/screenshots/`` and its path printed); an
order placed at the simulator while a page is open shows up filled, with its position changed,
without a reload (with the monitor's in-memory cache, with Redis, and by polling); a browser
whose dashboard restarts catches up from the store; a dashboard bound to a non-local address
answers 401 without its token and serves the pages after the login form.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import pytest_asyncio
from test_sync_simulator import FAST_STREAM, _client
from test_sync_simulator import _account as sync_account

from alpaca_integration.cache import InMemoryCache, open_cache
from alpaca_integration.config import AccountConfig
from alpaca_integration.dashboard import create_app, health_from_statuses, running_dashboard
from alpaca_integration.dashboard.testing import CHROMIUM, headless_chromium
from alpaca_integration.dashboard.views import REGIONS
from alpaca_integration.demo import scripted_session
from alpaca_integration.models import OrderRequest, OrderSide
from alpaca_integration.quality import run_rules
from alpaca_integration.service import MonitorService
from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.testing import (
    SIM_API_KEY,
    SIM_SECRET_KEY,
    SimulatorHandle,
    running_simulator,
)
from alpaca_integration.storage import Store
from alpaca_integration.sync.compare import compare_with_venue, normalize_store_dump
from conftest import e2e_config
from support.databases import fresh_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ALPACACTL = str(Path(sys.executable).parent / "alpacactl")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
ACCOUNT = "desk"
TOKEN = "dashboard-e2e-token-0123456789"
# Long enough for a page to follow a fill through stream, store, cache, SSE and fragment on a
# busy 2-core machine; it bounds a wait, it is not a latency goal (benchmarks/dashboard.py).
WAIT_MS = 20_000


# --------------------------------------------------------------------------- harness


def _sim_config() -> SimConfig:
    """The e2e venue with no rate limit, still prices and at most 100 shares per execution."""
    return e2e_config(rate_limit=0, liquidity_cap=Decimal(100), volatility=0.0)


def _account(sim: SimulatorHandle, **risk: str) -> AccountConfig:
    return sync_account(sim).model_copy(update={"name": ACCOUNT, "risk": dict(risk)})


@contextlib.asynccontextmanager
async def _monitor(service: MonitorService) -> AsyncIterator[MonitorService]:
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.wait_started(), 15)
        yield service
    finally:
        service.stop()
        await runner


async def _until(condition: Any, what: str, timeout: float = 30.0) -> None:
    """Wait until the async ``condition()`` is true (a bound on waiting, not a latency check)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _store_equals_venue(store: Store, sim: SimulatorHandle) -> bool:
    venue = await asyncio.to_thread(sim.dump, SIM_API_KEY)
    return not compare_with_venue(normalize_store_dump(await store.dump(ACCOUNT)), venue)


@contextlib.asynccontextmanager
async def _chromium() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{message}: the browser tests are required under CI=true")
        pytest.skip(message)
    async with headless_chromium() as browser:
        yield browser


@dataclass
class Watch:
    """Everything a page reported that a user would call broken."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> Any:
        def on_console(message: Any) -> None:
            if message.type == "error":
                self.problems.append(f"console error: {message.text}")

        def on_response(response: Any) -> None:
            if response.status >= 400:
                self.problems.append(f"{response.status} for {response.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("response", on_response)

        def on_failed(request: Any) -> None:
            # Leaving a page aborts its open event stream and any fragment fetch in flight.
            if request.failure != "net::ERR_ABORTED":
                self.problems.append(f"request failed: {request.url} ({request.failure})")

        page.on("requestfailed", on_failed)
        return page


async def _screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


# --------------------------------------------------------------------------- a traded desk


@dataclass
class Desk:
    store: Store
    database_url: str
    bracket_id: str
    replaced_id: str


async def _trade_a_session(store: Store, sim: SimulatorHandle) -> None:
    """The monitor writes a scripted session, a stream outage, reconciliation runs, exposure
    and risk breaches; then the quality rules run. Returns once all of it is stored."""
    service = MonitorService(
        [_account(sim, max_position_qty="50")],
        store,
        InMemoryCache(),
        update_interval=1.0,
        silence_timeout=5.0,
        stream_options=FAST_STREAM,
        reconcile_every=2.0,
    )
    async with _monitor(service), _client(sim) as client:

        async def set_price(symbol: str, price: Decimal) -> None:
            await sim.aset_price(symbol, price)

        await scripted_session(client, set_price, pause=0.1)
        await sim.aset_faults(stream_mode="drop")
        await asyncio.to_thread(sim.drop_streams)
        await client.submit_order(OrderRequest(symbol="SPY", side=OrderSide.BUY, qty=Decimal(2)))
        await sim.aset_faults(stream_mode="normal")
        await _until(lambda: _store_equals_venue(store, sim), "the store to equal the venue")

        async def checks_recorded() -> bool:
            gaps = await store.list_stream_gaps(ACCOUNT)
            runs = await store.list_reconciliation_runs(ACCOUNT)
            breaches = await store.list_risk_breaches(ACCOUNT, limit=1)
            return bool(gaps and runs and breaches and runs[0].finished_at)

        await _until(checks_recorded, "a gap, a reconciliation run and a risk breach")
    # A strict interval makes the snapshot rule report the snapshot as stale.
    await run_rules(store, ACCOUNT, now=dt.datetime.now(dt.UTC), update_interval=dt.timedelta(0))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def desk(postgres_server_url: str) -> AsyncIterator[Desk]:
    """A store the monitor filled from a session at the simulator (both stopped since), with a
    stream gap, reconciliation runs, exposure, risk breaches and quality findings recorded."""
    with fresh_database(postgres_server_url, "ai_dash") as url:
        store = await Store.open(url, migrate=True)
        try:
            with running_simulator(_sim_config()) as sim:
                await _trade_a_session(store, sim)
            orders = await store.list_orders(ACCOUNT, top_level=True)
            bracket = next(o for o in orders if o.order_class.value == "bracket")
            replaced = next(o for o in orders if o.replaced_by)
            yield Desk(store, url, bracket.id, replaced.id)
        finally:
            await store.aclose()


# --------------------------------------------------------------------------- every page


PAGES = [
    ("overview", "/"),
    ("positions", "/positions"),
    ("orders", "/orders"),
    ("orders-filtered", "/orders?status=filled&side=buy&symbol=AAPL"),
    ("fills", "/fills"),
    ("checks", "/checks"),
    ("performance", "/performance"),
]


@pytest.mark.asyncio(loop_scope="module")
async def test_every_page_renders_without_a_console_error(desk: Desk) -> None:
    """Every page, for the account and for all accounts, renders its data with no console
    error, failed request or error status; each is saved as a screenshot."""
    app = create_app(desk.store, None, None)
    async with running_dashboard(app) as served, _chromium() as browser:
        watch = Watch()
        page = watch.attach(await browser.new_page(viewport={"width": 1400, "height": 900}))
        saved = []
        for scope, query in (("desk", f"account={ACCOUNT}"), ("all", "")):
            for name, path in [
                *PAGES,
                ("order-bracket", f"/orders/{desk.bracket_id}"),
                ("order-replaced", f"/orders/{desk.replaced_id}"),
            ]:
                separator = "&" if "?" in path else "?"
                url = served.url.rstrip("/") + path + (f"{separator}{query}" if query else "")
                await page.goto(url)
                await page.wait_for_selector("body[data-live='connected']")
                if name in ("overview", "performance"):
                    await page.wait_for_selector("figure[data-chart] .main-svg")
                saved.append(await _screenshot(page, f"{name}-{scope}"))
        assert watch.problems == []
        await page.goto(f"{served.url}orders/{desk.bracket_id}?account={ACCOUNT}")
        legs = page.locator("tr.leg")
        assert await legs.count() == 2, "the bracket's two legs are nested under it"
        await page.goto(f"{served.url}orders/{desk.replaced_id}?account={ACCOUNT}")
        assert await page.locator("ol.chain li").count() == 2, "the replace chain is listed"
        await page.goto(f"{served.url}checks?account={ACCOUNT}")
        checks = await page.inner_text("main")
        for shown in ("rest_catch_up", "max_position_qty", "stale_snapshot", "difference(s)"):
            assert shown in checks, f"the checks page shows {shown}"
        assert len(saved) == 2 * (len(PAGES) + 2)


async def _read_event_stream_start(http: httpx.AsyncClient, path: str) -> str:
    """The event stream's first messages (up to its mode event)."""
    received = ""
    async with http.stream("GET", path) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_text():
            received += chunk
            if "event: mode" in received:
                return received
    return received


@pytest.mark.asyncio(loop_scope="module")
async def test_no_page_response_or_error_shows_a_key_a_secret_or_the_database_url(
    desk: Desk, postgres_server_url: str
) -> None:
    """Every page, fragment, asset, the event stream and the error pages (400, 404, 503) are
    free of the account's key id and secret and of the database's URL and name."""
    app = create_app(desk.store, None, None)
    answers: dict[str, str] = {}
    async with running_dashboard(app) as served, httpx.AsyncClient(base_url=served.url) as http:
        paths = [p for _name, p in PAGES] + [f"/orders/{desk.bracket_id}", "/no-such-page"]
        paths += [f"/fragment/{region}" for region in REGIONS] + ["/orders?before=damaged"]
        paths += ["/static/dashboard.js", "/static/dashboard.css", "/login"]
        for path in paths:
            for query in ("", f"account={ACCOUNT}"):
                url = path + (("&" if "?" in path else "?") + query if query else "")
                response = await http.get(url, follow_redirects=True)
                assert response.status_code in (200, 400, 404), url
                answers[url] = response.text + str(response.headers)
        answers["/events"] = await _read_event_stream_start(http, "/events")
    with fresh_database(postgres_server_url, "ai_dash") as broken_url:
        broken = await Store.open(broken_url, migrate=True)
        with psycopg.connect(broken_url, autocommit=True) as conn:
            conn.execute("drop table orders cascade")
        app = create_app(broken, None, [ACCOUNT])
        try:
            async with (
                running_dashboard(app) as served,
                httpx.AsyncClient(base_url=served.url) as http,
            ):
                failed = await http.get("/orders")
        finally:
            await broken.aclose()
        assert failed.status_code == 503
        answers["503"] = failed.text + str(failed.headers)
        secrets = [SIM_API_KEY, SIM_SECRET_KEY, desk.database_url, broken_url]
        secrets += [urlsplit(url).path.strip("/") for url in (desk.database_url, broken_url)]
    leaks = [(url, s) for url, text in answers.items() for s in secrets if s in text]
    assert leaks == []
    assert len(answers) > 40


# --------------------------------------------------------------------------- live updates


async def _filled_without_reload(served_url: str, sim: SimulatorHandle) -> None:
    """Open the orders and positions pages, place a market order at the simulator, and see the
    order filled and the position moved in both pages without a navigation."""
    async with _chromium() as browser:
        watch = Watch()
        orders_page = watch.attach(await browser.new_page())
        positions_page = watch.attach(await browser.new_page())
        await orders_page.goto(f"{served_url}orders?account={ACCOUNT}")
        await positions_page.goto(f"{served_url}positions?account={ACCOUNT}")
        for page in (orders_page, positions_page):
            await page.wait_for_selector("body[data-live='connected']")
            await page.evaluate("window.__loadedOnce = true")
        before = await positions_page.locator("tr[data-symbol='MSFT']").count()
        async with _client(sim) as client:
            order = await client.submit_order(
                OrderRequest(symbol="MSFT", side=OrderSide.BUY, qty=Decimal(7))
            )
        await orders_page.wait_for_selector(
            f"tr[data-order-id='{order.id}'][data-status='filled']", timeout=WAIT_MS
        )
        await positions_page.wait_for_selector(
            "tr[data-symbol='MSFT'][data-qty='7']", timeout=WAIT_MS
        )
        for page in (orders_page, positions_page):
            assert await page.evaluate("window.__loadedOnce === true"), "the page was not reloaded"
        assert before == 0
        assert watch.problems == []


@pytest.mark.parametrize("source", ["monitor's in-memory cache", "redis", "polling"])
async def test_an_order_placed_at_the_venue_shows_filled_without_a_reload(
    source: str, postgres_url: str, redis_url: str, redis_namespace: str
) -> None:
    """With the page open, a market order placed at the simulator appears as filled and its
    position as changed, fed by the cache's notifications (in process or Redis) or by polling."""
    with running_simulator(_sim_config()) as sim:
        await sim.aset_price("MSFT", Decimal("410.00"))
        store = await Store.open(postgres_url, migrate=True)
        writer_cache = (
            await open_cache(redis_url, prefix=redis_namespace)
            if source == "redis"
            else InMemoryCache()
        )
        if source == "redis":  # its own connection, as a dashboard in another process has
            reader_cache: Any = await open_cache(redis_url, prefix=redis_namespace)
        elif source == "polling":  # cannot see the monitor's in-memory notifications
            reader_cache = InMemoryCache()
        else:
            reader_cache = writer_cache
        service = MonitorService(
            [_account(sim)],
            store,
            writer_cache,
            update_interval=3600.0,  # only the stream: a periodic sync must not do the work
            stream_options=FAST_STREAM,
            reconcile_every=None,
        )
        health = health_from_statuses(service.statuses) if reader_cache is writer_cache else None
        app = create_app(store, reader_cache, [ACCOUNT], health=health)
        expected = "poll" if source == "polling" else "cache"
        assert app.state.dashboard.feed.mode == expected
        try:
            async with _monitor(service), running_dashboard(app) as served:
                await _filled_without_reload(served.url, sim)
        finally:
            for cache in {id(c): c for c in (writer_cache, reader_cache)}.values():
                await cache.aclose()
            await store.aclose()


async def test_a_browser_catches_up_from_the_store_after_the_dashboard_restarts(
    postgres_url: str,
) -> None:
    """While the dashboard is down an order fills; the page's event stream reconnects to the
    restarted dashboard and re-renders from the store, without a reload."""
    with running_simulator(_sim_config()) as sim:
        await sim.aset_price("AAPL", Decimal("190.00"))
        store = await Store.open(postgres_url, migrate=True)
        cache = InMemoryCache()
        service = MonitorService(
            [_account(sim)], store, cache, update_interval=3600.0, stream_options=FAST_STREAM
        )
        try:
            async with _monitor(service), _chromium() as browser:
                page = await browser.new_page()
                first = create_app(store, cache, [ACCOUNT], health=None, live="cache")
                async with running_dashboard(first) as served:
                    await page.goto(f"{served.url}orders?account={ACCOUNT}")
                    await page.wait_for_selector("body[data-live='connected']")
                    await page.evaluate("window.__loadedOnce = true")
                await page.wait_for_selector("body[data-live='reconnecting']")
                async with _client(sim) as client:
                    order = await client.submit_order(
                        OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(3))
                    )

                async def stored_filled() -> bool:
                    stored = await store.get_order(ACCOUNT, order.id)
                    return stored is not None and stored.status.value == "filled"

                await _until(stored_filled, "the order to be stored as filled")
                second = create_app(store, cache, [ACCOUNT], live="cache")
                async with running_dashboard(second, port=served.port):
                    await page.wait_for_selector(
                        f"tr[data-order-id='{order.id}'][data-status='filled']", timeout=WAIT_MS
                    )
                    assert await page.evaluate("window.__loadedOnce === true")
        finally:
            await store.aclose()


# --------------------------------------------------------------------------- a token on a LAN


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _cli_dashboard(database_url: str, port: int) -> Iterator[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "ALPACA_DATABASE_URL": database_url,
        "ALPACA_DASHBOARD_TOKEN": TOKEN,
        "ALPACA_API_KEY": "",
        "ALPACA_SECRET_KEY": "",
    }
    env.pop("ALPACA_REDIS_URL", None)
    process = subprocess.Popen(
        [ALPACACTL, "dashboard", "--host", "0.0.0.0", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "dashboard at" in line, line
        yield process
    finally:
        process.terminate()
        process.communicate(timeout=20)


async def test_a_non_local_bind_answers_401_without_the_token(postgres_url: str) -> None:
    """``alpacactl dashboard --host 0.0.0.0`` answers 401 to a request without the token, 200
    with it as a bearer header, and serves the pages after the login form."""
    await (await Store.open(postgres_url, migrate=True)).aclose()
    port = _free_port()
    with _cli_dashboard(postgres_url, port):
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as http:
            refused = {path: (await http.get(path)).status_code for path in ("/", "/orders")}
            refused["/events"] = (await http.get("/events")).status_code
            wrong = await http.get("/", headers={"authorization": "Bearer not-the-token-at-all"})
            allowed = await http.get("/", headers={"authorization": f"Bearer {TOKEN}"})
        assert refused == {"/": 401, "/orders": 401, "/events": 401}
        assert wrong.status_code == 401
        assert allowed.status_code == 200
        async with _chromium() as browser:
            page = await browser.new_page()
            await page.goto(f"{base}/orders")
            await page.fill("input[name=token]", TOKEN)
            await page.click("button[type=submit]")
            await page.wait_for_selector("body[data-page='orders']")
            assert urlsplit(page.url).path == "/orders"
            await _screenshot(page, "orders-after-login")
