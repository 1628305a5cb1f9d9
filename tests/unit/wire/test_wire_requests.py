"""Order intents -> request bodies: Alpaca's rules enforced before sending, exact formatting,
and the query builders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from alpaca_integration import models
from alpaca_integration.alpaca.requests import (
    activities_query,
    build_order_body,
    build_replace_body,
    decimal_text,
    orders_query,
    validate_order_request,
)
from alpaca_integration.errors import OrderValidationError
from alpaca_integration.models import OrderRequest, OrderType, ReplaceRequest, StopLoss, TakeProfit

D = Decimal
BUY = models.OrderSide.BUY
SELL = models.OrderSide.SELL

LIMIT_BUY = OrderRequest(
    symbol="AAPL", side=BUY, type=OrderType.LIMIT, qty=D("10"), limit_price=D("187.50")
)
BRACKET_BUY = OrderRequest(
    symbol="AMD",
    side=BUY,
    type=OrderType.LIMIT,
    qty=D("20"),
    limit_price=D("178.40"),
    order_class=models.OrderClass.BRACKET,
    take_profit=TakeProfit(limit_price=D("190")),
    stop_loss=StopLoss(stop_price=D("172")),
)
OCO_SELL = OrderRequest(
    symbol="INTC",
    side=SELL,
    type=OrderType.LIMIT,
    qty=D("50"),
    order_class=models.OrderClass.OCO,
    take_profit=TakeProfit(limit_price=D("46.50")),
    stop_loss=StopLoss(stop_price=D("41")),
)


def _with(base: OrderRequest, **changes: Any) -> OrderRequest:
    return msgspec.structs.replace(base, **changes)


# --------------------------------------------------------------------------- bodies


def test_limit_body_has_alpacas_fields_as_strings() -> None:
    """A limit order body: enums as Alpaca spells them, numbers as plain decimal strings."""
    body = build_order_body(_with(LIMIT_BUY, client_order_id="ai-1"))
    assert body == {
        "symbol": "AAPL",
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "qty": "10",
        "limit_price": "187.5",
        "client_order_id": "ai-1",
    }


def test_bracket_body_nests_both_legs() -> None:
    """A bracket body carries order_class and the take_profit / stop_loss objects."""
    body = build_order_body(
        _with(BRACKET_BUY, stop_loss=StopLoss(stop_price=D("172"), limit_price=D("171.5")))
    )
    assert body["order_class"] == "bracket"
    assert body["take_profit"] == {"limit_price": "190"}
    assert body["stop_loss"] == {"stop_price": "172", "limit_price": "171.5"}


def test_optional_fields_are_omitted_not_null() -> None:
    """Fields not set are left out of the body (no nulls, no extended_hours=false)."""
    body = build_order_body(OrderRequest(symbol="AAPL", side=BUY, qty=D("1")))
    assert body == {
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "qty": "1",
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("1E+2"), "100"),
        (D("100.000"), "100"),
        (D("0.00001"), "0.00001"),
        (D("1.50"), "1.5"),
        (D("-0"), "0"),
        (D("123456789.123456789"), "123456789.123456789"),
    ],
)
def test_decimal_text_is_plain_notation(value: Decimal, text: str) -> None:
    """Decimals are sent normalized, without exponent."""
    assert decimal_text(value) == text


def test_build_validates_first() -> None:
    """build_order_body refuses an invalid intent with the same error as validate."""
    bad = _with(LIMIT_BUY, limit_price=None)
    with pytest.raises(OrderValidationError, match="limit_price"):
        build_order_body(bad)


def test_strings_and_ints_are_accepted_as_numbers() -> None:
    """qty and prices given as int or numeric text are converted exactly."""
    body = build_order_body(_with(LIMIT_BUY, qty=7, limit_price="187.25"))  # type: ignore[arg-type]
    assert (body["qty"], body["limit_price"]) == ("7", "187.25")


# --------------------------------------------------------------------------- each rule fails clearly

# A market sell of one share, and the same as a trailing stop with no trail yet: bases to break.
SELL_ONE = OrderRequest(symbol="T", side=SELL, qty=D("1"))
TRAILING_SELL = _with(SELL_ONE, type=OrderType.TRAILING_STOP)

RULE_VIOLATIONS: dict[str, tuple[OrderRequest, str, str]] = {
    # name: (intent, field, message fragment)
    "sub-penny above $1": (
        _with(LIMIT_BUY, limit_price=D("187.555")),
        "limit_price",
        "at most 2 decimals .* round it, e.g. to 187.56",
    ),
    "sub-penny below $1": (
        _with(LIMIT_BUY, limit_price=D("0.12345")),
        "limit_price",
        "at most 4 decimals for prices below \\$1",
    ),
    "sub-penny stop": (
        _with(SELL_ONE, type=OrderType.STOP, stop_price=D("16.001")),
        "stop_price",
        "sub-penny",
    ),
    "qty and notional": (
        _with(LIMIT_BUY, notional=D("100")),
        "notional",
        "both qty and notional are set",
    ),
    "neither qty nor notional": (
        _with(LIMIT_BUY, qty=None),
        "qty",
        "neither qty nor notional",
    ),
    "notional limit order": (
        _with(LIMIT_BUY, qty=None, notional=D("100")),
        "notional",
        "must be market orders with time_in_force day",
    ),
    "notional gtc": (
        OrderRequest(
            symbol="SPY", side=BUY, notional=D("100"), time_in_force=models.TimeInForce.GTC
        ),
        "notional",
        "market/gtc",
    ),
    "zero qty": (_with(LIMIT_BUY, qty=D("0")), "qty", "must be greater than 0"),
    "negative qty": (_with(LIMIT_BUY, qty=D("-3")), "qty", "must be greater than 0"),
    "float qty": (_with(LIMIT_BUY, qty=1.5), "qty", "float 1.5"),
    "nan price": (_with(LIMIT_BUY, limit_price=D("NaN")), "limit_price", "not a finite number"),
    "limit without price": (_with(LIMIT_BUY, limit_price=None), "limit_price", "is required"),
    "stop limit without stop": (
        _with(LIMIT_BUY, type=OrderType.STOP_LIMIT),
        "stop_price",
        "is required for stop_limit",
    ),
    "stop without stop": (
        _with(SELL_ONE, type=OrderType.STOP),
        "stop_price",
        "is required for stop",
    ),
    "limit price on a market order": (
        OrderRequest(symbol="T", side=BUY, qty=D("1"), limit_price=D("10")),
        "limit_price",
        "only used by limit and stop_limit",
    ),
    "stop price on a trailing stop": (
        _with(TRAILING_SELL, trail_percent=D("2"), stop_price=D("10")),
        "stop_price",
        "set by the venue",
    ),
    "trailing stop with both trails": (
        _with(TRAILING_SELL, trail_percent=D("2"), trail_price=D("1")),
        "trail_price",
        "exactly one of trail_price and trail_percent",
    ),
    "trailing stop with no trail": (
        TRAILING_SELL,
        "trail_price",
        "exactly one",
    ),
    "trail on a limit order": (
        _with(LIMIT_BUY, trail_percent=D("1")),
        "trail_percent",
        "only used by trailing_stop",
    ),
    "trail percent of 100": (
        _with(TRAILING_SELL, trail_percent=D("100")),
        "trail_percent",
        "not below 100",
    ),
    "bracket buy with stop above take profit": (
        _with(
            BRACKET_BUY,
            take_profit=TakeProfit(limit_price=D("170")),
            limit_price=None,
            type=OrderType.MARKET,
        ),
        "take_profit.limit_price",
        "170 must be above stop_loss.stop_price 172",
    ),
    "bracket sell with take profit above stop": (
        _with(
            BRACKET_BUY,
            side=SELL,
            limit_price=None,
            type=OrderType.MARKET,
        ),
        "take_profit.limit_price",
        "190 must be below stop_loss.stop_price 172 .* closing a short",
    ),
    "bracket buy take profit below entry": (
        _with(BRACKET_BUY, take_profit=TakeProfit(limit_price=D("178"))),
        "take_profit.limit_price",
        "above the entry limit_price 178.4",
    ),
    "bracket buy stop above entry": (
        _with(BRACKET_BUY, stop_loss=StopLoss(stop_price=D("179"))),
        "stop_loss.stop_price",
        "below the entry limit_price 178.4",
    ),
    "bracket sell stop below entry": (
        _with(
            BRACKET_BUY,
            side=SELL,
            limit_price=D("178.40"),
            take_profit=TakeProfit(limit_price=D("170")),
            stop_loss=StopLoss(stop_price=D("178")),
        ),
        "stop_loss.stop_price",
        "above the entry limit_price",
    ),
    "bracket missing stop loss": (
        _with(BRACKET_BUY, stop_loss=None),
        "stop_loss",
        "needs both take_profit and stop_loss",
    ),
    "bracket missing take profit": (
        _with(BRACKET_BUY, take_profit=None),
        "take_profit",
        "needs both",
    ),
    "bracket ioc": (
        _with(BRACKET_BUY, time_in_force=models.TimeInForce.IOC),
        "time_in_force",
        "day or gtc",
    ),
    "oto with both legs": (
        _with(BRACKET_BUY, order_class=models.OrderClass.OTO),
        "take_profit",
        "exactly one of take_profit and stop_loss",
    ),
    "oto with no leg": (
        _with(BRACKET_BUY, order_class=models.OrderClass.OTO, take_profit=None, stop_loss=None),
        "stop_loss",
        "exactly one",
    ),
    "oco missing take profit": (
        _with(OCO_SELL, take_profit=None),
        "take_profit",
        "oco order needs both",
    ),
    "oco market": (
        _with(OCO_SELL, type=OrderType.MARKET),
        "type",
        "oco order must have type limit",
    ),
    "oco sell with stop above take profit": (
        _with(OCO_SELL, stop_loss=StopLoss(stop_price=D("47"))),
        "take_profit.limit_price",
        "above stop_loss.stop_price 47 for this oco order closing a long",
    ),
    "legs on a simple order": (
        _with(LIMIT_BUY, take_profit=TakeProfit(limit_price=D("200"))),
        "order_class",
        "set order_class to bracket",
    ),
    "mleg intent": (
        _with(LIMIT_BUY, order_class=models.OrderClass.MLEG),
        "order_class",
        "mleg",
    ),
    "extended hours market": (
        OrderRequest(symbol="T", side=BUY, qty=D("1"), extended_hours=True),
        "extended_hours",
        "must be limit orders",
    ),
    "extended hours ioc": (
        _with(LIMIT_BUY, extended_hours=True, time_in_force=models.TimeInForce.IOC),
        "extended_hours",
        "day or gtc, got limit/ioc",
    ),
    "extended hours bracket": (
        _with(BRACKET_BUY, extended_hours=True),
        "extended_hours",
        "must be simple",
    ),
    "client order id too long": (
        _with(LIMIT_BUY, client_order_id="x" * 129),
        "client_order_id",
        "129 characters long; Alpaca allows at most 128",
    ),
    "empty symbol": (_with(LIMIT_BUY, symbol="  "), "symbol", "is empty"),
    "unknown side": (_with(LIMIT_BUY, side="hold"), "side", "'hold' is not a valid side"),
    "unknown time in force": (
        _with(LIMIT_BUY, time_in_force="gtd"),
        "time_in_force",
        "use one of day, gtc",
    ),
}


@pytest.mark.parametrize("rule", sorted(RULE_VIOLATIONS))
def test_each_rule_violation_fails_with_a_clear_message(rule: str) -> None:
    """Every order rule has a failing intent; the error names the field and says the fix."""
    intent, field, fragment = RULE_VIOLATIONS[rule]
    with pytest.raises(OrderValidationError, match=fragment) as caught:
        validate_order_request(intent)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert "Fix: " in str(caught.value)


@pytest.mark.parametrize(
    "intent",
    [
        _with(LIMIT_BUY, limit_price=D("187.50")),
        _with(LIMIT_BUY, limit_price=D("187.5000")),
        _with(LIMIT_BUY, limit_price=D("0.1234")),
        _with(LIMIT_BUY, limit_price=D("1.00")),
        _with(LIMIT_BUY, client_order_id="x" * 128),
        _with(LIMIT_BUY, client_order_id=""),
        BRACKET_BUY,
        _with(BRACKET_BUY, type=OrderType.MARKET, limit_price=None),
        OCO_SELL,
        _with(
            OCO_SELL,
            side=BUY,
            take_profit=TakeProfit(limit_price=D("40")),
            stop_loss=StopLoss(stop_price=D("48")),
        ),
    ],
    ids=[
        "two decimals",
        "trailing zeros",
        "four decimals below $1",
        "round dollar",
        "128-char client id",
        "empty client id",
        "bracket buy",
        "bracket market entry",
        "oco sell",
        "oco buy (closing a short)",
    ],
)
def test_valid_edges_pass(intent: OrderRequest) -> None:
    """Values right at the rules' limits are accepted."""
    validate_order_request(intent)


