"""One apply's rows, prepared in Python before its transaction starts (``prepare``).

An ``ApplyBatch`` of domain models becomes a ``PreparedBatch`` of table rows: orders flattened
(legs get their ``parent_id``; a leg belongs to whoever placed its root), several reports of one
order or one execution merged into one row (by ``storage.rules``, as the database would), fills
whose ids clash, or that have no ``cum_qty``, turned into quarantine rows, and every input
refused that the store cannot take (naive times, a positions set listing a symbol twice, a
non-text checkpoint). Pure: no I/O, no clock reads.

Imports ``models``, ``errors`` and the ``storage`` modules it names; never SQLAlchemy's engine,
the client, the cache or the sync engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from alpaca_integration.errors import StorageError
from alpaca_integration.models import AccountSnapshot, Activity, DataSource, Fill, Order, Position
from alpaca_integration.storage import codec, rules
from alpaca_integration.storage.base import aware
from alpaca_integration.storage.dialect import stored_amount
from alpaca_integration.storage.records import ApplyBatch
from alpaca_integration.storage.rules import FILLS, ORDERS

__all__ = [
    "BatchContext",
    "FillKey",
    "PositionUpdate",
    "PreparedBatch",
    "Row",
    "data_source_of",
    "fill_key",
    "is_fee",
    "position_update_rows",
    "prepare",
    "quarantine_key",
    "quarantine_row",
]

# A table row as the codec builds it: column name -> value.
Row = dict[str, Any]
# An execution's identity within an account: (order_id, cum_qty as stored).
FillKey = tuple[str, Decimal]
# A position update: the row to write (None closes the symbol) and when it was observed.
PositionUpdate = tuple[Row | None, dt.datetime]


@dataclass(frozen=True)
class BatchContext:
    """Who is writing and when: the same for every row of one apply."""

    account: str
    source: str
    data_source: str
    integration_prefix: str
    now: dt.datetime

    def stamp(self) -> dict[str, Any]:
        """The keywords every ``codec.*_row`` of this apply takes: account, source, provider,
        time."""
        return {
            "account": self.account,
            "source": self.source,
            "data_source": self.data_source,
            "now": self.now,
        }


@dataclass
class PreparedBatch:
    """One apply's rows, ready for its transaction."""

    source: str
    order_rows: dict[str, Row] = field(default_factory=dict)
    fill_rows: list[Row] = field(default_factory=list)
    activity_rows: list[Row] = field(default_factory=list)
    # (order_id, transaction_time) of every execution whose fee may have to be recomputed.
    fee_keys: set[tuple[str, dt.datetime]] = field(default_factory=set)
    snapshot_row: Row | None = None
    position_rows: list[Row] | None = None
    positions_at: dt.datetime | None = None
    position_updates: dict[str, PositionUpdate] = field(default_factory=dict)
    quarantine_rows: list[Row] = field(default_factory=list)
    checkpoint_rows: list[Row] = field(default_factory=list)


def data_source_of(source: DataSource | str) -> str:
    """``source`` as stored, or a StorageError listing the ones there are."""
    try:
        return DataSource(source).value
    except ValueError:
        raise StorageError(
            f"unknown source {source!r}: use one of {', '.join(s.value for s in DataSource)}"
        ) from None


def fill_key(order_id: str, cum_qty: Decimal) -> FillKey:
    """The execution's key as the database will hold it (cum_qty rounded as stored)."""
    return order_id, stored_amount(cum_qty)


def is_fee(activity_row: Mapping[str, Any]) -> bool:
    return str(activity_row["activity_type"]).upper() == "FEE"


def quarantine_key(record_key: str | None, raw: bytes) -> str:
    if record_key:
        return record_key
    # No key could be read: the payload's digest keeps distinct bad records apart and a replayed
    # one idempotent.
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def quarantine_row(
    account: str,
    *,
    record_kind: str,
    record_key: str | None,
    reason: str,
    raw: bytes,
    source: str,
    now: dt.datetime,
) -> Row:
    """A ``quarantine`` row: the refused record's raw bytes and why."""
    return {
        "account": account,
        "record_kind": record_kind,
        "record_key": quarantine_key(record_key, raw),
        "reason": reason,
        "raw": raw,
        "source": source,
        "created_at": now,
    }


