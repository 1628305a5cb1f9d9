"""What the benchmark scripts share: scratch databases, a simulator process, free ports,
percentiles, and builders of the orders and fills they store.

The scripts import it from their own directory (``from bench_support import ...``); it measures
nothing itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from alpaca_integration.models import (
    AssetClass,
    DataSource,
    Fill,
    Order,
    OrderClass,
    OrderType,
    TimeInForce,
)
from alpaca_integration.testing.processes import stop_process as stop_process

PG_SERVER = os.environ.get(
    "ALPACA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ALPACA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ALPACACTL = str(Path(sys.executable).parent / "alpacactl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_main(
    main: Callable[[argparse.Namespace], Awaitable[None]], description: str, **options: float
) -> None:
    """Run the async ``main`` of a script on its command line: every ``--name VALUE`` option,
    typed like its default in ``options``."""
    parser = argparse.ArgumentParser(description=description)
    for name, default in options.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    asyncio.run(main(parser.parse_args()))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextlib.contextmanager
def scratch_database(prefix: str, server: str = PG_SERVER) -> Iterator[str]:
    """A fresh database named ``<prefix>_<random>`` on ``server``; yields its URL and drops it
    (forcing connections closed) at the end."""
    import psycopg

    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'create database "{db}"')
    try:
        yield server.rsplit("/", 1)[0] + f"/{db}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{db}" with (force)')


@contextlib.contextmanager
def simulator(port: int) -> Iterator[str]:
    """``alpacactl sim`` on ``port`` (no rate limit, market always open); yields its base URL
    once it answers and stops it at the end."""
    sim = subprocess.Popen(
        [ALPACACTL, "sim", "--port", str(port), "--rate-limit", "0", "--clock", "always-open"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base_url}/_sim/faults", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base_url
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def plain_order(**fields: Any) -> Order:
    """A simple day order of US equity with every optional price, time and link unset;
    ``fields`` give the rest (id, client id, symbol, side, type, status, quantities, times)."""
    unset = (
        "asset_id notional filled_avg_price limit_price stop_price trail_price trail_percent hwm"
        " filled_at expired_at canceled_at failed_at replaced_at replaced_by replaces"
    )
    values: dict[str, Any] = dict.fromkeys(unset.split())
    values |= {
        "asset_class": AssetClass.US_EQUITY,
        "type": OrderType.MARKET,
        "time_in_force": TimeInForce.DAY,
        "order_class": OrderClass.SIMPLE,
        "extended_hours": False,
    }
    values.update(fields)
    return Order(**values)


def stream_fill(
    order: Order, execution_id: str, qty: Decimal, price: Decimal, at: dt.datetime, **fields: Any
) -> Fill:
    """A fill of ``order`` as the trade_updates stream reports it (execution id, no activity)."""
    copied = ("client_order_id", "symbol", "side")
    return Fill(
        fill_id=execution_id,
        execution_id=execution_id,
        activity_id=None,
        order_id=order.id,
        qty=qty,
        price=price,
        timestamp=at,
        source=DataSource.STREAM,
        **{name: getattr(order, name) for name in copied},
        **fields,
    )
