"""Alpaca's rules per asset class, applied before sending: option, crypto and multi-leg orders
and their replaces. Every refusal names the field, says why, and says the fix."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from alpaca_integration import models
from alpaca_integration.alpaca.requests import (
    build_order_body,
    build_replace_body,
    replace_needs_order,
    replaced_intent,
    validate_order_request,
)
from alpaca_integration.errors import OrderValidationError
from alpaca_integration.models import OrderType, ReplaceRequest, TimeInForce
from support.correctness_factories import make_mleg_order, make_order
from support.option_requests import CALL, CALL_HIGH
from support.option_requests import CALL_SPREAD as SPREAD

D = Decimal
BUY, SELL = models.OrderSide.BUY, models.OrderSide.SELL
OPTION_BUY = models.OrderRequest(
    symbol=CALL, side=BUY, type=OrderType.LIMIT, qty=D(2), limit_price=D("4.05")
)
CRYPTO_BUY = models.OrderRequest(
    symbol="BTC/USD", side=BUY, time_in_force=TimeInForce.GTC, qty=D("0.0001")
)


def _with(intent: models.OrderIntent, **changes: object) -> models.OrderIntent:
    return msgspec.structs.replace(intent, **changes)


def _leg(
    symbol: str, side: models.OrderSide | None = BUY, **more: object
) -> models.OptionLegRequest:
    return models.OptionLegRequest(symbol=symbol, side=side, **more)  # type: ignore[arg-type]


def test_an_option_order_is_sent_in_whole_contracts_for_the_day() -> None:
    """A limit buy of 2 contracts is sent as Alpaca's options example has it."""
    assert build_order_body(OPTION_BUY) == {
        "symbol": CALL,
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "qty": "2",
        "limit_price": "4.05",
    }


def test_a_crypto_order_takes_fractions_notional_and_fine_prices() -> None:
    """Crypto: a fractional gtc qty, a notional ioc market order, a limit with 9 decimals."""
    assert build_order_body(CRYPTO_BUY)["qty"] == "0.0001"
    notional = _with(CRYPTO_BUY, qty=None, notional=D("25.5"), time_in_force=TimeInForce.IOC)
    assert build_order_body(notional)["notional"] == "25.5"
    fine = _with(CRYPTO_BUY, symbol="SHIB/USD", type=OrderType.LIMIT, limit_price=D("0.00001234"))
    assert build_order_body(fine)["limit_price"] == "0.00001234"


def test_a_multi_leg_order_is_sent_with_its_legs_and_a_net_price() -> None:
    """An mleg body: class mleg, whole qty, each leg's symbol, ratio, side and intent (the side
    read from the intent when not given)."""
    assert build_order_body(SPREAD) == {
        "order_class": "mleg",
        "qty": "1",
        "type": "limit",
        "time_in_force": "day",
        "limit_price": "3.5",
        "legs": [
            {"symbol": CALL, "ratio_qty": "1", "side": "buy", "position_intent": "buy_to_open"},
            {
                "symbol": CALL_HIGH,
                "ratio_qty": "1",
                "side": "sell",
                "position_intent": "sell_to_open",
            },
        ],
    }
    credit = _with(SPREAD, limit_price=D("-1.25"))
    assert build_order_body(credit)["limit_price"] == "-1.25"


