"""The report page: a header of figures per account, the charts, the correctness summary.

Self-contained: plotly.js is inlined once (``plotly.offline.get_plotlyjs``), each chart is a
``<div class="chart" data-chart=NAME>`` drawn by ``Plotly.newPlot`` when the page loads; every
text is HTML-escaped. Imports plotly, ``report.charts`` and the ledger's types.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from alpaca_integration.ledger.stored import StoredLedger
from alpaca_integration.report import charts

__all__ = ["CHARTS", "render_report", "write_report"]

CHARTS: dict[str, Callable[[Sequence[StoredLedger]], go.Figure]] = {
    "equity": charts.equity_chart,
    "underwater": charts.drawdown_chart,
    "monthly-returns": charts.monthly_returns_chart,
    "pnl-by-symbol": lambda ledgers: charts.pnl_chart(ledgers, "symbol"),
    "pnl-by-strategy": lambda ledgers: charts.pnl_chart(ledgers, "sleeve"),
    "fees": charts.fees_chart,
    "exposure": charts.exposure_chart,
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; }
.chart { min-height: 360px; border: 1px solid #eee; }
"""


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _table(columns: Sequence[str], rows: Sequence[Sequence[Any]], name: str) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = (
        "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        or f'<tr><td colspan="{len(columns)}">none</td></tr>'
    )
    return f'<table data-table="{name}"><tr>{head}</tr>{body}</table>'


def _figures(ledger: StoredLedger) -> str:
    figures = ledger.performance()
    totals = ledger.summary("sleeve")
    unrealized = sum((v.unrealized for v in ledger.valuations() if v.unrealized), Decimal(0))
    rows: list[list[Any]] = [
        ["realized net", sum((s.realized_net for s in totals.values()), Decimal(0))],
        ["income", sum((s.income for s in totals.values()), Decimal(0))],
        ["unrealized", unrealized],
        ["fees paid", figures.fees_paid],
        ["time-weighted return", figures.time_weighted_return],
        ["money-weighted return", figures.money_weighted_return],
        ["annual volatility", figures.annual_volatility],
        ["sharpe", figures.sharpe],
        ["sortino", figures.sortino],
        ["max drawdown", figures.max_drawdown],
        ["max drawdown days", figures.max_drawdown_days],
        ["win rate", figures.win_rate],
        ["profit factor", figures.profit_factor],
        ["open lots", len(ledger.lots)],
        ["closed matches", len(ledger.matches)],
    ]
    return _table(["figure", "value"], rows, f"figures-{ledger.account}")


def _correctness(ledger: StoredLedger) -> str:
    severities: dict[tuple[str, str], int] = {}
    for result in ledger.quality:
        key = (result.rule, result.severity)
        severities[key] = severities.get(key, 0) + 1
    quality = _table(
        ["rule", "severity", "findings"],
        [[rule, severity, count] for (rule, severity), count in sorted(severities.items())],
        f"quality-{ledger.account}",
    )
    runs = _table(
        ["run", "started", "finished", "dry run", "summary"],
        [
            [run.id, run.started_at, run.finished_at, run.dry_run, _summary(run.summary)]
            for run in ledger.reconciliations
        ],
        f"reconciliation-{ledger.account}",
    )
    return f"<h3>data quality</h3>{quality}<h3>reconciliation (latest runs)</h3>{runs}"


def _summary(summary: Any) -> str:
    if isinstance(summary, dict):
        return ", ".join(f"{key}: {value}" for key, value in sorted(summary.items()))
    return "" if summary is None else str(summary)


def render_report(ledgers: Sequence[StoredLedger], *, now: dt.datetime | None = None) -> str:
    """The report as one HTML document."""
    stamp = _cell(now or dt.datetime.now(dt.UTC))
    config = {"displaylogo": False, "responsive": True}
    divs = []
    for name, build in CHARTS.items():
        body = pio.to_html(
            build(ledgers),
            full_html=False,
            include_plotlyjs=False,
            div_id=f"chart-{name}",
            config=config,
        )
        divs.append(f'<div class="chart" data-chart="{name}">{body}</div>')
    accounts = "".join(
        f"<h2>{html.escape(ledger.account)}</h2>{_figures(ledger)}{_correctness(ledger)}"
        for ledger in ledgers
    )
    names = ", ".join(html.escape(ledger.account) for ledger in ledgers)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>alpaca-integration report: {names}</title><style>{_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>Performance report: {names}</h1><p>written {html.escape(stamp)}</p>"
        f'<div class="grid">{"".join(divs)}</div>{accounts}</body></html>'
    )


def write_report(ledgers: Sequence[StoredLedger], path: Path) -> Path:
    """Write the report to ``path``; returns its absolute path."""
    path.write_text(render_report(ledgers), encoding="utf-8")
    return path.resolve()
