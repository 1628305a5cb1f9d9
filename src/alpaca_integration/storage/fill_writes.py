"""The write path's fills: screening a batch's fills against the store (an execution id or
activity id stored for another execution, two executions with one cumulative quantity),
trimming inferred executions a real one replaces, and the fills' upsert. A mixin of
``storage.writes.Writes``, run inside its one transaction under the account's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from alpaca_integration.storage import codec, rules
from alpaca_integration.storage.base import (
    StoreBase,
    chunks,
)
from alpaca_integration.storage.batch import (
    FillKey,
    PreparedBatch,
    Row,
    fill_key,
    quarantine_row,
    same_cum_clash,
)
from alpaca_integration.storage.dialect import (
    BulkInsert,
    DeferredInserts,
)
from alpaca_integration.storage.order_reads import StoredProgress
from alpaca_integration.storage.tables import (
    fills,
)

__all__ = ["FillWrites"]

log = logging.getLogger(__name__)


class FillWrites(StoreBase):
    """Fills inside the transaction of ``Writes`` (see the module)."""

    async def _screen_fills_against_store(
        self, connection: AsyncConnection, account: str, batch: PreparedBatch
    ) -> None:
        """Quarantine fills whose execution_id / activity_id the store holds for another
        execution (the slow path, only after such a clash)."""
        stored: dict[tuple[str, str], FillKey] = {}
        for column_name in ("execution_id", "activity_id"):
            column = fills.c[column_name]
            ids = sorted({row[column_name] for row in batch.fill_rows if row[column_name]})
            for chunk in chunks(ids):
                result = await connection.execute(
                    sa.select(column, fills.c.order_id, fills.c.cum_qty).where(
                        fills.c.account == account, column.in_(chunk)
                    )
                )
                for value, order_id, cum_qty in result.all():
                    stored[(column_name, value)] = fill_key(order_id, cum_qty)
        _keep_fill_rows(account, batch, lambda row: _id_clash(row, stored))

    async def _screen_same_cum(
        self,
        connection: AsyncConnection,
        account: str,
        batch: PreparedBatch,
        known: StoredProgress | None = None,
    ) -> tuple[set[str], set[FillKey]]:
        """Quarantine fills whose (order_id, cum_qty) holds another stored execution: one narrow
        read of the batch's orders' stored execution ids (none when ``known``, read earlier in
        this transaction, covers them). Returns the orders holding an inferred execution (no id:
        reconciliation's) that this batch brings real executions to, and the keys stored for
        the batch's orders."""
        stored: dict[FillKey, Row] = {}
        ids = sorted({row["order_id"] for row in batch.fill_rows})
        if known is not None and known.order_ids.issuperset(ids):
            rows = known.executions
        else:
            rows = []
            columns = (
                fills.c.order_id,
                fills.c.cum_qty,
                fills.c.execution_id,
                fills.c.activity_id,
            )
            # (A prepared statement's generic plan would scan every fill of the account: the
            # PostgreSQL connections plan each statement for its values, ``dialect``.)
            # A page on PostgreSQL: one statement with the ids as one array (an IN list of a
            # page's orders is 4 statements, each rendered anew); an event: its IN list.
            page = self._copies_new_rows(batch.fill_rows)
            for chosen in (
                [_any_of(fills.c.order_id, ids)]
                if page
                else (fills.c.order_id.in_(chunk) for chunk in chunks(ids))
            ):
                result = await connection.execute(
                    sa.select(*columns).where(fills.c.account == account, chosen)
                )
                rows.extend(dict(row) for row in result.mappings().all())
        for row in rows:
            stored[fill_key(row["order_id"], row["cum_qty"])] = row
        if not stored:
            # Nothing stored for these orders: nothing to clash with (a new page).
            return set(), set()

        def clash(row: Row) -> str | None:
            known = stored.get(fill_key(row["order_id"], row["cum_qty"]))
            return None if known is None else same_cum_clash(known, row)

        _keep_fill_rows(account, batch, clash)
        inferred = {
            k[0] for k, row in stored.items() if not row["execution_id"] and not row["activity_id"]
        }
        return inferred & {row["order_id"] for row in batch.fill_rows}, set(stored)

    async def _trim_inferred(
        self, connection: AsyncConnection, account: str, order_ids: Iterable[str]
    ) -> int:
        """An inferred execution covers the quantity between the execution stored below it and
        its own cum_qty: once real executions land inside that span it shrinks to what is still
        unexplained (and goes when nothing is), so an order's fills never sum past its
        filled_qty. Returns the rows changed."""
        changed = 0
        for order_id in sorted(order_ids):
            where = sa.and_(fills.c.account == account, fills.c.order_id == order_id)
            result = await connection.execute(
                sa.select(fills.c.cum_qty, fills.c.qty, fills.c.execution_id, fills.c.activity_id)
                .where(where)
                .order_by(self._amount_order(fills.c.cum_qty))
            )
            below = Decimal(0)
            for row in result.all():
                if row.execution_id is None and row.activity_id is None:
                    span = row.cum_qty - below
                    if span < row.qty:
                        key = sa.and_(where, fills.c.cum_qty == row.cum_qty)
                        statement = (
                            sa.delete(fills).where(key)
                            if span <= 0
                            else sa.update(fills).where(key).values(qty=span)
                        )
                        await connection.execute(statement)
                        changed += 1
                below = row.cum_qty
        return changed

    async def _upsert_fills(
        self,
        connection: AsyncConnection,
        batch: PreparedBatch,
        later: DeferredInserts | None = None,
        stored_keys: set[FillKey] | None = None,
    ) -> int:
        """Returns the fills written now (``later``: those deferred are counted there).
        ``stored_keys`` (the keys stored for the batch's orders, read in this transaction): on
        a page (``_copies_new_rows``), the fills whose key is not among them are COPYed in
        instead of upserted."""
        rows, new = batch.fill_rows, []
        if stored_keys is not None and self._copies_new_rows(rows):
            if stored_keys:
                keyed = [(row, fill_key(row["order_id"], row["cum_qty"])) for row in rows]
                new = [row for row, key in keyed if key not in stored_keys]
                rows = [row for row, key in keyed if key in stored_keys]
            else:
                rows, new = [], rows

        def build(bulk: BulkInsert) -> Any:
            return rules.on_conflict(rules.FILLS, bulk.insert, self.dialect).returning(
                fills.c.order_id
            )

        changed = len(await self._bulk(connection, "fills", fills, rows, build, later=later))
        await self._copy_new(connection, "fills", fills, new)
        return changed + len(new)


def _any_of(column: Any, values: list[str]) -> Any:
    """``column = ANY(:values)``: one array parameter for any number of values (PostgreSQL)."""
    return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(sa.String())))


