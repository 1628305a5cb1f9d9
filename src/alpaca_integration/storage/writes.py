"""The write path: ``apply_batch`` (and ``apply``), one transaction per page or event.

Everything a page or an event brings (orders with their legs, fills, activities, an account
snapshot, positions, and the checkpoints that cover them) is prepared in Python first
(``storage.batch``), then written in ONE transaction under the account's row lock, so a
checkpoint never gets ahead of its rows and a failure leaves both unchanged. Writes are bulk
upserts (one ``INSERT .. ON CONFLICT DO UPDATE .. WHERE newer`` per table and page) and so

* **idempotent**: applying the same page or event twice changes nothing and reports 0 rows;
* **monotonic**: an older update never overwrites a newer one (orders compare ``last_event_at``,
  then the status's progress, then ``filled_qty``; fills of one execution merge; lineage and
  ownership, once known, are kept). Those rules are stated once, in ``storage.rules``, which
  generates both the SQL and the in-batch merge.

Imports ``models``, ``errors`` and the ``storage`` modules it names; never the client, the cache,
the sync engine, the CLI or Prefect.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from alpaca_integration.errors import FencedWriteError, StorageError
from alpaca_integration.models import AccountSnapshot, Activity, DataSource, Fill, Order, Position
from alpaca_integration.storage import codec, rules
from alpaca_integration.storage.base import (
    AccountState,
    check_account,
    chunks,
    reason,
    utcnow,
)
from alpaca_integration.storage.batch import (
    BatchContext,
    FillKey,
    PositionUpdate,
    PreparedBatch,
    Row,
    data_source_of,
    is_fee,
    position_update_rows,
    prepare,
)
from alpaca_integration.storage.bulk import (
    BulkInsert,
    DeferredInserts,
)
from alpaca_integration.storage.dialect import (
    POSTGRESQL,
    WRITE_TRANSACTION,
)
from alpaca_integration.storage.fees import FeeWrites
from alpaca_integration.storage.fill_writes import FillWrites, _any_of
from alpaca_integration.storage.holdings import HoldingWrites
from alpaca_integration.storage.order_reads import StoredProgress, read_stored_progress
from alpaca_integration.storage.records import (
    FENCE_FEED,
    ApplyBatch,
    ApplyResult,
    StreamPositions,
)
from alpaca_integration.storage.results import insert_quarantine_rows
from alpaca_integration.storage.tables import (
    activities,
    orders,
    positions,
    sync_checkpoints,
)

__all__ = ["Writes"]

log = logging.getLogger(__name__)


class Writes(HoldingWrites, FeeWrites, FillWrites):
    """``apply_batch`` / ``apply`` and the per-table upserts they run, plus ``mark_external``."""

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
        fence: int | None = None,
    ) -> ApplyResult:
        """``apply_batch`` with the batch's fields as keywords (see ``records.ApplyBatch``)."""
        batch = ApplyBatch(
            orders=tuple(orders),
            fills=tuple(fills),
            activities=tuple(activities),
            snapshot=snapshot,
            positions=None if positions is None else tuple(positions),
            positions_at=positions_at,
            position_updates=position_updates,
            position_updates_at=position_updates_at,
            checkpoints=checkpoints,
            source=DataSource(data_source_of(source)),
            fence=fence,
        )
        return await self.apply_batch(account, batch)

    async def apply_batch(self, account: str, batch: ApplyBatch) -> ApplyResult:
        """Write everything one page or event brought, and the checkpoints it covers, in ONE
        transaction; returns the rows actually changed (``ApplyResult``)."""
        account = check_account(account)
        now = utcnow()
        context = BatchContext(
            account=account,
            source=data_source_of(batch.source),
            data_source=self.data_source,
            integration_prefix=self.integration_prefix,
            now=now,
        )
        prepared = prepare(context, batch)
        for careful in (False, True):
            try:
                async with self._engine.connect() as connection:
                    connection = await connection.execution_options(**{WRITE_TRANSACTION: True})
                    async with connection.begin():
                        return await self._apply_prepared(
                            connection,
                            context,
                            prepared,
                            careful=careful,
                            batch=batch,
                        )
            except IntegrityError as exc:
                if careful:
                    raise self._error("apply the batch", exc) from exc
                # Another unique key than the one upserted on was hit (e.g. an execution_id
                # already stored under another cum_qty): redo with per-fill checks, which
                # quarantine the offending fills instead of failing the whole batch.
                log.warning(
                    "apply for %s hit %s; retrying with per-fill checks", account, reason(exc)
                )
            except StorageError:
                raise
            except (SQLAlchemyError, OSError) as exc:
                raise self._error("apply the batch", exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _apply_prepared(
        self,
        connection: AsyncConnection,
        context: BatchContext,
        prepared: PreparedBatch,
        *,
        careful: bool,
        batch: ApplyBatch,
    ) -> ApplyResult:
        account, now = context.account, context.now
        state = await self._lock_account(
            connection, account, now, probe_fees=bool(prepared.fee_keys)
        )
        if batch.fence is not None:
            await self._claim_fence(connection, account, batch.fence, now)
        position_updates = prepared.position_updates
        known: StoredProgress | None = None
        # With read_back, the orders as this transaction leaves them come back from their own
        # upsert (RETURNING), not from one more read; and, when the stream's positions are
        # judged and no full set comes with them, so do the positions: the account's whole set
        # read with the judge's (under the lock, before any write), then the symbols written.
        every_position = batch.read_back and prepared.position_rows is None
        if batch.stream_positions is not None:
            known, judged = await self._judged_positions(
                connection, context, prepared, batch.stream_positions, every_position
            )
            position_updates = {**position_updates, **judged}
        committed: dict[str, Row] | None = {} if batch.read_back else None
        written: dict[str, Row | None] | None = None
        if committed is not None and known is not None and known.every_position:
            written = {}
        result = await self._write_prepared(
            connection,
            account,
            prepared,
            state,
            now,
            careful,
            position_updates,
            known,
            committed,
            written,
        )
        if committed is None:
            return result
        held_now = None
        if known is not None and written is not None:
            held_now = {**known.positions, **written}
        return await self._read_back(connection, account, result, committed, held_now)

    async def _judged_positions(
        self,
        connection: AsyncConnection,
        context: BatchContext,
        prepared: PreparedBatch,
        stream: StreamPositions,
        every_position: bool = False,
    ) -> tuple[StoredProgress, dict[str, PositionUpdate]]:
        """``stream``'s judge applied to the store as it is now (under the account's lock,
        before the batch's rows are written); the rows read, for the same-cum screen and the
        position updates, which then need no reads of their own (``every_position``: all of the
        account's positions read, ``read_stored_progress``)."""
        order_ids = stream.order_ids | {row["order_id"] for row in prepared.fill_rows}
        known = await read_stored_progress(
            connection, context.account, order_ids, stream.symbols, every_position=every_position
        )
        moves = stream.judge(known.progress)
        if not moves:
            return known, {}
        return known, position_update_rows(
            context,
            {symbol: position for symbol, (position, _) in moves.items()},
            {symbol: at for symbol, (_, at) in moves.items()},
        )

    async def _read_back(
        self,
        connection: AsyncConnection,
        account: str,
        result: ApplyResult,
        committed: dict[str, Row],
        held_now: dict[str, Row | None] | None = None,
    ) -> ApplyResult:
        """``result`` with the changed orders and (when a symbol moved) the positions as this
        transaction commits them (``ApplyBatch.read_back``). ``committed``: the rows of the
        changed orders as their writes returned them (every order of ``result.order_ids``),
        oldest first as ``list_orders`` sorts them. ``held_now``: every position row of the
        account as this transaction leaves it (None: closed), when known without a read."""
        changed = [
            codec.order_from_row(row)
            for row in sorted(committed.values(), key=lambda row: (row["created_at"], row["id"]))
        ]
        held: tuple[Position, ...] | None = None
        if result.position_symbols and held_now is not None:
            held = tuple(
                codec.position_from_row(row)
                for _, row in sorted(held_now.items())
                if row is not None
            )
        elif result.position_symbols:
            rows = await connection.execute(
                sa.select(positions)
                .where(positions.c.account == account)
                .order_by(positions.c.symbol)
            )
            held = tuple(codec.position_from_row(row) for row in rows.mappings().all())
        return msgspec.structs.replace(
            result, committed_orders=tuple(changed), committed_positions=held
        )

    async def _write_prepared(
        self,
        connection: AsyncConnection,
        account: str,
        batch: PreparedBatch,
        state: AccountState,
        now: dt.datetime,
        careful: bool,
        position_updates: dict[str, PositionUpdate],
        known: StoredProgress | None,
        committed: dict[str, Row] | None = None,
        written: dict[str, Row | None] | None = None,
    ) -> ApplyResult:
        # A page's new rows go in by COPY (``_copies_new_rows``): not on the careful retry, which
        # upserts everything as before, nor when the orders' whole rows are read back.
        order_ids = await self._upsert_orders(
            connection, account, batch, committed, copy_new=not careful and committed is None
        )
        activity_count = await self._upsert_activities(connection, batch)
        if careful:
            await self._screen_fills_against_store(connection, account, batch)
        inferred: set[str] = set()
        stored_keys: set[FillKey] = set()
        if batch.fill_rows:
            inferred, stored_keys = await self._screen_same_cum(connection, account, batch, known)
        # PostgreSQL: the small upserts nothing after them in this transaction reads (the
        # fills, unless trimmed or fees are recomputed from them; the positions' history; the
        # checkpoints) go together as one statement at the end: one round trip, not three.
        later = DeferredInserts() if self.dialect == POSTGRESQL else None
        fees_due = bool(state.get("has_fees")) or any(is_fee(row) for row in batch.activity_rows)
        fill_count = await self._upsert_fills(
            connection,
            batch,
            None if inferred or fees_due else later,
            None if careful else stored_keys,
        )
        if inferred:
            fill_count += await self._trim_inferred(connection, account, inferred)
        fee_count = 0
        if fees_due:
            # Skipped when the account has no FEE activity at all (the lock's probe said so and
            # this batch brings none), which is the stream's steady state on many accounts.
            fee_count = await self._recompute_fees(connection, account, batch.fee_keys, now)
        snapshot_count, account_updated = 0, False
        if batch.snapshot_row is not None:
            snapshot_count, account_updated = await self._apply_snapshot(
                connection, account, batch.snapshot_row, state
            )
        position_count, refreshed, position_symbols = await self._apply_holdings(
            connection, account, batch, position_updates, state, now, known, written, later
        )
        quarantined = await insert_quarantine_rows(connection, self.dialect, batch.quarantine_rows)
        checkpoint_count = await self._upsert_checkpoints(connection, batch, later)
        if later is not None:
            await later.run(connection)
            fill_count += later.count("fills")
            checkpoint_count += later.count("checkpoints")
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

    async def _apply_holdings(
        self,
        connection: AsyncConnection,
        account: str,
        batch: PreparedBatch,
        position_updates: dict[str, PositionUpdate],
        state: AccountState,
        now: dt.datetime,
        known: StoredProgress | None = None,
        written: dict[str, Row | None] | None = None,
        later: DeferredInserts | None = None,
    ) -> tuple[int, bool, list[str]]:
        """The full positions set, then the single-symbol updates; returns (holdings changed,
        whether a newer set was stored, symbols the updates wrote). ``known``: position rows
        read earlier in this transaction (reused when no full set was written since).
        ``written``: filled with the symbols the updates wrote (``_apply_position_updates``);
        ``later``: where their history insert may wait (``_write_positions``)."""
        count, refreshed = 0, False
        if batch.position_rows is not None and batch.positions_at is not None:
            count, refreshed = await self._apply_positions(
                connection, account, batch.position_rows, batch.positions_at, state, now
            )
        symbols: list[str] = []
        if position_updates:
            held = None
            if known is not None and batch.position_rows is None:
                held = (known.symbols, known.positions)
            moved, symbols = await self._apply_position_updates(
                connection,
                account,
                position_updates,
                batch.source,
                state,
                now,
                held,
                written,
                later,
            )
            count += moved
        return count, refreshed, symbols

    async def mark_external(
        self, account: str, order_ids: Iterable[str], external: bool = True
    ) -> int:
        """Set whether orders were placed outside this integration; returns rows changed."""
        account = check_account(account)
        ids = sorted(set(order_ids))
        changed = 0
        async with self._write("mark orders external") as connection:
            for chunk in chunks(ids):
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

    # ------------------------------------------------------------------ orders

    async def _upsert_orders(
        self,
        connection: AsyncConnection,
        account: str,
        batch: PreparedBatch,
        committed: dict[str, Row] | None = None,
        *,
        copy_new: bool = False,
    ) -> list[str]:
        """Upsert the batch's orders; returns the ids of those changed. ``committed``: filled
        with the changed orders' whole rows as written (by id). ``copy_new``: on a page
        (``_copies_new_rows``), the orders not stored yet are COPYed in instead."""
        rows = list(batch.order_rows.values())
        if not rows:
            return []
        inherited = await self._inherit_ownership(connection, account, batch.order_rows)
        whole = committed is not None
        new: list[Row] = []
        if copy_new and self._copies_new_rows(rows):
            stored = await self._stored_order_ids(connection, account, list(batch.order_rows))
            new = [row for row in rows if row["id"] not in stored]
            rows = [row for row in rows if row["id"] in stored]

        def build(bulk: BulkInsert) -> Any:
            upsert = rules.on_conflict(rules.ORDERS, bulk.insert, self.dialect)
            return upsert.returning(*orders.c) if whole else upsert.returning(orders.c.id)

        name = "orders_returned" if whole else "orders"
        returned = await self._bulk(connection, name, orders, rows, build, mappings=whole)
        await self._copy_new(connection, "orders", orders, new)
        if committed is not None:
            committed.update((str(row["id"]), row) for row in returned)
            changed = [str(row["id"]) for row in returned]
        else:
            changed = [str(row[0]) for row in returned]
        changed += [str(row["id"]) for row in new]
        if inherited:
            changed += await self._recognise_replacements(
                connection, account, inherited, changed, committed
            )
        return changed

    async def _stored_order_ids(
        self, connection: AsyncConnection, account: str, order_ids: list[str]
    ) -> set[str]:
        """Which of ``order_ids`` the account's orders hold (PostgreSQL: one statement, the ids
        as one array)."""
        result = await connection.execute(
            sa.select(orders.c.id).where(
                orders.c.account == account, _any_of(orders.c.id, order_ids)
            )
        )
        return {str(order_id) for (order_id,) in result.all()}

    async def _recognise_replacements(
        self,
        connection: AsyncConnection,
        account: str,
        inherited: list[str],
        changed: list[str],
        committed: dict[str, Row] | None = None,
    ) -> list[str]:
        """The upsert keeps a stored ownership flag; a replacement stored as external before
        what it replaces was known is recognised as ours now. Returns the orders newly changed
        so (``committed``: their rows, as ``_upsert_orders``)."""
        statement = (
            sa.update(orders)
            .where(
                orders.c.account == account,
                orders.c.id.in_(inherited),
                orders.c.external,
                orders.c.parent_id.is_(None),
            )
            .values(external=False)
        )
        known = set(changed)
        if committed is None:
            result = await connection.execute(statement.returning(orders.c.id))
            return [str(order_id) for (order_id,) in result.all() if order_id not in known]
        result = await connection.execute(statement.returning(*orders.c))
        updated = [dict(row) for row in result.mappings().all()]
        committed.update((str(row["id"]), row) for row in updated)
        return [str(row["id"]) for row in updated if row["id"] not in known]

    async def _inherit_ownership(
        self, connection: AsyncConnection, account: str, rows: dict[str, Row]
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
        for chunk in chunks(stored):
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

    # ------------------------------------------------------------------ activities, checkpoints

    async def _upsert_activities(self, connection: AsyncConnection, batch: PreparedBatch) -> int:
        def build(bulk: BulkInsert) -> Any:
            return rules.on_conflict(rules.ACTIVITIES, bulk.insert, self.dialect).returning(
                activities.c.id
            )

        return len(
            await self._bulk(connection, "activities", activities, batch.activity_rows, build)
        )

    async def _upsert_checkpoints(
        self,
        connection: AsyncConnection,
        batch: PreparedBatch,
        later: DeferredInserts | None = None,
    ) -> int:
        """Returns the checkpoints written now (``later``: those deferred are counted there)."""

        def build(bulk: BulkInsert) -> Any:
            return rules.on_conflict(rules.CHECKPOINTS, bulk.insert, self.dialect).returning(
                sync_checkpoints.c.feed
            )

        return len(
            await self._bulk(
                connection,
                "checkpoints",
                sync_checkpoints,
                batch.checkpoint_rows,
                build,
                later=later,
            )
        )

    async def _claim_fence(
        self, connection: AsyncConnection, account: str, fence: int, now: dt.datetime
    ) -> None:
        """Under the account's row lock: refuse a writer older than the stored epoch, else store
        its epoch (zero-padded, so text order is number order) with the batch."""
        if fence < 0:
            raise StorageError(f"a lease epoch is 0 or more, got {fence}")
        mine = f"{fence:020d}"
        where = (sync_checkpoints.c.account == account) & (sync_checkpoints.c.feed == FENCE_FEED)
        stored = (
            await connection.execute(sa.select(sync_checkpoints.c.value).where(where))
        ).scalar()
        if stored is not None and stored > mine:
            raise FencedWriteError(
                f"account {account!r} is written by lease epoch {int(stored)} now, this writer "
                f"holds {fence}: another monitor took it over; nothing was written"
            )
        if stored == mine:
            return
        values = {"value": mine, "updated_at": now, "ingested_at": now}
        if stored is None:
            row = {"account": account, "feed": FENCE_FEED, "data_source": self.data_source}
            await connection.execute(sa.insert(sync_checkpoints).values(**row, **values))
        else:
            await connection.execute(sa.update(sync_checkpoints).where(where).values(**values))
