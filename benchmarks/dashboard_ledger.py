"""The dashboard's ledger provider under a big store: the positions region's render time.

``LedgerPerformance`` (the dashboard's default provider) books every stored fill in the pure
ledger for the positions page's open lots and realized P&L, the overview's realized P&L and the
performance page. It keeps one ledger per account and brings it up to date from a stamp of the
account's fills. This measures, over ``--orders`` order rows and as many fill rows loaded into
PostgreSQL through ``Store.apply`` (the history of ``benchmarks/dashboard.py``):

* the first render (the ledger built from every fill);
* ``--loads`` renders with nothing changed (the stamp read only);
* ``--loads`` renders each after one new fill was stored (the new fill applied incrementally);
* the baseline, measured in the same run: a provider that keeps nothing (a fresh
  ``LedgerPerformance`` per render: every fill read and booked again), ``--loads`` renders.

Renders are the region's HTTP answer (``/fragment/positions``), in process through httpx's ASGI
transport: the server side of a live update, without a browser.

    ./dev run python benchmarks/dashboard_ledger.py [--orders 100000] [--loads 30]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import random
import time
import uuid
from typing import Any

import httpx
import msgspec

from bench_support import pct, run_main, scratch_database
from dashboard import _history, _load, _vacuum_analyze


def _figures(values: list[float]) -> str:
    return f"p50 {pct(values, 0.5):8.1f} ms  p95 {pct(values, 0.95):8.1f} ms  (n={len(values)})"


def _new_trade(n: int) -> tuple[Any, Any]:
    """One order filled at once, now (after every loaded fill), with ids of its own."""
    (placed, fills), *_ = _history(1, random.Random(10_000 + n))
    now = dt.datetime.now(dt.UTC)
    order_id = f"bench-new-{n}-{uuid.uuid4().hex[:8]}"
    placed = msgspec.structs.replace(
        placed,
        id=order_id,
        client_order_id=f"ai-new-{order_id}",
        created_at=now,
        updated_at=now,
        submitted_at=now,
        filled_at=now,
    )
    fill = msgspec.structs.replace(
        fills[0],
        fill_id=f"{order_id}-x",
        execution_id=f"{order_id}-x",
        order_id=order_id,
        client_order_id=placed.client_order_id,
        timestamp=now,
    )
    return placed, fill


@dataclasses.dataclass
class Timer:
    http: httpx.AsyncClient
    path: str

    async def render(self) -> float:
        started = time.perf_counter()
        answer = await self.http.get(self.path)
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, answer.status_code
        return elapsed


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8766")


async def _run(args: argparse.Namespace, pg_url: str, account: str) -> None:
    from alpaca_integration.dashboard import LedgerPerformance, create_app
    from alpaca_integration.storage import Store

    store = await Store.open(pg_url, migrate=True)
    try:
        orders, fills, seconds = await _load(store, account, args.orders)
        await asyncio.to_thread(_vacuum_analyze, pg_url)
        print(f"loaded {orders:,} order rows and {fills:,} fill rows in {seconds:.0f}s")
        path = f"/fragment/positions?account={account}"
        kept_app = create_app(store, None, [account], live="poll")
        async with _client(kept_app) as http:
            timer = Timer(http, path)
            first = await timer.render()
            unchanged = [await timer.render() for _ in range(args.loads)]
            incremental = []
            for n in range(args.loads):
                placed, fill = _new_trade(n)
                await store.apply(account, orders=[placed], fills=[fill], source="stream")
                incremental.append(await timer.render())
        baseline = []
        for _ in range(args.loads):
            app = create_app(
                store, None, [account], live="poll", performance=LedgerPerformance(store)
            )
            async with _client(app) as http:
                baseline.append(await Timer(http, path).render())
            await app.state.dashboard.aclose()
        await kept_app.state.dashboard.aclose()
    finally:
        await store.aclose()
    print(f"\npositions region (/fragment/positions), {fills:,} fills in PostgreSQL:")
    print(
        f"  first render (ledger built)     {first:8.1f} ms  (a served dashboard builds it at start-up)"
    )
    print(f"  nothing changed (stamp only)    {_figures(unchanged)}")
    print(f"  after one new fill (applied)    {_figures(incremental)}")
    print(f"  baseline: nothing kept (rebuild){_figures(baseline)}")
    for name, values in (("nothing changed", unchanged), ("one new fill", incremental)):
        ratio = pct(baseline, 0.5) / pct(values, 0.5)
        print(f"  p50 baseline / {name}: {ratio:.1f}x")


async def _main(args: argparse.Namespace) -> None:
    account = f"bench{uuid.uuid4().hex[:6]}"
    with scratch_database("bench_dash_ledger") as pg_url:
        await _run(args, pg_url, account)


def main() -> None:
    run_main(_main, "the dashboard's ledger provider, 100k fills", orders=100_000, loads=30)


if __name__ == "__main__":
    main()
