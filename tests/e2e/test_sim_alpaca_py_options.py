"""alpaca-py's TradingClient against the simulator for options and crypto, over real sockets:
option contracts listed and fetched, a two-leg spread placed as ``mleg`` and filled (its legs'
fill events on alpaca-py's TradingStream), an exercise, the expiry day, and a crypto buy and sell
paying their fees (in the coin, then in USD)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    AssetClass,
    ContractType,
    OrderClass,
    OrderSide,
    OrderStatus,
    PositionIntent,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetOptionContractsRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OptionLegRequest,
)

from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from conftest import StreamRecorder

pytestmark = pytest.mark.e2e

CALL_190 = "AAPL240304C00190000"
CALL_200 = "AAPL240304C00200000"
CALL_195_FRIDAY = "AAPL240308C00195000"


@pytest.fixture
def simulator(options_day: SimulatorHandle) -> SimulatorHandle:
    """This module's venue (also the one conftest's ``trading_stream`` listens to)."""
    options_day.set_price("AAPL", "190.00")
    return options_day


@pytest.fixture
def venue(simulator: SimulatorHandle) -> SimulatorHandle:
    return simulator


@pytest.fixture
def client(venue: SimulatorHandle) -> TradingClient:
    return TradingClient(SIM_API_KEY, SIM_SECRET_KEY, paper=True, url_override=venue.base_url)


def test_option_contracts_are_listed_and_fetched(client: TradingClient) -> None:
    listed = client.get_option_contracts(
        GetOptionContractsRequest(
            underlying_symbols=["AAPL"],
            expiration_date=dt.date(2024, 3, 8),
            type=ContractType.CALL,
            strike_price_gte="185",
            strike_price_lte="195",
        )
    )
    contracts = listed.option_contracts or []
    assert [c.symbol for c in contracts] == [
        "AAPL240308C00185000",
        "AAPL240308C00190000",
        "AAPL240308C00195000",
    ]
    assert listed.next_page_token is None
    one = client.get_option_contract(CALL_195_FRIDAY)
    assert one.underlying_symbol == "AAPL"
    assert one.strike_price == 195
    assert one.size == "100"
    assert client.get_option_contract(str(one.id)).symbol == CALL_195_FRIDAY
    with pytest.raises(APIError) as missing:
        client.get_option_contract("AAPL240308C00196000")
    assert missing.value.status_code == 404


def test_a_two_leg_spread_placed_as_mleg_fills_atomically(
    client: TradingClient, venue: SimulatorHandle, trading_stream: StreamRecorder
) -> None:
    venue.set_price(CALL_190, "4.00")
    venue.set_price(CALL_200, "1.00")
    order = client.submit_order(
        LimitOrderRequest(
            qty=3,
            order_class=OrderClass.MLEG,
            time_in_force=TimeInForce.DAY,
            limit_price=3.10,
            legs=[
                OptionLegRequest(symbol=CALL_190, ratio_qty=1, side=OrderSide.BUY),
                OptionLegRequest(
                    symbol=CALL_200, ratio_qty=1, position_intent=PositionIntent.SELL_TO_OPEN
                ),
            ],
        )
    )
    assert order.order_class == OrderClass.MLEG
    assert order.symbol is None
    assert [leg.symbol for leg in order.legs or []] == [CALL_190, CALL_200]
    trading_stream.wait_for(str(order.id), 3)  # pending_new, new, fill
    filled = client.get_order_by_id(str(order.id))
    assert filled.status == OrderStatus.FILLED
    assert Decimal(str(filled.filled_avg_price)) == Decimal(3)
    legs = filled.legs or []
    assert [leg.status for leg in legs] == [OrderStatus.FILLED, OrderStatus.FILLED]
    assert [leg.asset_class for leg in legs] == [AssetClass.US_OPTION] * 2
    for leg in legs:
        assert trading_stream.wait_for(str(leg.id), 1)[-1] == "fill"
    positions = {p.symbol: p for p in client.get_all_positions()}
    assert positions[CALL_190].qty == "3"
    assert positions[CALL_200].qty == "-3"
    assert positions[CALL_190].market_value == "1200"


def test_an_exercise_then_the_expiry_day(client: TradingClient, venue: SimulatorHandle) -> None:
    venue.set_price(CALL_190, "1.00")
    venue.set_price(CALL_200, "0.50")
    for symbol in (CALL_190, CALL_200):
        client.submit_order(
            MarketOrderRequest(
                symbol=symbol, qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY
            )
        )
    venue.set_price("AAPL", "196.00")
    cash = Decimal(client.get_account().cash)
    client.exercise_options_position(CALL_190)
    shares = client.get_open_position("AAPL")
    assert shares.qty == "100"
    assert Decimal(client.get_account().cash) == cash - Decimal(19_000)
    venue.advance_clock(6 * 3600 + 1)  # 16:00 New York: the 200 call expires worthless
    assert {p.symbol for p in client.get_all_positions()} == {"AAPL"}
    activities = client.get("/account/activities", {"direction": "asc"})
    assert isinstance(activities, list)
    kinds = [(a["activity_type"], a["symbol"], a.get("qty")) for a in activities]
    assert ("OPEXC", CALL_190, "-1") in kinds
    assert ("OPTRD", "AAPL", "100") in kinds
    assert ("OPEXP", CALL_200, "-1") in kinds


def test_a_crypto_buy_and_sell_pay_their_fees(
    client: TradingClient, venue: SimulatorHandle
) -> None:
    venue.set_price("BTC/USD", "40000")
    buy = client.submit_order(
        MarketOrderRequest(
            symbol="BTC/USD", qty=0.5, side=OrderSide.BUY, time_in_force=TimeInForce.GTC
        )
    )
    assert buy.asset_class == AssetClass.CRYPTO
    venue.tick()
    position = client.get_open_position("BTCUSD")
    assert Decimal(position.qty) == Decimal("0.49875")  # 0.5 less the 0.25% fee in BTC
    sell = client.submit_order(
        MarketOrderRequest(
            symbol="BTC/USD", qty=position.qty, side=OrderSide.SELL, time_in_force=TimeInForce.GTC
        )
    )
    venue.tick()
    assert client.get_order_by_id(str(sell.id)).status == OrderStatus.FILLED
    assert client.get("/account/activities/CFEE") == []  # posted at the end of the UTC day
    venue.advance_clock(9 * 3600)  # 15:00 UTC + 9 h: midnight UTC
    fees = client.get("/account/activities/CFEE")
    assert isinstance(fees, list)
    assert sorted((f["order_id"], f.get("qty"), f["net_amount"]) for f in fees) == sorted(
        [
            (str(sell.id), None, "-49.88"),  # the sell: 0.25% of 19950 in USD, rounded up
            (str(buy.id), "-0.00125", "0"),  # the buy: 0.25% of 0.5 BTC, in BTC
        ]
    )
    account = client.get_account()
    assert Decimal(account.cash) == Decimal(100_000) - Decimal(20_000) + Decimal(19_950) - Decimal(
        "49.88"
    )
    with pytest.raises(APIError) as short:
        client.submit_order(
            MarketOrderRequest(
                symbol="ETH/USD", qty=1, side=OrderSide.SELL, time_in_force=TimeInForce.GTC
            )
        )
    assert short.value.status_code == 403
