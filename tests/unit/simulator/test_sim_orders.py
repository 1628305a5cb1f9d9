"""Simulator broker: simple order types, time in force, replace, cancel and Alpaca's refusals."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from sim_venue import Venue

from alpaca_integration.simulator.wire import VenueError

Build = Callable[..., Venue]


def refusal(call: Callable[[], object]) -> VenueError:
    with pytest.raises(VenueError) as info:
        call()
    return info.value


def test_market_buy_answers_the_accepted_order_then_fills_at_the_current_price(
    venue: Build,
) -> None:
    """POST answers the order as accepted (new, nothing filled); it then fills at the price."""
    v = venue()
    answer = v.trade("AAPL", "buy", 10, "100.00")
    assert answer["status"] == "new"
    assert answer["filled_qty"] == "0"
    order = v.order(answer["id"])
    assert order["status"] == "filled"
    assert order["filled_qty"] == "10"
    assert order["filled_avg_price"] == "100"
    assert v.event_names(answer["id"]) == ["pending_new", "new", "fill"]


def test_limit_buy_rests_until_the_price_reaches_the_limit_and_fills_with_improvement(
    venue: Build,
) -> None:
    """A buy limit below the market waits; when the price drops through it, it fills there."""
    v = venue()
    v.price("AAPL", "100.00")
    answer = v.submit(symbol="AAPL", qty=5, side="buy", type="limit", limit_price="99.00")
    v.price("AAPL", "99.50")
    assert v.order(answer["id"])["status"] == "new"
    v.price("AAPL", "98.75")
    order = v.order(answer["id"])
    assert order["status"] == "filled"
    assert order["filled_avg_price"] == "98.75"


def test_stop_sell_triggers_when_the_price_falls_to_the_stop(venue: Build) -> None:
    """A sell stop stays put above the stop and executes at the market once it is hit."""
    v = venue()
    v.trade("AAPL", "buy", 5, "100.00")
    stop = v.submit(symbol="AAPL", qty=5, side="sell", type="stop", stop_price="95.00")
    v.price("AAPL", "96.00")
    assert v.order(stop["id"])["status"] == "new"
    v.price("AAPL", "94.50")
    assert v.order(stop["id"])["status"] == "filled"
    assert v.order(stop["id"])["filled_avg_price"] == "94.5"


def test_stop_limit_triggers_then_waits_for_its_limit(venue: Build) -> None:
    """A buy stop-limit arms at the stop, then fills only at or below its limit."""
    v = venue()
    v.price("AAPL", "100.00")
    order = v.submit(
        symbol="AAPL",
        qty=2,
        side="buy",
        type="stop_limit",
        stop_price="105.00",
        limit_price="104.00",
        time_in_force="gtc",
    )
    v.price("AAPL", "106.00")
    assert v.order(order["id"])["status"] == "new"
    v.price("AAPL", "103.90")
    assert v.order(order["id"])["status"] == "filled"


def test_trailing_stop_keeps_the_high_water_mark_and_derives_the_stop(venue: Build) -> None:
    """A sell trailing stop ($2) follows the high; it fires when the price falls $2 from it."""
    v = venue()
    v.trade("AAPL", "buy", 3, "100.00")
    trail = v.submit(
        symbol="AAPL",
        qty=3,
        side="sell",
        type="trailing_stop",
        trail_price="2.00",
        time_in_force="gtc",
    )
    assert (trail["hwm"], trail["stop_price"]) == ("100", "98")
    v.price("AAPL", "105.00")
    v.price("AAPL", "103.50")
    order = v.order(trail["id"])
    assert (order["status"], order["hwm"], order["stop_price"]) == ("new", "105", "103")
    v.price("AAPL", "102.90")
    assert v.order(trail["id"])["status"] == "filled"


def test_trailing_percent_buy_stop_is_above_the_low(venue: Build) -> None:
    """A buy trailing stop of 10% tracks the lowest price and sits 10% above it."""
    v = venue()
    v.price("AAPL", "100.00")
    trail = v.submit(
        symbol="AAPL",
        qty=1,
        side="buy",
        type="trailing_stop",
        trail_percent="10",
        time_in_force="day",
    )
    v.price("AAPL", "90.00")
    order = v.order(trail["id"])
    assert (order["hwm"], order["stop_price"]) == ("90", "99")


def test_liquidity_cap_fills_a_large_order_in_parts(venue: Build) -> None:
    """Under a cap of 4 shares an order for 10 fills 4, 4, then 2, one execution per pass."""
    v = venue(liquidity_cap="4")
    answer = v.trade("AAPL", "buy", 10, "100.00")
    assert v.order(answer["id"])["status"] == "partially_filled"
    v.broker.tick()
    v.broker.tick()
    assert v.event_names(answer["id"]) == [
        "pending_new",
        "new",
        "partial_fill",
        "partial_fill",
        "fill",
    ]
    fills = v.activities("FILL")
    assert [(f["qty"], f["cum_qty"], f["leaves_qty"]) for f in fills] == [
        ("4", "4", "6"),
        ("4", "8", "2"),
        ("2", "10", "0"),
    ]
    assert [f["type"] for f in fills] == ["partial_fill", "partial_fill", "fill"]


def test_ioc_fills_what_it_can_and_cancels_the_rest(venue: Build) -> None:
    """An IOC order larger than the liquidity cap fills the cap and is canceled."""
    v = venue(liquidity_cap="4")
    v.price("AAPL", "100.00")
    answer = v.submit(symbol="AAPL", qty=10, side="buy", time_in_force="ioc")
    order = v.order(answer["id"])
    assert (order["status"], order["filled_qty"]) == ("canceled", "4")


def test_fok_is_canceled_unless_it_fills_completely(venue: Build) -> None:
    """FOK beyond the cap, or a FOK limit that is not marketable, is canceled unfilled."""
    v = venue(liquidity_cap="4")
    v.price("AAPL", "100.00")
    too_big = v.submit(symbol="AAPL", qty=10, side="buy", time_in_force="fok")
    away = v.submit(
        symbol="AAPL", qty=2, side="buy", type="limit", limit_price="90", time_in_force="fok"
    )
    fits = v.submit(symbol="AAPL", qty=3, side="buy", time_in_force="fok")
    assert v.order(too_big["id"])["status"] == "canceled"
    assert v.order(away["id"])["status"] == "canceled"
    assert v.order(fits["id"])["status"] == "filled"
    assert v.order(too_big["id"])["filled_qty"] == "0"


def test_notional_market_order_fills_a_fractional_quantity(venue: Build) -> None:
    """A $1,000 notional buy at $300 fills 3.333333333 shares; qty stays null on the order."""
    v = venue()
    v.price("MSFT", "300.00")
    answer = v.submit(symbol="MSFT", notional="1000", side="buy")
    order = v.order(answer["id"])
    assert (order["qty"], order["notional"]) == (None, "1000")
    assert order["filled_qty"] == "3.333333333"
    assert order["status"] == "filled"


def test_prices_and_quantities_are_accepted_as_json_numbers(venue: Build) -> None:
    """alpaca-py sends floats: qty 1.5 and limit 99.25 as numbers are read exactly."""
    v = venue()
    v.price("AAPL", "100.00")
    answer = v.broker.submit_order(
        v.account,
        {
            "symbol": "AAPL",
            "qty": 1.5,
            "side": "buy",
            "type": "limit",
            "limit_price": 99.25,
            "time_in_force": "day",
        },
    )
    assert (answer["qty"], answer["limit_price"]) == ("1.5", "99.25")


def test_replace_creates_a_new_order_linked_both_ways(venue: Build) -> None:
    """PATCH makes a new order: the old one is replaced with replaced_by, the new one replaces."""
    v = venue()
    v.price("AAPL", "100.00")
    old = v.submit(
        symbol="AAPL", qty=5, side="buy", type="limit", limit_price="90", time_in_force="gtc"
    )
    new = v.broker.replace_order(v.account, old["id"], {"limit_price": 91.5, "qty": "7"})
    assert new["id"] != old["id"]
    assert new["replaces"] == old["id"]
    assert (new["limit_price"], new["qty"], new["status"]) == ("91.5", "7", "new")
    replaced = v.order(old["id"])
    assert (replaced["status"], replaced["replaced_by"]) == ("replaced", new["id"])
    assert replaced["replaced_at"] is not None
    assert v.event_names(old["id"])[-2:] == ["pending_replace", "replaced"]
    assert v.event_names(new["id"]) == ["new"]


def test_replace_is_refused_for_filled_and_accepted_orders(venue: Build) -> None:
    """A filled order, or one accepted while the market is closed, cannot be replaced (422)."""
    v = venue()
    v.price("AAPL", "100.00")
    filled = v.submit(symbol="AAPL", qty=1, side="buy", type="limit", limit_price="101")
    error = refusal(lambda: v.broker.replace_order(v.account, filled["id"], {"limit_price": "99"}))
    assert (error.status, error.code) == (422, 42210000)
    assert '"filled"' in error.message


def test_replace_needs_something_to_change(venue: Build) -> None:
    """An empty PATCH body is refused with 422 naming the fields that can change."""
    v = venue()
    v.price("AAPL", "100.00")
    order = v.submit(symbol="AAPL", qty=1, side="buy", type="limit", limit_price="90")
    error = refusal(lambda: v.broker.replace_order(v.account, order["id"], {}))
    assert error.code == 40010001
    assert "limit_price" in error.message


def test_cancel_goes_through_pending_cancel_to_canceled(venue: Build) -> None:
    """DELETE moves a working order to pending_cancel, then canceled, with canceled_at set."""
    v = venue()
    v.price("AAPL", "100.00")
    order = v.submit(symbol="AAPL", qty=1, side="buy", type="limit", limit_price="90")
    v.broker.cancel_order(v.account, order["id"])
    after = v.order(order["id"])
    assert after["status"] == "canceled"
    assert after["canceled_at"] is not None
    assert v.event_names(order["id"]) == ["pending_new", "new", "pending_cancel", "canceled"]


def test_cancel_of_a_terminal_order_is_422_and_of_an_unknown_one_404(venue: Build) -> None:
    """Canceling a filled order answers 422 (its state named); an unknown id answers 404."""
    v = venue()
    order = v.trade("AAPL", "buy", 1, "100.00")
    filled = refusal(lambda: v.broker.cancel_order(v.account, order["id"]))
    assert (filled.status, filled.code, filled.message) == (
        422,
        42210000,
        'order is already in "filled" state',
    )
    missing = refusal(
        lambda: v.broker.cancel_order(v.account, "00000000-0000-4000-8000-000000000000")
    )
    assert (missing.status, missing.code) == (404, 40410000)


def test_client_order_id_is_unique_forever(venue: Build) -> None:
    """A client_order_id of a canceled order is still taken: 422 with code 40010001."""
    v = venue()
    v.price("AAPL", "100.00")
    order = v.submit(
        symbol="AAPL", qty=1, side="buy", type="limit", limit_price="90", client_order_id="mine-1"
    )
    v.broker.cancel_order(v.account, order["id"])
    error = refusal(lambda: v.submit(symbol="AAPL", qty=1, side="buy", client_order_id="mine-1"))
    assert (error.status, error.code, error.message) == (
        422,
        40010001,
        "client_order_id must be unique",
    )
    assert v.broker.order_by_client_id(v.account, "mine-1").id == order["id"]


@pytest.mark.parametrize(
    ("symbol", "price"),
    [("AAPL", "100.123"), ("PNNY", "0.51234")],
)
def test_sub_penny_prices_are_refused(venue: Build, symbol: str, price: str) -> None:
    """Over 2 decimals at or above $1 (4 below) is 422 / 42210000 naming the price."""
    v = venue()
    error = refusal(
        lambda: v.submit(symbol=symbol, qty=1, side="buy", type="limit", limit_price=price)
    )
    assert (error.status, error.code) == (422, 42210000)
    assert "sub-penny" in error.message


def test_four_decimal_prices_are_fine_under_a_dollar(venue: Build) -> None:
    """A $0.5123 limit on a sub-dollar asset is accepted."""
    v = venue()
    answer = v.submit(symbol="PNNY", qty=10, side="buy", type="limit", limit_price="0.5001")
    assert answer["limit_price"] == "0.5001"


@pytest.mark.parametrize("symbol", ["NOPE", "OLDCO"])
def test_unknown_or_untradable_symbols_are_refused(venue: Build, symbol: str) -> None:
    """An unknown symbol, or an inactive asset, is 422 / 42210000."""
    v = venue()
    error = refusal(lambda: v.submit(symbol=symbol, qty=1, side="buy"))
    assert (error.status, error.code) == (422, 42210000)
    assert symbol in error.message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"qty": "1", "notional": "100"}, "only one of qty or notional"),
        ({}, "qty or notional is required"),
        ({"qty": "0"}, "qty must be > 0"),
        ({"qty": "1", "type": "limit"}, "limit_price is required"),
        ({"qty": "1", "type": "stop"}, "stop_price is required"),
        (
            {"qty": "1", "type": "trailing_stop", "trail_price": "1", "trail_percent": "1"},
            "exactly one of trail_price or trail_percent",
        ),
        ({"qty": "1", "time_in_force": "forever"}, "time_in_force must be one of"),
        ({"qty": "1", "side": "hold"}, 'side must be "buy" or "sell"'),
    ],
)
def test_invalid_order_fields_are_422_with_code_40010001(
    venue: Build, fields: dict[str, str], fragment: str
) -> None:
    """Missing or contradictory fields are refused with a message saying what is wrong."""
    v = venue()
    body = {"symbol": "AAPL", "side": "buy", **fields}
    error = refusal(lambda: v.submit(**body))
    assert (error.status, error.code) == (422, 40010001)
    assert fragment in error.message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"symbol": "ACME", "qty": "1.5"}, "not fractionable"),
        ({"symbol": "AAPL", "qty": "1", "extended_hours": True}, "extended hours"),
        ({"symbol": "AAPL", "qty": "1.5", "time_in_force": "gtc"}, "fractional"),
    ],
)
def test_rule_violations_are_422_with_code_42210000(
    venue: Build, fields: dict[str, object], fragment: str
) -> None:
    """Fractional shares of a whole-share asset, extended hours on a market order, ... refused."""
    v = venue()
    error = refusal(lambda: v.submit(side="buy", **fields))
    assert (error.status, error.code) == (422, 42210000)
    assert fragment in error.message


def test_insufficient_buying_power_is_403_with_the_figures(venue: Build) -> None:
    """A $10,000 buy in a $1,000 cash account is 403 / 40310000 with buying_power and cost."""
    v = venue(account_type="cash", starting_cash="1000")
    v.price("AAPL", "100.00")
    error = refusal(lambda: v.submit(symbol="AAPL", qty=100, side="buy"))
    assert (error.status, error.code, error.message) == (403, 40310000, "insufficient buying power")
    assert error.extra == {"buying_power": "1000", "cost_basis": "10000"}


def test_open_buy_orders_use_up_buying_power(venue: Build) -> None:
    """$1,000 cash, $600 spent, a $300 buy resting: $100 is left, a $450 buy is refused."""
    v = venue(account_type="cash", starting_cash="1000")
    v.trade("AAPL", "buy", 6, "100.00")
    assert v.broker.account_json(v.account)["buying_power"] == "400"
    v.submit(symbol="AAPL", qty=6, side="buy", type="limit", limit_price="50", time_in_force="gtc")
    error = refusal(
        lambda: v.submit(
            symbol="AAPL", qty=5, side="buy", type="limit", limit_price="90", time_in_force="gtc"
        )
    )
    assert error.extra["buying_power"] == "100"


def test_selling_more_than_available_is_403_with_the_quantities(venue: Build) -> None:
    """With 10 long and 6 held by an open sell, selling 5 more is 403 naming available 4."""
    v = venue()
    v.trade("AAPL", "buy", 10, "100.00")
    v.submit(
        symbol="AAPL", qty=6, side="sell", type="limit", limit_price="150", time_in_force="gtc"
    )
    error = refusal(lambda: v.submit(symbol="AAPL", qty=5, side="sell"))
    assert (error.status, error.code) == (403, 40310000)
    assert error.extra == {
        "available": "4",
        "existing_qty": "10",
        "held_for_orders": "6",
        "symbol": "AAPL",
    }


def test_short_selling_follows_the_account_and_the_asset(venue: Build) -> None:
    """A margin account may short AAPL; GME is not shortable; a cash account may not short."""
    v = venue()
    short = v.trade("AAPL", "sell", 5, "100.00")
    assert v.order(short["id"])["status"] == "filled"
    assert v.account.positions["AAPL"].qty == Decimal(-5)
    assert short["position_intent"] == "sell_to_open"
    gme = refusal(lambda: v.submit(symbol="GME", qty=1, side="sell"))
    assert (gme.status, gme.message) == (403, "asset GME is not shortable")
    cash = venue(account_type="cash")
    cash.price("AAPL", "100.00")
    refused = refusal(lambda: cash.submit(symbol="AAPL", qty=1, side="sell"))
    assert (refused.status, refused.message) == (403, "account is not allowed to short")


def test_potential_wash_trade_is_refused(venue: Build) -> None:
    """A market sell while one's own buy limit rests on the symbol is a potential wash trade."""
    v = venue()
    v.trade("AAPL", "buy", 10, "100.00")
    v.submit(symbol="AAPL", qty=1, side="buy", type="limit", limit_price="95", time_in_force="gtc")
    error = refusal(lambda: v.submit(symbol="AAPL", qty=1, side="sell"))
    assert (error.status, error.code) == (422, 42210000)
    assert "wash trade" in error.message


def test_accepted_then_rejected_fault(venue: Build) -> None:
    """With order_reject_rate 1 an order is answered, then rejected (pending_new, rejected)."""
    v = venue()
    v.broker.order_reject_rate = 1.0
    answer = v.trade("AAPL", "buy", 1, "100.00")
    assert answer["status"] == "pending_new"
    order = v.order(answer["id"])
    assert (order["status"], order["filled_qty"]) == ("rejected", "0")
    assert order["failed_at"] is not None
    assert v.event_names(answer["id"]) == ["pending_new", "rejected"]
    assert v.account.reserved == 0
