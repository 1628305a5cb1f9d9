"""Alpaca's portfolio history (``GET /v2/account/portfolio/history``): one row per point.

Revision ID: 0003_portfolio_history
Revises: 0002_ledger
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from alpaca_integration.storage.migrations.columns import AMOUNT, INSTANT

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0003_portfolio_history"
down_revision: str | None = "0002_ledger"
branch_labels: str | None = None
depends_on: str | None = None

_POINT = ("equity", "profit_loss", "profit_loss_pct", "base_value")  # null where Alpaca sent null


def upgrade() -> None:
    op.create_table(
        "portfolio_history",
        *(sa.Column(name, sa.String(), nullable=False) for name in ("account", "timeframe")),
        sa.Column("at", INSTANT, nullable=False),
        *(sa.Column(name, AMOUNT) for name in _POINT),
        sa.Column("fetched_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("account", "timeframe", "at", name="pk_portfolio_history"),
    )


def downgrade() -> None:
    op.drop_table("portfolio_history")
