"""What the overview, the checks page and the live feed read that the ``Store`` does not offer
(yet): candidates to move into ``storage``, like ``dashboard.queries``.

* ``equity_curve`` / ``first_equity``: the account snapshots' equity, three columns only;
* ``newest`` / ``check_counts``: the newest rows of a correctness table (the store lists those
  oldest first) and how many there are;
* ``change_stamps``: a handful of indexed ``max``/``count`` reads per account that change
  whenever the monitor commits, for the live feed's polling fallback.

Imports ``dashboard.queries`` (its reading connection) and ``storage`` (tables, records); never
the client, the cache, the sync engine or the CLI. Nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from alpaca_integration.dashboard.queries import reading
from alpaca_integration.models import TERMINAL_ORDER_STATUSES
from alpaca_integration.storage.records import (
    QualityResultRecord,
    QuarantineRecord,
    RiskBreachRecord,
    StreamGapRecord,
)
from alpaca_integration.storage.tables import (
    account_snapshots,
    accounts,
    fills,
    orders,
    positions,
    quality_results,
    quarantine,
    reconciliation_runs,
    risk_breaches,
    stream_gaps,
    sync_checkpoints,
)

if TYPE_CHECKING:
    from alpaca_integration.storage import Store


__all__ = [
    "CHECK_TABLES",
    "EquityPoint",
    "Stamp",
    "change_stamps",
    "check_counts",
    "equity_curve",
    "first_equity",
    "newest",
]

_TERMINAL = sorted(status.value for status in TERMINAL_ORDER_STATUSES)


# --------------------------------------------------------------------------- equity


@dataclass(frozen=True)
class EquityPoint:
    at: dt.datetime
    equity: Decimal
    last_equity: Decimal


def _equity_query(account: str, order: sa.ColumnElement[Any], limit: int) -> sa.Select[Any]:
    """The account's snapshot times and equity (three columns), in ``order``, at most ``limit``."""
    return (
        sa.select(
            account_snapshots.c.observed_at,
            account_snapshots.c.equity,
            account_snapshots.c.last_equity,
        )
        .where(account_snapshots.c.account == account)
        .order_by(order)
        .limit(limit)
    )


async def equity_curve(store: Store, account: str, *, limit: int = 2000) -> list[EquityPoint]:
    """The newest ``limit`` account snapshots' equity, oldest first (three columns only: the
    snapshot rows also carry their raw payload)."""
    query = _equity_query(account, account_snapshots.c.observed_at.desc(), limit)
    async with reading(store) as connection:
        rows = (await connection.execute(query)).all()
    return [EquityPoint(at, equity, last) for at, equity, last in reversed(rows)]


async def first_equity(store: Store, account: str) -> EquityPoint | None:
    """The oldest stored snapshot's equity (what "total P&L" is measured from without a
    ledger)."""
    query = _equity_query(account, account_snapshots.c.observed_at, 1)
    async with reading(store) as connection:
        row = (await connection.execute(query)).first()
    return None if row is None else EquityPoint(row[0], row[1], row[2])


# --------------------------------------------------------------------------- checks

# table, its time column, the record type it reads into
CHECK_TABLES: dict[str, tuple[sa.Table, str, Callable[[Mapping[str, Any]], Any]]] = {
    "quality": (quality_results, "created_at", lambda row: QualityResultRecord(**row)),
    "quarantine": (
        quarantine,
        "created_at",
        lambda row: QuarantineRecord(**{**row, "raw": bytes(row["raw"])}),
    ),
    "gaps": (stream_gaps, "gap_from", lambda row: StreamGapRecord(**row)),
    "breaches": (risk_breaches, "at", lambda row: RiskBreachRecord(**row)),
}


async def newest(store: Store, kind: str, account: str, *, limit: int = 50) -> list[Any]:
    """The newest ``limit`` rows of one correctness table (``CHECK_TABLES``), newest first."""
    table, time_name, record = CHECK_TABLES[kind]
    query = (
        sa.select(table)
        .where(table.c.account == account)
        .order_by(table.c[time_name].desc(), table.c.id.desc())
        .limit(limit)
    )
    async with reading(store) as connection:
        rows = (await connection.execute(query)).mappings().all()
    return [record(dict(row)) for row in rows]


