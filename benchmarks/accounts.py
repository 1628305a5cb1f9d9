"""Many accounts: one `alpacactl monitor` process, then two sharded ones, in one run.

The simulator runs in its own process (rate limit off, always-open clock); each phase gets fresh
accounts (one key each) in one PostgreSQL database (dropped at the end) and its own Redis lease
prefix. The monitors (`alpacactl monitor --shard`, periodic syncs pushed out of the window so only
the stream writes fills) are started and left to take their leases and connect; then one order
generator process sends market orders at ``--fills`` per second per account for ``--seconds``.

Figures per phase: fill-to-store latency (the fill row's ``ingested_at``, committed by the
monitor, minus the venue's execution ``timestamp``; same machine, same clock) p50/p99 over every
fill, and per monitor process its CPU (% of one core over the window) and peak RSS. The baseline
in the same run is phase one: the ratio printed is two processes' p99 against one process's.
Goals (issue 15): p99 <= 50 ms on two processes; RSS <= 300 MB per process.

    ./dev run python benchmarks/accounts.py [--accounts 100] [--fills 2] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench_support import ALPACACTL, REDIS_URL, free_port, pct, scratch_database, simulator

_MULTI_GENERATOR = """
import asyncio, sys, time, uuid
import httpx

async def main(base_url, keys, per_second, seconds):
    pairs = [k.split(":") for k in keys.split(",")]
    clients = [httpx.AsyncClient(base_url=base_url, timeout=10,
               headers={"APCA-API-KEY-ID": k, "APCA-API-SECRET-KEY": s}) for k, s in pairs]
    total = per_second * len(clients)
    tasks, n, started = [], 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        client = clients[n % len(clients)]
        side = "buy" if (n // len(clients)) % 2 == 0 else "sell"
        body = {"symbol": "AAPL", "qty": "1", "side": side, "type": "market",
                "time_in_force": "day", "client_order_id": "bench-" + uuid.uuid4().hex}
        tasks.append(asyncio.create_task(client.post("/v2/orders", json=body)))
        n += 1
        await asyncio.sleep(max(0.0, started + n / total - time.perf_counter()))
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
"""


def _accounts_file(path: Path, base_url: str, names: list[str]) -> list[tuple[str, str]]:
    keys = [(f"BENCH{uuid.uuid4().hex[:12].upper()}", f"secret-{n}") for n in names]
    path.write_text(
        "\n".join(
            f'[accounts.{n}]\napi_key = "{k}"\nsecret_key = "{s}"\nbase_url = "{base_url}"\n'
            "rate_limit = 100000\n"
            for n, (k, s) in zip(names, keys, strict=True)
        )
    )
    return keys


async def _held(prefix: str, names: list[str]) -> int:
    from alpaca_integration.monitor.leases import LeaseBoard

    board = LeaseBoard(REDIS_URL, prefix=prefix)
    try:
        return sum(1 for h in await board.holders(names) if h.owner)
    finally:
        await board.aclose()


async def _latencies(pg_url: str, names: list[str]) -> list[float]:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(pg_url.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "select extract(epoch from (ingested_at - timestamp)) * 1000 from fills "
                    "where account = any(:names)"
                ),
                {"names": names},
            )
            return [float(r[0]) for r in rows]
    finally:
        await engine.dispose()


def _phase(monitors: int, args: argparse.Namespace, base_url: str, pg_url: str, tmp: Path) -> Any:
    phase = f"p{monitors}x{uuid.uuid4().hex[:4]}"
    names = [f"{phase}a{i:03d}" for i in range(args.accounts)]
    keys = _accounts_file(tmp / f"{phase}.toml", base_url, names)
    prefix = f"benchacct:{phase}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    env.update(
        ALPACA_ACCOUNTS_FILE=str(tmp / f"{phase}.toml"),
        ALPACA_DATABASE_URL=pg_url,
        ALPACA_REDIS_URL=REDIS_URL,
    )
    args_monitor = [ALPACACTL, "monitor", "--no-status", "--shard", "--interval", "3600"]
    args_monitor += ["--reconcile-every", "0", "--lease-prefix", prefix, "--log-level", "WARNING"]
    procs = [
        subprocess.Popen(
            args_monitor, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(monitors)
    ]
    try:
        deadline = time.monotonic() + 300
        while asyncio.run(_held(prefix, names)) < len(names) or (
            httpx.get(f"{base_url}/_sim/stats").json()["stream_listeners"] < len(names)
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"{monitors} monitor(s): the accounts were not all streaming")
            time.sleep(1.0)
        time.sleep(3.0)  # the connects' catch-ups settle
        watched = [psutil.Process(p.pid) for p in procs]
        for proc in watched:
            proc.cpu_percent(None)
        pairs = ",".join(f"{k}:{s}" for k, s in keys)
        generator = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _MULTI_GENERATOR,
                base_url,
                pairs,
                str(args.fills),
                str(args.seconds),
            ]
        )
        peak = [0] * len(watched)
        while generator.poll() is None:
            peak = [max(m, p.memory_info().rss) for m, p in zip(peak, watched, strict=True)]
            time.sleep(0.5)
        cpu = [p.cpu_percent(None) for p in watched]
        time.sleep(5.0)  # the last fills land
        latencies = asyncio.run(_latencies(pg_url, names))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
    return latencies, cpu, [m / 2**20 for m in peak]


def main() -> None:
    parser = argparse.ArgumentParser(description="one vs two sharded monitors, many accounts")
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--fills", type=float, default=2.0, help="fills per second per account")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with (
        scratch_database("bench_accounts") as pg_url,
        simulator(free_port()) as base_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = {**os.environ, "ALPACA_DATABASE_URL": pg_url}
        subprocess.run([ALPACACTL, "db", "upgrade"], env=env, check=True, capture_output=True)
        print(
            f"{args.accounts} accounts, {args.fills:g} fills/s each "
            f"({args.accounts * args.fills:g}/s), {args.seconds:g} s per phase"
        )
        p99s = []
        for monitors in (1, 2):
            latencies, cpu, rss = _phase(monitors, args, base_url, pg_url, Path(tmp))
            if not latencies:
                print(f"{monitors} monitor(s): no fills stored")
                continue
            p50, p99 = pct(latencies, 0.5), pct(latencies, 0.99)
            p99s.append(p99)
            per_process = ", ".join(
                f"CPU {c:.0f}% RSS {r:.0f} MB" for c, r in zip(cpu, rss, strict=True)
            )
            print(
                f"{monitors} monitor process(es): {len(latencies)} fills, fill->store "
                f"p50 {p50:.1f} ms p99 {p99:.1f} ms | {per_process}"
            )
        if len(p99s) == 2:
            print(
                f"two processes' p99 is {p99s[1] / p99s[0]:.2f}x one process's "
                f"(goal p99 <= 50 ms on two; RSS <= 300 MB per process)"
            )


if __name__ == "__main__":
    main()
