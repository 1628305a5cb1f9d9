"""The report's charts: plotly figures built from ``StoredLedger`` rows (pure, no I/O).

One function per chart, each taking every account's ledger and returning a figure with one trace
per account (or one bar per symbol / strategy across accounts). Money stays ``Decimal`` until
plotted; a chart with no data is a "no data yet" note under its title, without axes.

Imports plotly and the ledger's types only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from decimal import Decimal

import plotly.graph_objects as go

from alpaca_integration.ledger.rows import day_of
from alpaca_integration.ledger.stored import StoredLedger

__all__ = [
    "drawdown_chart",
    "equity_chart",
    "exposure_chart",
    "fees_chart",
    "monthly_returns_chart",
    "pnl_chart",
]

_ONE = Decimal(1)
_ZERO = Decimal(0)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _figure(title: str, y_title: str, empty: bool) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        title=title,
        yaxis_title=y_title,
        template="plotly_white",
        height=360,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    if empty:
        figure.add_annotation(text="no data yet", showarrow=False, font={"size": 16})
        # No axes either: plotly's default empty ones read 1.5-3.5 and, on a percentage
        # axis, 50%-250% (seen on the first demo's drawdown chart).
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
    return figure


_DAY_MS = 86_400_000


def _pad_single_instant(figure: go.Figure, xs: Sequence[dt.date]) -> go.Figure:
    """A time axis whose points all fall on one day (or one instant) is widened to a day either
    side: plotly would zoom into fractions of a millisecond around the lone point and label the
    axis with clock times (a first report, after one day of trading)."""
    distinct = set(xs)
    if len(distinct) != 1:
        return figure
    (only,) = distinct
    if isinstance(only, dt.datetime):
        pad = dt.timedelta(hours=12)
        figure.update_xaxes(range=[only - pad, only + pad])
    else:
        pad = dt.timedelta(days=1)
        figure.update_xaxes(range=[only - pad, only + pad], dtick=_DAY_MS, tickformat="%b %d, %Y")
    return figure


def _pad_flat_level(
    figure: go.Figure, ys: Sequence[float], floor: float, *, with_zero: bool = False
) -> go.Figure:
    """A value axis whose points all stand at one level (one day, or a flat curve) gets a 1%
    band, at least ``floor``, either side (``with_zero``: reaching 0 too, for a curve filled to
    it): plotly would span the level +-1, cents around an equity of 100,000 or +-100% around a
    drawdown of 0. Values that are not finite are left out."""
    levels = {y for y in ys if math.isfinite(y)}
    if len(levels) == 1:
        (level,) = levels
        pad = max(abs(level) / 100, floor)
        low, high = (min(level, 0.0), max(level, 0.0)) if with_zero else (level, level)
        figure.update_yaxes(range=[low - pad, high + pad])
    return figure


def equity_chart(ledgers: Sequence[StoredLedger]) -> go.Figure:
    """Equity at the end of each New York day."""
    figure = _figure("Equity", "USD", not any(ledger.equity for ledger in ledgers))
    for ledger in ledgers:
        figure.add_scatter(
            x=[p.day for p in ledger.equity],
            y=[float(p.equity) for p in ledger.equity],
            mode="lines+markers",
            name=ledger.account,
        )
    _pad_flat_level(figure, [float(p.equity) for ledger in ledgers for p in ledger.equity], 1.0)
    return _pad_single_instant(figure, [p.day for ledger in ledgers for p in ledger.equity])


def drawdowns(ledger: StoredLedger) -> list[tuple[dt.date, Decimal]]:
    """The underwater curve: growth of the time-weighted return below its running peak."""
    peak = _ONE
    out = []
    for point in ledger.returns:
        wealth = _ONE + point.cumulative_return
        peak = max(peak, wealth)
        out.append((point.day, wealth / peak - _ONE))
    return out


def drawdown_chart(ledgers: Sequence[StoredLedger]) -> go.Figure:
    """Underwater: how far below its peak the time-weighted growth is (flows excluded)."""
    figure = _figure(
        "Underwater (drawdown)", "drawdown", not any(ledger.returns for ledger in ledgers)
    )
    for ledger in ledgers:
        curve = drawdowns(ledger)
        figure.add_scatter(
            x=[day for day, _ in curve],
            y=[float(value) for _, value in curve],
            fill="tozeroy",
            mode="lines",
            name=ledger.account,
        )
    figure.update_yaxes(tickformat=".1%")
    levels = [float(value) for ledger in ledgers for _, value in drawdowns(ledger)]
    _pad_flat_level(figure, levels, 0.01, with_zero=True)
    return _pad_single_instant(figure, [p.day for ledger in ledgers for p in ledger.returns])


def monthly_returns(ledger: StoredLedger) -> dict[tuple[int, int], Decimal]:
    """Time-weighted return per (year, month), compounded from the daily returns."""
    growth: dict[tuple[int, int], Decimal] = {}
    for point in ledger.returns:
        key = (point.day.year, point.day.month)
        growth[key] = growth.get(key, _ONE) * (_ONE + point.daily_return)
    return {key: value - _ONE for key, value in growth.items()}


def monthly_returns_chart(ledgers: Sequence[StoredLedger]) -> go.Figure:
    """A heatmap of monthly returns (years down, months across), one per account."""
    figure = _figure("Monthly returns", "year", not any(ledger.returns for ledger in ledgers))
    for ledger in ledgers:
        months = monthly_returns(ledger)
        years = sorted({year for year, _ in months})
        z = [[_float(months.get((year, m))) for m in range(1, 13)] for year in years]
        figure.add_heatmap(
            x=_MONTHS,
            y=[str(year) for year in years],
            z=z,
            colorscale="RdYlGn",
            zmid=0,
            texttemplate="%{z:.2%}",
            name=ledger.account,
            hovertemplate=ledger.account + " %{y} %{x}: %{z:.2%}<extra></extra>",
        )
    return figure


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def pnl_chart(ledgers: Sequence[StoredLedger], by: str) -> go.Figure:
    """Realized net P&L and income per ``symbol`` or ``sleeve`` (strategy), all accounts."""
    totals: dict[str, Decimal] = {}
    for ledger in ledgers:
        for name, summary in ledger.summary(by).items():
            totals[name or "(account)"] = (
                totals.get(name or "(account)", _ZERO) + summary.realized_net + summary.income
            )
    label = "symbol" if by == "symbol" else "strategy"
    figure = _figure(f"Realized P&L by {label}", "USD", not totals)
    names = sorted(totals)
    figure.add_bar(
        x=names,
        y=[float(totals[name]) for name in names],
        marker_color=["#2a9d8f" if totals[n] >= 0 else "#e76f51" for n in names],
        name="realized net + income",
    )
    return figure


def fees_chart(ledgers: Sequence[StoredLedger]) -> go.Figure:
    """Fees paid per New York day: every fill's fee and the fees no execution carried."""
    by_day: dict[dt.date, Decimal] = {}
    for ledger in ledgers:
        for fill in ledger.fills:
            if fill.fee:
                day = day_of(fill.timestamp)
                by_day[day] = by_day.get(day, _ZERO) + fill.fee
        for item in ledger.income:
            if item.kind == "fee":
                day = day_of(item.at)
                by_day[day] = by_day.get(day, _ZERO) - item.amount
    figure = _figure("Fees over time", "USD", not by_day)
    days = sorted(by_day)
    figure.add_bar(x=days, y=[float(by_day[d]) for d in days], name="fees")
    return _pad_single_instant(figure, days)


def exposure_chart(ledgers: Sequence[StoredLedger]) -> go.Figure:
    """Gross, net, long and short exposure as measured after each account sync."""
    figure = _figure("Exposure over time", "USD", not any(ledger.exposure for ledger in ledgers))
    for ledger in ledgers:
        times = [row.at for row in ledger.exposure]
        for field in ("gross", "net", "long", "short"):
            figure.add_scatter(
                x=times,
                y=[float(getattr(row, field)) for row in ledger.exposure],
                mode="lines",
                name=f"{ledger.account} {field}",
            )
    return _pad_single_instant(figure, [row.at for ledger in ledgers for row in ledger.exposure])
