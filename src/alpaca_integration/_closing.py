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
import io
import logging
from collections.abc import Callable, Iterable
from typing import Any, Self

_log = logging.getLogger(__name__)

__all__ = [
    "AsyncClosing",
    "cancel_and_wait",
    "cancel_until_ended",
    "raise_if_cancelling",
    "task_stack",
]


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


async def cancel_until_ended(
    tasks: Iterable[asyncio.Future[Any]],
    *,
    patience: float,
    on_stuck: Callable[[asyncio.Future[Any]], None],
    rounds: int = 3,
) -> set[asyncio.Future[Any]]:
    """Cancel ``tasks`` and wait until they have ended, however they end. One still running
    ``patience`` seconds after its cancellation (it lost the cancellation, or its clean-up
    waits on something that never comes) is handed to ``on_stuck`` (to report it, with its
    stack) and cancelled again, ``rounds`` times in all; returns those still running then,
    left behind (each logged at ERROR), so that a stop never waits forever on one task."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    for _ in range(rounds):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=patience)
        for task in pending:
            on_stuck(task)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: how it ended is not this caller's business
    for task in pending:
        name = task.get_name() if isinstance(task, asyncio.Task) else repr(task)
        _log.error("%s did not end after %d cancellations; left behind", name, rounds)
    return pending


def task_stack(task: asyncio.Future[Any]) -> str:
    """Where ``task`` waits now, as a traceback's lines (for a log line)."""
    out = io.StringIO()
    if isinstance(task, asyncio.Task):
        task.print_stack(file=out)
    return out.getvalue()
