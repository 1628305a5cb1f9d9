"""The store: every read and write of broker state and correctness results (``Store``).

Writes are bulk upserts (one ``INSERT .. ON CONFLICT DO UPDATE .. WHERE newer`` per table and
page, see ``storage.dialect.BulkInsert``; ``RETURNING`` counts the rows really changed), so they
are

* **idempotent**: applying the same page or event twice changes nothing and reports 0 rows;
* **monotonic**: an older update never overwrites a newer one. Orders compare
  ``last_event_at`` (updated_at), then the status's progress (``models.order_status_rank``), then
  ``filled_qty``. Snapshots and positions compare their observation time.

``Store.apply`` is the one transactional entry point of the sync engine: orders (legs flattened),
fills, activities, an account snapshot, the full positions set and the checkpoints they cover are
written in ONE transaction, so a checkpoint never gets ahead of its rows.

Fills: one row per execution, identity ``(account, order_id, cum_qty)``. The stream's fill event
(execution_id) and REST's FILL activity (activity_id) of one execution merge into one row carrying
both ids; the REST activity's figures (its transaction_time above all) win when it arrives. A
fill's ``fee`` is the sum of the stored FEE activities with the same ``order_id`` and
``transaction_time`` (recomputed whenever either side arrives, so replays never double count);
without such activities it is what the fill carried.

The same code runs on PostgreSQL (asyncpg) and SQLite (aiosqlite); what differs lives in
``storage.dialect``. Errors from the database become ``StorageError`` (the URL's password masked).

Imports ``models``, ``errors`` and the ``storage`` modules; never the client, the cache, the sync
engine, the CLI or Prefect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alpaca_integration.errors import StorageError
from alpaca_integration.models import (
    INTEGRATION_PREFIX,
    TERMINAL_ORDER_STATUSES,
    AccountSnapshot,
    Activity,
    DataSource,
    Fill,
    Order,
    OrderSide,
    OrderStatus,
    Position,
    order_status_rank,
)
from alpaca_integration.storage import codec
from alpaca_integration.storage import migrate as migrations
from alpaca_integration.storage.dialect import (
    SQLITE,
    WRITE_TRANSACTION,
    BulkInsert,
    DatabaseURL,
    as_number,
    bulk_insert,
    canonical_decimal,
    create_engine,
    parse_database_url,
    upsert,
)
from alpaca_integration.storage.records import (
    ApplyResult,
    Checkpoint,
    ExposureLike,
    ExposureRecord,
    FillProgress,
    FindingLike,
    QualityResultLike,
    QualityResultRecord,
    QuarantineRecord,
    ReconciliationItemRecord,
    ReconciliationRunRecord,
    RiskBreachLike,
    RiskBreachRecord,
    StreamGapRecord,
)
from alpaca_integration.storage.tables import (
    account_snapshots,
    accounts,
    activities,
    exposure_snapshots,
    fills,
    orders,
    position_snapshots,
    positions,
    quality_results,
    quarantine,
    reconciliation_items,
    reconciliation_runs,
    risk_breaches,
    stream_gaps,
    sync_checkpoints,
)

__all__ = ["INTEGRATION_PREFIX", "Store"]

log = logging.getLogger(__name__)


_CHUNK = 500
# Rows per bulk statement: bounded so one huge apply never builds one huge statement.
_BULK_ROWS = 5000
# Up to this many rows, a bulk write on PostgreSQL is a plain multi-row INSERT .. VALUES rather
# than COPY into a staging table: the staging path's fixed cost (CREATE TEMP TABLE IF NOT EXISTS,
# the COPY's own round trips) dominates a stream event's few rows.
_SMALL_BATCH = 100
_TERMINAL = sorted(status.value for status in TERMINAL_ORDER_STATUSES)
_ZERO = Decimal(0)
# Order columns only some reports carry (a leg's own stream events name no parent): once known
# they are kept, and any report that has them fills them in.
_ORDER_LINEAGE = ("parent_id", "replaces", "replaced_by")
_T = TypeVar("_T")

OrderFilter = Literal["all", "open", "closed"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _chunks(items: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_account(account: object) -> str:
    if not isinstance(account, str) or not account.strip():
        raise StorageError(
            f"account must be the configured account name (e.g. 'default'), got {account!r}"
        )
    return account


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise StorageError(
            f"{what} {value.isoformat()} is naive: pass a timezone-aware UTC datetime"
        )
    return value


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _order_progress(order: Order) -> tuple[dt.datetime, int, Decimal]:
    return order.last_event_at, order_status_rank(order.status), order.filled_qty


def _fill_key(order_id: str, cum_qty: Decimal) -> tuple[str, Decimal]:
    return order_id, canonical_decimal(cum_qty)


def _merge_fill_rows(existing: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """Two reports of one execution -> one row (the rules of the SQL merge, in Python)."""
    merged = dict(existing)
    rest_wins = existing["activity_id"] is None and incoming["activity_id"] is not None
    if rest_wins:
        for name in ("symbol", "side", "qty", "price", "timestamp", "fill_type"):
            merged[name] = incoming[name]
        if incoming["leaves_qty"] is not None:
            merged["leaves_qty"] = incoming["leaves_qty"]
    for name in (
        "execution_id",
        "activity_id",
        "client_order_id",
        "leaves_qty",
        "position_qty",
        "raw_stream",
        "raw_rest",
    ):
        if merged[name] is None:
            merged[name] = incoming[name]
    if merged["fee"] == 0:
        merged["fee"] = incoming["fee"]
    merged["fill_id"] = merged["execution_id"] or merged["activity_id"] or merged["fill_id"]
    return merged


_CANCELED = "canceled"


def _fee_activities(account: str) -> Any:
    """The account's FEE activities tied to an execution, whatever their status."""
    return sa.and_(
        activities.c.account == account,
        sa.func.upper(activities.c.activity_type) == "FEE",
        activities.c.order_id.isnot(None),
        activities.c.transaction_time.isnot(None),
        activities.c.net_amount.isnot(None),
    )


def _fee_rows(account: str) -> Any:
    """The account's FEE activities that count towards an execution's fee."""
    return sa.and_(
        _fee_activities(account),
        sa.func.lower(sa.func.coalesce(activities.c.status, "")) != _CANCELED,
    )


def _is_fee(activity_row: Mapping[str, Any]) -> bool:
    return str(activity_row["activity_type"]).upper() == "FEE"


