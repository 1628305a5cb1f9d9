"""The option contracts and the option order requests the tests use again and again."""

from __future__ import annotations

from decimal import Decimal

from alpaca_integration.models import (
    MultiLegOrderRequest,
    OptionLegRequest,
    OrderSide,
    OrderType,
    PositionIntent,
)

__all__ = ["CALL", "CALL_HIGH", "CALL_SPREAD"]

# The two AAPL calls of June 2025 (strikes 195 and 205) the canned option payloads list.
CALL = "AAPL250620C00195000"
CALL_HIGH = "AAPL250620C00205000"

# One unit of a call debit spread at a net limit of 3.50: buy CALL and sell CALL_HIGH, to open
# (the second leg names only its position intent, no side).
CALL_SPREAD = MultiLegOrderRequest(
    legs=(
        OptionLegRequest(
            symbol=CALL, side=OrderSide.BUY, position_intent=PositionIntent.BUY_TO_OPEN
        ),
        OptionLegRequest(symbol=CALL_HIGH, position_intent=PositionIntent.SELL_TO_OPEN),
    ),
    qty=Decimal(1),
    type=OrderType.LIMIT,
    limit_price=Decimal("3.50"),
)
