"""Latency of the stream path: fill event -> row committed in PostgreSQL and visible in Redis.

One run, on this machine: the simulator in its own process (rate limit off, always-open clock),
a fresh PostgreSQL database (dropped at the end), a Redis key namespace of its own. Market orders
are paced so the stream carries about RATE events/s; each event goes through the real
``StreamIngestor`` and ``SyncEngine`` (validation, one transaction with the position and the
checkpoint, cache refresh and notification; events that queue up during a write share the next
one). For every fill event we time:

* ``receive -> visible``: from the event leaving the WebSocket to the fill row committed in
  PostgreSQL and the cache written in Redis (then read back once to prove it is visible);
* ``venue -> visible``: from the venue's event timestamp (same machine, same clock) to the same
  point, which adds the simulator's send and the socket.

Only an event's first application counts (an event re-applied after a failed batch, or
delivered twice, is not a new measurement). Where the time goes, per fill event (p50, p99, and
the mean of each phase over the slowest 1% of events):

* ``socket``: venue timestamp -> the frame handed over by the WebSocket (the simulator's send,
  the socket, the client's receive loop);
* ``parse``: the frame decoded into a ``TradeUpdate``;
* ``batching wait``: parsed -> its batch's write starts (queued while the previous write ran);
* ``validation``: the engine's screen of the batch's orders and fills;
* ``transaction``: the one ``Store.apply_batch`` transaction: the positions the batch moves,
  judged against the store under the account's lock, the rows, positions and checkpoint, the
  changed orders and positions read back for the cache mirror, the commit;
* ``store read``: reads of the store outside that transaction (none on the stream path since
  the mirror's rows are read back inside it; kept so a regression shows);
* ``cache``: the cache writes and change notifications;
* ``other``: the rest of the engine's apply (the write lock, leg-parent lookups, quarantine);
* ``read-back``: this benchmark's ``get_positions`` from Redis proving the write visible.

``monitor process CPU``: this process's CPU time (user + system) over the run, per event
applied: the stream client, the engine, the store's and the cache's clients; steadier than the
latencies on a loaded machine, and what a monitor serving many accounts runs out of.

Baseline measured in the same run: one bare single-row INSERT + COMMIT in PostgreSQL followed by
one Redis SET and GET (the floor any store-then-cache path pays on this machine).
Goal: p99 <= 10 ms at 200 events/s (issue 11 item 23; it was 25 ms at 50 and 200 events/s).

    ./dev run python benchmarks/latency.py [--rates 50,200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
import uuid
from typing import Any

from bench_support import REDIS_URL, free_port, pct, scratch_database, simulator

KEY_ID = "LATENCYBENCHKEY00001"
SECRET = "latency-bench-secret-000000000000000001"
ACCOUNT = "bench"


_GENERATOR = """
import asyncio, sys, time, uuid
import httpx

async def main(base_url, key, secret, per_second, seconds):
    headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:
        tasks = []
        started = time.perf_counter()
        n = 0
        while time.perf_counter() - started < seconds:
            body = {"symbol": "AAPL", "qty": "1", "side": "buy" if n % 2 == 0 else "sell",
                    "type": "market", "time_in_force": "day",
                    "client_order_id": "bench-" + uuid.uuid4().hex}
            tasks.append(asyncio.create_task(http.post("/v2/orders", json=body)))
            n += 1
            await asyncio.sleep(max(0.0, started + n / per_second - time.perf_counter()))
        await asyncio.gather(*tasks, return_exceptions=True)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))