def test_empty_client_order_id_is_left_out_for_the_client_to_fill() -> None:
    """An empty client_order_id is not sent (the client assigns one before the first attempt)."""
    assert "client_order_id" not in build_order_body(_with(LIMIT_BUY, client_order_id=""))


# --------------------------------------------------------------------------- replace


def test_replace_body() -> None:
    """A replace body holds only the changed fields, formatted like an order body."""
    body = build_replace_body(
        ReplaceRequest(qty=D("15.0"), limit_price=D("186.00"), time_in_force=models.TimeInForce.GTC)
    )
    assert body == {"qty": "15", "limit_price": "186", "time_in_force": "gtc"}


@pytest.mark.parametrize(
    ("replace", "field", "fragment"),
    [
        (ReplaceRequest(), "qty", "changes nothing"),
        (ReplaceRequest(client_order_id="ai-2"), "qty", "changes nothing"),
        (ReplaceRequest(qty=D("0")), "qty", "greater than 0"),
        (ReplaceRequest(limit_price=D("10.001")), "limit_price", "sub-penny"),
        (ReplaceRequest(stop_price=D("0.00001")), "stop_price", "at most 4 decimals"),
        (ReplaceRequest(trail=D("-1")), "trail", "greater than 0"),
        (ReplaceRequest(qty=D("1"), client_order_id="y" * 200), "client_order_id", "at most 128"),
    ],
)
def test_replace_rules_fail_clearly(replace: ReplaceRequest, field: str, fragment: str) -> None:
    """Replace intents that change nothing or break a price rule are refused before sending."""
    with pytest.raises(OrderValidationError, match=fragment) as caught:
        build_replace_body(replace)
    assert caught.value.field == field


