"""The request budget: moving window, order lane, header sync, pause after 429 (fake clock)."""

from __future__ import annotations

import pytest
from client_fakes import EPOCH, FakeClock

from alpaca_integration.alpaca.ratelimit import (
    DEFAULT_MAX_PAUSE,
    InMemoryRateBudget,
    Lane,
    RateLimitHeaders,
    UnlimitedRateBudget,
    default_order_reserve,
    make_rate_budget,
    parse_rate_limit_headers,
)
from alpaca_integration.errors import ConfigError


def budget(clock: FakeClock, limit: int = 10, reserve: int | None = 2) -> InMemoryRateBudget:
    return InMemoryRateBudget(limit, 60.0, order_reserve=reserve, clock=clock, sleep=clock.sleep)


async def test_admits_up_to_the_read_share_without_waiting(clock: FakeClock) -> None:
    """Reads are admitted at once until limit - reserve admissions are in the window."""
    rb = budget(clock)
    for _ in range(8):
        await rb.acquire(Lane.READ)
    assert clock.sleeps == []
    assert (await rb.snapshot()).used == 8


async def test_a_read_over_its_share_waits_until_the_oldest_slot_expires(clock: FakeClock) -> None:
    """The 9th read in a 10/min budget with 2 reserved waits until the first read is 60 s old."""
    rb = budget(clock)
    for _ in range(8):
        await rb.acquire(Lane.READ)
        clock.advance(1.0)
    await rb.acquire(Lane.READ)
    # first admission at EPOCH, so the 9th may go at EPOCH + 60 (plus the 1 ms guard)
    assert clock.now == pytest.approx(EPOCH + 60.001)


async def test_orders_use_the_reserve_reads_cannot_touch(clock: FakeClock) -> None:
    """With reads at their share, orders still get the reserved slots at once."""
    rb = budget(clock)
    for _ in range(8):
        await rb.acquire(Lane.READ)
    await rb.acquire(Lane.ORDER)
    await rb.acquire(Lane.ORDER)
    assert clock.sleeps == []
    assert (await rb.snapshot()).used == 10
    await rb.acquire(Lane.ORDER)  # the 11th must wait for the window, orders included
    assert clock.now > EPOCH + 59


async def test_never_more_than_limit_in_any_window(clock: FakeClock) -> None:
    """Over a long mixed run, no 60 s interval holds more admissions than the limit."""
    rb = budget(clock, limit=20, reserve=4)
    stamps: list[float] = []
    for i in range(200):
        permit = await rb.acquire(Lane.ORDER if i % 5 == 0 else Lane.READ)
        stamps.append(permit.granted_at)
        clock.advance(0.05)
    for i, start in enumerate(stamps):
        inside = [s for s in stamps[i:] if s < start + 60.0]
        assert len(inside) <= 20


async def test_settle_counts_the_slot_from_the_answer(clock: FakeClock) -> None:
    """A slow answer keeps its slot until 60 s after it arrived, not after it was sent."""
    rb = budget(clock, limit=2, reserve=0)
    first = await rb.acquire()
    clock.advance(10.0)  # the answer takes 10 s
    await rb.settle(first)
    await rb.acquire()
    await rb.acquire()  # must wait for the first slot: answer at +10 s -> free at +70 s
    assert clock.now == pytest.approx(EPOCH + 70.001)


async def test_venue_count_above_ours_adds_slots_freed_at_the_reset(clock: FakeClock) -> None:
    """If the venue counted more requests than we sent, we count them too, until its reset."""
    rb = budget(clock, limit=10, reserve=0)
    await rb.acquire()
    await rb.observe(RateLimitHeaders(limit=10, remaining=2, reset_at=EPOCH + 30))
    assert (await rb.snapshot()).used == 8
    await rb.acquire()
    await rb.acquire()
    assert clock.sleeps == []
    await rb.acquire()  # full: the venue's slots free at its reset time
    assert clock.now == pytest.approx(EPOCH + 30.001)


async def test_venue_count_below_ours_changes_nothing(clock: FakeClock) -> None:
    """Requests still in flight make the venue's count lower than ours: we keep ours."""
    rb = budget(clock, limit=10, reserve=0)
    for _ in range(5):
        await rb.acquire()
    await rb.observe(RateLimitHeaders(limit=10, remaining=9, reset_at=EPOCH + 30))
    assert (await rb.snapshot()).used == 5


async def test_nothing_remaining_pauses_every_lane_until_the_reset(clock: FakeClock) -> None:
    """Remaining 0 in the headers holds reads and orders until X-RateLimit-Reset."""
    rb = budget(clock, limit=10, reserve=2)
    await rb.observe(RateLimitHeaders(limit=10, remaining=0, reset_at=EPOCH + 7.5))
    assert (await rb.snapshot()).paused_until == EPOCH + 7.5
    await rb.acquire(Lane.ORDER)
    assert clock.now >= EPOCH + 7.5