async def check_counts(store: Store, account: str) -> dict[str, int]:
    """How many rows each correctness table holds for ``account`` (open gaps counted apart)."""
    counts: dict[str, int] = {}
    async with reading(store) as connection:
        for kind, (table, _time, _record) in CHECK_TABLES.items():
            query = sa.select(sa.func.count()).select_from(table).where(table.c.account == account)
            counts[kind] = int((await connection.execute(query)).scalar_one())
        open_gaps = (
            sa.select(sa.func.count())
            .select_from(stream_gaps)
            .where(stream_gaps.c.account == account, stream_gaps.c.closed_by.is_(None))
        )
        counts["open_gaps"] = int((await connection.execute(open_gaps)).scalar_one())
        runs = (
            sa.select(sa.func.count())
            .select_from(reconciliation_runs)
            .where(reconciliation_runs.c.account == account)
        )
        counts["reconciliation_runs"] = int((await connection.execute(runs)).scalar_one())
    return counts


# --------------------------------------------------------------------------- change stamps


@dataclass(frozen=True)
class Stamp:
    """What the polling fallback compares between two reads, part by part."""

    parts: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def changed(self, previous: Stamp | None) -> set[str]:
        if previous is None:
            return set()
        return {part for part, value in self.parts.items() if previous.parts.get(part) != value}


def _max_and_count(table: sa.Table, time_name: str, account: str) -> Any:
    return sa.select(sa.func.max(table.c[time_name]), sa.func.count()).where(
        table.c.account == account
    )


async def change_stamps(store: Store, account_names: Sequence[str]) -> dict[str, Stamp]:
    """Per account, indexed reads that move whenever the monitor commits: the checkpoints
    (every stream event and REST page moves one), the account's snapshot and positions times,
    the newest order and fill times, the open orders, the positions, and the correctness
    tables' newest ids. A change none of them sees (a reconciliation repair of an old order,
    say) shows at the next commit that moves one."""
    stamps: dict[str, Stamp] = {}
    async with reading(store) as connection:
        for account in account_names:
            parts: dict[str, tuple[Any, ...]] = {}

            async def read(query: Any) -> tuple[Any, ...]:
                row = (await connection.execute(query)).first()
                return () if row is None else tuple(row)

            checkpoints = await read(_max_and_count(sync_checkpoints, "updated_at", account))
            newest_snapshot = sa.select(sa.func.max(account_snapshots.c.observed_at)).where(
                account_snapshots.c.account == account
            )
            parts["account"] = (
                *await read(
                    sa.select(accounts.c.snapshot_at, accounts.c.positions_at).where(
                        accounts.c.account == account
                    )
                ),
                *await read(newest_snapshot),
            )
            parts["orders"] = (
                *checkpoints,
                *await read(
                    sa.select(sa.func.max(orders.c.created_at)).where(orders.c.account == account)
                ),
                *await read(
                    sa.select(sa.func.max(orders.c.last_event_at), sa.func.count()).where(
                        orders.c.account == account, orders.c.status.not_in(_TERMINAL)
                    )
                ),
            )
            parts["fills"] = (
                *checkpoints,
                *await read(
                    sa.select(sa.func.max(fills.c.timestamp)).where(fills.c.account == account)
                ),
            )
            parts["positions"] = await read(_max_and_count(positions, "observed_at", account))
            checks: list[Any] = []
            for table in (quality_results, quarantine, stream_gaps, risk_breaches):
                checks.extend(
                    await read(sa.select(sa.func.max(table.c.id)).where(table.c.account == account))
                )
            checks.extend(
                await read(
                    sa.select(
                        sa.func.max(reconciliation_runs.c.id),
                        sa.func.max(reconciliation_runs.c.finished_at),
                    ).where(reconciliation_runs.c.account == account)
                )
            )
            checks.extend(
                await read(
                    sa.select(sa.func.count()).where(
                        stream_gaps.c.account == account, stream_gaps.c.closed_by.is_(None)
                    )
                )
            )
            parts["checks"] = tuple(checks)
            stamps[account] = Stamp(parts)
    return stamps
