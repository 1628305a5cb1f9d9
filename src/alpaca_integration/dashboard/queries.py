"""Read-only SQL the dashboard needs and the ``Store`` does not offer (yet).

Everything here reads ``store.engine`` with the schema of ``storage.tables`` and turns rows into
the package's models with ``storage.codec``. They are candidates to move into the store:

* ``orders_page`` / ``fills_page``: keyset paging (``(created_at, id)`` and ``(timestamp,
  order_id, cum_qty)``, newest first) so page 2,000 of 100,000 orders costs what page 1 costs;
  never ``OFFSET``. With several accounts, each account is read with its own index range and the
  pages are merged here (one ``account IN (...)`` query would have to sort every row).

The summaries the overview and the live feed read (equity curve, newest correctness rows, change
stamps) are in ``dashboard.summaries``.

Imports ``models`` and ``storage`` (tables, codec, dialect) from the package; never the
client, the cache, the sync engine or the CLI. Nothing here writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from alpaca_integration.models import TERMINAL_ORDER_STATUSES, Fill, Order, OrderSide, OrderStatus
from alpaca_integration.storage import codec
from alpaca_integration.storage.dialect import amount_bound, amount_order
from alpaca_integration.storage.tables import fills, orders

if TYPE_CHECKING:
    from alpaca_integration.storage import Store

__all__ = [
    "Cursor",
    "FillFilters",
    "FillRow",
    "FillsPage",
    "OrderFilters",
    "OrderRow",
    "OrdersPage",
    "fills_page",
    "orders_page",
    "reading",
]

_TERMINAL = sorted(status.value for status in TERMINAL_ORDER_STATUSES)
_T = TypeVar("_T")


# --------------------------------------------------------------------------- connections


# For the dashboard's reads only (transaction-local): every one of them walks an index for its
# first rows. ``plan_cache_mode``: asyncpg's prepared statements otherwise switch to a generic plan
# after five runs, one that cannot see the account's size. ``enable_bitmapscan``: without
# statistics (a fresh bulk load, before autovacuum's ANALYZE) PostgreSQL guesses an account holds
# a few hundred rows and prefers reading every row of it in a bitmap scan and sorting them
# (~200 ms for 100,000 orders) to walking the (account, created_at) index for 51 (~1 ms).
_PLANNING = (
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
    "set_config('enable_bitmapscan', 'off', true)"
)


@contextlib.asynccontextmanager
async def reading(store: Store) -> AsyncIterator[Any]:
    """A connection for the dashboard's reads, planned as ``_PLANNING`` says on PostgreSQL."""
    async with store.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await connection.exec_driver_sql(_PLANNING)
        yield connection


# --------------------------------------------------------------------------- cursors


@dataclass(frozen=True)
class Cursor:
    """A position in a newest-first listing: the row's time and its tie-breaking key."""

    at: dt.datetime
    key: str
    cum_qty: Decimal | None = None

    def encode(self) -> str:
        text = f"{self.at.isoformat()}~{self.key}"
        return text if self.cum_qty is None else f"{text}~{self.cum_qty}"

    @classmethod
    def decode(cls, text: str, *, with_qty: bool = False) -> Cursor:
        """The cursor a page link carried; ``ValueError`` for anything else."""
        parts = text.split("~")
        if len(parts) != (3 if with_qty else 2) or not parts[1]:
            raise ValueError("not a page cursor")
        try:
            at = dt.datetime.fromisoformat(parts[0])
        except ValueError:
            raise ValueError("not a page cursor") from None
        if at.tzinfo is None:
            raise ValueError("not a page cursor: its time has no offset")
        qty: Decimal | None = None
        if with_qty:
            try:
                qty = Decimal(parts[2])
            except InvalidOperation:
                raise ValueError("not a page cursor") from None
            if not qty.is_finite():
                raise ValueError("not a page cursor")
        return cls(at.astimezone(dt.UTC), parts[1], qty)


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class OrderFilters:
    """What the orders page narrows to. ``status``: ``open``, ``closed`` or one status."""

    status: str | None = None
    symbol: str | None = None
    side: str | None = None
    created_from: dt.date | None = None
    created_to: dt.date | None = None  # inclusive

    def __post_init__(self) -> None:
        if self.status not in (None, "open", "closed"):
            OrderStatus(self.status)  # ValueError for an unknown status
        if self.side is not None:
            OrderSide(self.side)


@dataclass(frozen=True)
class OrderRow:
    account: str
    order: Order  # legs nested