# --------------------------------------------------------------------------- queries


def test_orders_query_formats_every_parameter() -> None:
    """GET /v2/orders parameters: RFC 3339 UTC with Z, booleans, comma-joined symbols."""
    new_york = dt.timezone(dt.timedelta(hours=-4))
    query = orders_query(
        status="all",
        limit=500,
        after=dt.datetime(2024, 3, 15, 9, 30, tzinfo=new_york),
        until=dt.datetime(2024, 3, 15, 20, 0, 0, 250000, tzinfo=dt.UTC),
        direction="asc",
        nested=True,
        symbols=["aapl", "MSFT"],
        side=SELL,
    )
    assert query == {
        "status": "all",
        "limit": "500",
        "after": "2024-03-15T13:30:00Z",
        "until": "2024-03-15T20:00:00.250000Z",
        "direction": "asc",
        "nested": "true",
        "symbols": "AAPL,MSFT",
        "side": "sell",
    }
    assert orders_query() == {}
    assert orders_query(nested=False, symbols="SPY") == {"nested": "false", "symbols": "SPY"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"status": "opened"}, "status must be one of open, closed, all"),
        ({"limit": 501}, "limit must be a whole number from 1 to 500"),
        ({"limit": 0}, "from 1 to 500"),
        ({"after": dt.datetime(2024, 3, 15, 9, 30)}, "after .* has no timezone"),
        ({"direction": "up"}, "direction must be one of asc, desc"),
        ({"symbols": []}, "symbols is empty"),
        ({"side": "short"}, "side must be one of buy, sell"),
    ],
)
def test_orders_query_rejects_bad_arguments(kwargs: dict[str, Any], fragment: str) -> None:
    """A bad query argument is a ValueError naming the parameter and the allowed values."""
    with pytest.raises(ValueError, match=fragment):
        orders_query(**kwargs)


