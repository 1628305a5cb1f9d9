"""Fills for the stored-ledger tests (one execution per order, stored by the store's builders)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from alpaca_integration.models import Fill, OrderSide
from support.storage_builders import at, make_fill

__all__ = ["ledger_fill"]


def ledger_fill(n: int, side: str, qty: int, price: str, seconds: int, **kw: Any) -> Fill:
    """Execution ``x-<n>`` of order ``o-<n>``: ``qty`` at ``price``, ``seconds`` after T0;
    ``coid`` sets the client_order_id (the strategy tag), ``fee`` the fee."""
    return make_fill(
        fill_id=f"x-{n}",
        execution_id=f"x-{n}",
        order_id=f"o-{n}",
        client_order_id=kw.pop("coid", f"ai-o{n}"),
        side=OrderSide(side),
        qty=Decimal(qty),
        cum_qty=Decimal(qty),
        price=Decimal(price),
        timestamp=at(seconds),
        fee=Decimal(kw.pop("fee", "0")),
        **kw,
    )
