"""Benchmark: keeping the stored ledger up to date, incrementally against a rebuild.

A scratch PostgreSQL database (``--url`` for another, e.g. ``sqlite:///bench.db``) holds
``--fills`` synthetic fills over ``--symbols`` symbols (one execution per order, buy or sell at
random, 1-50 shares, prices a random walk in cents; a fee on sells), stored through the store's
write path (not timed). Then, in the same run:

* rebuild: ``LedgerUpdater.rebuild()``: every stored event replayed, every ledger row of the
  account replaced in one transaction (the baseline: what a sync path without the updater's
  checkpoint would have to do after each batch);
* incremental: ``--new`` more fills stored, then ``update()`` on the updater that already holds
  the ledger (reads from its checkpoint, applies, writes the change), ``--runs`` times;
* a fresh process's first ``update()`` (replays in memory, writes only what the rows lack).

Prints each time, the per-fill cost of the rebuild, the ratio rebuild / incremental, and whether
the rows after the incremental path equal a rebuild's. It asserts nothing.

Run: ``./dev run python benchmarks/ledger_store.py [--fills 20000] [--new 100] [--runs 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import random
import statistics
import time
from collections.abc import Iterator
from decimal import Decimal

from alpaca_integration.ledger.updater import LedgerUpdater
from alpaca_integration.models import Fill, FillType, OrderSide, OrderStatus
from alpaca_integration.storage import Store
from bench_support import plain_order, scratch_database, stream_fill

ACCOUNT = "bench"
T0 = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)


def _fills(start: int, count: int, symbols: int, rng: random.Random) -> list[Fill]:
    prices = [Decimal(10_000 + 37 * s) for s in range(symbols)]  # cents
    out = []
    for n in range(start, start + count):
        s = n % symbols
        prices[s] = max(Decimal(100), prices[s] + rng.randint(-50, 50))
        side = rng.choice((OrderSide.BUY, OrderSide.SELL))
        order = plain_order(
            id=f"o-{n}",
            client_order_id=f"ai-{n:x}",
            symbol=f"S{s:03d}",
            side=side,
            status=OrderStatus.FILLED,
            **dict.fromkeys(("qty", "filled_qty"), Decimal(1)),
            **dict.fromkeys(("created_at", "updated_at", "submitted_at"), T0),
        )
        qty = Decimal(rng.randint(1, 50))
        out.append(
            stream_fill(
                order,
                f"x-{n}",
                qty,
                prices[s] / 100,
                T0 + dt.timedelta(seconds=n),
                fee=Decimal("0.02") if side is OrderSide.SELL else Decimal(0),
                fill_type=FillType.FILL,
                cum_qty=qty,
            )
        )
    return out


async def _store(store: Store, fills: list[Fill]) -> None:
    for i in range(0, len(fills), 2000):
        await store.apply(ACCOUNT, fills=fills[i : i + 2000])


async def _rows(store: Store) -> tuple[object, ...]:
    return (
        await store.ledger_matches(ACCOUNT),
        await store.ledger_lots(ACCOUNT),
        await store.ledger_daily_pnl(ACCOUNT),
    )


async def _run(url: str, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    async with await Store.open(url, migrate=True) as store:
        await _store(store, _fills(0, args.fills, args.symbols, rng))
        updater = LedgerUpdater(store, ACCOUNT)
        started = time.perf_counter()
        await updater.rebuild()
        rebuild = time.perf_counter() - started
        incremental, rebuilds = [], []
        stored = args.fills
        for _ in range(args.runs):
            await _store(store, _fills(stored, args.new, args.symbols, rng))
            stored += args.new
            started = time.perf_counter()
            report = await updater.update()
            incremental.append(time.perf_counter() - started)
            assert not report.rebuilt, report.reason
        kept = await _rows(store)
        started = time.perf_counter()
        await LedgerUpdater(store, ACCOUNT).update()
        resume = time.perf_counter() - started
        for _ in range(args.runs):
            started = time.perf_counter()
            await LedgerUpdater(store, ACCOUNT).rebuild()
            rebuilds.append(time.perf_counter() - started)
        same = kept == await _rows(store)
    median_rebuild = statistics.median(rebuilds)
    median_inc = statistics.median(incremental)
    print(f"database: {url.split('@')[-1]}")
    print(
        f"first rebuild, {args.fills} fills: {rebuild:.2f} s ({rebuild / args.fills * 1e6:.0f} us/fill)"
    )
    print(
        f"rebuild, {stored} fills: median {median_rebuild:.2f} s "
        f"(min {min(rebuilds):.2f}, max {max(rebuilds):.2f}; {median_rebuild / stored * 1e6:.0f} us/fill)"
    )
    print(
        f"incremental, {args.new} new fills: median {median_inc * 1000:.0f} ms "
        f"(min {min(incremental) * 1000:.0f}, max {max(incremental) * 1000:.0f})"
    )
    print(f"fresh process's first update (replay, write the missing rows): {resume:.2f} s")
    print(f"ratio rebuild / incremental: {median_rebuild / median_inc:.0f}x")
    print(f"rows after the incremental path equal a rebuild's: {same}")


@contextlib.contextmanager
def _database(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with scratch_database("ledger_bench") as scratch:
        yield scratch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=20_000)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--url", default=None, help="database URL (default: scratch PostgreSQL)")
    args = parser.parse_args()
    with _database(args.url) as url:
        asyncio.run(_run(url, args))


if __name__ == "__main__":
    main()
