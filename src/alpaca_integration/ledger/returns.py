"""Returns and performance statistics of an account: equity per day, external cash flows,
time-weighted and money-weighted returns, and the usual ratios (computed by empyrical).

* Equity per day (New York date): the last account snapshot of the day, else Alpaca's portfolio
  history point for the day (snapshots are this integration's own observations; history fills the
  days it did not observe).
* External cash flows: money the owner put in or took out, from activities: ``CSD`` (+), ``CSW``
  (-), ``JNLC`` / ``ACATC`` (signed as Alpaca reports ``net_amount``), ``JNLS`` / ``ACATS``
  (their ``net_amount``, else ``qty * price``: shares moved in or out at their value). Canceled
  activities move nothing.
* Daily time-weighted return: flows count at the start of their day (the money could trade that
  day): ``r_t = E_t / (E_{t-1} + F_t) - 1``. The first day is the base.
* Money-weighted return: the daily rate ``r`` with ``-E_0 - sum(F_t (1+r)^-t) + E_T (1+r)^-T = 0``
  (t in calendar days), reported for the period and annualized over 365 days.
* Statistics: empyrical (daily periods, 252 a year) on the daily TWR series; max drawdown
  duration is counted here (calendar days from the peak to the recovery, or to the last day).

Exact ``Decimal`` up to the daily returns; floats inside the statistics. Imports ``models`` and the
pure ``ledger`` modules; empyrical (and with it pandas) only when statistics are computed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from alpaca_integration.ledger.events import NEW_YORK
from alpaca_integration.ledger.records import Match
from alpaca_integration.ledger.symbols import contract_multiplier
from alpaca_integration.models import AccountSnapshot, Activity, Fill, PortfolioHistory

__all__ = [
    "CashFlow",
    "DailyReturn",
    "EquityPoint",
    "MoneyWeighted",
    "Performance",
    "cash_flows",
    "daily_equity",
    "daily_returns",
    "max_drawdown_days",
    "money_weighted_return",
    "performance",
    "time_weighted_return",
    "traded_notional",
]

_ZERO = Decimal(0)
_ONE = Decimal(1)


class EquityPoint(msgspec.Struct, frozen=True):
    day: dt.date
    equity: Decimal


class CashFlow(msgspec.Struct, frozen=True, kw_only=True):
    """Money in (positive) or out (negative) of the account from outside it."""

    day: dt.date
    amount: Decimal
    activity_id: str
    activity_type: str


class DailyReturn(msgspec.Struct, frozen=True, kw_only=True):
    day: dt.date
    equity: Decimal
    flow: Decimal
    value: Decimal  # the day's time-weighted return


class MoneyWeighted(msgspec.Struct, frozen=True, kw_only=True):
    period: float
    annualized: float
    days: int


class Performance(msgspec.Struct, frozen=True, kw_only=True):
    """The figures of a performance page. None where undefined (no losses, one day, ...)."""

    start: dt.date | None
    end: dt.date | None
    days: int
    time_weighted_return: float | None
    money_weighted_return: float | None
    money_weighted_annualized: float | None
    cumulative_return: float | None
    annual_return: float | None
    annual_volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float | None
    max_drawdown_days: int
    calmar: float | None
    win_rate: float | None
    profit_factor: float | None
    turnover: float | None
    fees_paid: Decimal


def _day(at: dt.datetime) -> dt.date:
    return at.astimezone(NEW_YORK).date()


def daily_equity(
    snapshots: Iterable[AccountSnapshot] = (), history: PortfolioHistory | None = None
) -> list[EquityPoint]:
    """Equity at the end of each day, by New York date, oldest first."""
    days: dict[dt.date, Decimal] = {}
    if history is not None:
        for at, equity in zip(history.timestamps, history.equity, strict=False):
            if equity is not None:
                days[_day(at)] = equity
    latest: dict[dt.date, tuple[dt.datetime, Decimal]] = {}
    for snapshot in snapshots:
        day = _day(snapshot.observed_at)
        if day not in latest or snapshot.observed_at >= latest[day][0]:
            latest[day] = (snapshot.observed_at, snapshot.equity)
    days.update({day: equity for day, (_, equity) in latest.items()})
    return [EquityPoint(day, days[day]) for day in sorted(days)]


def cash_flows(activities: Iterable[Activity]) -> list[CashFlow]:
    """External cash flows, oldest first (see the module docstring for the signs)."""
    out = []
    for activity in activities:
        kind = activity.activity_type.upper()
        if (activity.status or "").lower() == "canceled" or kind not in _FLOW_TYPES:
            continue
        amount = activity.net_amount or _ZERO
        if kind == "CSD":
            amount = abs(amount)
        elif kind == "CSW":
            amount = -abs(amount)
        elif not amount and activity.qty and activity.price:
            amount = activity.qty * activity.price
        if not amount:
            continue
        at = activity.transaction_time
        day = _day(at) if at is not None else activity.date
        if day is None:
            continue
        out.append(CashFlow(day=day, amount=amount, activity_id=activity.id, activity_type=kind))
    return sorted(out, key=lambda flow: (flow.day, flow.activity_id))


_FLOW_TYPES = frozenset({"CSD", "CSW", "JNLC", "JNLS", "ACATC", "ACATS"})


def _flows_by_day(flows: Iterable[CashFlow]) -> dict[dt.date, Decimal]:
    by_day: dict[dt.date, Decimal] = {}
    for flow in flows:
        by_day[flow.day] = by_day.get(flow.day, _ZERO) + flow.amount
    return by_day


def daily_returns(equity: Sequence[EquityPoint], flows: Iterable[CashFlow]) -> list[DailyReturn]:
    """The daily time-weighted returns from the second equity point on. A flow between two
    points counts on the later one's day; a day whose capital (prior equity + flow) is not
    positive has no defined return and is left out."""
    by_day = _flows_by_day(flows)
    out = []
    for before, point in itertools.pairwise(equity):
        flow = sum((a for d, a in by_day.items() if before.day < d <= point.day), _ZERO)
        capital = before.equity + flow
        if capital <= 0:
            continue
        out.append(
            DailyReturn(
                day=point.day, equity=point.equity, flow=flow, value=point.equity / capital - _ONE
            )
        )
    return out


def time_weighted_return(returns: Iterable[DailyReturn]) -> Decimal:
    """The chained daily returns: ``prod(1 + r_t) - 1``."""
    growth = _ONE
    for day in returns:
        growth *= _ONE + day.value
    return growth - _ONE


def money_weighted_return(
    equity: Sequence[EquityPoint], flows: Iterable[CashFlow]
) -> MoneyWeighted | None:
    """The internal rate of return of start equity, flows and end equity (see the docstring)."""
    if len(equity) < 2:
        return None
    start, end = equity[0], equity[-1]
    amounts = [(0, -float(start.equity))]
    amounts += [
        (((day - start.day).days), -float(amount))
        for day, amount in _flows_by_day(flows).items()
        if start.day < day <= end.day
    ]
    horizon = (end.day - start.day).days
    amounts.append((horizon, float(end.equity)))

    def present_value(rate: float) -> float:
        return sum(amount / (1.0 + rate) ** days for days, amount in amounts)

    low, high = -0.99, 1.0
    if present_value(low) * present_value(high) > 0:
        return None
    for _ in range(200):
        middle = (low + high) / 2
        if present_value(low) * present_value(middle) <= 0:
            high = middle
        else:
            low = middle
    rate = (low + high) / 2
    return MoneyWeighted(
        period=(1.0 + rate) ** horizon - 1.0, annualized=(1.0 + rate) ** 365 - 1.0, days=horizon
    )


def max_drawdown_days(returns: Sequence[DailyReturn], start: dt.date) -> int:
    """Calendar days of the deepest drawdown of the wealth curve that starts at 1 on ``start``:
    from its peak to the first day back at the peak, or to the last day if it never recovered."""
    wealth = _ONE
    points = [(start, wealth)]
    for daily in returns:
        wealth *= _ONE + daily.value
        points.append((daily.day, wealth))
    peak_day, peak = points[0]
    deepest = _ZERO
    worst: tuple[dt.date, Decimal] | None = None
    for day, value in points:
        if value >= peak:
            peak_day, peak = day, value
        elif (peak - value) / peak > deepest:
            deepest, worst = (peak - value) / peak, (peak_day, peak)
    if worst is None:
        return 0
    worst_day, worst_peak = worst
    recovered = next(
        (day for day, value in points if day > worst_day and value >= worst_peak), None
    )
    return ((recovered or points[-1][0]) - worst_day).days


def traded_notional(fills: Iterable[Fill]) -> Decimal:
    """Value traded: the sum of ``qty * price * multiplier`` over fills (for turnover)."""
    return sum((f.qty * f.price * contract_multiplier(f.symbol) for f in fills), _ZERO)


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def performance(
    equity: Sequence[EquityPoint],
    flows: Sequence[CashFlow] = (),
    matches: Iterable[Match] = (),
    *,
    notional: Decimal = _ZERO,
    fees_paid: Decimal = _ZERO,
) -> Performance:
    """Every figure of the performance page from the daily equity, flows and closed matches."""
    returns = daily_returns(equity, flows)
    mwr = money_weighted_return(equity, flows)
    wins = losses = 0
    gains = pains = _ZERO
    for match in matches:
        net = match.net
        if net > 0:
            wins, gains = wins + 1, gains + net
        elif net < 0:
            losses, pains = losses + 1, pains - net
    average_equity = sum((p.equity for p in equity), _ZERO) / len(equity) if equity else _ZERO
    stats = _empyrical([r.value for r in returns], [r.day for r in returns])
    return Performance(
        start=equity[0].day if equity else None,
        end=equity[-1].day if equity else None,
        days=len(returns),
        time_weighted_return=float(time_weighted_return(returns)) if returns else None,
        money_weighted_return=None if mwr is None else mwr.period,
        money_weighted_annualized=None if mwr is None else mwr.annualized,
        max_drawdown_days=max_drawdown_days(returns, equity[0].day) if equity else 0,
        win_rate=wins / (wins + losses) if wins + losses else None,
        profit_factor=float(gains / pains) if pains else None,
        turnover=float(notional / average_equity) if average_equity > 0 else None,
        fees_paid=fees_paid,
        **stats,
    )


def _empyrical(values: list[Decimal], days: list[dt.date]) -> dict[str, float | None]:
    names = (
        "cumulative_return",
        "annual_return",
        "annual_volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
    )
    if len(values) < 2:
        return dict.fromkeys(names)
    import empyrical  # type: ignore[import-untyped]
    import pandas as pd

    series = pd.Series([float(v) for v in values], index=pd.DatetimeIndex(days))
    figures = (
        empyrical.cum_returns_final(series),
        empyrical.annual_return(series),
        empyrical.annual_volatility(series),
        empyrical.sharpe_ratio(series),
        empyrical.sortino_ratio(series),
        empyrical.max_drawdown(series),
        empyrical.calmar_ratio(series),
    )
    return {name: _finite(figure) for name, figure in zip(names, figures, strict=True)}
