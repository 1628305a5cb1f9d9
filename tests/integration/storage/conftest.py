"""Fixtures of the storage tests: every ``store`` test runs on real PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alpaca_integration.storage import Store


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("sqlite"),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database: a new PostgreSQL database, or a SQLite file in tmp_path."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A migrated store on ``database_url``."""
    opened = await Store.open(database_url, migrate=True)
    try:
        yield opened
    finally:
        await opened.aclose()
