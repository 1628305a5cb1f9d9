"""A paged Alpaca venue on ``httpx.MockTransport`` for sync tests: orders by exclusive ``after``
on ``submitted_at``, activities by ``page_token``, single orders by id; JSON builders for orders,
FILL and FEE activities; a real SQLite store and an engine on a fixed clock."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.alpaca.ratelimit import UnlimitedRateBudget
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import SyncEngine
from support.wire_json import fill_activity_json, integration_order_json

# The orders the engine syncs: the integration's limit buys (re-exported for the sync tests).
order_json = integration_order_json

ACCOUNT = "default"
T0 = dt.datetime(2025, 6, 2, 14, 30, tzinfo=dt.UTC)


def _ts(at: dt.datetime) -> str:
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


def fill_json(activity_id: str, order_id: str, at: dt.datetime, **extra: Any) -> dict[str, Any]:
    """The FILL activity of ``order_id`` at 100 (``extra`` overrides keys)."""
    fields = {"transaction_time": _ts(at), "price": "100", **extra}
    return fill_activity_json(activity_id, order_id=order_id, **fields)


def fee_json(activity_id: str, order_id: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "id": activity_id,
        "activity_type": "FEE",
        "activity_sub_type": "REG",
        "date": at.date().isoformat(),
        "transaction_time": _ts(at),
        "net_amount": "-0.05",
        "symbol": "AAPL",
        "order_id": order_id,
        "status": "executed",
        "description": "REG fee",
    }


class PagedVenue:
    """``GET /v2/orders`` and ``GET /v2/account/activities`` over fixed lists, paged like Alpaca
    (ascending only, which is what the engine asks for)."""

    def __init__(
        self,
        orders: list[dict[str, Any]],
        activities: list[dict[str, Any]],
        *,
        account: dict[str, Any] | None = None,
        positions: list[dict[str, Any]] | None = None,
    ) -> None:
        self.orders = sorted(orders, key=lambda o: (o["submitted_at"], o["id"]))
        self.activities = sorted(activities, key=lambda a: a["id"])
        self.account = account
        self.positions = positions or []
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = dict(request.url.params)
        path = request.url.path
        if path == "/v2/orders":
            return _page(self.orders, "submitted_at", params, "after", "limit", 50)
        if path.startswith("/v2/orders/"):
            wanted = path.rsplit("/", 1)[-1]
            for order in self.orders:
                if order["id"] == wanted:
                    return _json(order)
            return httpx.Response(404, content=b'{"code": 40410000, "message": "not found"}')
        if path == "/v2/account" and self.account is not None:
            return _json(self.account)
        if path == "/v2/positions":
            return _json(self.positions)
        if path == "/v2/account/activities":
            return _page(self.activities, "id", params, "page_token", "page_size", 100)
        raise AssertionError(f"unexpected request {request.method} {request.url}")


def _json(body: Any) -> httpx.Response:
    return httpx.Response(200, content=json.dumps(body).encode())


def _page(
    rows: list[dict[str, Any]],
    key: str,
    params: dict[str, str],
    cursor: str,
    size: str,
    default_size: int,
) -> httpx.Response:
    """One page of ``rows`` (sorted on ``key``): those whose ``key`` is past the ``cursor``
    parameter, at most the ``size`` parameter (or ``default_size``) of them."""
    if cursor in params:
        rows = [row for row in rows if row[key] > params[cursor]]
    return _json(rows[: int(params.get(size, default_size))])


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


def client_on(venue: Callable[[httpx.Request], httpx.Response]) -> AlpacaClient:
    """A client with no rate budget whose every request ``venue`` answers."""
    return AlpacaClient(
        "KEY",
        "SECRET",
        "https://venue.test",
        rate_budget=UnlimitedRateBudget(),
        transport=httpx.MockTransport(venue),
    )


def engine_for(client: AlpacaClient, store: Store, **options: Any) -> SyncEngine:
    # A fixed clock a day after the data keeps the validation's "not in the future" rule quiet.
    return SyncEngine(ACCOUNT, client, store, now=lambda: T0 + dt.timedelta(days=1), **options)
