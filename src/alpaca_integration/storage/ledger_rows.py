"""The ledger's rows (``LedgerRows``): lots, matches, income, daily P&L, returns, checkpoint.

One method writes (``write_ledger``): everything an update of the ledger changed, in ONE
transaction under the account's row lock (the lock every writer of the account queues on), and
idempotent: matches are keyed by their stable position in the account's match sequence, income by
(activity, sleeve), daily P&L by (day, sleeve, symbol) with the day's totals (the updater keeps
them), lots are rewritten book by book, and returns are replaced as a series. ``replace=True`` (a
rebuild) first removes every ledger row of the account, in the same transaction.

The store does not import the ledger (it sits below it): rows go in as mappings whose keys are
the columns of ``storage.ledger_tables`` and come back the same way (``msgspec.convert`` turns
them into the ledger's types). Imports ``errors`` and the ``storage`` modules it names.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from alpaca_integration.storage.base import StoreBase, between, check_account, chunks, utcnow
from alpaca_integration.storage.ledger_tables import (
    LEDGER_TABLES,
    ledger_daily_pnl,
    ledger_income,
    ledger_lots,
    ledger_matches,
    ledger_returns,
    ledger_state,
)
from alpaca_integration.storage.tables import activities, fills

__all__ = ["LedgerRows", "LedgerWrite"]

Row = Mapping[str, Any]


class LedgerWrite(msgspec.Struct, frozen=True, kw_only=True):
    """What one ledger update writes for one account (rows keyed by column name, no ``account``).

    ``books``: the (sleeve, symbol) books whose open lots are rewritten from ``lots`` (rows with
    ``sleeve``, ``symbol`` and ``seq``). ``daily``: daily P&L rows (``day``, ``sleeve``,
    ``symbol``, totals: each replaces the stored row of its key). ``returns``: the whole returns
    series (None leaves it alone). ``state``: the checkpoint row (``method``, ``fills``, ``activities``,
    ``matches``, ``checkpoint``). ``replace``: remove every ledger row of the account first.
    """

    matches: Sequence[Row] = ()
    books: Sequence[tuple[str, str]] = ()
    lots: Sequence[Row] = ()
    income: Sequence[Row] = ()
    daily: Sequence[Row] = ()
    returns: Sequence[Row] | None = None
    state: Row | None = None
    replace: bool = False


def _with_account(account: str, rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [{**row, "account": account} for row in rows]


class LedgerRows(StoreBase):
    """Writes and reads the ledger tables."""

    async def write_ledger(self, account: str, write: LedgerWrite) -> None:
        """Write one ledger update (see ``LedgerWrite``) in one transaction."""
        account = check_account(account)
        now = utcnow()
        async with self._write("write the ledger") as connection:
            await self._lock_account(connection, account, now)
            if write.replace:
                for table in LEDGER_TABLES:
                    await connection.execute(sa.delete(table).where(table.c.account == account))
            await self._upsert_rows(
                connection, ledger_matches, ("account", "seq"), account, write.matches
            )
            await self._rewrite_books(connection, account, write.books, write.lots)
            await self._upsert_rows(
                connection,
                ledger_income,
                ("account", "activity_id", "sleeve"),
                account,
                write.income,
            )
            await self._upsert_rows(
                connection,
                ledger_daily_pnl,
                ("account", "day", "sleeve", "symbol"),
                account,
                write.daily,
            )
            if write.returns is not None:
                await connection.execute(
                    sa.delete(ledger_returns).where(ledger_returns.c.account == account)
                )
                rows = _with_account(account, write.returns)
                if rows:
                    await connection.execute(sa.insert(ledger_returns), rows)
            if write.state is not None:
                state = {**write.state, "account": account, "updated_at": now}
                state.setdefault("rebuilt_at", now)
                await self._upsert_rows(connection, ledger_state, ("account",), account, [state])

    async def _upsert_rows(
        self,
        connection: AsyncConnection,
        table: sa.Table,
        key: tuple[str, ...],
        account: str,
        rows: Sequence[Row],
    ) -> None:
        if not rows:
            return
        statement = self._upsert(table)
        columns = [c.name for c in table.columns if c.name not in key and c.name in rows[0]]
        statement = statement.on_conflict_do_update(
            index_elements=list(key), set_={name: statement.excluded[name] for name in columns}
        )
        for part in chunks(_with_account(account, rows)):
            await connection.execute(statement, list(part))

    async def _rewrite_books(
        self,
        connection: AsyncConnection,
        account: str,
        books: Sequence[tuple[str, str]],
        lots: Sequence[Row],
    ) -> None:
        for part in chunks(list(books)):
            await connection.execute(
                sa.delete(ledger_lots).where(
                    ledger_lots.c.account == account,
                    sa.or_(
                        *[
                            sa.and_(ledger_lots.c.sleeve == sleeve, ledger_lots.c.symbol == symbol)
                            for sleeve, symbol in part
                        ]
                    ),
                )
            )
        for rows in chunks(_with_account(account, lots)):
            await connection.execute(sa.insert(ledger_lots), list(rows))

    # ------------------------------------------------------------------ reads

    async def _rows(self, what: str, query: Any) -> list[dict[str, Any]]:
        async with self._read(what) as connection:
            result = await connection.execute(query)
            # str.__str__: the keys are SQLAlchemy's quoted_name, a str subclass msgspec refuses.
            return [
                {str.__str__(k): v for k, v in row.items() if k != "account"}
                for row in result.mappings()
            ]

    async def ledger_state(self, account: str) -> dict[str, Any] | None:
        """The updater's checkpoint row, None before the first update."""
        account = check_account(account)
        found = await self._rows(
            "read the ledger state",
            sa.select(ledger_state).where(ledger_state.c.account == account),
        )
        return found[0] if found else None

    async def ledger_lots(self, account: str, symbol: str | None = None) -> list[dict[str, Any]]:
        """Open lots by symbol, sleeve and place in the book."""
        account = check_account(account)
        query = sa.select(ledger_lots).where(ledger_lots.c.account == account)
        if symbol is not None:
            query = query.where(ledger_lots.c.symbol == symbol)
        c = ledger_lots.c
        return await self._rows("read lots", query.order_by(c.symbol, c.sleeve, c.seq))

    async def ledger_matches(
        self,
        account: str,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Closed matches in sequence order (``since``/``until`` on ``closed_at``)."""
        account = check_account(account)
        query = sa.select(ledger_matches).where(ledger_matches.c.account == account)
        query = between(query, ledger_matches.c.closed_at, since, until)
        return await self._rows("read matches", query.order_by(ledger_matches.c.seq))

    async def ledger_matches_at(self, account: str, seqs: Sequence[int]) -> list[dict[str, Any]]:
        """The stored matches at these places of the sequence (``seq`` kept in each row)."""
        account = check_account(account)
        rows: list[dict[str, Any]] = []
        for part in chunks(sorted(set(seqs))):
            query = sa.select(ledger_matches).where(
                ledger_matches.c.account == account, ledger_matches.c.seq.in_(list(part))
            )
            rows += await self._rows("read matches", query.order_by(ledger_matches.c.seq))
        return rows

    async def ledger_income(self, account: str) -> list[dict[str, Any]]:
        """Income and charges by time."""
        account = check_account(account)
        c = ledger_income.c
        query = sa.select(ledger_income).where(c.account == account)
        return await self._rows("read income", query.order_by(c.at, c.activity_id, c.sleeve))

    async def ledger_daily_pnl(
        self, account: str, *, since: dt.date | None = None
    ) -> list[dict[str, Any]]:
        """Daily realized P&L and income rows by day, sleeve and symbol."""
        account = check_account(account)
        c = ledger_daily_pnl.c
        query = sa.select(ledger_daily_pnl).where(c.account == account)
        if since is not None:
            query = query.where(c.day >= since)
        return await self._rows("read daily P&L", query.order_by(c.day, c.sleeve, c.symbol))

    async def ledger_returns(self, account: str) -> list[dict[str, Any]]:
        """The stored daily returns series, oldest first."""
        account = check_account(account)
        c = ledger_returns.c
        query = sa.select(ledger_returns).where(c.account == account).order_by(c.day)
        return await self._rows("read returns", query)

    async def ledger_source_counts(self, account: str) -> tuple[int, int]:
        """How many fills and activities the account has stored (the updater compares them with
        what it has applied: more means an older event arrived late)."""
        account = check_account(account)
        async with self._read("count fills and activities") as connection:
            counted = await connection.execute(
                sa.select(
                    sa.select(sa.func.count()).where(fills.c.account == account).scalar_subquery(),
                    sa.select(sa.func.count())
                    .where(activities.c.account == account)
                    .scalar_subquery(),
                )
            )
            fill_count, activity_count = counted.one()
            return int(fill_count), int(activity_count)
