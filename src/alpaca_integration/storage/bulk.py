"""Bulk writes: one INSERT of many rows, the fastest way each dialect offers.

PostgreSQL: binary COPY into a staging table then ``INSERT .. SELECT .. ON CONFLICT`` for pages,
rows unnested from one array per column for small batches, binary COPY straight into the table
for rows whose keys are not stored, and several small upserts sent as ONE statement
(``DeferredInserts``); SQLite: multi-row VALUES rendered in power-of-two pieces.

Split out of ``storage.dialect`` (which still answers these names); imports only ``errors`` and
``storage.dialect`` from the package.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from alpaca_integration.errors import StorageError
from alpaca_integration.storage.dialect import (
    POSTGRESQL,
    Amount,
    JsonDocument,
    UTCDateTime,
    _postgres_amount,
    _postgres_instant,
    json_dumps,
    upsert,
)

__all__ = ["RENDERED_ROWS", "BulkInsert", "DeferredInserts", "bulk_insert", "rendered_pieces"]


@dataclass(frozen=True)
class BulkInsert:
    """One INSERT of many rows into ``table``, the fastest way each dialect offers.

    PostgreSQL (staged): the rows are COPYed (binary) into a per-connection temporary staging
    table, then one ``INSERT .. SELECT .. FROM staging ON CONFLICT ..`` applies them: no
    statement grows with the row count and no per-row SQL is rendered. SQLite, and PostgreSQL
    unstaged (``stage`` empty): a multi-row ``VALUES`` (SQLAlchemy's insertmanyvalues). ``insert`` has the dialect's ON CONFLICT methods and ``.excluded``; build
    the final statement from it once and pass it to ``run``.
    """

    dialect: str
    table: sa.Table
    columns: tuple[str, ...]
    insert: Any
    stage: str = ""
    processors: tuple[Any, ...] = ()
    # PostgreSQL: the rows go as one array per column, unnested in the statement itself.
    unnest: bool = False
    # (id(statement), row count) -> the statement rendered once for that many rows.
    _rendered: dict[tuple[int, int], _RenderedInsert] = field(
        default_factory=dict, repr=False, compare=False
    )
    # id(statement) -> the unnest form of the statement (SQL, its constant parameters, the
    # statement itself, kept alive while its id is a key).
    _unnested: dict[int, tuple[str, tuple[Any, ...], Any]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # (returned column names, the driver's type codes) -> each column's result processor.
    _decoders: dict[tuple[tuple[str, ...], tuple[Any, ...]], list[Any]] = field(
        default_factory=dict, repr=False, compare=False
    )

    async def run(
        self,
        connection: AsyncConnection,
        statement: Any,
        rows: Sequence[Mapping[str, Any]],
        *,
        chunk: int = 5000,
        mappings: bool = False,
    ) -> list[Any]:
        """Apply ``statement`` (built from ``insert``) to ``rows``; the RETURNING rows, if any
        (``mappings``: as ``{column: value}`` with the values decoded by the table's column
        types, as a ``select`` of those columns reads them, whichever way the rows went)."""
        returned: list[Any] = []
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            driver_sql = True
            if self.unnest:
                result = await self._run_unnested(connection, statement, part)
            elif self.stage:
                await self._stage(connection, part, fresh=start == 0)
                result, driver_sql = await connection.execute(statement), False
            elif len(part) <= RENDERED_ROWS:
                for piece in rendered_pieces(part):
                    result = await self._run_rendered(connection, statement, piece)
                    if result.returns_rows:
                        returned.extend(self._returned(connection, result, mappings, True))
                continue
            else:
                result, driver_sql = await connection.execute(statement, list(part)), False
            if result.returns_rows:
                returned.extend(self._returned(connection, result, mappings, driver_sql))
        return returned

    def _returned(
        self, connection: AsyncConnection, result: Any, mappings: bool, driver_sql: bool
    ) -> list[Any]:
        if not mappings:
            return list(result.all())
        if not driver_sql:
            return [dict(row) for row in result.mappings().all()]
        codes = tuple(entry[1] for entry in result.cursor.description)
        return self.decoded(connection, tuple(result.keys()), codes, result.all())

    def decoded(
        self,
        connection: AsyncConnection,
        names: tuple[str, ...],
        codes: tuple[Any, ...],
        rows: Sequence[Sequence[Any]],
    ) -> list[dict[str, Any]]:
        """Driver rows of this table's columns ``names`` as ``{column: value}``: as the driver
        gives them, so each column is decoded by its type here, with the driver's type code for
        it (``codes``; as SQLAlchemy does for a statement it compiled)."""
        dialect = connection.dialect
        processors = self._decoders.get((names, codes))
        if processors is None:
            processors = self._decoders[(names, codes)] = [
                self.table.c[name].type.dialect_impl(dialect).result_processor(dialect, code)
                for name, code in zip(names, codes, strict=True)
            ]
        return [
            {
                name: value if process is None else process(value)
                for name, value, process in zip(names, row, processors, strict=True)
            }
            for row in rows
        ]

    async def _run_rendered(
        self, connection: AsyncConnection, statement: Any, rows: Sequence[Mapping[str, Any]]
    ) -> Any:
        # SQLAlchemy never caches the compiled form of an INSERT .. ON CONFLICT (the dialects'
        # Insert constructs have no cache key), so executing the statement would compile it on
        # every call: about a millisecond for the orders upsert, more than its round trip. It is
        # rendered here once per row count instead, and sent as driver SQL with its values
        # passed through the columns' own bind processors.
        key = (id(statement), len(rows))
        rendered = self._rendered.get(key)
        if rendered is None:
            rendered = self._rendered[key] = _render_insert(
                connection.dialect, self.table, self.columns, statement, len(rows)
            )
        return await connection.exec_driver_sql(rendered.sql, rendered.parameters(rows))

    async def _run_unnested(
        self, connection: AsyncConnection, statement: Any, rows: Sequence[Mapping[str, Any]]
    ) -> Any:
        return await connection.exec_driver_sql(*self.unnested(connection, statement, rows))

    def unnested(
        self, connection: AsyncConnection, statement: Any, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[str, tuple[Any, ...]]:
        """The unnest form (``unnest=True``) of ``statement`` over ``rows``: its SQL and its
        positional parameters."""
        # One statement for every row count (so one prepared statement, one round trip): the
        # staged form with its staging table replaced by ``unnest`` of one array per column.
        unnested = self._unnested.get(id(statement))
        if unnested is None:
            unnested = self._unnested[id(statement)] = (
                *_unnest_sql(connection.dialect, self.table, self.columns, self.stage, statement),
                statement,
            )
        sql, constants, _ = unnested
        arrays: list[list[Any]] = []
        for name, process in zip(self.columns, self.processors, strict=True):
            column = [row[name] for row in rows]
            arrays.append(column if process is None else [process(v) for v in column])
        return sql, (*constants, *arrays)

    async def copy(self, connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        """COPY ``rows`` (binary) straight into the table, no ``ON CONFLICT``: for rows whose keys
        the caller knows the table does not hold (PostgreSQL, a statement already run in the
        transaction). A unique key hit anyway raises ``IntegrityError``, as the upsert would."""
        await self._copy_records(connection, self.table.name, rows)

    async def _stage(
        self, connection: AsyncConnection, rows: Sequence[Mapping[str, Any]], *, fresh: bool
    ) -> None:
        # A statement through SQLAlchemy first: it opens the transaction the COPY must join.
        await connection.execute(
            sa.text(
                f'CREATE TEMP TABLE IF NOT EXISTS "{self.stage}" '
                f'(LIKE "{self.table.name}") ON COMMIT DELETE ROWS'
            )
        )
        if not fresh:
            await connection.execute(sa.text(f'TRUNCATE "{self.stage}"'))
        await self._copy_records(connection, self.stage, rows)

    async def _copy_records(
        self, connection: AsyncConnection, target: str, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        # Column by column (one list and one map per column), then zipped into records.
        values: list[Any] = []
        for name, process in zip(self.columns, self.processors, strict=True):
            column = [row[name] for row in rows]
            values.append(column if process is None else map(process, column))
        records = list(zip(*values, strict=True))
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        try:
            await driver.copy_records_to_table(target, records=records, columns=list(self.columns))
        except Exception as exc:  # the driver's own errors: nothing SQLAlchemy would wrap
            if str(getattr(exc, "sqlstate", "")).startswith("23"):
                # An integrity constraint (class 23): what the upsert's IntegrityError would be.
                raise IntegrityError(f"COPY {target}", None, exc) from exc
            what = "stage" if target == self.stage else "copy"
            raise StorageError(
                f"could not {what} rows for {self.table.name}: {type(exc).__name__}: {exc}"
            ) from exc


@dataclass
class DeferredInserts:
    """Bulk upserts in their unnest form (PostgreSQL), held back and then sent together as ONE
    statement (``run``): each a data-modifying ``WITH`` part of it, so several tables cost one
    round trip. The parts share one snapshot and cannot see each other's rows: only upserts of
    different tables that nothing in between reads belong here. ``counts``: after ``run``, by
    the name each part was added under, the rows its RETURNING gave (0 without RETURNING)."""

    parts: list[tuple[str, str, tuple[Any, ...]]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # The one part (by index) whose RETURNING rows come back: its table's BulkInsert (to decode
    # them) and who takes them, decoded, when the statement has run.
    kept: dict[int, tuple[BulkInsert, Callable[[list[dict[str, Any]]], None]]] = field(
        default_factory=dict
    )

    def add(
        self,
        name: str,
        sql: str,
        parameters: tuple[Any, ...],
        *,
        rows: tuple[BulkInsert, Callable[[list[dict[str, Any]]], None]] | None = None,
    ) -> None:
        """Add a part; ``rows``: its RETURNING rows are wanted (one part at most), decoded by
        that ``BulkInsert``'s table and handed to the callable once ``run`` has run them."""
        if rows is not None:
            if self.kept:
                raise StorageError("only one deferred part can return its rows")
            self.kept[len(self.parts)] = rows
        self.parts.append((name, sql, parameters))

    async def run(self, connection: AsyncConnection) -> None:
        parts, self.parts = self.parts, []
        kept, self.kept = self.kept, {}
        if not parts:
            return
        if len(parts) == 1 and not kept:
            name, sql, parameters = parts[0]
            result = await connection.exec_driver_sql(sql, parameters)
            count = len(result.all()) if result.returns_rows else 0
            self.counts[name] = self.counts.get(name, 0) + count
            return
        index = next(iter(kept), None)
        sql, counted = _combined(
            tuple((sql, len(parameters)) for _, sql, parameters in parts), index
        )
        values: list[Any] = []
        for _, _, parameters in parts:
            values.extend(parameters)
        result = await connection.exec_driver_sql(sql, tuple(values))
        if index is None:
            row = result.one()
        else:
            # One row per returned row of the kept part (one of NULLs when it returned none),
            # each led by the counts and a marker.
            first = len(counted) + 1
            bulk, take = kept[index]
            columns = tuple(result.keys())[first:]
            codes = tuple(entry[1] for entry in result.cursor.description)[first:]
            rows = result.all()
            row = rows[0]
            returned = [r[first:] for r in rows if r[first - 1] is not None]
            take(bulk.decoded(connection, columns, codes, returned))
            # A part that returns rows counts them as well (as when it runs alone).
            self.counts[parts[index][0]] = self.counts.get(parts[index][0], 0) + len(returned)
        for part, count in zip(counted, row, strict=False):
            name = parts[part][0]
            self.counts[name] = self.counts.get(name, 0) + int(count)

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)


