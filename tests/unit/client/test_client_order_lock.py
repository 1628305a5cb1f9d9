"""Check-and-place is serialised per key (issue 11 item 7): concurrent submits through one client
(and, with Redis, through several clients of one key) cannot all pass a limit that only some fit.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio
from client_fakes import BASE_URL, KEY_ID, SECRET, FakeClock, json_response, limit_buy, order_json

from alpaca_integration.alpaca.client import AlpacaClient, RetryPolicy
from alpaca_integration.alpaca.ratelimit import UnlimitedRateBudget
from alpaca_integration.errors import RiskLimitError
from alpaca_integration.risk import RiskLimits, make_pre_trade_check

BUY_10 = limit_buy("10", "100")
LIMITS = RiskLimits(max_position_qty=Decimal(20))


class SlowBook:
    """A venue whose answers take a moment (each request yields to the event loop), with open
    orders listed like Alpaca; a new order becomes visible ``lag`` seconds after it is accepted."""

    def __init__(self, clock: FakeClock, lag: float = 0.0) -> None:
        self.clock = clock
        self.lag = lag
        self.orders: dict[str, tuple[float, dict[str, Any]]] = {}  # cid -> (visible from, json)

    def visible(self) -> list[dict[str, Any]]:
        return [body for since, body in self.orders.values() if since <= self.clock.now]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # let the other submits run: a real venue takes time to answer
        path = request.url.path
        if path == "/v2/positions":
            return json_response(200, [])
        if path == "/v2/orders" and request.method == "GET":
            return json_response(200, self.visible())
        if path == "/v2/orders" and request.method == "POST":
            body = json.loads(request.content)
            cid = body["client_order_id"]
            order = order_json(f"o-{uuid.uuid4().hex[:8]}", client_order_id=cid, qty=body["qty"])
            order["limit_price"] = body["limit_price"]
            self.orders[cid] = (self.clock.now + self.lag, order)
            return json_response(200, order)
        if path == "/v2/orders:by_client_order_id":
            found = [
                b
                for b in self.visible()
                if b["client_order_id"] == request.url.params["client_order_id"]
            ]
            if found:
                return json_response(200, found[0])
            return json_response(404, {"code": 40410000, "message": "order not found"})
        raise AssertionError(f"unexpected {request.method} {request.url}")


def build(book: SlowBook, clock: FakeClock, key_id: str = KEY_ID, **options: Any) -> AlpacaClient:
    client = AlpacaClient(
        key_id,
        SECRET,
        BASE_URL,
        rate_budget=UnlimitedRateBudget(clock=clock, sleep=clock.sleep),
        transport=httpx.MockTransport(book.handle),
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(5),
        retry=RetryPolicy(max_attempts=3, base_delay=0.1),
        **options,
    )
    client.pre_trade_check = make_pre_trade_check(client, LIMITS)
    return client


async def submit_all(client: AlpacaClient, count: int) -> tuple[int, int]:
    """Submit ``count`` buys of 10 at once: (accepted, refused by the risk check)."""
    outcomes = await asyncio.gather(
        *(client.submit_order(BUY_10) for _ in range(count)), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, RiskLimitError):
            raise outcome
    refused = sum(isinstance(outcome, RiskLimitError) for outcome in outcomes)
    return count - refused, refused


async def test_concurrent_submits_through_one_client_respect_the_position_limit(
    clock: FakeClock,
) -> None:
    """Five concurrent buys of 10 under max_position_qty 20: two go, three are refused."""
    book = SlowBook(clock)
    async with build(book, clock) as client:
        accepted, refused = await submit_all(client, 5)
    assert (accepted, refused) == (2, 3)
    assert len(book.orders) == 2


async def test_the_next_check_sees_an_order_the_venue_shows_late(clock: FakeClock) -> None:
    """A new order that the venue lists only 2 s after accepting it still counts for the next
    check: the lock is held until the placed order is visible (within the visibility bound)."""
    book = SlowBook(clock, lag=2.0)
    async with build(book, clock) as client:
        accepted, refused = await submit_all(client, 5)
    assert (accepted, refused) == (2, 3)
    assert len(book.orders) == 2


async def test_without_a_check_submits_are_not_serialised(clock: FakeClock) -> None:
    """No pre-trade check, no lock and no visibility wait: five submits, five orders, no sleep."""
    book = SlowBook(clock, lag=2.0)
    async with build(book, clock) as client:
        client.pre_trade_check = None
        accepted, _ = await submit_all(client, 5)
    assert accepted == 5
    assert clock.sleeps == []


# --------------------------------------------------------------------------- across processes


@pytest.mark.redis
async def test_clients_sharing_redis_serialise_check_and_place(
    clock: FakeClock, redis_url: str, redis_namespace: str
) -> None:
    """Two clients of one key (two processes, in effect) with a Redis URL: three concurrent buys
    each under a limit of 20 place two orders in all."""
    book = SlowBook(clock)
    key_id = f"{redis_namespace}-key"
    first = build(book, clock, key_id, redis_url=redis_url)
    second = build(book, clock, key_id, redis_url=redis_url)
    try:
        outcomes = await asyncio.gather(submit_all(first, 3), submit_all(second, 3))
    finally:
        await first.aclose()
        await second.aclose()
    assert sum(accepted for accepted, _ in outcomes) == 2
    assert len(book.orders) == 2


@pytest.mark.redis
async def test_a_dead_holders_lock_expires_with_its_lease(
    clock: FakeClock, redis_url: str, redis_namespace: str
) -> None:
    """A lock left by a process that died (never released) stops blocking once its lease ends:
    the next submit waits for it, then places its order."""
    import redis.asyncio

    book = SlowBook(clock)
    client = build(book, clock, f"{redis_namespace}-key", redis_url=redis_url)
    server = redis.asyncio.Redis.from_url(redis_url)
    try:
        await server.set(client.order_lock_key, "a-process-that-died", px=300)
        order = await client.submit_order(BUY_10)
        assert await server.get(client.order_lock_key) is None
    finally:
        await server.aclose()
        await client.aclose()
    assert order.client_order_id in book.orders


def test_the_redis_lock_key_names_the_key_id_by_digest(clock: FakeClock) -> None:
    """The lock is keyed by the API key id (hashed, like the budget): one lock per key."""
    book = SlowBook(clock)
    client = build(book, clock, redis_url="redis://127.0.0.1:1/0")
    same = build(book, clock, redis_url="redis://127.0.0.1:1/0")
    other = build(book, clock, "PKANOTHERKEY", redis_url="redis://127.0.0.1:1/0")
    assert client.order_lock_key == same.order_lock_key
    assert KEY_ID not in client.order_lock_key
    assert client.order_lock_key != other.order_lock_key


async def test_a_holder_cancelled_or_timed_out_releases_the_redis_lock(
    redis_url: str, redis_namespace: str
) -> None:
    """A placement cancelled while it holds the key's lock (Ctrl-C, a monitor's stop, a caller's
    timeout) gives the lock back at once: the key's other processes do not wait out its lease."""
    from alpaca_integration.alpaca.pretrade import RedisOrderLock

    lock = RedisOrderLock(redis_url, f"{redis_namespace}:orderlock", lease=30.0, wait=1.0)
    server = redis.asyncio.Redis.from_url(redis_url)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2), lock.hold():
                await asyncio.sleep(5)
        assert await server.get(lock.key) is None
    finally:
        await server.delete(lock.key)
        await server.aclose()
        await lock.aclose()
