"""Ingest throughput of the store on the local PostgreSQL.

Builds realistic orders and fills (Alpaca-shaped raw payloads of ~1 KB), then in ONE run on its
own fresh database (dropped at the end):

1. upserts them through ``Store.apply`` in pages (the repository path the sync engine uses; into
   empty tables, so every row is new: a page's new rows go straight in by COPY, after one read
   of which keys are stored);
2. applies every page again and counts the rows changed (must be 0: idempotent); every key is
   stored then, so this times the other path, the staged ``INSERT .. SELECT .. ON CONFLICT``;
3. the honest baselines, each into the same tables after a TRUNCATE, from the same models, in
   pages of the same size (one transaction per page), the rows built by the same ``codec``:

   * SQLAlchemy Core ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE`` (a plain upsert
     without our monotonic rules, merging or quarantine): what a careful hand-written path does;
   * PostgreSQL ``COPY`` of the same rows (asyncpg's binary ``copy_records_to_table``): the
     physical limit of getting these rows into these tables, with their indexes;
   * (the old straw man) row by row through an ORM session, ``session.add`` + ``flush`` per row;

1-3 take turns for ``--rounds`` rounds (default 3; the replay only in the first), so a change in
the machine's load hits every path alike; the medians are compared. It prints rows/s for each
and ours as a share of Core and of COPY (goal: >= 85% of COPY, with the rounds' spread), and
whether the older goals (>= 20,000 rows/s, >= 10x the ORM row by row, 0 rows changed on replay)
are met.

Run: ``./dev run python benchmarks/ingest.py [--rows 100000] [--page 2000] [--rounds 3]
[--baseline-rows N]``
(``ALPACA_BENCH_POSTGRES_URL`` overrides ``postgresql://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
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
    store: Store, orders: list[Order], fills: list[Fill], page: int, *, replay: bool = True
) -> tuple[float, float, int, float]:
    """Seconds for orders, seconds for fills, rows changed by re-applying everything and the
    seconds that took (0 and 0 when ``replay`` is off), into empty tables."""
    await _truncate(store)
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
    if not replay:
        return orders_seconds, fills_seconds, changed, 0.0
    started = time.perf_counter()
    for chunk in pages(orders, page):
        changed += (await store.apply(ACCOUNT, orders=chunk)).rows_changed
    for chunk in pages(fills, page):
        changed += (await store.apply(ACCOUNT, fills=chunk)).rows_changed
    return orders_seconds, fills_seconds, changed, time.perf_counter() - started


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
    await _truncate(store)
    now = dt.datetime.now(dt.UTC)

    async def insert(rows: list[Any]) -> float:
        started = time.perf_counter()
        async with AsyncSession(store.engine) as session:
            for row in rows:
                session.add(row)
                await session.flush()
            await session.commit()
        return time.perf_counter() - started

    def objects(kind: type[Any], rows: list[dict[str, Any]]) -> list[Any]:
        out = []
        for values in rows:
            obj = kind()
            for name, value in values.items():
                setattr(obj, name, value)
            out.append(obj)
        return out

    started = time.perf_counter()
    order_objects = objects(OrderRow, _order_rows(orders, now))
    convert_orders = time.perf_counter() - started
    orders_seconds = await insert(order_objects) + convert_orders
    started = time.perf_counter()
    fill_objects = objects(FillRow, _fill_rows(fills, now))
    convert_fills = time.perf_counter() - started
    fills_seconds = await insert(fill_objects) + convert_fills
    return orders_seconds, fills_seconds


def _order_rows(orders: Sequence[Order], now: dt.datetime) -> list[dict[str, Any]]:
    return [
        codec.order_row(
            o, account=ACCOUNT, external=False, source="rest", data_source="alpaca", now=now
        )
        for o in orders
    ]


def _fill_rows(fills: Sequence[Fill], now: dt.datetime) -> list[dict[str, Any]]:
    return [codec.fill_row(f, account=ACCOUNT, data_source="alpaca", now=now) for f in fills]


async def _truncate(store: Store) -> None:
    async with store.engine.begin() as connection:
        await connection.execute(sa.text("TRUNCATE orders, fills"))


def _upsert_statement(table: sa.Table) -> Any:
    statement = postgresql.insert(table)
    keys = [column.name for column in table.primary_key.columns]
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
    )


async def _copy(connection: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """COPY ``rows`` into ``table``, each value bound as SQLAlchemy would bind it, column by
    column (one list and one bind processor per column, then zipped into records: the fastest
    way we know in Python, the same as the store's own COPY, so the limit is not flattered)."""
    dialect = connection.dialect
    columns = [column.name for column in table.columns if column.name in rows[0]]
    values: list[list[Any]] = []
    for name in columns:
        bind = table.columns[name].type.bind_processor(dialect)
        column = [row[name] for row in rows]
        values.append(column if bind is None else [bind(value) for value in column])
    records = list(zip(*values, strict=True))
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(table.name, records=records, columns=columns)


async def table_baseline(
    store: Store, orders: list[Order], fills: list[Fill], page: int, *, copy: bool
) -> tuple[float, float, float]:
    """Seconds for orders and for fills through Core executemany upserts (or COPY), by page, and
    the part of them spent building rows in Python (the codec)."""
    await _truncate(store)
    now = dt.datetime.now(dt.UTC)
    seconds = []
    building = 0.0
    for table, items, to_rows in (
        (orders_table, orders, _order_rows),
        (fills_table, fills, _fill_rows),
    ):
        statement = _upsert_statement(table)
        started = time.perf_counter()
        for chunk in pages(items, page):
            built = time.perf_counter()
            rows = to_rows(chunk, now)
            building += time.perf_counter() - built
            async with store.engine.begin() as connection:
                if copy:
                    await _copy(connection, table, rows)
                else:
                    await connection.execute(statement, rows)
        seconds.append(time.perf_counter() - started)
    async with store.engine.connect() as connection:
        for table, items in ((orders_table, orders), (fills_table, fills)):
            count = await connection.scalar(sa.select(sa.func.count()).select_from(table))
            assert count == len(items), f"{table.name}: {count} rows, expected {len(items)}"
    return seconds[0], seconds[1], building


def _line(name: str, rows: int, orders_s: float, fills_s: float) -> float:
    """Print one path's rows/s (orders, fills, total); the total."""
    total = 2 * rows / (orders_s + fills_s)
    print(
        f"{name:<28} orders {rows / orders_s:>8,.0f}  fills {rows / fills_s:>8,.0f}  "
        f"total {total:>8,.0f} rows/s  ({orders_s + fills_s:.2f} s)"
    )
    return total


async def run(rows: int, page: int, baseline_rows: int, rounds: int) -> None:
    print(f"building {rows:,} orders and {rows:,} fills ...", flush=True)
    orders, fills = build(rows)
    totals: dict[str, list[float]] = {"ours": [], "core": [], "copy": []}
    building: list[float] = []
    copy_alone: list[float] = []
    changed = 0
    replay_seconds = 0.0
    with scratch_database("ai_bench", server=SERVER_URL) as url:
        name = url.rsplit("/", 1)[1]
        store = await Store.open(url, migrate=True)
        try:
            # The three paths take turns, round after round, so a change in the machine's load
            # hits all of them alike; the medians are compared.
            for number in range(1, rounds + 1):
                ours = await repository_run(store, orders, fills, page, replay=number == 1)
                changed += ours[2]
                replay_seconds += ours[3]
                core = await table_baseline(store, orders, fills, page, copy=False)
                copy = await table_baseline(store, orders, fills, page, copy=True)
                print(f"round {number}:")
                totals["ours"].append(_line("  repository Store.apply", rows, ours[0], ours[1]))
                totals["core"].append(_line("  Core executemany upsert", rows, core[0], core[1]))
                totals["copy"].append(_line("  COPY (physical limit)", rows, copy[0], copy[1]))
                building.append(copy[2])
                copy_alone.append(2 * rows / (copy[0] + copy[1] - copy[2]))
            _map_orm()
            orm = await baseline_run(store, orders[:baseline_rows], fills[:baseline_rows])
        finally:
            await store.aclose()

    print(f"PostgreSQL {name} (dropped); {rows:,} orders + {rows:,} fills, pages of {page:,}")
    repo_total, core_total, copy_total = (statistics.median(totals[k]) for k in totals)
    print(
        f"medians of {rounds} rounds: repository {repo_total:,.0f}, Core executemany "
        f"{core_total:,.0f}, COPY {copy_total:,.0f} rows/s"
    )
    orm_total = _line(f"ORM row by row ({baseline_rows:,})", baseline_rows, *orm)
    shares = [o / c for o, c in zip(totals["ours"], totals["copy"], strict=True)]
    print(
        f"repository = {repo_total / copy_total:.0%} of COPY (rounds {min(shares):.0%}-"
        f"{max(shares):.0%}), {repo_total / core_total:.0%} of Core executemany, "
        f"{repo_total / orm_total:.1f}x ORM row by row"
    )
    print(
        f"building rows in Python (codec) took {statistics.median(building):.2f} s of COPY's "
        f"time; COPY without it: {statistics.median(copy_alone):,.0f} rows/s"
    )
    print(
        f"rows changed by re-applying everything: {changed} (round 1; every key stored, so the "
        f"staged upsert: {2 * rows / replay_seconds:,.0f} rows/s)"
    )
    goals = {
        ">= 85% of COPY": repo_total >= 0.85 * copy_total,
        ">= 20,000 rows/s": repo_total >= 20_000,
        ">= 10x ORM row by row": repo_total >= 10 * orm_total,
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
    parser.add_argument("--rounds", type=int, default=3, help="turns of the three fast paths")
    args = parser.parse_args()
    baseline_rows = args.rows if args.baseline_rows is None else min(args.baseline_rows, args.rows)
    asyncio.run(run(args.rows, args.page, baseline_rows, args.rounds))


if __name__ == "__main__":
    main()
