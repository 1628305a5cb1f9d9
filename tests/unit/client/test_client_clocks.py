"""Clocks (issue 11 items 10 and 1): the rate window runs on a monotonic clock, the venue's reset
time is read against the venue's own clock, a 429's pause is bounded, and the client measures the
venue's clock skew."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest
from client_fakes import CLOCK_BODY, EPOCH, FakeClock, FakeVenue, json_response, limited_once

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.alpaca.ratelimit import InMemoryRateBudget, Lane, RedisRateBudget


def http_date(unix: float) -> str:
    return formatdate(unix, usegmt=True)


# --------------------------------------------------------------------------- the window's clock


async def test_a_wall_clock_step_back_does_not_stall_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An NTP step back of an hour leaves a full window's wait at one window, not an hour and a
    window: admissions are timed on a monotonic clock."""
    wall = [1_750_000_000.0]
    monkeypatch.setattr(time, "time", lambda: wall[0])
    budget = InMemoryRateBudget(2, 60.0, order_reserve=0)
    await budget.acquire()
    await budget.acquire()
    wall[0] -= 3600.0
    permit, wait = await budget.try_acquire(Lane.READ)
    assert permit is None
    assert wait <= 60.0


# --------------------------------------------------------------------------- 429s and the venue's clock


@pytest.mark.parametrize("venue_offset", [3600.0, -3600.0])
async def test_a_429_reset_is_read_against_the_venues_clock(
    make_client: Callable[..., AlpacaClient],
    venue: FakeVenue,
    clock: FakeClock,
    venue_offset: float,
) -> None:
    """The venue's clock is an hour off ours; its 429 says reset 8 s from its now (Date): we
    pause 8 s, not a whole window (venue ahead) and not zero (venue behind)."""
    venue_now = EPOCH + venue_offset
    sent_at: list[float] = []
    venue.fallback = limited_once(
        clock,
        sent_at,
        {"Date": http_date(venue_now), "X-RateLimit-Reset": str(int(venue_now + 8))},
    )
    async with make_client() as client:
        await client.get_clock()
    assert len(sent_at) == 2
    assert EPOCH + 7 <= sent_at[1] <= EPOCH + 9


@pytest.mark.parametrize("remaining", [None, "0"])
async def test_a_429s_pause_is_bounded(
    make_client: Callable[..., AlpacaClient],
    venue: FakeVenue,
    clock: FakeClock,
    remaining: str | None,
) -> None:
    """A 429 whose reset is 50 s away (with or without 'remaining: 0') holds every request on the
    key for at most the budget's max_pause, then the client asks again: a wrong or hostile reset
    cannot stall the key for a whole window."""
    from alpaca_integration.alpaca.ratelimit import DEFAULT_MAX_PAUSE

    sent_at: list[float] = []
    headers = {"Date": http_date(EPOCH), "X-RateLimit-Reset": str(int(EPOCH + 50))}
    if remaining is not None:
        headers.update({"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": remaining})
    venue.fallback = limited_once(clock, sent_at, headers)
    async with make_client() as client:
        await client.get_clock()
    assert DEFAULT_MAX_PAUSE < 50
    assert EPOCH + DEFAULT_MAX_PAUSE <= sent_at[1] <= EPOCH + DEFAULT_MAX_PAUSE + 1


# --------------------------------------------------------------------------- clock skew (item 1)


def dated(clock: FakeClock, offset: list[float]) -> Callable[..., httpx.Response]:
    """A venue whose Date header runs ``offset[0]`` seconds from our clock."""

    def answer(request: httpx.Request) -> httpx.Response:
        return json_response(200, [], headers={"Date": http_date(clock.now + offset[0])})

    return answer


async def test_clock_skew_is_none_until_an_answer_is_seen(
    make_client: Callable[..., AlpacaClient], clock: FakeClock
) -> None:
    """Before any answer there is no estimate; venue_now() is then this host's time."""
    async with make_client() as client:
        assert client.clock_skew is None
        assert client.venue_now().timestamp() == clock.now


