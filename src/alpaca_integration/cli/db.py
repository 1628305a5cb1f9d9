"""alpacactl commands: ``db upgrade``, ``db current``, ``db downgrade`` (the store's schema).

The database is ``--url`` or ``ALPACA_DATABASE_URL`` (default: the embedded SQLite file).
Module-level imports stay light (typer only): ``monitor.schema`` (and through it SQLAlchemy and
Alembic) is imported inside the command bodies so that ``alpacactl --help`` stays fast. Never
imports ``storage``.
"""

from __future__ import annotations

import asyncio

import typer

from alpaca_integration.cli._errors import EXIT_USAGE, bad_input, fail

__all__ = ["db_app", "register"]

db_app = typer.Typer(
    name="db",
    help="The store's schema: apply migrations (PostgreSQL; SQLite is migrated automatically).",
    no_args_is_help=True,
)

_URL_HELP = "Database URL (postgresql://user@host:5432/db or sqlite:///file.db); default: ALPACA_DATABASE_URL."


def _target(url: str | None) -> tuple[str, str]:
    """The database URL (``--url`` or ``ALPACA_DATABASE_URL``) and how it may be shown (no
    password); a URL of an unsupported kind is bad input (exit 2)."""
    from alpaca_integration.errors import StorageError
    from alpaca_integration.monitor.schema import database_display

    if not url:
        from alpaca_integration.config import load_settings

        url = load_settings().database_url
    try:
        return url, database_display(url)
    except StorageError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def _check_revision(revision: str) -> None:
    """A revision this version knows (or head/base, or a relative step such as -1), else bad
    input naming the known ones."""
    from alpaca_integration.monitor.schema import known_revisions

    known = known_revisions()
    relative = revision[:1] in ("+", "-") and revision[1:].isdigit()
    if not relative and revision not in {"head", "base", *known}:
        listed = ", ".join(sorted(known))
        raise bad_input(
            "--revision", f"unknown revision {revision!r}. Known revisions: {listed} (or head/base)"
        )


@db_app.command("upgrade")
def upgrade_command(
    url: str | None = typer.Option(None, "--url", help=_URL_HELP),
    revision: str = typer.Option("head", "--revision", help="Target revision (default: newest)."),
) -> None:
    """Create or update the store's tables (safe to run again; concurrent runs wait)."""
    from alpaca_integration.monitor import schema

    database_url, display = _target(url)
    _check_revision(revision)
    before = asyncio.run(schema.current_revision(database_url))
    after = asyncio.run(schema.upgrade_schema(database_url, revision))
    if before == after:
        typer.echo(f"{display}: already at revision {after}")
    else:
        typer.echo(f"{display}: upgraded from {before or 'an empty schema'} to {after}")


@db_app.command("current")
def current_command(
    url: str | None = typer.Option(None, "--url", help=_URL_HELP),
) -> None:
    """Show the database's schema revision and whether it is up to date."""
    from alpaca_integration.monitor import schema

    database_url, display = _target(url)
    current = asyncio.run(schema.current_revision(database_url))
    head = schema.newest_revision()
    if current is None:
        typer.echo(f"{display}: no schema yet (newest is {head}); run `alpacactl db upgrade`")
    elif current == head:
        typer.echo(f"{display}: at revision {current} (up to date)")
    else:
        typer.echo(
            f"{display}: at revision {current}; newest is {head}: run `alpacactl db upgrade`"
        )


@db_app.command("downgrade")
def downgrade_command(
    revision: str = typer.Argument(
        ..., help="Target revision; 'base' drops every table of the store (and its data)."
    ),
    url: str | None = typer.Option(None, "--url", help=_URL_HELP),
    yes: bool = typer.Option(False, "--yes", help="Confirm: a downgrade deletes data."),
) -> None:
    """Take the schema back to REVISION (destructive: needs --yes)."""
    from alpaca_integration.monitor import schema

    database_url, display = _target(url)
    _check_revision(revision)
    if not yes:
        raise fail(
            f"a downgrade of {display} to {revision} drops tables and their data; "
            "add --yes to confirm",
            EXIT_USAGE,
        )
    before = asyncio.run(schema.current_revision(database_url))
    after = asyncio.run(schema.downgrade_schema(database_url, revision))
    typer.echo(f"{display}: downgraded from {before or 'an empty schema'} to {after or 'base'}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.add_typer(db_app, name="db")
