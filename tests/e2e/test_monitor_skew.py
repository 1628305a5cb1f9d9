"""The monitor's status line reports the venue's clock skew (issue 11 item 1: a skew is measured
and reported, not silently filtered): the venue's clock 75 s ahead shows as ``+75.0 s`` in the
account's row, as the account's client measures it from the venue's answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from alpaca_integration.monitor.run import STATUS_COLUMNS, status_row
from alpaca_integration.service import MonitorService
from support.sim_runs import sim_account

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ACCOUNT = "default"


def test_skew_text_signs_the_venues_lead_and_shows_a_dash_before_any_answer() -> None:
    from alpaca_integration.monitor.run import skew_text

    assert skew_text(None) == "-"
    assert skew_text(75.04) == "+75.0 s"
    assert skew_text(-0.44) == "-0.4 s"
    assert skew_text(0.0) == "+0.0 s"


async def test_the_status_line_shows_the_venues_clock_skew(simulator: Any, store: Any) -> None:
    """Venue 75 s ahead: the account's status row says so (within the Date header's second)."""
    simulator.set_faults(clock_skew_seconds=75.0)
    service = MonitorService(
        [sim_account(simulator, ACCOUNT)], store, None, update_interval=3600.0, reconcile_every=None
    )
    before = service.statuses()
    runner = asyncio.create_task(service.run())
    skew_at = STATUS_COLUMNS.index("skew")
    rows: list[tuple[str, ...]] = []
    try:
        await asyncio.wait_for(service.wait_started(), 60)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while loop.time() < deadline:
            statuses = service.statuses()
            rows = [status_row(s) for s in statuses]
            skew = statuses[0].clock_skew
            if skew is not None and abs(skew - 75.0) <= 2.0:
                break
            await asyncio.sleep(0.2)
    finally:
        service.stop()
        await runner
    assert before == []  # nothing runs (and nothing is measured) before the service starts
    assert rows, "the service never reported a status"
    [row] = rows
    assert row[0] == ACCOUNT
    shown = row[skew_at]
    assert shown.startswith("+"), shown
    assert shown.endswith(" s"), shown
    assert abs(float(shown.removesuffix(" s")) - 75.0) <= 2.0, shown
