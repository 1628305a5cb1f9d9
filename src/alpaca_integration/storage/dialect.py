"""Everything that differs between PostgreSQL and SQLite, in one place.

* **URLs**: users write ``postgresql://user@host:5432/db`` or ``sqlite:///path.db``; this module
  picks the async driver (asyncpg / aiosqlite) and never shows a password in a message.
* **Engines**: pool settings, JSON encoding (msgspec: decimals as strings), and for SQLite the
  pragmas (WAL, foreign keys, busy timeout) and explicit ``BEGIN`` so transactions, savepoints
  and DDL behave as on PostgreSQL (pysqlite's implicit transactions do not).
* **Column types**: ``Amount`` (NUMERIC(38, 18) on PostgreSQL; canonical decimal text on SQLite,
  which has no exact decimal type), ``UTCDateTime`` (timestamptz; UTC text on SQLite, always read
  back timezone-aware), ``JsonDocument`` (JSONB / JSON text), ``RowId`` (BIGINT / INTEGER rowid).
* **SQL**: the dialect's ``INSERT .. ON CONFLICT`` construct (its bulk forms live in
  ``storage.bulk``), the exact order of ``Amount`` columns (a fixed-width text key on SQLite),
  and the migration lock.

Imports only ``errors`` from the package (no models, no repository).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
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
    "AMOUNT_INTEGER_DIGITS",
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
    "amount_bound",
    "amount_order",
    "aware",
    "canonical_decimal",
    "create_engine",
    "json_dumps",
    "json_loads",
    "migration_lock",
    "parse_database_url",
    "stored_amount",
    "upsert",
]

log = logging.getLogger(__name__)

# Moved to ``storage.bulk``; still answered here (``from ..dialect import BulkInsert`` works).
_MOVED = dict.fromkeys(
    ("RENDERED_ROWS", "BulkInsert", "DeferredInserts", "bulk_insert", "rendered_pieces"),
    "alpaca_integration.storage.bulk",
)


def __getattr__(name: str) -> Any:
    from alpaca_integration._lazy import lazy_attribute

    return lazy_attribute(__name__, _MOVED, name, globals())


POSTGRESQL = "postgresql"
SQLITE = "sqlite"

# 20 integer digits and 18 decimals: share quantities with 9 decimals, crypto prices with 12,
# ratios such as unrealized_plpc with 16, and balances far beyond any account.
AMOUNT_PRECISION = 38
AMOUNT_SCALE = 18
AMOUNT_INTEGER_DIGITS = AMOUNT_PRECISION - AMOUNT_SCALE
_QUANTUM = Decimal(1).scaleb(-AMOUNT_SCALE)
# Twice the digits any column holds: amount arithmetic here is exact (the default context rounds
# at 28 digits) and still traps anything absurd instead of rounding it.
_EXACT = Context(prec=2 * AMOUNT_PRECISION, rounding=ROUND_HALF_UP, traps=[InvalidOperation])

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
        engine = create_async_engine(
            database.url,
            pool_size=5,
            max_overflow=10,
            pool_pre_ping=True,
            connect_args={
                "timeout": 10,
                "server_settings": {
                    "application_name": "alpaca-integration",
                    "timezone": "UTC",
                    # asyncpg prepares every statement, and PostgreSQL's generic plan (chosen
                    # after five runs) does not know an account's size: it scans every fill of
                    # the account where the primary key's prefix finds a batch's few orders
                    # (13% of COPY in benchmarks/ingest.py). Plan each run for its values, set
                    # once per connection rather than by one more statement per transaction.
                    "plan_cache_mode": "force_custom_plan",
                },
            },
            **common,
        )
        _ping_in_one_round_trip(engine)
        return engine
    if database.is_memory:
        # One shared connection, or every checkout would see its own empty database.
        engine = create_async_engine(
            database.url.set(database=":memory:"), poolclass=StaticPool, **common
        )
    else:
        engine = create_async_engine(database.url, connect_args={"timeout": 30}, **common)
    _configure_sqlite(engine, wal=not database.is_memory)
    return engine


def _ping_in_one_round_trip(engine: AsyncEngine) -> None:
    """The pool's pre-ping (every checkout) is the BEGIN of the transaction the checkout is for:
    ONE round trip that a dead connection fails, and the checkout's first statement then sends
    no BEGIN of its own. SQLAlchemy's asyncpg adapter pings with three (BEGIN, an empty
    prepared query, ROLLBACK: kept for pgbouncer's transaction mode, which a transaction begun
    at checkout serves as well), and every transaction of the store starts with a checkout: the
    stream's batch paid three round trips more than it writes, then one with a ``SELECT 1``
    ping. A dead connection is still found, and reported as the adapter reports it, so the pool
    replaces it as before. A checkout that sends nothing then costs a ROLLBACK at check-in
    (the store has none); an autocommit connection (none either) is pinged with ``SELECT 1``.
    The driver's own calls on a checked-out connection (``get_raw_connection()``, e.g. a COPY)
    now run inside that transaction even before the first statement."""
    dialect = engine.sync_engine.dialect

    def do_ping(dbapi_connection: Any) -> bool:
        if getattr(dbapi_connection, "_transaction", None) is not None:  # pragma: no cover
            dbapi_connection.ping()  # never at a checkout: the pool rolled back at check-in
            return True
        if dbapi_connection.isolation_level == "autocommit":  # pragma: no cover
            try:
                dbapi_connection.await_(dbapi_connection.driver_connection.execute("SELECT 1"))
            except Exception as error:
                # Translated into the adapter's DBAPI errors, so the pool tells a disconnect.
                dbapi_connection._handle_exception(error)
            return True
        # The adapter's own BEGIN (translates a failure itself, and marks the transaction
        # started so the first statement does not begin another).
        dbapi_connection.await_(dbapi_connection._start_transaction())
        return True

    dialect.do_ping = do_ping  # type: ignore[method-assign]

    # ``postgresql_readonly`` / ``postgresql_deferrable`` apply at BEGIN, which the ping has
    # sent: the transaction begun there is rolled back first (as the adapter itself does for an
    # isolation level), so the next statement begins one that has them.
    for name in ("set_readonly", "set_deferrable"):
        setter = getattr(dialect, name)

        def restart_then_set(dbapi_connection: Any, value: bool, _set: Any = setter) -> None:
            if getattr(dbapi_connection, "_started", False):
                dbapi_connection.rollback()
            _set(dbapi_connection, value)

        setattr(dialect, name, restart_then_set)


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


def _sql_text(constant: str) -> Any:
    # A constant spelled into the SQL (digits, letters, signs only), not one more bound parameter.
    return sa.literal_column(f"'{constant}'", sa.Text())


def _sql_int(constant: int) -> Any:
    return sa.literal_column(str(constant), sa.Integer())


def amount_order(dialect_name: str, expression: Any) -> Any:
    """An ``Amount`` expression that orders exactly: use it for ``<``, ``>`` and ``ORDER BY``
    (equality needs none: equal amounts are equal, canonical, values on both databases).

    PostgreSQL: the NUMERIC itself. SQLite stores amounts as canonical decimal text (no exponent,
    no trailing zeros, ``-`` for a negative), and a CAST to REAL would compare only ~15
    significant digits; the key is a sign-aware text built from that text instead: a first
    character that orders by sign, then by the count of integer digits (``A``, ``B``, ... for 1,
    2, ... digits; for a negative amount ``;``, ``:``, ... which sort below them, more digits
    lower), then the text itself, or for a negative amount its digits spelled ``9..0 -> a..j``
    and ended by ``~``, so that a larger magnitude sorts lower. Two amounts with as many integer
    digits then compare digit by digit, exactly.
    """
    if dialect_name != SQLITE:
        return expression
    text = sa.type_coerce(expression, sa.Text())
    # 1-based position of the decimal point (one past the end without one): the sign included.
    point = sa.func.instr(text.concat(_sql_text(".")), _sql_text("."), type_=sa.Integer())
    magnitude_digits = sa.func.substr(text, _sql_int(2), type_=sa.Text())
    for digit in "0123456789":
        magnitude_digits = sa.func.replace(
            magnitude_digits,
            _sql_text(digit),
            _sql_text(chr(ord("j") - int(digit))),
            type_=sa.Text(),
        )
    negative = sa.func.substr(text, _sql_int(1), _sql_int(1)) == _sql_text("-")
    # Integer digits: point - 1, or point - 2 after a sign; prefixes 'A'.. and ';' downwards.
    return sa.case(
        (
            negative,
            sa.func.char(_sql_int(62) - point, type_=sa.Text())
            .concat(magnitude_digits)
            .concat(_sql_text("~")),
        ),
        else_=sa.func.char(_sql_int(63) + point, type_=sa.Text()).concat(text),
    )


def amount_bound(dialect_name: str, value: Decimal) -> Any:
    """A Python amount as a bound value that compares exactly with ``amount_order(column)``: on
    SQLite the same order key built from the value's canonical stored text."""
    if dialect_name != SQLITE:
        return sa.literal(value, type_=Amount())
    return amount_order(dialect_name, sa.literal(_sqlite_amount(value), type_=sa.Text()))


