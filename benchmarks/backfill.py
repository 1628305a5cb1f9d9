"""Backfill: the first sync of N orders with their fills, at Alpaca's 200 requests/minute.

One run: the simulator in its own process, seeded with N filled market orders (submitted with
the venue's rate limit off, so seeding is fast), then ``SyncEngine.sync_all`` into a fresh
PostgreSQL database (dropped at the end) through an ``AlpacaClient`` held to 200 requests/minute
(the client's own budget, as against real Alpaca).

Baseline measured in the same run: the floor the budget sets, i.e. the fewest requests a full
backfill can make (orders pages of 500, activities pages of 100, account, positions) at 200 per
minute, with the first minute's full budget available at once. Printed: wall time, floor, ratio
(goal <= 1.2x), requests made, rows written, and the process's peak RSS (goal <= 200 MB; the
simulator runs in another process and is not counted).

    ./dev run python benchmarks/backfill.py [--orders 50000] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from decimal import Decimal

import httpx

from bench_support import free_port, run_main, scratch_database, simulator

KEY_ID = "BACKFILLBENCHKEY0001"
SECRET = "backfill-bench-secret-00000000000000001"
ACCOUNT = "bench"


class _CountingTransport(httpx.AsyncHTTPTransport):
    """Counts the requests the sync makes (the figure the budget is spent on)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await super().handle_async_request(request)


async def _seed(base_url: str, n_orders: int) -> int:
    """Submit n market orders (alternating sides, so positions stay small); returns fills."""
    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.models import OrderRequest, OrderSide

    symbols = ("AAPL", "MSFT", "SPY", "TSLA")
    async with AlpacaClient(KEY_ID, SECRET, base_url, rate_limit=None) as client:
        semaphore = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with semaphore:
                await client.submit_order(
                    OrderRequest(
                        symbol=symbols[i % len(symbols)],
                        side=OrderSide.BUY if (i // len(symbols)) % 2 == 0 else OrderSide.SELL,
                        qty=Decimal(1),
                    )
                )

        for start in range(0, n_orders, 1000):
            await asyncio.gather(*(one(i) for i in range(start, min(n_orders, start + 1000))))
        activities = 0
        async for _ in client.iter_activities():
            activities += 1
    return activities


async def _main(args: argparse.Namespace) -> None:
    import psutil

    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.storage import Store
    from alpaca_integration.sync.engine import SyncEngine

    process = psutil.Process()
    with scratch_database("bench_backfill") as pg_url, simulator(free_port()) as base_url:
        t0 = time.perf_counter()
        activities = await _seed(base_url, args.orders)
        print(
            f"seeded {args.orders} orders, {activities} activities in {time.perf_counter() - t0:.0f}s"
        )
        from alpaca_integration.alpaca.ratelimit import default_order_reserve

        floor_requests = math.ceil(args.orders / 500) + math.ceil((activities + 1) / 100) + 3
        # A moving window of `rate` requests per 60 s lets the first `rate` go at once and each
        # further `rate` one window later: N requests cannot finish before (ceil(N/rate)-1) x 60 s.
        # Reads may use the budget minus the order lane (kept free for trading).
        read_rate = args.rate - default_order_reserve(args.rate)
        floor_s = (math.ceil(floor_requests / args.rate) - 1) * 60.0
        read_floor_s = (math.ceil(floor_requests / read_rate) - 1) * 60.0
        store = await Store.open(pg_url, migrate=True)
        transport = _CountingTransport()

        peak_rss = process.memory_info().rss
        sampling = True

        async def sample() -> None:
            nonlocal peak_rss
            while sampling:
                peak_rss = max(peak_rss, process.memory_info().rss)
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        try:
            async with AlpacaClient(
                KEY_ID, SECRET, base_url, rate_limit=args.rate, transport=transport
            ) as client:
                engine = SyncEngine(ACCOUNT, client, store, None)
                started = time.perf_counter()
                report = await engine.sync_all()
                wall = time.perf_counter() - started
        finally:
            sampling = False
            await sampler
            await store.aclose()
        print(
            f"first sync: {report.orders_seen} orders, {report.orders_changed} order rows, "
            f"{report.fills_changed} fill rows, {report.activities_changed} activity rows; "
            f"{transport.requests} requests"
        )
        print(
            f"wall {wall:.1f}s; floor at {args.rate}/min {floor_s:.0f}s, at the read lane's "
            f"{read_rate}/min (the budget minus {args.rate - read_rate}/min kept for orders) "
            f"{read_floor_s:.0f}s, for {floor_requests} requests"
        )
        if read_floor_s:
            print(
                f"ratio {wall / read_floor_s:.2f}x the read-lane floor, {wall / floor_s:.2f}x the "
                f"{args.rate}/min floor (goal <= 1.2x)"
            )
        else:
            print("the whole backfill fits in the first window: run more --orders for a ratio")
        print(f"peak RSS {peak_rss / 2**20:.0f} MB (goal <= 200 MB)")


def main() -> None:
    run_main(_main, "first sync of N orders at 200 requests/min", orders=50_000, rate=200)


if __name__ == "__main__":
    main()