async def test_clock_skew_is_measured_from_the_date_header(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, clock: FakeClock
) -> None:
    """A venue 5 s ahead: after a few answers the skew is 5 s within the Date header's one-second
    resolution, and venue_now() is our time plus that."""
    venue.fallback = dated(clock, [5.0])
    async with make_client() as client:
        for _ in range(6):
            await client.list_positions()
            clock.advance(0.37)
        assert client.clock_skew is not None
        assert abs(client.clock_skew - 5.0) <= 1.0
        assert abs(client.venue_now().timestamp() - (clock.now + client.clock_skew)) < 1e-6


async def test_the_market_clock_refines_the_skew(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, clock: FakeClock
) -> None:
    """GET /v2/clock carries the venue's time to the microsecond: the skew follows it closely."""
    venue_time = 1_748_872_800.123456  # 2025-06-02T10:00:00.123456-04:00
    clock.now = venue_time - 2.5
    venue.fallback = lambda _: json_response(200, CLOCK_BODY)
    async with make_client() as client:
        for _ in range(5):
            await client.get_clock()
        assert client.clock_skew is not None
        assert abs(client.clock_skew - 2.5) < 0.01


async def test_a_step_in_the_skew_is_followed(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, clock: FakeClock
) -> None:
    """When the skew jumps (a clock was stepped), the estimate follows within a few answers
    instead of averaging the old value in for minutes."""
    offset = [5.0]
    venue.fallback = dated(clock, offset)
    async with make_client() as client:
        for _ in range(5):
            await client.list_positions()
        offset[0] = -30.0
        for _ in range(3):
            await client.list_positions()
        assert client.clock_skew is not None
        assert abs(client.clock_skew + 30.0) <= 1.0


# --------------------------------------------------------------------------- the shared window


def redis_key(prefix: str, key_id: str, part: str) -> str:
    """The budget's Redis key as docs/client.md spells it."""
    return f"{prefix}:{hashlib.sha256(key_id.encode()).hexdigest()[:24]}:{part}"


@pytest.mark.redis
async def test_the_shared_window_survives_a_step_back_of_the_redis_clock(
    redis_url: str, redis_namespace: str
) -> None:
    """Admissions stamped an hour ahead of the Redis server's clock (its host was stepped back)
    count as fresh admissions, not for an hour: a full window waits at most one window."""
    import redis.asyncio

    budget = RedisRateBudget(
        redis_url, "PKSTEP", limit=3, window=60.0, order_reserve=0, key_prefix=redis_namespace
    )
    server = redis.asyncio.Redis.from_url(redis_url)
    try:
        seconds, micros = await server.time()
        now = seconds + micros / 1e6
        await server.zadd(
            redis_key(redis_namespace, "PKSTEP", "window"),
            {f"stepped-{n}": now + 3600 for n in range(3)},
        )
        permit, wait = await budget.try_acquire(Lane.READ)
    finally:
        await server.aclose()
        await budget.aclose()
    assert permit is None
    assert wait <= 60.0


@pytest.mark.redis
async def test_a_shared_pause_far_ahead_is_bounded(redis_url: str, redis_namespace: str) -> None:
    """A pause an hour ahead in Redis (a stepped clock, a hostile reset) holds admissions for at
    most the budget's max_pause."""
    import redis.asyncio

    from alpaca_integration.alpaca.ratelimit import DEFAULT_MAX_PAUSE

    budget = RedisRateBudget(redis_url, "PKPAUSE", limit=3, window=60.0, key_prefix=redis_namespace)
    server = redis.asyncio.Redis.from_url(redis_url)
    try:
        seconds, _ = await server.time()
        await server.set(
            redis_key(redis_namespace, "PKPAUSE", "pause"), str(seconds + 3600), px=5000
        )
        permit, wait = await budget.try_acquire(Lane.READ)
    finally:
        await server.aclose()
        await budget.aclose()
    assert permit is None
    assert wait <= DEFAULT_MAX_PAUSE
