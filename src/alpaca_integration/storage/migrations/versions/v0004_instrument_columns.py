"""The instrument on every trade row: ``multiplier`` on orders and positions (current and
history), ``asset_class`` and ``multiplier`` on fills; and the account snapshot's options
figures (``options_buying_power``, ``options_approved_level``, ``options_trading_level``), which
the pre-trade check reads from the store.

Revision ID: 0004_instrument_columns
Revises: 0003_portfolio_history
Create Date: 2026-12-05

Rows written before this revision were equities (or were read back as such): they get
``us_equity`` and a multiplier of 1, the columns' server defaults. The sync rewrites an option's
or a crypto pair's rows with their real values the next time the venue reports them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from alpaca_integration.storage.migrations.columns import AMOUNT

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0004_instrument_columns"
down_revision: str | None = "0003_portfolio_history"
branch_labels: str | None = None
depends_on: str | None = None

_MULTIPLIER_TABLES = ("orders", "fills", "positions", "position_snapshots")
_LEVELS = ("options_approved_level", "options_trading_level")


def upgrade() -> None:
    op.add_column(
        "fills", sa.Column("asset_class", sa.String(), nullable=False, server_default="us_equity")
    )
    for table in _MULTIPLIER_TABLES:
        op.add_column(table, sa.Column("multiplier", AMOUNT, nullable=False, server_default="1"))
    op.add_column("account_snapshots", sa.Column("options_buying_power", AMOUNT))
    for name in _LEVELS:
        op.add_column("account_snapshots", sa.Column(name, sa.Integer()))


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN: PostgreSQL, and SQLite from 3.35 (no index names them).
    for name in ("options_buying_power", *_LEVELS):
        op.drop_column("account_snapshots", name)
    for table in _MULTIPLIER_TABLES:
        op.drop_column(table, "multiplier")
    op.drop_column("fills", "asset_class")
