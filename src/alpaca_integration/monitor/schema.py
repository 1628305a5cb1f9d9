"""The store's schema for ``alpacactl db``: the revision a database is at, upgrades, downgrades.

Thin: it names what the CLI needs of ``storage.migrate`` and ``storage.dialect`` so the CLI never
imports the storage package. Imports storage lazily; never the CLI, Prefect or the simulator.
"""

from __future__ import annotations

__all__ = [
    "current_revision",
    "database_display",
    "downgrade_schema",
    "known_revisions",
    "newest_revision",
    "upgrade_schema",
]


def database_display(database_url: str) -> str:
    """The URL as it may be shown (no password); ``StorageError`` for an unsupported URL."""
    from alpaca_integration.storage.dialect import parse_database_url

    return parse_database_url(database_url).display


async def current_revision(database_url: str) -> str | None:
    """The database's schema revision (None: no schema yet)."""
    from alpaca_integration.storage import migrate

    return await migrate.current_revision(database_url)


def newest_revision() -> str:
    """The newest revision this version of the package knows."""
    from alpaca_integration.storage import migrate

    return migrate.head_revision()


def known_revisions() -> set[str]:
    """Every revision this version of the package knows."""
    from alpaca_integration.storage import migrate

    return migrate.known_revisions()


async def upgrade_schema(database_url: str, revision: str = "head") -> str | None:
    """Migrate up to ``revision``; returns the revision reached."""
    from alpaca_integration.storage import migrate

    return await migrate.upgrade(database_url, revision)


async def downgrade_schema(database_url: str, revision: str) -> str | None:
    """Migrate down to ``revision`` (``base`` drops every table); returns the revision reached."""
    from alpaca_integration.storage import migrate

    return await migrate.downgrade(database_url, revision)