# --------------------------------------------------------------------------- column types


def canonical_decimal(value: Decimal) -> Decimal:
    """The shortest exact form of ``value``: ``1.50`` -> ``1.5``, ``1E+2`` -> ``100``.

    Exact for every amount a column holds (38 digits; the default decimal context would round
    past 28, e.g. a 12-digit price with 18 decimals)."""
    if not value.is_finite():
        raise StorageError(f"cannot store the non-finite amount {value}")
    normal = value.normalize(_EXACT)
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return normal.quantize(Decimal(1), context=_EXACT)
    return normal


def stored_amount(value: Decimal) -> Decimal:
    """``value`` as the store keeps it, on either database: rounded half away from zero past 18
    decimals, in its shortest exact form. More than 20 integer digits (after rounding) is a
    ``StorageError``, as NUMERIC(38, 18) refuses it on PostgreSQL."""
    if not value.is_finite():
        raise StorageError(f"cannot store the non-finite amount {value}")
    if value.adjusted() < AMOUNT_INTEGER_DIGITS:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -AMOUNT_SCALE:
            value = value.quantize(_QUANTUM, rounding=ROUND_HALF_UP, context=_EXACT)
        if value.adjusted() < AMOUNT_INTEGER_DIGITS:
            return canonical_decimal(value)
    raise StorageError(
        f"the amount {value} has more than {AMOUNT_INTEGER_DIGITS} integer digits: no column "
        f"holds it (NUMERIC({AMOUNT_PRECISION}, {AMOUNT_SCALE}))"
    )