"""


async def _baseline(pg_url: str, redis_url: str, namespace: str, n: int = 300) -> list[float]:
    import asyncpg
    import redis.asyncio as aioredis

    conn = await asyncpg.connect(pg_url)
    r = aioredis.from_url(redis_url)
    try:
        await conn.execute("create table bench_baseline (id text primary key, qty numeric)")
        out = []
        for i in range(n):
            t0 = time.perf_counter()
            async with conn.transaction():
                await conn.execute("insert into bench_baseline values ($1, $2)", f"x{i}", i)
            await r.set(f"{namespace}:baseline", str(i))
            await r.get(f"{namespace}:baseline")
            out.append((time.perf_counter() - t0) * 1000)
        await r.delete(f"{namespace}:baseline")
        return out
    finally:
        await conn.close()
        await r.aclose()


PHASES = (
    "socket",
    "parse",
    "batching wait",
    "validation",
    "transaction",
    "store read",
    "cache",
    "other",
    "read-back",
)


class Phases:
    """Where one batch's time goes: wraps the engine's and the store's steps with timers."""

    def __init__(self) -> None:
        self.current: dict[str, float] = {}

    def timed(self, phase: str, method: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                elapsed = (time.perf_counter() - started) * 1000
                self.current[phase] = self.current.get(phase, 0.0) + elapsed

        return wrapper

    def instrument(self, engine: Any, store: Any) -> None:
        engine._validated = self.timed("validation", engine._validated)
        engine._mirror = self.timed("cache", engine._mirror)
        store.apply_batch = self.timed("transaction", store.apply_batch)
        store.list_orders = self.timed("store read", store.list_orders)
        store.positions = self.timed("store read", store.positions)


class FrameTimes:
    """Wraps the stream's frame decoder: when each update's frame arrived and its parse time."""

    def __init__(self) -> None:
        from alpaca_integration.alpaca import stream

        self.module = stream
        self.decode = stream.decode_stream_frame
        self.by_update: dict[int, tuple[float, float]] = {}

    async def __aenter__(self) -> FrameTimes:
        def decode(frame: Any) -> Any:
            arrived_wall, started = time.time(), time.perf_counter()
            message = self.decode(frame)
            update = getattr(message, "update", None)
            if update is not None:
                parse_ms = (time.perf_counter() - started) * 1000
                self.by_update[id(update)] = (arrived_wall, parse_ms)
            return message

        self.module.decode_stream_frame = decode  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.module.decode_stream_frame = self.decode  # type: ignore[attr-defined]


async def _run_rate(
    rate: float, seconds: float, base_url: str, stream_url: str, store: Any, cache: Any
) -> dict[str, Any]:
    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.alpaca.stream import TradeUpdatesStream
    from alpaca_integration.models import TradeUpdate
    from alpaca_integration.sync.engine import SyncEngine
    from alpaca_integration.sync.stream import StreamIngestor

    receive_ms: list[float] = []
    venue_ms: list[float] = []
    phase_ms: list[dict[str, float]] = []
    # id -> (the update itself, kept alive so its id is not reused; when it left the stream;
    # its frame's arrival and parse time). Popped by the first application only.
    received_at: dict[int, tuple[Any, float, tuple[float, float]]] = {}
    frames = FrameTimes()
    phases = Phases()
    events = 0
    batches = 0
    listening = asyncio.Event()

    class TimedStream:
        """The real stream, noting when each event left the socket."""

        def __init__(self, on_connected: Any, on_gap: Any, on_bad_frame: Any) -> None:
            async def connected() -> None:
                await on_connected()
                listening.set()

            self.inner = TradeUpdatesStream(
                KEY_ID,
                SECRET,
                stream_url,
                on_connected=connected,
                on_gap=on_gap,
                on_bad_frame=on_bad_frame,
            )

        async def updates(self) -> Any:
            async for update in self.inner.updates():
                frame = frames.by_update.pop(id(update), (time.time(), 0.0))
                received_at[id(update)] = (update, time.perf_counter(), frame)
                yield update

        async def aclose(self) -> None:
            await self.inner.aclose()

    async with frames, AlpacaClient(KEY_ID, SECRET, base_url, rate_limit=None) as client:
        engine = SyncEngine(ACCOUNT, client, store, cache)
        phases.instrument(engine, store)
        apply = engine.apply_trade_updates

        async def timed_apply(batch: list[TradeUpdate]) -> Any:
            nonlocal events, batches
            phases.current = {}
            apply_started = time.perf_counter()
            report = await apply(batch)
            applied = time.perf_counter()
            await cache.get_positions(ACCOUNT)  # read back: visible in Redis
            done = time.perf_counter()
            now = dt.datetime.now(dt.UTC)
            batch_phases = dict(phases.current)
            batch_phases["other"] = (applied - apply_started) * 1000 - sum(batch_phases.values())
            batch_phases["read-back"] = (done - applied) * 1000
            for update in batch:
                first = received_at.pop(id(update), None)
                if first is None or not update.event.is_fill:
                    continue  # a re-application (or not a fill): not a new measurement
                _, started, (arrived_wall, parse_ms) = first
                receive_ms.append((done - started) * 1000)
                venue_ms.append((now - update.timestamp).total_seconds() * 1000)
                socket_ms = (arrived_wall - update.timestamp.timestamp()) * 1000
                phase_ms.append(
                    {
                        **batch_phases,
                        "socket": socket_ms,
                        "parse": parse_ms,
                        "batching wait": (apply_started - started) * 1000,
                    }
                )
            events += len(batch)
            batches += 1
            return report

        engine.apply_trade_updates = timed_apply  # type: ignore[method-assign]
        ingestor = StreamIngestor(engine, TimedStream, silence_timeout=3600)
        running = asyncio.create_task(ingestor.run())
        await asyncio.wait_for(listening.wait(), 30)
        receive_ms.clear()
        venue_ms.clear()
        phase_ms.clear()
        events = batches = 0
        # The order flow comes from another process (it is the venue's load, not the monitor's):
        # a market order makes about two events (new, fill), so orders go at rate / 2 per second.
        started = time.perf_counter()
        cpu_started = time.process_time()
        generator = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _GENERATOR,
            base_url,
            KEY_ID,
            SECRET,
            str(rate / 2.0),
            str(seconds),
        )
        await generator.wait()
        await asyncio.sleep(1.0)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    return {
        "rate": rate,
        "events_per_s": events / elapsed,
        "batch_size": events / max(1, batches),
        "fills": len(receive_ms),
        "receive": receive_ms,
        "venue": venue_ms,
        "phases": phase_ms,
        "cpu_s": cpu,
        "elapsed_s": elapsed,
        "events": events,
    }


