"""Fakes for the client's unit tests: a fake clock whose sleep advances it, payload builders in
Alpaca's wire shape, and a scriptable venue behind ``httpx.MockTransport``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

KEY_ID = "PKTESTKEY0001"
SECRET = "s3cr3t-VALUE-never-to-be-seen"
BASE_URL = "https://paper.example.test"
EPOCH = 1_750_000_000.0


class FakeClock:
    """UNIX time that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start: float = EPOCH) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
    body: dict[str, Any] = {
        "id": order_id or str(uuid.uuid4()),
        "client_order_id": client_order_id or f"cid-{uuid.uuid4().hex[:12]}",
        "created_at": text,
        "updated_at": text,
        "submitted_at": text,
        "filled_at": None,
        "expired_at": None,
        "canceled_at": None,
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
        "symbol": symbol,
        "asset_class": "us_equity",
        "notional": None,
        "qty": qty,
        "filled_qty": "0",
        "filled_avg_price": None,
        "order_class": "",
        "order_type": "limit",
        "type": "limit",
        "side": side,
        "time_in_force": "day",
        "limit_price": "187.5",
        "stop_price": None,
        "status": status,
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
    }
    body.update(extra)
    return body


def account_json() -> dict[str, Any]:
    return {
        "id": "904837e3-3b76-47ec-b432-046db621571b",
        "account_number": "PA1234567",
        "status": "ACTIVE",
        "currency": "USD",
        "cash": "100000.00",
        "portfolio_value": "100000.00",
        "equity": "100000.00",
        "last_equity": "100000.00",
        "buying_power": "400000.00",
        "regt_buying_power": "200000.00",
        "daytrading_buying_power": "400000.00",
        "non_marginable_buying_power": "100000.00",
        "long_market_value": "0",
        "short_market_value": "0",
        "initial_margin": "0",
        "maintenance_margin": "0",
        "last_maintenance_margin": "0",
        "multiplier": "4",
        "sma": "0",
        "daytrade_count": 0,
        "accrued_fees": "0",
        "pattern_day_trader": False,
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "shorting_enabled": True,
        "trade_suspended_by_user": False,
        "created_at": "2024-01-02T15:04:05.123456Z",
    }


def fill_activity_json(activity_id: str, *, order_id: str = "o-1") -> dict[str, Any]:
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
    }


def json_response(
    status: int, body: Any = None, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers or {})


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeVenue:
    """Answers from a queue of scripted handlers (one per request), recording every request."""

    script: list[Handler | httpx.Response | Exception] = field(default_factory=list)
    fallback: Handler | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            step = self.script.pop(0)
        elif self.fallback is not None:
            step = self.fallback
        else:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.content]
