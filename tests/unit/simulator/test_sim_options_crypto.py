"""Simulator broker: option contracts (chains, orders with the 100x multiplier, exercise, expiry)
and crypto pairs (around the clock, fees in the coin on buys and in USD on sells, no shorting)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from sim_venue import Venue

from alpaca_integration.simulator.wire import VenueError

Build = Callable[..., Venue]
# The venue starts on Monday 2024-03-04 10:00 New York: AAPL's chain has contracts expiring that
# day at 16:00 (seconds_to_expiry from the start).
CALL_190 = "AAPL240304C00190000"
PUT_190 = "AAPL240304P00190000"
CALL_200 = "AAPL240304C00200000"
SECONDS_TO_EXPIRY = 6 * 3600


def refusal(call: Callable[[], object]) -> VenueError:
    with pytest.raises(VenueError) as info:
        call()
    return info.value


def test_the_chain_lists_strikes_around_the_price_for_the_coming_expiries(venue: Build) -> None:
    v = venue()
    listed = v.broker.option_contracts({"underlying_symbols": "AAPL", "type": "call"})
    contracts = listed["option_contracts"]
    # By default: active contracts expiring by the coming weekend (today, Friday 03-08).
    assert {c["expiration_date"] for c in contracts} == {"2024-03-04", "2024-03-08"}
    strikes = sorted({Decimal(c["strike_price"]) for c in contracts})
    assert strikes == [Decimal(s) for s in range(175, 210, 5)]
    assert all(c["type"] == "call" and c["multiplier"] == "100" for c in contracts)
    later = v.broker.option_contracts(
        {"underlying_symbols": "AAPL", "expiration_date_gte": "2024-03-09", "limit": "5"}
    )
    assert len(later["option_contracts"]) == 5
    token = later["next_page_token"]
    rest = v.broker.option_contracts(
        {"underlying_symbols": "AAPL", "expiration_date_gte": "2024-03-09", "page_token": token}
    )
    seen = {c["symbol"] for c in later["option_contracts"] + rest["option_contracts"]}
    assert len(seen) == 2 * 2 * 7  # Friday 03-15 and the monthly 04-19, calls and puts
    fetched = v.broker.option_contract(CALL_190)
    assert fetched["underlying_symbol"] == "AAPL"
    assert fetched["strike_price"] == "190"
    assert v.broker.option_contract(fetched["id"])["symbol"] == CALL_190
    assert refusal(lambda: v.broker.option_contract("AAPL240304C00191000")).status == 404


def test_an_option_buy_pays_premium_times_100_and_values_the_position_so(venue: Build) -> None:
    v = venue()
    v.price(CALL_190, "2.50")
    answer = v.submit(symbol=CALL_190, qty=2, side="buy")
    assert answer["asset_class"] == "us_option"
    assert v.order(answer["id"])["status"] == "filled"
    assert v.account.cash == Decimal(100_000) - Decimal(500)
    position = v.broker.get_position(v.account, CALL_190)
    assert position["asset_class"] == "us_option"
    assert position["qty"] == "2"
    assert position["market_value"] == "500"
    assert position["cost_basis"] == "500"


def test_option_orders_are_refused_for_fractions_bad_symbols_and_wrong_time_in_force(
    venue: Build,
) -> None:
    v = venue()
    fractional = refusal(lambda: v.submit(symbol=CALL_190, qty="1.5", side="buy"))
    assert (fractional.status, fractional.code) == (422, 42210000)
    assert "whole number of contracts" in fractional.message
    bad = refusal(lambda: v.submit(symbol="AAPL241332C00190000", qty=1, side="buy"))
    assert (bad.status, bad.code) == (422, 42210000)
    assert bad.message.startswith("invalid symbol")
    gtc = refusal(lambda: v.submit(symbol=CALL_190, qty=1, side="buy", time_in_force="gtc"))
    assert "time_in_force day" in gtc.message


def test_at_expiry_itm_longs_are_exercised_shorts_assigned_and_otm_contracts_expire(
    venue: Build,
) -> None:
    v = venue()
    v.price("AAPL", "190.00")
    for symbol in (CALL_190, CALL_200, PUT_190):
        v.price(symbol, "1.00")
    v.submit(symbol=CALL_190, qty=1, side="buy")
    v.submit(symbol=CALL_200, qty=2, side="buy")
    v.submit(symbol=PUT_190, qty=1, side="sell")  # short put
    v.price("AAPL", "195.00")
    cash_before = v.account.cash
    v.advance(SECONDS_TO_EXPIRY + 1)
    kinds = [(a["activity_type"], a["symbol"], a["qty"]) for a in v.activities()[-4:]]
    assert ("OPEXC", CALL_190, "-1") in kinds  # in the money by $5: exercised
    assert ("OPTRD", "AAPL", "100") in kinds  # 100 shares bought at the strike
    assert ("OPEXP", CALL_200, "-2") in kinds  # out of the money: expired
    assert ("OPEXP", PUT_190, "1") in kinds  # the short put is out of the money too
    assert set(v.account.positions) == {"AAPL"}
    assert v.account.positions["AAPL"].qty == 100
    assert v.account.cash == cash_before - Decimal(19_000)
    contract = v.broker.option_contract(CALL_190)
    assert contract["status"] == "inactive"
    late = refusal(lambda: v.submit(symbol=CALL_190, qty=1, side="buy"))
    assert "has expired" in late.message


def test_a_short_call_in_the_money_is_assigned_and_delivers_shares(venue: Build) -> None:
    v = venue()
    v.price("AAPL", "190.00")
    v.price(CALL_190, "1.00")
    v.submit(symbol=CALL_190, qty=1, side="sell")
    v.price("AAPL", "192.00")
    v.advance(SECONDS_TO_EXPIRY + 1)
    assigned = [a for a in v.activities() if a["activity_type"] in ("OPASN", "OPTRD")]
    assert [(a["activity_type"], a["qty"]) for a in assigned] == [("OPASN", "1"), ("OPTRD", "-100")]
    assert assigned[0]["group_id"] == assigned[1]["group_id"]
    assert v.account.positions["AAPL"].qty == -100


def test_exercise_now_and_do_not_exercise_at_expiry(venue: Build) -> None:
    v = venue()
    v.price("AAPL", "195.00")
    v.price(CALL_190, "5.00")
    v.price(PUT_190, "1.00")
    v.submit(symbol=CALL_190, qty=3, side="buy")
    v.broker.exercise(v.account, CALL_190)
    assert v.account.positions["AAPL"].qty == 300
    assert CALL_190 not in v.account.positions
    assert [a["qty"] for a in v.activities("OPEXC")] == ["-3"]
    none = refusal(lambda: v.broker.exercise(v.account, CALL_190))
    assert (none.status, none.code) == (403, 40310000)
    v.submit(symbol=PUT_190, qty=1, side="sell")
    short = refusal(lambda: v.broker.do_not_exercise(v.account, PUT_190))
    assert (short.status, short.code) == (403, 40310001)
    v.price(CALL_200, "1.00")
    v.submit(symbol=CALL_200, qty=1, side="buy")
    v.price("AAPL", "205.00")
    v.broker.do_not_exercise(v.account, CALL_200)
    v.advance(SECONDS_TO_EXPIRY + 1)
    # In the money by $5, but do-not-exercise: it expires (as does the short put, out of it).
    assert [a["symbol"] for a in v.activities("OPEXP")] == [CALL_200, PUT_190]


def test_crypto_trades_with_the_market_closed_and_pays_fees_in_coin_then_usd(
    venue: Build,
) -> None:
    """Fees are taken at the fill (the coins out of the position) and posted as CFEE
    activities at the end of the UTC day, as Alpaca does; a sell's USD fee leaves the cash
    when it posts."""
    # Saturday: the equity market is closed.
    v = venue(clock="market", start_time=dt.datetime(2024, 3, 9, 15, 0, tzinfo=dt.UTC))
    v.price("BTC/USD", "50000")
    buy = v.submit(symbol="BTC/USD", qty="0.1", side="buy", time_in_force="gtc")
    assert v.order(buy["id"])["status"] == "filled"
    position = v.broker.get_position(v.account, "BTCUSD")
    assert position["symbol"] == "BTCUSD"
    assert position["asset_class"] == "crypto"
    assert position["qty"] == "0.09975"  # 0.1 less the 0.25% fee taken in BTC
    assert v.account.cash == Decimal(95_000)
    assert v.activities("CFEE") == []  # not posted yet
    v.advance(9 * 3600)  # 00:00 UTC Sunday: the day's fees post
    [coin_fee] = v.activities("CFEE")
    assert (coin_fee["qty"], coin_fee["net_amount"], coin_fee["symbol"]) == (
        "-0.00025",
        "0",
        "BTCUSD",
    )
    assert coin_fee["order_id"] == buy["id"]
    assert coin_fee["transaction_time"].startswith("2024-03-10T00:00:00")
    assert coin_fee["date"] == "2024-03-09"  # the trade's day
    assert v.broker.get_position(v.account, "BTCUSD")["qty"] == "0.09975"
    sell = v.submit(symbol="BTC/USD", qty="0.09975", side="sell", time_in_force="gtc")
    assert v.order(sell["id"])["status"] == "filled"
    assert v.account.cash == Decimal(95_000) + Decimal("4987.50")  # the fee is not posted yet
    v.advance(24 * 3600)
    usd_fee = v.activities("CFEE")[-1]
    assert usd_fee["order_id"] == sell["id"]
    assert usd_fee["net_amount"] == "-12.47"  # 0.25% of 4987.50, rounded up to the cent
    assert v.account.cash == Decimal(95_000) + Decimal("4987.50") - Decimal("12.47")
    assert "BTC/USD" not in v.account.positions


def test_crypto_fee_delay_seconds_posts_the_cfee_that_long_after_the_fill(venue: Build) -> None:
    """``crypto_fee_delay_seconds``: 0 posts the CFEE with the fill (dated as the fill), N
    seconds posts it N seconds later."""
    at_fill = venue(clock="always-open", crypto_fee_delay_seconds=0)
    at_fill.price("BTC/USD", "50000")
    at_fill.submit(symbol="BTC/USD", qty="0.1", side="buy", time_in_force="gtc")
    [fill] = at_fill.activities("FILL")
    [fee] = at_fill.activities("CFEE")
    assert fee["transaction_time"] == fill["transaction_time"]
    later = venue(clock="always-open", crypto_fee_delay_seconds=90)
    later.price("BTC/USD", "50000")
    later.submit(symbol="BTC/USD", qty="0.1", side="buy", time_in_force="gtc")
    later.advance(89)
    assert later.activities("CFEE") == []
    later.advance(2)  # the fill is dated a few microseconds after the clock's start
    [posted] = later.activities("CFEE")
    assert posted["transaction_time"].startswith("2024-03-04T15:01:30.")


def test_crypto_cannot_be_sold_short_nor_traded_for_a_day(venue: Build) -> None:
    v = venue()
    short = refusal(lambda: v.submit(symbol="ETH/USD", qty="1", side="sell", time_in_force="gtc"))
    assert (short.status, short.code) == (403, 40310000)
    assert "insufficient balance for ETH" in short.message
    day = refusal(lambda: v.submit(symbol="ETH/USD", qty="1", side="buy"))
    assert "gtc or ioc" in day.message


def _spread(v: Venue, **fields: object) -> dict[str, object]:
    """A bull call spread: buy the 190 call, sell the 200 call."""
    body = {
        "order_class": "mleg",
        "type": "limit",
        "time_in_force": "day",
        "qty": "2",
        "limit_price": "3.00",
        "legs": [
            {"symbol": CALL_190, "ratio_qty": "1", "side": "buy", "position_intent": "buy_to_open"},
            {"symbol": CALL_200, "ratio_qty": "1", "position_intent": "sell_to_open"},
        ],
        **fields,
    }
    return v.broker.submit_order(v.account, body)


def test_an_mleg_spread_waits_for_its_net_price_then_fills_every_leg_at_once(
    venue: Build,
) -> None:
    v = venue()
    v.price(CALL_190, "5.00")
    v.price(CALL_200, "1.50")  # net 3.50: above the 3.00 limit
    answer = _spread(v)
    assert "symbol" not in answer
    assert answer["order_class"] == "mleg"
    legs = answer["legs"]
    assert isinstance(legs, list)
    assert [(leg["symbol"], leg["side"], leg["ratio_qty"], leg["qty"]) for leg in legs] == [
        (CALL_190, "buy", "1", "2"),
        (CALL_200, "sell", "1", "2"),
    ]
    order_id = str(answer["id"])
    assert v.order(order_id)["status"] == "new"
    assert v.account.reserved == Decimal(600)  # 3.00 x 2 x 100 set aside
    v.price(CALL_200, "2.10")  # net 2.90
    filled = v.order(order_id)
    assert filled["status"] == "filled"
    assert filled["filled_avg_price"] == "2.9"
    assert [leg["status"] for leg in filled["legs"]] == ["filled", "filled"]
    assert v.account.reserved == 0
    assert v.account.positions[CALL_190].qty == 2
    assert v.account.positions[CALL_200].qty == -2
    fills = v.activities("FILL")
    assert [(f["symbol"], f["qty"], f["price"]) for f in fills] == [
        (CALL_190, "2", "5"),
        (CALL_200, "2", "2.1"),
    ]
    # Cash: -1000 for the long calls, +420 for the short ones, less the sell's regulatory fee.
    fee = sum(-Decimal(a["net_amount"]) for a in v.activities("FEE"))
    assert v.account.cash == Decimal(100_000) - Decimal(580) - fee


def test_an_mleg_order_canceled_takes_its_legs_along(venue: Build) -> None:
    v = venue()
    v.price(CALL_190, "5.00")
    v.price(CALL_200, "1.00")
    answer = _spread(v, limit_price="1.00")
    v.broker.cancel_order(v.account, str(answer["id"]))
    order = v.order(str(answer["id"]))
    assert order["status"] == "canceled"
    assert [leg["status"] for leg in order["legs"]] == ["canceled", "canceled"]
    assert v.account.reserved == 0


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"legs": [{"symbol": CALL_190, "ratio_qty": "1", "side": "buy"}]}, "2 to 4 legs, got 1"),
        ({"qty": "1.5"}, "whole number of units"),
        ({"time_in_force": "gtc"}, "time_in_force day"),
        (
            {
                "legs": [
                    {"symbol": CALL_190, "ratio_qty": "1", "side": "buy"},
                    {"symbol": "MSFT240304C00410000", "ratio_qty": "1", "side": "sell"},
                ]
            },
            "one underlying",
        ),
        (
            {
                "legs": [
                    {"symbol": CALL_190, "ratio_qty": "1", "side": "buy"},
                    {"symbol": "AAPL2403O4C00200000", "ratio_qty": "1", "side": "sell"},
                ]
            },
            "invalid symbol",
        ),
    ],
)
def test_mleg_refusals(venue: Build, change: dict[str, object], expected: str) -> None:
    v = venue()
    error = refusal(lambda: _spread(v, **change))
    assert error.status == 422
    assert expected in error.message


def test_an_mleg_order_is_replaced_whole_and_its_legs_cannot_be_touched_alone(
    venue: Build,
) -> None:
    v = venue()
    v.price(CALL_190, "5.00")
    v.price(CALL_200, "1.00")  # net 4.00
    answer = _spread(v, limit_price="2.00")
    legs = answer["legs"]
    assert isinstance(legs, list)
    leg_id = legs[0]["id"]
    alone = refusal(lambda: v.broker.cancel_order(v.account, leg_id))
    assert "cancel that order instead" in alone.message
    alone = refusal(lambda: v.broker.replace_order(v.account, leg_id, {"qty": "1"}))
    assert "replace that order instead" in alone.message
    new = v.broker.replace_order(v.account, str(answer["id"]), {"qty": "1", "limit_price": "4"})
    assert v.order(str(answer["id"]))["status"] == "replaced"
    replaced = v.order(new["id"])
    assert replaced["status"] == "filled"  # net 4.00 is now within the limit
    assert [leg["qty"] for leg in replaced["legs"]] == ["1", "1"]
    assert [leg["id"] for leg in replaced["legs"]] == [leg["id"] for leg in legs]
    assert v.account.positions[CALL_190].qty == 1
    assert v.account.reserved == 0


def test_premiums_follow_the_underlying(venue: Build) -> None:
    """Intrinsic value plus a time value that fades away from the strike and toward expiry."""
    v = venue()
    v.price("AAPL", "200.00")
    assert v.market.price(CALL_190) == Decimal("10.00")  # deep in the money, 6 hours left
    assert v.market.price(PUT_190) == Decimal("0.01")  # far out of it: the minimum tick
    v.price("AAPL", "190.00")
    at_the_money = v.market.price(CALL_190)
    assert Decimal("0.5") < at_the_money < Decimal("1")
    v.advance(3 * 3600)  # half the time to expiry gone: less time value
    assert v.market.price(CALL_190) < at_the_money
    v.advance(3 * 3600 + 1)  # expired: intrinsic value only
    assert v.market.price(CALL_190) == 0
