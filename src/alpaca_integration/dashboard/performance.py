"""How the dashboard's P&L figures and performance charts are sourced (the seam for the ledger).

``PerformanceProvider`` is what the overview, positions and performance pages ask:

* ``pnl(account)``: day and total P&L (and realized P&L when known);
* ``position_ledger(account)``: per symbol, the open lots and realized P&L;
* ``report(account)``: the performance page's charts (plotly figures as JSON-ready dicts) and
  its statistics.

``SnapshotPerformance`` (the default) answers from the stored account snapshots alone: the
equity curve and its drawdown, day P&L as Alpaca defines it (equity minus last close's equity),
total P&L since the first stored snapshot; no lots, no realized P&L. When the ledger lands, the
lead passes its own provider (``create_app(..., performance=...)``) and every page shows its
figures instead; nothing else changes.

Imports the dashboard's ``summaries`` from the package; never the client, the cache or the CLI.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from alpaca_integration.dashboard import summaries
from alpaca_integration.dashboard.formatting import NONE

if TYPE_CHECKING:
    from alpaca_integration.storage import Store

__all__ = [
    "Chart",
    "PerformanceProvider",
    "PerformanceReport",
    "PnL",
    "PositionLedger",
    "SnapshotPerformance",
    "line_chart",
]


@dataclass(frozen=True)
class Chart:
    """One plotly figure: ``figure`` is ``{"data": [...], "layout": {...}}``."""

    name: str
    title: str
    figure: dict[str, Any]


@dataclass(frozen=True)
class PnL:
    day: Decimal | None = None
    total: Decimal | None = None
    # What "total" is measured from, shown beside it.
    total_basis: str = ""
    realized: Decimal | None = None


@dataclass(frozen=True)
class PositionLedger:
    open_lots: int
    realized_pl: Decimal
    # The open lots themselves (``ledger.Lot``: opened at, qty, cost ...), oldest first.
    lots: tuple[Any, ...] = ()


@dataclass(frozen=True)
class PerformanceReport:
    charts: list[Chart] = field(default_factory=list)
    statistics: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""


class PerformanceProvider(Protocol):
    """Where P&L, lots and the performance report come from (see the module docstring)."""

    async def pnl(self, account: str) -> PnL: ...

    async def position_ledger(self, account: str) -> Mapping[str, PositionLedger] | None: ...

    async def report(self, account: str) -> PerformanceReport: ...


def line_chart(
    series: Sequence[tuple[str, Sequence[dt.datetime], Sequence[Decimal]]],
    *,
    y_title: str,
    height: int = 280,
    fill: bool = False,
    tickformat: str = ",.2f",
    markers: bool = False,
) -> dict[str, Any]:
    """A plotly line figure of one or more named time series (plotted as floats; the tables
    beside it keep the exact amounts)."""
    traces = [
        {
            "type": "scatter",
            "mode": "lines+markers" if markers else "lines",
            "name": name,
            "x": [moment.isoformat() for moment in times],
            "y": [float(value) for value in values],
            **({"fill": "tozeroy"} if fill else {}),
        }
        for name, times, values in series
    ]
    yaxis: dict[str, Any] = {"title": {"text": y_title}, "tickformat": tickformat}
    levels = {float(v) for _, _, values in series for v in values if math.isfinite(float(v))}
    if len(levels) == 1:
        # One level (one point, or a flat curve): plotly would span it +-1, cents around an
        # equity of 100,000 or +-100% around a drawdown of 0. A 1% band, at least 1 (or 1% for
        # a percentage axis), either side instead.
        (level,) = levels
        band = max(abs(level) / 100, 0.01 if "%" in tickformat else 1.0)
        yaxis["range"] = [level - band, level + band]
    layout: dict[str, Any] = {
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 10, "b": 40},
        "xaxis": {"type": "date"},
        "yaxis": yaxis,
        "showlegend": len(traces) > 1,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
    }
    instants = {moment for _, times, _ in series for moment in times}
    if len(instants) == 1:
        # One point (a first day): plotly would zoom into fractions of a millisecond around it.
        (only,) = instants
        pad = dt.timedelta(days=1)
        layout["xaxis"] = {
            "type": "date",
            "range": [(only - pad).isoformat(), (only + pad).isoformat()],
        }
    return {"data": traces, "layout": layout}


def _drawdown(points: Sequence[summaries.EquityPoint]) -> list[Decimal]:
    """Equity below its running peak, as a (negative) fraction of the peak."""
    peak = Decimal(0)
    out: list[Decimal] = []
    for point in points:
        peak = max(peak, point.equity)
        out.append((point.equity - peak) / peak if peak > 0 else Decimal(0))
    return out


class SnapshotPerformance:
    """P&L and charts from the stored account snapshots (the default provider)."""

    def __init__(self, store: Store, *, points: int = 2000) -> None:
        self.store = store
        self.points = points

    async def pnl(self, account: str) -> PnL:
        curve = await summaries.equity_curve(self.store, account, limit=1)
        if not curve:
            return PnL()
        latest = curve[-1]
        first = await summaries.first_equity(self.store, account)
        assert first is not None  # a newest snapshot implies an oldest one
        return PnL(
            day=latest.equity - latest.last_equity,
            total=latest.equity - first.equity,
            total_basis=f"since the first stored snapshot ({first.at:%Y-%m-%d %H:%M} UTC)",
        )

    async def position_ledger(self, account: str) -> Mapping[str, PositionLedger] | None:
        """Unknown without the ledger: the positions page leaves those columns out."""
        return None

    async def report(self, account: str) -> PerformanceReport:
        curve = await summaries.equity_curve(self.store, account, limit=self.points)
        if not curve:
            return PerformanceReport(source="no account snapshot stored yet")
        times = [point.at for point in curve]
        drawdown = _drawdown(curve)
        charts = [
            Chart(
                "equity",
                "Equity",
                line_chart([("equity", times, [p.equity for p in curve])], y_title="equity"),
            ),
            Chart(
                "drawdown",
                "Drawdown from the running peak",
                line_chart(
                    [("drawdown", times, drawdown)], y_title="drawdown", fill=True, tickformat=".2%"
                ),
            ),
        ]
        first, last = curve[0], curve[-1]
        change = last.equity - first.equity
        statistics = [
            ("snapshots plotted", f"{len(curve):,}"),
            ("from", f"{first.at:%Y-%m-%d %H:%M:%S} UTC"),
            ("to", f"{last.at:%Y-%m-%d %H:%M:%S} UTC"),
            ("equity at start", f"{first.equity:,.2f}"),
            ("equity now", f"{last.equity:,.2f}"),
            ("change", f"{change:+,.2f}"),
            (
                "return",
                f"{change / first.equity * 100:+.2f}%" if first.equity else NONE,
            ),
            ("max drawdown", f"{min(drawdown) * 100:.2f}%"),
        ]
        return PerformanceReport(
            charts=charts,
            statistics=statistics,
            source="stored account snapshots (realized P&L, lots and returns arrive with the ledger)",
        )
