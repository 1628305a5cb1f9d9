"""The official SDK against the simulator: alpaca-py's TradingClient and TradingStream over real
sockets (url_override), for every order type and class, replace, cancels, position closes,
account, clock, calendar, assets and watchlists; the stream delivers each order's events in
order. (``trading_stream`` is conftest's StreamRecorder: alpaca-py's TradingStream in a thread.)"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    AssetClass,
    AssetStatus,
    OrderClass,
    OrderSide,
    OrderStatus,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.models import Order
from alpaca.trading.requests import (
    ClosePositionRequest,
    CreateWatchlistRequest,
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
    UpdateWatchlistRequest,
)

from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(simulator: SimulatorHandle) -> TradingClient:
    """alpaca-py's TradingClient pointed at the simulator; AAPL and MSFT pinned."""
    simulator.set_price("AAPL", "100.00")
    simulator.set_price("MSFT", "300.00")
    return TradingClient(SIM_API_KEY, SIM_SECRET_KEY, paper=True, url_override=simulator.base_url)


def status_of(client: TradingClient, order_id: object) -> OrderStatus:
    order = client.get_order_by_id(str(order_id))
    return OrderStatus(order.status)


def submit(
    client: TradingClient,
    request: type[OrderRequest],
    symbol: str,
    qty: float,
    side: OrderSide,
    tif: TimeInForce,
    **fields: Any,
) -> Order:
    """Submit one alpaca-py order request: the fields every order has, then ``fields``."""
    order = client.submit_order(
        request(symbol=symbol, qty=qty, side=side, time_in_force=tif, **fields)
    )
    assert isinstance(order, Order)
    return order


def test_every_simple_order_type(
    client: TradingClient, simulator: SimulatorHandle, trading_stream: Any
) -> None:
    """Market, limit, stop, stop-limit and trailing-stop orders fill as prices move, each
    streaming pending_new, new, fill in that order."""
    market = submit(client, MarketOrderRequest, "AAPL", 10, OrderSide.BUY, TimeInForce.DAY)
    limit = submit(
        client, LimitOrderRequest, "AAPL", 2, OrderSide.SELL, TimeInForce.GTC, limit_price=105
    )
    stop = submit(
        client, StopOrderRequest, "AAPL", 2, OrderSide.SELL, TimeInForce.GTC, stop_price=95
    )
    stop_limit = submit(
        client,
        StopLimitOrderRequest,
        "MSFT",
        1,
        OrderSide.BUY,
        TimeInForce.DAY,
        stop_price=310,
        limit_price=312,
    )
    trailing = submit(
        client,
        TrailingStopOrderRequest,
        "AAPL",
        3,
        OrderSide.SELL,
        TimeInForce.GTC,
        trail_price=4,
    )
    assert (trailing.hwm, trailing.stop_price) == ("100", "96")
    assert status_of(client, market.id) == OrderStatus.FILLED
    simulator.set_price("AAPL", "106.00")  # limit fills; trailing high-water mark rises to 106
    simulator.set_price("MSFT", "311.00")  # stop-limit triggers and fills within its limit
    simulator.set_price("AAPL", "101.50")  # trailing stop (106 - 4 = 102) fires
    simulator.set_price("AAPL", "94.00")  # stop fires
    for order in (market, limit, stop, stop_limit, trailing):
        assert status_of(client, order.id) == OrderStatus.FILLED, order.type
        assert trading_stream.wait_for(str(order.id), 3) == ["pending_new", "new", "fill"]
    assert client.get_open_position("AAPL").qty == "3"
    assert client.get_order_by_id(str(trailing.id)).filled_avg_price == "101.5"


def test_time_in_force_ioc_fok_and_client_order_id_lookup(
    client: TradingClient, trading_stream: Any
) -> None:
    """An unmarketable IOC and FOK are canceled; orders are found by client_order_id."""
    ioc = submit(
        client,
        LimitOrderRequest,
        "AAPL",
        1,
        OrderSide.BUY,
        TimeInForce.IOC,
        limit_price=90,
        client_order_id="ioc-1",
    )
    fok = submit(
        client, LimitOrderRequest, "AAPL", 1, OrderSide.BUY, TimeInForce.FOK, limit_price=90
    )
    assert trading_stream.wait_for(str(ioc.id), 3) == ["pending_new", "new", "canceled"]
    assert trading_stream.wait_for(str(fok.id), 3) == ["pending_new", "new", "canceled"]
    assert client.get_order_by_client_id("ioc-1").id == ioc.id
    with pytest.raises(APIError) as info:
        submit(
            client,
            MarketOrderRequest,
            "AAPL",
            1,
            OrderSide.BUY,
            TimeInForce.DAY,
            client_order_id="ioc-1",
        )
    assert info.value.status_code == 422
    assert info.value.code == 40010001


