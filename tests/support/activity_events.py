"""Payloads of Alpaca's activities event stream (``ActivityEventV2``) and their SSE frames, for
the client and sync tests: a sell's FILL (2 of an order's 5, completing it) and its FEE."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["AT", "EXECUTION", "FEE_EVENT", "FILL_EVENT", "ORDER", "sse_frame"]

AT = "2026-03-02T15:04:05.123456Z"
ORDER = "0b0b0b0b-0000-4000-8000-000000000002"
EXECUTION = "8e6c1f9c-0000-4000-8000-000000000001"

_COMMON = {"at": AT, "executed_at": AT, "status": "executed", "settle_date": "2026-03-03"}

FILL_EVENT: dict[str, Any] = {
    **_COMMON,
    "event_id": "01JQ0000000000000000000001",
    "activity_type": "FILL",
    "currency": "USD",
    "ref_id": EXECUTION,
    "price": "190.5",
    "qty": "2",
    "details": {
        "order_id": ORDER,
        "side": "sell",
        "symbol": "AAPL",
        "asset_id": "0c0c0c0c-0000-4000-8000-000000000003",
        "leaves_qty": "0",
        "cum_qty": "5",
        "order_status": "filled",
        "execution_type": "fill",
        "client_order_id": "mine-1",
    },
}
FEE_EVENT: dict[str, Any] = {
    **_COMMON,
    "event_id": "01JQ0000000000000000000002",
    "activity_type": "FEE",
    "activity_subtype": "REG",
    "currency": "USD",
    "ref_id": "5241d6f5-8ff5-4e98-844c-a5655a740321",
    "net_amount": "-0.03",
    "details": {
        "system_date": "2026-03-02",
        "symbol": "AAPL",
        "order_id": ORDER,
        "parent_id": ORDER,
        "description": "Regulatory fees",
    },
}


def sse_frame(event: dict[str, Any]) -> bytes:
    """One event as the stream sends it: its id line, its data line, a blank line."""
    return f"id: {event['event_id']}\ndata: {json.dumps(event)}\n\n".encode()
