"""An account's stop: what ``consume_in_batches`` leaves behind when it is cancelled, and the
engine's drain of a write that never ends."""

from __future__ import annotations

import asyncio

from alpaca_integration.sync.batches import consume_in_batches


async def test_a_cancelled_consumer_leaves_no_pending_get_behind() -> None:
    """Cancelled while it waits for the next event (an account's stop), the consumer cancels
    its pending ``Queue.get``: left pending and unreachable, it was destroyed by the next
    garbage collection ("Task was destroyed but it is pending!" in a stopping monitor's log)."""
    reading = asyncio.Event()

    async def read(queue: asyncio.Queue[int]) -> None:
        reading.set()
        await asyncio.Event().wait()  # a stream with nothing to say

    async def apply(batch: list[int]) -> None:
        raise AssertionError("nothing was read")

    before = asyncio.all_tasks()
    consumer = asyncio.create_task(consume_in_batches(read, apply, max_batch=10, name="reader"))
    await reading.wait()
    await asyncio.sleep(0)
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    await asyncio.sleep(0)
    left = [task for task in asyncio.all_tasks() - before if not task.done()]
    assert left == [], [task.get_coro() for task in left]


async def test_a_write_stuck_at_shutdown_is_reported_and_cancelled_not_waited_for_forever() -> None:
    """``drain(patience=...)``: a write still running after its patience goes to ``on_stuck``
    (the monitor logs where it waits) and is cancelled, so an account's stop ends."""
    from typing import Any

    from alpaca_integration.sync.engine import SyncEngine

    engine = SyncEngine("acct", client=object(), store=object())  # type: ignore[arg-type]
    never = asyncio.Event()
    write = asyncio.create_task(engine._shielded(never.wait))
    await asyncio.sleep(0)
    reported: list[asyncio.Future[Any]] = []
    await asyncio.wait_for(engine.drain(patience=1.0, on_stuck=reported.append), 10)
    assert reported  # (twice if its cancellation took over a second on a loaded machine)
    await asyncio.gather(write, return_exceptions=True)
    assert write.cancelled()
