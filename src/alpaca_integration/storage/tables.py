"""The store's schema: every table, as SQLAlchemy Core, on one ``MetaData``.

Broker state, keyed by account (the configured account name, e.g. ``default``):
``accounts``, ``account_snapshots``, ``positions`` (current) and ``position_snapshots``
(history), ``orders`` (legs through ``parent_id``, replace chain through ``replaces`` /
``replaced_by``), ``fills`` (one row per execution, natural key ``(account, order_id, cum_qty)``),
``activities`` (non-trade) and ``sync_checkpoints``. Each of these rows carries ``data_source``
(the provider, ``alpaca``) and ``ingested_at`` (when the store last wrote the row).

Correctness results: ``stream_gaps``, ``quality_results``, ``quarantine``,
``reconciliation_runs`` / ``reconciliation_items``, ``exposure_snapshots``, ``risk_breaches``.

The migrations in ``storage/migrations`` create exactly this schema (a test compares them). Change a
table here only together with a new migration.

Imports only ``storage.dialect`` and ``models`` (the position's value fields) from the package;
``POSITION_VALUE_FIELDS`` stays importable from here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from alpaca_integration.models import POSITION_VALUE_FIELDS
from alpaca_integration.storage.dialect import Amount, JsonDocument, RowId, UTCDateTime

# The account snapshot's money fields and flags: one list for the table and the codec.
SNAPSHOT_AMOUNT_FIELDS = (
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
SNAPSHOT_FLAG_FIELDS = (
    "pattern_day_trader",
    "trading_blocked",
    "transfers_blocked",
    "account_blocked",
    "shorting_enabled",
    "trade_suspended_by_user",
)


__all__ = [
    "POSITION_VALUE_FIELDS",
    "SNAPSHOT_AMOUNT_FIELDS",
    "SNAPSHOT_FLAG_FIELDS",
    "account_snapshots",
    "accounts",
    "activities",
    "exposure_snapshots",
    "fills",
    "metadata",
    "orders",
    "position_snapshots",
    "positions",
    "quality_results",
    "quarantine",
    "reconciliation_items",
    "reconciliation_runs",
    "risk_breaches",
    "stream_gaps",
    "sync_checkpoints",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# The SQL of "not terminal" (models.TERMINAL_ORDER_STATUSES), for the open-orders index.
_OPEN = sa.text("status NOT IN ('canceled', 'expired', 'filled', 'rejected', 'replaced')")


def _where_not_null(column: str) -> dict[str, Any]:
    condition = sa.text(f"{column} IS NOT NULL")
    return {"postgresql_where": condition, "sqlite_where": condition}


def _row_id() -> sa.Column[int]:
    """A result row's own key, numbered by the database."""
    return sa.Column("id", RowId, primary_key=True, autoincrement=True)


def _account() -> sa.Column[str]:
    return sa.Column("account", sa.String, nullable=False)


def _result_table(name: str, *columns: Any) -> sa.Table:
    """A correctness-result table whose rows are numbered by the database, per account."""
    return sa.Table(name, metadata, _row_id(), _account(), *columns)


def key_columns(*names: str, type_: Any = sa.String) -> list[sa.Column[Any]]:
    """Primary-key columns of one type (``sa.String`` unless told), in the order named."""
    return [sa.Column(name, type_, primary_key=True) for name in names]


def required_columns(type_: Any, *names: str) -> list[sa.Column[Any]]:
    """Non-null columns of one type, in the order named."""
    return [sa.Column(name, type_, nullable=False) for name in names]


def optional_columns(type_: Any, *names: str) -> list[sa.Column[Any]]:
    """Nullable columns of one type, in the order named."""
    return [sa.Column(name, type_) for name in names]


def _provenance() -> list[sa.Column[Any]]:
    return [
        sa.Column("data_source", sa.String, nullable=False),
        sa.Column("ingested_at", UTCDateTime, nullable=False),
    ]


def _multiplier() -> sa.Column[Any]:
    """Units of value per unit of quantity (100 for a standard option contract, else 1); rows
    from before migration 0004 read 1."""
    return sa.Column("multiplier", Amount, nullable=False, server_default="1")


def _position_columns(*, observed_at_key: bool = False) -> list[sa.Column[Any]]:
    return [
        sa.Column("asset_id", sa.String),
        sa.Column("asset_class", sa.String, nullable=False),
        _multiplier(),
        sa.Column("exchange", sa.String),
        sa.Column("side", sa.String, nullable=False),
        # Signed: a short position is negative.
        sa.Column("qty", Amount, nullable=False),
        sa.Column("qty_available", Amount),
        sa.Column("avg_entry_price", Amount, nullable=False),
        sa.Column("market_value", Amount),
        sa.Column("cost_basis", Amount, nullable=False),
        *optional_columns(Amount, *POSITION_VALUE_FIELDS),
        sa.Column("observed_at", UTCDateTime, nullable=False, primary_key=observed_at_key),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("source", sa.String, nullable=False),
    ]


