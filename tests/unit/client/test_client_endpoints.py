"""Each client method calls the right endpoint with the right query/body and returns models."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from client_fakes import KEY_ID, SECRET, FakeVenue, account_json, json_response, order_json

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.alpaca.ratelimit import UnlimitedRateBudget
from alpaca_integration.config import AlpacaSettings
from alpaca_integration.errors import ConfigError, NotFoundError
from alpaca_integration.models import (
    AccountSnapshot,
    OrderClass,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    StopLoss,
    TakeProfit,
    TimeInForce,
)
from support.wire_json import portfolio_history_json

POSITION = {
    "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
    "symbol": "TSLA",
    "exchange": "NASDAQ",
    "asset_class": "us_equity",
    "side": "short",
    "qty": "-5",
    "qty_available": "-5",
    "avg_entry_price": "250.10",
    "market_value": "-1250.50",
    "cost_basis": "-1250.50",
    "unrealized_pl": "0",
    "unrealized_plpc": "0",
    "unrealized_intraday_pl": "0",
    "unrealized_intraday_plpc": "0",
    "current_price": "250.10",
    "lastday_price": "249",
    "change_today": "0.0044",
}
ASSET = {
    "id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
    "class": "us_equity",
    "exchange": "NASDAQ",
    "symbol": "AAPL",
    "name": "Apple Inc.",
    "status": "active",
    "tradable": True,
    "marginable": True,
    "shortable": True,
    "easy_to_borrow": True,
    "fractionable": True,
}
WATCHLIST = {
    "id": "3174d6df-7726-44b4-a5bd-7fda5ae6e009",
    "account_id": "904837e3-3b76-47ec-b432-046db621571b",
    "name": "tech",
    "created_at": "2025-06-02T14:00:00Z",
    "updated_at": "2025-06-02T14:00:00Z",
    "assets": [ASSET],
}
CONFIG = {
    "dtbp_check": "entry",
    "trade_confirm_email": "all",
    "suspend_trade": False,
    "no_shorting": False,
    "fractional_trading": True,
    "max_margin_multiplier": "4",
    "pdt_check": "entry",
}
CLOCK = {
    "timestamp": "2025-06-02T10:00:00.5-04:00",
    "is_open": True,
    "next_open": "2025-06-03T09:30:00-04:00",
    "next_close": "2025-06-02T16:00:00-04:00",
}
CALENDAR = [
    {"date": "2025-06-02", "open": "09:30", "close": "16:00", "settlement_date": "2025-06-03"}
]
HISTORY = portfolio_history_json()


class Recorder:
    """Answers one canned body and remembers the request."""

    def __init__(self) -> None:
        self.request: httpx.Request | None = None
        self.status = 200
        self.body: Any = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.request = request
        return json_response(self.status, self.body)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(recorder: Recorder) -> AlpacaClient:
    return AlpacaClient(
        KEY_ID,
        SECRET,
        "https://paper.example.test/v2/",
        rate_budget=UnlimitedRateBudget(),
        transport=FakeVenue(fallback=recorder).transport(),
    )


Call = Callable[[AlpacaClient], Awaitable[Any]]

CASES: list[tuple[str, Call, int, Any, str, str, dict[str, str], Any]] = [
    # name, call, status, response, method, path, query, json body
    ("account", lambda c: c.get_account(), 200, account_json(), "GET", "/v2/account", {}, None),
    (
        "configurations",
        lambda c: c.get_account_configurations(),
        200,
        CONFIG,
        "GET",
        "/v2/account/configurations",
        {},
        None,
    ),
    (
        "configurations patch",
        lambda c: c.update_account_configurations(no_shorting=True),
        200,
        {**CONFIG, "no_shorting": True},
        "PATCH",
        "/v2/account/configurations",
        {},
        {"no_shorting": True},
    ),
    (
        "activities",
        lambda c: c.get_activities(activity_types=["FILL", "FEE"], page_size=50),
        200,
        [],
        "GET",
        "/v2/account/activities",
        {"activity_types": "FILL,FEE", "page_size": "50"},
        None,
    ),
    (
        "activities by type",
        lambda c: c.get_activities_by_type("div", direction="asc"),
        200,
        [],
        "GET",
        "/v2/account/activities/DIV",
        {"direction": "asc"},
        None,
    ),
    (
        "portfolio history",
        lambda c: c.get_portfolio_history(period="1M", timeframe="1D", extended_hours=True),
        200,
        HISTORY,
        "GET",
        "/v2/account/portfolio/history",
        {"period": "1M", "timeframe": "1D", "extended_hours": "true"},
        None,
    ),
    (
        "assets",
        lambda c: c.list_assets(status="active", asset_class="us_equity"),
        200,
        [ASSET],
        "GET",
        "/v2/assets",
        {"status": "active", "asset_class": "us_equity"},
        None,
    ),
    ("asset", lambda c: c.get_asset("AAPL"), 200, ASSET, "GET", "/v2/assets/AAPL", {}, None),
    ("clock", lambda c: c.get_clock(), 200, CLOCK, "GET", "/v2/clock", {}, None),
    (
        "calendar",
        lambda c: c.get_calendar(dt.date(2025, 6, 2), dt.date(2025, 6, 3)),
        200,
        CALENDAR,
        "GET",
        "/v2/calendar",
        {"start": "2025-06-02", "end": "2025-06-03"},
        None,
    ),
    (
        "orders",
        lambda c: c.list_orders(status="all", limit=500, direction="asc", symbols=["AAPL"]),
        200,
        [order_json("o-1")],
        "GET",
        "/v2/orders",
        {"status": "all", "limit": "500", "direction": "asc", "symbols": "AAPL"},
        None,
    ),
    (
        "order",
        lambda c: c.get_order("o-1", nested=True),
        200,
        order_json("o-1"),
        "GET",
        "/v2/orders/o-1",
        {"nested": "true"},
        None,
    ),
    (
        "order by client id",
        lambda c: c.get_order_by_client_order_id("my-7"),
        200,
        order_json("o-1", client_order_id="my-7"),
        "GET",
        "/v2/orders:by_client_order_id",
        {"client_order_id": "my-7"},
        None,
    ),
    ("cancel", lambda c: c.cancel_order("o-1"), 204, None, "DELETE", "/v2/orders/o-1", {}, None),
    (
        "cancel all",
        lambda c: c.cancel_all_orders(),
        207,
        [{"id": "o-1", "status": 200, "body": order_json("o-1", status="pending_cancel")}],
        "DELETE",
        "/v2/orders",
        {},
        None,
    ),
    ("positions", lambda c: c.list_positions(), 200, [POSITION], "GET", "/v2/positions", {}, None),
    (
        "position",
        lambda c: c.get_position("TSLA"),
        200,
        POSITION,
        "GET",
        "/v2/positions/TSLA",
        {},
        None,
    ),
    (
        "close all",
        lambda c: c.close_all_positions(cancel_orders=True),
        207,
        [{"symbol": "TSLA", "status": 200, "body": order_json("c-1", symbol="TSLA")}],
        "DELETE",
        "/v2/positions",
        {"cancel_orders": "true"},
        None,
    ),
    (
        "close one",
        lambda c: c.close_position("TSLA", percentage=Decimal(50)),
        200,
        order_json("c-1", symbol="TSLA"),
        "DELETE",
        "/v2/positions/TSLA",
        {"percentage": "50"},
        None,
    ),
    (
        "watchlists",
        lambda c: c.list_watchlists(),
        200,
        [WATCHLIST],
        "GET",
        "/v2/watchlists",
        {},
        None,
    ),
    (
        "watchlist create",
        lambda c: c.create_watchlist("tech", ["AAPL"]),
        200,
        WATCHLIST,
        "POST",
        "/v2/watchlists",
        {},
        {"name": "tech", "symbols": ["AAPL"]},
    ),
    (
        "watchlist get",
        lambda c: c.get_watchlist("w-1"),
        200,
        WATCHLIST,
        "GET",
        "/v2/watchlists/w-1",
        {},
        None,
    ),
    (
        "watchlist update",
        lambda c: c.update_watchlist("w-1", name="tech2", symbols=["AAPL", "MSFT"]),
        200,
        WATCHLIST,
        "PUT",
        "/v2/watchlists/w-1",
        {},
        {"name": "tech2", "symbols": ["AAPL", "MSFT"]},
    ),
    (
        "watchlist add",
        lambda c: c.add_to_watchlist("w-1", "MSFT"),
        200,
        WATCHLIST,
        "POST",
        "/v2/watchlists/w-1",
        {},
        {"symbol": "MSFT"},
    ),
    (
        "watchlist remove",
        lambda c: c.remove_from_watchlist("w-1", "MSFT"),
        200,
        WATCHLIST,
        "DELETE",
        "/v2/watchlists/w-1/MSFT",
        {},
        None,
    ),
    (
        "watchlist delete",
        lambda c: c.delete_watchlist("w-1"),
        204,
        None,
        "DELETE",
        "/v2/watchlists/w-1",
        {},
        None,
    ),
]


@pytest.mark.parametrize(
    ("call", "status", "response", "method", "path", "query", "body"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_each_operation_hits_its_endpoint(
    client: AlpacaClient,
    recorder: Recorder,
    call: Call,
    status: int,
    response: Any,
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
) -> None:
    """Method, path (no doubled /v2), query and JSON body are what Alpaca documents."""
    recorder.status, recorder.body = status, response
    async with client:
        await call(client)
    request = recorder.request
    assert request is not None
    assert request.method == method
    assert request.url.path == path
    assert dict(request.url.params) == query
    assert request.headers["APCA-API-KEY-ID"] == KEY_ID
    assert request.headers["APCA-API-SECRET-KEY"] == SECRET
    if body is None:
        assert request.content == b""
    else:
        assert json.loads(request.content) == body


async def test_results_are_domain_models(client: AlpacaClient, recorder: Recorder) -> None:
    """The client returns typed models with exact decimals and the venue's raw payload."""
    async with client:
        recorder.body = account_json()
        account = await client.get_account()
        recorder.body = [POSITION]
        [position] = await client.list_positions()
        recorder.body = [order_json("o-1", status="partially_filled")]
        [order] = await client.list_orders()
    assert isinstance(account, AccountSnapshot)
    assert account.cash == Decimal("100000.00")
    assert account.observed_at.tzinfo is dt.UTC
    assert position.side is PositionSide.SHORT
    assert position.qty == Decimal(-5)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert order.raw_json()["id"] == "o-1"