def _merge_lineage(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    """Two reports of one order in one batch -> ``later``'s state with the lineage both know
    (the rules of the SQL upsert, in Python)."""
    merged = dict(later)
    for name in _ORDER_LINEAGE:
        if earlier[name] is not None:
            merged[name] = earlier[name]
    # The report that names the parent decides ownership (a leg belongs to its root).
    if earlier["parent_id"] is not None or later["parent_id"] is None:
        merged["external"] = earlier["external"]
    return merged


def _quarantine_key(record_key: str | None, raw: bytes) -> str:
    if record_key:
        return record_key
    # No key could be read: the payload's digest keeps distinct bad records apart and a replayed
    # one idempotent.
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class _Batch:
    """One ``apply`` call's rows, prepared in Python before the transaction starts."""

    def __init__(self) -> None:
        self.order_rows: dict[str, dict[str, Any]] = {}
        self.order_progress: dict[str, tuple[dt.datetime, int, Decimal]] = {}
        self.fill_rows: list[dict[str, Any]] = []
        self.activity_rows: list[dict[str, Any]] = []
        self.fee_keys: set[tuple[str, dt.datetime]] = set()
        self.snapshot_row: dict[str, Any] | None = None
        self.position_rows: list[dict[str, Any]] | None = None
        self.positions_at: dt.datetime | None = None
        # symbol -> (position row or None for a close, observed time)
        self.position_updates: dict[str, tuple[dict[str, Any] | None, dt.datetime]] = {}
        self.source = DataSource.REST.value
        self.quarantine_rows: list[dict[str, Any]] = []
        self.checkpoint_rows: list[dict[str, Any]] = []


class Store:
    """Broker state and correctness results in PostgreSQL or SQLite.

    Open with ``await Store.open(url)`` (SQLite is migrated on first use; PostgreSQL only with
    ``migrate=True`` or ``alpacactl db upgrade``); close with ``await store.aclose()`` or use
    ``async with``. Every method takes the configured account name first.
    """

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
        self._statements: dict[tuple[str, bool], tuple[BulkInsert, Any]] = {}

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = False,
        data_source: str = "alpaca",
        integration_prefix: str = INTEGRATION_PREFIX,
    ) -> Store:
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

    close = aclose

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *_exc: object) -> None:
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
        return StorageError(f"could not {what} in {self._database.display}: {_reason(exc)}")

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

    def _num(self, expression: Any) -> Any:
        return as_number(self.dialect, expression)

    def _upsert(self, table: sa.Table) -> Any:
        return upsert(self.dialect, table)

    async def _bulk(
        self,
        connection: AsyncConnection,
        name: str,
        table: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        build: Callable[[BulkInsert], Any],
    ) -> list[Any]:
        """Run the bulk statement ``build`` makes (built once per store) over ``rows``; returns
        the RETURNING rows, if any."""
        if not rows:
            return []
        # A page of the sync takes the staged (COPY) path; an event's handful of rows the plain
        # multi-row VALUES one, which costs one round trip instead of three.
        staged = len(rows) > _SMALL_BATCH
        key = (name, staged)
        cached = self._statements.get(key)
        if cached is None:
            bulk = bulk_insert(self.dialect, table, staged=staged)
            cached = self._statements[key] = (bulk, build(bulk))
        bulk, statement = cached
        return await bulk.run(connection, statement, rows, chunk=_BULK_ROWS)

    # ------------------------------------------------------------------ apply

    async def apply(
        self,
        account: str,
        *,
        orders: Iterable[Order] = (),
        fills: Iterable[Fill] = (),
        activities: Iterable[Activity] = (),
        snapshot: AccountSnapshot | None = None,
        positions: Iterable[Position] | None = None,
        positions_at: dt.datetime | None = None,
        position_updates: Mapping[str, Position | None] | None = None,
        position_updates_at: dt.datetime | Mapping[str, dt.datetime] | None = None,
        checkpoints: Mapping[str, str] | None = None,
        source: DataSource | str = DataSource.REST,
    ) -> ApplyResult:
        """Write everything one page or event brought, and the checkpoints it covers, in ONE
        transaction; returns the rows actually changed.

        ``orders``: legs (``Order.legs``) are stored as rows of their own with ``parent_id``.
        ``positions``: the account's FULL set of open positions as of ``positions_at`` (default:
        the newest ``observed_at`` among them, else the snapshot's); symbols missing from it are
        closed. ``None`` leaves positions alone. ``position_updates``: a PARTIAL set, ``{symbol:
        position, or None to close it}`` (e.g. what stream fills moved); symbols not in it are
        left alone. Each is monotonic like ``set_position``: skipped when the stored row, or the
        newest full set, is as new or newer. A position is dated by its ``observed_at``; a close
        by ``position_updates_at`` (one time, or ``{symbol: time}``; default: now). Applied after
        ``positions``; the symbols actually written are ``ApplyResult.position_symbols``.
        ``checkpoints``: ``{feed: value}`` (opaque text). ``source``: where the orders,
        activities, snapshot and positions came from (fills carry their own).
        """
        account = _check_account(account)
        try:
            source_value = DataSource(source).value
        except ValueError:
            raise StorageError(
                f"unknown source {source!r}: use one of {', '.join(s.value for s in DataSource)}"
            ) from None
        now = _utcnow()
        batch = self._prepare(
            account,
            orders=orders,
            fills=fills,
            activities=activities,
            snapshot=snapshot,
            positions=positions,
            positions_at=positions_at,
            checkpoints=checkpoints,
            source=source_value,
            now=now,
        )
        if position_updates:
            self._prepare_position_updates(
                batch, account, position_updates, position_updates_at, source_value, now
            )
        for careful in (False, True):
            try:
                async with self._engine.connect() as connection:
                    connection = await connection.execution_options(**{WRITE_TRANSACTION: True})
                    async with connection.begin():
                        return await self._apply_batch(
                            connection, account, batch, now=now, careful=careful
                        )
            except IntegrityError as exc:
                if careful:
                    raise self._error("apply the batch", exc) from exc
                # Another unique key than the one upserted on was hit (e.g. an execution_id
                # already stored under another cum_qty): redo with per-fill checks, which
                # quarantine the offending fills instead of failing the whole batch.
                log.warning(
                    "apply for %s hit %s; retrying with per-fill checks", account, _reason(exc)
                )
            except StorageError:
                raise
            except (SQLAlchemyError, OSError) as exc:
                raise self._error("apply the batch", exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _prepare(
        self,
        account: str,
        *,
        orders: Iterable[Order],
        fills: Iterable[Fill],
        activities: Iterable[Activity],
        snapshot: AccountSnapshot | None,
        positions: Iterable[Position] | None,
        positions_at: dt.datetime | None,
        checkpoints: Mapping[str, str] | None,
        source: str,
        now: dt.datetime,
    ) -> _Batch:
        batch = _Batch()
        data_source = self.data_source
        # Orders: newest version of each id wins inside the batch too.
        for root in orders:
            internal = root.client_order_id.startswith(self.integration_prefix)
            self._add_order(batch, root, None, internal, account, source, now)
        # Fills: one row per (order_id, cum_qty); an id claimed by two executions is quarantined.
        by_key: dict[tuple[str, Decimal], dict[str, Any]] = {}
        key_of_execution: dict[str, tuple[str, Decimal]] = {}
        key_of_activity: dict[str, tuple[str, Decimal]] = {}
        for fill in fills:
            if fill.cum_qty is None:
                self._quarantine_fill(
                    batch,
                    account,
                    fill,
                    now,
                    "fill has no cum_qty: the store identifies an execution by (order_id, "
                    "cum_qty); take it from order.filled_qty (stream) or cum_qty (FILL activity)",
                )
                continue
            row = codec.fill_row(fill, account=account, data_source=data_source, now=now)
            row["fill_id"] = fill.execution_id or fill.activity_id or fill.fill_id
            key = _fill_key(fill.order_id, fill.cum_qty)
            conflict = _id_conflict(fill, key, key_of_execution, key_of_activity)
            if conflict is not None:
                self._quarantine_fill(batch, account, fill, now, conflict)
                continue
            existing = by_key.get(key)
            merged = row if existing is None else _merge_fill_rows(existing, row)
            by_key[key] = merged
            if merged["execution_id"]:
                key_of_execution[merged["execution_id"]] = key
            if merged["activity_id"]:
                key_of_activity[merged["activity_id"]] = key
            batch.fee_keys.add((fill.order_id, merged["timestamp"]))
        batch.fill_rows = list(by_key.values())
        # Activities: last copy of each id wins.
        activity_rows: dict[str, dict[str, Any]] = {}
        for activity in activities:
            activity_rows[activity.id] = codec.activity_row(
                activity, account=account, source=source, data_source=data_source, now=now
            )
            if (
                activity.activity_type.upper() == "FEE"
                and activity.order_id is not None
                and activity.transaction_time is not None
            ):
                batch.fee_keys.add((activity.order_id, activity.transaction_time))
        batch.activity_rows = list(activity_rows.values())
        if snapshot is not None:
            _aware(snapshot.observed_at, "snapshot observed_at")
            batch.snapshot_row = codec.snapshot_row(
                snapshot, account=account, source=source, data_source=data_source, now=now
            )
        if positions is not None:
            position_list = list(positions)
            seen: set[str] = set()
            for position in position_list:
                if position.symbol in seen:
                    raise StorageError(
                        f"the positions set lists {position.symbol} twice: pass each open "
                        "position once (the full set as the venue reports it)"
                    )
                seen.add(position.symbol)
                _aware(position.observed_at, f"position {position.symbol} observed_at")
            as_of = positions_at
            if as_of is None and position_list:
                as_of = max(p.observed_at for p in position_list)
            if as_of is None and snapshot is not None:
                as_of = snapshot.observed_at
            if as_of is None:
                raise StorageError(
                    "an empty positions set needs positions_at= (when the venue reported no "
                    "open positions), or a snapshot in the same apply"
                )
            batch.positions_at = _aware(as_of, "positions_at")
            batch.position_rows = [
                codec.position_row(
                    p, account=account, source=source, data_source=data_source, now=now
                )
                for p in position_list
            ]
        for feed, value in (checkpoints or {}).items():
            if not isinstance(feed, str) or not feed:
                raise StorageError(f"checkpoint feed names must be non-empty text, got {feed!r}")
            if not isinstance(value, str):
                raise StorageError(
                    f"checkpoint {feed!r} must be text (e.g. a timestamp's isoformat()), got "
                    f"{type(value).__name__}"
                )
            batch.checkpoint_rows.append(
                {
                    "account": account,
                    "feed": feed,
                    "value": value,
                    "updated_at": now,
                    "data_source": data_source,
                    "ingested_at": now,
                }
            )
        return batch

    def _prepare_position_updates(
        self,
        batch: _Batch,
        account: str,
        updates: Mapping[str, Position | None],
        updates_at: dt.datetime | Mapping[str, dt.datetime] | None,
        source: str,
        now: dt.datetime,
    ) -> None:
        for symbol, position in updates.items():
            if not isinstance(symbol, str) or not symbol:
                raise StorageError(
                    f"position_updates keys must be symbols (non-empty text), got {symbol!r}"
                )
            if position is not None:
                if position.symbol != symbol:
                    raise StorageError(
                        f"position_updates[{symbol!r}] holds the position of "
                        f"{position.symbol!r}: key each position by its own symbol"
                    )
                at = _aware(position.observed_at, f"position {symbol} observed_at")
                row: dict[str, Any] | None = codec.position_row(
                    position, account=account, source=source, data_source=self.data_source, now=now
                )
            else:
                when = updates_at.get(symbol) if isinstance(updates_at, Mapping) else updates_at
                at = _aware(when or now, f"position_updates_at for {symbol}")
                row = None
            batch.position_updates[symbol] = (row, at)
        batch.source = source

    def _add_order(
        self,
        batch: _Batch,
        order: Order,
        parent_id: str | None,
        internal: bool,
        account: str,
        source: str,
        now: dt.datetime,
    ) -> None:
        progress = _order_progress(order)
        known = batch.order_progress.get(order.id)
        if known is None or progress > known:
            _aware(order.last_event_at, f"order {order.id} timestamps: last_event_at")
            batch.order_progress[order.id] = progress
            row = codec.order_row(
                order,
                account=account,
                external=not internal,
                source=source,
                data_source=self.data_source,
                now=now,
                parent_id=parent_id,
            )
            earlier = batch.order_rows.get(order.id)
            batch.order_rows[order.id] = row if earlier is None else _merge_lineage(earlier, row)
        else:
            # An older copy: its state loses, but it may know the lineage the newer one lacks.
            earlier = batch.order_rows[order.id]
            parent = order.parent_id or parent_id
            if earlier["parent_id"] is None and parent is not None:
                batch.order_rows[order.id] = _merge_lineage(
                    earlier,
                    {
                        **earlier,
                        "parent_id": parent,
                        "replaces": order.replaces,
                        "replaced_by": order.replaced_by,
                        "external": not internal,
                    },
                )
            else:
                for name in ("replaces", "replaced_by"):
                    if earlier[name] is None:
                        earlier[name] = getattr(order, name)
        for leg in order.legs:
            # A leg belongs to whoever placed its root order.
            self._add_order(batch, leg, order.id, internal, account, source, now)

    def _quarantine_fill(
        self, batch: _Batch, account: str, fill: Fill, now: dt.datetime, reason: str
    ) -> None:
        batch.quarantine_rows.append(
            {
                "account": account,
                "record_kind": "fill",
                "record_key": _quarantine_key(fill.fill_id, fill.raw),
                "reason": reason,
                "raw": fill.raw,
                "source": DataSource(fill.source).value,
                "created_at": now,
            }
        )

    async def _apply_batch(
        self,
        connection: AsyncConnection,
        account: str,
        batch: _Batch,
        *,
        now: dt.datetime,
        careful: bool,
    ) -> ApplyResult:
        state = await self._lock_account(connection, account, now, probe_fees=bool(batch.fee_keys))
        order_ids = await self._upsert_orders(connection, account, batch)
        activity_count = await self._upsert_activities(connection, batch)
        if careful:
            await self._screen_fills_against_store(connection, account, batch)
        fill_count = await self._upsert_fills(connection, batch)
        fee_count = 0
        if state.get("has_fees") or any(_is_fee(row) for row in batch.activity_rows):
            # Skipped when the account has no FEE activity at all (the lock's probe said so and
            # this batch brings none), which is the stream's steady state on many accounts.
            fee_count = await self._recompute_fees(connection, account, batch.fee_keys, now)
        snapshot_count, account_updated = await self._apply_snapshot(
            connection, account, batch, state
        )
        position_count, refreshed = 0, False
        if batch.position_rows is not None and batch.positions_at is not None:
            position_count, refreshed = await self._apply_positions(
                connection, account, batch.position_rows, batch.positions_at, state, now
            )
        position_symbols: list[str] = []
        if batch.position_updates:
            moved, position_symbols = await self._apply_position_updates(
                connection, account, batch.position_updates, batch.source, state, now
            )
            position_count += moved
        quarantined = await self._insert_quarantine_rows(connection, batch.quarantine_rows)
        checkpoint_count = await self._upsert_checkpoints(connection, batch)
        return ApplyResult(
            orders=len(order_ids),
            fills=fill_count,
            fees=fee_count,
            activities=activity_count,
            snapshots=snapshot_count,
            positions=position_count,
            checkpoints=checkpoint_count,
            quarantined=quarantined,
            order_ids=tuple(order_ids),
            positions_refreshed=refreshed,
            position_symbols=tuple(position_symbols),
            account_updated=account_updated,
        )

    async def _lock_account(
        self,
        connection: AsyncConnection,
        account: str,
        now: dt.datetime,
        *,
        probe_fees: bool = False,
    ) -> dict[str, Any]:
        """Lock the account's row (creating it the first time): writers of one account queue
        here. ``probe_fees`` also asks, in the same round trip, whether the account has any FEE
        activity stored (``has_fees``)."""
        columns: list[Any] = [accounts.c.snapshot_at, accounts.c.positions_at]
        if probe_fees:
            fees = sa.select(sa.literal(1)).where(_fee_rows(account))
            columns.append(sa.exists(fees).label("has_fees"))
        locked = sa.select(*columns).where(accounts.c.account == account).with_for_update()
        row = (await connection.execute(locked)).mappings().first()
        if row is None:
            await connection.execute(
                self._upsert(accounts).on_conflict_do_nothing(index_elements=[accounts.c.account]),
                {"account": account, "data_source": self.data_source, "ingested_at": now},
            )
            row = (await connection.execute(locked)).mappings().one()
        return dict(row)

    # -- orders

    async def _upsert_orders(
        self, connection: AsyncConnection, account: str, batch: _Batch
    ) -> list[str]:
        rows = list(batch.order_rows.values())
        if not rows:
            return []
        inherited = await self._inherit_ownership(connection, account, batch.order_rows)

        def build(bulk: BulkInsert) -> Any:
            excluded = bulk.insert.excluded
            newer = sa.or_(
                excluded.last_event_at > orders.c.last_event_at,
                sa.and_(
                    excluded.last_event_at == orders.c.last_event_at,
                    excluded.status_rank > orders.c.status_rank,
                ),
                sa.and_(
                    excluded.last_event_at == orders.c.last_event_at,
                    excluded.status_rank == orders.c.status_rank,
                    self._num(excluded.filled_qty) > self._num(orders.c.filled_qty),
                ),
            )
            # Only a newer report replaces the order's state; its lineage (parent_id, replaces,
            # replaced_by) is kept once known and filled in from any report that has it, even an
            # older one: a leg's own stream events name no parent.
            update: dict[str, Any] = {
                column.name: sa.case((newer, excluded[column.name]), else_=orders.c[column.name])
                for column in orders.columns
                if column.name not in ("account", "id", "external", *_ORDER_LINEAGE)
            }
            for name in _ORDER_LINEAGE:
                update[name] = sa.func.coalesce(orders.c[name], excluded[name])
            gains_parent = sa.and_(orders.c.parent_id.is_(None), excluded.parent_id.isnot(None))
            # Ownership is decided once per lineage: a leg belongs to its root, so the report
            # that first names the parent decides it (a report without one says nothing about
            # the root); otherwise the stored flag stands, whoever set it (mark_external, i.e.
            # reconciliation, included).
            update["external"] = sa.case((gains_parent, excluded.external), else_=orders.c.external)
            gains_lineage = sa.or_(
                *[
                    sa.and_(orders.c[name].is_(None), excluded[name].isnot(None))
                    for name in _ORDER_LINEAGE
                ]
            )
            return bulk.insert.on_conflict_do_update(
                index_elements=[orders.c.account, orders.c.id],
                set_=update,
                where=sa.or_(newer, gains_lineage),
            ).returning(orders.c.id)

        returned = await self._bulk(connection, "orders", orders, rows, build)
        changed = [str(row[0]) for row in returned]
        if inherited:
            # The upsert keeps a stored flag; a replacement stored as external before what it
            # replaces was known is recognised now.
            result = await connection.execute(
                sa.update(orders)
                .where(
                    orders.c.account == account,
                    orders.c.id.in_(inherited),
                    orders.c.external,
                    orders.c.parent_id.is_(None),
                )
                .values(external=False)
                .returning(orders.c.id)
            )
            known = set(changed)
            changed += [str(order_id) for (order_id,) in result.all() if order_id not in known]
        return changed

    async def _inherit_ownership(
        self, connection: AsyncConnection, account: str, rows: dict[str, dict[str, Any]]
    ) -> list[str]:
        """A replacement order belongs to whoever placed the order it replaces (a replace may
        give it a venue-generated client_order_id). Returns the root orders recognised so."""
        pending = {
            order_id: row for order_id, row in rows.items() if row["external"] and row["replaces"]
        }
        if not pending:
            return []
        external = {order_id: bool(row["external"]) for order_id, row in rows.items()}
        stored = sorted({row["replaces"] for row in pending.values()} - set(rows))
        for chunk in _chunks(stored):
            result = await connection.execute(
                sa.select(orders.c.id, orders.c.external).where(
                    orders.c.account == account, orders.c.id.in_(chunk)
                )
            )
            external.update((str(order_id), bool(flag)) for order_id, flag in result.all())
        for order_id, row in pending.items():
            # Walk back along the chain (inside this batch) to an order known to be ours.
            seen = {order_id}
            previous: str | None = row["replaces"]
            while previous is not None and previous not in seen:
                seen.add(previous)
                if external.get(previous) is False:
                    row["external"] = False
                    break
                earlier = rows.get(previous)
                previous = None if earlier is None else earlier["replaces"]
        return sorted(
            order_id
            for order_id, row in pending.items()
            if not row["external"] and row["parent_id"] is None
        )

    # -- activities

    async def _upsert_activities(self, connection: AsyncConnection, batch: _Batch) -> int:
        def build(bulk: BulkInsert) -> Any:
            excluded = bulk.insert.excluded
            changed = sa.or_(
                *[
                    activities.c[name].is_distinct_from(excluded[name])
                    for name in ("status", "net_amount", "qty", "price", "description", "raw")
                ]
            )
            update = {
                column.name: excluded[column.name]
                for column in activities.columns
                if column.name not in ("account", "id")
            }
            return bulk.insert.on_conflict_do_update(
                index_elements=[activities.c.account, activities.c.id],
                set_=update,
                where=changed,
            ).returning(activities.c.id)

        return len(
            await self._bulk(connection, "activities", activities, batch.activity_rows, build)
        )

    # -- fills

    async def _screen_fills_against_store(
        self, connection: AsyncConnection, account: str, batch: _Batch
    ) -> None:
        """Quarantine fills whose execution_id / activity_id the store holds for another
        execution (the slow path, only after such a clash)."""
        stored: dict[tuple[str, str], tuple[str, Decimal]] = {}
        for column_name in ("execution_id", "activity_id"):
            column = fills.c[column_name]
            ids = sorted({row[column_name] for row in batch.fill_rows if row[column_name]})
            for chunk in _chunks(ids):
                result = await connection.execute(
                    sa.select(column, fills.c.order_id, fills.c.cum_qty).where(
                        fills.c.account == account, column.in_(chunk)
                    )
                )
                for value, order_id, cum_qty in result.all():
                    stored[(column_name, value)] = _fill_key(order_id, cum_qty)
        kept: list[dict[str, Any]] = []
        for row in batch.fill_rows:
            key = _fill_key(row["order_id"], row["cum_qty"])
            clash = None
            for column_name in ("execution_id", "activity_id"):
                other = stored.get((column_name, row[column_name])) if row[column_name] else None
                if other is not None and other != key:
                    clash = (
                        f"{column_name} {row[column_name]} is already stored for order "
                        f"{other[0]} at cum_qty {other[1]}, not cum_qty {key[1]}"
                    )
            if clash is None:
                kept.append(row)
                continue
            raw = codec.raw_bytes(row["raw_stream"] or row["raw_rest"])
            batch.quarantine_rows.append(
                {
                    "account": account,
                    "record_kind": "fill",
                    "record_key": _quarantine_key(row["fill_id"], raw),
                    "reason": clash,
                    "raw": raw,
                    "source": row["source"],
                    "created_at": row["ingested_at"],
                }
            )
        batch.fill_rows = kept

    async def _upsert_fills(self, connection: AsyncConnection, batch: _Batch) -> int:
        def build(bulk: BulkInsert) -> Any:
            excluded = bulk.insert.excluded
            current = fills.c

            def gains(name: str) -> Any:
                return sa.and_(current[name].is_(None), excluded[name].isnot(None))

            rest_wins = gains("activity_id")
            no_fee = self._num(current.fee) == 0
            update: dict[str, Any] = {
                name: sa.func.coalesce(current[name], excluded[name])
                for name in (
                    "execution_id",
                    "activity_id",
                    "client_order_id",
                    "position_qty",
                    "raw_stream",
                    "raw_rest",
                )
            }
            update["fill_id"] = sa.func.coalesce(
                current.execution_id,
                excluded.execution_id,
                current.activity_id,
                excluded.activity_id,
                current.fill_id,
            )
            # The FILL activity's figures (transaction_time above all) are the broker's record.
            for name in ("symbol", "side", "qty", "price", "timestamp", "fill_type"):
                update[name] = sa.case((rest_wins, excluded[name]), else_=current[name])
            update["leaves_qty"] = sa.case(
                (rest_wins, sa.func.coalesce(excluded.leaves_qty, current.leaves_qty)),
                else_=sa.func.coalesce(current.leaves_qty, excluded.leaves_qty),
            )
            update["fee"] = sa.case((no_fee, excluded.fee), else_=current.fee)
            update["ingested_at"] = excluded.ingested_at
            something_new = sa.or_(
                *[
                    gains(name)
                    for name in (
                        "execution_id",
                        "activity_id",
                        "client_order_id",
                        "leaves_qty",
                        "position_qty",
                        "raw_stream",
                        "raw_rest",
                    )
                ],
                sa.and_(no_fee, self._num(excluded.fee) != 0),
            )
            return bulk.insert.on_conflict_do_update(
                index_elements=[current.account, current.order_id, current.cum_qty],
                set_=update,
                where=something_new,
            ).returning(current.order_id)

        return len(await self._bulk(connection, "fills", fills, batch.fill_rows, build))

    async def _recompute_fees(
        self,
        connection: AsyncConnection,
        account: str,
        keys: set[tuple[str, dt.datetime]],
        now: dt.datetime,
        fallback: Decimal | None = None,
    ) -> int:
        """Set each touched execution's fee to the sum of its stored, non-canceled FEE
        activities.

        A key whose FEE activities are all canceled goes back to ``fallback`` (0 when None):
        the broker withdrew the charge. A key with no FEE activity stored at all keeps its fee
        unless a ``fallback`` is given, as that fee came from elsewhere (the fill itself).
        """
        if not keys:
            return 0
        order_ids = sorted({order_id for order_id, _ in keys})
        totals: dict[tuple[str, dt.datetime], Decimal] = {}
        withdrawn: set[tuple[str, dt.datetime]] = set()
        for chunk in _chunks(order_ids):
            result = await connection.execute(
                sa.select(
                    activities.c.order_id,
                    activities.c.transaction_time,
                    activities.c.net_amount,
                    activities.c.status,
                ).where(_fee_activities(account), activities.c.order_id.in_(chunk))
            )
            for order_id, at, net_amount, status in result.all():
                key = (str(order_id), at)
                # Same test as _fee_rows, which the lock's has_fees probe uses.
                if (status or "").lower() == _CANCELED:
                    withdrawn.add(key)
                    continue
                # net_amount is negative for a charge; the fill's fee is the positive cost.
                totals[key] = totals.get(key, _ZERO) - net_amount
        for key in keys:
            if fallback is not None:
                totals.setdefault(key, fallback)
            elif key in withdrawn:
                totals.setdefault(key, _ZERO)
        wanted = {key: total for key, total in totals.items() if key in keys}
        if not wanted:
            return 0
        first_fill: dict[tuple[str, dt.datetime], tuple[Decimal, Decimal]] = {}
        for chunk in _chunks(sorted({order_id for order_id, _ in wanted})):
            result = await connection.execute(
                sa.select(fills.c.order_id, fills.c.timestamp, fills.c.cum_qty, fills.c.fee).where(
                    fills.c.account == account, fills.c.order_id.in_(chunk)
                )
            )
            for order_id, timestamp, cum_qty, fee in result.all():
                key = (str(order_id), timestamp)
                if key not in wanted:
                    continue
                # Two executions at the same instant: the fee goes to the first (lowest cum_qty).
                known = first_fill.get(key)
                if known is None or cum_qty < known[0]:
                    first_fill[key] = (cum_qty, fee)
        updates = [
            {"key_order": key[0], "key_cum": cum_qty, "new_fee": wanted[key], "now": now}
            for key, (cum_qty, fee) in first_fill.items()
            if fee != wanted[key]
        ]
        if updates:
            await connection.execute(
                sa.update(fills)
                .where(
                    fills.c.account == account,
                    fills.c.order_id == sa.bindparam("key_order"),
                    fills.c.cum_qty == sa.bindparam("key_cum"),
                )
                .values(fee=sa.bindparam("new_fee"), ingested_at=sa.bindparam("now")),
                updates,
            )
        return len(updates)

    # -- snapshot and positions

    async def _apply_snapshot(
        self,
        connection: AsyncConnection,
        account: str,
        batch: _Batch,
        state: dict[str, Any],
    ) -> tuple[int, bool]:
        row = batch.snapshot_row
        if row is None:
            return 0, False

        def build(bulk: BulkInsert) -> Any:
            return bulk.insert.on_conflict_do_nothing(
                index_elements=[account_snapshots.c.account, account_snapshots.c.observed_at]
            ).returning(account_snapshots.c.observed_at)

        inserted = len(await self._bulk(connection, "snapshots", account_snapshots, [row], build))
        observed_at: dt.datetime = row["observed_at"]
        latest = state.get("snapshot_at")
        if latest is not None and observed_at <= latest:
            return inserted, False
        await connection.execute(
            sa.update(accounts)
            .where(accounts.c.account == account)
            .values(
                alpaca_account_id=row["alpaca_account_id"],
                account_number=row["account_number"],
                status=row["status"],
                currency=row["currency"],
                created_at=row["created_at"],
                snapshot_at=observed_at,
                ingested_at=row["ingested_at"],
            )
        )
        state["snapshot_at"] = observed_at
        return inserted, True

    async def _apply_positions(
        self,
        connection: AsyncConnection,
        account: str,
        rows: list[dict[str, Any]],
        as_of: dt.datetime,
        state: dict[str, Any],
        now: dt.datetime,
    ) -> tuple[int, bool]:
        latest = state.get("positions_at")
        if latest is not None and as_of <= latest:
            return 0, False
        current = await self._current_positions(connection, account)
        upserts: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        closed: list[str] = []
        incoming = {row["symbol"]: row for row in rows}
        for symbol, row in incoming.items():
            stored = current.get(symbol)
            if stored is not None and stored["observed_at"] > row["observed_at"]:
                continue  # a newer single update (a stream fill) already moved this one
            upserts.append(row)
            if stored is None or codec.holding_key(stored) != codec.holding_key(row):
                history.append(row)
        for symbol, stored in current.items():
            if symbol in incoming or stored["observed_at"] >= as_of:
                continue
            closed.append(symbol)
            history.append(
                codec.flat_position_row(
                    stored,
                    observed_at=as_of,
                    source=rows[0]["source"] if rows else DataSource.REST.value,
                    data_source=self.data_source,
                    now=now,
                )
            )
        await self._write_positions(connection, account, upserts, closed, history)
        await connection.execute(
            sa.update(accounts).where(accounts.c.account == account).values(positions_at=as_of)
        )
        state["positions_at"] = as_of
        return len(history), True

    async def _apply_position_updates(
        self,
        connection: AsyncConnection,
        account: str,
        updates: dict[str, tuple[dict[str, Any] | None, dt.datetime]],
        source: str,
        state: dict[str, Any],
        now: dt.datetime,
    ) -> tuple[int, list[str]]:
        """Upsert/delete single symbols, each only when newer than what is stored; returns
        (holdings changed, symbols written)."""
        latest = state.get("positions_at")
        fresh = {s: u for s, u in updates.items() if latest is None or u[1] > latest}
        if not fresh:
            return 0, []
        stored: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(fresh)):
            result = await connection.execute(
                sa.select(positions).where(
                    positions.c.account == account, positions.c.symbol.in_(chunk)
                )
            )
            stored.update({row["symbol"]: dict(row) for row in result.mappings().all()})
        upserts: list[dict[str, Any]] = []
        closed: list[str] = []
        history: list[dict[str, Any]] = []
        written: list[str] = []
        for symbol in sorted(fresh):
            row, at = fresh[symbol]
            held = stored.get(symbol)
            if held is not None and held["observed_at"] >= at:
                continue
            if row is None:
                if held is None:
                    continue
                closed.append(symbol)
                history.append(
                    codec.flat_position_row(
                        held,
                        observed_at=at,
                        source=source,
                        data_source=self.data_source,
                        now=now,
                    )
                )
            else:
                upserts.append(row)
                if held is None or codec.holding_key(held) != codec.holding_key(row):
                    history.append(row)
            written.append(symbol)
        if written:
            await self._write_positions(connection, account, upserts, closed, history)
        return len(history), written

    async def _current_positions(
        self, connection: AsyncConnection, account: str
    ) -> dict[str, dict[str, Any]]:
        result = await connection.execute(
            sa.select(positions).where(positions.c.account == account)
        )
        return {row["symbol"]: dict(row) for row in result.mappings().all()}

    async def _write_positions(
        self,
        connection: AsyncConnection,
        account: str,
        upserts: list[dict[str, Any]],
        closed: list[str],
        history: list[dict[str, Any]],
    ) -> None:
        def build_current(bulk: BulkInsert) -> Any:
            update = {
                column.name: bulk.insert.excluded[column.name]
                for column in positions.columns
                if column.name not in ("account", "symbol")
            }
            return bulk.insert.on_conflict_do_update(
                index_elements=[positions.c.account, positions.c.symbol], set_=update
            )

        def build_history(bulk: BulkInsert) -> Any:
            return bulk.insert.on_conflict_do_nothing(
                index_elements=[
                    position_snapshots.c.account,
                    position_snapshots.c.symbol,
                    position_snapshots.c.observed_at,
                ]
            )

        await self._bulk(connection, "positions", positions, upserts, build_current)
        for chunk in _chunks(closed):
            await connection.execute(
                sa.delete(positions).where(
                    positions.c.account == account, positions.c.symbol.in_(chunk)
                )
            )
        await self._bulk(
            connection, "position_snapshots", position_snapshots, history, build_history
        )

    async def _insert_quarantine_rows(
        self, connection: AsyncConnection, rows: list[dict[str, Any]]
    ) -> int:
        if not rows:
            return 0
        statement = (
            self._upsert(quarantine)
            .on_conflict_do_nothing(
                index_elements=[
                    quarantine.c.account,
                    quarantine.c.record_kind,
                    quarantine.c.record_key,
                    quarantine.c.reason,
                ]
            )
            .returning(quarantine.c.id)
        )
        return len((await connection.execute(statement, rows)).all())

    async def _upsert_checkpoints(self, connection: AsyncConnection, batch: _Batch) -> int:
        def build(bulk: BulkInsert) -> Any:
            excluded = bulk.insert.excluded
            return bulk.insert.on_conflict_do_update(
                index_elements=[sync_checkpoints.c.account, sync_checkpoints.c.feed],
                set_={
                    "value": excluded.value,
                    "updated_at": excluded.updated_at,
                    "ingested_at": excluded.ingested_at,
                },
                where=sync_checkpoints.c.value != excluded.value,
            ).returning(sync_checkpoints.c.feed)

        return len(
            await self._bulk(
                connection, "checkpoints", sync_checkpoints, batch.checkpoint_rows, build
            )
        )

    # ------------------------------------------------------------------ single writes

    async def attach_fee(
        self,
        account: str,
        order_id: str,
        transaction_time: dt.datetime,
        amount: Decimal,
    ) -> bool:
        """Account for a fee of the execution of ``order_id`` at ``transaction_time``.

        The execution's fee becomes the sum of the stored FEE activities with that order id and
        time (``amount`` is used only when no such activity is stored), so calling this again, or
        after the activities were applied, never double counts. Returns False when no fill of
        that order at that time is stored yet (call again after the fill arrives).
        """
        account = _check_account(account)
        _aware(transaction_time, "fee transaction_time")
        now = _utcnow()
        async with self._write("attach a fee") as connection:
            found = await connection.execute(
                sa.select(sa.literal(1))
                .where(
                    fills.c.account == account,
                    fills.c.order_id == order_id,
                    fills.c.timestamp == transaction_time,
                )
                .limit(1)
            )
            if found.first() is None:
                return False
            await self._recompute_fees(
                connection, account, {(order_id, transaction_time)}, now, fallback=amount
            )
            return True

    async def set_position(
        self,
        account: str,
        symbol: str,
        position: Position | None,
        *,
        observed_at: dt.datetime | None = None,
        source: DataSource | str = DataSource.STREAM,
    ) -> int:
        """Write one symbol's position (e.g. derived from a stream fill); ``None`` closes it.

        Monotonic: ignored when the stored row, or the newest full positions set, is newer.
        ``observed_at`` dates a close (default: now). Returns the holdings changed (0 or 1).
        """
        account = _check_account(account)
        source_value = DataSource(source).value
        now = _utcnow()
        if position is not None and position.symbol != symbol:
            raise StorageError(
                f"set_position({symbol!r}) was given the position of {position.symbol!r}"
            )
        at = _aware(
            position.observed_at if position is not None else observed_at or now, "observed_at"
        )
        async with self._write("set a position") as connection:
            state = await self._lock_account(connection, account, now)
            if state["positions_at"] is not None and state["positions_at"] >= at:
                return 0
            result = await connection.execute(
                sa.select(positions).where(
                    positions.c.account == account, positions.c.symbol == symbol
                )
            )
            stored = result.mappings().first()
            if stored is not None and stored["observed_at"] >= at:
                return 0
            if position is None:
                if stored is None:
                    return 0
                flat = codec.flat_position_row(
                    stored,
                    observed_at=at,
                    source=source_value,
                    data_source=self.data_source,
                    now=now,
                )
                await self._write_positions(connection, account, [], [symbol], [flat])
                return 1
            row = codec.position_row(
                position,
                account=account,
                source=source_value,
                data_source=self.data_source,
                now=now,
            )
            changed = stored is None or codec.holding_key(stored) != codec.holding_key(row)
            await self._write_positions(connection, account, [row], [], [row] if changed else [])
            return int(changed)

    async def mark_external(
        self, account: str, order_ids: Iterable[str], external: bool = True
    ) -> int:
        """Set whether orders were placed outside this integration; returns rows changed."""
        account = _check_account(account)
        ids = sorted(set(order_ids))
        changed = 0
        async with self._write("mark orders external") as connection:
            for chunk in _chunks(ids):
                result = await connection.execute(
                    sa.update(orders)
                    .where(
                        orders.c.account == account,
                        orders.c.id.in_(chunk),
                        orders.c.external != external,
                    )
                    .values(external=external)
                    .returning(orders.c.id)
                )
                changed += len(result.all())
        return changed

    # ------------------------------------------------------------------ order queries

    async def get_order(
        self, account: str, order_id: str, *, with_legs: bool = True
    ) -> Order | None:
        """One order by its venue id, with its legs nested (``Order.legs``) unless told not to."""
        account = _check_account(account)
        async with self._read("read an order") as connection:
            result = await connection.execute(
                sa.select(orders).where(orders.c.account == account, orders.c.id == order_id)
            )
            row = result.mappings().first()
            if row is None:
                return None
            if not with_legs:
                return codec.order_from_row(row)
            return await self._nest_legs(connection, account, row, depth=0)

    order_with_legs = get_order

    async def get_order_by_client_order_id(
        self, account: str, client_order_id: str, *, with_legs: bool = True
    ) -> Order | None:
        """The order with this client_order_id (the idempotency key of a submission)."""
        account = _check_account(account)
        async with self._read("read an order") as connection:
            result = await connection.execute(
                sa.select(orders)
                .where(orders.c.account == account, orders.c.client_order_id == client_order_id)
                .order_by(orders.c.created_at.desc(), orders.c.id)
                .limit(1)
            )
            row = result.mappings().first()
            if row is None:
                return None
            if not with_legs:
                return codec.order_from_row(row)
            return await self._nest_legs(connection, account, row, depth=0)

    async def _nest_legs(
        self, connection: AsyncConnection, account: str, row: Mapping[Any, Any], *, depth: int
    ) -> Order:
        legs: list[Order] = []
        if depth < 4:
            result = await connection.execute(
                sa.select(orders)
                .where(orders.c.account == account, orders.c.parent_id == row["id"])
                .order_by(orders.c.created_at, orders.c.id)
            )
            for leg in result.mappings().all():
                if leg["id"] != row["id"]:
                    legs.append(await self._nest_legs(connection, account, leg, depth=depth + 1))
        return codec.order_from_row(row, tuple(legs))

    async def list_orders(
        self,
        account: str,
        *,
        status: OrderFilter = "all",
        ids: Iterable[str] | None = None,
        statuses: Iterable[OrderStatus | str] | None = None,
        symbols: Iterable[str] | None = None,
        side: OrderSide | str | None = None,
        created_after: dt.datetime | None = None,
        created_until: dt.datetime | None = None,
        updated_since: dt.datetime | None = None,
        parent_id: str | None = None,
        top_level: bool = False,
        external: bool | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Order]:
        """Orders as flat rows (legs are entries of their own, pointing back with ``parent_id``).

        ``ids`` keeps those venue ids only.
        ``status``: open (not terminal), closed (terminal) or all; ``statuses`` narrows to exact
        statuses. ``created_after`` / ``created_until`` filter on created_at (exclusive /
        inclusive), ``updated_since`` on the last event time. ``top_level`` drops legs;
        ``parent_id`` keeps one order's legs. Sorted by created_at (oldest first by default).
        """
        account = _check_account(account)
        query = sa.select(orders).where(orders.c.account == account)
        if status == "open":
            query = query.where(orders.c.status.not_in(_TERMINAL))
        elif status == "closed":
            query = query.where(orders.c.status.in_(_TERMINAL))
        elif status != "all":
            raise StorageError(f"status must be 'open', 'closed' or 'all', got {status!r}")
        if ids is not None:
            query = query.where(orders.c.id.in_(list(ids)))
        if statuses is not None:
            query = query.where(orders.c.status.in_([OrderStatus(s).value for s in statuses]))
        if symbols is not None:
            query = query.where(orders.c.symbol.in_(list(symbols)))
        if side is not None:
            query = query.where(orders.c.side == OrderSide(side).value)
        if created_after is not None:
            query = query.where(orders.c.created_at > _aware(created_after, "created_after"))
        if created_until is not None:
            query = query.where(orders.c.created_at <= _aware(created_until, "created_until"))
        if updated_since is not None:
            query = query.where(orders.c.last_event_at >= _aware(updated_since, "updated_since"))
        if parent_id is not None:
            query = query.where(orders.c.parent_id == parent_id)
        if top_level:
            query = query.where(orders.c.parent_id.is_(None))
        if external is not None:
            query = query.where(orders.c.external == external)
        if newest_first:
            query = query.order_by(orders.c.created_at.desc(), orders.c.id.desc())
        else:
            query = query.order_by(orders.c.created_at, orders.c.id)
        if limit is not None:
            query = query.limit(limit)
        async with self._read("list orders") as connection:
            result = await connection.execute(query)
            return [codec.order_from_row(row) for row in result.mappings().all()]

    async def open_orders(self, account: str) -> list[Order]:
        """Every order not yet terminal (held legs included), flat, oldest first."""
        return await self.list_orders(account, status="open")

    async def replace_chain(self, account: str, order_id: str) -> list[Order]:
        """The replace chain through ``order_id``: the original order first, the live one last.
        Empty when the order is unknown."""
        account = _check_account(account)
        async with self._read("read a replace chain") as connection:

            async def fetch(where: Any) -> Mapping[Any, Any] | None:
                result = await connection.execute(
                    sa.select(orders).where(orders.c.account == account, where).limit(1)
                )
                return result.mappings().first()

            start = await fetch(orders.c.id == order_id)
            if start is None:
                return []
            chain = [start]
            seen = {start["id"]}
            row: Mapping[Any, Any] | None = start
            while row is not None:  # backwards: what this one replaced
                previous_id = row["replaces"]
                row = await fetch(
                    orders.c.id == previous_id if previous_id else orders.c.replaced_by == row["id"]
                )
                if row is None or row["id"] in seen:
                    break
                seen.add(row["id"])
                chain.insert(0, row)
            row = start
            while row is not None:  # forwards: what replaced this one
                next_id = row["replaced_by"]
                row = await fetch(
                    orders.c.id == next_id if next_id else orders.c.replaces == row["id"]
                )
                if row is None or row["id"] in seen:
                    break
                seen.add(row["id"])
                chain.append(row)
            return [codec.order_from_row(r) for r in chain]

    async def external_flags(self, account: str) -> dict[str, bool]:
        """``{order_id: external}`` for every stored order."""
        account = _check_account(account)
        async with self._read("read order ownership") as connection:
            result = await connection.execute(
                sa.select(orders.c.id, orders.c.external).where(orders.c.account == account)
            )
            return {str(order_id): bool(external) for order_id, external in result.all()}

    # ------------------------------------------------------------------ fill queries

    async def fill_progress(
        self, account: str, order_ids: Iterable[str], symbols: Iterable[str] = ()
    ) -> FillProgress:
        """The stored ``filled_qty``, execution ids and ``(order_id, cum_qty)`` keys of
        ``order_ids``, and the current positions of ``symbols``: one read, a few narrow queries
        (the stream asks this for every batch of fill events)."""
        account = _check_account(account)
        ids = sorted(set(order_ids))
        wanted = sorted(set(symbols))
        filled: dict[str, Decimal] = {}
        executions: set[str] = set()
        cum_qtys: set[tuple[str, Decimal]] = set()
        held: dict[str, Position] = {}
        async with self._read("read fill progress") as connection:
            for chunk in _chunks(ids):
                result = await connection.execute(
                    sa.select(orders.c.id, orders.c.filled_qty).where(
                        orders.c.account == account, orders.c.id.in_(chunk)
                    )
                )
                filled.update({row.id: row.filled_qty for row in result})
                result = await connection.execute(
                    sa.select(fills.c.order_id, fills.c.cum_qty, fills.c.execution_id).where(
                        fills.c.account == account, fills.c.order_id.in_(chunk)
                    )
                )
                for row in result:
                    cum_qtys.add((row.order_id, row.cum_qty))
                    if row.execution_id:
                        executions.add(row.execution_id)
            for chunk in _chunks(wanted):
                result = await connection.execute(
                    sa.select(positions).where(
                        positions.c.account == account, positions.c.symbol.in_(chunk)
                    )
                )
                for mapping in result.mappings().all():
                    position = codec.position_from_row(mapping)
                    held[position.symbol] = position
        return FillProgress(
            filled_qty=filled,
            executions=frozenset(executions),
            cum_qtys=frozenset(cum_qtys),
            positions=held,
        )

    async def fills_for_order(self, account: str, order_id: str) -> list[Fill]:
        """The executions of one order in execution order (by cumulative quantity)."""
        return await self.list_fills(account, order_id=order_id)

    async def list_fills(
        self,
        account: str,
        *,
        order_id: str | None = None,
        symbol: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[Fill]:
        """Executions by time (``since`` inclusive, ``until`` exclusive)."""
        account = _check_account(account)
        query = sa.select(fills).where(fills.c.account == account)
        if order_id is not None:
            query = query.where(fills.c.order_id == order_id)
        if symbol is not None:
            query = query.where(fills.c.symbol == symbol)
        if since is not None:
            query = query.where(fills.c.timestamp >= _aware(since, "since"))
        if until is not None:
            query = query.where(fills.c.timestamp < _aware(until, "until"))
        if order_id is not None:
            query = query.order_by(self._num(fills.c.cum_qty))
        else:
            query = query.order_by(fills.c.timestamp, fills.c.order_id, self._num(fills.c.cum_qty))
        if limit is not None:
            query = query.limit(limit)
        async with self._read("list fills") as connection:
            result = await connection.execute(query)
            return [codec.fill_from_row(row) for row in result.mappings().all()]

    # ------------------------------------------------------------------ positions, account

    async def positions(self, account: str) -> list[Position]:
        """The account's open positions now, by symbol (shorts have negative qty)."""
        account = _check_account(account)
        async with self._read("read positions") as connection:
            result = await connection.execute(
                sa.select(positions)
                .where(positions.c.account == account)
                .order_by(positions.c.symbol)
            )
            return [codec.position_from_row(row) for row in result.mappings().all()]

    async def positions_as_of(self, account: str, at: dt.datetime) -> list[Position]:
        """The positions held at instant ``at``: each symbol's latest holding change at or
        before it (closed ones left out). Market values are as of that change."""
        account = _check_account(account)
        _aware(at, "at")
        latest = (
            sa.select(
                position_snapshots.c.symbol,
                sa.func.max(position_snapshots.c.observed_at).label("last_at"),
            )
            .where(
                position_snapshots.c.account == account,
                position_snapshots.c.observed_at <= at,
            )
            .group_by(position_snapshots.c.symbol)
            .subquery()
        )
        query = (
            sa.select(position_snapshots)
            .join(
                latest,
                sa.and_(
                    position_snapshots.c.symbol == latest.c.symbol,
                    position_snapshots.c.observed_at == latest.c.last_at,
                ),
            )
            .where(position_snapshots.c.account == account)
            .order_by(position_snapshots.c.symbol)
        )
        async with self._read("read past positions") as connection:
            result = await connection.execute(query)
            return [
                codec.position_from_row(row) for row in result.mappings().all() if row["qty"] != 0
            ]

    async def latest_snapshot(self, account: str) -> AccountSnapshot | None:
        """The newest account snapshot (cash, equity, buying power ...)."""
        account = _check_account(account)
        async with self._read("read the account") as connection:
            result = await connection.execute(
                sa.select(account_snapshots)
                .where(account_snapshots.c.account == account)
                .order_by(account_snapshots.c.observed_at.desc())
                .limit(1)
            )
            row = result.mappings().first()
            return None if row is None else codec.snapshot_from_row(row)

    async def list_snapshots(
        self,
        account: str,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[AccountSnapshot]:
        """Account snapshots oldest first (``since`` inclusive, ``until`` exclusive)."""
        account = _check_account(account)
        query = sa.select(account_snapshots).where(account_snapshots.c.account == account)
        if since is not None:
            query = query.where(account_snapshots.c.observed_at >= _aware(since, "since"))
        if until is not None:
            query = query.where(account_snapshots.c.observed_at < _aware(until, "until"))
        query = query.order_by(account_snapshots.c.observed_at)
        if limit is not None:
            query = query.limit(limit)
        async with self._read("list account snapshots") as connection:
            result = await connection.execute(query)
            return [codec.snapshot_from_row(row) for row in result.mappings().all()]

    async def list_accounts(self) -> list[str]:
        """The account names the store holds data for."""
        async with self._read("list accounts") as connection:
            result = await connection.execute(
                sa.select(accounts.c.account).order_by(accounts.c.account)
            )
            return [str(name) for name in result.scalars().all()]

    async def list_activities(
        self,
        account: str,
        *,
        activity_types: Iterable[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        order_id: str | None = None,
    ) -> list[Activity]:
        """Non-trade activities by date (``since``/``until`` inclusive dates)."""
        account = _check_account(account)
        query = sa.select(activities).where(activities.c.account == account)
        if activity_types is not None:
            query = query.where(activities.c.activity_type.in_(list(activity_types)))
        if since is not None:
            query = query.where(activities.c.date >= since)
        if until is not None:
            query = query.where(activities.c.date <= until)
        if order_id is not None:
            query = query.where(activities.c.order_id == order_id)
        query = query.order_by(activities.c.date, activities.c.transaction_time, activities.c.id)
        async with self._read("list activities") as connection:
            result = await connection.execute(query)
            return [codec.activity_from_row(row) for row in result.mappings().all()]

    async def get_checkpoint(self, account: str, feed: str) -> str | None:
        """The value last committed for ``feed`` (None before the first sync)."""
        account = _check_account(account)
        async with self._read("read a checkpoint") as connection:
            result = await connection.execute(
                sa.select(sync_checkpoints.c.value).where(
                    sync_checkpoints.c.account == account, sync_checkpoints.c.feed == feed
                )
            )
            value = result.scalar_one_or_none()
            return None if value is None else str(value)

    async def checkpoints(self, account: str) -> dict[str, Checkpoint]:
        """Every feed's checkpoint, with when it was last moved."""
        account = _check_account(account)
        async with self._read("read checkpoints") as connection:
            result = await connection.execute(
                sa.select(sync_checkpoints).where(sync_checkpoints.c.account == account)
            )
            return {
                row["feed"]: Checkpoint(
                    feed=row["feed"], value=row["value"], updated_at=row["updated_at"]
                )
                for row in result.mappings().all()
            }

    async def dump(self, account: str) -> dict[str, Any]:
        """The store's state for ``account`` in a plain, comparable form (no ingestion times, no
        raw payloads): ``account`` (latest snapshot's figures), ``cash``, ``orders`` {id: {...}},
        ``fills`` [{...}] sorted by (order_id, cum_qty), ``positions`` {symbol: {...}},
        ``activities`` {id: {...}}, ``checkpoints`` {feed: value}."""
        snapshot = await self.latest_snapshot(account)
        order_list = await self.list_orders(account)
        fill_list = await self.list_fills(account)
        position_list = await self.positions(account)
        activity_list = await self.list_activities(account)
        checkpoint_map = await self.checkpoints(account)
        account_view: dict[str, Any] = {}
        if snapshot is not None:
            account_view = {name: getattr(snapshot, name) for name in codec.SNAPSHOT_AMOUNT_FIELDS}
            account_view.update(
                status=snapshot.status,
                currency=snapshot.currency,
                daytrade_count=snapshot.daytrade_count,
                observed_at=snapshot.observed_at,
            )
        return {
            "account": account_view,
            "cash": None if snapshot is None else snapshot.cash,
            "orders": {order.id: _order_view(order) for order in order_list},
            "fills": sorted(
                (_fill_view(fill) for fill in fill_list),
                key=lambda f: (f["order_id"], f["cum_qty"]),
            ),
            "positions": {
                p.symbol: {
                    "qty": p.qty,
                    "side": p.side.value,
                    "avg_entry_price": p.avg_entry_price,
                    "cost_basis": p.cost_basis,
                }
                for p in position_list
            },
            "activities": {
                a.id: {
                    "activity_type": a.activity_type,
                    "date": a.date,
                    "net_amount": a.net_amount,
                    "symbol": a.symbol,
                    "order_id": a.order_id,
                    "status": a.status,
                }
                for a in activity_list
            },
            "checkpoints": {feed: cp.value for feed, cp in checkpoint_map.items()},
        }

    # ------------------------------------------------------------------ stream gaps

    async def insert_stream_gap(
        self,
        account: str,
        *,
        gap_from: dt.datetime,
        gap_to: dt.datetime | None = None,
        reason: str,
        closed_by: str | None = None,
        rows_recovered: int = 0,
    ) -> int:
        """Record an interval the stream missed; returns the gap's id."""
        account = _check_account(account)
        _aware(gap_from, "gap_from")
        if gap_to is not None:
            _aware(gap_to, "gap_to")
        async with self._write("record a stream gap") as connection:
            result = await connection.execute(
                sa.insert(stream_gaps)
                .values(
                    account=account,
                    gap_from=gap_from,
                    gap_to=gap_to,
                    reason=reason,
                    closed_by=closed_by,
                    rows_recovered=rows_recovered,
                    created_at=_utcnow(),
                )
                .returning(stream_gaps.c.id)
            )
            return int(result.scalar_one())

    async def close_stream_gap(
        self,
        gap_id: int,
        *,
        gap_to: dt.datetime,
        closed_by: str,
        rows_recovered: int = 0,
    ) -> None:
        """Mark a gap closed: until when it ran, what closed it, how many rows came back."""
        _aware(gap_to, "gap_to")
        async with self._write("close a stream gap") as connection:
            result = await connection.execute(
                sa.update(stream_gaps)
                .where(stream_gaps.c.id == gap_id)
                .values(gap_to=gap_to, closed_by=closed_by, rows_recovered=rows_recovered)
                .returning(stream_gaps.c.id)
            )
            if result.first() is None:
                raise StorageError(f"no stream gap with id {gap_id}")

    async def list_stream_gaps(
        self, account: str, *, open_only: bool = False, since: dt.datetime | None = None
    ) -> list[StreamGapRecord]:
        account = _check_account(account)
        query = sa.select(stream_gaps).where(stream_gaps.c.account == account)
        if open_only:
            query = query.where(stream_gaps.c.closed_by.is_(None))
        if since is not None:
            query = query.where(stream_gaps.c.gap_from >= _aware(since, "since"))
        query = query.order_by(stream_gaps.c.gap_from, stream_gaps.c.id)
        async with self._read("list stream gaps") as connection:
            result = await connection.execute(query)
            return [StreamGapRecord(**dict(row)) for row in result.mappings().all()]

    # ------------------------------------------------------------------ quality, quarantine

    async def insert_quality_results(self, results: Iterable[QualityResultLike]) -> int:
        """Write quality rule findings (anything with run_id, rule, account, subject, severity,
        detail and optionally created_at); returns the rows written."""
        now = _utcnow()
        rows = [
            {
                "run_id": str(result.run_id),
                "rule": result.rule,
                "account": _check_account(result.account),
                "subject": result.subject,
                "severity": str(result.severity),
                "detail": result.detail,
                "created_at": getattr(result, "created_at", None) or now,
            }
            for result in results
        ]
        if not rows:
            return 0
        async with self._write("write quality results") as connection:
            await connection.execute(sa.insert(quality_results), rows)
        return len(rows)

    async def list_quality_results(
        self,
        account: str,
        *,
        run_id: str | None = None,
        rule: str | None = None,
        severity: str | None = None,
        since: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[QualityResultRecord]:
        account = _check_account(account)
        query = sa.select(quality_results).where(quality_results.c.account == account)
        if run_id is not None:
            query = query.where(quality_results.c.run_id == run_id)
        if rule is not None:
            query = query.where(quality_results.c.rule == rule)
        if severity is not None:
            query = query.where(quality_results.c.severity == severity)
        if since is not None:
            query = query.where(quality_results.c.created_at >= _aware(since, "since"))
        query = query.order_by(quality_results.c.created_at, quality_results.c.id)
        if limit is not None:
            query = query.limit(limit)
        async with self._read("list quality results") as connection:
            result = await connection.execute(query)
            return [QualityResultRecord(**dict(row)) for row in result.mappings().all()]

    async def insert_quarantine(
        self,
        account: str,
        *,
        record_kind: str,
        record_key: str | None,
        reason: str,
        raw: bytes | str,
        source: str,
    ) -> bool:
        """Keep a refused record with its raw payload; False when it was already quarantined
        for the same reason (a replayed page)."""
        account = _check_account(account)
        payload = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        row = {
            "account": account,
            "record_kind": record_kind,
            "record_key": _quarantine_key(record_key, payload),
            "reason": reason,
            "raw": payload,
            "source": str(source),
            "created_at": _utcnow(),
        }
        async with self._write("quarantine a record") as connection:
            return await self._insert_quarantine_rows(connection, [row]) == 1

    async def list_quarantine(
        self, account: str, *, record_kind: str | None = None, limit: int | None = None
    ) -> list[QuarantineRecord]:
        account = _check_account(account)
        query = sa.select(quarantine).where(quarantine.c.account == account)
        if record_kind is not None:
            query = query.where(quarantine.c.record_kind == record_kind)
        query = query.order_by(quarantine.c.created_at, quarantine.c.id)
        if limit is not None:
            query = query.limit(limit)
        async with self._read("list quarantine") as connection:
            result = await connection.execute(query)
            return [
                QuarantineRecord(**{**dict(row), "raw": bytes(row["raw"])})
                for row in result.mappings().all()
            ]

    # ------------------------------------------------------------------ reconciliation

    async def start_reconciliation_run(
        self, account: str, *, dry_run: bool, started_at: dt.datetime | None = None
    ) -> int:
        """Open a reconciliation run; returns its id for the items and the finish."""
        account = _check_account(account)
        started = _aware(started_at, "started_at") if started_at is not None else _utcnow()
        async with self._write("start a reconciliation run") as connection:
            result = await connection.execute(
                sa.insert(reconciliation_runs)
                .values(account=account, started_at=started, dry_run=dry_run)
                .returning(reconciliation_runs.c.id)
            )
            return int(result.scalar_one())

    async def add_reconciliation_items(
        self, run_id: int, account: str, findings: Iterable[FindingLike]
    ) -> int:
        """Write one row per finding (kind, subject, difference, decision, detail)."""
        account = _check_account(account)
        now = _utcnow()
        rows = [
            {
                "run_id": run_id,
                "account": account,
                "kind": finding.kind,
                "subject": finding.subject,
                "difference": finding.difference,
                "decision": finding.decision,
                "detail": getattr(finding, "detail", "") or "",
                "created_at": now,
            }
            for finding in findings
        ]
        if not rows:
            return 0
        async with self._write("write reconciliation items") as connection:
            await connection.execute(sa.insert(reconciliation_items), rows)
        return len(rows)

    async def finish_reconciliation_run(
        self,
        run_id: int,
        *,
        finished_at: dt.datetime | None = None,
        summary: Any = None,
    ) -> None:
        """Close a run with its summary (text or a JSON-able mapping)."""
        finished = _aware(finished_at, "finished_at") if finished_at is not None else _utcnow()
        async with self._write("finish a reconciliation run") as connection:
            result = await connection.execute(
                sa.update(reconciliation_runs)
                .where(reconciliation_runs.c.id == run_id)
                .values(finished_at=finished, summary=summary)
                .returning(reconciliation_runs.c.id)
            )
            if result.first() is None:
                raise StorageError(f"no reconciliation run with id {run_id}")

    async def list_reconciliation_runs(
        self, account: str, *, limit: int | None = None
    ) -> list[ReconciliationRunRecord]:
        """Runs newest first."""
        account = _check_account(account)
        query = (
            sa.select(reconciliation_runs)
            .where(reconciliation_runs.c.account == account)
            .order_by(reconciliation_runs.c.started_at.desc(), reconciliation_runs.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        async with self._read("list reconciliation runs") as connection:
            result = await connection.execute(query)
            return [
                ReconciliationRunRecord(**{**dict(row), "dry_run": bool(row["dry_run"])})
                for row in result.mappings().all()
            ]

    async def list_reconciliation_items(self, run_id: int) -> list[ReconciliationItemRecord]:
        async with self._read("list reconciliation items") as connection:
            result = await connection.execute(
                sa.select(reconciliation_items)
                .where(reconciliation_items.c.run_id == run_id)
                .order_by(reconciliation_items.c.id)
            )
            return [ReconciliationItemRecord(**dict(row)) for row in result.mappings().all()]

    # ------------------------------------------------------------------ risk

    async def insert_exposure_snapshot(self, snapshot: ExposureLike) -> bool:
        """Write an exposure measurement; False when one already exists for that instant."""
        account = _check_account(snapshot.account)
        _aware(snapshot.at, "exposure at")
        detail = {
            "quantities": dict(getattr(snapshot, "quantities", {}) or {}),
            "unpriced": list(getattr(snapshot, "unpriced", ()) or ()),
        }
        row = {
            "account": account,
            "at": snapshot.at,
            "gross": snapshot.gross,
            "net": snapshot.net,
            "long": snapshot.long,
            "short": snapshot.short,
            "per_symbol": dict(snapshot.per_symbol),
            "detail": detail,
        }
        statement = (
            self._upsert(exposure_snapshots)
            .on_conflict_do_nothing(
                index_elements=[exposure_snapshots.c.account, exposure_snapshots.c.at]
            )
            .returning(exposure_snapshots.c.id)
        )
        async with self._write("write an exposure snapshot") as connection:
            return len((await connection.execute(statement, row)).all()) == 1

    async def list_exposure_snapshots(
        self,
        account: str,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[ExposureRecord]:
        account = _check_account(account)
        query = sa.select(exposure_snapshots).where(exposure_snapshots.c.account == account)
        if since is not None:
            query = query.where(exposure_snapshots.c.at >= _aware(since, "since"))
        if until is not None:
            query = query.where(exposure_snapshots.c.at < _aware(until, "until"))
        order = exposure_snapshots.c.at.desc() if newest_first else exposure_snapshots.c.at
        query = query.order_by(order)
        if limit is not None:
            query = query.limit(limit)
        async with self._read("list exposure snapshots") as connection:
            result = await connection.execute(query)
            return [_exposure_record(row) for row in result.mappings().all()]

    async def latest_exposure(self, account: str) -> ExposureRecord | None:
        found = await self.list_exposure_snapshots(account, limit=1, newest_first=True)
        return found[0] if found else None

    async def insert_risk_breaches(self, breaches: Iterable[RiskBreachLike]) -> int:
        """Write limit breaches (account, at, limit_name, subject, value, limit, detail)."""
        rows = []
        for breach in breaches:
            rows.append(
                {
                    "account": _check_account(breach.account),
                    "at": _aware(breach.at, "breach at"),
                    "limit_name": breach.limit_name,
                    "subject": breach.subject,
                    "value": breach.value,
                    "limit": breach.limit,
                    "detail": breach.detail or "",
                }
            )
        if not rows:
            return 0
        async with self._write("write risk breaches") as connection:
            await connection.execute(sa.insert(risk_breaches), rows)
        return len(rows)

    async def list_risk_breaches(
        self, account: str, *, since: dt.datetime | None = None, limit: int | None = None
    ) -> list[RiskBreachRecord]:
        account = _check_account(account)
        query = sa.select(risk_breaches).where(risk_breaches.c.account == account)
        if since is not None:
            query = query.where(risk_breaches.c.at >= _aware(since, "since"))
        query = query.order_by(risk_breaches.c.at, risk_breaches.c.id)
        if limit is not None:
            query = query.limit(limit)
        async with self._read("list risk breaches") as connection:
            result = await connection.execute(query)
            return [RiskBreachRecord(**dict(row)) for row in result.mappings().all()]


# --------------------------------------------------------------------------- helpers


def _check_sqlite_directory(database: DatabaseURL) -> None:
    path = Path(database.url.database or "")
    parent = path.expanduser().resolve().parent
    if not parent.is_dir():
        raise StorageError(
            f"cannot create the SQLite database {path}: the directory {parent} does not exist. "
            "Create it, or point ALPACA_DATABASE_URL at sqlite:///<existing dir>/file.db"
        )


def _id_conflict(
    fill: Fill,
    key: tuple[str, Decimal],
    key_of_execution: dict[str, tuple[str, Decimal]],
    key_of_activity: dict[str, tuple[str, Decimal]],
) -> str | None:
    for name, value, known in (
        ("execution_id", fill.execution_id, key_of_execution),
        ("activity_id", fill.activity_id, key_of_activity),
    ):
        if value is None:
            continue
        other = known.get(value)
        if other is not None and other != key:
            return (
                f"{name} {value} also reported for order {other[0]} at cum_qty {other[1]}, not "
                f"cum_qty {key[1]}: one id cannot belong to two executions"
            )
    return None


def _order_view(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": None if order.side is None else order.side.value,
        "type": None if order.type is None else order.type.value,
        "order_class": order.order_class.value,
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "qty": order.qty,
        "notional": order.notional,
        "filled_qty": order.filled_qty,
        "filled_avg_price": order.filled_avg_price,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "trail_price": order.trail_price,
        "trail_percent": order.trail_percent,
        "parent_id": order.parent_id,
        "replaces": order.replaces,
        "replaced_by": order.replaced_by,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def _fill_view(fill: Fill) -> dict[str, Any]:
    return {
        "order_id": fill.order_id,
        "cum_qty": fill.cum_qty,
        "fill_id": fill.fill_id,
        "execution_id": fill.execution_id,
        "activity_id": fill.activity_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "qty": fill.qty,
        "price": fill.price,
        "fee": fill.fee,
        "timestamp": fill.timestamp,
    }


def _exposure_record(row: Mapping[Any, Any]) -> ExposureRecord:
    detail = row["detail"] or {}
    return ExposureRecord(
        id=row["id"],
        account=row["account"],
        at=row["at"],
        gross=row["gross"],
        net=row["net"],
        long=row["long"],
        short=row["short"],
        per_symbol={k: Decimal(str(v)) for k, v in (row["per_symbol"] or {}).items()},
        quantities={k: Decimal(str(v)) for k, v in (detail.get("quantities") or {}).items()},
        unpriced=tuple(detail.get("unpriced") or ()),
    )
