"""Returns: equity per day, external flows, TWR against MWR, and the performance figures."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from decimal import Decimal

import pytest
from ledger_builders import activity, fill

from alpaca_integration.ledger.records import Match
from alpaca_integration.ledger.returns import (
    CashFlow,
    EquityPoint,
    cash_flows,
    daily_equity,
    daily_returns,
    max_drawdown_days,
    money_weighted_return,
    performance,
    time_weighted_return,
    traded_notional,
)
from alpaca_integration.models import AccountSnapshot, PortfolioHistory
from support.storage_builders import make_snapshot

D = Decimal
MON = dt.date(2026, 3, 2)


def _day(offset: int) -> dt.date:
    return MON + dt.timedelta(days=offset)


# A losing week with a deposit in the middle: Monday 10000; Tuesday +5% (10500); Wednesday 10000
# deposited before the open, then -4% on 20500 (19680); Thursday -3% (19089.6); Friday +1%
# (19280.496). The gain came on the small capital, the losses on the doubled one.
WEEK = [
    EquityPoint(_day(0), D(10000)),
    EquityPoint(_day(1), D(10500)),
    EquityPoint(_day(2), D(19680)),
    EquityPoint(_day(3), D("19089.6")),
    EquityPoint(_day(4), D("19280.496")),
]
DEPOSIT = [CashFlow(day=_day(2), amount=D(10000), activity_id="csd", activity_type="CSD")]


def _snapshot(observed_at: dt.datetime, equity: str) -> AccountSnapshot:
    return make_snapshot(equity=D(equity), observed_at=observed_at)


def test_equity_per_day_takes_the_last_snapshot_and_fills_gaps_from_history() -> None:
    """Equity per New York day: the day's last snapshot, else the portfolio-history point."""
    # New York days: the later snapshot of Monday wins (02:00 UTC Tuesday is still Monday in New
    # York); Tuesday, which no snapshot saw, comes from the portfolio history.
    monday = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    history = PortfolioHistory(
        timestamps=(monday, monday + dt.timedelta(days=1)),
        equity=(D(9000), D(9100)),
        profit_loss=(None, None),
        profit_loss_pct=(None, None),
        base_value=None,
        timeframe="1D",
    )
    snapshots = [
        _snapshot(monday, "10000"),
        _snapshot(dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC), "10050"),
    ]
    assert daily_equity(snapshots, history) == [
        EquityPoint(_day(0), D(10050)),
        EquityPoint(_day(1), D(9100)),
    ]


def test_external_flows_carry_their_sign() -> None:
    """External flows: deposits in, withdrawals out, journals as reported, stock at its value."""
    # Deposits in, withdrawals out (whatever sign the amount has), journals as reported, a stock
    # journal at its value; canceled and non-flow activities are not flows.
    flows = cash_flows(
        [
            activity("d", "CSD", day=_day(0), net_amount="500"),
            activity("w", "CSW", day=_day(1), net_amount="200"),
            activity("j", "JNLC", day=_day(1), net_amount="-75.50"),
            activity("s", "JNLS", day=_day(2), symbol="AAPL", qty=3, price=100, net_amount=0),
            activity("x", "CSD", day=_day(2), net_amount="999", status="canceled"),
            activity("i", "INT", day=_day(2), net_amount="1.00"),
        ]
    )
    assert [(f.activity_id, f.amount) for f in flows] == [
        ("d", D(500)),
        ("j", D("-75.50")),
        ("w", D(-200)),
        ("s", D(300)),
    ]


