"""Schema and connection: migrations up and down, no drift from the tables, URLs and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from alpaca_integration.errors import StorageError
from alpaca_integration.storage import (
    Store,
    current_revision,
    downgrade,
    head_revision,
    schema_diff,
    upgrade,
)
from alpaca_integration.storage.dialect import create_engine, parse_database_url
from alpaca_integration.storage.tables import metadata
from support.storage_builders import make_order


async def _table_names(url: str) -> set[str]:
    engine = create_engine(parse_database_url(url))
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: sa.inspect(c).get_table_names())
            return set(names)
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_migrations_upgrade_an_empty_postgres_database_and_downgrade_it_cleanly(
    postgres_url: str,
) -> None:
    """Upgrade creates every table; downgrade to base removes them all; upgrade works again."""
    assert await current_revision(postgres_url) is None
    assert await upgrade(postgres_url) == head_revision()
    assert await _table_names(postgres_url) == {*metadata.tables, "alpaca_integration_version"}
    assert await downgrade(postgres_url, "base") is None
    assert await _table_names(postgres_url) == {"alpaca_integration_version"}
    assert await upgrade(postgres_url) == head_revision()


async def test_the_migrated_schema_matches_the_tables(database_url: str) -> None:
    """Autogenerate finds no difference between the migrations and storage.tables."""
    await upgrade(database_url)
    assert await schema_diff(database_url) == []


@pytest.mark.postgres
async def test_an_unmigrated_postgres_database_is_refused_with_the_fix(postgres_url: str) -> None:
    """Opening an empty PostgreSQL database says to run `alpacactl db upgrade`."""
    with pytest.raises(StorageError, match="alpacactl db upgrade"):
        await Store.open(postgres_url)
    async with await Store.open(postgres_url, migrate=True):
        pass
    async with await Store.open(postgres_url) as store:
        await store.apply("default", orders=[make_order()])


@pytest.mark.postgres
async def test_a_database_from_a_newer_version_is_refused(postgres_url: str) -> None:
    """A revision this code does not know means the package is older than the schema."""
    await upgrade(postgres_url)
    engine = create_engine(parse_database_url(postgres_url))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text("UPDATE alpaca_integration_version SET version_num = '9999_future'")
            )
    finally:
        await engine.dispose()
    with pytest.raises(StorageError, match="upgrade the package"):
        await Store.open(postgres_url)


async def test_sqlite_is_brought_up_to_date_on_first_use(tmp_path: Path) -> None:
    """The embedded database needs no command: opening it migrates it."""
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    async with await Store.open(url) as store:
        await store.apply("default", orders=[make_order()])
    assert await current_revision(url) == head_revision()
    async with await Store.open(url) as store:
        assert [o.id for o in await store.list_orders("default")] == ["o-1"]


async def test_an_in_memory_sqlite_store_works() -> None:
    """sqlite:///:memory: keeps one shared connection, so what is written can be read."""
    async with await Store.open("sqlite:///:memory:") as store:
        await store.apply("default", orders=[make_order()])
        assert len(await store.open_orders("default")) == 1


@pytest.mark.postgres
async def test_postgres_scheme_aliases_are_accepted(postgres_url: str) -> None:
    """postgres:// and postgresql+asyncpg:// reach the same database as postgresql://."""
    async with await Store.open(postgres_url, migrate=True) as store:
        await store.apply("default", orders=[make_order()])
    for url in (
        postgres_url.replace("postgresql://", "postgres://", 1),
        postgres_url.replace("postgresql://", "postgresql+asyncpg://", 1),
    ):
        async with await Store.open(url) as store:
            assert [o.id for o in await store.list_orders("default")] == ["o-1"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://root@localhost/db", "unsupported database"),
        ("not a url at all", "not a database URL"),
        ("", "empty"),
        ("postgresql+pg8000://u@h/db", "unsupported PostgreSQL driver"),
    ],
)
async def test_bad_urls_are_refused_with_the_urls_that_work(url: str, message: str) -> None:
    """An unusable URL names the problem and the accepted forms."""
    with pytest.raises(StorageError, match=message):
        await Store.open(url)


async def test_a_sqlite_file_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    """A SQLite path whose directory does not exist says which directory to create."""
    missing = tmp_path / "nope" / "store.db"
    with pytest.raises(StorageError, match="does not exist"):
        await Store.open(f"sqlite:///{missing}")


async def test_a_password_never_appears_in_errors_or_reprs() -> None:
    """An unreachable server's error and the store's repr mask the URL's password."""
    url = "postgresql://trader:s3cret-pass@127.0.0.1:1/broker"
    with pytest.raises(StorageError) as caught:
        await Store.open(url)
    assert "s3cret-pass" not in str(caught.value)
    assert "cannot reach" in str(caught.value)
    assert "s3cret-pass" not in parse_database_url(url).display


def test_the_open_orders_index_uses_the_terminal_statuses() -> None:
    """The partial index's SQL names exactly models.TERMINAL_ORDER_STATUSES."""
    import re

    from alpaca_integration.models import TERMINAL_ORDER_STATUSES
    from alpaca_integration.storage.tables import orders

    [index] = [i for i in orders.indexes if i.name == "ix_orders_open"]
    condition = str(index.dialect_options["postgresql"]["where"])
    assert set(re.findall(r"'([a-z_]+)'", condition)) == {s.value for s in TERMINAL_ORDER_STATUSES}
