"""Soak: every fault at once, kill -9s of the monitor, clock skew; the store must equal the venue.

Runs, all on this machine, for ``--minutes`` (default 10):

* the simulator in its own process (``alpacactl sim``, rate limit 200/min, always-open clock) with
  every fault knob on at once: the venue's clock ``--skew`` seconds ahead of the host's (negative:
  behind), new orders invisible to lookups and listings for ``--visibility-lag`` seconds, fill
  events carrying stale order snapshots, 429 storms, lost answers (connection closed, or 504)
  after the order write happened, duplicated, late and reordered events; and, from a chaos loop,
  5xx bursts (every /v2 route answers 500 or 503 half the time for a few seconds), stream drops
  (every connection closed) and spells of a stream that refuses every connection;
* ``alpacactl monitor`` in another process writing to a fresh PostgreSQL database (``--sqlite``:
  a SQLite file), killed with SIGKILL every ``--kill-every`` seconds or so and restarted;
* a trading session in this process (``testing.sessions.random_session`` rounds: every order type
  and class, replaces, cancels, price moves) through the package's client, which sees the faults
  too.

Then the transient faults stop (the skew, the visibility lag and the stale snapshots stay: they
are how the venue is), the resting orders are canceled, and the store is compared with the
simulator's dump (``testing.compare``: every order field the venue states, every fill once with
its fee, positions, cash) until they agree or ``--settle`` seconds pass. Exit 0 when equal, 1 on
any difference.

    ./dev run python scripts/soak.py [--minutes 10] [--seed 1] [--skew 75] [--sqlite]
"""

# ruff: noqa: T201
from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx

# restart_test sits next to this script (its directory is on the path when run as a script).
from restart_test import (
    ACCOUNT,
    KEY_ID,
    SECRET,
    Venue,
    _compare,
    _monitor_env,
    _start_monitor,
    kill_and_restart,
    report,
    running_venue,
    stop_monitor,
    venue_arguments,
)


def steady_faults(args: argparse.Namespace) -> dict[str, Any]:
    """The faults on for the whole run (the chaos loop adds bursts on top)."""
    return {
        "clock_skew_seconds": args.skew,
        "visibility_lag_seconds": args.visibility_lag,
        "stale_order_in_fill_probability": 0.2,
        "rate_limit_storm_rate": 0.03,
        "lost_answer_rate": 0.05,
        "stream_duplicate_rate": 0.05,
        "stream_late_rate": 0.05,
        "stream_late_ms": 700.0,
        "reorder_probability": 0.05,
        "reorder_window_ms": 300.0,
        "latency_ms": 5.0,
        "latency_jitter_ms": 20.0,
    }


def venue_faults(args: argparse.Namespace) -> dict[str, Any]:
    """What stays after the transient faults stop: how this venue is, not an outage."""
    return {
        "reset": True,
        "clock_skew_seconds": args.skew,
        "visibility_lag_seconds": args.visibility_lag,
        "stale_order_in_fill_probability": 0.2,
    }


async def _set_faults(admin: httpx.AsyncClient, faults: dict[str, Any]) -> None:
    answer = await admin.post("/_sim/faults", json=faults)
    answer.raise_for_status()


async def _chaos(
    admin: httpx.AsyncClient, rng: random.Random, deadline: float, counts: Counter[str]
) -> None:
    """Until ``deadline``: 5xx bursts, stream drops and refusing spells, at random moments."""
    while time.monotonic() < deadline:
        await asyncio.sleep(rng.uniform(4.0, 12.0))
        kind = rng.choice(("5xx burst", "5xx burst", "stream drop", "stream refusing"))
        counts[kind] += 1
        if kind == "5xx burst":
            status = rng.choice((500, 503))
            await _set_faults(admin, {"error_rate": 0.5, "error_status": status})
            await asyncio.sleep(rng.uniform(1.0, 4.0))
            await _set_faults(admin, {"error_rate": 0.0})
        elif kind == "stream drop":
            await admin.post("/_sim/stream/drop")
        else:
            await _set_faults(admin, {"stream_mode": "drop"})
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            await _set_faults(admin, {"stream_mode": "normal"})


