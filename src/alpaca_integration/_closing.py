"""``AsyncClosing``: what every closable resource of the package (the client, the store, the
cache, the streams) does alike: ``async with`` it and ``aclose()`` runs when the block ends.
``cancel_and_wait`` and ``raise_if_cancelling``: stopping a helper task without swallowing the
caller's own cancellation.

Standard library only, so any part of the package may use it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from typing import Any, Self

__all__ = ["AsyncClosing", "cancel_and_wait", "raise_if_cancelling"]


class AsyncClosing(abc.ABC):
    """A resource ``async with`` closes: ``__aexit__`` awaits ``aclose()``, however the block
    ended (the exception, if any, propagates). A subclass that does not say how it closes
    cannot be instantiated."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release what it holds; each resource says how."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def raise_if_cancelling() -> None:
    """Raise ``CancelledError`` when the running task was asked to stop. A cancellation that
    arrives while the task awaits a child it has just cancelled (``task.cancel()`` then
    ``suppress(CancelledError): await task``) is swallowed with the child's; a loop that checks
    this before its next wait still ends (a monitor's lease keeper once polled on forever after
    SIGTERM that way)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has ended, ignoring how it ended, but not a
    cancellation of the caller that arrives during the wait (re-raised, unlike
    ``suppress(CancelledError): await task``). A cancellation already under way when it is
    called (it runs in the ``finally`` of a cancelled task) is left to that ``finally``: what
    comes after the call there (releasing a lock, closing a socket) still runs."""
    current = asyncio.current_task()
    before = current.cancelling() if current is not None else 0
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    if current is not None and current.cancelling() > before:
        raise asyncio.CancelledError
