"""Reading the account back (``AccountReads``): positions now and at any past instant, account
snapshots, activities, checkpoints, the accounts the store knows, and ``dump`` (the whole
account in a plain, comparable form).

Imports ``models`` and the ``storage`` modules it names; never the client, the cache or the sync
engine.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any, Unpack

import sqlalchemy as sa

from alpaca_integration.models import AccountSnapshot, Activity, Position
from alpaca_integration.order_fields import ORDER_COMPARED_FIELDS
from alpaca_integration.storage import codec
from alpaca_integration.storage.base import TimeWindow, aware, check_account, rows_of
from alpaca_integration.storage.order_reads import OrderReads
from alpaca_integration.storage.records import Checkpoint, StoreDump
from alpaca_integration.storage.tables import (
    account_snapshots,
    accounts,
    activities,
    position_snapshots,
    positions,
    sync_checkpoints,
)

__all__ = ["AccountReads"]


class AccountReads(OrderReads):
    """Reads of positions, snapshots, activities and checkpoints, and ``dump``."""

    async def positions(self, account: str) -> list[Position]:
        """The account's open positions now, by symbol (shorts have negative qty)."""
        account = check_account(account)
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
        account = check_account(account)
        aware(at, "at")
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
        found = await self.list_snapshots(account, limit=1, newest_first=True)
        return found[0] if found else None

    async def list_snapshots(
        self, account: str, **window: Unpack[TimeWindow]
    ) -> list[AccountSnapshot]:
        """Account snapshots oldest first (``since`` inclusive, ``until`` exclusive)."""
        return await self._list_by_time(
            "list account snapshots",
            account_snapshots,
            "observed_at",
            account,
            codec.snapshot_from_row,
            window,
        )

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
        ids: Iterable[str] | None = None,
    ) -> list[Activity]:
        """Non-trade activities by date (``since``/``until`` inclusive dates); ``ids``: only those
        (one page's worth: an IN list)."""
        query = rows_of(activities, account, order_id=order_id)
        if ids is not None:
            query = query.where(activities.c.id.in_(sorted(set(ids))))
        if activity_types is not None:
            query = query.where(activities.c.activity_type.in_(list(activity_types)))
        if since is not None:
            query = query.where(activities.c.date >= since)
        if until is not None:
            query = query.where(activities.c.date <= until)
        query = query.order_by(activities.c.date, activities.c.transaction_time, activities.c.id)
        async with self._read("list activities") as connection:
            result = await connection.execute(query)
            return [codec.activity_from_row(row) for row in result.mappings().all()]

    async def get_checkpoint(self, account: str, feed: str) -> str | None:
        """The value last committed for ``feed`` (None before the first sync)."""
        account = check_account(account)
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
        account = check_account(account)
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

    async def dump(self, account: str) -> StoreDump:
        """The store's state for ``account`` in a plain, comparable form (no ingestion times, no
        raw payloads): ``account`` (latest snapshot's figures), ``cash``, ``orders`` {id: {...}},
        ``fills`` [{...}] sorted by (order_id, cum_qty), ``positions`` {symbol: {...}},
        ``activities`` {id: {...}}, ``checkpoints`` {feed: value}."""
        snapshot = await self.latest_snapshot(account)
        fill_list = await self.list_fills(account)
        checkpoint_map = await self.checkpoints(account)
        return {
            "account": {} if snapshot is None else _view(snapshot, _ACCOUNT_VIEW),
            "cash": None if snapshot is None else snapshot.cash,
            "orders": {o.id: _view(o, _ORDER_VIEW) for o in await self.list_orders(account)},
            "fills": sorted(
                (_view(fill, _FILL_VIEW) for fill in fill_list),
                key=lambda f: (f["order_id"], f["cum_qty"]),
            ),
            "positions": {
                p.symbol: _view(p, _POSITION_VIEW) for p in await self.positions(account)
            },
            "activities": {
                a.id: _view(a, _ACTIVITY_VIEW) for a in await self.list_activities(account)
            },
            "checkpoints": {feed: cp.value for feed, cp in checkpoint_map.items()},
        }


# --------------------------------------------------------------------------- dump views

_ACCOUNT_VIEW = (
    *codec.SNAPSHOT_AMOUNT_FIELDS,
    "status",
    "currency",
    "daytrade_count",
    "observed_at",
)
# Every field the venue states about an order (the one list every comparer uses).
_ORDER_VIEW = ORDER_COMPARED_FIELDS
_FILL_VIEW = (
    "order_id",
    "cum_qty",
    "fill_id",
    "execution_id",
    "activity_id",
    "symbol",
    "side",
    "qty",
    "price",
    "fee",
    "timestamp",
)
_POSITION_VIEW = ("qty", "side", "avg_entry_price", "cost_basis")
_ACTIVITY_VIEW = ("activity_type", "date", "net_amount", "symbol", "order_id", "status")


def _view(record: object, names: tuple[str, ...]) -> dict[str, Any]:
    """``record``'s fields ``names``, enums as their values."""
    view: dict[str, Any] = {}
    for name in names:
        value = getattr(record, name)
        view[name] = value.value if isinstance(value, enum.Enum) else value
    return view
