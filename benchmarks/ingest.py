"""Ingest throughput of the store on the local PostgreSQL.

Builds realistic orders and fills (Alpaca-shaped raw payloads of ~1 KB), then in ONE run on its
own fresh database (dropped at the end):

1. upserts them through ``Store.apply`` in pages (the repository path the sync engine uses);
2. applies every page again and counts the rows changed (must be 0: idempotent);
3. inserts the same data row by row through a plain SQLAlchemy ORM session (the baseline:
   ``session.add`` + ``flush`` per row, one commit), into the same tables after a TRUNCATE;

and prints rows/s for each, the ratio, and whether the goals (>= 20,000 rows/s, >= 10x the
baseline, 0 rows changed on replay) are met.

Run: ``./dev run python benchmarks/ingest.py [--rows 100000] [--page 2000]``
(``ALPACA_BENCH_POSTGRES_URL`` overrides ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import registry

from alpaca_integration.models import (
    Fill,
    FillType,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
)
from alpaca_integration.storage import Store, codec
from alpaca_integration.storage.tables import fills as fills_table
from alpaca_integration.storage.tables import orders as orders_table
from bench_support import plain_order, scratch_database, stream_fill

__all__ = ["main"]

SERVER_URL = os.environ.get(
    "ALPACA_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ACCOUNT = "bench"
T0 = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "SPY", "QQQ", "BTC/USD")


# --------------------------------------------------------------------------- data


def _order_payload(order_id: str, client_id: str, symbol: str, side: str, i: int) -> dict[str, Any]:
    """The venue's JSON for a filled limit order (the keys it sends as null included)."""
    stamp = (T0 + dt.timedelta(milliseconds=i * 37)).isoformat().replace("+00:00", "Z")
    price = f"{100 + i % 97}.{i % 100:02d}"
    null = (
        "expired_at canceled_at failed_at replaced_at replaced_by replaces notional stop_price"
        " legs trail_percent trail_price hwm subtag source expires_at"
    )
    return dict.fromkeys(null.split()) | {
        "id": order_id,
        "client_order_id": client_id,
        "created_at": stamp,
        "updated_at": stamp,
        "submitted_at": stamp,
        "filled_at": stamp,
        "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415",
        "symbol": symbol,
        "asset_class": "us_equity",
        "qty": "10",
        "filled_qty": "10",
        "filled_avg_price": price,
        "order_class": "",
        "order_type": "limit",
        "type": "limit",
        "side": side,
        "position_intent": "buy_to_open" if side == "buy" else "sell_to_close",
        "time_in_force": "day",
        "limit_price": price,
        "status": "filled",
        "extended_hours": False,
    }


def build(count: int) -> tuple[list[Order], list[Fill]]:
    """``count`` filled limit orders and one stream fill each, with their raw payloads."""
    orders: list[Order] = []
    fills: list[Fill] = []
    for i in range(count):
        order_id = str(uuid.UUID(int=i + 1))
        client_id = f"ai-{uuid.UUID(int=10**12 + i).hex}"
        symbol = SYMBOLS[i % len(SYMBOLS)]
        side = OrderSide.BUY if i % 3 else OrderSide.SELL
        price = Decimal(f"{100 + i % 97}.{i % 100:02d}")
        at = T0 + dt.timedelta(milliseconds=i * 37)
        payload = _order_payload(order_id, client_id, symbol, side.value, i)
        raw = msgspec.json.encode(payload)
        orders.append(
            plain_order(
                id=order_id,
                client_order_id=client_id,
                symbol=symbol,
                asset_id=payload["asset_id"],
                side=side,
                type=OrderType.LIMIT,
                status=OrderStatus.FILLED,
                qty=Decimal(10),
                filled_qty=Decimal(10),
                filled_avg_price=price,
                limit_price=price,
                created_at=at,
                updated_at=at,
                submitted_at=at,
                filled_at=at,
                raw=raw,
            )
        )
        execution_id = str(uuid.UUID(int=10**15 + i))
        event = {
            "event": "fill",
            "execution_id": execution_id,
            "order": payload,
            "position_qty": str(10 * (i % 50)),
            "price": str(price),
            "qty": "10",
            "timestamp": payload["filled_at"],
        }
        fills.append(
            stream_fill(
                orders[-1],
                execution_id,
                Decimal(10),
                price,
                at,
                fill_type=FillType.FILL,
                leaves_qty=Decimal(0),
                cum_qty=Decimal(10),
                position_qty=Decimal(10 * (i % 50)),
                raw=msgspec.json.encode(event),
            )
        )
    return orders, fills


