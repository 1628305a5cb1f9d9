"""Order safety at the client: risk checks on replaces and from account limits, the live opt-in,
every open order seen by the risk check, and no resend of close-all after an unclear failure."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from client_fakes import KEY_ID, SECRET, FakeClock, FakeVenue, json_response, limit_buy, order_json

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.alpaca.stream import TradeUpdatesStream
from alpaca_integration.config import AccountConfig
from alpaca_integration.errors import ConfigError, OrderOutcomeUnknownError, RiskLimitError
from alpaca_integration.models import (
    OrderRequest,
    OrderSide,
    ReplaceRequest,
)
from alpaca_integration.risk import RiskLimits, client_for_account, make_pre_trade_check

BASE_URL = "https://paper.example.test"
START = dt.datetime(2025, 6, 2, 14, 30, tzinfo=dt.UTC)
BUY = limit_buy("6", "100")


def position_json(symbol: str = "AAPL", qty: str = "10", price: str = "100") -> dict[str, Any]:
    value = str(Decimal(qty) * Decimal(price))
    return {
        "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
        "symbol": symbol,
        "exchange": "NASDAQ",
        "asset_class": "us_equity",
        "side": "long",
        "qty": qty,
        "qty_available": qty,
        "avg_entry_price": price,
        "market_value": value,
        "cost_basis": value,
        "unrealized_pl": "0",
        "unrealized_plpc": "0",
        "unrealized_intraday_pl": "0",
        "unrealized_intraday_plpc": "0",
        "current_price": price,
        "lastday_price": price,
        "change_today": "0",
    }


class Book:
    """A venue with positions, open orders (paged like Alpaca: default 50, ``until`` exclusive,
    newest first), order placement and replacement, lookups by client_order_id; records what was
    sent."""

    def __init__(self, fake: FakeVenue) -> None:
        self.positions: list[dict[str, Any]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.placed: list[dict[str, Any]] = []
        self.patched: list[dict[str, Any]] = []
        fake.fallback = self.answer

    def add_open(self, order_id: str, *, qty: str = "10", minutes: int = 0) -> dict[str, Any]:
        order = order_json(
            order_id, qty=qty, limit_price="100", submitted_at=START + dt.timedelta(minutes=minutes)
        )
        self.orders[order_id] = order
        return order

    def open_page(self, params: httpx.QueryParams) -> list[dict[str, Any]]:
        limit = int(params.get("limit", "50"))
        items = [o for o in self.orders.values() if o["status"] == "new"]
        items.sort(key=lambda o: str(o["submitted_at"]), reverse=True)
        if "until" in params:
            until = dt.datetime.fromisoformat(params["until"])
            items = [o for o in items if dt.datetime.fromisoformat(o["submitted_at"]) < until]
        if "after" in params:
            after = dt.datetime.fromisoformat(params["after"])
            items = [o for o in items if dt.datetime.fromisoformat(o["submitted_at"]) > after]
        return items[:limit]

    def answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/v2/positions":
            return json_response(200, self.positions)
        if request.method == "GET" and path == "/v2/orders":
            return json_response(200, self.open_page(request.url.params))
        if request.method == "POST" and path == "/v2/orders":
            body = json.loads(request.content)
            self.placed.append(body)
            return json_response(
                200, order_json("placed-1", client_order_id=body["client_order_id"])
            )
        if request.method == "GET" and path == "/v2/orders:by_client_order_id":
            # The client confirms a checked order is visible before the next check runs.
            cid = request.url.params["client_order_id"]
            if any(body["client_order_id"] == cid for body in self.placed):
                return json_response(200, order_json("placed-1", client_order_id=cid))
            if any(body["client_order_id"] == cid for body in self.patched):
                return json_response(200, order_json("new-1", client_order_id=cid))
            return json_response(404, {"code": 40410000, "message": "order not found"})
        if request.method == "GET" and path.startswith("/v2/orders/"):
            return json_response(200, self.orders[path.rsplit("/", 1)[1]])
        if request.method == "PATCH" and path.startswith("/v2/orders/"):
            body = json.loads(request.content)
            self.patched.append(body)
            old_id = path.rsplit("/", 1)[1]
            new = order_json(
                "new-1",
                client_order_id=body["client_order_id"],
                replaces=old_id,
                qty=body.get("qty", "10"),
            )
            return json_response(200, new)
        raise AssertionError(f"unexpected {request.method} {request.url}")


@pytest.fixture
def book(venue: FakeVenue) -> Book:
    return Book(venue)


def account(**fields: Any) -> AccountConfig:
    values: dict[str, Any] = {
        "name": "main",
        "api_key": KEY_ID,
        "secret_key": SECRET,
        "base_url": BASE_URL,
    }
    values.update(fields)
    return AccountConfig(**values)


def from_account(
    config: AccountConfig, venue: FakeVenue, clock: FakeClock, **options: Any
) -> AlpacaClient:
    return client_for_account(
        config,
        transport=venue.transport(),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(3),
        **options,
    )


# --------------------------------------------------------------------------- replace is checked


async def test_replace_runs_the_clients_check_on_the_order_it_would_become(
    make_client: Callable[..., AlpacaClient], book: Book, venue: FakeVenue
) -> None:
    """A plain hook sees the old order merged with the change; its refusal sends no PATCH."""
    book.add_open("old-1", qty="10")
    seen: list[OrderRequest] = []

    async def refuse(request: OrderRequest) -> None:
        seen.append(request)
        raise RiskLimitError("too big", limit="max_order_qty")

    async with make_client(pre_trade_check=refuse) as client:
        with pytest.raises(RiskLimitError):
            await client.replace_order("old-1", ReplaceRequest(qty=Decimal(20)))
    assert book.patched == []
    [merged] = seen
    assert (merged.symbol, merged.side, merged.qty) == ("AAPL", OrderSide.BUY, Decimal(20))
    assert merged.limit_price == Decimal(100)
    assert merged.client_order_id
    assert [r.method for r in venue.requests] == ["GET"]


async def test_replace_with_the_risk_hook_releases_the_old_order(
    make_client: Callable[..., AlpacaClient], book: Book
) -> None:
    """Position 10 + old buy 10 under a 25 limit: replace to 15 goes, to 16 is refused unsent."""
    book.positions = [position_json(qty="10")]
    book.add_open("old-1", qty="10")
    async with make_client() as client:
        check = make_pre_trade_check(client, RiskLimits(max_position_qty=Decimal(25)))
        with pytest.raises(RiskLimitError) as info:
            await client.replace_order(
                "old-1", ReplaceRequest(qty=Decimal(16)), pre_trade_check=check
            )
        assert book.patched == []
        new = await client.replace_order(
            "old-1", ReplaceRequest(qty=Decimal(15)), pre_trade_check=check
        )
    assert info.value.limit == "max_position_qty"
    assert [p["qty"] for p in book.patched] == ["15"]
    assert new.replaces == "old-1"


async def test_replace_without_any_check_fetches_nothing_first(
    make_client: Callable[..., AlpacaClient], book: Book, venue: FakeVenue
) -> None:
    """With no check configured the PATCH is the only request."""
    book.add_open("old-1")
    async with make_client() as client:
        await client.replace_order("old-1", ReplaceRequest(qty=Decimal(3)))
    assert [r.method for r in venue.requests] == ["PATCH"]


# --------------------------------------------------------------------------- from_account


async def test_from_account_applies_the_accounts_risk_limits(
    book: Book, venue: FakeVenue, clock: FakeClock
) -> None:
    """An account with a risk table gets a client whose submit and replace obey it."""
    book.add_open("old-1", qty="5")
    config = account(risk={"max_order_qty": "5"})
    async with from_account(config, venue, clock) as client:
        with pytest.raises(RiskLimitError) as info:
            await client.submit_order(BUY)
        with pytest.raises(RiskLimitError):
            await client.replace_order("old-1", ReplaceRequest(qty=Decimal(6)))
        assert book.placed == []
        assert book.patched == []
        await client.submit_order(OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(5)))
    assert info.value.limit == "max_order_qty"
    assert info.value.account == "main"
    assert len(book.placed) == 1


async def test_from_account_risk_limits_can_be_opted_out_of(
    book: Book, venue: FakeVenue, clock: FakeClock
) -> None:
    """apply_risk_limits=False (for code running its own check) leaves the order unchecked."""
    config = account(risk={"max_order_qty": "5"})
    async with from_account(config, venue, clock, apply_risk_limits=False) as client:
        assert client.pre_trade_check is None
        await client.submit_order(BUY)
    assert [p["qty"] for p in book.placed] == ["6"]


async def test_from_account_without_risk_table_adds_no_check(
    venue: FakeVenue, clock: FakeClock
) -> None:
    """No risk table: no hook, so no extra reads before an order."""
    async with from_account(account(), venue, clock) as client:
        assert client.pre_trade_check is None


def test_adapter_from_account_refuses_an_account_with_limits_it_cannot_install(
    venue: FakeVenue, clock: FakeClock
) -> None:
    """The adapter knows no risk policy: from_account on an account with limits fails closed,
    naming client_for_account, instead of building a client that skips them."""
    config = account(risk={"max_order_qty": "5"})
    with pytest.raises(ConfigError, match="client_for_account"):
        AlpacaClient.from_account(config, transport=venue.transport())
    client = AlpacaClient.from_account(config, apply_risk_limits=False)
    assert client.pre_trade_check is None


def test_from_account_with_invalid_risk_limits_is_a_config_error(
    venue: FakeVenue, clock: FakeClock
) -> None:
    """A typo in the risk table is refused when the client is built, naming the key."""
    with pytest.raises(ConfigError, match=r"accounts\.main\.risk\.max_order_qtty"):
        from_account(account(risk={"max_order_qtty": "5"}), venue, clock)


# --------------------------------------------------------------------------- live opt-in


@pytest.mark.parametrize(
    "url",
    ["https://api.alpaca.markets", "https://API.alpaca.markets/v2/", "http://api.alpaca.markets"],
)
def test_live_endpoint_needs_allow_live(url: str) -> None:
    """The live venue is refused without allow_live, with the way to opt in; with it, it builds."""
    with pytest.raises(ConfigError) as info:
        AlpacaClient("k", "s", url)
    assert "ALPACA_ALLOW_LIVE" in str(info.value)
    assert "allow_live" in str(info.value)
    assert info.value.setting == "ALPACA_ALLOW_LIVE"
    client = AlpacaClient("k", "s", url, allow_live=True)
    assert client.allow_live is True


async def test_paper_endpoint_needs_no_opt_in() -> None:
    """The paper venue builds without allow_live."""
    async with AlpacaClient("k", "s", "https://paper-api.alpaca.markets") as client:
        assert client.allow_live is False


async def test_from_account_passes_the_accounts_allow_live(
    venue: FakeVenue, clock: FakeClock
) -> None:
    """A live account that opted in (allow_live = true) gets a working live client."""
    config = account(base_url="https://api.alpaca.markets", allow_live=True)
    async with from_account(config, venue, clock) as client:
        assert client.base_url == "https://api.alpaca.markets"
        assert client.allow_live is True


def test_live_stream_needs_allow_live() -> None:
    """The live venue's trade_updates stream is refused without allow_live; paper is not."""
    with pytest.raises(ConfigError) as info:
        TradeUpdatesStream(KEY_ID, SECRET, "wss://api.alpaca.markets/stream")
    assert "ALPACA_ALLOW_LIVE" in str(info.value)
    assert SECRET not in str(info.value)
    TradeUpdatesStream(KEY_ID, SECRET, "wss://api.alpaca.markets/stream", allow_live=True)
    TradeUpdatesStream(KEY_ID, SECRET, "wss://paper-api.alpaca.markets/stream")


