"""``consume_in_batches``: what it leaves behind when the consumer is cancelled."""

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
