"""Client benchmarks against the simulator served by uvicorn in a subprocess. Prints figures; asserts
nothing.

(a) Paging: fetch 20,000 orders with ``AlpacaClient.iter_orders`` and with alpaca-py's
    ``TradingClient.get_orders`` in a loop moving ``until`` (the usual way to page it), rate limit
    off on the simulator. Times, the ratio, and how many distinct orders each one returned.
(b) Shared budget: four processes using one API key, sharing its budget through Redis, saturate a
    simulator that enforces 200 requests/minute (three monitoring processes polling reads, one
    trading process placing orders on the order lane) for ``--duration`` seconds (default 180).
    Requests served as a share of what the venue allows in that time (goal >= 95 %) and the
    number of 429 answers (goal 0).

Usage: ./dev run python benchmarks/client.py [--orders 20000] [--duration 180] [--skip-a|--skip-b]
Needs Redis for (b) (ALPACA_REDIS_URL or redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import httpx

from bench_support import free_port, stop_process

KEY_A = "PKBENCHPAGING"
SECRET = "bench-secret"


@contextlib.contextmanager
def simulator(rate_limit: int) -> Iterator[str]:
    """The simulator under uvicorn in its own process; yields its base URL."""
    port = free_port()
    code = textwrap.dedent(
        f"""
        import uvicorn
        from alpaca_integration.simulator import SimConfig, create_app
        config = SimConfig(rate_limit={rate_limit}, clock="always-open", seed=7)
        uvicorn.run(create_app(config), host="127.0.0.1", port={port}, log_level="warning")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/_sim/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.2)
        yield base_url
    finally:
        stop_process(proc, signal.SIGTERM, timeout=10)


# --------------------------------------------------------------------------- (a) paging


async def seed_orders(base_url: str, count: int) -> None:
    """Resting limit buys far below the market, posted concurrently (ties in submitted_at are
    likely, which is the point)."""
    headers = {"APCA-API-KEY-ID": KEY_A, "APCA-API-SECRET-KEY": SECRET}
    symbols = ["AAPL", "MSFT", "SPY", "AMZN"]
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as http:
        queue = iter(range(count))

        async def worker() -> None:
            for i in queue:
                body = {
                    "symbol": symbols[i % len(symbols)],
                    "qty": "1",
                    "side": "buy",
                    "type": "limit",
                    "limit_price": "1.00",
                    "time_in_force": "gtc",
                    "client_order_id": f"seed-{i}",
                }
                response = await http.post("/v2/orders", json=body)
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(16)))


async def page_with_client(base_url: str) -> tuple[float, int, int]:
    from alpaca_integration.alpaca.client import AlpacaClient

    async with AlpacaClient(KEY_A, SECRET, base_url, rate_limit=0) as client:
        started = time.perf_counter()
        ids = [order.id async for order in client.iter_orders(status="all")]
        elapsed = time.perf_counter() - started
    return elapsed, len(ids), len(set(ids))


def page_with_alpaca_py(base_url: str) -> tuple[float, int, int]:
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import QueryOrderStatus
    from alpaca.trading.requests import GetOrdersRequest

    client = TradingClient(KEY_A, SECRET, paper=True, url_override=base_url)
    started = time.perf_counter()
    ids: list[str] = []
    until = None
    while True:
        page = client.get_orders(
            GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500, until=until, direction="desc")
        )
        ids.extend(str(order.id) for order in page)  # type: ignore[union-attr]
        if len(page) < 500:
            break
        oldest = page[-1].submitted_at  # type: ignore[union-attr]
        if oldest == until:  # a whole page at one instant: it cannot go on
            break
        until = oldest
    elapsed = time.perf_counter() - started
    return elapsed, len(ids), len(set(ids))


def bench_paging(orders: int) -> None:
    print(f"(a) paging {orders} orders (simulator, rate limit off)")
    with simulator(rate_limit=0) as base_url:
        started = time.perf_counter()
        asyncio.run(seed_orders(base_url, orders))
        print(f"    seeded {orders} orders in {time.perf_counter() - started:.1f}s")
        results = {}
        for name, run in (
            ("alpaca_integration iter_orders", lambda: asyncio.run(page_with_client(base_url))),
            ("alpaca-py get_orders loop", lambda: page_with_alpaca_py(base_url)),
        ):
            best = math.inf
            for _ in range(3):
                elapsed, total, distinct = run()
                best = min(best, elapsed)
            results[name] = best
            print(
                f"    {name:34s} best of 3: {best:7.3f}s  returned {total} ({distinct} distinct, "
                f"{orders - distinct} missing)"
            )
        ratio = results["alpaca-py get_orders loop"] / results["alpaca_integration iter_orders"]
        print(f"    ratio alpaca-py / alpaca_integration: {ratio:.2f}x")


