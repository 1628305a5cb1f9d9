"""Everything that differs between PostgreSQL and SQLite, in one place.

* **URLs**: users write ``postgresql://user@host:5432/db`` or ``sqlite:///path.db``; this module
  picks the async driver (asyncpg / aiosqlite) and never shows a password in a message.
* **Engines**: pool settings, JSON encoding (msgspec: decimals as strings), and for SQLite the
  pragmas (WAL, foreign keys, busy timeout) and explicit ``BEGIN`` so transactions, savepoints
  and DDL behave as on PostgreSQL (pysqlite's implicit transactions do not).
* **Column types**: ``Amount`` (NUMERIC(38, 18) on PostgreSQL; canonical decimal text on SQLite,
  which has no exact decimal type), ``UTCDateTime`` (timestamptz; UTC text on SQLite, always read
  back timezone-aware), ``JsonDocument`` (JSONB / JSON text), ``RowId`` (BIGINT / INTEGER rowid).
* **SQL**: the dialect's ``INSERT .. ON CONFLICT`` construct, numeric comparison of ``Amount``
  columns, and the migration lock.

Imports only ``errors`` from the package (no models, no repository).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from alpaca_integration.errors import StorageError

__all__ = [
    "AMOUNT_PRECISION",
    "AMOUNT_SCALE",
    "POSTGRESQL",
    "SQLITE",
    "WRITE_TRANSACTION",
    "Amount",
    "DatabaseURL",
    "JsonDocument",
    "RowId",
    "UTCDateTime",
    "as_number",
    "canonical_decimal",
    "create_engine",
    "json_dumps",
    "json_loads",
    "migration_lock",
    "parse_database_url",
    "upsert",
]

log = logging.getLogger(__name__)

POSTGRESQL = "postgresql"
SQLITE = "sqlite"

# 20 integer digits and 18 decimals: share quantities with 9 decimals, crypto prices with 12,
# ratios such as unrealized_plpc with 16, and balances far beyond any account.
AMOUNT_PRECISION = 38
AMOUNT_SCALE = 18
_QUANTUM = Decimal(1).scaleb(-AMOUNT_SCALE)

# Execution option a write transaction sets: on SQLite it begins with BEGIN IMMEDIATE, so two
# writers queue on the busy timeout instead of failing when one upgrades a read lock.
WRITE_TRANSACTION = "alpaca_write"

_URL_HELP = "use postgresql://user@host:5432/dbname or sqlite:///path/to/file.db"


# --------------------------------------------------------------------------- URLs


@dataclass(frozen=True)
class DatabaseURL:
    """A user's database URL resolved to its async driver."""

    url: URL
    dialect: str

    @property
    def display(self) -> str:
        """The URL with any password masked: the only form that goes into logs and errors."""
        return self.url.set(drivername=self.dialect).render_as_string(hide_password=True)

    @property
    def is_memory(self) -> bool:
        return self.dialect == SQLITE and self.url.database in (None, "", ":memory:")


def parse_database_url(url: str | URL) -> DatabaseURL:
    """``postgresql://...`` -> asyncpg, ``sqlite:///...`` -> aiosqlite. Anything else is a
    ``StorageError`` saying which URLs work."""
    if isinstance(url, str):
        text = url.strip()
        if not text:
            raise StorageError(f"the database URL is empty: {_URL_HELP}")
        try:
            parsed = make_url(text)
        except ArgumentError:
            # make_url's message echoes the URL, password included.
            raise StorageError(f"that is not a database URL: {_URL_HELP}") from None
    else:
        parsed = url
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "asyncpg", "psycopg", "psycopg2"):
            raise StorageError(
                f"unsupported PostgreSQL driver {driver!r}: write the URL as postgresql://... and "
                "the store uses asyncpg"
            )
        query = dict(parsed.query)
        # libpq's sslmode has no asyncpg equivalent name; asyncpg takes the same values as ssl.
        if "sslmode" in query:
            query["ssl"] = query.pop("sslmode")
        return DatabaseURL(
            parsed.set(drivername="postgresql+asyncpg", query=query), dialect=POSTGRESQL
        )
    if backend == SQLITE:
        if driver not in ("", "aiosqlite", "pysqlite"):
            raise StorageError(
                f"unsupported SQLite driver {driver!r}: write the URL as sqlite:///path.db"
            )
        return DatabaseURL(parsed.set(drivername="sqlite+aiosqlite"), dialect=SQLITE)
    raise StorageError(f"unsupported database {backend!r}: {_URL_HELP}")


# --------------------------------------------------------------------------- JSON


def _json_default(value: Any) -> Any:
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON column")


_encoder = msgspec.json.Encoder(enc_hook=_json_default, decimal_format="string")


def json_dumps(value: Any) -> str:
    """JSON text for a JSON column: decimals as strings, datetimes as RFC 3339."""
    return _encoder.encode(value).decode()


def json_loads(text: str | bytes) -> Any:
    return msgspec.json.decode(text)


# --------------------------------------------------------------------------- engines