async def test_submit_sends_alpaca_order_fields(client: AlpacaClient, recorder: Recorder) -> None:
    """A bracket limit order goes out with Alpaca's field names and decimal strings."""
    recorder.body = order_json("o-1")
    request = OrderRequest(
        symbol="AAPL",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        qty=Decimal(10),
        limit_price=Decimal("187.50"),
        order_class=OrderClass.BRACKET,
        take_profit=TakeProfit(limit_price=Decimal(200)),
        stop_loss=StopLoss(stop_price=Decimal(180)),
        client_order_id="desk-1",
    )
    async with client:
        await client.submit_order(request)
    assert recorder.request is not None
    sent = json.loads(recorder.request.content)
    assert sent["symbol"] == "AAPL"
    assert sent["qty"] == "10"
    assert sent["limit_price"] == "187.5"
    assert sent["order_class"] == "bracket"
    assert sent["take_profit"] == {"limit_price": "200"}
    assert sent["stop_loss"] == {"stop_price": "180"}
    assert sent["client_order_id"] == "desk-1"


async def test_a_flat_position_is_not_found(client: AlpacaClient, recorder: Recorder) -> None:
    """GET of a symbol with no position raises NotFoundError."""
    recorder.status, recorder.body = 404, {"code": 40410000, "message": "position does not exist"}
    async with client:
        with pytest.raises(NotFoundError):
            await client.get_position("ZZZ")


