"""Absurd sizes and prices are refused before sending, with the bound in the message (issue 11
item 9: ``--qty 99999999999999999999999999999999`` got a 500 and was looked up and resent)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from alpaca_integration import models
from alpaca_integration.alpaca.requests import (
    MAX_ORDER_NOTIONAL,
    MAX_ORDER_QTY,
    MAX_PRICE,
    validate_order_request,
    validate_replace_request,
)
from alpaca_integration.errors import OrderValidationError
from alpaca_integration.models import OrderRequest, OrderType

D = Decimal
HUGE = ["99999999999999999999999999999999", "1e999999", "1E+30"]


def _buy(**fields: Any) -> OrderRequest:
    """A buy of AAPL with ``fields`` (size, type, prices, class, legs)."""
    return OrderRequest(symbol="AAPL", side=models.OrderSide.BUY, **fields)


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize(
    ("field", "bound"), [("qty", MAX_ORDER_QTY), ("notional", MAX_ORDER_NOTIONAL)]
)
def test_a_huge_size_is_refused_naming_the_bound(field: str, bound: Decimal, value: str) -> None:
    """A quantity beyond MAX_ORDER_QTY, or a notional beyond MAX_ORDER_NOTIONAL, fails
    validation; the message says the bound."""
    with pytest.raises(OrderValidationError) as info:
        validate_order_request(_buy(**{field: D(value)}))
    assert info.value.field == field
    assert f"{bound:,}" in str(info.value)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (_buy(type=OrderType.LIMIT, qty=D(1), limit_price=D("1e9")), "limit_price"),
        (_buy(type=OrderType.STOP, qty=D(1), stop_price=D("1e12")), "stop_price"),
        (_buy(type=OrderType.TRAILING_STOP, qty=D(1), trail_price=D("1e999999")), "trail_price"),
        (
            _buy(
                type=OrderType.LIMIT,
                qty=D(1),
                limit_price=D(100),
                order_class=models.OrderClass.BRACKET,
                take_profit=models.TakeProfit(limit_price=D("1e20")),
                stop_loss=models.StopLoss(stop_price=D(90)),
            ),
            "take_profit.limit_price",
        ),
    ],
)
def test_a_huge_price_is_refused_naming_the_bound(request_: OrderRequest, field: str) -> None:
    """Every price field beyond MAX_PRICE fails validation, naming the field and the bound."""
    with pytest.raises(OrderValidationError) as info:
        validate_order_request(request_)
    assert info.value.field == field
    assert f"{MAX_PRICE:,}" in str(info.value)


def test_a_quantity_with_more_decimals_than_the_venue_keeps_is_refused() -> None:
    """A quantity finer than 1e-9 (Alpaca's finest fraction) fails: 1e-999999 is not a size."""
    with pytest.raises(OrderValidationError) as info:
        validate_order_request(_buy(qty=D("1e-999999")))
    assert info.value.field == "qty"
    assert "9 decimals" in str(info.value)


def test_a_huge_replace_is_refused() -> None:
    """A replace to a huge quantity or price fails validation too."""
    with pytest.raises(OrderValidationError, match="qty"):
        validate_replace_request(models.ReplaceRequest(qty=D("1e40")))
    with pytest.raises(OrderValidationError, match="limit_price"):
        validate_replace_request(models.ReplaceRequest(limit_price=D("1e40")))


def test_sizes_at_the_bounds_pass() -> None:
    """The bounds themselves are accepted: the largest plausible order still goes."""
    validate_order_request(_buy(qty=MAX_ORDER_QTY))
    validate_order_request(_buy(notional=MAX_ORDER_NOTIONAL))
    validate_order_request(
        OrderRequest(
            symbol="BRK.A",
            side=models.OrderSide.BUY,
            type=OrderType.LIMIT,
            qty=D(1),
            limit_price=MAX_PRICE,
        )
    )
    validate_order_request(
        OrderRequest(symbol="BTCUSD", side=models.OrderSide.BUY, qty=D("0.000000001"))
    )
