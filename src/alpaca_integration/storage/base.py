"""The store's shell: opening, closing, connections, the account lock and error translation.

``StoreBase`` is what every part of ``Store`` stands on (the write path, the reads, the result
rows are mixins of it, see ``storage.store``): the engine and the parsed URL, read and write
transactions that turn driver errors into ``StorageError`` (password masked), the bulk-statement
cache and the account row lock writers queue on. The small input guards every method uses
(``check_account``; ``aware``, from ``dialect``) live here too.

Imports ``models``, ``errors`` and the ``storage`` modules it names; never the client, the cache,
the sync engine, the CLI or Prefect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypedDict, TypeVar, Unpack

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alpaca_integration._closing import AsyncClosing
from alpaca_integration.errors import StorageError
from alpaca_integration.models import INTEGRATION_PREFIX
from alpaca_integration.storage import migrate as migrations
from alpaca_integration.storage import rules
from alpaca_integration.storage.bulk import (
    BulkInsert,
    DeferredInserts,
    bulk_insert,
)
from alpaca_integration.storage.dialect import (
    SQLITE,
    WRITE_TRANSACTION,
    DatabaseURL,
    amount_order,
    aware,
    create_engine,
    parse_database_url,
    upsert,
)
from alpaca_integration.storage.tables import accounts, activities

__all__ = [
    "AccountState",
    "StoreBase",
    "TimeWindow",
    "aware",
    "between",
    "by_time",
    "check_account",
    "chunks",
    "fee_activities",
    "fee_rows",
    "limited",
    "reason",
    "rows_of",
    "utcnow",
]

_CHUNK = 500
# Rows per bulk statement: bounded so one huge apply never builds one huge statement.
_BULK_ROWS = 5000
# Up to this many rows, a bulk write on PostgreSQL passes its rows as arrays to one statement
# rather than COPY into a staging table: the staging path's fixed cost (CREATE TEMP TABLE IF NOT
# EXISTS, the COPY's own round trips) dominates a stream event's few rows.
_SMALL_BATCH = 100
_CANCELED = "canceled"
_T = TypeVar("_T")
_Query = TypeVar("_Query", bound=sa.Select[Any])

# The account row as locked by a writer: its snapshot_at and positions_at (how new the stored
# state is) and, when asked, has_fees. Updated in place as the transaction moves them.
AccountState = dict[str, Any]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    """``items`` in slices of ``size``: IN lists stay well below every driver's parameter cap."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_account(account: object) -> str:
    if not isinstance(account, str) or not account.strip():
        raise StorageError(
            f"account must be the configured account name (e.g. 'default'), got {account!r}"
        )
    return account


def between(
    query: _Query, column: Any, since: dt.datetime | None, until: dt.datetime | None
) -> _Query:
    """``query`` narrowed to ``since <= column < until`` (either bound may be None)."""
    if since is not None:
        query = query.where(column >= aware(since, "since"))
    if until is not None:
        query = query.where(column < aware(until, "until"))
    return query


def limited(query: _Query, limit: int | None) -> _Query:
    return query if limit is None else query.limit(limit)


def rows_of(table: sa.Table, account: object, **equal: object) -> sa.Select[Any]:
    """``table``'s rows of ``account`` (checked), narrowed to ``column == value`` for each
    keyword of ``equal`` whose value is not None."""
    query = sa.select(table).where(table.c.account == check_account(account))
    for name, value in equal.items():
        if value is not None:
            query = query.where(table.c[name] == value)
    return query


class TimeWindow(TypedDict, total=False):
    """Which rows of a time series: ``since`` inclusive, ``until`` exclusive, at most ``limit``,
    oldest first unless ``newest_first``."""

    since: dt.datetime | None
    until: dt.datetime | None
    limit: int | None
    newest_first: bool


def by_time(query: _Query, column: Any, **window: Unpack[TimeWindow]) -> _Query:
    """``query`` narrowed to ``since <= column < until``, ordered by ``column`` (oldest first
    unless ``newest_first``), at most ``limit`` rows."""
    query = between(query, column, window.get("since"), window.get("until"))
    order = column.desc() if window.get("newest_first", False) else column
    return limited(query.order_by(order), window.get("limit"))