# (each part's SQL and parameter count, the part whose rows come back) -> the one statement and
# which parts it counts: the same few combinations come back with every batch, each rendered
# once.
_COMBINED: dict[tuple[tuple[tuple[str, int], ...], int | None], tuple[str, tuple[int, ...]]] = {}
_COMBINED_KEPT = 64


def _combined(
    parts: tuple[tuple[str, int], ...], kept: int | None = None
) -> tuple[str, tuple[int, ...]]:
    """``DeferredInserts.run``'s statement for ``parts`` (SQL, parameter count): each a
    ``WITH`` part, its parameters renumbered after those before it; and the indexes of the
    parts whose RETURNING rows it counts (its leading columns, in that order). ``kept``: the
    part whose rows it returns, after the counts and a marker (NULL: that part returned none)."""
    cached = _COMBINED.get((parts, kept))
    if cached is not None:
        return cached
    ctes: list[str] = []
    counted: list[int] = []
    offset = 0
    for index, (sql, count) in enumerate(parts):
        ctes.append(f"part{index} AS ({_shift_parameters(sql, offset)})")
        offset += count
        if index != kept and re.search(r"\bRETURNING\b", sql):
            counted.append(index)
    counts = [f"(SELECT count(*) FROM part{index}) AS count{index}" for index in counted]
    if kept is None:
        select = ", ".join(counts) or "1"
    else:
        select = (
            f"{''.join(c + ', ' for c in counts)}kept.* FROM (SELECT 1) AS one "
            f"LEFT JOIN (SELECT true AS kept_row, * FROM part{kept}) AS kept ON true"
        )
    if len(_COMBINED) >= _COMBINED_KEPT:
        _COMBINED.clear()
    cached = _COMBINED[(parts, kept)] = (
        f"WITH {', '.join(ctes)} SELECT {select}",
        tuple(counted),
    )
    return cached


