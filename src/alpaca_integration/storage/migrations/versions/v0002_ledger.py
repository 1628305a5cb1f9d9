"""The ledger's tables: lots, matches, income, daily P&L, returns and the updater's checkpoint.

Revision ID: 0002_ledger
Revises: 0001_initial
Create Date: 2026-12-04

Types and builders from ``migrations.columns``, frozen as in 0001 (amounts NUMERIC(38, 18) on
PostgreSQL, canonical text on SQLite).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from alpaca_integration.storage.migrations.columns import AMOUNT, INSTANT, required

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0002_ledger"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None


def _amounts(*names: str) -> list[sa.Column[Any]]:
    return required(AMOUNT, *names)


def _strings(*names: str) -> list[sa.Column[Any]]:
    return required(sa.String(), *names)


def upgrade() -> None:
    op.create_table(
        "ledger_lots",
        *_strings("account", "sleeve", "symbol"),
        *required(sa.Integer(), "seq"),
        *_strings("open_fill_id"),
        *_amounts("qty", "cost", "fee", "multiplier"),
        sa.Column("opened_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("account", "sleeve", "symbol", "seq", name="pk_ledger_lots"),
    )
    op.create_table(
        "ledger_matches",
        *_strings("account"),
        *required(sa.Integer(), "seq"),
        *_strings("sleeve", "symbol", "open_fill_id", "close_fill_id"),
        *_amounts(
            "qty", "open_price", "close_price", "multiplier", "gross", "open_fee", "close_fee"
        ),
        sa.Column("opened_at", INSTANT, nullable=False),
        sa.Column("closed_at", INSTANT, nullable=False),
        *_strings("kind"),
        sa.PrimaryKeyConstraint("account", "seq", name="pk_ledger_matches"),
    )
    op.create_index(
        "ix_ledger_matches_account_closed_at", "ledger_matches", ["account", "closed_at"]
    )
    op.create_index("ix_ledger_matches_account_symbol", "ledger_matches", ["account", "symbol"])
    op.create_table(
        "ledger_income",
        *_strings("account", "activity_id", "sleeve"),
        sa.Column("symbol", sa.String()),
        *_strings("activity_type", "kind"),
        *_amounts("amount"),
        sa.Column("at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("account", "activity_id", "sleeve", name="pk_ledger_income"),
    )
    op.create_table(
        "ledger_daily_pnl",
        *_strings("account"),
        sa.Column("day", sa.Date(), nullable=False),
        *_strings("sleeve", "symbol"),
        *_amounts("realized_gross", "fees", "realized_net", "income"),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account", "day", "sleeve", "symbol", name="pk_ledger_daily_pnl"),
    )
    op.create_table(
        "ledger_returns",
        *_strings("account"),
        sa.Column("day", sa.Date(), nullable=False),
        *_amounts("equity", "flow", "daily_return", "cumulative_return"),
        sa.PrimaryKeyConstraint("account", "day", name="pk_ledger_returns"),
    )
    op.create_table(
        "ledger_state",
        *_strings("account", "method"),
        *required(sa.Integer(), "fills", "activities", "matches"),
        sa.Column("checkpoint", INSTANT),
        *required(INSTANT, "rebuilt_at", "updated_at"),
        sa.PrimaryKeyConstraint("account", name="pk_ledger_state"),
    )


def downgrade() -> None:
    for table in (
        "ledger_state",
        "ledger_returns",
        "ledger_daily_pnl",
        "ledger_income",
        "ledger_matches",
        "ledger_lots",
    ):
        op.drop_table(table)
