"""Everything the CLI and the report show of an account's ledger, read from the store in one go.

``load_stored_ledger(store, account)`` reads the ledger's tables (kept up to date by
``ledger.updater``) and what the figures need besides them: the latest position prices
(unrealized P&L), the account snapshots and Alpaca's stored portfolio history (equity per day:
a snapshot's day wins, the history fills the days without one), cash-flow activities, the fills (fees
and turnover, the trade export), exposure snapshots and the quality / reconciliation results.
``StoredLedger`` holds them as the ledger's own types; its methods are pure.

Imports the pure ledger and ``models``; the store is passed in.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from alpaca_integration.ledger.records import Income, Lot, LotValuation, Match, PnlSummary
from alpaca_integration.ledger.returns import (
    CashFlow,
    EquityPoint,
    Performance,
    cash_flows,
    daily_equity,
    performance,
    traded_notional,
)
from alpaca_integration.ledger.rows import income_from_row, lot_from_row, match_from_row
from alpaca_integration.ledger.views import summarize, value_lot
from alpaca_integration.models import Fill

if TYPE_CHECKING:
    from alpaca_integration.storage import Store

__all__ = ["DailyPnl", "ReturnPoint", "StoredLedger", "load_stored_ledger"]

_ZERO = Decimal(0)
_FLOW_TYPES = ("CSD", "CSW", "JNLC", "JNLS", "ACATC", "ACATS")


class DailyPnl(msgspec.Struct, frozen=True, kw_only=True):
    """Realized P&L and income of one New York day, sleeve and symbol ("" for the account)."""

    day: dt.date
    sleeve: str
    symbol: str
    realized_gross: Decimal
    fees: Decimal
    realized_net: Decimal
    income: Decimal
    matches: int


class ReturnPoint(msgspec.Struct, frozen=True, kw_only=True):
    day: dt.date
    equity: Decimal
    flow: Decimal
    daily_return: Decimal
    cumulative_return: Decimal


class StoredLedger(msgspec.Struct, frozen=True, kw_only=True):
    account: str
    matches: list[Match]
    lots: list[Lot]
    income: list[Income]
    daily: list[DailyPnl]
    returns: list[ReturnPoint]
    equity: list[EquityPoint]
    flows: list[CashFlow]
    prices: dict[str, Decimal]
    fills: list[Fill]
    exposure: list[Any]  # storage.ExposureRecord rows: at, gross, net, long, short
    quality: list[Any]  # storage.QualityResultRecord rows: rule, subject, severity, created_at
    reconciliations: list[Any]  # storage.ReconciliationRunRecord rows, newest first

    def valuations(self) -> list[LotValuation]:
        """Each open lot at its symbol's latest position price (None when not held there)."""
        return [value_lot(lot, self.prices.get(lot.symbol)) for lot in self.lots]

    def summary(self, by: str) -> dict[str, PnlSummary]:
        """Realized P&L and income by ``symbol`` or ``sleeve``."""
        return summarize(self.matches, self.income, by)

    def fees_paid(self) -> Decimal:
        """Every fee on the stored fills plus fees that found no execution."""
        fills = sum((fill.fee for fill in self.fills), _ZERO)
        return fills - sum((i.amount for i in self.income if i.kind == "fee"), _ZERO)

    def performance(self) -> Performance:
        return performance(
            self.equity,
            self.flows,
            self.matches,
            notional=traded_notional(self.fills),
            fees_paid=self.fees_paid(),
        )


async def load_stored_ledger(
    store: Store, account: str, *, since: dt.datetime | None = None
) -> StoredLedger:
    """The account's stored ledger (matches and fills from ``since`` on, when given)."""
    positions = await store.positions(account)
    activities = await store.list_activities(account, activity_types=_FLOW_TYPES)
    return StoredLedger(
        account=account,
        matches=[
            match_from_row(account, r) for r in await store.ledger_matches(account, since=since)
        ],
        lots=[lot_from_row(account, r) for r in await store.ledger_lots(account)],
        income=[income_from_row(account, r) for r in await store.ledger_income(account)],
        daily=[msgspec.convert(r, DailyPnl) for r in await store.ledger_daily_pnl(account)],
        returns=[msgspec.convert(r, ReturnPoint) for r in await store.ledger_returns(account)],
        equity=daily_equity(
            await store.list_snapshots(account), await store.portfolio_history(account)
        ),
        flows=cash_flows(activities),
        prices={p.symbol: p.current_price for p in positions if p.current_price is not None},
        fills=await store.list_fills(account, since=since),
        exposure=await store.list_exposure_snapshots(account),
        quality=await store.list_quality_results(account),
        reconciliations=await store.list_reconciliation_runs(account, limit=20),
    )