def _shift_parameters(sql: str, offset: int) -> str:
    """``sql`` with its positional parameters ``$n`` renumbered ``$(n + offset)``."""

    def shifted(match: re.Match[str]) -> str:
        return f"${int(match.group(1)) + offset}"

    return re.sub(r"\$(\d+)(?=\D|$)", shifted, sql)


# Up to this many rows, an unstaged bulk statement is rendered once per row count and reused
# (beyond it, SQLAlchemy's insertmanyvalues batches the rows; SQLite caps a statement's
# parameters, which a few hundred rows of a wide table would exceed).
RENDERED_ROWS = 100


def rendered_pieces(rows: Sequence[Mapping[str, Any]]) -> list[Sequence[Mapping[str, Any]]]:
    """``rows`` cut into pieces of power-of-two sizes, largest first (13 rows: 8, 4, 1).

    Rendering a statement costs a few milliseconds per row (it is a compile), and the stream's
    batches come in every size from 1 to ``RENDERED_ROWS``: rendered per exact size, each new
    size paid its compile inside a live write (the latency's p99) and kept one more statement
    in memory. Powers of two bound both at 7 renders per statement, for at most 6 extra round
    trips on an odd-sized batch (none on a batch of one)."""
    pieces: list[Sequence[Mapping[str, Any]]] = []
    start, size = 0, 1 << max(0, len(rows).bit_length() - 1)
    while start < len(rows):
        while size > len(rows) - start:
            size >>= 1
        pieces.append(rows[start : start + size])
        start += size
    return pieces


