"""How a real-time source's events reach the engine: read into a queue, applied in batches.

Both stream ingestors (trade_updates in ``sync.stream``, the activities event stream in
``sync.activity_stream``) use these two helpers:

* ``consume_in_batches``: a reader task fills a bounded queue while the consumer applies what
  arrived; what queued up during a write goes in the next one (up to ``max_batch``). When the
  reader ends, its error (if any) is raised here; on cancellation the reader is cancelled too.
* ``apply_isolating``: a batch that fails is retried event by event, so one bad event never
  keeps the others out; an event that fails alone is handed to ``failed`` (called inside the
  ``except`` block, so ``log.exception`` there shows the error).

Imports nothing from the package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from alpaca_integration._closing import cancel_and_wait, raise_if_cancelling

__all__ = ["apply_isolating", "consume_in_batches"]

_T = TypeVar("_T")


async def consume_in_batches(
    read: Callable[[asyncio.Queue[_T]], Coroutine[Any, Any, None]],
    apply: Callable[[list[_T]], Awaitable[None]],
    *,
    max_batch: int,
    name: str,
) -> None:
    """Run ``read(queue)`` as a task and ``apply`` what it queues, in batches, until it ends."""
    queue: asyncio.Queue[_T] = asyncio.Queue(maxsize=10 * max_batch)
    reader: asyncio.Task[None] = asyncio.create_task(read(queue), name=name)
    getter: asyncio.Future[_T] | None = None
    try:
        while True:
            raise_if_cancelling()  # one swallowed by ``apply`` (``_closing``) still ends it
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                reader.result()  # the stream ended: surface its error, if any
                return
            batch = [getter.result()]
            while len(batch) < max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            await apply(batch)
    finally:
        # Cancelled while waiting (an account's stop), the pending get would be left behind,
        # reachable from nothing: destroyed pending by the next garbage collection.
        if getter is not None and not getter.done():
            getter.cancel()
        await cancel_and_wait(reader)


async def apply_isolating(
    apply: Callable[[list[_T]], Awaitable[object]],
    batch: list[_T],
    failed: Callable[[_T], None],
) -> None:
    """``apply(batch)``; if it fails, each event alone, and ``failed(event)`` for those that
    still fail."""
    try:
        await apply(batch)
    except asyncio.CancelledError:
        raise
    except Exception:
        if len(batch) > 1:
            for item in batch:
                await apply_isolating(apply, [item], failed)
            return
        failed(batch[0])
