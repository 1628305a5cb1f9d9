"""A monitor process keeps what its start built out of the garbage collector's view (issue 15:
a full collection of a many-account monitor paused every account's stream), and a service run
inside another program (``freeze_gc`` left off) never freezes its host's heap."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from alpaca_integration.monitor.service import REFREEZE_AFTER
from alpaca_integration.service import MonitorService
from support.sim_runs import sim_account

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def _service(kind: type[MonitorService], simulator: Any, store: Any, freeze: bool) -> Any:
    """One account, no stream, no periodic sync within the test: only the start is exercised."""
    return kind(
        [sim_account(simulator, "default")],
        store,
        None,
        update_interval=3600.0,
        stream=False,
        reconcile_every=None,
        freeze_gc=freeze,
    )


async def _started(service: MonitorService) -> tuple[bool, int]:
    """Run ``service`` until its account started: whether that account's engine is still in the
    collector's view, and how many objects were frozen then."""
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.wait_started(), 60)
        engine = service._runtimes[0].engine
        return any(o is engine for o in gc.get_objects()), gc.get_freeze_count()
    finally:
        service.stop()
        await runner


@pytest.mark.parametrize("freeze", [True, False])
async def test_freeze_gc_takes_the_started_account_out_of_the_collectors_view(
    simulator: Any, store: Any, freeze: bool
) -> None:
    gc.unfreeze()
    service = _service(MonitorService, simulator, store, freeze)
    try:
        watched, frozen = await _started(service)
    finally:
        gc.unfreeze()  # the test process's heap back as it was
    assert watched is not freeze
    assert (frozen > 0) is freeze


class _Cycle:
    """Cyclic garbage: only the collector can free it (reference counting never reaches 0)."""

    def __init__(self) -> None:
        self.me = self


class _LittersAtAccountStart(MonitorService):
    """Leaves a garbage cycle just before each account starts, as any running process has
    garbage the collector has not reached yet."""

    litter: list[weakref.ref[_Cycle]] = []

    async def _start_account(self, config: Any, lease: Any = None) -> None:
        self.litter.append(weakref.ref(_Cycle()))
        await super()._start_account(config, lease)


async def test_garbage_left_when_an_account_starts_is_not_frozen_with_it(
    simulator: Any, store: Any
) -> None:
    """Freezing keeps what the start built; garbage lying about then must still be freed, or
    every account start (a sharded monitor's takeovers, again and again) leaks what it left."""
    gc.unfreeze()
    service = _service(_LittersAtAccountStart, simulator, store, True)
    gc.disable()  # no collection may happen to run between the litter and the start's freeze
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.wait_started(), 60)
        gc.enable()
        gc.collect()
        left = [ref for ref in service.litter if ref() is not None]
    finally:
        gc.enable()
        service.stop()
        await runner
        gc.unfreeze()
    assert service.litter
    assert not left, "garbage of an account's start was frozen, never freed"


async def test_an_account_stopped_after_a_frozen_start_is_freed(simulator: Any, store: Any) -> None:
    """A sharded monitor stops the accounts it hands over: what their start built (engine,
    client) was frozen with it, and must be freed once they stop, or every handover leaks."""
    gc.unfreeze()
    service = _service(MonitorService, simulator, store, True)
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.wait_started(), 60)
        engine = weakref.ref(service._runtimes[0].engine)
        client = weakref.ref(service._runtimes[0].client)
        await service._stop_account("default")
        await asyncio.sleep(REFREEZE_AFTER + 0.5)  # the monitor collects and freezes again
        refrozen = gc.get_freeze_count()
        alive = [ref for ref in (engine, client) if ref() is not None]
    finally:
        service.stop()
        await runner
        gc.unfreeze()
    assert not alive, "a stopped account's engine or client stayed frozen"
    assert refrozen > 0  # what lives on is frozen again