def create_engine(database: DatabaseURL) -> AsyncEngine:
    """An async engine for ``database`` with this project's settings for its dialect."""
    common: dict[str, Any] = {
        "json_serializer": json_dumps,
        "json_deserializer": json_loads,
        # Statement parameters stay out of exception messages (and so out of logs).
        "hide_parameters": True,
    }
    if database.dialect == POSTGRESQL:
        return create_async_engine(
            database.url,
            pool_size=5,
            max_overflow=10,
            pool_pre_ping=True,
            connect_args={
                "timeout": 10,
                "server_settings": {"application_name": "alpaca-integration", "timezone": "UTC"},
            },
            **common,
        )
    if database.is_memory:
        # One shared connection, or every checkout would see its own empty database.
        engine = create_async_engine(
            database.url.set(database=":memory:"), poolclass=StaticPool, **common
        )
    else:
        engine = create_async_engine(database.url, connect_args={"timeout": 30}, **common)
    _configure_sqlite(engine, wal=not database.is_memory)
    return engine


def _configure_sqlite(engine: AsyncEngine, *, wal: bool) -> None:
    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: SQLAlchemy's "begin" hook below starts every transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_TRANSACTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def migration_lock(connection: AsyncConnection) -> None:
    """Serialise concurrent migrations of one database (PostgreSQL; SQLite's BEGIN IMMEDIATE
    already does)."""
    if connection.dialect.name == POSTGRESQL:
        # An arbitrary constant: the key every alpaca-integration migration takes.
        await connection.execute(sa.text("SELECT pg_advisory_xact_lock(7411900305)"))


# --------------------------------------------------------------------------- SQL constructs


def upsert(dialect_name: str, table: sa.Table) -> Any:
    """``INSERT INTO table`` with the dialect's ``ON CONFLICT`` methods (``.excluded``,
    ``on_conflict_do_update(index_elements=, set_=, where=)``, ``on_conflict_do_nothing``)."""
    if dialect_name == POSTGRESQL:
        return postgresql.insert(table)
    if dialect_name == SQLITE:
        return sqlite.insert(table)
    raise StorageError(f"unsupported database dialect {dialect_name!r}")


def as_number(dialect_name: str, expression: Any) -> Any:
    """An ``Amount`` expression that compares and sorts as a number (SQLite keeps the text)."""
    if dialect_name == SQLITE:
        return sa.cast(expression, sa.Float)
    return expression


# --------------------------------------------------------------------------- column types


def canonical_decimal(value: Decimal) -> Decimal:
    """The shortest exact form of ``value``: ``1.50`` -> ``1.5``, ``1E+2`` -> ``100``."""
    if not value.is_finite():
        raise StorageError(f"cannot store the non-finite amount {value}")
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return normal.quantize(Decimal(1))
    return normal


def _bound_decimal(raw: Any) -> Decimal:
    value = raw
    if not isinstance(value, Decimal):
        if isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)
        elif isinstance(value, str):
            try:
                value = Decimal(value)
            except InvalidOperation:
                raise StorageError(f"{value!r} is not a decimal amount") from None
        else:
            # A float has already lost the exact value the venue sent.
            raise StorageError(
                f"amounts must be Decimal, got {type(value).__name__} {value!r}; build models "
                "with Decimal('...') values"
            )
    if not value.is_finite():
        raise StorageError(f"cannot store the non-finite amount {value}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -AMOUNT_SCALE:
        # PostgreSQL would round silently; round here so both dialects store the same value.
        value = value.quantize(_QUANTUM, rounding=ROUND_HALF_UP)
    number: Decimal = value
    return number


class Amount(sa.types.TypeDecorator[Decimal]):
    """An exact decimal: money, prices, quantities (signed), ratios."""

    impl = sa.Numeric(AMOUNT_PRECISION, AMOUNT_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == SQLITE:
            # SQLite's NUMERIC affinity would turn '0.1' into a binary float.
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(AMOUNT_PRECISION, AMOUNT_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = _bound_decimal(value)
        if dialect.name == SQLITE:
            # Canonical text so equal amounts are equal strings (unique keys such as cum_qty).
            return format(canonical_decimal(number), "f")
        return number

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return canonical_decimal(value)
        return canonical_decimal(Decimal(str(value)))


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware UTC instant. Naive datetimes are refused: their zone is unknown."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise StorageError(f"expected a datetime, got {type(value).__name__} {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise StorageError(
                f"naive datetime {value.isoformat()} refused: pass a timezone-aware UTC datetime "
                "(e.g. datetime.now(datetime.UTC))"
            )
        value = value.astimezone(dt.UTC)
        if dialect.name == SQLITE:
            # Fixed-width UTC text: string order is time order.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        instant: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        if instant.tzinfo is None:
            return instant.replace(tzinfo=dt.UTC)
        return instant.astimezone(dt.UTC)


class JsonDocument(sa.types.TypeDecorator[Any]):
    """A JSON document (JSONB on PostgreSQL so it can be queried; JSON text on SQLite)."""

    impl = sa.JSON()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == POSTGRESQL:
            return dialect.type_descriptor(postgresql.JSONB())
        return dialect.type_descriptor(sa.JSON())


# Surrogate keys: BIGINT on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
RowId = sa.BigInteger().with_variant(sa.Integer(), SQLITE)
