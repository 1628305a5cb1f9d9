"""Benchmark: build the lot ledger for 1,000,000 fills over 500 symbols, against pyfolio-reloaded.

The fills are synthetic and deterministic (``--seed``): symbol ``i`` of fill ``i`` cycles through
the 500 symbols, one fill a minute (so one symbol's fills are 500 minutes apart), buy or sell at
random, 1-50 whole shares, each symbol's price a random walk in cents from $100; sells carry a
regulatory-style fee (and every fill a UUID ``fill_id``/``order_id``, as Alpaca's), no strategy
tag. Fills are generated in chunks of ``--chunk`` and applied chunk by chunk, so memory holds the
ledger, not the input; only ``Ledger.apply`` is timed.

* ours: ``Ledger.apply`` (FIFO) over all fills, in a fresh child process per run so that the peak
  RSS (``resource.getrusage``) is the ledger's own, not pandas'. The ledger runs as the sync path
  will: it keeps its state (open lots, ids seen) and hands each batch's matches to the caller
  (``keep_matches=False``), which sums them per symbol the way a store would write them; one
  more run keeps every match in the ledger as well, and prints its time and RSS.
* baseline: ``pyfolio.round_trips.extract_round_trips`` on the transactions frame it expects
  (DatetimeIndex; ``amount`` signed whole shares, ``price``, ``symbol``) for the first N fills, N
  calibrated so that a run takes about ``--baseline-seconds``.

Apples to apples: pyfolio matches FIFO per symbol, share by share, after merging consecutive
same-direction transactions of a symbol less than 8 hours apart at their VWAP; the 500-minute
spacing means it never merges, so both sides match exactly the same fills FIFO per symbol, with
whole shares and no sleeves. Realized P&L per symbol is compared on those N fills: the ledger's
``gross`` (pyfolio ignores fees) summed per symbol, against pyfolio's ``pnl`` summed per symbol,
to the cent.

Prints per-fill costs, the ratio, the agreement, and the median and spread of ``--runs`` runs.
Goals: >= 20x the baseline per fill, 1M fills in <= 10 s and <= 500 MB peak RSS, identical P&L.
It asserts nothing: timing belongs here, never in the test suite.

Run: ``./dev run python benchmarks/ledger.py [--fills 1000000] [--symbols 500] [--runs 3]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from alpaca_integration.ledger import Ledger
from alpaca_integration.models import DataSource, Fill, FillType, OrderSide

T0 = dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC)
_FEE_RATE = Decimal("0.0000278")
_CENT = Decimal("0.01")


def synthetic_fills(count: int, symbols: int, seed: int, chunk: int) -> Iterator[list[Fill]]:
    """``count`` deterministic fills in chunks of ``chunk``, in time order."""
    rng = random.Random(seed)
    names = [f"S{index:03d}" for index in range(symbols)]
    cents = [10_000] * symbols
    batch: list[Fill] = []
    for serial in range(count):
        slot = serial % symbols
        cents[slot] = max(100, cents[slot] + rng.randint(-100, 100))
        price = Decimal(cents[slot]).scaleb(-2)
        qty = Decimal(rng.randint(1, 50))
        side = OrderSide.BUY if rng.random() < 0.5 else OrderSide.SELL
        fee = (
            max(_CENT, (qty * price * _FEE_RATE).quantize(_CENT))
            if side is OrderSide.SELL
            else Decimal(0)
        )
        batch.append(
            Fill(
                fill_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                execution_id=None,
                activity_id=None,
                order_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                symbol=names[slot],
                side=side,
                qty=qty,
                price=price,
                timestamp=T0 + dt.timedelta(minutes=serial),
                fee=fee,
                fill_type=FillType.FILL,
                source=DataSource.STREAM,
            )
        )
        if len(batch) == chunk:
            yield batch
            batch = []
    if batch:
        yield batch


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ledger(count: int, symbols: int, seed: int, chunk: int, keep: bool) -> dict[str, Any]:
    """Build the ledger; the timed part is only ``Ledger.apply``. With ``keep`` False (how the
    sync path runs it) each batch's matches are handed to the caller, which here only sums them
    per symbol as a store would write them; with ``keep`` the ledger holds every match."""
    ledger = Ledger("bench", keep_matches=keep)
    seconds = cpu = 0.0
    realized: dict[str, Decimal] = {}
    for batch in synthetic_fills(count, symbols, seed, chunk):
        started, started_cpu = time.perf_counter(), time.process_time()
        changes = ledger.apply(batch)
        seconds += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
        for match in changes.matches:
            realized[match.symbol] = realized.get(match.symbol, Decimal(0)) + match.gross
    totals = ledger.totals()
    assert sum(realized.values(), Decimal(0)) == totals.realized_gross
    return {
        "fills": count,
        "keep_matches": keep,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": _peak_rss_mb(),
        "matches": totals.matches,
        "open_lots": totals.open_lots,
        "realized_gross": str(totals.realized_gross),
        "fees": str(totals.fees_paid),
    }


def realized_by_symbol(ledger: Ledger) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for match in ledger.matches():
        out[match.symbol] = out.get(match.symbol, Decimal(0)) + match.gross
    return out


def transactions_frame(fills: list[Fill]) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "amount": [int(f.qty) if f.side is OrderSide.BUY else -int(f.qty) for f in fills],
            "price": [float(f.price) for f in fills],
            "symbol": [f.symbol for f in fills],
        },
        index=pd.DatetimeIndex([f.timestamp for f in fills], name="dt"),
    )


def run_pyfolio(fills: list[Fill]) -> tuple[float, dict[str, float]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyfolio warns that zipline is absent
        from pyfolio.round_trips import extract_round_trips

        frame = transactions_frame(fills)
        started = time.perf_counter()
        trips = extract_round_trips(frame)
        seconds = time.perf_counter() - started
    return seconds, {str(k): float(v) for k, v in trips.groupby("symbol")["pnl"].sum().items()}


def _child(args: argparse.Namespace) -> None:
    print(json.dumps(run_ledger(args.fills, args.symbols, args.seed, args.chunk, args.keep)))


def _spawn(args: argparse.Namespace, keep: bool = False, fills: int = 0) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--fills", str(fills or args.fills)]
    command += ["--symbols", str(args.symbols), "--seed", str(args.seed)]
    command += ["--chunk", str(args.chunk), *(["--keep"] if keep else [])]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _first(count: int, args: argparse.Namespace) -> list[Fill]:
    batches = synthetic_fills(count, args.symbols, args.seed, 10_000)
    return [fill for batch in batches for fill in batch]


def _spread(values: list[float], unit: str, digits: int = 2) -> str:
    return (
        f"median {statistics.median(values):.{digits}f} {unit} "
        f"(min {min(values):.{digits}f}, max {max(values):.{digits}f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-seconds", type=float, default=60.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    ours = [_spawn(args) for _ in range(args.runs)]
    per_fill_ours = [run["seconds"] / run["fills"] * 1e6 for run in ours]
    print(f"ledger: {args.fills:,} fills, {args.symbols} symbols, {ours[0]['matches']:,} matches")
    print("  matches handed out per batch (keep_matches=False, as the sync path runs it):")
    print(f"  time      {_spread([run['seconds'] for run in ours], 's')}")
    print(f"  CPU time  {_spread([run['cpu_seconds'] for run in ours], 's')}")
    print(f"  peak RSS  {_spread([run['peak_rss_mb'] for run in ours], 'MB', 0)}")
    print(f"  per fill  {_spread(per_fill_ours, 'us')}")
    kept = _spawn(args, keep=True)
    print(
        f"  every match also kept in the ledger (keep_matches=True, one run): "
        f"{kept['seconds']:.2f} s, peak RSS {kept['peak_rss_mb']:.0f} MB"
    )

    # Calibrate N so that pyfolio takes about --baseline-seconds: double a probe until it takes a
    # quarter of that (its fixed costs then matter little), then scale linearly.
    probe, probe_seconds = 4_000, 0.0
    while probe < args.fills:
        probe_seconds, _ = run_pyfolio(_first(probe, args))
        if probe_seconds >= args.baseline_seconds / 4:
            break
        probe *= 2
    shared = int(min(args.fills, probe * args.baseline_seconds / max(probe_seconds, 1e-9)))
    fills = _first(shared, args)
    baseline = [run_pyfolio(fills) for _ in range(args.runs)]
    per_fill_theirs = [seconds / shared * 1e6 for seconds, _ in baseline]
    # The ledger on exactly those fills, timed in fresh processes like the 1M runs (here, after
    # pandas, the garbage collector would walk pyfolio's heap on the ledger's time).
    same_size = [
        run["seconds"] / shared * 1e6
        for run in (_spawn(args, fills=shared) for _ in range(args.runs))
    ]
    ledger = Ledger.rebuild(fills, like=Ledger("bench"))
    print(f"pyfolio extract_round_trips on the first {shared:,} fills")
    print(f"  per fill  {_spread(per_fill_theirs, 'us')}")
    print(f"ledger on the same {shared:,} fills: per fill {_spread(same_size, 'us')}")
    ratio = statistics.median(per_fill_theirs) / statistics.median(per_fill_ours)
    ratio_same = statistics.median(per_fill_theirs) / statistics.median(same_size)
    print(
        f"ratio (pyfolio / ledger per fill): {ratio:.1f}x vs the 1M run, {ratio_same:.1f}x same size"
    )

    theirs = baseline[0][1]
    mine = realized_by_symbol(ledger)
    differ = [
        symbol
        for symbol in sorted(set(theirs) | set(mine))
        if abs(Decimal(str(theirs.get(symbol, 0.0))) - mine.get(symbol, Decimal(0)))
        >= Decimal("0.005")
    ]
    print(
        f"realized P&L per symbol on the shared fills: {len(mine)} symbols, "
        + ("identical to the cent" if not differ else f"{len(differ)} differ: {differ[:5]}")
    )
    print(
        f"goals: >=20x {'met' if ratio >= 20 else 'NOT met'}; "
        f"<=10 s {'met' if statistics.median([r['seconds'] for r in ours]) <= 10 else 'NOT met'}; "
        f"<=500 MB {'met' if max(r['peak_rss_mb'] for r in ours) <= 500 else 'NOT met'}; "
        f"P&L {'met' if not differ else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
