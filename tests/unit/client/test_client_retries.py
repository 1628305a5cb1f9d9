"""Reads and cancels: bounded retries with full-jitter backoff, 429 pauses, header sync, lanes,
timeouts."""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
from client_fakes import (
    CLOCK_BODY,
    EPOCH,
    FakeClock,
    FakeVenue,
    json_response,
    limited_once,
    order_json,
)

from alpaca_integration.alpaca.client import AlpacaClient, RetryPolicy
from alpaca_integration.errors import NotFoundError, RateLimitedError, ServerError, TransportError
from alpaca_integration.models import OrderRequest, OrderSide


async def test_a_5xx_read_is_retried_and_succeeds(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, clock: FakeClock
) -> None:
    """500 then 200: the caller gets the clock, after one backoff sleep."""
    venue.script = [json_response(500, {"code": 50010000, "message": "internal"})]
    venue.fallback = lambda _: json_response(200, CLOCK_BODY)
    async with make_client() as client:
        market_clock = await client.get_clock()
    assert market_clock.is_open
    assert len(venue.requests) == 2
    assert len(clock.sleeps) == 1
    assert 0 <= clock.sleeps[0] <= 0.5


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.ReadError("reset")]
)
async def test_timeouts_and_connection_errors_on_reads_are_retried(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, failure: Exception
) -> None:
    """A read that got no answer is simply asked again."""
    venue.script = [failure, failure]
    venue.fallback = lambda _: json_response(200, CLOCK_BODY)
    async with make_client() as client:
        await client.get_clock()
    assert len(venue.requests) == 3


async def test_a_429_pauses_until_the_reset_then_retries(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, clock: FakeClock
) -> None:
    """After a 429 the next attempt is sent no earlier than X-RateLimit-Reset."""
    sent_at: list[float] = []
    headers = {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": str(int(EPOCH) + 8)}
    venue.fallback = limited_once(clock, sent_at, headers)
    async with make_client() as client:
        await client.get_clock()
    assert len(sent_at) == 2
    assert sent_at[1] >= EPOCH + 8


async def test_a_4xx_is_not_retried(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A 404 is the answer, not a failure to retry."""
    venue.script = [json_response(404, {"code": 40410000, "message": "order not found"})]
    async with make_client() as client:
        with pytest.raises(NotFoundError):
            await client.get_order("nope")
    assert len(venue.requests) == 1


async def test_retries_stop_at_max_attempts(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A venue failing forever is asked max_attempts times, then the last error is raised."""
    venue.fallback = lambda _: json_response(503, {"message": "unavailable"})
    async with make_client(retry=RetryPolicy(max_attempts=3, base_delay=0.1)) as client:
        with pytest.raises(ServerError):
            await client.get_account()
    assert len(venue.requests) == 3


async def test_retries_stop_at_max_elapsed(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, clock: FakeClock
) -> None:
    """No retry is started that would end past max_elapsed, however many attempts remain."""

    def slow_failure(request: httpx.Request) -> httpx.Response:
        clock.advance(4.0)  # each attempt takes 4 s to fail
        return json_response(502, {"message": "bad gateway"})

    venue.fallback = slow_failure
    policy = RetryPolicy(max_attempts=50, base_delay=1.0, max_delay=1.0, max_elapsed=10.0)
    async with make_client(retry=policy) as client:
        with pytest.raises(ServerError):
            await client.get_account()
    assert len(venue.requests) <= 3
    assert clock.now - EPOCH <= 10.0 + 4.0


def test_backoff_is_exponential_with_full_jitter() -> None:
    """Attempt n waits within [0, min(max_delay, base * 2**(n-1))], spread across the range."""
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(400)]
        assert all(0 <= d <= cap for d in delays)
        assert min(delays) < cap * 0.1
        assert max(delays) > cap * 0.9


async def test_remaining_zero_in_headers_holds_the_next_request(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, clock: FakeClock
) -> None:
    """The client keeps in step with X-RateLimit-*: remaining 0 means wait for the reset."""
    sent_at: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.now)
        return json_response(
            200,
            CLOCK_BODY,
            headers={
                "x-ratelimit-limit": "200",
                "x-ratelimit-remaining": "0" if len(sent_at) == 1 else "198",
                "x-ratelimit-reset": str(int(EPOCH) + 9),
            },
        )

    venue.fallback = answer
    async with make_client() as client:
        await client.get_clock()
        await client.get_clock()
    assert sent_at[0] == EPOCH
    assert sent_at[1] >= EPOCH + 9


async def test_reads_cannot_starve_orders(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, clock: FakeClock
) -> None:
    """With reads at their share of the budget, an order still goes out at once."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return json_response(200, order_json("o-1"))
        return json_response(200, CLOCK_BODY)

    venue.fallback = answer
    async with make_client(rate_limit=10, order_reserve=2) as client:
        for _ in range(8):
            await client.get_clock()
        order = await client.submit_order(
            OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(1))
        )
        assert order.id == "o-1"
        assert clock.sleeps == []  # the order did not wait
        await client.get_clock()  # the 9th read must wait for the window
    assert clock.now >= EPOCH + 60


async def test_cancel_is_retried_after_a_5xx(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """Cancelling twice is harmless, so a failed cancel is retried."""
    venue.script = [json_response(500, {"message": "oops"}), httpx.Response(204)]
    async with make_client() as client:
        await client.cancel_order("o-1")
    assert [r.method for r in venue.requests] == ["DELETE", "DELETE"]


async def test_close_position_is_not_resent_after_an_unclear_failure(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A close whose outcome is unknown could close twice if resent: the error is raised."""
    venue.script = [httpx.ReadTimeout("slow")]
    async with make_client() as client:
        with pytest.raises(TransportError):
            await client.close_position("AAPL", qty=Decimal(5))
    assert len(venue.requests) == 1


async def test_close_position_is_resent_after_a_429(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A 429 means the venue did nothing: the close is sent again after the pause."""
    venue.script = [
        httpx.Response(429, content=b"Too Many Requests"),
        json_response(200, order_json("close-1", side="sell")),
    ]
    async with make_client() as client:
        order = await client.close_position("AAPL")
    assert order.id == "close-1"
    assert len(venue.requests) == 2


async def test_rate_limited_forever_raises_rate_limited(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A read that only ever meets 429s ends with RateLimitedError after max_attempts."""
    venue.fallback = lambda _: httpx.Response(429, content=b"Too Many Requests")
    async with make_client(retry=RetryPolicy(max_attempts=3, max_elapsed=1000)) as client:
        with pytest.raises(RateLimitedError):
            await client.get_clock()
    assert len(venue.requests) == 3


async def test_connect_and_read_timeouts_reach_httpx(venue: FakeVenue) -> None:
    """connect_timeout and read_timeout are applied to every request."""
    seen: list[dict[str, float]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return json_response(200, CLOCK_BODY)

    venue.fallback = answer
    async with AlpacaClient(
        "KEY",
        "SECRET",
        "https://paper.example.test",
        connect_timeout=1.5,
        read_timeout=7.0,
        transport=venue.transport(),
    ) as client:
        await client.get_clock()
    assert seen[0]["connect"] == 1.5
    assert seen[0]["read"] == 7.0
