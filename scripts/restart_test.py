"""Restart test: kill -9 the monitor at random moments of a busy session; the store stays exact.

Runs, all on this machine:

* the simulator in its own process (``alpacactl sim``, rate limit on, always-open clock);
* ``alpacactl monitor`` in another process, writing to a fresh PostgreSQL database (or a SQLite
  file with ``--sqlite``), killed with SIGKILL at ``--kills`` random moments and restarted each time;
* a trading session in this process (every order type and class, replaces, cancels, price moves)
  through the package's client.

At the end the session's resting orders are canceled, the monitor runs once more until it has
caught up, and the store is compared with the simulator's dump (``testing.compare``): every order on
every field the venue states, every fill exactly once with its fee, positions and cash. Exit 0
when equal.

    ./dev run python scripts/restart_test.py [--kills 10] [--orders 300] [--seed 1] [--sqlite]
"""

# ruff: noqa: S105, S603, T201
from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from alpaca_integration.testing.processes import stop_process

ROOT = Path(__file__).resolve().parents[1]
KEY_ID = "RESTARTKEY000000001"
SECRET = "restart-secret-0000000000000000000000001"
ACCOUNT = "default"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alpacactl() -> list[str]:
    return [str(Path(sys.executable).parent / "alpacactl")]


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def _monitor_env(base_url: str, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ALPACA_API_KEY=KEY_ID,
        ALPACA_SECRET_KEY=SECRET,
        ALPACA_BASE_URL=base_url,
        ALPACA_DATABASE_URL=database_url,
        ALPACA_UPDATE_INTERVAL="2",
    )
    env.pop("ALPACA_REDIS_URL", None)
    env.pop("ALPACA_ACCOUNTS_FILE", None)
    return env


def _start_monitor(env: dict[str, str], log: Any) -> subprocess.Popen[bytes]:
    command = [*_alpacactl(), "monitor", "--no-status", "--log-level", "WARNING"]
    return subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=ROOT)


def kill_and_restart(
    monitor: subprocess.Popen[bytes], env: dict[str, str], log: Any, number: int
) -> subprocess.Popen[bytes]:
    """SIGKILL ``monitor`` (no chance to flush or close anything) and start a fresh one."""
    monitor.send_signal(signal.SIGKILL)
    monitor.wait()
    print(f"  kill -9 #{number} at {time.strftime('%H:%M:%S')}; restarting", flush=True)
    return _start_monitor(env, log)


def stop_monitor(monitor: subprocess.Popen[bytes]) -> None:
    """Stop ``monitor`` gracefully (SIGTERM), or kill it when it does not stop within 30 s."""
    stop_process(monitor, signal.SIGTERM, timeout=30)


@dataclass
class Venue:
    """The simulator process and the store's database of one run, with where the logs go."""

    base_url: str
    database_url: str
    workdir: Path
    log: Any
    # Set by a run that failed: the database is then kept for a look (its URL is printed).
    keep: bool = False


@contextlib.contextmanager
def running_venue(*, seed: int, sqlite: bool, postgres: str, prefix: str) -> Iterator[Venue]:
    """Start the simulator (rate limit on, always-open clock) and create the store's database
    (migrated once with ``alpacactl db upgrade``); stop and drop both at the end."""
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    venue: Venue | None = None
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    log = (workdir / "processes.log").open("wb")
    db_name = ""
    if sqlite:
        database_url = f"sqlite:///{workdir / 'store.db'}"
    else:
        import psycopg

        db_name = f"{prefix.replace('-', '_')}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f'create database "{db_name}"')
        database_url = postgres.rsplit("/", 1)[0] + f"/{db_name}"
    sim_args = ["sim", "--port", str(port), "--seed", str(seed), "--clock", "always-open"]
    sim = subprocess.Popen(
        [*_alpacactl(), *sim_args, "--rate-limit", "200"], stdout=log, stderr=log, cwd=ROOT
    )
    try:
        # The schema first, once (`alpacactl db upgrade`): a monitor killed in the middle of its
        # own first migration would leave the next one facing an empty database.
        subprocess.run(
            [*_alpacactl(), "db", "upgrade", "--url", database_url],
            stdout=log,
            stderr=log,
            cwd=ROOT,
            check=True,
        )
        _wait_http(f"{base_url}/_sim/faults")
        print(f"simulator on {base_url}; store {database_url}; logs in {workdir}", flush=True)
        venue = Venue(base_url, database_url, workdir, log)
        yield venue
    finally:
        stop_process(sim, signal.SIGTERM, timeout=10)
        log.close()
        if venue is not None and venue.keep:
            print(f"kept for a look: {database_url} and {workdir}", flush=True)
        elif db_name:
            import psycopg

            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{db_name}" with (force)')


