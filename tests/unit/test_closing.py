"""Stopping a helper task must not swallow the caller's own cancellation
(``_closing.cancel_and_wait``): ``task.cancel()`` then ``suppress(CancelledError): await task``
loses a cancellation of the caller that arrives while the helper winds down, and the caller
goes on as if never asked to stop (a monitor then never exited on SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from alpaca_integration._closing import cancel_and_wait
from alpaca_integration.sync.report import read_ahead


async def _slow_to_stop() -> None:
    try:
        await asyncio.sleep(60)
    finally:
        await asyncio.sleep(0.3)  # its clean-up takes a while


async def _old_way(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _caller_is_stopped(stop_helper: Callable[[asyncio.Task[None]], Awaitable[None]]) -> bool:
    """Cancel a caller while it waits for its helper to stop: whether the caller stopped."""
    went_on = asyncio.Event()

    async def caller() -> None:
        helper = asyncio.create_task(_slow_to_stop())
        await asyncio.sleep(0)
        await stop_helper(helper)
        went_on.set()

    task = asyncio.create_task(caller())
    await asyncio.sleep(0.05)  # the caller waits for the helper's clean-up now
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    return task.cancelled() and not went_on.is_set()


async def test_the_old_way_swallows_the_callers_cancellation() -> None:
    assert not await _caller_is_stopped(_old_way)  # what the helper below fixes


async def test_cancel_and_wait_keeps_the_callers_cancellation() -> None:
    assert await _caller_is_stopped(cancel_and_wait)


async def test_cancel_and_wait_ignores_how_the_helper_ended() -> None:
    async def fails() -> None:
        raise ValueError("the helper's own failure")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    await cancel_and_wait(task)  # no error: the helper is over, however it ended
    assert task.done()


async def test_closing_read_ahead_early_keeps_the_callers_cancellation() -> None:
    """``read_ahead`` stops its pump when the reader leaves early; a reader cancelled during
    that stop is cancelled."""

    class SlowSource:
        """One item at once, then a wait whose clean-up takes a while."""

        def __init__(self) -> None:
            self.given = 0

        def __aiter__(self) -> SlowSource:
            return self

        async def __anext__(self) -> int:
            self.given += 1
            if self.given > 1:
                await _slow_to_stop()
            return self.given

    went_on = asyncio.Event()

    async def reader() -> None:
        items = read_ahead(SlowSource(), 1)
        assert await anext(items) == 1
        await items.aclose()  # the reader leaves early: the pump is stopped (0.3 s)
        went_on.set()

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.cancelled()
    assert not went_on.is_set()


def test_a_resource_that_does_not_say_how_it_closes_cannot_be_built() -> None:
    """``aclose`` is abstract: a closable resource without one fails when built, not when its
    ``async with`` block ends (review item)."""
    from alpaca_integration._closing import AsyncClosing

    class Forgetful(AsyncClosing):
        pass

    with pytest.raises(TypeError, match="aclose"):
        Forgetful()  # type: ignore[abstract]


# --------------------------------------------------------------------------- cancel_until_ended


async def _loses_one_cancellation() -> None:
    """A loop that swallows the first cancellation (as a lost one looks from outside)."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(60)
    await asyncio.sleep(60)


async def test_a_task_that_lost_its_cancellation_is_reported_and_cancelled_again() -> None:
    from alpaca_integration._closing import cancel_until_ended, task_stack

    quick = asyncio.create_task(_slow_to_stop(), name="quick")
    lost = asyncio.create_task(_loses_one_cancellation(), name="lost")
    await asyncio.sleep(0)
    stuck: list[tuple[str, str]] = []

    def note(task: asyncio.Future[object]) -> None:
        assert isinstance(task, asyncio.Task)
        stuck.append((task.get_name(), task_stack(task)))

    left = await cancel_until_ended([quick, lost], patience=2.0, on_stuck=note)
    assert left == set()
    assert quick.cancelled()
    assert lost.done()
    assert [name for name, _ in stuck] == ["lost"]
    assert "_loses_one_cancellation" in stuck[0][1]  # where it waited


async def test_a_task_that_never_ends_is_left_behind_after_its_rounds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Left behind, and logged as such with the number of rounds it got (the service's stop
    and the engine's drain both rely on this line)."""
    from alpaca_integration._closing import cancel_until_ended

    release = asyncio.Event()

    async def never_ends() -> None:  # until the test lets it
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    stubborn = asyncio.create_task(never_ends(), name="stubborn")
    await asyncio.sleep(0)
    reports: list[asyncio.Future[object]] = []
    left = await cancel_until_ended([stubborn], patience=0.1, on_stuck=reports.append, rounds=2)
    assert left == {stubborn}
    assert reports == [stubborn] * 2
    assert "stubborn did not end after 2 cancellations; left behind" in caplog.text
    release.set()
    await stubborn
