"""Alpaca's portfolio history in the store (PostgreSQL and SQLite): stored exactly, fetched again
without duplicates, read back oldest first."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from alpaca_integration.models import PortfolioHistory
from alpaca_integration.storage import Store

DAY = dt.datetime(2026, 5, 1, 4, 0, tzinfo=dt.UTC)


def _history(*equity: str | None, start: int = 0) -> PortfolioHistory:
    points = range(start, start + len(equity))
    return PortfolioHistory(
        timestamps=tuple(DAY + dt.timedelta(days=i) for i in points),
        equity=tuple(None if e is None else Decimal(e) for e in equity),
        profit_loss=tuple(Decimal("0.5") * i for i in points),
        profit_loss_pct=tuple(Decimal("0.0001") * i for i in points),
        base_value=Decimal("100000"),
        timeframe="1D",
    )


async def test_a_fetched_history_is_stored_exactly_and_refetching_replaces_it(
    store: Store,
) -> None:
    """Three days stored; a later fetch overlapping the last two adds one day and replaces
    the overlap (its equity as Alpaca now reports it): four points, no duplicate."""
    assert await store.portfolio_history("main") is None
    assert await store.save_portfolio_history("main", _history("100000", None, "100123.45")) == 3
    await store.save_portfolio_history("main", _history(None, "100200.01", "99999.99", start=1))
    stored = await store.portfolio_history("main")
    assert stored is not None
    assert stored.timestamps == tuple(DAY + dt.timedelta(days=i) for i in range(4))
    assert stored.equity == (
        Decimal("100000"),
        None,
        Decimal("100200.01"),
        Decimal("99999.99"),
    )
    assert stored.profit_loss[3] == Decimal("1.5")
    assert stored.base_value == Decimal("100000")
    assert await store.portfolio_history("other") is None
