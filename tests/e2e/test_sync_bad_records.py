"""A bad record among good ones, end to end: the simulator's REST answers pass through a transport
that gives one order a status this package does not know. The sync must store every other order
and fill, write the bad order to ``quarantine`` with its raw payload and the reason, complete, and
add no second quarantine row when it runs again. Real PostgreSQL store."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from alpaca_integration.alpaca.client import AlpacaClient, RetryPolicy
from alpaca_integration.models import OrderRequest, OrderSide
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import SyncEngine

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ACCOUNT = "default"
UNKNOWN_STATUS = "teleported"


class CorruptingTransport(httpx.AsyncBaseTransport):
    """Forwards to the simulator; in ``GET /v2/orders...`` answers the orders in ``bad_ids`` get
    an unknown status (as if the venue had introduced a new one)."""

    def __init__(self, bad_ids: set[str]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bad_ids = bad_ids

    def _corrupt(self, item: object) -> object:
        if isinstance(item, dict) and item.get("id") in self.bad_ids:
            return {**item, "status": UNKNOWN_STATUS}
        return item

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "GET" or not request.url.path.startswith("/v2/orders"):
            return response
        body = json.loads(await response.aread())
        if isinstance(body, list):
            body = [self._corrupt(item) for item in body]
        else:
            body = self._corrupt(body)
        headers = {
            k: v for k, v in response.headers.items() if k.lower() not in ("content-length",)
        }
        return httpx.Response(
            response.status_code, headers=headers, content=json.dumps(body).encode()
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_one_order_with_an_unknown_status_never_blocks_a_sync(
    simulator: SimulatorHandle, store: Store
) -> None:
    """The bad order is a quarantine row (raw payload with its status, reason naming it); every
    other order and every fill is stored; a second sync completes and adds no second row."""
    await simulator.aset_price("AAPL", Decimal("100.00"))
    fast = RetryPolicy(base_delay=0.02, max_delay=0.2, max_elapsed=20.0)
    async with AlpacaClient(
        SIM_API_KEY, SIM_SECRET_KEY, simulator.base_url, rate_limit=None, retry=fast
    ) as trader:
        placed = [
            await trader.submit_order(
                OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(1 + i))
            )
            for i in range(4)
        ]
    bad_id = placed[1].id
    async with AlpacaClient(
        SIM_API_KEY,
        SIM_SECRET_KEY,
        simulator.base_url,
        rate_limit=None,
        retry=fast,
        transport=CorruptingTransport({bad_id}),
    ) as client:
        engine = SyncEngine(ACCOUNT, client, store)
        first = await engine.sync_all()
        second = await engine.sync_all()
    dump = await store.dump(ACCOUNT)
    assert set(dump["orders"]) == {o.id for o in placed} - {bad_id}
    assert {f["order_id"] for f in dump["fills"]} == {o.id for o in placed}
    assert first.quarantined == 1
    assert second.rows_changed == 0
    rows = await store.list_quarantine(ACCOUNT)
    assert [(r.record_kind, r.record_key) for r in rows] == [("order", bad_id)]
    assert UNKNOWN_STATUS in rows[0].reason
    assert json.loads(rows[0].raw)["status"] == UNKNOWN_STATUS