async def test_path_parts_are_escaped(client: AlpacaClient, recorder: Recorder) -> None:
    """An id with a slash cannot reach another endpoint: a coin pair's slash is escaped."""
    recorder.body = ASSET
    async with client:
        await client.get_asset("BTC/USDT")
    assert recorder.request is not None
    assert recorder.request.url.raw_path == b"/v2/assets/BTC%2FUSDT"


async def test_a_usd_crypto_pair_is_written_the_old_way_in_asset_and_position_paths(
    client: AlpacaClient, recorder: Recorder
) -> None:
    """BTC/USD is looked up as /v2/assets/BTCUSD and /v2/positions/BTCUSD, as the spec asks."""
    recorder.body = ASSET
    async with client:
        await client.get_asset("BTC/USD")
        assert recorder.request is not None
        assert recorder.request.url.raw_path == b"/v2/assets/BTCUSD"
        recorder.body = POSITION
        await client.get_position("BTC/USD")
    assert recorder.request.url.raw_path == b"/v2/positions/BTCUSD"


async def test_naive_datetimes_are_refused(client: AlpacaClient) -> None:
    """A timezone-less bound is an error that says how to fix it, before any request."""
    async with client:
        with pytest.raises(ValueError, match="timezone"):
            await client.list_orders(after=dt.datetime(2025, 1, 1))


async def test_unknown_configuration_names_are_refused(client: AlpacaClient) -> None:
    """A typo in a configuration name is caught before the PATCH, listing the allowed names."""
    async with client:
        with pytest.raises(ValueError, match="no_shorting"):
            await client.update_account_configurations(no_shortin=True)


def test_missing_keys_say_how_to_set_them() -> None:
    """No keys: a ConfigError that names ALPACA_API_KEY and the simulator."""
    with pytest.raises(ConfigError, match="ALPACA_API_KEY") as caught:
        AlpacaClient("", "")
    assert "alpacactl sim" in str(caught.value)


async def test_from_settings_uses_the_environment_names() -> None:
    """AlpacaSettings' keys, base URL and rate limit reach the client."""
    settings = AlpacaSettings(
        api_key=KEY_ID,  # type: ignore[arg-type]
        secret_key=SECRET,  # type: ignore[arg-type]
        base_url="http://127.0.0.1:8765",
        rate_limit=120,
        _env_file=None,  # type: ignore[call-arg]
    )
    client = AlpacaClient.from_settings(settings)
    async with client:
        assert client.base_url == "http://127.0.0.1:8765"
        assert client.rate_budget.limit == 120
        assert SECRET not in repr(client)


async def test_a_comma_separated_string_of_symbols_is_not_split_into_letters(
    client: AlpacaClient, recorder: Recorder
) -> None:
    """symbols="AAPL,MSFT" and symbols=["AAPL", "MSFT"] send the same filter."""
    recorder.body = []
    async with client:
        await client.list_orders(symbols="AAPL, MSFT")
    assert recorder.request is not None
    assert recorder.request.url.params["symbols"] == "AAPL,MSFT"