REFUSALS: dict[str, tuple[models.OrderIntent, str, str]] = {
    # options
    "bad OCC expiry": (_with(OPTION_BUY, symbol="AAPL251332C00195000"), "symbol", "not a date"),
    "bad OCC shape": (
        _with(OPTION_BUY, symbol="AAPL250620X00195000"),
        "symbol",
        "not a valid option contract symbol",
    ),
    "fractional option qty": (_with(OPTION_BUY, qty=D("1.5")), "qty", "whole contracts"),
    "option notional": (
        _with(OPTION_BUY, qty=None, notional=D(500), type=OrderType.MARKET, limit_price=None),
        "notional",
        "cannot be sized in dollars",
    ),
    "option gtc": (_with(OPTION_BUY, time_in_force=TimeInForce.GTC), "time_in_force", "day"),
    "option extended hours": (
        _with(OPTION_BUY, extended_hours=True),
        "extended_hours",
        "cannot be extended-hours",
    ),
    "option stop": (
        _with(OPTION_BUY, type=OrderType.STOP, limit_price=None, stop_price=D(3)),
        "type",
        "limit, market",
    ),
    "option sub-cent": (_with(OPTION_BUY, limit_price=D("0.255")), "limit_price", "a cent"),
    "option bracket": (
        _with(OPTION_BUY, order_class=models.OrderClass.BRACKET),
        "order_class",
        "MultiLegOrderRequest",
    ),
    # crypto
    "crypto day": (_with(CRYPTO_BUY, time_in_force=TimeInForce.DAY), "time_in_force", "gtc"),
    "crypto opg": (_with(CRYPTO_BUY, time_in_force=TimeInForce.OPG), "time_in_force", "gtc"),
    "crypto cls": (_with(CRYPTO_BUY, time_in_force=TimeInForce.CLS), "time_in_force", "gtc"),
    "crypto trailing stop": (
        _with(CRYPTO_BUY, type=OrderType.TRAILING_STOP, trail_percent=D(1)),
        "type",
        "market, stop_limit",
    ),
    "crypto extended hours": (
        _with(CRYPTO_BUY, type=OrderType.LIMIT, limit_price=D(60000), extended_hours=True),
        "extended_hours",
        "around the clock",
    ),
    "crypto ten decimals": (_with(CRYPTO_BUY, qty=D("0.0000000001")), "qty", "9 decimals"),
    "crypto notional limit": (
        _with(CRYPTO_BUY, qty=None, notional=D(100), type=OrderType.LIMIT, limit_price=D(60000)),
        "notional",
        "gtc/ioc",
    ),
    # multi-leg
    "mleg one leg": (_with(SPREAD, legs=SPREAD.legs[:1]), "legs", "2 to 4 legs, got 1"),
    "mleg five legs": (
        _with(SPREAD, legs=tuple(_leg(f"AAPL250620C00{200 + n}000") for n in range(5))),
        "legs",
        "got 5",
    ),
    "mleg fractional qty": (_with(SPREAD, qty=D("0.5")), "qty", "whole units"),
    "mleg fractional ratio": (
        _with(SPREAD, legs=(_leg(CALL, ratio_qty=D("1.5")), SPREAD.legs[1])),
        "legs[0].ratio_qty",
        "whole contracts",
    ),
    "mleg same contract twice": (
        _with(SPREAD, legs=(_leg(CALL), _leg(CALL, SELL))),
        "legs[1].symbol",
        "already a leg",
    ),
    "mleg two underlyings": (
        _with(SPREAD, legs=(_leg(CALL), _leg("MSFT250620C00450000", SELL))),
        "legs",
        "AAPL, MSFT",
    ),
    "mleg crypto leg": (
        _with(SPREAD, legs=(_leg(CALL), _leg("BTC/USD", SELL))),
        "legs[1].symbol",
        "cannot be a leg",
    ),
    "mleg bad OCC leg": (
        _with(SPREAD, legs=(_leg(CALL), _leg("AAPL250620C0020500", SELL))),
        "legs[1].symbol",
        "not a valid option contract symbol",
    ),
    "mleg leg without side": (
        _with(SPREAD, legs=(_leg(CALL, None), SPREAD.legs[1])),
        "legs[0].side",
        "side or a position_intent",
    ),
    "mleg contradicting intent": (
        _with(
            SPREAD,
            legs=(_leg(CALL, position_intent=models.PositionIntent.SELL_TO_OPEN), SPREAD.legs[1]),
        ),
        "legs[0].position_intent",
        "contradicts side buy",
    ),
    "mleg gtc": (_with(SPREAD, time_in_force=TimeInForce.GTC), "time_in_force", "day"),
    "mleg stop": (_with(SPREAD, type=OrderType.STOP), "type", "limit, market"),
    "mleg limit without price": (_with(SPREAD, limit_price=None), "limit_price", "required"),
    "mleg market with price": (_with(SPREAD, type=OrderType.MARKET), "limit_price", "only used"),
    "mleg sub-cent net price": (_with(SPREAD, limit_price=D("-1.255")), "limit_price", "a cent"),
    "mleg through OrderRequest": (
        _with(OPTION_BUY, order_class=models.OrderClass.MLEG),
        "order_class",
        "MultiLegOrderRequest",
    ),
}


