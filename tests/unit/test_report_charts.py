"""The report's time charts stay readable with a single point: a first report, after one day of
trading, has one equity point, and plotly alone would zoom the axis into fractions of a
millisecond around it (seen on the demo's report)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from alpaca_integration.ledger.returns import EquityPoint
from alpaca_integration.ledger.stored import ReturnPoint, StoredLedger
from alpaca_integration.report import charts

DAY = dt.date(2026, 12, 4)


def _ledger(days: list[dt.date]) -> StoredLedger:
    return StoredLedger(
        account="default",
        matches=[],
        lots=[],
        income=[],
        daily=[],
        returns=[
            ReturnPoint(
                day=day,
                equity=Decimal(100_000),
                flow=Decimal(0),
                daily_return=Decimal(0),
                cumulative_return=Decimal(0),
            )
            for day in days
        ],
        equity=[EquityPoint(day, Decimal(100_000)) for day in days],
        flows=[],
        prices={},
        fills=[],
        exposure=[],
        quality=[],
        reconciliations=[],
    )


def _span(range_: tuple[object, object]) -> dt.timedelta:
    low, high = (dt.date.fromisoformat(str(x)[:10]) for x in range_)
    return high - low


def test_one_day_of_equity_is_shown_on_an_axis_of_days_not_milliseconds() -> None:
    for chart in (charts.equity_chart, charts.drawdown_chart):
        figure = chart([_ledger([DAY])])
        axis = figure.layout.xaxis
        assert axis.range is not None, chart.__name__
        assert _span(axis.range) == dt.timedelta(days=2), chart.__name__
        assert axis.tickformat == "%b %d, %Y"


def test_several_days_keep_plotlys_own_range() -> None:
    figure = charts.equity_chart([_ledger([DAY, DAY + dt.timedelta(days=1)])])
    assert figure.layout.xaxis.range is None


def test_a_flat_curve_gets_a_readable_value_axis() -> None:
    """One equity level (one day, or days without a change) is shown in a 1% band, not the
    +-1 dollar plotly would span around 100,000; a drawdown of 0 in +-1%, not +-100%."""
    for days in ([DAY], [DAY, DAY + dt.timedelta(days=1)]):
        equity = charts.equity_chart([_ledger(days)]).layout.yaxis.range
        assert tuple(equity) == (99_000, 101_000), days
        drawdown = charts.drawdown_chart([_ledger(days)]).layout.yaxis.range
        assert tuple(drawdown) == (-0.01, 0.01), days


def test_a_curve_that_moves_keeps_plotlys_own_value_axis() -> None:
    ledger = _ledger([DAY, DAY + dt.timedelta(days=1)])
    ledger.equity[1] = EquityPoint(DAY + dt.timedelta(days=1), Decimal(101_000))
    assert charts.equity_chart([ledger]).layout.yaxis.range is None


def test_a_chart_with_no_data_shows_no_axes() -> None:
    """No returns yet (a first day): the drawdown chart says so, without plotly's empty axes
    (1.5-3.5 and 50%-250%) around the words."""
    figure = charts.drawdown_chart([_ledger([])])
    assert [a.text for a in figure.layout.annotations] == ["no data yet"]
    assert (figure.layout.xaxis.visible, figure.layout.yaxis.visible) == (False, False)
    shown = charts.drawdown_chart([_ledger([DAY])])
    assert (shown.layout.xaxis.visible, shown.layout.yaxis.visible) == (None, None)


def test_a_flat_drawdown_below_zero_keeps_zero_in_view() -> None:
    """A first day already under its peak: the band reaches 0, which the curve is filled to."""
    ledger = _ledger([DAY])
    ledger.returns[0] = msgspec.structs.replace(
        ledger.returns[0], cumulative_return=Decimal("-0.02")
    )
    low, high = charts.drawdown_chart([ledger]).layout.yaxis.range
    assert (low < -0.02, high > 0) == (True, True)