def prepare(context: BatchContext, batch: ApplyBatch) -> PreparedBatch:
    """``batch`` as table rows (see the module docstring); raises ``StorageError`` on input the
    store cannot take, before anything is written."""
    prepared = PreparedBatch(source=context.source)
    internal_by_id: dict[str, bool] = {}
    for root in batch.orders:
        # A leg handed in as a row of its own (the sync detaches legs, parent first) belongs to
        # whoever placed its parent, whatever client_order_id the venue gave the leg.
        inherited = internal_by_id.get(root.parent_id) if root.parent_id else None
        internal = (
            inherited
            if inherited is not None
            else root.client_order_id.startswith(context.integration_prefix)
        )
        internal_by_id[root.id] = internal
        _add_order(prepared, context, root, None, internal)
    _add_fills(prepared, context, batch.fills)
    _add_activities(prepared, context, batch.activities)
    if batch.snapshot is not None:
        prepared.snapshot_row = _snapshot_row(context, batch.snapshot)
    if batch.positions is not None:
        _add_positions(prepared, context, batch.positions, batch.positions_at, batch.snapshot)
    if batch.position_updates:
        _add_position_updates(prepared, context, batch.position_updates, batch.position_updates_at)
    prepared.checkpoint_rows = _checkpoint_rows(context, batch.checkpoints or {})
    return prepared


# --------------------------------------------------------------------------- orders


def _add_order(
    prepared: PreparedBatch,
    context: BatchContext,
    order: Order,
    parent_id: str | None,
    internal: bool,
) -> None:
    """Add ``order`` and its legs; several reports of one order merge by ``rules.ORDERS``."""
    aware(order.last_event_at, f"order {order.id} timestamps: last_event_at")
    row = codec.order_row(order, external=not internal, parent_id=parent_id, **context.stamp())
    earlier = prepared.order_rows.get(order.id)
    prepared.order_rows[order.id] = row if earlier is None else rules.merge(ORDERS, earlier, row)
    for leg in order.legs:
        # A leg belongs to whoever placed its root order.
        _add_order(prepared, context, leg, order.id, internal)


# --------------------------------------------------------------------------- fills


