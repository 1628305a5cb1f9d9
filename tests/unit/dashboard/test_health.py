"""The dashboard's health source reads the monitor's account statuses."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from alpaca_integration.dashboard.views import AccountHealth, health_from_statuses


def test_health_copies_the_named_accounts_status_and_knows_no_other_account() -> None:
    """Every AccountHealth field comes from the status of the account asked for."""
    synced = dt.datetime(2026, 12, 4, 15, 30, tzinfo=dt.UTC)
    statuses = [
        SimpleNamespace(
            name="other",
            connected=False,
            last_sync_at=None,
            lag_seconds=None,
            events=0,
            events_per_second=0.0,
            gaps=9,
            last_error="down",
        ),
        SimpleNamespace(
            name="main",
            connected=True,
            last_sync_at=synced,
            lag_seconds=0.25,
            events=120,
            events_per_second=3.5,
            gaps=1,
            last_error=None,
        ),
    ]
    health = health_from_statuses(lambda: statuses)
    assert health("main") == AccountHealth(
        connected=True,
        last_sync_at=synced,
        lag_seconds=0.25,
        events=120,
        events_per_second=3.5,
        gaps=1,
        last_error=None,
    )
    assert health("missing") is None