@dataclass(frozen=True)
class _RenderedInsert:
    """A bulk statement compiled for a fixed number of rows, with how to fill its parameters."""

    sql: str
    # Per positional parameter: (row index, column name) or (-1, constant value).
    slots: tuple[tuple[int, Any], ...]
    processors: tuple[Any, ...]
    # The statement keeps its identity alive while it is a key of BulkInsert._rendered.
    statement: Any

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> tuple[Any, ...]:
        values: list[Any] = []
        for (index, name), process in zip(self.slots, self.processors, strict=True):
            value = name if index < 0 else rows[index][name]
            values.append(value if process is None else process(value))
        return tuple(values)


def _render_insert(
    dialect: Dialect, table: sa.Table, columns: Sequence[str], statement: Any, count: int
) -> _RenderedInsert:
    names = {f"r{index}_{name}": (index, name) for index in range(count) for name in columns}
    multi = statement.values(
        [
            {name: sa.bindparam(f"r{index}_{name}", type_=table.c[name].type) for name in columns}
            for index in range(count)
        ]
    )
    compiled = multi.compile(dialect=dialect)
    if compiled.positiontup is None:  # pragma: no cover - both drivers are positional
        raise StorageError(f"the {dialect.name} driver's parameter style is not positional")
    slots: list[tuple[int, Any]] = []
    processors: list[Any] = []
    for bind_name in compiled.positiontup:
        bind = compiled.binds[bind_name]
        slots.append(names.get(bind_name, (-1, bind.effective_value)))
        processors.append(bind.type.dialect_impl(dialect).bind_processor(dialect))
    return _RenderedInsert(compiled.string, tuple(slots), tuple(processors), statement)


