"""Column types and builders the revisions in ``versions/`` share.

Frozen like the revisions themselves: what a revision creates must never change, so nothing here
may change either (a later revision that needs something else adds a new name). That is why the
types are spelled out here rather than imported from ``storage.dialect``, and the field lists are
not taken from ``storage.tables``, which follow the current schema: amounts are NUMERIC(38, 18) on
PostgreSQL and canonical decimal text on SQLite; instants are timestamptz (UTC text on SQLite).

Imports nothing from the package.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = [
    "AMOUNT",
    "DOCUMENT",
    "INSTANT",
    "ROW_ID",
    "optional",
    "provenance",
    "required",
    "row_id",
]

AMOUNT = sa.Numeric(38, 18).with_variant(sa.Text(), "sqlite")
INSTANT = sa.DateTime(timezone=True)
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def required(type_: Any, *names: str) -> list[sa.Column[Any]]:
    """Non-null columns of one type, in the order named."""
    return [sa.Column(name, type_, nullable=False) for name in names]


def optional(type_: Any, *names: str) -> list[sa.Column[Any]]:
    """Nullable columns of one type, in the order named."""
    return [sa.Column(name, type_) for name in names]


def provenance() -> list[sa.Column[Any]]:
    """``data_source`` and ``ingested_at``, which every broker-state row carries."""
    return [*required(sa.String(), "data_source"), *required(INSTANT, "ingested_at")]


def row_id() -> sa.Column[Any]:
    """A result row's own key, numbered by the database."""
    return sa.Column("id", ROW_ID, autoincrement=True, nullable=False)
