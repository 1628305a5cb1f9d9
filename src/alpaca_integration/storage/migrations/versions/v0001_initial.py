"""Initial schema: broker state and the correctness tables.

Revision ID: 0001_initial
Revises:
Create Date: 2026-06-20

Types are spelled out here (not imported from ``storage.dialect``) so this revision keeps creating
the same schema whatever later code does: amounts are NUMERIC(38, 18) on PostgreSQL and canonical
decimal text on SQLite; instants are timestamptz (UTC text on SQLite).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

AMOUNT = sa.Numeric(38, 18).with_variant(sa.Text(), "sqlite")
INSTANT = sa.DateTime(timezone=True)
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SNAPSHOT_AMOUNTS = (
    "cash",
    "equity",
    "last_equity",
    "buying_power",
    "regt_buying_power",
    "daytrading_buying_power",
    "non_marginable_buying_power",
    "long_market_value",
    "short_market_value",
    "portfolio_value",
    "initial_margin",
    "maintenance_margin",
    "last_maintenance_margin",
    "multiplier",
    "sma",
    "accrued_fees",
)
SNAPSHOT_FLAGS = (
    "pattern_day_trader",
    "trading_blocked",
    "transfers_blocked",
    "account_blocked",
    "shorting_enabled",
    "trade_suspended_by_user",
)


def _provenance() -> list[sa.Column[Any]]:
    return [
        sa.Column("data_source", sa.String(), nullable=False),
        sa.Column("ingested_at", INSTANT, nullable=False),
    ]


def _position_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("asset_id", sa.String()),
        sa.Column("asset_class", sa.String(), nullable=False),
        sa.Column("exchange", sa.String()),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("qty", AMOUNT, nullable=False),
        sa.Column("qty_available", AMOUNT),
        sa.Column("avg_entry_price", AMOUNT, nullable=False),
        sa.Column("market_value", AMOUNT),
        sa.Column("cost_basis", AMOUNT, nullable=False),
        sa.Column("unrealized_pl", AMOUNT),
        sa.Column("unrealized_plpc", AMOUNT),
        sa.Column("unrealized_intraday_pl", AMOUNT),
        sa.Column("unrealized_intraday_plpc", AMOUNT),
        sa.Column("current_price", AMOUNT),
        sa.Column("lastday_price", AMOUNT),
        sa.Column("change_today", AMOUNT),
        sa.Column("observed_at", INSTANT, nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("alpaca_account_id", sa.String()),
        sa.Column("account_number", sa.String()),
        sa.Column("status", sa.String()),
        sa.Column("currency", sa.String()),
        sa.Column("created_at", INSTANT),
        sa.Column("snapshot_at", INSTANT),
        sa.Column("positions_at", INSTANT),
        *_provenance(),
        sa.PrimaryKeyConstraint("account", name="pk_accounts"),
    )
    op.create_table(
        "account_snapshots",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("observed_at", INSTANT, nullable=False),
        sa.Column("alpaca_account_id", sa.String(), nullable=False),
        sa.Column("account_number", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        *[sa.Column(name, AMOUNT, nullable=False) for name in SNAPSHOT_AMOUNTS],
        sa.Column("daytrade_count", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Boolean(), nullable=False) for name in SNAPSHOT_FLAGS],
        sa.Column("created_at", INSTANT),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        *_provenance(),
        sa.PrimaryKeyConstraint("account", "observed_at", name="pk_account_snapshots"),
    )
    op.create_table(
        "positions",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        *_position_columns(),
        *_provenance(),
        sa.PrimaryKeyConstraint("account", "symbol", name="pk_positions"),
    )
    op.create_table(
        "position_snapshots",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        *_position_columns(),
        *_provenance(),
        sa.PrimaryKeyConstraint("account", "symbol", "observed_at", name="pk_position_snapshots"),
    )
    op.create_table(
        "orders",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("client_order_id", sa.String(), nullable=False),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("asset_id", sa.String()),
        sa.Column("asset_class", sa.String(), nullable=False),
        sa.Column("side", sa.String()),
        sa.Column("type", sa.String()),
        sa.Column("time_in_force", sa.String(), nullable=False),
        sa.Column("order_class", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("qty", AMOUNT),
        sa.Column("notional", AMOUNT),
        sa.Column("filled_qty", AMOUNT, nullable=False),
        sa.Column("filled_avg_price", AMOUNT),
        sa.Column("limit_price", AMOUNT),
        sa.Column("stop_price", AMOUNT),
        sa.Column("trail_price", AMOUNT),
        sa.Column("trail_percent", AMOUNT),
        sa.Column("hwm", AMOUNT),
        sa.Column("extended_hours", sa.Boolean(), nullable=False),
        sa.Column("position_intent", sa.String()),
        sa.Column("ratio_qty", AMOUNT),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT),
        sa.Column("submitted_at", INSTANT),
        sa.Column("filled_at", INSTANT),
        sa.Column("expired_at", INSTANT),
        sa.Column("expires_at", INSTANT),
        sa.Column("canceled_at", INSTANT),
        sa.Column("failed_at", INSTANT),
        sa.Column("replaced_at", INSTANT),
        sa.Column("replaced_by", sa.String()),
        sa.Column("replaces", sa.String()),
        sa.Column("parent_id", sa.String()),
        sa.Column("last_event_at", INSTANT, nullable=False),
        sa.Column("external", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        *_provenance(),
        sa.PrimaryKeyConstraint("account", "id", name="pk_orders"),
    )
    op.create_index("ix_orders_account_client_order_id", "orders", ["account", "client_order_id"])
    op.create_index("ix_orders_account_created_at", "orders", ["account", "created_at"])
    open_orders = sa.text("status NOT IN ('canceled', 'expired', 'filled', 'rejected', 'replaced')")
    op.create_index(
        "ix_orders_open",
        "orders",
        ["account"],
        postgresql_where=open_orders,
        sqlite_where=open_orders,
    )
    for column in ("parent_id", "replaces", "replaced_by"):
        known = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"ix_orders_account_{column}",
            "orders",
            ["account", column],
            postgresql_where=known,
            sqlite_where=known,
        )
    op.create_table(
        "fills",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("cum_qty", AMOUNT, nullable=False),
        sa.Column("fill_id", sa.String(), nullable=False),
        sa.Column("execution_id", sa.String()),
        sa.Column("activity_id", sa.String()),
        sa.Column("client_order_id", sa.String()),
        sa.Column("symbol", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("qty", AMOUNT, nullable=False),
        sa.Column("price", AMOUNT, nullable=False),
        sa.Column("timestamp", INSTANT, nullable=False),
        sa.Column("fee", AMOUNT, nullable=False),
        sa.Column("fill_type", sa.String(), nullable=False),
        sa.Column("leaves_qty", AMOUNT),
        sa.Column("position_qty", AMOUNT),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("raw_stream", sa.Text()),
        sa.Column("raw_rest", sa.Text()),
        *_provenance(),
        sa.PrimaryKeyConstraint("account", "order_id", "cum_qty", name="pk_fills"),
    )
    for column in ("execution_id", "activity_id"):
        known = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"uq_fills_account_{column}",
            "fills",
            ["account", column],
            unique=True,
            postgresql_where=known,
            sqlite_where=known,
        )
    op.create_index("ix_fills_account_timestamp", "fills", ["account", "timestamp"])
    op.create_table(
        "activities",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("activity_type", sa.String(), nullable=False),
        sa.Column("activity_subtype", sa.String()),
        sa.Column("date", sa.Date()),
        sa.Column("transaction_time", INSTANT),
        sa.Column("net_amount", AMOUNT),
        sa.Column("qty", AMOUNT),
        sa.Column("per_share_amount", AMOUNT),
        sa.Column("price", AMOUNT),
        sa.Column("symbol", sa.String()),
        sa.Column("order_id", sa.String()),
        sa.Column("description", sa.String()),
        sa.Column("status", sa.String()),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        *_provenance(),
        sa.PrimaryKeyConstraint("account", "id", name="pk_activities"),
    )
    op.create_index(
        "ix_activities_account_activity_type_order_id",
        "activities",
        ["account", "activity_type", "order_id"],
    )
    op.create_index("ix_activities_account_date", "activities", ["account", "date"])
    op.create_table(
        "sync_checkpoints",
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("feed", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        *_provenance(),
        sa.PrimaryKeyConstraint("account", "feed", name="pk_sync_checkpoints"),
    )

    # ----------------------------------------------------------------- correctness results
    op.create_table(
        "stream_gaps",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("gap_from", INSTANT, nullable=False),
        sa.Column("gap_to", INSTANT),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("closed_by", sa.String()),
        sa.Column("rows_recovered", sa.Integer(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stream_gaps"),
    )
    op.create_index("ix_stream_gaps_account_gap_from", "stream_gaps", ["account", "gap_from"])
    op.create_table(
        "quality_results",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("detail", DOCUMENT),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quality_results"),
    )
    op.create_index("ix_quality_results_account_run_id", "quality_results", ["account", "run_id"])
    op.create_index(
        "ix_quality_results_account_rule_created_at",
        "quality_results",
        ["account", "rule", "created_at"],
    )
    op.create_table(
        "quarantine",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("record_kind", sa.String(), nullable=False),
        sa.Column("record_key", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
        sa.UniqueConstraint(
            "account",
            "record_kind",
            "record_key",
            "reason",
            name="uq_quarantine_account_record_kind_record_key_reason",
        ),
    )
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("started_at", INSTANT, nullable=False),
        sa.Column("finished_at", INSTANT),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("summary", DOCUMENT),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_runs"),
    )
    op.create_index(
        "ix_reconciliation_runs_account_started_at",
        "reconciliation_runs",
        ["account", "started_at"],
    )
    op.create_table(
        "reconciliation_items",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", ROW_ID, nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("difference", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name="fk_reconciliation_items_run_id_reconciliation_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reconciliation_items"),
    )
    op.create_index("ix_reconciliation_items_run_id", "reconciliation_items", ["run_id"])
    op.create_table(
        "exposure_snapshots",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("gross", AMOUNT, nullable=False),
        sa.Column("net", AMOUNT, nullable=False),
        sa.Column("long", AMOUNT, nullable=False),
        sa.Column("short", AMOUNT, nullable=False),
        sa.Column("per_symbol", DOCUMENT, nullable=False),
        sa.Column("detail", DOCUMENT),
        sa.PrimaryKeyConstraint("id", name="pk_exposure_snapshots"),
        sa.UniqueConstraint("account", "at", name="uq_exposure_snapshots_account_at"),
    )
    op.create_table(
        "risk_breaches",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("limit_name", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("value", AMOUNT),
        sa.Column("limit", AMOUNT),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_risk_breaches"),
    )
    op.create_index("ix_risk_breaches_account_at", "risk_breaches", ["account", "at"])


def downgrade() -> None:
    for table in (
        "risk_breaches",
        "exposure_snapshots",
        "reconciliation_items",
        "reconciliation_runs",
        "quarantine",
        "quality_results",
        "stream_gaps",
        "sync_checkpoints",
        "activities",
        "fills",
        "orders",
        "position_snapshots",
        "positions",
        "account_snapshots",
        "accounts",
    ):
        # Dropping a table drops its indexes and constraints with it.
        op.drop_table(table)
