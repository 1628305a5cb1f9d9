"""The sync tests' store: a fresh SQLite file (the engine's logic needs no second dialect)."""

from __future__ import annotations

import pytest

from alpaca_integration.storage import Store


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store
