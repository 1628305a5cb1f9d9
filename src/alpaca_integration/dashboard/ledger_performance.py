"""The ledger's performance provider: realized P&L and open lots from the pure ``ledger`` over
the stored fills, returns and statistics from ``ledger.returns`` over the stored snapshots.

``LedgerPerformance(store)`` is the dashboard's default ``PerformanceProvider``:

* ``pnl(account)``: day and total P&L as ``SnapshotPerformance`` has them, plus the realized
  P&L (net of fees) of every closed match;
* ``position_ledger(account)``: per symbol, the open lots (FIFO) and the realized P&L;
* ``report(account)``: the snapshot charts (intraday equity, drawdown), the daily equity (New
  York days) and the cumulative time-weighted return, and the statistics of
  ``ledger.returns.performance`` (TWR, MWR, Sharpe, drawdown, win rate, fees ...).

It computes from the fills table, so it needs none of the ledger's own tables. One ``Ledger``
per account is kept between requests and brought up to date from a cheap stamp of the account's
fills (count, newest time, fee total): new fills are applied incrementally (the ledger ignores
the ones it has), and a fill that arrived out of time order, or a fee that changed, rebuilds it.

Imports the ``ledger`` package (pure) and ``dashboard``'s own modules; never the client, the
cache or the CLI. Nothing here writes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alpaca_integration.dashboard.formatting import NONE
from alpaca_integration.dashboard.performance import (
    Chart,
    PerformanceReport,
    PnL,
    PositionLedger,
    SnapshotPerformance,
    line_chart,
)
from alpaca_integration.dashboard.queries import reading
from alpaca_integration.ledger import Ledger, LedgerError, LedgerOrderError, returns
from alpaca_integration.models import DataSource, Fill, FillType, OrderSide
from alpaca_integration.storage.tables import fills

if TYPE_CHECKING:
    from alpaca_integration.storage import Store

__all__ = ["FLOW_ACTIVITY_TYPES", "LedgerPerformance"]

# The activity types ``ledger.returns.cash_flows`` counts as money in or out of the account.
FLOW_ACTIVITY_TYPES = ("CSD", "CSW", "JNLC", "JNLS", "ACATC", "ACATS")
_ZERO = Decimal(0)
_log = logging.getLogger(__name__)


@dataclass
class _Kept:
    """One account's ledger and the stamp of the fills it was built from."""

    ledger: Ledger
    stamp: tuple[Any, ...]
    fill_ids: set[str]
    newest: dt.datetime | None
    notional: Decimal  # value traded: sum of qty x price x multiplier (for the turnover)
    # Realized P&L (net) per symbol: summed at the build, then from each batch's new matches.
    realized: dict[str, Decimal]


def _realized_by_symbol(ledger: Ledger) -> dict[str, Decimal]:
    return {symbol: item.realized_net for symbol, item in ledger.summary("symbol").items()}


def _build(everything: list[Fill], account: str, stamp: tuple[Any, ...]) -> _Kept:
    """A ledger over ``everything`` and what is kept with it (in a worker thread: nothing else
    sees this ledger until it is returned)."""
    ledger = Ledger.rebuild(everything, account=account)
    return _Kept(
        ledger,
        stamp,
        {fill.fill_id for fill in everything},
        everything[-1].timestamp if everything else None,
        returns.traded_notional(everything),
        _realized_by_symbol(ledger),
    )


_LEDGER_COLUMNS = (
    fills.c.fill_id,
    fills.c.order_id,
    fills.c.client_order_id,
    fills.c.symbol,
    fills.c.side,
    fills.c.qty,
    fills.c.price,
    fills.c.fee,
    fills.c.timestamp,
    fills.c.fill_type,
    fills.c.source,
)