# --------------------------------------------------------------------------- broker state

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("account", sa.String, primary_key=True),
    *optional_columns(sa.String, "alpaca_account_id", "account_number", "status", "currency"),
    sa.Column("created_at", UTCDateTime),
    # observed_at of the newest snapshot, and the as-of time of the newest full positions set:
    # older snapshots or sets arriving late never overwrite newer state.
    *optional_columns(UTCDateTime, "snapshot_at", "positions_at"),
    *_provenance(),
)

account_snapshots = sa.Table(
    "account_snapshots",
    metadata,
    sa.Column("account", sa.String, primary_key=True),
    sa.Column("observed_at", UTCDateTime, primary_key=True),
    *required_columns(sa.String, "alpaca_account_id", "account_number", "status", "currency"),
    *required_columns(Amount, *SNAPSHOT_AMOUNT_FIELDS),
    sa.Column("daytrade_count", sa.Integer, nullable=False),
    *required_columns(sa.Boolean, *SNAPSHOT_FLAG_FIELDS),
    # The options figures the pre-trade check reads (null where the venue does not state them).
    sa.Column("options_buying_power", Amount),
    *optional_columns(sa.Integer, "options_approved_level", "options_trading_level"),
    sa.Column("created_at", UTCDateTime),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    *_provenance(),
)

positions = sa.Table(
    "positions",
    metadata,
    *key_columns("account", "symbol"),
    *_position_columns(),
    *_provenance(),
)

# One row each time a holding opens, changes (qty, side, average price, cost basis) or closes
# (a row with qty 0): the position of every symbol at any past instant is the latest row before it.
# Key (account, symbol, observed_at).
position_snapshots = sa.Table(
    "position_snapshots",
    metadata,
    *key_columns("account", "symbol"),
    *_position_columns(observed_at_key=True),
    *_provenance(),
)

