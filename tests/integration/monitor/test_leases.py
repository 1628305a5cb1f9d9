"""Account leases in a real Redis (``monitor.leases``) and the sharding loop that keeps them
(``monitor.leases_shard``): each account held by one monitor, fair shares, handover on a graceful
stop, takeover when a holder dies, and a holder that lost its lease stops its account."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from alpaca_integration.monitor.leases import Lease, LeaseBoard
from alpaca_integration.monitor.leases_shard import ShardKeeper

pytestmark = pytest.mark.redis

ACCOUNTS = [f"acct-{i}" for i in range(6)]


@pytest.fixture
async def boards(
    redis_url: str, redis_namespace: str
) -> AsyncIterator[Callable[[str], LeaseBoard]]:
    opened: list[LeaseBoard] = []

    def board(owner: str) -> LeaseBoard:
        opened.append(LeaseBoard(redis_url, prefix=redis_namespace, ttl=30.0, owner=owner))
        return opened[-1]

    yield board
    for each in opened:
        await each.aclose()


async def _expire(redis_url: str, board: LeaseBoard, accounts: list[str]) -> None:
    """What the TTL does to a holder that died: its member key and its leases vanish."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.delete(f"{board.prefix}:monitors:{board.owner}")
        for account in accounts:
            await client.delete(f"{board.prefix}:lease:{account}")
    finally:
        await client.aclose()


class _Runs:
    """The service's start/stop as a keeper sees them: which accounts run, with which lease."""

    def __init__(self) -> None:
        self.running: dict[str, Lease] = {}
        self.stopped: list[str] = []

    async def start(self, name: str, lease: Lease) -> None:
        assert name not in self.running
        self.running[name] = lease

    async def stop(self, name: str) -> None:
        self.running.pop(name)
        self.stopped.append(name)


def _keeper(board: LeaseBoard, runs: _Runs, floor: int = 0) -> ShardKeeper:
    async def fence_floor(name: str) -> int:
        return floor

    return ShardKeeper(board, ACCOUNTS, start=runs.start, stop=runs.stop, fence_floor=fence_floor)


async def test_one_holder_per_account_and_epochs_only_grow(
    boards: Callable[[str], LeaseBoard],
) -> None:
    a, b = boards("a"), boards("b")

    first = await a.acquire("acct-0")
    assert first is not None
    assert first.kind == "first"
    assert await b.acquire("acct-0") is None
    assert not await b.renew(Lease("acct-0", "b", first.epoch, "first"))
    assert await a.renew(first)
    # All of a monitor's renewals in one round trip: each still checked against its holder.
    assert await a.renew_all([first, Lease("acct-0", "b", first.epoch, "first")]) == [True, False]
    assert await a.renew_all([]) == []

    assert await a.release(first)
    handed = await b.acquire("acct-0")
    assert handed is not None
    assert handed.kind == "handover"
    assert handed.epoch == first.epoch + 1
    assert not await a.renew(first)  # the old holder cannot take it back by renewing

    # A store that saw epoch 40 (Redis flushed since, say) gets an epoch above it.
    await b.release(handed)
    above = await a.acquire("acct-0", floor=40)
    assert above is not None
    assert above.epoch == 41
    holders = await b.holders(["acct-0", "acct-1"])
    assert [(h.account, h.owner, h.epoch) for h in holders] == [
        ("acct-0", "a", 41),
        ("acct-1", None, None),
    ]


async def test_two_monitors_split_the_accounts_and_a_survivor_takes_over(
    boards: Callable[[str], LeaseBoard], redis_url: str
) -> None:
    board_a, board_b = boards("a"), boards("b")
    runs_a, runs_b = _Runs(), _Runs()
    keeper_a, keeper_b = _keeper(board_a, runs_a), _keeper(board_b, runs_b)

    await keeper_a.tick()  # alone: takes everything
    assert sorted(runs_a.running) == ACCOUNTS
    await keeper_b.tick()  # joins: nothing free yet
    await keeper_a.tick()  # two members now: gives back its extra half
    await keeper_b.tick()  # takes what was given back

    assert len(runs_a.running) == len(runs_b.running) == 3
    assert not set(runs_a.running) & set(runs_b.running)
    assert {lease.kind for lease in runs_b.running.values()} == {"handover"}
    holders = {h.account: h.owner for h in await board_a.holders(ACCOUNTS)}
    assert holders == {**dict.fromkeys(runs_a.running, "a"), **dict.fromkeys(runs_b.running, "b")}

    # "a" dies (SIGKILL): nothing renews its keys, which expire; "b" takes its accounts over.
    dead = sorted(runs_a.running)
    await _expire(redis_url, board_a, dead)
    await keeper_b.tick()

    assert sorted(runs_b.running) == ACCOUNTS
    assert {runs_b.running[name].kind for name in dead} == {"takeover"}

    # "a" was only paused: its next poll finds its leases gone and stops those accounts.
    await keeper_a.tick()
    assert keeper_a.lost == len(dead)
    assert sorted(runs_a.stopped[-len(dead) :]) == dead


