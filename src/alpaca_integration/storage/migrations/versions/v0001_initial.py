"""Initial schema: broker state and the correctness tables.

Revision ID: 0001_initial
Revises:
Create Date: 2026-06-20

Types and column builders come from ``migrations.columns``, frozen like this revision (not from
``storage.dialect`` or ``storage.tables``), so it keeps creating the same schema whatever later code
does: amounts are NUMERIC(38, 18) on PostgreSQL and canonical decimal text on SQLite; instants are
timestamptz (UTC text on SQLite).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from alpaca_integration.storage.migrations.columns import (
    AMOUNT,
    DOCUMENT,
    INSTANT,
    ROW_ID,
    optional,
    provenance,
    required,
    row_id,
)

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

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
POSITION_MARKS = (
    "unrealized_pl",
    "unrealized_plpc",
    "unrealized_intraday_pl",
    "unrealized_intraday_plpc",
    "current_price",
    "lastday_price",
    "change_today",
)


def _position_columns() -> list[sa.Column[Any]]:
    return [
        *optional(sa.String(), "asset_id"),
        *required(sa.String(), "asset_class"),
        *optional(sa.String(), "exchange"),
        *required(sa.String(), "side"),
        *required(AMOUNT, "qty"),
        *optional(AMOUNT, "qty_available"),
        *required(AMOUNT, "avg_entry_price"),
        *optional(AMOUNT, "market_value"),
        *required(AMOUNT, "cost_basis"),
        *optional(AMOUNT, *POSITION_MARKS),
        *required(INSTANT, "observed_at"),
        *_raw_and_source(),
    ]


def _raw_and_source() -> list[sa.Column[Any]]:
    return [*required(sa.Text(), "raw"), *required(sa.String(), "source")]


def _partial_indexes(table: str, columns: tuple[str, ...], *, unique: bool = False) -> None:
    """One index on (account, column) per column, over the rows where the column is set."""
    prefix = "uq" if unique else "ix"
    for column in columns:
        known = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            f"{prefix}_{table}_account_{column}",
            table,
            ["account", column],
            unique=unique,
            postgresql_where=known,
            sqlite_where=known,
        )


def _broker_state() -> None:
    op.create_table(
        "accounts",
        *required(sa.String(), "account"),
        *optional(sa.String(), "alpaca_account_id", "account_number", "status", "currency"),
        *optional(INSTANT, "created_at", "snapshot_at", "positions_at"),
        *provenance(),
        sa.PrimaryKeyConstraint("account", name="pk_accounts"),
    )
    op.create_table(
        "account_snapshots",
        *required(sa.String(), "account"),
        *required(INSTANT, "observed_at"),
        *required(sa.String(), "alpaca_account_id", "account_number", "status", "currency"),
        *required(AMOUNT, *SNAPSHOT_AMOUNTS),
        *required(sa.Integer(), "daytrade_count"),
        *required(sa.Boolean(), *SNAPSHOT_FLAGS),
        *optional(INSTANT, "created_at"),
        *_raw_and_source(),
        *provenance(),
        sa.PrimaryKeyConstraint("account", "observed_at", name="pk_account_snapshots"),
    )
    for table, key in (
        ("positions", ("account", "symbol")),
        ("position_snapshots", ("account", "symbol", "observed_at")),
    ):
        op.create_table(
            table,
            *required(sa.String(), "account", "symbol"),
            *_position_columns(),
            *provenance(),
            sa.PrimaryKeyConstraint(*key, name=f"pk_{table}"),
        )
    op.create_table(
        "orders",
        *required(sa.String(), "account", "id", "client_order_id", "symbol"),
        *optional(sa.String(), "asset_id"),
        *required(sa.String(), "asset_class"),
        *optional(sa.String(), "side", "type"),
        *required(sa.String(), "time_in_force", "order_class", "status"),
        *required(sa.Integer(), "status_rank"),
        *optional(AMOUNT, "qty", "notional"),
        *required(AMOUNT, "filled_qty"),
        *optional(
            AMOUNT,
            "filled_avg_price",
            "limit_price",
            "stop_price",
            "trail_price",
            "trail_percent",
            "hwm",
        ),
        *required(sa.Boolean(), "extended_hours"),
        *optional(sa.String(), "position_intent"),
        *optional(AMOUNT, "ratio_qty"),
        *required(INSTANT, "created_at"),
        *optional(
            INSTANT,
            "updated_at",
            "submitted_at",
            "filled_at",
            "expired_at",
            "expires_at",
            "canceled_at",
            "failed_at",
            "replaced_at",
        ),
        *optional(sa.String(), "replaced_by", "replaces", "parent_id"),
        *required(INSTANT, "last_event_at"),
        *required(sa.Boolean(), "external"),
        *required(sa.String(), "source"),
        *required(sa.Text(), "raw"),
        *provenance(),
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
    _partial_indexes("orders", ("parent_id", "replaces", "replaced_by"))
    op.create_table(
        "fills",
        *required(sa.String(), "account", "order_id"),
        *required(AMOUNT, "cum_qty"),
        *required(sa.String(), "fill_id"),
        *optional(sa.String(), "execution_id", "activity_id", "client_order_id"),
        *required(sa.String(), "symbol", "side"),
        *required(AMOUNT, "qty", "price"),
        *required(INSTANT, "timestamp"),
        *required(AMOUNT, "fee"),
        *required(sa.String(), "fill_type"),
        *optional(AMOUNT, "leaves_qty", "position_qty"),
        *required(sa.String(), "source"),
        *optional(sa.Text(), "raw_stream", "raw_rest"),
        *provenance(),
        sa.PrimaryKeyConstraint("account", "order_id", "cum_qty", name="pk_fills"),
    )
    _partial_indexes("fills", ("execution_id", "activity_id"), unique=True)
    op.create_index("ix_fills_account_timestamp", "fills", ["account", "timestamp"])
    op.create_table(
        "activities",
        *required(sa.String(), "account", "id", "activity_type"),
        *optional(sa.String(), "activity_subtype"),
        *optional(sa.Date(), "date"),
        *optional(INSTANT, "transaction_time"),
        *optional(AMOUNT, "net_amount", "qty", "per_share_amount", "price"),
        *optional(sa.String(), "symbol", "order_id", "description", "status"),
        *_raw_and_source(),
        *provenance(),
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
        *required(sa.String(), "account", "feed"),
        *required(sa.Text(), "value"),
        *required(INSTANT, "updated_at"),
        *provenance(),
        sa.PrimaryKeyConstraint("account", "feed", name="pk_sync_checkpoints"),
    )


def _result_table(name: str, *columns: Any) -> None:
    """A correctness-result table: its own numbered ``id`` key first, then ``columns``."""
    op.create_table(name, row_id(), *columns, sa.PrimaryKeyConstraint("id", name=f"pk_{name}"))


def _correctness_results() -> None:
    _result_table(
        "stream_gaps",
        *required(sa.String(), "account"),
        *required(INSTANT, "gap_from"),
        *optional(INSTANT, "gap_to"),
        *required(sa.String(), "reason"),
        *optional(sa.String(), "closed_by"),
        *required(sa.Integer(), "rows_recovered"),
        *required(INSTANT, "created_at"),
    )
    op.create_index("ix_stream_gaps_account_gap_from", "stream_gaps", ["account", "gap_from"])
    _result_table(
        "quality_results",
        *required(sa.String(), "run_id", "rule", "account", "subject", "severity"),
        *optional(DOCUMENT, "detail"),
        *required(INSTANT, "created_at"),
    )
    op.create_index("ix_quality_results_account_run_id", "quality_results", ["account", "run_id"])
    op.create_index(
        "ix_quality_results_account_rule_created_at",
        "quality_results",
        ["account", "rule", "created_at"],
    )
    _result_table(
        "quarantine",
        *required(sa.String(), "account", "record_kind", "record_key", "reason"),
        *required(sa.LargeBinary(), "raw"),
        *required(sa.String(), "source"),
        *required(INSTANT, "created_at"),
        sa.UniqueConstraint(
            "account",
            "record_kind",
            "record_key",
            "reason",
            name="uq_quarantine_account_record_kind_record_key_reason",
        ),
    )
    _result_table(
        "reconciliation_runs",
        *required(sa.String(), "account"),
        *required(INSTANT, "started_at"),
        *optional(INSTANT, "finished_at"),
        *required(sa.Boolean(), "dry_run"),
        *optional(DOCUMENT, "summary"),
    )
    op.create_index(
        "ix_reconciliation_runs_account_started_at",
        "reconciliation_runs",
        ["account", "started_at"],
    )
    _result_table(
        "reconciliation_items",
        *required(ROW_ID, "run_id"),
        *required(sa.String(), "account", "kind", "subject"),
        *required(sa.Text(), "difference"),
        *required(sa.String(), "decision"),
        *required(sa.Text(), "detail"),
        *required(INSTANT, "created_at"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reconciliation_runs.id"],
            name="fk_reconciliation_items_run_id_reconciliation_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_reconciliation_items_run_id", "reconciliation_items", ["run_id"])
    _result_table(
        "exposure_snapshots",
        *required(sa.String(), "account"),
        *required(INSTANT, "at"),
        *required(AMOUNT, "gross", "net", "long", "short"),
        *required(DOCUMENT, "per_symbol"),
        *optional(DOCUMENT, "detail"),
        sa.UniqueConstraint("account", "at", name="uq_exposure_snapshots_account_at"),
    )
    _result_table(
        "risk_breaches",
        *required(sa.String(), "account"),
        *required(INSTANT, "at"),
        *required(sa.String(), "limit_name", "subject"),
        *optional(AMOUNT, "value", "limit"),
        *required(sa.Text(), "detail"),
    )
    op.create_index("ix_risk_breaches_account_at", "risk_breaches", ["account", "at"])


def upgrade() -> None:
    _broker_state()
    _correctness_results()


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
