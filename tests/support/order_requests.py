"""Order requests the tests place again and again."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from alpaca_integration.models import OrderRequest, OrderSide, OrderType

__all__ = ["limit_buy"]


def limit_buy(qty: str, price: str, symbol: str = "AAPL", **extra: Any) -> OrderRequest:
    """A limit buy of ``qty`` ``symbol`` at ``price`` (a day order unless ``extra`` says)."""
    return OrderRequest(
        symbol=symbol,
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        qty=Decimal(qty),
        limit_price=Decimal(price),
        **extra,
    )