async def _ledger_fills(store: Store, account: str, since: dt.datetime | None = None) -> list[Fill]:
    """The account's fills with only what the ledger reads (no payloads: ``Store.list_fills``
    reads and decodes every column, several times slower on 100,000 fills), oldest first."""
    query = sa.select(*_LEDGER_COLUMNS).where(fills.c.account == account)
    if since is not None:
        query = query.where(fills.c.timestamp >= since)
    query = query.order_by(fills.c.timestamp, fills.c.fill_id)
    async with reading(store) as connection:
        rows = (await connection.execute(query)).all()
    return [
        Fill(
            fill_id=fill_id,
            execution_id=None,
            activity_id=None,
            order_id=order_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=OrderSide(side),
            qty=qty,
            price=price,
            fee=fee,
            timestamp=timestamp,
            fill_type=FillType(fill_type),
            source=DataSource(source),
        )
        for (
            fill_id,
            order_id,
            client_order_id,
            symbol,
            side,
            qty,
            price,
            fee,
            timestamp,
            fill_type,
            source,
        ) in rows
    ]


async def _fills_stamp(store: Store, account: str) -> tuple[Any, ...]:
    """How many fills the account has, the newest one's time and their fee total (a fee joined
    to a fill later changes the last)."""
    query = sa.select(
        sa.func.count(),
        sa.func.max(fills.c.timestamp),
        sa.func.coalesce(sa.func.sum(fills.c.fee), 0),
    ).where(fills.c.account == account)
    async with reading(store) as connection:
        row = (await connection.execute(query)).one()
    return (int(row[0]), row[1], Decimal(row[2]))


def _percent(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:+.2f}%"


