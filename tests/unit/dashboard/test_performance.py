"""The default performance source (``SnapshotPerformance``): P&L and charts from the stored
account snapshots, exactly, until the ledger provides its own."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from alpaca_integration.dashboard import SnapshotPerformance
from alpaca_integration.dashboard.formatting import money, number, percent
from alpaca_integration.dashboard.performance import line_chart
from alpaca_integration.storage import Store
from support.storage_builders import at, make_snapshot

ACCOUNT = "default"


async def _snapshots(store: Store, equities: list[str], last_equity: str = "100000") -> None:
    for n, equity in enumerate(equities):
        await store.apply(
            ACCOUNT,
            snapshot=make_snapshot(
                equity=Decimal(equity), last_equity=Decimal(last_equity), observed_at=at(60 * n)
            ),
        )


async def test_day_and_total_pnl_come_from_the_snapshots(sqlite_store: Store) -> None:
    """Day P&L is equity minus the last close's equity; total P&L is equity minus the first
    stored snapshot's, said so beside it."""
    await _snapshots(sqlite_store, ["100500.25", "101000", "99750.10"], last_equity="100200.05")
    pnl = await SnapshotPerformance(sqlite_store).pnl(ACCOUNT)
    assert pnl.day == Decimal("-449.95")
    assert pnl.total == Decimal("-750.15")
    assert "first stored snapshot" in pnl.total_basis
    assert await SnapshotPerformance(sqlite_store).position_ledger(ACCOUNT) is None


async def test_the_report_charts_equity_and_its_drawdown(sqlite_store: Store) -> None:
    """The equity curve has every snapshot in time order; the drawdown is measured from the
    running peak; the statistics say where the figures come from."""
    await _snapshots(sqlite_store, ["100000", "110000", "99000", "105000"])
    report = await SnapshotPerformance(sqlite_store).report(ACCOUNT)
    equity, drawdown = report.charts
    assert equity.figure["data"][0]["y"] == [100000.0, 110000.0, 99000.0, 105000.0]
    assert drawdown.figure["data"][0]["y"] == [0.0, 0.0, -0.1, float(Decimal(-5000) / 110000)]
    statistics = dict(report.statistics)
    assert statistics["max drawdown"] == "-10.00%"
    assert statistics["change"] == "+5,000.00"
    assert "account snapshots" in report.source


async def test_an_account_without_snapshots_shows_no_figures(sqlite_store: Store) -> None:
    """No snapshot yet: no P&L, no chart, and the page says why."""
    provider = SnapshotPerformance(sqlite_store)
    assert (await provider.pnl(ACCOUNT)).total is None
    report = await provider.report(ACCOUNT)
    assert report.charts == []
    assert "no account snapshot" in report.source


def test_amounts_are_shown_as_a_desk_reads_them() -> None:
    """Money to the cent with separators; quantities and prices with their exact digits."""
    assert money(Decimal("12345.675")) == "12,345.68"
    assert money(Decimal("5"), signed=True) == "+5.00"
    assert money(None) == "\u2013"
    assert number(Decimal("10.500")) == "10.5"
    assert number(Decimal("1500")) == "1,500"
    assert number(Decimal("0.000000001")) == "0.000000001"
    assert percent(Decimal("0.0123")) == "1.23%"


def test_a_chart_of_one_point_spans_days_not_milliseconds() -> None:
    """One snapshot (a first day): the time axis spans a day either side of it, not the
    fractions of a millisecond plotly would zoom into."""
    when = dt.datetime(2026, 12, 4, 21, tzinfo=dt.UTC)
    layout = line_chart([("equity", [when], [Decimal(100_000)])], y_title="equity")["layout"]
    low, high = (dt.datetime.fromisoformat(x) for x in layout["xaxis"]["range"])
    assert (low, high) == (when - dt.timedelta(days=1), when + dt.timedelta(days=1))
    two = line_chart(
        [("equity", [when, when + dt.timedelta(days=1)], [Decimal(1), Decimal(2)])],
        y_title="equity",
    )
    assert "range" not in two["layout"]["xaxis"]  # plotly's own range for two or more
    assert "range" not in two["layout"]["yaxis"]  # a curve that moves: plotly's own range


def test_a_flat_curve_gets_a_readable_value_axis() -> None:
    """One level (a first day, or no change since): a 1% band either side, not the +-1 plotly
    would span (cents around an equity of 100,000, +-100% around a drawdown of 0)."""
    when = dt.datetime(2026, 12, 4, 21, tzinfo=dt.UTC)
    times = [when, when + dt.timedelta(days=1)]
    equity = line_chart([("equity", times, [Decimal(100_000)] * 2)], y_title="equity")
    assert equity["layout"]["yaxis"]["range"] == [99_000, 101_000]
    assert equity["layout"]["yaxis"]["tickformat"] == ",.2f"  # the rest of the axis kept
    drawdown = line_chart(
        [("drawdown", times, [Decimal(0)] * 2)], y_title="drawdown", tickformat=".2%"
    )
    assert drawdown["layout"]["yaxis"]["range"] == [-0.01, 0.01]
