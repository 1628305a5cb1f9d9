"""The account's snapshot and positions, written monotonically (``HoldingWrites``).

* Snapshots are a time series keyed ``(account, observed_at)``; the newest one observed becomes
  the account's (``accounts.snapshot_at``), whatever the arrival order.
* A FULL positions set older than (or as old as) the stored one (``accounts.positions_at``) is
  ignored; a symbol whose stored row is newer than the set (a position derived from a later
  stream fill) is kept; a symbol missing from the set is closed only if its row is older.
* A PARTIAL update (``position_updates``, ``set_position``) writes a symbol only when the stored
  row and the newest full set are both older (a position is dated by its ``observed_at``).

Each holding change (qty, side, average price, cost basis) adds a ``position_snapshots`` row in
the same transaction, so ``positions_as_of`` can answer for any past instant.

Imports ``models``, ``errors`` and the ``storage`` modules it names; never the client, the cache
or the sync engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Set
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from alpaca_integration.errors import StorageError
from alpaca_integration.models import DataSource, Position
from alpaca_integration.storage import codec, rules
from alpaca_integration.storage.base import (
    AccountState,
    StoreBase,
    aware,
    check_account,
    chunks,
    utcnow,
)
from alpaca_integration.storage.batch import PositionUpdate, Row
from alpaca_integration.storage.bulk import (
    BulkInsert,
    DeferredInserts,
)
from alpaca_integration.storage.tables import (
    account_snapshots,
    accounts,
    position_snapshots,
    positions,
)

__all__ = ["HoldingWrites"]


class HoldingWrites(StoreBase):
    """Writes the account snapshot, full positions sets and single-symbol position updates."""

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
        account = check_account(account)
        source_value = DataSource(source).value
        now = utcnow()
        if position is not None and position.symbol != symbol:
            raise StorageError(
                f"set_position({symbol!r}) was given the position of {position.symbol!r}"
            )
        at = aware(
            position.observed_at if position is not None else observed_at or now, "observed_at"
        )
        row = None
        if position is not None:
            row = codec.position_row(
                position,
                account=account,
                source=source_value,
                data_source=self.data_source,
                now=now,
            )
        async with self._write("set a position") as connection:
            state = await self._lock_account(connection, account, now)
            moved, _ = await self._apply_position_updates(
                connection, account, {symbol: (row, at)}, source_value, state, now
            )
            return moved

    async def _apply_snapshot(
        self,
        connection: AsyncConnection,
        account: str,
        row: Row,
        state: AccountState,
    ) -> tuple[int, bool]:
        """Store the snapshot; returns (rows inserted, whether it is now the account's newest)."""

        def build(bulk: BulkInsert) -> Any:
            return rules.on_conflict(rules.ACCOUNT_SNAPSHOTS, bulk.insert, self.dialect).returning(
                account_snapshots.c.observed_at
            )

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
        rows: list[Row],
        as_of: dt.datetime,
        state: AccountState,
        now: dt.datetime,
    ) -> tuple[int, bool]:
        """Store a FULL positions set as of ``as_of``; returns (holdings changed, whether the
        set was newer than the stored one)."""
        latest = state.get("positions_at")
        if latest is not None and as_of <= latest:
            return 0, False
        current = await self._stored_positions(connection, account, None)
        upserts: list[Row] = []
        history: list[Row] = []
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
        updates: dict[str, PositionUpdate],
        source: str,
        state: AccountState,
        now: dt.datetime,
        held_rows: tuple[Set[str], Mapping[str, Row]] | None = None,
        written_rows: dict[str, Row | None] | None = None,
        later: DeferredInserts | None = None,
    ) -> tuple[int, list[str]]:
        """Upsert/delete single symbols, each only when newer than what is stored; returns
        (holdings changed, symbols written). ``held_rows``: (symbols, their stored rows) read
        earlier in this transaction; read again only for symbols it does not cover.
        ``written_rows``: filled with each symbol written, its row as stored (None: closed).
        ``later``: where the history rows' insert may wait (``_write_positions``)."""
        latest = state.get("positions_at")
        fresh = {s: u for s, u in updates.items() if latest is None or u[1] > latest}
        if not fresh:
            return 0, []
        if held_rows is not None and held_rows[0] >= fresh.keys():
            stored = dict(held_rows[1])
        else:
            stored = await self._stored_positions(connection, account, sorted(fresh))
        upserts: list[Row] = []
        closed: list[str] = []
        history: list[Row] = []
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
            await self._write_positions(
                connection, account, upserts, closed, history, written_rows, later
            )
        return len(history), written

    async def _stored_positions(
        self, connection: AsyncConnection, account: str, symbols: list[str] | None
    ) -> dict[str, Row]:
        """The stored position rows of ``symbols`` (all of the account's when None)."""
        if symbols is None:
            result = await connection.execute(
                sa.select(positions).where(positions.c.account == account)
            )
            return {row["symbol"]: dict(row) for row in result.mappings().all()}
        stored: dict[str, Row] = {}
        for chunk in chunks(symbols):
            result = await connection.execute(
                sa.select(positions).where(
                    positions.c.account == account, positions.c.symbol.in_(chunk)
                )
            )
            stored.update({row["symbol"]: dict(row) for row in result.mappings().all()})
        return stored

    async def _write_positions(
        self,
        connection: AsyncConnection,
        account: str,
        upserts: list[Row],
        closed: list[str],
        history: list[Row],
        written_rows: dict[str, Row | None] | None = None,
        later: DeferredInserts | None = None,
    ) -> None:
        """``written_rows``: filled with the upserted rows as stored (RETURNING) and the closed
        symbols (None). ``later``: the history rows' insert (read by nothing in the
        transaction) may wait there for the batch's other small upserts; with ``written_rows``
        (which then has its rows once ``later`` has run), so do the upsert and the delete."""
        whole = written_rows is not None

        def build_current(bulk: BulkInsert) -> Any:
            upsert = rules.on_conflict(rules.POSITIONS, bulk.insert, self.dialect)
            return upsert.returning(*positions.c) if whole else upsert

        def build_history(bulk: BulkInsert) -> Any:
            return rules.on_conflict(rules.POSITION_SNAPSHOTS, bulk.insert, self.dialect)

        name = "positions_returned" if whole else "positions"
        if written_rows is not None and later is not None:
            # Nothing in the transaction reads the positions after this (the rows as written come
            # back from the upsert's RETURNING): they wait with the history for the batch's
            # other small upserts, one round trip for all (``DeferredInserts``).
            def keep(stored: list[dict[str, Any]]) -> None:
                written_rows.update((row["symbol"], row) for row in stored)

            written_rows.update((symbol, None) for symbol in closed)
            await self._bulk(
                connection, name, positions, upserts, build_current, later=later, on_rows=keep
            )
            if closed:
                later.add("positions_closed", _CLOSE_SQL, (account, list(closed)))
        else:
            stored = await self._bulk(
                connection, name, positions, upserts, build_current, mappings=whole
            )
            if written_rows is not None:
                written_rows.update((row["symbol"], row) for row in stored)
                written_rows.update((symbol, None) for symbol in closed)
            for chunk in chunks(closed):
                await connection.execute(_CLOSE, {"account": account, "symbols": list(chunk)})
        await self._bulk(
            connection,
            "position_snapshots",
            position_snapshots,
            history,
            build_history,
            later=later,
        )


# Built once (a statement SQLAlchemy has seen keeps its cache key, so each execution goes
# straight to the compiled form): the account's positions of some symbols deleted.
_CLOSE = sa.delete(positions).where(
    positions.c.account == sa.bindparam("account", type_=positions.c.account.type),
    positions.c.symbol.in_(sa.bindparam("symbols", expanding=True, type_=positions.c.symbol.type)),
)
# The same, as a part of ``DeferredInserts`` (PostgreSQL): the symbols as one array.
_CLOSE_SQL = (
    "DELETE FROM positions WHERE positions.account = $1::VARCHAR "
    "AND positions.symbol = ANY($2::VARCHAR[])"
)