def test_a_deposit_before_losses_makes_mwr_worse_than_twr() -> None:
    """A deposit just before the losses makes the MWR worse than the TWR, which removes it."""
    # TWR chains the days: 1.05 x 0.96 x 0.97 x 1.01 - 1 = -1.24624%, the deposit removed. MWR
    # weighs the money: -10000 - 10000 v^2 + 19280.496 v^4 = 0 with v = 1/(1+r); x = v^2 = (10000 +
    # sqrt(10000^2 + 4 x 19280.496 x 10000)) / (2 x 19280.496) = 1.0247774..., so the period return
    # is 1/x^2 - 1 = -4.7772%: the losses fell on twice the capital.
    returns = daily_returns(WEEK, DEPOSIT)
    assert [r.value for r in returns] == [D("0.05"), D("-0.04"), D("-0.03"), D("0.01")]
    assert time_weighted_return(returns) == D("-0.0124624")
    mwr = money_weighted_return(WEEK, DEPOSIT)
    assert mwr is not None
    x = (10000 + math.sqrt(10000**2 + 4 * 19280.496 * 10000)) / (2 * 19280.496)
    assert mwr.period == pytest.approx(1 / x**2 - 1, abs=1e-9)
    assert mwr.period == pytest.approx(-0.0477720694, abs=1e-9)
    assert mwr.days == 4
    # Without the deposit's timing the two would agree; here TWR is the better of the two.
    assert float(time_weighted_return(returns)) > mwr.period


def test_the_drawdown_and_its_duration() -> None:
    """The deepest drawdown and its duration in days from the peak, unrecovered to the end."""
    # Wealth 1, 1.05, 1.008, 0.97776, 0.9875376: the deepest drawdown is from Tuesday's peak to
    # Thursday, (1.05 - 0.97776) / 1.05 = 6.88%, not recovered by Friday: 3 days.
    returns = daily_returns(WEEK, DEPOSIT)
    assert max_drawdown_days(returns, MON) == 3
    figures = performance(WEEK, DEPOSIT)
    assert figures.max_drawdown == pytest.approx(-(1.05 - 0.97776) / 1.05, abs=1e-12)
    assert figures.max_drawdown_days == 3


def _match(net: str) -> Match:
    at = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    return Match(
        "a", "default", "AAPL", "o", "c", D(1), D(1), D(1), D(1), D(net), D(0), D(0), at, at
    )


def test_the_performance_page_figures() -> None:
    """The performance figures: TWR, Sharpe, win rate, profit factor, turnover, fees."""
    # Cumulative return is the TWR; Sharpe is mean / stdev x sqrt(252) of the daily returns; win
    # rate 2 of 3 closed matches; profit factor (100 + 30) / 50 = 2.6; turnover 30000 traded over an
    # average equity of 15710.0192; fees passed through.
    figures = performance(
        WEEK,
        DEPOSIT,
        [_match("100"), _match("-50"), _match("30")],
        notional=D(30000),
        fees_paid=D("4.20"),
    )
    daily = [0.05, -0.04, -0.03, 0.01]
    assert figures.cumulative_return == pytest.approx(-0.0124624, abs=1e-12)
    assert figures.time_weighted_return == pytest.approx(-0.0124624, abs=1e-12)
    assert figures.sharpe == pytest.approx(
        statistics.mean(daily) / statistics.stdev(daily) * math.sqrt(252), rel=1e-9
    )
    assert figures.win_rate == pytest.approx(2 / 3)
    assert figures.profit_factor == pytest.approx(2.6)
    assert figures.turnover == pytest.approx(30000 / 15710.0192)
    assert (figures.fees_paid, figures.days, figures.start, figures.end) == (
        D("4.20"),
        4,
        _day(0),
        _day(4),
    )


def test_one_day_of_equity_has_no_statistics() -> None:
    """With fewer than two returns the ratios are undefined (None), not an error."""
    figures = performance(WEEK[:1])
    assert (figures.sharpe, figures.time_weighted_return, figures.money_weighted_return) == (
        None,
        None,
        None,
    )


def test_traded_notional_counts_the_option_multiplier() -> None:
    """3 x 100 shares plus 2 contracts x 1.50 x 100: 600."""
    assert traded_notional(
        [
            fill("a", "buy", 3, 100),
            fill("b", "sell", 2, "1.50", symbol="AAPL260116C00150000"),
        ]
    ) == D(600)