def test_activities_query_formats_every_parameter() -> None:
    """GET /v2/account/activities parameters, types upper-cased and comma-joined."""
    assert activities_query(
        activity_types=["fill", "FEE"],
        after=dt.datetime(2024, 3, 15, tzinfo=dt.UTC),
        until=dt.date(2024, 3, 16),
        direction="desc",
        page_size=100,
        page_token="20240315093012345::0c6c1d2e",
    ) == {
        "activity_types": "FILL,FEE",
        "after": "2024-03-15T00:00:00Z",
        "until": "2024-03-16",
        "direction": "desc",
        "page_size": "100",
        "page_token": "20240315093012345::0c6c1d2e",
    }
    assert activities_query(date=dt.date(2024, 3, 15)) == {"date": "2024-03-15"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"date": dt.date(2024, 3, 15), "after": dt.date(2024, 3, 1)}, "date cannot be combined"),
        ({"page_size": 101}, "page_size must be a whole number from 1 to 100"),
        ({"activity_types": "FILL;DROP"}, "is not an activity type"),
        ({"page_token": ""}, "page_token is empty"),
        ({"date": dt.datetime(2024, 3, 15, tzinfo=dt.UTC)}, "date must be a datetime.date"),
    ],
)
def test_activities_query_rejects_bad_arguments(kwargs: dict[str, Any], fragment: str) -> None:
    """Bad activities query arguments fail before any request."""
    with pytest.raises(ValueError, match=fragment):
        activities_query(**kwargs)
