"""A monitor process keeps what its start built out of the garbage collector's view (issue 15:
a full collection of a many-account monitor paused every account's stream), and a service run
inside another program (``freeze_gc`` left off) never freezes its host's heap."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from alpaca_integration.service import MonitorService
from support.sim_runs import sim_account

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


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
    service = MonitorService(
        [sim_account(simulator, "default")],
        store,
        None,
        update_interval=3600.0,
        stream=False,
        reconcile_every=None,
        freeze_gc=freeze,
    )
    try:
        watched, frozen = await _started(service)
    finally:
        gc.unfreeze()  # the test process's heap back as it was
    assert watched is not freeze
    assert (frozen > 0) is freeze
