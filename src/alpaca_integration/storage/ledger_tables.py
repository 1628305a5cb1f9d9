"""The ledger's result tables (issue 12), on the store's one ``MetaData``.

``ledger_lots`` (the open lots of each (sleeve, symbol) book, rewritten per book), ``ledger_matches``
(one row per closed piece of a lot, keyed by its stable position ``seq`` in the account's match
sequence), ``ledger_income`` (dividends, interest, unattached fees), ``ledger_daily_pnl`` (realized
P&L and income per New York day, sleeve and symbol), ``ledger_returns`` (equity, external cash
flow and time-weighted return per day) and ``ledger_state`` (the updater's checkpoint); and
``portfolio_history`` (Alpaca's own equity series, fetched; not a ledger row, so a rebuild keeps it).

Money and quantities are ``Amount`` (exact); instants ``UTCDateTime``. Created by migrations
``0002_ledger`` and ``0003_portfolio_history``. Imports only ``storage.dialect`` and ``storage.tables``.
"""

from __future__ import annotations

import sqlalchemy as sa

from alpaca_integration.storage.dialect import Amount, UTCDateTime
from alpaca_integration.storage.tables import metadata

__all__ = [
    "LEDGER_TABLES",
    "ledger_daily_pnl",
    "ledger_income",
    "ledger_lots",
    "ledger_matches",
    "ledger_returns",
    "ledger_state",
    "portfolio_history",
]

ledger_lots = sa.Table(
    "ledger_lots",
    metadata,
    sa.Column("account", sa.String, primary_key=True),
    sa.Column("sleeve", sa.String, primary_key=True),
    sa.Column("symbol", sa.String, primary_key=True),
    # The lot's place in its book (matching order of the book's method is applied on read).
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("open_fill_id", sa.String, nullable=False),
    sa.Column("qty", Amount, nullable=False),
    sa.Column("cost", Amount, nullable=False),
    sa.Column("fee", Amount, nullable=False),
    sa.Column("multiplier", Amount, nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=False),
)

ledger_matches = sa.Table(
    "ledger_matches",
    metadata,
    sa.Column("account", sa.String, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("sleeve", sa.String, nullable=False),
    sa.Column("symbol", sa.String, nullable=False),
    sa.Column("open_fill_id", sa.String, nullable=False),
    sa.Column("close_fill_id", sa.String, nullable=False),
    sa.Column("qty", Amount, nullable=False),
    sa.Column("open_price", Amount, nullable=False),
    sa.Column("close_price", Amount, nullable=False),
    sa.Column("multiplier", Amount, nullable=False),
    sa.Column("gross", Amount, nullable=False),
    sa.Column("open_fee", Amount, nullable=False),
    sa.Column("close_fee", Amount, nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("closed_at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Index(None, "account", "closed_at"),
    sa.Index(None, "account", "symbol"),
)

ledger_income = sa.Table(
    "ledger_income",
    metadata,
    sa.Column("account", sa.String, primary_key=True),
    sa.Column("activity_id", sa.String, primary_key=True),
    sa.Column("sleeve", sa.String, primary_key=True),
    sa.Column("symbol", sa.String),
    sa.Column("activity_type", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

ledger_daily_pnl = sa.Table(
    "ledger_daily_pnl",
    metadata,
    sa.Column("account", sa.String, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("sleeve", sa.String, primary_key=True),
    # "" for income booked to the account rather than a symbol.
    sa.Column("symbol", sa.String, primary_key=True),
    sa.Column("realized_gross", Amount, nullable=False),
    sa.Column("fees", Amount, nullable=False),
    sa.Column("realized_net", Amount, nullable=False),
    sa.Column("income", Amount, nullable=False),
    sa.Column("matches", sa.Integer, nullable=False),
)

ledger_returns = sa.Table(
    "ledger_returns",
    metadata,
    sa.Column("account", sa.String, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("equity", Amount, nullable=False),
    sa.Column("flow", Amount, nullable=False),
    # The day's time-weighted return and the chained return since the first day (1e-12).
    sa.Column("daily_return", Amount, nullable=False),
    sa.Column("cumulative_return", Amount, nullable=False),
)

ledger_state = sa.Table(
    "ledger_state",
    metadata,
    sa.Column("account", sa.String, primary_key=True),
    sa.Column("method", sa.String, nullable=False),
    sa.Column("fills", sa.Integer, nullable=False),
    sa.Column("activities", sa.Integer, nullable=False),
    sa.Column("matches", sa.Integer, nullable=False),
    # The newest fill or activity time applied: the next update reads from here.
    sa.Column("checkpoint", UTCDateTime),
    sa.Column("rebuilt_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Alpaca's portfolio history, one row per point of a timeframe (migration 0003): the equity of days
# the account snapshots do not cover (before the integration ran, or while it was down).
portfolio_history = sa.Table(
    "portfolio_history",
    metadata,
    *(sa.Column(name, sa.String, primary_key=True) for name in ("account", "timeframe")),
    sa.Column("at", UTCDateTime, primary_key=True),
    # Each point as Alpaca sent it (None where it sent null).
    *(
        sa.Column(name, Amount)
        for name in ("equity", "profit_loss", "profit_loss_pct", "base_value")
    ),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
)

LEDGER_TABLES = (
    ledger_lots,
    ledger_matches,
    ledger_income,
    ledger_daily_pnl,
    ledger_returns,
    ledger_state,
)