def test_bracket_oco_and_oto(
    client: TradingClient, simulator: SimulatorHandle, trading_stream: Any
) -> None:
    """A bracket's legs activate on the entry fill and cancel each other; an OCO exits a
    position through its stop; an OTO's single leg works after its entry."""
    bracket = submit(
        client,
        MarketOrderRequest,
        "AAPL",
        5,
        OrderSide.BUY,
        TimeInForce.GTC,
        order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=110),
        stop_loss=StopLossRequest(stop_price=90),
    )
    assert bracket.legs is not None
    assert len(bracket.legs) == 2
    take_profit, stop_loss = (str(leg.id) for leg in bracket.legs)
    simulator.set_price("AAPL", "111.00")
    assert trading_stream.wait_for(str(bracket.id), 3) == ["pending_new", "new", "fill"]
    assert trading_stream.wait_for(take_profit, 2) == ["new", "fill"]
    assert trading_stream.wait_for(stop_loss, 1) == ["canceled"]

    simulator.set_price("MSFT", "300.00")
    submit(client, MarketOrderRequest, "MSFT", 4, OrderSide.BUY, TimeInForce.DAY)
    oco = submit(
        client,
        LimitOrderRequest,
        "MSFT",
        4,
        OrderSide.SELL,
        TimeInForce.GTC,
        order_class=OrderClass.OCO,
        limit_price=320,
        take_profit=TakeProfitRequest(limit_price=320),
        stop_loss=StopLossRequest(stop_price=290),
    )
    assert oco.legs is not None
    oco_stop = str(oco.legs[0].id)
    simulator.set_price("MSFT", "289.00")
    assert trading_stream.wait_for(str(oco.id), 3) == ["pending_new", "new", "canceled"]
    assert trading_stream.wait_for(oco_stop, 2) == ["new", "fill"]

    oto = submit(
        client,
        LimitOrderRequest,
        "AAPL",
        2,
        OrderSide.BUY,
        TimeInForce.GTC,
        limit_price=111,
        order_class=OrderClass.OTO,
        take_profit=TakeProfitRequest(limit_price=120),
    )
    assert oto.legs is not None
    oto_exit = str(oto.legs[0].id)
    assert trading_stream.wait_for(oto_exit, 1) == ["new"]
    nested = client.get_order_by_id(str(oto.id), GetOrderByIdRequest(nested=True))
    assert nested.legs is not None
    assert [leg.status for leg in nested.legs] == [OrderStatus.NEW]
    open_orders = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))
    assert [str(o.id) for o in open_orders] == [oto_exit]


def test_replace_and_cancels(client: TradingClient, trading_stream: Any) -> None:
    """Replace links old and new orders; cancel one and cancel all stream their events."""
    first = submit(
        client, LimitOrderRequest, "AAPL", 1, OrderSide.BUY, TimeInForce.GTC, limit_price=90
    )
    second = client.replace_order_by_id(str(first.id), ReplaceOrderRequest(limit_price=91, qty=2))
    assert second.replaces == first.id
    assert client.get_order_by_id(str(first.id)).replaced_by == second.id
    assert trading_stream.wait_for(str(first.id), 4) == [
        "pending_new",
        "new",
        "pending_replace",
        "replaced",
    ]
    assert trading_stream.wait_for(str(second.id), 1) == ["new"]
    client.cancel_order_by_id(str(second.id))
    assert trading_stream.wait_for(str(second.id), 3) == ["new", "pending_cancel", "canceled"]
    others = [
        submit(client, LimitOrderRequest, symbol, 1, OrderSide.BUY, TimeInForce.DAY, limit_price=50)
        for symbol in ("AAPL", "MSFT")
    ]
    answers = client.cancel_orders()
    assert {str(a.id) for a in answers} == {str(o.id) for o in others}
    assert {a.status for a in answers} == {200}
    for order in others:
        assert trading_stream.wait_for(str(order.id), 4)[-2:] == ["pending_cancel", "canceled"]
    with pytest.raises(APIError) as info:
        client.cancel_order_by_id(str(second.id))
    assert info.value.status_code == 422