@dataclass
class OrdersPage:
    rows: list[OrderRow]
    newer: Cursor | None = None  # the page before this one (None: this is the newest)
    older: Cursor | None = None  # the page after this one (None: nothing older)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _order_conditions(account: str, filters: OrderFilters) -> list[Any]:
    where: list[Any] = [orders.c.account == account, orders.c.parent_id.is_(None)]
    if filters.status == "open":
        where.append(orders.c.status.not_in(_TERMINAL))
    elif filters.status == "closed":
        where.append(orders.c.status.in_(_TERMINAL))
    elif filters.status is not None:
        where.append(orders.c.status == filters.status)
    if filters.symbol:
        where.append(orders.c.symbol == filters.symbol)
    if filters.side:
        where.append(orders.c.side == filters.side)
    if filters.created_from is not None:
        where.append(orders.c.created_at >= _day_start(filters.created_from))
    if filters.created_to is not None:
        where.append(orders.c.created_at < _day_start(filters.created_to + dt.timedelta(days=1)))
    return where


def _keyset(time_column: Any, key_column: Any, cursor: Cursor, *, older: bool) -> Any:
    """Rows strictly older (or newer) than ``cursor``. The plain range on the time column comes
    first so the (account, time) index bounds the scan; the tie-break narrows it."""
    if older:
        return sa.and_(
            time_column <= cursor.at,
            sa.or_(time_column < cursor.at, key_column < cursor.key),
        )
    return sa.and_(
        time_column >= cursor.at,
        sa.or_(time_column > cursor.at, key_column > cursor.key),
    )


def _merge_page(
    per_account: Sequence[Sequence[_T]],
    sort_key: Callable[[_T], Any],
    limit: int,
    *,
    newer_page: bool,
) -> tuple[list[_T], bool]:
    """The newest-first page across accounts and whether more rows lie beyond it."""
    merged = sorted((row for rows in per_account for row in rows), key=sort_key, reverse=True)
    if newer_page:
        # Read oldest first just past the cursor: keep the ``limit`` closest to it.
        more = len(merged) > limit
        return merged[-limit:] if more else merged, more
    return merged[:limit], len(merged) > limit


def _links(
    page: Sequence[tuple[str, Mapping[str, Any]]],
    cursor_of: Callable[[Mapping[str, Any]], Cursor],
    cursor: Cursor | None,
    more: bool,
    newer_page: bool,
) -> tuple[Cursor | None, Cursor | None]:
    """The cursors of the pages newer and older than ``page`` (None: there is none)."""
    if not page:
        return None, None
    newest, oldest = cursor_of(page[0][1]), cursor_of(page[-1][1])
    if newer_page:
        return (newest if more else None), oldest
    return (newest if cursor is not None else None), (oldest if more else None)