async def test_a_lower_venue_limit_is_adopted(clock: FakeClock) -> None:
    """A venue that reports 100/min while 200 is configured is held to 100."""
    rb = budget(clock, limit=200, reserve=20)
    await rb.observe(RateLimitHeaders(limit=100, remaining=100, reset_at=None))
    assert rb.limit == 100
    assert rb.lane_limit(Lane.READ) == 80


async def test_pause_until_holds_admissions(clock: FakeClock) -> None:
    """After a 429, nothing is admitted before the reset time it carried."""
    rb = budget(clock)
    await rb.pause_until(EPOCH + 7)
    await rb.acquire()
    assert clock.now == pytest.approx(EPOCH + 7.001)


async def test_pause_without_reset_is_short_and_bounded(clock: FakeClock) -> None:
    """A 429 without a reset header pauses a few seconds; a far reset is capped to max_pause."""
    rb = budget(clock)
    await rb.pause_until(None)
    paused = (await rb.snapshot()).paused_until
    assert paused is not None
    assert EPOCH < paused <= EPOCH + 10
    await rb.pause_until(EPOCH + 10_000)
    assert (await rb.snapshot()).paused_until == EPOCH + DEFAULT_MAX_PAUSE


async def test_unlimited_budget_still_honours_a_pause(clock: FakeClock) -> None:
    """With the local limit off, thousands pass at once, but a 429 pause still holds."""
    rb = UnlimitedRateBudget(clock=clock, sleep=clock.sleep)
    for _ in range(5000):
        await rb.acquire()
    assert clock.sleeps == []
    await rb.pause_until(EPOCH + 3)
    await rb.acquire()
    assert clock.now >= EPOCH + 3


def test_headers_are_read_in_any_case() -> None:
    """X-RateLimit-* and X-Ratelimit-* spellings both parse; absent headers give None."""
    plain = parse_rate_limit_headers(
        {
            "X-Ratelimit-Limit": "200",
            "x-ratelimit-remaining": "17",
            "X-RATELIMIT-RESET": "1750000060",
        },
        now=EPOCH,
    )
    assert plain == RateLimitHeaders(
        limit=200, remaining=17, reset_at=1_750_000_060.0, reset_in=60.0
    )
    assert parse_rate_limit_headers({"Content-Type": "application/json"}) is None


def test_unreadable_header_values_count_as_absent() -> None:
    """Garbage in a header is ignored rather than crashing the request."""
    parsed = parse_rate_limit_headers({"X-RateLimit-Remaining": "lots", "X-RateLimit-Limit": "9"})
    assert parsed == RateLimitHeaders(limit=9, remaining=None, reset_at=None)


def test_a_small_reset_value_is_read_as_seconds_from_now() -> None:
    """A proxy sending the reset as a delta (seconds) is understood."""
    parsed = parse_rate_limit_headers({"X-RateLimit-Reset": "30"}, now=EPOCH)
    assert parsed is not None
    assert parsed.reset_at == EPOCH + 30


def test_default_reserve_is_a_tenth() -> None:
    """200/min keeps 20 for orders by default; tiny budgets keep at least one."""
    assert default_order_reserve(200) == 20
    assert default_order_reserve(5) == 1


def test_bad_budget_settings_are_refused_with_the_fix() -> None:
    """A zero limit or a reserve that leaves reads nothing is a ConfigError naming the fix."""
    with pytest.raises(ConfigError, match="ALPACA_RATE_LIMIT"):
        InMemoryRateBudget(0)
    with pytest.raises(ConfigError, match="order_reserve"):
        InMemoryRateBudget(10, order_reserve=10)


def test_factory_turns_the_limit_off_with_zero() -> None:
    """make_rate_budget(limit=0) is the unlimited budget; a number gives the in-memory window."""
    assert isinstance(make_rate_budget("k", limit=0), UnlimitedRateBudget)
    rb = make_rate_budget("k", limit=50)
    assert isinstance(rb, InMemoryRateBudget)
    assert rb.limit == 50
    assert rb.order_reserve == 5


def test_clients_of_one_key_in_one_process_share_a_budget() -> None:
    """Two budgets made for the same key and settings are one window; another key is not."""
    first = make_rate_budget("PKSAME", limit=30)
    assert make_rate_budget("PKSAME", limit=30) is first
    assert make_rate_budget("PKOTHER", limit=30) is not first
    assert make_rate_budget("PKSAME", limit=30, shared=False) is not first
