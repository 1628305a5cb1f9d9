"""Reading orders and fills back (``OrderReads``): one order with its legs, filtered lists, the
replace chain, ownership flags, an order's executions, and ``fill_progress`` (what the stream
asks for every batch of fill events).

Lists are sorted: orders by creation (legs in creation order, then id), fills by time then
cumulative quantity.

Imports ``models``, ``errors`` and the ``storage`` modules it names; never the client, the cache
or the sync engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from alpaca_integration.errors import StorageError
from alpaca_integration.models import (
    TERMINAL_ORDER_STATUSES,
    Fill,
    Order,
    OrderSide,
    OrderStatus,
)
from alpaca_integration.storage import codec
from alpaca_integration.storage.base import (
    StoreBase,
    aware,
    between,
    check_account,
    chunks,
    limited,
    rows_of,
)
from alpaca_integration.storage.records import FillProgress
from alpaca_integration.storage.tables import fills, orders, positions

__all__ = [
    "OrderFilter",
    "OrderReads",
    "StoredProgress",
    "read_fill_progress",
    "read_stored_progress",
]

OrderFilter = Literal["all", "open", "closed"]

_TERMINAL = sorted(status.value for status in TERMINAL_ORDER_STATUSES)
# How deep legs nest (a bracket's legs have none of their own); a cycle in bad data stops here.
_MAX_LEG_DEPTH = 4


class OrderReads(StoreBase):
    """Reads of the ``orders`` and ``fills`` tables."""

    async def get_order(
        self, account: str, order_id: str, *, with_legs: bool = True
    ) -> Order | None:
        """One order by its venue id, with its legs nested (``Order.legs``) unless told not to."""
        return await self._one_order(account, orders.c.id == order_id, with_legs=with_legs)

    async def order_with_legs(
        self, account: str, order_id: str, *, with_legs: bool = True
    ) -> Order | None:
        """Same as ``get_order`` (legs nested)."""
        return await self.get_order(account, order_id, with_legs=with_legs)

    async def get_order_by_client_order_id(
        self, account: str, client_order_id: str, *, with_legs: bool = True
    ) -> Order | None:
        """The order with this client_order_id (the idempotency key of a submission)."""
        return await self._one_order(
            account, orders.c.client_order_id == client_order_id, with_legs=with_legs
        )

    async def _one_order(
        self, account: str, where: sa.ColumnElement[bool], *, with_legs: bool
    ) -> Order | None:
        account = check_account(account)
        async with self._read("read an order") as connection:
            result = await connection.execute(
                sa.select(orders)
                .where(orders.c.account == account, where)
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
        if depth < _MAX_LEG_DEPTH:
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
        account = check_account(account)
        query = sa.select(orders).where(
            orders.c.account == account,
            *_status_filter(status),
            *_time_filters(created_after, created_until, updated_since),
        )
        if ids is not None:
            query = query.where(orders.c.id.in_(list(ids)))
        if statuses is not None:
            query = query.where(orders.c.status.in_([OrderStatus(s).value for s in statuses]))
        if symbols is not None:
            query = query.where(orders.c.symbol.in_(list(symbols)))
        if side is not None:
            query = query.where(orders.c.side == OrderSide(side).value)
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
        query = limited(query, limit)
        async with self._read("list orders") as connection:
            result = await connection.execute(query)
            return [codec.order_from_row(row) for row in result.mappings().all()]

    async def open_orders(self, account: str) -> list[Order]:
        """Every order not yet terminal (held legs included), flat, oldest first."""
        return await self.list_orders(account, status="open")

    async def replace_chain(self, account: str, order_id: str) -> list[Order]:
        """The replace chain through ``order_id``: the original order first, the live one last.
        Empty when the order is unknown."""
        account = check_account(account)
        async with self._read("read a replace chain") as connection:

            async def fetch(where: sa.ColumnElement[bool]) -> Mapping[Any, Any] | None:
                result = await connection.execute(
                    sa.select(orders).where(orders.c.account == account, where).limit(1)
                )
                return result.mappings().first()

            start = await fetch(orders.c.id == order_id)
            if start is None:
                return []
            seen = {start["id"]}
            earlier = await _follow(fetch, start, "replaces", "replaced_by", seen)
            later = await _follow(fetch, start, "replaced_by", "replaces", seen)
            chain = [*reversed(earlier), start, *later]
            return [codec.order_from_row(r) for r in chain]

    async def external_flags(self, account: str) -> dict[str, bool]:
        """``{order_id: external}`` for every stored order."""
        account = check_account(account)
        async with self._read("read order ownership") as connection:
            result = await connection.execute(
                sa.select(orders.c.id, orders.c.external).where(orders.c.account == account)
            )
            return {str(order_id): bool(external) for order_id, external in result.all()}

    # ------------------------------------------------------------------ fills

    async def fill_progress(
        self, account: str, order_ids: Iterable[str], symbols: Iterable[str] = ()
    ) -> FillProgress:
        """The stored ``filled_qty``, execution ids and ``(order_id, cum_qty)`` keys of
        ``order_ids``, and the current positions of ``symbols``: one read, a few narrow queries
        (the stream asks this for every batch of fill events)."""
        account = check_account(account)
        async with self._read("read fill progress") as connection:
            return await read_fill_progress(connection, account, order_ids, symbols)

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
        order_ids: Iterable[str] | None = None,
    ) -> list[Fill]:
        """Executions by time (``since`` inclusive, ``until`` exclusive); ``order_ids``: only
        those orders' (one page's worth: an IN list)."""
        query = rows_of(fills, account, order_id=order_id, symbol=symbol)
        if order_ids is not None:
            query = query.where(fills.c.order_id.in_(sorted(set(order_ids))))
        query = between(query, fills.c.timestamp, since, until)
        if order_id is not None:
            query = query.order_by(self._amount_order(fills.c.cum_qty))
        else:
            query = query.order_by(
                fills.c.timestamp, fills.c.order_id, self._amount_order(fills.c.cum_qty)
            )
        query = limited(query, limit)
        async with self._read("list fills") as connection:
            result = await connection.execute(query)
            return [codec.fill_from_row(row) for row in result.mappings().all()]


async def read_fill_progress(
    connection: AsyncConnection, account: str, order_ids: Iterable[str], symbols: Iterable[str]
) -> FillProgress:
    """``OrderReads.fill_progress`` on an open connection."""
    return (await read_stored_progress(connection, account, order_ids, symbols)).progress


@dataclass(frozen=True)
class StoredProgress:
    """``read_stored_progress``: the ``FillProgress``, and the rows it was made of for the
    writes of the same transaction: every stored execution of the orders asked for (order_id,
    cum_qty, execution_id, activity_id) and the stored position rows of the symbols asked for
    (with ``every_position``: of every symbol the account holds, and ``symbols`` the ones asked
    for and the ones held)."""

    progress: FillProgress
    order_ids: frozenset[str]
    executions: list[dict[str, Any]]
    symbols: frozenset[str]
    positions: dict[str, dict[str, Any]]
    every_position: bool = False


async def read_stored_progress(
    connection: AsyncConnection,
    account: str,
    order_ids: Iterable[str],
    symbols: Iterable[str],
    *,
    every_position: bool = False,
) -> StoredProgress:
    """What ``fill_progress`` reads, in two statements (the orders' ``filled_qty`` and their
    executions in one, the positions in the other), keeping the rows (``StoredProgress``):
    ``apply_batch`` reads it inside its transaction for ``ApplyBatch.stream_positions``, then
    screens the batch's fills and moves the positions against the same rows.
    ``every_position``: all of the account's positions are read, by the first statement itself
    (one more part of its union; the progress still holds those of ``symbols`` only)."""
    ids = frozenset(order_ids)
    wanted = frozenset(symbols)
    filled: dict[str, Decimal] = {}
    executions: list[dict[str, Any]] = []
    held: dict[str, dict[str, Any]] = {}
    positions_read = not every_position
    for chunk in chunks(sorted(ids)):
        statement = _PROGRESS[(positions_read, connection.dialect.name == "postgresql")]
        parameters = {"account": account, "ids": list(chunk)}
        result = await connection.execute(statement, parameters)
        for row in result.mappings().all():
            if row["kind"] == "p":
                held[row["p_symbol"]] = {c.name: row[f"p_{c.name}"] for c in positions.c}
            elif row["kind"] == "o":
                filled[row["order_id"]] = row["amount"]
            else:
                executions.append(
                    {
                        "order_id": row["order_id"],
                        "cum_qty": row["amount"],
                        "execution_id": row["execution_id"],
                        "activity_id": row["activity_id"],
                    }
                )
        positions_read = True
    if every_position and not positions_read:
        result = await connection.execute(_HELD, {"account": account})
        held.update({row["symbol"]: dict(row) for row in result.mappings().all()})
    for chunk in [] if every_position else chunks(sorted(wanted)):
        result = await connection.execute(_HELD_OF, {"account": account, "symbols": list(chunk)})
        held.update({row["symbol"]: dict(row) for row in result.mappings().all()})
    progress = FillProgress(
        filled_qty=filled,
        executions=frozenset(row["execution_id"] for row in executions if row["execution_id"]),
        cum_qtys=frozenset((row["order_id"], row["cum_qty"]) for row in executions),
        positions={
            position.symbol: position
            for position in (
                codec.position_from_row(row) for symbol, row in held.items() if symbol in wanted
            )
        },
    )
    if every_position:
        return StoredProgress(progress, ids, executions, wanted | held.keys(), held, True)
    return StoredProgress(progress, ids, executions, wanted, held)


def _progress_statement(positions_read: bool, array: bool) -> Any:
    """``read_stored_progress``'s union over one chunk of order ids (bind parameters
    ``account`` and ``ids``): the orders' ``filled_qty`` and their executions, and, unless
    ``positions_read``, every position of the account."""
    account = sa.bindparam("account", type_=orders.c.account.type)
    ids: Any = sa.bindparam("ids", expanding=True, type_=orders.c.id.type)
    if array:
        # PostgreSQL: ``= ANY`` of one array parameter, the same test as ``IN`` (and the same
        # plan) without SQLAlchemy rewriting the statement's text for every list of ids.
        ids = sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(orders.c.id.type)))

    def among(column: Any) -> Any:
        return column == ids if array else column.in_(ids)

    # The positions' columns, NULL in the orders' and fills' parts of the union (typed, so the
    # positions' part is decoded by its columns' types), labelled apart from the others.
    no_position = [sa.null().cast(column.type).label(f"p_{column.name}") for column in positions.c]
    no_text = sa.null().cast(sa.Text())
    parts: list[Any] = [
        sa.select(
            sa.literal("o").label("kind"),
            orders.c.id.label("order_id"),
            orders.c.filled_qty.label("amount"),
            no_text.label("execution_id"),
            no_text.label("activity_id"),
            *(no_position if not positions_read else ()),
        ).where(orders.c.account == account, among(orders.c.id)),
        sa.select(
            sa.literal("f").label("kind"),
            fills.c.order_id,
            fills.c.cum_qty,
            fills.c.execution_id,
            fills.c.activity_id,
            *(no_position if not positions_read else ()),
        ).where(fills.c.account == account, among(fills.c.order_id)),
    ]
    if not positions_read:
        parts.append(
            sa.select(
                sa.literal("p").label("kind"),
                no_text,
                sa.null().cast(orders.c.filled_qty.type),
                no_text,
                no_text,
                *positions.c,
            ).where(positions.c.account == account)
        )
    return sa.union_all(*parts)


# Built once, with bind parameters for what varies: a statement object SQLAlchemy has seen
# keeps its cache key (computed by walking the whole statement, longer than the read's round
# trip for the union), so the stream's every batch goes straight to the compiled form.
_PROGRESS = {
    (positions_read, array): _progress_statement(positions_read, array)
    for positions_read in (False, True)
    for array in (False, True)
}
_HELD = sa.select(positions).where(
    positions.c.account == sa.bindparam("account", type_=positions.c.account.type)
)
_HELD_OF = _HELD.where(
    positions.c.symbol.in_(sa.bindparam("symbols", expanding=True, type_=positions.c.symbol.type))
)


def _status_filter(status: OrderFilter) -> list[sa.ColumnElement[bool]]:
    if status == "open":
        return [orders.c.status.not_in(_TERMINAL)]
    if status == "closed":
        return [orders.c.status.in_(_TERMINAL)]
    if status != "all":
        raise StorageError(f"status must be 'open', 'closed' or 'all', got {status!r}")
    return []


def _time_filters(
    created_after: dt.datetime | None,
    created_until: dt.datetime | None,
    updated_since: dt.datetime | None,
) -> list[sa.ColumnElement[bool]]:
    filters: list[sa.ColumnElement[bool]] = []
    if created_after is not None:
        filters.append(orders.c.created_at > aware(created_after, "created_after"))
    if created_until is not None:
        filters.append(orders.c.created_at <= aware(created_until, "created_until"))
    if updated_since is not None:
        filters.append(orders.c.last_event_at >= aware(updated_since, "updated_since"))
    return filters


_Fetch = Callable[[sa.ColumnElement[bool]], Awaitable[Mapping[Any, Any] | None]]


async def _follow(
    fetch: _Fetch, start: Mapping[Any, Any], link: str, back_link: str, seen: set[str]
) -> list[Mapping[Any, Any]]:
    """The orders reached from ``start`` through ``link`` (``replaces`` walks back,
    ``replaced_by`` forward), nearest first; an order whose ``link`` is unset is found by the
    next one's ``back_link``. Stops at the end or at an order already ``seen`` (a cycle)."""
    found: list[Mapping[Any, Any]] = []
    row: Mapping[Any, Any] | None = start
    while row is not None:
        linked = row[link]
        where = orders.c.id == linked if linked else orders.c[back_link] == row["id"]
        row = await fetch(where)
        if row is None or row["id"] in seen:
            break
        seen.add(row["id"])
        found.append(row)
    return found
