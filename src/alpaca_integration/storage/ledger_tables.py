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

from typing import Any

import sqlalchemy as sa

from alpaca_integration.storage.dialect import Amount, UTCDateTime
from alpaca_integration.storage.tables import key_columns, metadata, required_columns

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


def _account_day() -> list[sa.Column[Any]]:
    """The key of a per-day series: the account and its New York day."""
    return [*key_columns("account"), *key_columns("day", type_=sa.Date)]


ledger_lots = sa.Table(
    "ledger_lots",
    metadata,
    *key_columns("account", "sleeve", "symbol"),
    # The lot's place in its book (matching order of the book's method is applied on read).
    *key_columns("seq", type_=sa.Integer),
    sa.Column("open_fill_id", sa.String, nullable=False),
    *required_columns(Amount, "qty", "cost", "fee", "multiplier"),
    sa.Column("opened_at", UTCDateTime, nullable=False),
)

ledger_matches = sa.Table(
    "ledger_matches",
    metadata,
    *key_columns("account"),
    *key_columns("seq", type_=sa.Integer),
    *required_columns(sa.String, "sleeve", "symbol", "open_fill_id", "close_fill_id"),
    *required_columns(
        Amount, "qty", "open_price", "close_price", "multiplier", "gross", "open_fee", "close_fee"
    ),
    *required_columns(UTCDateTime, "opened_at", "closed_at"),
    sa.Column("kind", sa.String, nullable=False),
    sa.Index(None, "account", "closed_at"),
    sa.Index(None, "account", "symbol"),
)

ledger_income = sa.Table(
    "ledger_income",
    metadata,
    *key_columns("account", "activity_id", "sleeve"),
    sa.Column("symbol", sa.String),
    *required_columns(sa.String, "activity_type", "kind"),
    sa.Column("amount", Amount, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

ledger_daily_pnl = sa.Table(
    "ledger_daily_pnl",
    metadata,
    *_account_day(),
    # symbol is "" for income booked to the account rather than a symbol.
    *key_columns("sleeve", "symbol"),
    *required_columns(Amount, "realized_gross", "fees", "realized_net", "income"),
    sa.Column("matches", sa.Integer, nullable=False),
)

ledger_returns = sa.Table(
    "ledger_returns",
    metadata,
    *_account_day(),
    # daily_return: the day's time-weighted return; cumulative_return: chained since the first
    # day (1e-12).
    *required_columns(Amount, "equity", "flow", "daily_return", "cumulative_return"),
)

ledger_state = sa.Table(
    "ledger_state",
    metadata,
    *key_columns("account"),
    sa.Column("method", sa.String, nullable=False),
    *required_columns(sa.Integer, "fills", "activities", "matches"),
    # The newest fill or activity time applied: the next update reads from here.
    sa.Column("checkpoint", UTCDateTime),
    *required_columns(UTCDateTime, "rebuilt_at", "updated_at"),
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