def pages(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --------------------------------------------------------------------------- runs


async def repository_run(
    store: Store, orders: list[Order], fills: list[Fill], page: int
) -> tuple[float, float, int]:
    """Seconds for orders, seconds for fills, rows changed by re-applying everything."""
    started = time.perf_counter()
    for chunk in pages(orders, page):
        result = await store.apply(ACCOUNT, orders=chunk)
        assert result.orders == len(chunk)
    orders_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for chunk in pages(fills, page):
        result = await store.apply(ACCOUNT, fills=chunk)
        assert result.fills == len(chunk)
    fills_seconds = time.perf_counter() - started
    changed = 0
    for chunk in pages(orders, page):
        changed += (await store.apply(ACCOUNT, orders=chunk)).rows_changed
    for chunk in pages(fills, page):
        changed += (await store.apply(ACCOUNT, fills=chunk)).rows_changed
    return orders_seconds, fills_seconds, changed


class OrderRow:
    """ORM mapping of ``orders`` for the baseline."""


class FillRow:
    """ORM mapping of ``fills`` for the baseline."""


def _map_orm() -> None:
    mapper_registry = registry()
    mapper_registry.map_imperatively(OrderRow, orders_table)
    mapper_registry.map_imperatively(FillRow, fills_table)


async def baseline_run(store: Store, orders: list[Order], fills: list[Fill]) -> tuple[float, float]:
    """Seconds to insert the same rows one by one through an ORM session."""
    async with store.engine.begin() as connection:
        await connection.execute(sa.text("TRUNCATE orders, fills"))
    now = dt.datetime.now(dt.UTC)

    async def insert(rows: list[Any]) -> float:
        started = time.perf_counter()
        async with AsyncSession(store.engine) as session:
            for row in rows:
                session.add(row)
                await session.flush()
            await session.commit()
        return time.perf_counter() - started

    def order_row(order: Order) -> OrderRow:
        obj = OrderRow()
        values = codec.order_row(
            order, account=ACCOUNT, external=False, source="rest", data_source="alpaca", now=now
        )
        for name, value in values.items():
            setattr(obj, name, value)
        return obj

    def fill_row(fill: Fill) -> FillRow:
        obj = FillRow()
        for name, value in codec.fill_row(
            fill, account=ACCOUNT, data_source="alpaca", now=now
        ).items():
            setattr(obj, name, value)
        return obj

    started = time.perf_counter()
    order_objects = [order_row(o) for o in orders]
    convert_orders = time.perf_counter() - started
    orders_seconds = await insert(order_objects) + convert_orders
    started = time.perf_counter()
    fill_objects = [fill_row(f) for f in fills]
    convert_fills = time.perf_counter() - started
    fills_seconds = await insert(fill_objects) + convert_fills
    return orders_seconds, fills_seconds


async def run(rows: int, page: int, baseline_rows: int) -> None:
    print(f"building {rows:,} orders and {rows:,} fills ...", flush=True)
    orders, fills = build(rows)
    with scratch_database("ai_bench", server=SERVER_URL) as url:
        name = url.rsplit("/", 1)[1]
        store = await Store.open(url, migrate=True)
        try:
            orders_s, fills_s, changed = await repository_run(store, orders, fills, page)
            _map_orm()
            base_orders_s, base_fills_s = await baseline_run(
                store, orders[:baseline_rows], fills[:baseline_rows]
            )
        finally:
            await store.aclose()

    repo_orders = rows / orders_s
    repo_fills = rows / fills_s
    repo_total = 2 * rows / (orders_s + fills_s)
    base_orders = baseline_rows / base_orders_s
    base_fills = baseline_rows / base_fills_s
    base_total = 2 * baseline_rows / (base_orders_s + base_fills_s)
    ratio = repo_total / base_total
    print(f"PostgreSQL {name} (dropped); {rows:,} orders + {rows:,} fills, pages of {page:,}")
    print(f"repository upsert   orders {repo_orders:>10,.0f} rows/s   ({orders_s:.2f} s)")
    print(f"repository upsert   fills  {repo_fills:>10,.0f} rows/s   ({fills_s:.2f} s)")
    print(f"repository upsert   total  {repo_total:>10,.0f} rows/s")
    print(
        f"ORM row by row      orders {base_orders:>10,.0f} rows/s   ({baseline_rows:,} rows, {base_orders_s:.2f} s)"
    )
    print(
        f"ORM row by row      fills  {base_fills:>10,.0f} rows/s   ({baseline_rows:,} rows, {base_fills_s:.2f} s)"
    )
    print(f"ORM row by row      total  {base_total:>10,.0f} rows/s")
    print(f"ratio repository / ORM baseline: {ratio:.1f}x")
    print(f"rows changed by re-applying everything: {changed}")
    goals = {
        ">= 20,000 rows/s": repo_total >= 20_000,
        ">= 10x baseline": ratio >= 10,
        "replay changes 0 rows": changed == 0,
    }
    print("goals: " + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in goals.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="orders (and fills) to ingest")
    parser.add_argument("--page", type=int, default=2_000, help="rows per Store.apply call")
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=None,
        help="rows for the ORM baseline (default: all; the baseline is the slow part)",
    )
    args = parser.parse_args()
    baseline_rows = args.rows if args.baseline_rows is None else min(args.baseline_rows, args.rows)
    asyncio.run(run(args.rows, args.page, baseline_rows))


if __name__ == "__main__":
    main()
