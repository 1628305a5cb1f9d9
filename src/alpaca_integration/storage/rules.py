"""The upsert rules, stated once: how a stored row and an incoming report of the same key become
one row.

Each table the store upserts has ONE ``UpsertRule``: its conflict key, which columns decide that a
report is newer (``newer_by``, compared in order, amounts exactly), and a ``Take`` per column
saying which value survives. Two renderings are generated from the same rule:

* ``on_conflict(rule, insert, dialect)``: the ``ON CONFLICT (key) DO UPDATE SET .. WHERE ..``
  clause (PostgreSQL and SQLite), or ``DO NOTHING`` when no column ever changes;
* ``merge(rule, stored, incoming)``: the same outcome in Python, which merges several reports of
  one key inside one batch before the statement runs (a statement may touch a row only once);
  it compares amounts as the database holds them (``dialect.stored_amount``).

Each ``Take`` writes its rule in SQL and in Python side by side, and a property test applies
random versions one at a time (SQL) and all in one batch (Python, then one insert), on both
databases, and compares the rows.

A row changes only when the report brings something: it is newer, or it fills in a column kept
once known, or it changes a watched column. A rule with no such trigger updates unconditionally
(the current positions, whose monotonic rule is decided before the write, see ``holdings``).

Imports only the ``storage`` modules ``dialect`` and ``tables``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from alpaca_integration.storage import tables
from alpaca_integration.storage.dialect import Amount, amount_order, stored_amount

__all__ = [
    "ACCOUNTS",
    "ACCOUNT_SNAPSHOTS",
    "ACTIVITIES",
    "CHECKPOINTS",
    "EXPOSURE_SNAPSHOTS",
    "FILLS",
    "INCOMING",
    "KNOWN",
    "NEWER",
    "NONZERO",
    "ORDERS",
    "POSITIONS",
    "POSITION_SNAPSHOTS",
    "QUARANTINE",
    "STORED",
    "WATCHED",
    "Evidence",
    "FirstOf",
    "Gained",
    "GainedOrKnown",
    "Take",
    "UpsertRule",
    "changes",
    "merge",
    "on_conflict",
]

Row = Mapping[str, Any]
Expr = Any  # a SQLAlchemy column expression


@dataclass(frozen=True)
class _Sql:
    """One conflict as SQL: the stored row's columns, the incoming report's, and "is newer"."""

    stored: Any
    incoming: Any
    newer: sa.ColumnElement[bool] | None

    def gains(self, name: str) -> sa.ColumnElement[bool]:
        return sa.and_(self.stored[name].is_(None), self.incoming[name].isnot(None))


def _gains(stored: Row, incoming: Row, name: str) -> bool:
    return stored[name] is None and incoming[name] is not None


def _first_known(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)


class Take:
    """Which value of one column survives a conflict: stored, incoming, or one of them by a
    rule. Each subclass states its rule twice, side by side: as SQL and in Python.

    ``updates``: the column can change at all. ``triggers``: the column alone can make the row
    change (``change_sql`` / ``changes``)."""

    updates = True
    triggers = False

    def sql(self, name: str, conflict: _Sql) -> Expr:
        raise NotImplementedError

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        raise NotImplementedError

    def change_sql(self, name: str, conflict: _Sql) -> sa.ColumnElement[bool]:
        """What about this column makes the row change (only when ``triggers``)."""
        raise NotImplementedError

    def changes(self, name: str, stored: Row, incoming: Row) -> bool:
        return False


class _Stored(Take):
    """Written with the row, never updated (the first source, provenance)."""

    updates = False

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        return stored[name]


class _Incoming(Take):
    """Always the incoming value (it changes the row only together with something else)."""

    def sql(self, name: str, conflict: _Sql) -> Expr:
        return conflict.incoming[name]

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        return incoming[name]


class _Watched(_Incoming):
    """Always the incoming value; a different value changes the row."""

    triggers = True

    def change_sql(self, name: str, conflict: _Sql) -> sa.ColumnElement[bool]:
        distinct: sa.ColumnElement[bool] = conflict.stored[name].is_distinct_from(
            conflict.incoming[name]
        )
        return distinct

    def changes(self, name: str, stored: Row, incoming: Row) -> bool:
        return bool(stored[name] != incoming[name])


class _Newer(Take):
    """The incoming value when the report is newer (``UpsertRule.newer_by``), else the stored."""

    def sql(self, name: str, conflict: _Sql) -> Expr:
        if conflict.newer is None:
            raise ValueError(f"column {name} follows newer reports but the rule has no newer_by")
        return sa.case((conflict.newer, conflict.incoming[name]), else_=conflict.stored[name])

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        return incoming[name] if newer else stored[name]


class _Known(Take):
    """Kept once known: the stored value unless it is null; a report that has it fills it in,
    even an older one (and that is a change)."""

    triggers = True

    def sql(self, name: str, conflict: _Sql) -> Expr:
        return sa.func.coalesce(conflict.stored[name], conflict.incoming[name])

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        return _first_known(stored[name], incoming[name])

    def change_sql(self, name: str, conflict: _Sql) -> sa.ColumnElement[bool]:
        return conflict.gains(name)

    def changes(self, name: str, stored: Row, incoming: Row) -> bool:
        return _gains(stored, incoming, name)


class _NonZero(Take):
    """An amount kept unless it is zero, which a non-zero incoming amount replaces."""

    triggers = True

    def sql(self, name: str, conflict: _Sql) -> Expr:
        # Amounts are stored canonically (SQLite: "0"), so equality needs no order key.
        zero = conflict.stored[name] == 0
        return sa.case((zero, conflict.incoming[name]), else_=conflict.stored[name])

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        return incoming[name] if stored[name] == 0 else stored[name]

    def change_sql(self, name: str, conflict: _Sql) -> sa.ColumnElement[bool]:
        return sa.and_(conflict.stored[name] == 0, conflict.incoming[name] != 0)

    def changes(self, name: str, stored: Row, incoming: Row) -> bool:
        return bool(stored[name] == 0 and incoming[name] is not None and incoming[name] != 0)


@dataclass(frozen=True)
class Gained(Take):
    """The incoming value when this report is the first to bring ``column`` (its source is the
    authority on this column), else the stored one."""

    column: str

    def sql(self, name: str, conflict: _Sql) -> Expr:
        return sa.case(
            (conflict.gains(self.column), conflict.incoming[name]), else_=conflict.stored[name]
        )

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        return incoming[name] if _gains(stored, incoming, self.column) else stored[name]


def _inferred_sql(conflict: _Sql) -> sa.ColumnElement[bool]:
    stored, incoming = conflict.stored, conflict.incoming
    inferred: sa.ColumnElement[bool] = sa.and_(
        stored["execution_id"].is_(None),
        stored["activity_id"].is_(None),
        incoming["execution_id"].isnot(None),
    )
    return inferred


def _inferred(stored: Row, incoming: Row) -> bool:
    return (
        stored["execution_id"] is None
        and stored["activity_id"] is None
        and incoming["execution_id"] is not None
    )


@dataclass(frozen=True)
class Evidence(Take):
    """An execution's figures: the incoming value when this report is the first to bring
    ``column`` (its source is the authority on them), or when the stored row names no execution
    at all (one inferred by reconciliation) and this report is a real one; else the stored."""

    column: str

    def sql(self, name: str, conflict: _Sql) -> Expr:
        replace = sa.or_(conflict.gains(self.column), _inferred_sql(conflict))
        return sa.case((replace, conflict.incoming[name]), else_=conflict.stored[name])

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        replace = _gains(stored, incoming, self.column) or _inferred(stored, incoming)
        return incoming[name] if replace else stored[name]


@dataclass(frozen=True)
class GainedOrKnown(Take):
    """Like ``Gained`` (the incoming value, unless null) when this report is the first to bring
    ``column``; otherwise kept once known. Filling it in is a change."""

    column: str
    triggers = True

    def sql(self, name: str, conflict: _Sql) -> Expr:
        stored, incoming = conflict.stored[name], conflict.incoming[name]
        return sa.case(
            (conflict.gains(self.column), sa.func.coalesce(incoming, stored)),
            else_=sa.func.coalesce(stored, incoming),
        )

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        if _gains(stored, incoming, self.column):
            return _first_known(incoming[name], stored[name])
        return _first_known(stored[name], incoming[name])

    def change_sql(self, name: str, conflict: _Sql) -> sa.ColumnElement[bool]:
        return conflict.gains(name)

    def changes(self, name: str, stored: Row, incoming: Row) -> bool:
        return _gains(stored, incoming, name)


@dataclass(frozen=True)
class FirstOf(Take):
    """The first known of ``columns`` (stored before incoming, column by column), else the
    stored value of this column itself."""

    columns: tuple[str, ...]

    def sql(self, name: str, conflict: _Sql) -> Expr:
        sides = [side[c] for c in self.columns for side in (conflict.stored, conflict.incoming)]
        return sa.func.coalesce(*sides, conflict.stored[name])

    def value(self, name: str, stored: Row, incoming: Row, newer: bool) -> Any:
        sides = [side[c] for c in self.columns for side in (stored, incoming)]
        return _first_known(*sides, stored[name])


STORED: Take = _Stored()
INCOMING: Take = _Incoming()
WATCHED: Take = _Watched()
NEWER: Take = _Newer()
KNOWN: Take = _Known()
NONZERO: Take = _NonZero()


@dataclass(frozen=True)
class UpsertRule:
    """How one table's rows meet reports of the same key.

    ``key``: the conflict key. ``newer_by``: NOT NULL columns that, compared in this order
    (amounts as numbers), make a report newer; a newer report changes the row. ``columns``:
    the ``Take`` of each column that is not ``default``.
    """

    table: sa.Table
    key: tuple[str, ...]
    default: Take
    columns: Mapping[str, Take] = field(default_factory=dict)
    newer_by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = {column.name for column in self.table.columns}
        unknown = (set(self.key) | set(self.columns) | set(self.newer_by)) - names
        if unknown:
            raise ValueError(f"rule of {self.table.name} names unknown columns {sorted(unknown)}")
        nullable = [name for name in self.newer_by if self.table.c[name].nullable]
        if nullable:
            raise ValueError(f"newer_by columns must be NOT NULL: {nullable}")

    def takes(self) -> list[tuple[str, Take]]:
        """Every column outside the key, with what survives a conflict."""
        return list(self._takes)

    # Worked out once per rule (the in-batch merge asks for them with every repeated report).
    @functools.cached_property
    def _takes(self) -> tuple[tuple[str, Take], ...]:
        return tuple(
            (name, self.columns.get(name, self.default))
            for name in (column.name for column in self.table.columns)
            if name not in self.key
        )

    @functools.cached_property
    def _updated(self) -> tuple[tuple[str, Take], ...]:
        """The columns that can change at all."""
        return tuple((name, take) for name, take in self._takes if take.updates)

    @functools.cached_property
    def _amounts(self) -> frozenset[str]:
        """The amount columns (compared as the database holds them)."""
        return frozenset(c.name for c in self.table.columns if isinstance(c.type, Amount))


# --------------------------------------------------------------------------- the rules


_ORDER_LINEAGE = ("parent_id", "replaces", "replaced_by")

# An order only moves forward: by last_event_at (updated_at, else submitted_at, else created_at),
# then status rank, then filled_qty. Its lineage is kept once known and filled in from any report
# that has it, even an older one (a leg's own stream events name no parent). Ownership is decided
# once per lineage: the report that first names the parent gives a leg its root's; otherwise the
# stored flag stands, whoever set it (mark_external, i.e. reconciliation, included).
ORDERS = UpsertRule(
    table=tables.orders,
    key=("account", "id"),
    default=NEWER,
    newer_by=("last_event_at", "status_rank", "filled_qty"),
    columns={**dict.fromkeys(_ORDER_LINEAGE, KNOWN), "external": Gained("parent_id")},
)

# One row per execution (account, order_id, cum_qty): the stream's fill event and REST's FILL
# activity merge. Each id, once known, is kept; the FILL activity's figures (transaction_time
# above all) are the broker's record and win when it first arrives, and a real execution's figures
# replace an inferred one's (no id: reconciliation's); a zero fee takes the first
# non-zero one; fill_id converges to the execution id, else the activity id; ``source`` keeps
# where the execution was seen first.
FILLS = UpsertRule(
    table=tables.fills,
    key=("account", "order_id", "cum_qty"),
    default=STORED,
    columns={
        **dict.fromkeys(("execution_id", "activity_id", "client_order_id", "position_qty"), KNOWN),
        **dict.fromkeys(("raw_stream", "raw_rest"), KNOWN),
        **dict.fromkeys(
            ("symbol", "side", "qty", "price", "timestamp", "fill_type"), Evidence("activity_id")
        ),
        "leaves_qty": GainedOrKnown("activity_id"),
        "fee": NONZERO,
        "fill_id": FirstOf(("execution_id", "activity_id")),
        "ingested_at": INCOMING,
    },
)

# Non-trade activities: the venue's latest copy, counted as a change only when what it says
# (status, amounts, description, payload) differs.
ACTIVITIES = UpsertRule(
    table=tables.activities,
    key=("account", "id"),
    default=INCOMING,
    columns=dict.fromkeys(("status", "net_amount", "qty", "price", "description", "raw"), WATCHED),
)

# The current positions: which rows to write is decided before the write (a position is dated by
# its observed_at; see holdings), so the row written is the incoming one.
POSITIONS = UpsertRule(table=tables.positions, key=("account", "symbol"), default=INCOMING)

# Checkpoints are the caller's opaque progress markers: the last value written.
CHECKPOINTS = UpsertRule(
    table=tables.sync_checkpoints,
    key=("account", "feed"),
    default=STORED,
    columns={"value": WATCHED, "updated_at": INCOMING, "ingested_at": INCOMING},
)

# Written once, never changed: a time series point, a history row, a quarantined record, an
# exposure measurement, the account's own row (moved only by holdings' explicit updates).
ACCOUNT_SNAPSHOTS = UpsertRule(
    table=tables.account_snapshots, key=("account", "observed_at"), default=STORED
)
POSITION_SNAPSHOTS = UpsertRule(
    table=tables.position_snapshots, key=("account", "symbol", "observed_at"), default=STORED
)
QUARANTINE = UpsertRule(
    table=tables.quarantine,
    key=("account", "record_kind", "record_key", "reason"),
    default=STORED,
)
EXPOSURE_SNAPSHOTS = UpsertRule(
    table=tables.exposure_snapshots, key=("account", "at"), default=STORED
)
ACCOUNTS = UpsertRule(table=tables.accounts, key=("account",), default=STORED)


# --------------------------------------------------------------------------- the renderings


def _newer_sql(rule: UpsertRule, stored: Any, incoming: Any, number: Callable[[Expr], Expr]) -> Any:
    """``incoming`` is newer than ``stored`` by ``rule.newer_by``, compared in order (amounts by
    their exact order key, ``number``)."""
    if not rule.newer_by:
        return None

    def side(columns: Any, name: str) -> Expr:
        is_amount = isinstance(rule.table.c[name].type, Amount)
        return number(columns[name]) if is_amount else columns[name]

    clauses = []
    for position, name in enumerate(rule.newer_by):
        ties = [side(incoming, n) == side(stored, n) for n in rule.newer_by[:position]]
        clauses.append(sa.and_(*ties, side(incoming, name) > side(stored, name)))
    return sa.or_(*clauses)


def on_conflict(rule: UpsertRule, insert: Any, dialect: str) -> Any:
    """``insert`` (the dialect's ``INSERT``, e.g. ``BulkInsert.insert``) with ``rule``'s
    ``ON CONFLICT`` clause; add ``.returning(..)`` to count the rows really written."""
    key = [rule.table.c[name] for name in rule.key]
    updated = [(name, take) for name, take in rule.takes() if take.updates]
    if not updated:
        return insert.on_conflict_do_nothing(index_elements=key)

    def number(expression: Expr) -> Expr:
        return amount_order(dialect, expression)

    newer = _newer_sql(rule, rule.table.c, insert.excluded, number)
    conflict = _Sql(stored=rule.table.c, incoming=insert.excluded, newer=newer)
    triggers = [newer] if newer is not None else []
    triggers += [take.change_sql(name, conflict) for name, take in updated if take.triggers]
    return insert.on_conflict_do_update(
        index_elements=key,
        set_={name: take.sql(name, conflict) for name, take in updated},
        where=sa.or_(*triggers) if triggers else None,
    )


def _as_stored(rule: UpsertRule, row: Row) -> dict[str, Any]:
    """``row`` with its amounts as the database will hold them: what the SQL compares."""
    amounts = rule._amounts
    return {
        name: stored_amount(value) if value is not None and name in amounts else value
        for name, value in row.items()
    }


def _newer(rule: UpsertRule, stored: Row, incoming: Row) -> bool:
    if not rule.newer_by:
        return False
    incoming_progress = tuple(incoming[name] for name in rule.newer_by)
    return bool(incoming_progress > tuple(stored[name] for name in rule.newer_by))


def _changes(rule: UpsertRule, stored: Row, incoming: Row) -> bool:
    updated = rule._updated
    if not updated:
        return False
    if not rule.newer_by and not any(take.triggers for _, take in updated):
        return True
    if _newer(rule, stored, incoming):
        return True
    return any(take.changes(name, stored, incoming) for name, take in updated)


def changes(rule: UpsertRule, stored: Row, incoming: Row) -> bool:
    """Whether ``incoming`` changes ``stored`` (the ``WHERE`` of ``on_conflict``)."""
    return _changes(rule, _as_stored(rule, stored), _as_stored(rule, incoming))


def merge(rule: UpsertRule, stored: Row, incoming: Row) -> dict[str, Any]:
    """The row ``on_conflict`` leaves when ``incoming`` meets ``stored`` (``stored`` itself when
    it changes nothing), its amounts as the database holds them."""
    stored, incoming = _as_stored(rule, stored), _as_stored(rule, incoming)
    if not _changes(rule, stored, incoming):
        return dict(stored)
    newer = _newer(rule, stored, incoming)
    merged = dict(stored)
    for name, take in rule._takes:
        merged[name] = take.value(name, stored, incoming, newer)
    return merged