def _id_conflict(
    fill: Fill,
    key: FillKey,
    key_of_execution: dict[str, FillKey],
    key_of_activity: dict[str, FillKey],
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


def _quarantine_fill(
    prepared: PreparedBatch, context: BatchContext, fill: Fill, reason: str
) -> None:
    prepared.quarantine_rows.append(
        quarantine_row(
            context.account,
            record_kind="fill",
            record_key=fill.fill_id,
            reason=reason,
            raw=fill.raw,
            source=DataSource(fill.source).value,
            now=context.now,
        )
    )


def same_cum_clash(stored: Row, incoming: Row) -> str | None:
    """Why ``incoming`` is not the execution stored at its (order_id, cum_qty): another execution
    id (or FILL activity id) is there already. Two executions never merge silently into one row;
    the later one is quarantined (a lagging order snapshot inside a fill event gives two
    executions the same cumulative quantity)."""
    for column_name in ("execution_id", "activity_id"):
        mine, theirs = stored[column_name], incoming[column_name]
        if mine and theirs and mine != theirs:
            return (
                f"{column_name} {theirs} at cum_qty {incoming['cum_qty']} of order "
                f"{incoming['order_id']}: execution {mine} is already stored at that cum_qty "
                "(two executions with one cumulative quantity; kept here, not merged)"
            )
    return None


def _add_fills(prepared: PreparedBatch, context: BatchContext, fills: Sequence[Fill]) -> None:
    """One row per (order_id, cum_qty); an id claimed by two executions is quarantined."""
    by_key: dict[FillKey, Row] = {}
    key_of_execution: dict[str, FillKey] = {}
    key_of_activity: dict[str, FillKey] = {}
    for fill in fills:
        if fill.cum_qty is None:
            _quarantine_fill(
                prepared,
                context,
                fill,
                "fill has no cum_qty: the store identifies an execution by (order_id, "
                "cum_qty); take it from order.filled_qty (stream) or cum_qty (FILL activity)",
            )
            continue
        row = codec.fill_row(
            fill, account=context.account, data_source=context.data_source, now=context.now
        )
        row["fill_id"] = fill.execution_id or fill.activity_id or fill.fill_id
        key = fill_key(fill.order_id, fill.cum_qty)
        conflict = _id_conflict(fill, key, key_of_execution, key_of_activity)
        if conflict is not None:
            _quarantine_fill(prepared, context, fill, conflict)
            continue
        existing = by_key.get(key)
        clash = None if existing is None else same_cum_clash(existing, row)
        if clash is not None:
            _quarantine_fill(prepared, context, fill, clash)
            continue
        merged = row if existing is None else rules.merge(FILLS, existing, row)
        by_key[key] = merged
        if merged["execution_id"]:
            key_of_execution[merged["execution_id"]] = key
        if merged["activity_id"]:
            key_of_activity[merged["activity_id"]] = key
        prepared.fee_keys.add((fill.order_id, merged["timestamp"]))
    prepared.fill_rows = list(by_key.values())


# --------------------------------------------------------------------------- the rest


def _add_activities(
    prepared: PreparedBatch, context: BatchContext, activities: Sequence[Activity]
) -> None:
    """Last copy of each id wins; a FEE tied to an execution marks that fee for recomputing."""
    rows: dict[str, Row] = {}
    for activity in activities:
        rows[activity.id] = codec.activity_row(activity, **context.stamp())
        if (
            activity.activity_type.upper() == "FEE"
            and activity.order_id is not None
            and activity.transaction_time is not None
        ):
            prepared.fee_keys.add((activity.order_id, activity.transaction_time))
    prepared.activity_rows = list(rows.values())


def _snapshot_row(context: BatchContext, snapshot: AccountSnapshot) -> Row:
    aware(snapshot.observed_at, "snapshot observed_at")
    return codec.snapshot_row(snapshot, **context.stamp())


def _position_row(context: BatchContext, position: Position) -> Row:
    return codec.position_row(position, **context.stamp())


def _add_positions(
    prepared: PreparedBatch,
    context: BatchContext,
    positions: Sequence[Position],
    positions_at: dt.datetime | None,
    snapshot: AccountSnapshot | None,
) -> None:
    seen: set[str] = set()
    for position in positions:
        if position.symbol in seen:
            raise StorageError(
                f"the positions set lists {position.symbol} twice: pass each open "
                "position once (the full set as the venue reports it)"
            )
        seen.add(position.symbol)
        aware(position.observed_at, f"position {position.symbol} observed_at")
    as_of = positions_at
    if as_of is None and positions:
        as_of = max(p.observed_at for p in positions)
    if as_of is None and snapshot is not None:
        as_of = snapshot.observed_at
    if as_of is None:
        raise StorageError(
            "an empty positions set needs positions_at= (when the venue reported no "
            "open positions), or a snapshot in the same apply"
        )
    prepared.positions_at = aware(as_of, "positions_at")
    prepared.position_rows = [_position_row(context, p) for p in positions]


def _add_position_updates(
    prepared: PreparedBatch,
    context: BatchContext,
    updates: Mapping[str, Position | None],
    updates_at: dt.datetime | Mapping[str, dt.datetime] | None,
) -> None:
    prepared.position_updates.update(position_update_rows(context, updates, updates_at))


def position_update_rows(
    context: BatchContext,
    updates: Mapping[str, Position | None],
    updates_at: dt.datetime | Mapping[str, dt.datetime] | None,
) -> dict[str, PositionUpdate]:
    """``ApplyBatch.position_updates`` (and their times) as rows; raises ``StorageError`` on a
    key that is not the position's symbol or a naive time."""
    rows: dict[str, PositionUpdate] = {}
    for symbol, position in updates.items():
        if not isinstance(symbol, str) or not symbol:
            raise StorageError(
                f"position_updates keys must be symbols (non-empty text), got {symbol!r}"
            )
        if position is None:
            when = updates_at.get(symbol) if isinstance(updates_at, Mapping) else updates_at
            at = aware(when or context.now, f"position_updates_at for {symbol}")
            rows[symbol] = (None, at)
            continue
        if position.symbol != symbol:
            raise StorageError(
                f"position_updates[{symbol!r}] holds the position of "
                f"{position.symbol!r}: key each position by its own symbol"
            )
        at = aware(position.observed_at, f"position {symbol} observed_at")
        rows[symbol] = (_position_row(context, position), at)
    return rows


def _checkpoint_rows(context: BatchContext, checkpoints: Mapping[str, str]) -> list[Row]:
    rows: list[Row] = []
    for feed, value in checkpoints.items():
        if not isinstance(feed, str) or not feed:
            raise StorageError(f"checkpoint feed names must be non-empty text, got {feed!r}")
        if not isinstance(value, str):
            raise StorageError(
                f"checkpoint {feed!r} must be text (e.g. a timestamp's isoformat()), got "
                f"{type(value).__name__}"
            )
        rows.append(
            {
                "account": context.account,
                "feed": feed,
                "value": value,
                "updated_at": context.now,
                "data_source": context.data_source,
                "ingested_at": context.now,
            }
        )
    return rows