def _bound_decimal(raw: Any) -> Decimal:
    """``raw`` as an exact Decimal, or a StorageError saying what to pass instead."""
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = Decimal(raw)
    elif isinstance(raw, str):
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise StorageError(f"{raw!r} is not a decimal amount") from None
    else:
        # A float has already lost the exact value the venue sent.
        raise StorageError(
            f"amounts must be Decimal, got {type(raw).__name__} {raw!r}; build models with "
            "Decimal('...') values"
        )
    if not value.is_finite():
        raise StorageError(f"cannot store the non-finite amount {value}")
    return value


def _postgres_amount(value: Any) -> Any:
    if value is None or (type(value) is Decimal and value.is_finite()):
        # NUMERIC(38, 18) rounds half away from zero beyond 18 decimals, and refuses more than 20
        # integer digits, as stored_amount does for SQLite.
        return value
    return _bound_decimal(value)


def _sqlite_amount(value: Any) -> Any:
    if value is None:
        return None
    number = value if type(value) is Decimal and value.is_finite() else _bound_decimal(value)
    # Canonical text (no exponent, no trailing zeros, "0" for any zero) so equal amounts are equal
    # strings, which the unique key (order_id, cum_qty) and the order key rely on.
    kept = stored_amount(number)
    return format(kept, "f") if kept else "0"


def _postgres_instant(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is dt.datetime and value.tzinfo is dt.UTC:
        return value
    return _utc_instant(value)


def _sqlite_instant(value: Any) -> Any:
    if value is None:
        return None
    # Fixed-width naive UTC text (SQLAlchemy's format): string order is time order.
    return _utc_instant(value).replace(tzinfo=None)


def aware(value: dt.datetime, what: str) -> dt.datetime:
    """``value`` when it is timezone-aware; else a ``StorageError`` naming ``what``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise StorageError(
            f"{what} {value.isoformat()} is naive: pass a timezone-aware UTC datetime "
            "(e.g. datetime.now(datetime.UTC))"
        )
    return value


def _utc_instant(value: Any) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise StorageError(f"expected a datetime, got {type(value).__name__} {value!r}")
    return aware(value, "datetime").astimezone(dt.UTC)


def _chain(outer: Any, inner: Any) -> Any:
    if inner is None:
        return outer

    def process(value: Any) -> Any:
        return inner(outer(value))

    return process


class Amount(sa.types.TypeDecorator[Decimal]):
    """An exact decimal: money, prices, quantities (signed), ratios."""

    impl = sa.Numeric(AMOUNT_PRECISION, AMOUNT_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == SQLITE:
            # SQLite's NUMERIC affinity would turn '0.1' into a binary float.
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(AMOUNT_PRECISION, AMOUNT_SCALE, asdecimal=True))

    def bind_processor(self, dialect: Dialect) -> Any:
        # Overridden (rather than process_bind_param) because this runs for every amount of
        # every bulk upsert: one plain call per value, the dialect chosen once. The impl's own
        # processor, if any, still runs after ours.
        outer = _sqlite_amount if dialect.name == SQLITE else _postgres_amount
        return _chain(outer, self.impl_instance.bind_processor(dialect))

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

    def bind_processor(self, dialect: Dialect) -> Any:
        # See Amount.bind_processor: the hot path of bulk upserts.
        outer = _sqlite_instant if dialect.name == SQLITE else _postgres_instant
        return _chain(outer, self.impl_instance.bind_processor(dialect))

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