# --------------------------------------------------------------------------- (b) shared budget

WORKER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from decimal import Decimal
    import httpx
    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.alpaca.ratelimit import RedisRateBudget
    from alpaca_integration.models import OrderRequest, OrderSide, OrderType, TimeInForce

    role, base_url, redis_url, prefix, key, secret, start_at, duration = sys.argv[1:9]
    statuses = {}

    class Counting(httpx.AsyncBaseTransport):
        def __init__(self):
            self.inner = httpx.AsyncHTTPTransport()
        async def handle_async_request(self, request):
            response = await self.inner.handle_async_request(request)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            return response
        async def aclose(self):
            await self.inner.aclose()

    async def main():
        budget = RedisRateBudget(redis_url, key, 200, 60.0, key_prefix=prefix)
        async with AlpacaClient(key, secret, base_url, rate_budget=budget,
                                transport=Counting()) as client:
            await asyncio.sleep(max(0.0, float(start_at) - time.time()))
            deadline = float(start_at) + float(duration)

            async def monitor():
                calls = (client.get_account, client.list_positions, client.get_clock)
                i = 0
                while time.time() < deadline:
                    await asyncio.wait_for(calls[i % 3](), timeout=max(0.1, deadline - time.time()))
                    i += 1

            async def trader():
                while time.time() < deadline:
                    request = OrderRequest(symbol="AAPL", side=OrderSide.BUY, type=OrderType.LIMIT,
                                           qty=Decimal(1), limit_price=Decimal("1.00"),
                                           time_in_force=TimeInForce.GTC)
                    await asyncio.wait_for(client.submit_order(request),
                                           timeout=max(0.1, deadline - time.time()))

            task = trader if role == "trader" else monitor
            results = await asyncio.gather(*(task() for _ in range(4)), return_exceptions=True)
            errors = [type(r).__name__ for r in results if isinstance(r, BaseException)
                      and not isinstance(r, (TimeoutError, asyncio.TimeoutError))]
        await budget.aclose()
        print(json.dumps({"role": role, "statuses": statuses, "errors": errors}))

    asyncio.run(main())
    """
)


def bench_shared_budget(duration: float, redis_url: str) -> None:
    print(
        f"(b) 4 processes, one key, Redis-shared budget, simulator enforcing 200/min, {duration:g}s"
    )
    key = f"PKSHARED{uuid.uuid4().hex[:8].upper()}"
    prefix = f"bench:{uuid.uuid4().hex[:8]}"
    with simulator(rate_limit=200) as base_url:
        start_at = time.time() + 3.0  # every process starts together
        roles = ["monitor", "monitor", "monitor", "trader"]
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    role,
                    base_url,
                    redis_url,
                    prefix,
                    key,
                    SECRET,
                    repr(start_at),
                    repr(duration),
                ],
                stdout=subprocess.PIPE,
            )
            for role in roles
        ]
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=duration + 120)
            reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    served = {"monitor": 0, "trader": 0}
    too_many = 0
    for report in reports:
        statuses = {int(k): v for k, v in report["statuses"].items()}
        served[report["role"]] += sum(v for k, v in statuses.items() if k < 400)
        too_many += statuses.get(429, 0)
        if report["errors"]:
            print(f"    {report['role']} errors: {report['errors']}")
    windows = math.ceil(duration / 60.0)
    allowed = 200 * windows
    total = served["monitor"] + served["trader"]
    print(
        f"    served {total} requests ({served['monitor']} reads, {served['trader']} orders); the "
        f"venue allows {allowed} in {duration:g}s ({windows} window(s) of 200)"
    )
    print(f"    served / budget: {100 * total / allowed:.1f}%   (goal >= 95%)")
    print(f"    429 answers: {too_many}   (goal 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--duration", type=float, default=180.0)
    parser.add_argument("--skip-a", action="store_true", help="skip the paging benchmark")
    parser.add_argument("--skip-b", action="store_true", help="skip the shared-budget benchmark")
    args = parser.parse_args()
    redis_url = os.environ.get("ALPACA_REDIS_URL") or "redis://127.0.0.1:6379/0"
    if not args.skip_a:
        bench_paging(args.orders)
    if not args.skip_b:
        bench_shared_budget(args.duration, redis_url)


if __name__ == "__main__":
    main()