def _print_phases(phases: list[dict[str, float]], receive: list[float], p99: float) -> None:
    """Per phase: p50, p99, and its mean over the events at or above the receive p99."""
    slowest = [ph for ph, total in zip(phases, receive, strict=True) if total >= p99]
    cells = []
    for name in PHASES:
        values = [ph.get(name, 0.0) for ph in phases]
        tail = statistics.fmean(ph.get(name, 0.0) for ph in slowest)
        cells.append(f"{name} {pct(values, 0.5):.2f}/{pct(values, 0.99):.2f}/{tail:.2f}")
    print("       where the time goes, ms p50/p99/mean of the slowest 1%: " + ", ".join(cells))


async def _main(args: argparse.Namespace) -> None:
    from alpaca_integration.cache import open_cache
    from alpaca_integration.storage import Store

    namespace = f"benchlat{uuid.uuid4().hex[:8]}"
    port = free_port()
    with scratch_database("bench_latency") as pg_url, simulator(port) as base_url:
        store = await Store.open(pg_url, migrate=True)
        cache = await open_cache(REDIS_URL, prefix=namespace)
        try:
            baseline = await _baseline(pg_url, REDIS_URL, namespace)
            b50, b99 = pct(baseline, 0.5), pct(baseline, 0.99)
            print(
                f"baseline (1-row INSERT+COMMIT, Redis SET+GET): p50 {b50:.2f} ms  p99 {b99:.2f} ms"
            )
            for rate in args.rates:
                result = await _run_rate(
                    rate, args.seconds, base_url, f"ws://127.0.0.1:{port}/stream", store, cache
                )
                rec, ven = result["receive"], result["venue"]
                if not rec:
                    print(f"{rate:>5.0f} events/s target: no fill events received")
                    continue
                p50, p99 = pct(rec, 0.5), pct(rec, 0.99)
                print(
                    f"{rate:>5.0f} events/s target ({result['events_per_s']:.0f} measured, "
                    f"{result['batch_size']:.1f} per write, "
                    f"{result['fills']} fills): receive->visible p50 {p50:.2f} ms  p99 {p99:.2f} ms "
                    f"(goal p99 <= 10 ms; {p99 / b99:.1f}x baseline p99) | venue->visible "
                    f"p50 {pct(ven, 0.5):.2f} ms  p99 {pct(ven, 0.99):.2f} ms  "
                    f"mean {statistics.fmean(rec):.2f} ms"
                )
                _print_phases(result["phases"], rec, p99)
                cpu, events = result["cpu_s"], max(1, result["events"])
                print(
                    f"       monitor process CPU: {cpu * 1000 / events:.3f} ms per event "
                    f"({100 * cpu / result['elapsed_s']:.0f}% of one core)"
                )
        finally:
            await cache.aclose()
            await store.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description="fill event -> PostgreSQL + Redis latency")
    parser.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=[50.0, 200.0]
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