@pytest.mark.parametrize("rule", sorted(REFUSALS))
def test_each_asset_class_rule_refuses_before_sending(rule: str) -> None:
    """Each option, crypto and multi-leg rule has a failing intent; the error names the field,
    says why and says the fix."""
    intent, field, fragment = REFUSALS[rule]
    with pytest.raises(OrderValidationError, match=fragment) as caught:
        validate_order_request(intent)
    assert caught.value.field == field
    assert "Fix: " in str(caught.value)


def _order(**fields: object) -> models.Order:
    """An open option limit buy of 2 contracts at 4.05, with ``fields`` changed."""
    option = {"symbol": CALL, "asset_class": models.AssetClass.US_OPTION, "qty": D(2)}
    return make_order(**{**option, "limit_price": D("4.05"), **fields})


MLEG_ORDER = make_mleg_order(CALL, CALL_HIGH, limit_price=D("3.50"))


def test_a_replace_keeps_the_rules_of_the_order_it_replaces() -> None:
    """Known to replace an option order: day only and whole contracts; a crypto order: gtc/ioc
    and fine prices; an mleg order: a negative net price is a credit, not an error."""
    option = _order()
    with pytest.raises(OrderValidationError, match="take time_in_force day"):
        build_replace_body(ReplaceRequest(time_in_force=TimeInForce.GTC), option)
    with pytest.raises(OrderValidationError, match="whole contracts"):
        build_replace_body(ReplaceRequest(qty=D("2.5")), option)
    crypto = _order(
        symbol="ETH/USD", asset_class=models.AssetClass.CRYPTO, time_in_force=TimeInForce.GTC
    )
    with pytest.raises(OrderValidationError, match="gtc, ioc"):
        build_replace_body(ReplaceRequest(time_in_force=TimeInForce.DAY), crypto)
    assert build_replace_body(ReplaceRequest(limit_price=D("2450.123")), crypto) == {
        "limit_price": "2450.123"
    }
    assert build_replace_body(ReplaceRequest(limit_price=D("-0.85")), MLEG_ORDER) == {
        "limit_price": "-0.85"
    }
    with pytest.raises(OrderValidationError, match="greater than 0"):
        build_replace_body(ReplaceRequest(limit_price=D("-0.85")))


def test_the_client_fetches_the_old_order_only_when_its_class_decides() -> None:
    """A whole qty or an equity-tick price is judged alone; a new time in force, a fraction, a
    negative or a finer price needs the order it replaces."""
    assert not replace_needs_order(ReplaceRequest(qty=D(5)))
    assert not replace_needs_order(ReplaceRequest(limit_price=D("187.25")))
    for change in (
        ReplaceRequest(time_in_force=TimeInForce.GTC),
        ReplaceRequest(qty=D("0.5")),
        ReplaceRequest(limit_price=D("-1.10")),
        ReplaceRequest(limit_price=D("187.255")),
    ):
        assert replace_needs_order(change), change


def test_an_mleg_replace_is_valued_as_the_strategy_it_becomes() -> None:
    """Replacing an mleg order gives the multi-leg intent with its legs, ratios and new terms."""
    intent = replaced_intent(MLEG_ORDER, ReplaceRequest(qty=D(5), limit_price=D("3.10")))
    assert isinstance(intent, models.MultiLegOrderRequest)
    assert (intent.qty, intent.limit_price, intent.type) == (D(5), D("3.10"), OrderType.LIMIT)
    assert [(leg.symbol, leg.ratio_qty, leg.side) for leg in intent.legs] == [
        (CALL, D(1), BUY),
        (CALL_HIGH, D(2), SELL),
    ]
    assert isinstance(replaced_intent(_order(), ReplaceRequest(qty=D(3))), models.OrderRequest)
