"""Schema migrations, run programmatically on the async engine (no alembic.ini, no env.py).

* ``await upgrade(url_or_engine, "head")``: apply every missing revision in one transaction,
  under a lock so two processes never migrate the same database at once.
* ``await downgrade(url_or_engine, "base")``: undo revisions (``base`` = an empty schema).
* ``await current_revision(...)`` / ``head_revision()``: where the database is, where the code is.
* ``await schema_diff(...)``: Alembic's autogenerate comparison of the live schema with
  ``storage.tables`` (empty when a migration is not missing).

The version is kept in the table ``alpaca_integration_version`` (not Alembic's default
``alembic_version``) so the store can share a database with an application that has its own
Alembic history.

Imports ``errors`` and ``storage.dialect`` / ``storage.tables`` from the package; never the
repository or the CLI.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from alpaca_integration.errors import StorageError
from alpaca_integration.storage import ledger_tables as _ledger_tables
from alpaca_integration.storage.dialect import (
    WRITE_TRANSACTION,
    create_engine,
    migration_lock,
    parse_database_url,
)
from alpaca_integration.storage.tables import metadata

# The ledger's tables live in their own module on the same MetaData: loaded with it.
_LEDGER_TABLES = _ledger_tables.LEDGER_TABLES

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "current_revision",
    "downgrade",
    "head_revision",
    "known_revisions",
    "schema_diff",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")
VERSION_TABLE = "alpaca_integration_version"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest revision this version of the code knows."""
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package always ships its revisions
        raise StorageError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def known_revisions() -> set[str]:
    return {script.revision for script in _script().walk_revisions()}


@contextlib.asynccontextmanager
async def _engine_for(target: str | AsyncEngine) -> AsyncIterator[tuple[AsyncEngine, str]]:
    if isinstance(target, AsyncEngine):
        yield target, target.url.render_as_string(hide_password=True)
        return
    database = parse_database_url(target)
    engine = create_engine(database)
    try:
        yield engine, database.display
    finally:
        await engine.dispose()


def _run_migrations(connection: sa.Connection, destination: str, *, down: bool) -> None:
    config = _config()
    script = ScriptDirectory.from_config(config)

    def step(revision: Any, _context: Any) -> Any:
        if down:
            return script._downgrade_revs(destination, revision)
        return script._upgrade_revs(destination, revision)

    with EnvironmentContext(config, script, fn=step, destination_rev=destination) as env:
        env.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
        with env.begin_transaction():
            env.run_migrations()


def _current(connection: sa.Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _diff(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE, "compare_type": True}
    )
    return list(compare_metadata(context, metadata))


async def _migrate(target: str | AsyncEngine, revision: str, *, down: bool) -> str | None:
    async with _engine_for(target) as (engine, display):
        try:
            async with engine.connect() as connection:
                connection = await connection.execution_options(**{WRITE_TRANSACTION: True})
                async with connection.begin():
                    await migration_lock(connection)
                    await connection.run_sync(_run_migrations, revision, down=down)
                    return await connection.run_sync(_current)
        except (RevisionError, CommandError) as exc:
            known = ", ".join(sorted(known_revisions()))
            raise StorageError(
                f"cannot move {display} to revision {revision!r}: {exc}. Known revisions: {known} "
                "(or 'head' / 'base')"
            ) from None
        except SQLAlchemyError as exc:
            verb = "downgrade" if down else "upgrade"
            raise StorageError(f"could not {verb} the schema of {display}: {_reason(exc)}") from exc
        except OSError as exc:
            raise StorageError(f"cannot reach the database at {display}: {exc}") from exc


async def upgrade(target: str | AsyncEngine, revision: str = "head") -> str | None:
    """Bring the schema up to ``revision`` (default: the newest); returns the revision reached."""
    return await _migrate(target, revision, down=False)


async def downgrade(target: str | AsyncEngine, revision: str) -> str | None:
    """Take the schema back to ``revision`` (``base`` drops every table of the store)."""
    return await _migrate(target, revision, down=True)


async def _read(target: str | AsyncEngine, fn: Any) -> Any:
    async with _engine_for(target) as (engine, display):
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(fn)
        except SQLAlchemyError as exc:
            raise StorageError(f"could not read the schema of {display}: {_reason(exc)}") from exc
        except OSError as exc:
            raise StorageError(f"cannot reach the database at {display}: {exc}") from exc


async def current_revision(target: str | AsyncEngine) -> str | None:
    """The database's revision (None: the store's tables were never created there)."""
    result: str | None = await _read(target, _current)
    return result


async def schema_diff(target: str | AsyncEngine) -> list[Any]:
    """Alembic's autogenerate differences between the live schema and ``storage.tables``."""
    result: list[Any] = await _read(target, _diff)
    return result


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