async def _trade(base_url: str, admin: str, orders: int, seed: int, stop: asyncio.Event) -> Any:
    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.testing.sessions import random_session

    async with httpx.AsyncClient(base_url=admin, timeout=10.0) as http:

        async def set_price(symbol: str, price: Decimal) -> None:
            await http.post("/_sim/price", json={"symbol": symbol, "price": str(price)})

        async with AlpacaClient(KEY_ID, SECRET, base_url, rate_limit=200) as client:
            stats = await random_session(
                client, set_price, n_orders=orders, rng=random.Random(seed), pause=0.02
            )
            # Quiet the venue so the final comparison is not a race with new fills.
            await client.cancel_all_orders()
            await asyncio.sleep(1.0)
            await client.cancel_all_orders()
    stop.set()
    return stats


async def _kill_loop(
    env: dict[str, str], log: Any, kills: int, rng: random.Random, stop: asyncio.Event
) -> int:
    done = 0
    monitor = _start_monitor(env, log)
    try:
        while done < kills:
            await asyncio.sleep(rng.uniform(1.0, 4.0))
            done += 1
            monitor = kill_and_restart(monitor, env, log, done)
        await stop.wait()
        # Let the last monitor catch up with the quiet venue, then stop it gracefully.
        await asyncio.sleep(8.0)
    finally:
        stop_monitor(monitor)
    return done


async def _compare(database_url: str, admin: str) -> list[str]:
    from alpaca_integration.storage import Store
    from alpaca_integration.testing.compare import compare_with_venue, store_view

    store = await Store.open(database_url)
    try:
        store_dump = await store_view(store, ACCOUNT)
    finally:
        await store.aclose()
    async with httpx.AsyncClient(base_url=admin, timeout=30.0) as http:
        venue = (await http.get(f"/_sim/accounts/{KEY_ID}/dump")).json()
    differences = compare_with_venue(store_dump, venue)
    print(
        f"store: {len(store_dump['orders'])} orders, {len(store_dump['fills'])} fills, "
        f"{len(store_dump['positions'])} positions, cash {store_dump['cash']}"
    )
    return differences


def report(differences: list[str]) -> int:
    """Print the verdict of a store-vs-venue comparison; the exit code."""
    if differences:
        print(f"FAIL: store differs from the simulator in {len(differences)} place(s):")
        for line in differences[:30]:
            print(f"  {line}")
        return 1
    print(
        "OK: the store equals the simulator's dump (orders, fills once each with fees, positions, cash)"
    )
    return 0


def venue_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every run against a simulator and a store has."""
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite", action="store_true", help="SQLite file instead of PostgreSQL")
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres", help="server URL"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--orders", type=int, default=300)
    venue_arguments(parser)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    with running_venue(
        seed=args.seed, sqlite=args.sqlite, postgres=args.postgres, prefix="restart-test"
    ) as venue:

        async def run() -> tuple[int, Any, list[str]]:
            stop = asyncio.Event()
            env = _monitor_env(venue.base_url, venue.database_url)
            trader = asyncio.create_task(
                _trade(venue.base_url, venue.base_url, args.orders, args.seed, stop)
            )
            kills = await _kill_loop(env, venue.log, args.kills, rng, stop)
            stats = await trader
            return kills, stats, await _compare(venue.database_url, venue.base_url)

        kills, stats, differences = asyncio.run(run())
    print(
        f"session: {stats.submitted} orders accepted, {stats.replaced} replaced, "
        f"{stats.canceled} canceled, {stats.refused} refused by the venue {stats.refusals}; "
        f"{kills} kill -9 + restarts; {time.monotonic() - started:.0f}s"
    )
    return report(differences)


if __name__ == "__main__":
    sys.exit(main())
