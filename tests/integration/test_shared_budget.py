"""The Redis-shared rate budget with a real Redis: processes sharing one key never exceed it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alpaca_integration.alpaca.ratelimit import Lane, RateLimitHeaders, RedisRateBudget
from support.canned_venue import serving

pytestmark = pytest.mark.redis

LIMIT = 20
WINDOW = 3.0
CLOCK_BODY = json.dumps(
    {
        "timestamp": "2025-06-02T10:00:00-04:00",
        "is_open": True,
        "next_open": "2025-06-03T09:30:00-04:00",
        "next_close": "2025-06-02T16:00:00-04:00",
    }
).encode()


class CountingVenue(ThreadingHTTPServer):
    """A local venue that records when each request arrived (one clock for all processes)."""

    daemon_threads = True
    arrivals: list[float]


class Handler(BaseHTTPRequestHandler):
    server: CountingVenue

    def do_GET(self) -> None:
        self.server.arrivals.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(CLOCK_BODY)))
        self.end_headers()
        self.wfile.write(CLOCK_BODY)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def counting_venue() -> Iterator[CountingVenue]:
    server = CountingVenue(("127.0.0.1", 0), Handler)
    server.arrivals = []
    with serving(server):
        yield server


WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.alpaca.ratelimit import RedisRateBudget

    base_url, redis_url, prefix, limit, window, seconds = sys.argv[1:7]

    async def main():
        budget = RedisRateBudget(
            redis_url, "PKSHARED", int(limit), float(window), order_reserve=0, key_prefix=prefix
        )
        async with AlpacaClient("PKSHARED", "secret", base_url, rate_budget=budget) as client:
            deadline = time.monotonic() + float(seconds)
            done = 0

            async def poll():
                nonlocal done
                while time.monotonic() < deadline:
                    await client.get_clock()
                    done += 1

            await asyncio.gather(*(poll() for _ in range(4)))
        await budget.aclose()
        print(done)

    asyncio.run(main())
    """
)


def test_two_processes_sharing_a_key_never_exceed_its_budget(
    counting_venue: CountingVenue, redis_url: str, redis_namespace: str
) -> None:
    """Two processes hammering one key: in every window the venue sees at most the limit."""
    base_url = f"http://127.0.0.1:{counting_venue.server_address[1]}"
    args = [base_url, redis_url, redis_namespace, str(LIMIT), str(WINDOW), "5"]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=60) for worker in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err.decode()
    served = [int(out) for out, _ in outputs]
    arrivals = sorted(counting_venue.arrivals)
    assert sum(served) == len(arrivals)
    # Both processes got a share, and the run went past one window (the budget did refill).
    assert min(served) > 0
    assert len(arrivals) > LIMIT
    for i, start in enumerate(arrivals):
        in_window = sum(1 for t in arrivals[i:] if t < start + WINDOW)
        assert in_window <= LIMIT, f"{in_window} requests within {WINDOW}s from arrival {i}"


LANE_WINDOW = 60.0  # long: a stalled CI machine must not see admissions expire mid-test


def budget(redis_url: str, namespace: str, **kw: object) -> RedisRateBudget:
    options: dict[str, object] = {"order_reserve": 2, "key_prefix": namespace}
    options.update(kw)
    return RedisRateBudget(redis_url, "PKLANE", 10, LANE_WINDOW, **options)  # type: ignore[arg-type]


async def test_the_order_lane_is_shared_across_processes(
    redis_url: str, redis_namespace: str
) -> None:
    """Reads from one budget object fill the read share; another object's read must wait, but its
    order is admitted at once."""
    a, b = budget(redis_url, redis_namespace), budget(redis_url, redis_namespace)
    try:
        for _ in range(8):
            permit, _ = await a.try_acquire(Lane.READ)
            assert permit is not None
        permit, wait = await b.try_acquire(Lane.READ)
        assert permit is None
        assert 0 < wait <= LANE_WINDOW
        order, _ = await b.try_acquire(Lane.ORDER)
        assert order is not None
        assert (await a.snapshot()).used == 9
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_pause_after_429_holds_every_process(redis_url: str, redis_namespace: str) -> None:
    """One process meeting a 429 pauses the others until the reset too."""
    a, b = budget(redis_url, redis_namespace), budget(redis_url, redis_namespace)
    try:
        # A long pause, never slept on: the other process is told to wait, for no longer than it.
        await a.pause_until(time.time() + 30.0)
        permit, wait = await b.try_acquire(Lane.ORDER)
        assert permit is None
        assert 0 < wait <= 30.0
    finally:
        await a.aclose()
        await b.aclose()


async def test_venue_headers_seen_by_one_process_count_for_all(
    redis_url: str, redis_namespace: str
) -> None:
    """Requests the venue counted but we did not are added to the shared window."""
    a, b = budget(redis_url, redis_namespace), budget(redis_url, redis_namespace)
    try:
        await a.observe(RateLimitHeaders(limit=10, remaining=3, reset_at=time.time() + 40))
        assert (await b.snapshot()).used == 7
        await a.observe(RateLimitHeaders(limit=10, remaining=0, reset_at=time.time() + 30))
        snapshot = await b.snapshot()
        assert snapshot.paused_until is not None
    finally:
        await a.aclose()
        await b.aclose()


async def test_settle_restamps_the_admission(redis_url: str, redis_namespace: str) -> None:
    """A settled permit's slot is counted from the answer's arrival (still one slot)."""
    a = budget(redis_url, redis_namespace)
    try:
        permit = await a.acquire(Lane.READ)
        await a.settle(permit)
        assert (await a.snapshot()).used == 1
    finally:
        await a.aclose()


async def test_unreachable_redis_falls_back_to_a_local_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With Redis down, requests are still admitted (locally bounded) and a warning is logged."""
    dead = RedisRateBudget("redis://127.0.0.1:9/0", "PKDOWN", 3, 5.0, order_reserve=0)
    with caplog.at_level(logging.WARNING, logger="alpaca_integration.alpaca.ratelimit"):
        for _ in range(3):
            permit, _ = await dead.try_acquire(Lane.READ)
            assert permit is not None
        permit, wait = await dead.try_acquire(Lane.READ)
    assert permit is None
    assert wait > 0
    assert any("Redis rate budget unreachable" in r.message for r in caplog.records)
    await dead.aclose()
