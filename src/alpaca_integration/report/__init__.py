"""The HTML report: one self-contained file (plotly's JS embedded, no network needed to open it)
with the equity curve, underwater chart, monthly returns heatmap, P&L by symbol and by strategy,
fees and exposure over time, and the data-quality / reconciliation summary.

``write_report(ledgers, path)`` writes it from ``ledger.stored.StoredLedger`` values (the CLI
reads them through ``monitor.ledger_jobs``); ``render_report`` returns the HTML text.
``report.export`` writes the trades as CSV for Portfolio Performance and Ghostfolio.

Imports plotly, the ledger's types and the standard library; never the store or the CLI.
"""

from __future__ import annotations

from alpaca_integration.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
