"""The dashboard's health source reads the monitor's account statuses."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from alpaca_integration.dashboard.views import AccountHealth, health_from_statuses


def test_health_copies_the_named_accounts_status_and_knows_no_other_account() -> None:
    """Every AccountHealth field comes from the status of the account asked for."""
    main = {
        "connected": True,
        "last_sync_at": dt.datetime(2026, 12, 4, 15, 30, tzinfo=dt.UTC),
        "lag_seconds": 0.25,
        "events": 120,
        "events_per_second": 3.5,
        "gaps": 1,
        "last_error": None,
    }
    other = {**dict.fromkeys(main), "connected": False, "gaps": 9, "last_error": "down"}
    statuses = [SimpleNamespace(name="other", **other), SimpleNamespace(name="main", **main)]
    health = health_from_statuses(lambda: statuses)
    assert health("main") == AccountHealth(**main)
    assert health("other") == AccountHealth(connected=False, gaps=9, last_error="down")
    assert health("missing") is None