def _keep_fill_rows(
    account: str, batch: PreparedBatch, why_not: Callable[[Row], str | None]
) -> None:
    """Keep the batch's fill rows ``why_not`` finds nothing against; quarantine the others."""
    kept: list[Row] = []
    for row in batch.fill_rows:
        clash = why_not(row)
        if clash is None:
            kept.append(row)
            continue
        batch.quarantine_rows.append(
            quarantine_row(
                account,
                record_kind="fill",
                record_key=row["fill_id"],
                reason=clash,
                raw=codec.raw_bytes(row["raw_stream"] or row["raw_rest"]),
                source=row["source"],
                now=row["ingested_at"],
            )
        )
    batch.fill_rows = kept


def _id_clash(row: Row, stored: dict[tuple[str, str], FillKey]) -> str | None:
    """Why ``row`` cannot be stored: an id of it already names another stored execution."""
    key = fill_key(row["order_id"], row["cum_qty"])
    clash = None
    for column_name in ("execution_id", "activity_id"):
        other = stored.get((column_name, row[column_name])) if row[column_name] else None
        if other is not None and other != key:
            clash = (
                f"{column_name} {row[column_name]} is already stored for order "
                f"{other[0]} at cum_qty {other[1]}, not cum_qty {key[1]}"
            )
    return clash