def _unnest_sql(
    dialect: Dialect, table: sa.Table, columns: Sequence[str], stage: str, statement: Any
) -> tuple[str, tuple[Any, ...]]:
    """``statement`` (an INSERT .. SELECT from the staging table ``stage``) compiled, its staging
    table replaced by ``unnest($k::type[], ...) AS stage(columns)``; and the values of the
    statement's own parameters (constants of the ON CONFLICT clause), which come first."""
    compiled = statement.compile(dialect=dialect)
    constants = tuple(compiled.binds[name].effective_value for name in compiled.positiontup or ())
    first = len(constants) + 1
    arrays = ", ".join(
        f"${first + index}::{table.c[name].type.compile(dialect=dialect)}[]"
        for index, name in enumerate(columns)
    )
    source = f"FROM unnest({arrays}) AS {stage}({', '.join(columns)})"
    sql, found = re.subn(rf"FROM {re.escape(stage)}(?=\s|$)", lambda _: source, compiled.string)
    if found != 1:  # pragma: no cover - the staged statement selects from its table once
        raise StorageError(f"cannot build the unnest form of the {table.name} upsert")
    return sql, constants


def _processor(column_type: Any) -> Any:
    if isinstance(column_type, Amount):
        return _postgres_amount
    if isinstance(column_type, UTCDateTime):
        return _postgres_instant
    if isinstance(column_type, JsonDocument):
        return lambda value: None if value is None else json_dumps(value)
    return None


def bulk_insert(
    dialect_name: str, table: sa.Table, *, staged: bool = True, unnest: bool = False
) -> BulkInsert:
    """A ``BulkInsert`` of every column of ``table`` (except generated surrogate keys).

    ``staged=False`` gives the multi-row ``VALUES`` form on PostgreSQL too: the cheaper one for a
    handful of rows (one round trip, against the staging path's CREATE, COPY and INSERT).
    ``unnest=True`` (PostgreSQL): the staged statement with the rows passed as one array per
    column and unnested in place of the staging table: one statement for every row count, one
    round trip, nothing staged.
    """
    columns = [
        column
        for column in table.columns
        if not (column.primary_key and column.autoincrement is True)
    ]
    names = tuple(column.name for column in columns)
    if dialect_name != POSTGRESQL or not staged:
        return BulkInsert(dialect_name, table, names, upsert(dialect_name, table))
    # Named after the columns, so a connection that outlives a migration never COPYs into a
    # staging table of the old shape.
    digest = hashlib.sha256(",".join(names).encode()).hexdigest()[:8]
    stage = f"stage_{table.name}_{digest}"
    staging = sa.table(stage, *[sa.column(name) for name in names])
    statement = postgresql.insert(table).from_select(
        list(names), sa.select(*[staging.c[name] for name in names])
    )
    processors = tuple(_processor(column.type) for column in columns)
    return BulkInsert(dialect_name, table, names, statement, stage, processors, unnest)