async def test_a_graceful_stop_hands_every_account_over(
    boards: Callable[[str], LeaseBoard],
) -> None:
    board_a, board_b = boards("a"), boards("b")
    runs_a, runs_b = _Runs(), _Runs()
    keeper_a, keeper_b = _keeper(board_a, runs_a), _keeper(board_b, runs_b)
    await keeper_a.tick()
    await keeper_b.tick()

    await keeper_a.release_all()
    await keeper_b.tick()

    assert runs_a.running == {}
    assert sorted(runs_b.running) == ACCOUNTS
    assert [m.owner for m in await board_b.members()] == ["b"]


class _SwallowingRuns(_Runs):
    """An account start that stops a helper the old way (``cancel()``, then ``suppress
    (CancelledError): await helper``): a cancellation of the keeper arriving meanwhile is
    swallowed with the helper's, as it was somewhere on a monitor's start path once."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping_helper = asyncio.Event()

    async def start(self, name: str, lease: Lease) -> None:
        await super().start(name, lease)

        async def slow_to_stop() -> None:
            try:
                await asyncio.sleep(60)
            finally:
                await asyncio.sleep(0.3)

        helper = asyncio.create_task(slow_to_stop())
        await asyncio.sleep(0)
        helper.cancel()
        self.stopping_helper.set()
        with contextlib.suppress(asyncio.CancelledError):
            await helper


async def test_a_keeper_stops_even_when_an_account_start_swallowed_its_cancellation(
    boards: Callable[[str], LeaseBoard],
) -> None:
    """The monitor stops its keeper by cancelling it (SIGTERM). Before, a cancellation lost on
    the start path left the keeper polling forever and the monitor never exited."""
    runs = _SwallowingRuns()
    keeper = _keeper(boards("a"), runs)
    task = asyncio.create_task(keeper.run())
    await asyncio.wait_for(runs.stopping_helper.wait(), 10)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=15)
    assert task in done, "the keeper went on polling after it was cancelled"
    assert runs.running == {}  # and it stopped and gave back every account


class _SlowToStop(_Runs):
    """An account whose stop (its drain) takes several lease TTLs."""

    def __init__(self, takes: float) -> None:
        super().__init__()
        self.takes = takes
        self.stopping = asyncio.Event()

    async def stop(self, name: str) -> None:
        self.stopping.set()
        await asyncio.sleep(self.takes)
        await super().stop(name)


async def test_a_lease_stays_renewed_while_its_account_stops(
    redis_url: str, redis_namespace: str
) -> None:
    """A graceful stop keeps renewing a lease until its account has stopped, then releases it:
    before, the renewals ended first (and a handover dropped the account from what is renewed
    before stopping it), so a stop longer than the TTL let the lease lapse and another monitor
    took the account over while this one still streamed it."""
    board = LeaseBoard(redis_url, prefix=redis_namespace, ttl=1.0, owner="slow")
    observer = LeaseBoard(redis_url, prefix=redis_namespace, ttl=1.0, owner="observer")
    runs = _SlowToStop(takes=3.0)
    keeper = ShardKeeper(
        board, ACCOUNTS[:1], start=runs.start, stop=runs.stop, fence_floor=_no_floor, poll=0.1
    )
    task = asyncio.create_task(keeper.run())
    try:
        for _ in range(100):
            if runs.running:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.wait_for(runs.stopping.wait(), 5)
        await asyncio.sleep(2.0)  # two TTLs into the stop
        (holder,) = await observer.holders(ACCOUNTS[:1])
        assert holder.owner is not None, holder
        assert holder.owner.startswith("slow"), holder
        await asyncio.gather(task, return_exceptions=True)
        (holder,) = await observer.holders(ACCOUNTS[:1])
        assert holder.owner is None  # released once stopped
        assert runs.stopped == ACCOUNTS[:1]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await board.aclose()
        await observer.aclose()


async def _no_floor(name: str) -> int:
    return 0