def reason(exc: BaseException) -> str:
    """The database's first line of explanation (never the statement's parameters)."""
    original = exc.orig if isinstance(exc, StatementError) else None
    text = str(original if original is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def fee_activities(account: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    """The account's FEE activities tied to an execution, whatever their status (``account``: a
    name, or a bind parameter that names it at execution)."""
    return sa.and_(
        activities.c.account == account,
        sa.func.upper(activities.c.activity_type) == "FEE",
        activities.c.order_id.isnot(None),
        activities.c.transaction_time.isnot(None),
        activities.c.net_amount.isnot(None),
    )


def fee_rows(account: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    """The account's FEE activities that count towards an execution's fee."""
    return sa.and_(
        fee_activities(account),
        sa.func.lower(sa.func.coalesce(activities.c.status, "")) != _CANCELED,
    )


def _lock_statement(probe_fees: bool) -> sa.Select[Any]:
    """``StoreBase._lock_account``'s statement, the account a bind parameter (``account``)."""
    account = sa.bindparam("account", type_=accounts.c.account.type)
    columns: list[Any] = [accounts.c.snapshot_at, accounts.c.positions_at]
    if probe_fees:
        fees = sa.select(sa.literal(1)).where(fee_rows(account))
        columns.append(sa.exists(fees).label("has_fees"))
    return sa.select(*columns).where(accounts.c.account == account).with_for_update()


# Built once: a statement object SQLAlchemy has seen keeps its cache key (computing it walks
# the whole statement, about as long as the lock's round trip), so each execution goes
# straight to the compiled form in the engine's cache.
_LOCKS = {probe_fees: _lock_statement(probe_fees) for probe_fees in (False, True)}


def _check_sqlite_directory(database: DatabaseURL) -> None:
    path = Path(database.url.database or "")
    parent = path.expanduser().resolve().parent
    if not parent.is_dir():
        raise StorageError(
            f"cannot create the SQLite database {path}: the directory {parent} does not exist. "
            "Create it, or point ALPACA_DATABASE_URL at sqlite:///<existing dir>/file.db"
        )


class StoreBase(AsyncClosing):
    """The engine, the URL and the transactions every part of ``Store`` shares."""

    def __init__(
        self,
        engine: AsyncEngine,
        database: DatabaseURL,
        *,
        data_source: str = "alpaca",
        integration_prefix: str = INTEGRATION_PREFIX,
    ) -> None:
        self._engine = engine
        self._database = database
        self.data_source = data_source
        self.integration_prefix = integration_prefix
        self._statements: dict[tuple[str, bool, bool], tuple[BulkInsert, Any]] = {}
        # name -> the COPY of new rows into that table (``_copy_new``).
        self._copiers: dict[str, BulkInsert] = {}

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = False,
        data_source: str = "alpaca",
        integration_prefix: str = INTEGRATION_PREFIX,
    ) -> Self:
        """Connect to ``url`` (``postgresql://...`` or ``sqlite:///...``) and check the schema.

        SQLite is brought up to date automatically. PostgreSQL is migrated only when ``migrate``
        is true; otherwise an out-of-date database raises ``StorageError`` telling the user to run
        ``alpacactl db upgrade``.
        """
        database = parse_database_url(url)
        if database.dialect == SQLITE and not database.is_memory:
            _check_sqlite_directory(database)
        store = cls(
            create_engine(database),
            database,
            data_source=data_source,
            integration_prefix=integration_prefix,
        )
        try:
            await store._prepare_schema(migrate=migrate or database.dialect == SQLITE)
        except BaseException:
            await store.aclose()
            raise
        return store

    async def _prepare_schema(self, *, migrate: bool) -> None:
        head = migrations.head_revision()
        if migrate:
            await migrations.upgrade(self._engine)
            return
        current = await migrations.current_revision(self._engine)
        if current == head:
            return
        display = self._database.display
        if current is None:
            raise StorageError(
                f"the database at {display} has no alpaca-integration tables yet: run "
                "`alpacactl db upgrade` (or open the store with migrate=True)"
            )
        if current not in migrations.known_revisions():
            raise StorageError(
                f"the database at {display} is at schema revision {current}, which this version "
                f"of alpaca-integration does not know (its newest is {head}): upgrade the package"
            )
        raise StorageError(
            f"the database at {display} is at schema revision {current} but this version needs "
            f"{head}: run `alpacactl db upgrade` (or open the store with migrate=True)"
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    async def close(self) -> None:
        """Same as ``aclose``."""
        await self.aclose()

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine, for read-only SQL over the tables (``storage.tables``)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self._database.dialect

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return self._database.display

    def __repr__(self) -> str:
        return f"Store({self._database.display!r})"

    # ------------------------------------------------------------------ plumbing

    def _error(self, what: str, exc: BaseException) -> StorageError:
        if isinstance(exc, OSError):
            return StorageError(
                f"cannot reach the database at {self._database.display} to {what}: {exc}. Check "
                "ALPACA_DATABASE_URL and that the server is running"
            )
        return StorageError(f"could not {what} in {self._database.display}: {reason(exc)}")

    @contextlib.asynccontextmanager
    async def _write(self, what: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.connect() as connection:
                connection = await connection.execution_options(**{WRITE_TRANSACTION: True})
                async with connection.begin():
                    yield connection
        except StorageError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise self._error(what, exc) from exc

    @contextlib.asynccontextmanager
    async def _read(self, what: str) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.connect() as connection:
                yield connection
        except StorageError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise self._error(what, exc) from exc

    async def _list_by_time(
        self,
        what: str,
        table: sa.Table,
        time_column: str,
        account: str,
        decode: Callable[[Mapping[Any, Any]], _T],
        window: TimeWindow,
    ) -> list[_T]:
        """The account's rows of ``table`` in ``window`` of its ``time_column``, decoded."""
        query = by_time(rows_of(table, account), table.c[time_column], **window)
        async with self._read(what) as connection:
            result = await connection.execute(query)
            return [decode(row) for row in result.mappings().all()]

    async def _insert_all(self, what: str, table: sa.Table, rows: list[dict[str, Any]]) -> int:
        """Insert ``rows`` into ``table`` in one transaction; returns how many."""
        if not rows:
            return 0
        async with self._write(what) as connection:
            await connection.execute(sa.insert(table), rows)
        return len(rows)

    def _amount_order(self, expression: Any) -> Any:
        return amount_order(self.dialect, expression)

    def _upsert(self, table: sa.Table) -> Any:
        return upsert(self.dialect, table)

    async def _bulk(
        self,
        connection: AsyncConnection,
        name: str,
        table: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        build: Callable[[BulkInsert], Any],
        *,
        mappings: bool = False,
        later: DeferredInserts | None = None,
        on_rows: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> list[Any]:
        """Run the bulk statement ``build`` makes (built once per store) over ``rows``; returns
        the RETURNING rows, if any (``mappings``: decoded, by column name, ``BulkInsert.run``).
        ``later``: a small batch's statement (PostgreSQL's unnest form) is added to it instead,
        under ``name``, and runs with its other parts (``DeferredInserts``); returns nothing,
        and its RETURNING rows, decoded by column name, go to ``on_rows`` when it has run (if
        given; one part of ``later`` at most; run now, they go there too)."""
        if not rows:
            return []
        # A page of the sync takes the staged (COPY) path on PostgreSQL; an event's handful of
        # rows one statement with one array per column, unnested by the upsert itself (the same
        # statement for every row count: one round trip, one prepared statement). SQLite: the
        # multi-row VALUES, rendered per power-of-two row count for a few rows.
        staged = len(rows) > _SMALL_BATCH
        unnest = not staged and self.dialect == "postgresql"
        key = (name, staged, unnest)
        cached = self._statements.get(key)
        if cached is None:
            bulk = bulk_insert(self.dialect, table, staged=staged or unnest, unnest=unnest)
            cached = self._statements[key] = (bulk, build(bulk))
        bulk, statement = cached
        if later is not None and unnest:
            kept = None if on_rows is None else (bulk, on_rows)
            later.add(name, *bulk.unnested(connection, statement, rows), rows=kept)
            return []
        returned = await bulk.run(
            connection, statement, rows, chunk=_BULK_ROWS, mappings=mappings or on_rows is not None
        )
        if on_rows is not None:
            on_rows(returned)
        return returned

    def _copies_new_rows(self, rows: Sequence[Any]) -> bool:
        """Whether a bulk write of ``rows`` COPYs the rows whose keys the table does not hold
        straight into it (``_copy_new``) rather than through the staged upsert: a page of the sync
        on PostgreSQL. Its caller first reads which keys are stored (under the account's lock)."""
        return self.dialect == "postgresql" and len(rows) > _SMALL_BATCH

    async def _copy_new(
        self,
        connection: AsyncConnection,
        name: str,
        table: sa.Table,
        rows: Sequence[Mapping[str, Any]],
    ) -> None:
        """COPY ``rows``, whose keys ``table`` does not hold, straight into it: on a new key the
        upsert inserts the row as it is, so this writes the same rows without staging them and
        without the ``INSERT .. SELECT`` (PostgreSQL; ``_copies_new_rows``)."""
        if not rows:
            return
        bulk = self._copiers.get(name)
        if bulk is None:
            bulk = self._copiers[name] = bulk_insert(self.dialect, table)
        for start in range(0, len(rows), _BULK_ROWS):
            await bulk.copy(connection, rows[start : start + _BULK_ROWS])

    async def _lock_account(
        self,
        connection: AsyncConnection,
        account: str,
        now: dt.datetime,
        *,
        probe_fees: bool = False,
    ) -> AccountState:
        """Lock the account's row (creating it the first time): writers of one account queue
        here. ``probe_fees`` also asks, in the same round trip, whether the account has any FEE
        activity stored (``has_fees``)."""
        locked = _LOCKS[probe_fees]
        parameters = {"account": account}
        row = (await connection.execute(locked, parameters)).mappings().first()
        if row is None:
            await connection.execute(
                rules.on_conflict(rules.ACCOUNTS, self._upsert(accounts), self.dialect),
                {"account": account, "data_source": self.data_source, "ingested_at": now},
            )
            row = (await connection.execute(locked, parameters)).mappings().one()
        return dict(row)