async def orders_page(
    store: Store,
    account_names: Sequence[str],
    filters: OrderFilters,
    *,
    before: Cursor | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> OrdersPage:
    """Top-level orders newest first (legs nested under their parent), ``limit`` per page:
    the newest page, the page older than ``before``, or the page newer than ``after``."""
    newer_page = after is not None and before is None
    cursor = after if newer_page else before
    found: list[list[tuple[str, Any]]] = []
    async with reading(store) as connection:
        for account in account_names:
            where = _order_conditions(account, filters)
            if cursor is not None:
                where.append(
                    _keyset(orders.c.created_at, orders.c.id, cursor, older=not newer_page)
                )
            ordering: tuple[Any, ...]
            if newer_page:
                ordering = (orders.c.created_at, orders.c.id)
            else:
                ordering = (orders.c.created_at.desc(), orders.c.id.desc())
            query = sa.select(orders).where(*where).order_by(*ordering).limit(limit + 1)
            rows = (await connection.execute(query)).mappings().all()
            found.append([(account, row) for row in rows])
        page, more = _merge_page(
            found, lambda item: (item[1]["created_at"], item[1]["id"]), limit, newer_page=newer_page
        )
        legs = await _legs(connection, page)
    result = OrdersPage(
        [
            OrderRow(account, codec.order_from_row(row, tuple(legs.get((account, row["id"]), ()))))
            for account, row in page
        ]
    )
    result.newer, result.older = _links(
        page, lambda row: Cursor(row["created_at"], row["id"]), cursor, more, newer_page
    )
    return result


async def _legs(
    connection: Any, page: Sequence[tuple[str, Mapping[str, Any]]]
) -> dict[tuple[str, str], list[Order]]:
    """The legs of the page's orders, one query per account (bracket and OCO legs are one
    level deep at Alpaca)."""
    parents: dict[str, list[str]] = {}
    for account, row in page:
        if row["order_class"] in ("bracket", "oco", "oto"):
            parents.setdefault(account, []).append(row["id"])
    legs: dict[tuple[str, str], list[Order]] = {}
    for account, ids in parents.items():
        query = (
            sa.select(orders)
            .where(orders.c.account == account, orders.c.parent_id.in_(ids))
            .order_by(orders.c.created_at, orders.c.id)
        )
        for row in (await connection.execute(query)).mappings().all():
            legs.setdefault((account, row["parent_id"]), []).append(codec.order_from_row(row))
    return legs


# --------------------------------------------------------------------------- fills


@dataclass(frozen=True)
class FillFilters:
    symbol: str | None = None
    side: str | None = None
    order_id: str | None = None

    def __post_init__(self) -> None:
        if self.side is not None:
            OrderSide(self.side)


@dataclass(frozen=True)
class FillRow:
    """One execution with what the fills page shows of the order it belongs to."""

    account: str
    fill: Fill
    order_type: str | None
    order_class: str | None
    order_status: str | None
    parent_id: str | None


@dataclass
class FillsPage:
    rows: list[FillRow]
    newer: Cursor | None = None
    older: Cursor | None = None


def _fill_keyset(store: Store, cursor: Cursor, *, older: bool) -> Any:
    number = amount_order(store.dialect, fills.c.cum_qty)
    qty = cursor.cum_qty if cursor.cum_qty is not None else Decimal(0)
    bound = amount_bound(store.dialect, qty)
    if older:
        tie = sa.or_(
            fills.c.order_id < cursor.key,
            sa.and_(fills.c.order_id == cursor.key, number < bound),
        )
        return sa.and_(fills.c.timestamp <= cursor.at, sa.or_(fills.c.timestamp < cursor.at, tie))
    tie = sa.or_(
        fills.c.order_id > cursor.key,
        sa.and_(fills.c.order_id == cursor.key, number > bound),
    )
    return sa.and_(fills.c.timestamp >= cursor.at, sa.or_(fills.c.timestamp > cursor.at, tie))


async def fills_page(
    store: Store,
    account_names: Sequence[str],
    filters: FillFilters,
    *,
    before: Cursor | None = None,
    after: Cursor | None = None,
    limit: int = 50,
) -> FillsPage:
    """Executions newest first with their fee and owning order, keyset paged like orders."""
    newer_page = after is not None and before is None
    cursor = after if newer_page else before
    number = amount_order(store.dialect, fills.c.cum_qty)
    owner = sa.and_(orders.c.account == fills.c.account, orders.c.id == fills.c.order_id)
    columns = (
        fills,
        orders.c.type.label("order_type"),
        orders.c.order_class.label("order_class"),
        orders.c.status.label("order_status"),
        orders.c.parent_id.label("order_parent_id"),
    )
    found: list[list[tuple[str, Any]]] = []
    async with reading(store) as connection:
        for account in account_names:
            where: list[Any] = [fills.c.account == account]
            if filters.symbol:
                where.append(fills.c.symbol == filters.symbol)
            if filters.side:
                where.append(fills.c.side == filters.side)
            if filters.order_id:
                where.append(fills.c.order_id == filters.order_id)
            if cursor is not None:
                where.append(_fill_keyset(store, cursor, older=not newer_page))
            ordering: tuple[Any, ...]
            if newer_page:
                ordering = (fills.c.timestamp, fills.c.order_id, number)
            else:
                ordering = (fills.c.timestamp.desc(), fills.c.order_id.desc(), number.desc())
            query = (
                sa.select(*columns)
                .select_from(fills.outerjoin(orders, owner))
                .where(*where)
                .order_by(*ordering)
                .limit(limit + 1)
            )
            rows = (await connection.execute(query)).mappings().all()
            found.append([(account, row) for row in rows])
    page, more = _merge_page(
        found,
        lambda item: (item[1]["timestamp"], item[1]["order_id"], item[1]["cum_qty"]),
        limit,
        newer_page=newer_page,
    )
    result = FillsPage(
        [
            FillRow(
                account=account,
                fill=codec.fill_from_row(row),
                order_type=row["order_type"],
                order_class=row["order_class"],
                order_status=row["order_status"],
                parent_id=row["order_parent_id"],
            )
            for account, row in page
        ]
    )
    result.newer, result.older = _links(
        page,
        lambda row: Cursor(row["timestamp"], row["order_id"], row["cum_qty"]),
        cursor,
        more,
        newer_page,
    )
    return result