# --------------------------------------------------------------------------- every open order


def _open_buys(book: Book, count: int) -> None:
    """``count`` resting buys of 1 AAPL at the venue, a minute apart."""
    for n in range(count):
        book.add_open(f"o-{n}", qty="1", minutes=n)


async def test_risk_check_through_the_client_counts_every_open_order(
    make_client: Callable[..., AlpacaClient], book: Book
) -> None:
    """With 120 open orders (more than the venue's default page of 50) max_open_orders refuses."""
    _open_buys(book, 120)
    async with make_client() as client:
        check = make_pre_trade_check(client, RiskLimits(max_open_orders=100))
        with pytest.raises(RiskLimitError) as info:
            await client.submit_order(BUY, pre_trade_check=check)
        roomy = make_pre_trade_check(client, RiskLimits(max_open_orders=121))
        await client.submit_order(BUY, pre_trade_check=roomy)
    assert info.value.limit == "max_open_orders"
    assert "120 orders are open" in str(info.value)
    assert len(book.placed) == 1


async def test_risk_check_counts_open_orders_across_pages(
    make_client: Callable[..., AlpacaClient], book: Book
) -> None:
    """Open buys on every page count toward the worst-case position."""
    _open_buys(book, 700)
    async with make_client() as client:
        check = make_pre_trade_check(client, RiskLimits(max_position_qty=Decimal(705)))
        with pytest.raises(RiskLimitError) as info:
            await client.submit_order(BUY, pre_trade_check=check)  # 700 + 6
        await client.submit_order(
            OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(5)), pre_trade_check=check
        )
    assert info.value.limit == "max_position_qty"


# --------------------------------------------------------------------------- close all positions


async def test_close_all_positions_is_not_resent_after_an_unclear_failure(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A 5xx or timeout on close-all raises OrderOutcomeUnknownError after one DELETE only."""
    venue.script = [json_response(503, {"message": "service unavailable"})]
    async with make_client() as client:
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await client.close_all_positions(cancel_orders=True)
        assert len(venue.requests) == 1
        venue.script = [httpx.ReadTimeout("no answer")]
        with pytest.raises(OrderOutcomeUnknownError):
            await client.close_all_positions(cancel_orders=True)
    assert len(venue.requests) == 2
    assert "positions and open orders" in str(info.value)


async def test_close_all_positions_is_resent_after_a_429(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A 429 means the venue did not act: the close-all is sent again and its results returned."""
    venue.script = [
        httpx.Response(429, content=b"Too Many Requests"),
        json_response(
            207, [{"symbol": "TSLA", "status": 200, "body": order_json("c-1", symbol="TSLA")}]
        ),
    ]
    async with make_client() as client:
        results = await client.close_all_positions(cancel_orders=True)
    assert [r.key for r in results] == ["TSLA"]
    assert [r.method for r in venue.requests] == ["DELETE", "DELETE"]
