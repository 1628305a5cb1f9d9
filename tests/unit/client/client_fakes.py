"""Fakes for the client's unit tests: a fake clock whose sleep advances it, payload builders in
Alpaca's wire shape, and a scriptable venue behind ``httpx.MockTransport``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from support.correctness_factories import GOOD_STANDING

# Re-exported: the client tests import every payload builder from here.
from support.order_requests import limit_buy as limit_buy
from support.wire_json import fill_activity_json as fill_activity_json
from support.wire_json import iso as iso
from support.wire_json import order_json as order_json

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
        **GOOD_STANDING,
        "created_at": "2024-01-02T15:04:05.123456Z",
    }


def json_response(
    status: int, body: Any = None, *, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers or {})


Handler = Callable[[httpx.Request], httpx.Response]


# GET /v2/clock's answer.
CLOCK_BODY = {
    "timestamp": "2025-06-02T10:00:00.123456-04:00",
    "is_open": True,
    "next_open": "2025-06-03T09:30:00-04:00",
    "next_close": "2025-06-02T16:00:00-04:00",
}


def limited_once(
    clock: FakeClock, sent_at: list[float], headers: dict[str, str]
) -> Callable[..., httpx.Response]:
    """A venue answering the first request 429 with ``headers``, every later one 200."""

    def answer(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.now)
        if len(sent_at) == 1:
            return httpx.Response(429, content=b"Too Many Requests", headers=headers)
        return json_response(200, CLOCK_BODY)

    return answer


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
