"""The live dashboard: the store's accounts, positions, orders, fills, P&L and checks in a
browser, updated as fills land (``alpacactl dashboard``; docs/dashboard.md).

* ``create_app(store, cache, accounts, *, token=None, health=None, performance=None,
  live="auto")``: the Starlette app (``dashboard.app``), for any process;
* ``running_dashboard(app, host=..., port=...)``: serve it in the current event loop
  (``dashboard.server``);
* ``AccountHealth`` / ``health_from_statuses``: the monitor's per-account status, for the
  overview (``dashboard.views``);
* ``PerformanceProvider`` / ``LedgerPerformance`` (the default: the pure ledger over the stored
  fills) / ``SnapshotPerformance`` (snapshots only): where P&L, lots and charts come from
  (``dashboard.performance``, ``dashboard.ledger_performance``).

Layout: ``queries`` and ``summaries`` (SQL the store lacks), ``views`` (one loader per page region), ``live``
(Server-Sent Events from the cache or by polling), ``security`` (token, headers),
``formatting`` (Jinja2 and its filters), ``templates/`` and ``static/`` (served by the package).

Imports the store's schema, the cache's types and the models; never the client, the sync
engine, the monitor, the simulator or the CLI. Read-only: nothing here writes broker state.
"""

from __future__ import annotations

from alpaca_integration.dashboard.app import LIVE_MODES, Dashboard, create_app
from alpaca_integration.dashboard.ledger_performance import LedgerPerformance
from alpaca_integration.dashboard.performance import (
    PerformanceProvider,
    PerformanceReport,
    PnL,
    PositionLedger,
    SnapshotPerformance,
)
from alpaca_integration.dashboard.security import MIN_TOKEN_LENGTH, is_local_host
from alpaca_integration.dashboard.server import ServedDashboard, running_dashboard
from alpaca_integration.dashboard.views import AccountHealth, health_from_statuses

__all__ = [
    "LIVE_MODES",
    "MIN_TOKEN_LENGTH",
    "AccountHealth",
    "Dashboard",
    "LedgerPerformance",
    "PerformanceProvider",
    "PerformanceReport",
    "PnL",
    "PositionLedger",
    "ServedDashboard",
    "SnapshotPerformance",
    "create_app",
    "health_from_statuses",
    "is_local_host",
    "running_dashboard",
]