def _ratio(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"


def _extended(kept: _Kept, newer: list[Fill], stamp: tuple[Any, ...]) -> bool:
    """Book the fills of ``newer`` (those from the newest booked one's time on) that are new;
    False when that does not account for every stored fill (one arrived out of time order),
    and the ledger must be rebuilt. Runs in the event loop, between the pages' reads of the
    ledger (a few fills: microseconds)."""
    fresh = [fill for fill in newer if fill.fill_id not in kept.fill_ids]
    if len(kept.fill_ids) + len(fresh) != stamp[0]:
        return False
    try:
        changes = kept.ledger.apply(fresh)
    except LedgerOrderError:
        return False
    if changes.updated_matches:  # a crypto fee moved older matches: sum them all again
        kept.realized = _realized_by_symbol(kept.ledger)
    else:
        for match in changes.matches:
            kept.realized[match.symbol] = kept.realized.get(match.symbol, _ZERO) + match.net
    kept.fill_ids.update(fill.fill_id for fill in fresh)
    kept.stamp = stamp
    kept.newest = newer[-1].timestamp if newer else kept.newest
    kept.notional += returns.traded_notional(fresh)
    return True


class LedgerPerformance:
    """P&L, lots and returns from the pure ledger over the stored fills and snapshots."""

    def __init__(self, store: Store, *, points: int = 2000) -> None:
        self.store = store
        self.snapshots = SnapshotPerformance(store, points=points)
        self._kept: dict[str, _Kept] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def ledger(self, account: str) -> Ledger:
        """The account's ledger over every stored fill (kept, and updated when they change)."""
        return (await self._current(account)).ledger

    async def _current(self, account: str) -> _Kept:
        lock = self._locks.setdefault(account, asyncio.Lock())
        async with lock:
            stamp = await _fills_stamp(self.store, account)
            kept = self._kept.get(account)
            if kept is not None and kept.stamp == stamp:
                return kept
            if kept is not None and stamp[2] == kept.stamp[2] and stamp[0] > kept.stamp[0]:
                newer = await _ledger_fills(self.store, account, since=kept.newest)
                if _extended(kept, newer, stamp):
                    return kept
            everything = await _ledger_fills(self.store, account)
            self._kept[account] = await asyncio.to_thread(_build, everything, account, stamp)
            return self._kept[account]

    @property
    def built(self) -> list[str]:
        """The accounts whose ledger is built and kept."""
        return sorted(self._kept)

    async def warm(self, accounts: Sequence[str]) -> None:
        """Build the accounts' ledgers now (the dashboard does it at start-up, so the first page
        that needs one does not wait for every fill to be read and booked)."""
        for account in accounts:
            await self._kept_or_none(account)

    async def _kept_or_none(self, account: str) -> _Kept | None:
        """The kept ledger, or None when the stored fills cannot be booked (the pages then show
        what the snapshots say, as without a ledger, and the log says why)."""
        try:
            return await self._current(account)
        except LedgerError as exc:
            _log.warning("dashboard: the ledger of %s cannot be built: %s", account, exc)
            return None

    async def pnl(self, account: str) -> PnL:
        base = await self.snapshots.pnl(account)
        kept = await self._kept_or_none(account)
        if kept is None:
            return base
        return PnL(
            day=base.day,
            total=base.total,
            total_basis=base.total_basis,
            realized=kept.ledger.totals().realized_net,
        )

    async def position_ledger(self, account: str) -> Mapping[str, PositionLedger] | None:
        kept = await self._kept_or_none(account)
        if kept is None:
            return None
        lots_by_symbol: dict[str, list[Any]] = {}
        for lot in kept.ledger.open_lots():
            lots_by_symbol.setdefault(lot.symbol, []).append(lot)
        realized = dict(kept.realized)
        return {
            symbol: PositionLedger(
                open_lots=len(lots_by_symbol.get(symbol, ())),
                realized_pl=realized.get(symbol, _ZERO),
                lots=tuple(lots_by_symbol.get(symbol, ())),
            )
            for symbol in sorted(set(lots_by_symbol) | set(realized))
        }

    async def report(self, account: str) -> PerformanceReport:
        base = await self.snapshots.report(account)
        kept = await self._kept_or_none(account)
        if not base.charts or kept is None:
            return base
        ledger, notional = kept.ledger, kept.notional
        totals, matches = ledger.totals(), ledger.matches()  # read together, in the loop
        snapshots = await self.store.list_snapshots(account)
        flows = returns.cash_flows(
            await self.store.list_activities(account, activity_types=FLOW_ACTIVITY_TYPES)
        )
        equity = returns.daily_equity(snapshots)
        daily = returns.daily_returns(equity, flows)
        figures = await asyncio.to_thread(
            returns.performance,
            equity,
            flows,
            matches,
            notional=notional,
            fees_paid=totals.fees_paid,
        )
        charts = [*base.charts, *_daily_charts(equity, daily)]
        statistics = [
            *base.statistics,
            ("days with a return", f"{figures.days:,}"),
            ("time-weighted return", _percent(figures.time_weighted_return)),
            ("money-weighted return", _percent(figures.money_weighted_return)),
            ("annual volatility", _percent(figures.annual_volatility)),
            ("Sharpe", _ratio(figures.sharpe)),
            ("Sortino", _ratio(figures.sortino)),
            ("max drawdown (daily)", _percent(figures.max_drawdown)),
            ("max drawdown days", f"{figures.max_drawdown_days:,}"),
            ("realized P&L (net)", f"{totals.realized_net:+,.2f}"),
            ("closed matches", f"{totals.matches:,}"),
            ("win rate", _percent(figures.win_rate).lstrip("+")),
            ("profit factor", _ratio(figures.profit_factor)),
            ("turnover", _ratio(figures.turnover)),
            ("fees paid", f"{figures.fees_paid:,.2f}"),
            ("open lots", f"{totals.open_lots:,}"),
        ]
        return PerformanceReport(
            charts=charts,
            statistics=statistics,
            source=(
                "the ledger (FIFO lots over the stored fills) and the stored account snapshots "
                "(daily equity by New York date, time-weighted returns)"
            ),
        )


def _daily_charts(equity: list[Any], daily: list[Any]) -> list[Chart]:
    """The daily equity and the cumulative time-weighted return (0 on the first day)."""
    if not equity:
        return []
    days = [dt.datetime.combine(point.day, dt.time(), dt.UTC) for point in equity]
    growth = Decimal(1)
    cumulative = [_ZERO]
    cumulative_days = [days[0]]
    for item in daily:
        growth *= 1 + item.value
        cumulative.append(growth - 1)
        cumulative_days.append(dt.datetime.combine(item.day, dt.time(), dt.UTC))
    return [
        Chart(
            "daily-equity",
            "Equity at each day's close (New York days)",
            line_chart(
                [("equity", days, [p.equity for p in equity])], y_title="equity", markers=True
            ),
        ),
        Chart(
            "twr",
            "Cumulative time-weighted return",
            line_chart(
                [("time-weighted return", cumulative_days, cumulative)],
                y_title="return",
                tickformat=".2%",
                markers=True,
            ),
        ),
    ]
