"""Payloads in Alpaca's wire shape (orders, FILL activities) for the client and sync tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

__all__ = [
    "fill_activity_json",
    "integration_order_json",
    "iso",
    "order_json",
    "portfolio_history_json",
]


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def order_json(
    order_id: str | None = None,
    *,
    submitted_at: dt.datetime | str | None = None,
    client_order_id: str | None = None,
    symbol: str = "AAPL",
    side: str = "buy",
    status: str = "new",
    qty: str = "10",
    **extra: Any,
) -> dict[str, Any]:
    """One order as Alpaca sends it."""
    stamp = submitted_at or dt.datetime(2025, 6, 2, 14, 30, tzinfo=dt.UTC)
    text = stamp if isinstance(stamp, str) else iso(stamp)
    null = (
        "filled_at expired_at canceled_at failed_at replaced_at replaced_by replaces notional"
        " filled_avg_price stop_price legs trail_percent trail_price hwm"
    )
    body: dict[str, Any] = dict.fromkeys(null.split()) | {
        "id": order_id or str(uuid.uuid4()),
        "client_order_id": client_order_id or f"cid-{uuid.uuid4().hex[:12]}",
        "created_at": text,
        "updated_at": text,
        "submitted_at": text,
        "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
        "symbol": symbol,
        "asset_class": "us_equity",
        "qty": qty,
        "filled_qty": "0",
        "order_class": "",
        "order_type": "limit",
        "type": "limit",
        "side": side,
        "time_in_force": "day",
        "limit_price": "187.5",
        "status": status,
        "extended_hours": False,
    }
    body.update(extra)
    return body


def integration_order_json(
    order_id: str, at: dt.datetime, status: str = "new", **extra: Any
) -> dict[str, Any]:
    """An order the integration placed (client id ``ai-<id>``): a limit buy at 100, good till
    canceled, submitted at ``at``; ``extra`` overrides keys."""
    return order_json(
        order_id,
        submitted_at=at,
        client_order_id=f"ai-{order_id}",
        status=status,
        time_in_force="gtc",
        limit_price="100",
        **extra,
    )


def fill_activity_json(activity_id: str, *, order_id: str = "o-1", **extra: Any) -> dict[str, Any]:
    """A FILL activity of 10 AAPL bought at 187.5 for ``order_id``; ``extra`` overrides keys."""
    return {
        "id": activity_id,
        "activity_type": "FILL",
        "transaction_time": "2025-06-02T14:30:00.123456Z",
        "type": "fill",
        "price": "187.5",
        "qty": "10",
        "side": "buy",
        "symbol": "AAPL",
        "leaves_qty": "0",
        "cum_qty": "10",
        "order_id": order_id,
        "order_status": "filled",
        **extra,
    }


def portfolio_history_json(**overrides: Any) -> dict[str, Any]:
    """GET /v2/account/portfolio/history of two daily points (100,000 then 100,250.50);
    ``overrides`` replace keys."""
    return {
        "timestamp": [1748872800, 1748959200],
        "equity": [100000, 100250.5],
        "profit_loss": [0, 250.5],
        "profit_loss_pct": [0, 0.002505],
        "base_value": 100000,
        "timeframe": "1D",
        **overrides,
    }