orders = sa.Table(
    "orders",
    metadata,
    *key_columns("account", "id"),
    *required_columns(sa.String, "client_order_id", "symbol"),
    sa.Column("asset_id", sa.String),
    sa.Column("asset_class", sa.String, nullable=False),
    _multiplier(),
    *optional_columns(sa.String, "side", "type"),
    *required_columns(sa.String, "time_in_force", "order_class", "status"),
    # models.order_status_rank(status): how far along its life the order is (monotonic upserts).
    sa.Column("status_rank", sa.Integer, nullable=False),
    *optional_columns(Amount, "qty", "notional"),
    sa.Column("filled_qty", Amount, nullable=False),
    *optional_columns(
        Amount,
        "filled_avg_price",
        "limit_price",
        "stop_price",
        "trail_price",
        "trail_percent",
        "hwm",
    ),
    sa.Column("extended_hours", sa.Boolean, nullable=False),
    sa.Column("position_intent", sa.String),
    sa.Column("ratio_qty", Amount),
    sa.Column("created_at", UTCDateTime, nullable=False),
    *optional_columns(
        UTCDateTime,
        "updated_at",
        "submitted_at",
        "filled_at",
        "expired_at",
        "expires_at",
        "canceled_at",
        "failed_at",
        "replaced_at",
    ),
    *optional_columns(sa.String, "replaced_by", "replaces", "parent_id"),
    # Order.last_event_at: updated_at, else submitted_at, else created_at.
    sa.Column("last_event_at", UTCDateTime, nullable=False),
    # True when the order was not placed by this integration (dashboard, another program).
    sa.Column("external", sa.Boolean, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    *_provenance(),
    sa.Index(None, "account", "client_order_id"),
    sa.Index(None, "account", "created_at"),
    # Partial indexes: small (open orders, legs, replacements are few) and free for the many
    # rows they do not cover, which keeps bulk inserts fast.
    sa.Index(
        "ix_orders_open",
        "account",
        postgresql_where=_OPEN,
        sqlite_where=_OPEN,
    ),
    sa.Index(None, "account", "parent_id", **_where_not_null("parent_id")),
    sa.Index(None, "account", "replaces", **_where_not_null("replaces")),
    sa.Index(None, "account", "replaced_by", **_where_not_null("replaced_by")),
)

fills = sa.Table(
    "fills",
    metadata,
    *key_columns("account", "order_id"),
    # The order's cumulative filled quantity after this execution: with order_id, the identity
    # both the stream (order.filled_qty) and REST (FILL activity cum_qty) report.
    sa.Column("cum_qty", Amount, primary_key=True),
    # The first id this execution was stored under (Fill.fill_id); never changes afterwards.
    sa.Column("fill_id", sa.String, nullable=False),
    *optional_columns(sa.String, "execution_id", "activity_id", "client_order_id"),
    *required_columns(sa.String, "symbol", "side"),
    sa.Column("asset_class", sa.String, nullable=False, server_default="us_equity"),
    _multiplier(),
    *required_columns(Amount, "qty", "price"),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    # Positive cost. The sum of the stored FEE activities of this execution (same order_id and
    # transaction_time) when there are any, else what the fill itself carried.
    sa.Column("fee", Amount, nullable=False),
    sa.Column("fill_type", sa.String, nullable=False),
    *optional_columns(Amount, "leaves_qty", "position_qty"),
    # Where the row was first seen (stream, rest, reconcile); the ids say who has confirmed it.
    sa.Column("source", sa.String, nullable=False),
    *optional_columns(sa.Text, "raw_stream", "raw_rest"),
    *_provenance(),
    # Unique where known: one id never names two executions.
    sa.Index(
        "uq_fills_account_execution_id",
        "account",
        "execution_id",
        unique=True,
        **_where_not_null("execution_id"),
    ),
    sa.Index(
        "uq_fills_account_activity_id",
        "account",
        "activity_id",
        unique=True,
        **_where_not_null("activity_id"),
    ),
    sa.Index(None, "account", "timestamp"),
)

activities = sa.Table(
    "activities",
    metadata,
    *key_columns("account", "id"),
    sa.Column("activity_type", sa.String, nullable=False),
    sa.Column("activity_subtype", sa.String),
    sa.Column("date", sa.Date),
    sa.Column("transaction_time", UTCDateTime),
    *optional_columns(Amount, "net_amount", "qty", "per_share_amount", "price"),
    *optional_columns(sa.String, "symbol", "order_id", "description", "status"),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    *_provenance(),
    sa.Index(None, "account", "activity_type", "order_id"),
    sa.Index(None, "account", "date"),
)

sync_checkpoints = sa.Table(
    "sync_checkpoints",
    metadata,
    *key_columns("account", "feed"),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    *_provenance(),
)

# --------------------------------------------------------------------------- correctness results

stream_gaps = _result_table(
    "stream_gaps",
    sa.Column("gap_from", UTCDateTime, nullable=False),
    sa.Column("gap_to", UTCDateTime),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("closed_by", sa.String),
    sa.Column("rows_recovered", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "account", "gap_from"),
)

quality_results = sa.Table(
    "quality_results",
    metadata,
    _row_id(),
    *required_columns(sa.String, "run_id", "rule"),
    _account(),
    *required_columns(sa.String, "subject", "severity"),
    sa.Column("detail", JsonDocument),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "account", "run_id"),
    sa.Index(None, "account", "rule", "created_at"),
)

quarantine = _result_table(
    "quarantine",
    *required_columns(sa.String, "record_kind", "record_key", "reason"),
    # Bytes verbatim: a refused payload may not even be valid UTF-8.
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # A page replayed twice quarantines each bad record once.
    sa.UniqueConstraint("account", "record_kind", "record_key", "reason"),
)

reconciliation_runs = _result_table(
    "reconciliation_runs",
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("summary", JsonDocument),
    sa.Index(None, "account", "started_at"),
)

reconciliation_items = sa.Table(
    "reconciliation_items",
    metadata,
    _row_id(),
    sa.Column(
        "run_id",
        RowId,
        sa.ForeignKey("reconciliation_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
    _account(),
    *required_columns(sa.String, "kind", "subject"),
    sa.Column("difference", sa.Text, nullable=False),
    sa.Column("decision", sa.String, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "run_id"),
)

exposure_snapshots = _result_table(
    "exposure_snapshots",
    sa.Column("at", UTCDateTime, nullable=False),
    *required_columns(Amount, "gross", "net", "long", "short"),
    # {symbol: signed market value as a decimal string}
    sa.Column("per_symbol", JsonDocument, nullable=False),
    # {"quantities": {symbol: qty}, "unpriced": [symbol, ...]}
    sa.Column("detail", JsonDocument),
    sa.UniqueConstraint("account", "at"),
)

risk_breaches = _result_table(
    "risk_breaches",
    sa.Column("at", UTCDateTime, nullable=False),
    *required_columns(sa.String, "limit_name", "subject"),
    *optional_columns(Amount, "value", "limit"),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index(None, "account", "at"),
)