async def _trade(
    base_url: str, rng: random.Random, deadline: float, quiet: dict[str, Any]
) -> Counter[str]:
    """Random-session rounds until ``deadline``; then the faults ``quiet`` and every resting order
    canceled."""
    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.errors import AlpacaIntegrationError
    from alpaca_integration.testing.sessions import random_session

    totals: Counter[str] = Counter()
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=10.0) as admin,
        AlpacaClient(KEY_ID, SECRET, base_url, rate_limit=200) as client,
    ):

        async def set_price(symbol: str, price: Decimal) -> None:
            await admin.post("/_sim/price", json={"symbol": symbol, "price": str(price)})

        while time.monotonic() < deadline:
            stats = await random_session(client, set_price, n_orders=40, rng=rng, pause=0.05)
            totals.update(
                submitted=stats.submitted,
                replaced=stats.replaced,
                canceled=stats.canceled,
                refused=stats.refused,
                unknown_outcome=stats.unknown_outcome,
                price_moves=stats.price_moves,
            )
        await _set_faults(admin, quiet)
        for _ in range(3):  # resting orders may still be invisible (the visibility lag)
            try:
                await client.cancel_all_orders()
            except AlpacaIntegrationError as exc:
                print(f"  cancel_all_orders: {type(exc).__name__}", flush=True)
            await asyncio.sleep(1.0)
    return totals


async def _kills(
    env: dict[str, str], log: Any, rng: random.Random, every: float, deadline: float
) -> tuple[Any, int]:
    """Kill -9 and restart the monitor about every ``every`` seconds until ``deadline``."""
    monitor = _start_monitor(env, log)
    done = 0
    try:
        while True:
            pause = rng.uniform(0.3 * every, 1.7 * every)
            if time.monotonic() + pause >= deadline:
                break
            await asyncio.sleep(pause)
            done += 1
            monitor = kill_and_restart(monitor, env, log, done)
    except BaseException:
        stop_monitor(monitor)
        raise
    return monitor, done


async def _settle(venue: Venue, settle: float) -> list[str]:
    """Compare until the store equals the venue or ``settle`` seconds pass; the differences."""
    deadline = time.monotonic() + settle
    while True:
        differences = await _compare(venue.database_url, venue.base_url)
        if not differences or time.monotonic() >= deadline:
            return differences
        print(f"  {len(differences)} difference(s) left; the monitor is catching up", flush=True)
        await asyncio.sleep(3.0)


async def soak(args: argparse.Namespace, venue: Venue) -> int:
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.minutes * 60
    chaos_counts: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=venue.base_url, timeout=10.0) as admin:
        await _set_faults(admin, steady_faults(args))
        print(f"faults on: {steady_faults(args)}", flush=True)
        env = _monitor_env(venue.base_url, venue.database_url)
        chaos = asyncio.create_task(
            _chaos(admin, random.Random(args.seed + 1), deadline, chaos_counts)
        )
        trader = asyncio.create_task(
            _trade(venue.base_url, random.Random(args.seed + 2), deadline, venue_faults(args))
        )
        monitor, kills = await _kills(env, venue.log, rng, args.kill_every, deadline)
        try:
            await chaos
            totals = await trader
            print(
                f"transient faults off after {args.minutes:g} min; chaos {dict(chaos_counts)}; "
                f"{kills} kill -9 + restarts; session {dict(totals)}",
                flush=True,
            )
            differences = await _settle(venue, args.settle)
        finally:
            stop_monitor(monitor)
        if differences:
            venue.keep = True
            await _explain(venue, admin, differences)
    return report(differences)


async def _explain(venue: Venue, admin: httpx.AsyncClient, differences: list[str]) -> None:
    """For a failed run: the venue's dump and events saved, and what the store has on each order
    a difference names (its row and its quarantined records)."""
    import re

    from alpaca_integration.storage import Store

    for name, path in (("dump", "dump"), ("events", "events")):
        answer = await admin.get(f"/_sim/accounts/{KEY_ID}/{path}")
        (venue.workdir / f"venue_{name}.json").write_text(answer.text)
    ids = sorted(
        set(
            re.findall(
                r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                " ".join(differences),
            )
        )
    )
    store = await Store.open(venue.database_url)
    try:
        quarantined = await store.list_quarantine(ACCOUNT)
        print(f"quarantine: {len(quarantined)} record(s)", flush=True)
        for order_id in ids[:10]:
            order = await store.get_order(ACCOUNT, order_id, with_legs=False)
            print(f"  order {order_id}: {order!r}"[:600], flush=True)
            for record in quarantined:
                if order_id in record.record_key or order_id.encode() in record.raw:
                    print(
                        f"    quarantined {record.record_kind} {record.record_key}: {record.reason}"
                    )
    finally:
        await store.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--skew", type=float, default=75.0, help="venue clock minus host clock, s")
    parser.add_argument("--visibility-lag", type=float, default=1.0, help="seconds")
    parser.add_argument("--kill-every", type=float, default=30.0, help="mean seconds between kills")
    parser.add_argument("--settle", type=float, default=90.0, help="seconds to reach equality")
    venue_arguments(parser)
    args = parser.parse_args()
    started = time.monotonic()
    with running_venue(
        seed=args.seed, sqlite=args.sqlite, postgres=args.postgres, prefix="soak"
    ) as venue:
        code = asyncio.run(soak(args, venue))
    print(f"soak took {time.monotonic() - started:.0f}s", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