def test_positions_close_one_and_all(client: TradingClient, trading_stream: Any) -> None:
    """Positions list and close by quantity, percentage, or all at once (207 per symbol)."""
    for symbol, qty in (("AAPL", 10), ("MSFT", 4)):
        submit(client, MarketOrderRequest, symbol, qty, OrderSide.BUY, TimeInForce.DAY)
    positions = {p.symbol: p for p in client.get_all_positions()}
    assert {s: p.qty for s, p in positions.items()} == {"AAPL": "10", "MSFT": "4"}
    assert positions["AAPL"].avg_entry_price == "100"
    partial = client.close_position("AAPL", ClosePositionRequest(percentage="40"))
    assert (partial.qty, partial.side) == ("4", OrderSide.SELL)
    assert trading_stream.wait_for(str(partial.id), 3) == ["pending_new", "new", "fill"]
    closed = client.close_all_positions(cancel_orders=True)
    assert sorted((c.symbol, c.status) for c in closed) == [("AAPL", 200), ("MSFT", 200)]
    assert client.get_all_positions() == []
    with pytest.raises(APIError) as info:
        client.get_open_position("AAPL")
    assert info.value.status_code == 404


def test_order_queries(client: TradingClient) -> None:
    """get_orders honours status, limit, direction, symbols, side and the after/until window."""
    placed = [
        submit(
            client,
            MarketOrderRequest,
            "AAPL" if i % 2 else "MSFT",
            1,
            OrderSide.BUY,
            TimeInForce.DAY,
        )
        for i in range(5)
    ]
    everything = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL))
    assert [o.id for o in everything] == [o.id for o in reversed(placed)]
    two = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED, limit=2))
    assert [o.id for o in two] == [placed[4].id, placed[3].id]
    aapl = client.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, symbols=["AAPL"]))
    assert {o.symbol for o in aapl} == {"AAPL"}
    window = client.get_orders(
        GetOrdersRequest(
            status=QueryOrderStatus.ALL,
            after=placed[0].submitted_at,
            until=placed[3].submitted_at,
            direction="asc",
        )
    )
    assert [o.id for o in window] == [placed[1].id, placed[2].id]


def test_account_clock_calendar_assets_and_watchlists(client: TradingClient) -> None:
    """Account, configuration, clock, calendar, assets and watchlist calls all parse."""
    account = client.get_account()
    assert (account.cash, account.buying_power, account.multiplier) == ("100000", "400000", "4")
    config = client.get_account_configurations()
    config.no_shorting = True
    assert client.set_account_configurations(config).no_shorting is True
    clock = client.get_clock()
    assert clock.is_open is True
    assert clock.next_close > clock.timestamp - dt.timedelta(seconds=1)
    days = client.get_calendar(
        GetCalendarRequest(start=dt.date(2024, 7, 1), end=dt.date(2024, 7, 8))
    )
    assert [d.date.isoformat() for d in days] == [
        "2024-07-01",
        "2024-07-02",
        "2024-07-03",
        "2024-07-05",
        "2024-07-08",
    ]
    assert days[2].close.hour == 13  # early close before Independence Day
    assets = client.get_all_assets(
        GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.US_EQUITY)
    )
    assert {"AAPL", "ACME", "GME"} <= {a.symbol for a in assets}
    assert client.get_asset("GME").shortable is False
    assert client.get_asset("ACME").fractionable is False
    watchlist = client.create_watchlist(CreateWatchlistRequest(name="core", symbols=["AAPL"]))
    watchlist = client.add_asset_to_watchlist_by_id(watchlist.id, "MSFT")
    assert [a.symbol for a in watchlist.assets or []] == ["AAPL", "MSFT"]
    renamed = client.update_watchlist_by_id(
        watchlist.id, UpdateWatchlistRequest(name="renamed", symbols=["GME"])
    )
    assert (renamed.name, [a.symbol for a in renamed.assets or []]) == ("renamed", ["GME"])
    trimmed = client.remove_asset_from_watchlist_by_id(watchlist.id, "GME")
    assert trimmed.assets == []
    assert [w.name for w in client.get_watchlists()] == ["renamed"]
    client.delete_watchlist_by_id(watchlist.id)
    assert client.get_watchlists() == []
    history = client.get_portfolio_history(
        GetPortfolioHistoryRequest(period="1D", timeframe="1Min")
    )
    assert history.base_value == float(Decimal(100000))
    assert len(history.timestamp) == len(history.equity) >= 1
