"""Simulator throughput and latency, over real HTTP to a uvicorn server in another process.

Prints, each with its goal and a ratio against a baseline measured in the same run:
  1. sustained order submissions/s (rate limit off, keep-alive connections, market orders)
     vs the same clients hitting the trivial admin health route;
  2. trade_updates events/s received by one WebSocket listener while orders stream in;
  3. REST p50/p99 latency at a paced 200 requests/s (a mix of account, orders, positions and
     order submissions) vs the health route at the same pace.

The load generator speaks raw HTTP/1.1 over asyncio streams so that the client's own cost does
not hide the server's. Bounded run time (about 40 s). Usage: ``./dev run python benchmarks/sim.py``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from bench_support import stop_process

KEY = "PKBENCH0000000000001"
SECRET = "bench-secret-0000000000000000000000000001"
SYMBOLS = ["AAPL", "MSFT", "AMZN", "NVDA", "SPY", "QQQ", "JPM", "XOM"]


@contextlib.contextmanager
def simulator_process() -> Iterator[int]:
    """``alpacactl sim`` in a child process (always open, rate limit off); yields its port."""
    code = "from alpaca_integration.cli.main import run; run()"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "sim",
            "--port",
            "0",
            "--rate-limit",
            "0",
            "--clock",
            "always-open",
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    port = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if "listening on http://" in line:
            port = int(line.split("http://", 1)[1].split()[0].rsplit(":", 1)[1])
            break
    if not port:
        proc.kill()
        raise SystemExit("the simulator did not start")
    try:
        yield port
    finally:
        stop_process(proc, signal.SIGINT, timeout=10)


class Connection:
    """One keep-alive HTTP/1.1 connection: request, then read exactly one answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAPCA-API-KEY-ID: {KEY}\r\n"
            f"APCA-API-SECRET-KEY: {SECRET}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        for line in header.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    def close(self) -> None:
        self.writer.close()


def order_body(index: int) -> bytes:
    side = "buy" if index % 2 == 0 else "sell"
    symbol = SYMBOLS[(index // 2) % len(SYMBOLS)]
    return json.dumps(
        {"symbol": symbol, "qty": "1", "side": side, "type": "market", "time_in_force": "day"}
    ).encode()


async def closed_loop(port: int, seconds: float, connections: int, kind: str) -> float:
    """Requests per second with ``connections`` clients each sending back to back."""
    count, elapsed = await closed_loop_count(port, seconds, connections, kind)
    return count / elapsed


async def closed_loop_count(
    port: int, seconds: float, connections: int, kind: str
) -> tuple[int, float]:
    """(200 answers, seconds taken) with ``connections`` clients sending back to back."""
    clients = [await Connection(port).open() for _ in range(connections)]
    counter = 0
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(client: Connection, offset: int) -> None:
        nonlocal counter, errors
        index = offset
        while time.perf_counter() < stop_at:
            if kind == "orders":
                status, _ = await client.request("POST", "/v2/orders", order_body(index))
            else:
                status, _ = await client.request("GET", "/_sim/health")
            index += connections
            if status == 200:
                counter += 1
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(c, i) for i, c in enumerate(clients)))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    if errors:
        print(f"   ({errors} non-200 answers during the {kind} run)")
    return counter, elapsed


async def stream_rate(port: int, seconds: float, connections: int) -> tuple[float, float, int, int]:
    """(events/s received by one listener, orders/s submitted meanwhile, events received,
    events expected: three per market order)."""
    import websockets

    received = 0
    last_at = 0.0
    async with websockets.connect(f"ws://127.0.0.1:{port}/stream", max_queue=None) as ws:
        await ws.send(
            json.dumps({"action": "authenticate", "data": {"key_id": KEY, "secret_key": SECRET}})
        )
        await ws.recv()
        await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        await ws.recv()
        done = asyncio.Event()

        async def consume() -> None:
            nonlocal received, last_at
            while not done.is_set():
                try:
                    await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                received += 1
                last_at = time.perf_counter()

        consumer = asyncio.create_task(consume())
        started = time.perf_counter()
        orders, order_seconds = await closed_loop_count(port, seconds, connections, "orders")
        expected = 3 * orders
        deadline = time.perf_counter() + 10
        while received < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        done.set()
        await consumer
    return received / (last_at - started), orders / order_seconds, received, expected


async def paced(port: int, seconds: float, rate: float, kind: str) -> list[float]:
    """Latencies (ms) of requests started on a fixed schedule of ``rate`` per second."""
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(16):
        pool.put_nowait(await Connection(port).open())
    latencies: list[float] = []
    mix = [
        ("GET", "/v2/account", b""),
        ("GET", "/v2/orders?status=all&limit=50", b""),
        ("GET", "/v2/positions", b""),
        ("POST", "/v2/orders", b""),
        ("GET", "/v2/orders?status=open", b""),
    ]

    async def one(index: int, planned: float) -> None:
        client = await pool.get()
        try:
            if kind == "health":
                await client.request("GET", "/_sim/health")
            else:
                method, path, body = mix[index % len(mix)]
                if method == "POST":
                    body = order_body(index)
                await client.request(method, path, body)
            latencies.append((time.perf_counter() - planned) * 1000)
        finally:
            pool.put_nowait(client)

    tasks = []
    start = time.perf_counter()
    total = int(seconds * rate)
    for index in range(total):
        planned = start + index / rate
        delay = planned - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, planned)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait().close()
    return latencies


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    with simulator_process() as port:
        # Warm up (first account creation, imports, caches).
        await closed_loop(port, 1.0, 4, "orders")

        print("== sustained order submissions (rate limit off, market orders, keep-alive)")
        baseline = await closed_loop(port, args.seconds, args.connections, "health")
        orders = await closed_loop(port, args.seconds, args.connections, "orders")
        print(f"   baseline GET /_sim/health : {baseline:8.0f} req/s")
        print(f"   POST /v2/orders           : {orders:8.0f} orders/s   (goal >= 1000/s)")
        print(f"   ratio orders / baseline   : {orders / baseline:8.2f}")

        print("== trade_updates stream (one listener, orders submitted at full speed)")
        events, during, received, expected = await stream_rate(port, args.seconds, args.connections)
        print(f"   events received           : {events:8.0f} events/s   (goal >= 3000/s)")
        print(f"   orders submitted meanwhile: {during:8.0f} orders/s")
        print(f"   ratio events / orders     : {events / during:8.2f}   (3 events per order)")
        print(f"   events delivered          : {received} of {expected} produced")

        print(f"== REST latency at a paced {args.rate:.0f} requests/s")
        base_lat = await paced(port, args.paced_seconds / 2, args.rate, "health")
        mixed = await paced(port, args.paced_seconds, args.rate, "mix")
        b50, b99 = percentile(base_lat, 50), percentile(base_lat, 99)
        p50, p99 = percentile(mixed, 50), percentile(mixed, 99)
        print(f"   baseline health p50 / p99 : {b50:6.2f} / {b99:6.2f} ms")
        print(
            f"   REST mix p50 / p99        : {p50:6.2f} / {p99:6.2f} ms   (goal p99 <= 10 ms; "
            f"mean {statistics.fmean(mixed):.2f} ms, n={len(mixed)})"
        )
        print(f"   ratio p99 mix / baseline  : {p99 / b99:8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run length")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive clients")
    parser.add_argument("--rate", type=float, default=200.0, help="paced requests per second")
    parser.add_argument("--paced-seconds", type=float, default=10.0, help="paced run length")
    asyncio.run(main(parser.parse_args()))
