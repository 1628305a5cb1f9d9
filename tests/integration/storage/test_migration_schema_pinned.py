"""Each revision keeps creating exactly the schema it created when it shipped.

A database upgraded long ago must look like one upgraded today, so a revision (and the frozen
``storage/migrations/columns.py`` it builds on) may never change what it creates. The schema each
revision leaves behind, per dialect, is pinned in ``tests/data/schema/``: the SQLite catalogue's
SQL, and PostgreSQL's columns, constraints and indexes. A new revision: add it to ``REVISIONS``;
the first run writes its files (and fails once) for review. Never rewrite an existing file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from alpaca_integration.storage import upgrade
from alpaca_integration.storage.dialect import create_engine, parse_database_url

PINNED = Path(__file__).resolve().parents[2] / "data" / "schema"
REVISIONS = ("0001_initial", "0002_ledger", "0003_portfolio_history", "0004_instrument_columns")

_SQLITE = [
    "SELECT type, name, tbl_name, sql FROM sqlite_master"
    " WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
]
_POSTGRES = [
    "SELECT table_name, column_name, data_type, numeric_precision, numeric_scale, is_nullable,"
    " column_default FROM information_schema.columns WHERE table_schema = 'public'"
    " ORDER BY table_name, ordinal_position",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    " ORDER BY 1, 2",
]


def dialect_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


async def describe_schema(url: str) -> list[str]:
    """The database's schema as lines of JSON, one per catalogue row."""
    engine = create_engine(parse_database_url(url))
    lines: list[str] = []
    try:
        async with engine.connect() as connection:
            for query in _SQLITE if dialect_of(url) == "sqlite" else _POSTGRES:
                result = await connection.execute(sa.text(query))
                lines.extend(json.dumps(list(row), default=str) for row in result)
    finally:
        await engine.dispose()
    return lines


@pytest.mark.parametrize("revision", REVISIONS)
async def test_each_revision_still_creates_the_schema_it_shipped_with(
    database_url: str, revision: str
) -> None:
    """Upgrading a fresh database to ``revision`` leaves exactly the pinned schema."""
    assert await upgrade(database_url, revision) == revision
    pinned = PINNED / f"{revision}.{dialect_of(database_url)}.txt"
    described = await describe_schema(database_url)
    if not pinned.exists():
        # A new revision: pin what it creates once, for a person to review and commit.
        pinned.write_text("\n".join(described) + "\n")
        pytest.fail(f"{pinned} did not exist and was written: review it and commit it")
    assert described == pinned.read_text().splitlines()
