"""What validation refused and what that means for a feed's checkpoint: ``Rows`` (one commit's
records before and after validation), ``CheckpointHold`` (a checkpoint never moves past a record
refused for a time ahead of the host's clock), and the shapes a refused record takes on its way
to ``quarantine`` (a REST item the client could not parse, a stream event, an unreadable frame)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from alpaca_integration.models import (
    AccountSnapshot,
    Activity,
    Fill,
    Order,
    Position,
    TradeUpdate,
)
from alpaca_integration.sync import validation
from alpaca_integration.sync.report import FEED_ACTIVITIES, FEED_ORDERS, activity_id_of
from alpaca_integration.sync.validation import Quarantined

if TYPE_CHECKING:
    from alpaca_integration.alpaca.paging import BadItem

__all__ = [
    "PARENTS_KEPT",
    "CheckpointHold",
    "Checkpoints",
    "QuarantinedEvent",
    "Refused",
    "RefusedItem",
    "Rows",
    "UnreadableFrame",
    "deferred_refusals",
    "frame_key",
    "refused_kind",
]

# A commit's checkpoints, or a function of the records validation refused that returns them (a
# feed's checkpoint never moves past a record refused for now only: ``Quarantined.deferred``).
Checkpoints = Mapping[str, str] | Callable[[Sequence[Quarantined]], Mapping[str, str]]
# How many leg -> parent links the engine keeps in memory (the store answers for the rest).
PARENTS_KEPT = 10_000


@dataclass(frozen=True)
class Rows:
    """What one commit brings, before and after validation (``refused``: what it dropped)."""

    orders: Sequence[Order] = ()
    fills: Sequence[Fill] = ()
    activities: Sequence[Activity] = ()
    snapshot: AccountSnapshot | None = None
    positions: Sequence[Position] | None = None
    position_events: Sequence[TradeUpdate] = ()
    refused: Sequence[Quarantined] = ()


@dataclass
class CheckpointHold:
    """One sync's hold on a feed's checkpoint: once a record is deferred (refused for a time
    ahead of this host's clock), the checkpoint stays before it for the rest of the sync, so the
    next sync reads it again (it is stored once the clock has passed it)."""

    held: bool = False

    def orders(self, newest: dt.datetime | None, refused: Sequence[Quarantined]) -> dict[str, str]:
        if self.held or deferred_refusals(refused, "order"):
            self.held = True
            return {}
        return {FEED_ORDERS: newest.isoformat()} if newest is not None else {}

    def activities(
        self, page: Sequence[Fill | Activity], refused: Sequence[Quarantined]
    ) -> dict[str, str]:
        """The id of the page's last item before the first deferred one (all of it when none)."""
        if self.held:
            return {}
        deferred = {(q.record_kind, q.record_key) for q in deferred_refusals(refused)}
        last: str | None = None
        for item in page:
            if (validation.record_kind(item), validation.record_key(item)) in deferred:
                self.held = True
                break
            last = activity_id_of(item) or last
        return {FEED_ACTIVITIES: last} if last else {}


def refused_kind(refused: Sequence[Quarantined], kind: str) -> bool:
    return any(q.record_kind == kind for q in refused)


def deferred_refusals(refused: Sequence[Quarantined], kind: str | None = None) -> list[Quarantined]:
    """The refused records (of ``kind``) that may be accepted later (times ahead of the clock)."""
    return [q for q in refused if q.deferred and (kind is None or q.record_kind == kind)]


class Refused(Protocol):
    """A record refused before storage, as ``quarantine`` keeps it."""

    @property
    def record_kind(self) -> str: ...

    @property
    def record_key(self) -> str | None: ...

    @property
    def reason(self) -> str: ...

    @property
    def raw(self) -> bytes: ...

    @property
    def source(self) -> str: ...


@dataclass(frozen=True)
class RefusedItem:
    """A REST page item the client could not parse, in the shape ``_persist_quarantine`` writes."""

    item: BadItem
    source: str = "rest"

    @property
    def record_kind(self) -> str:
        return self.item.kind

    @property
    def record_key(self) -> str | None:
        return self.item.key

    @property
    def reason(self) -> str:
        return self.item.reason

    @property
    def raw(self) -> bytes:
        return self.item.raw


@dataclass(frozen=True)
class QuarantinedEvent:
    """A stream event refused before storage, in the shape ``_persist_quarantine`` writes."""

    update: TradeUpdate
    reason: str
    record_kind: str = "trade_update"
    source: str = "stream"

    @property
    def record_key(self) -> str:
        return self.update.execution_id or self.update.order.id

    @property
    def raw(self) -> bytes:
        return self.update.raw


@dataclass(frozen=True)
class UnreadableFrame:
    """A trade_updates frame the stream could not read, in the shape ``_persist_quarantine``
    writes: the frame's bytes as received and the parser's reason."""

    raw: bytes
    reason: str
    record_kind: str = "trade_update"
    source: str = "stream"

    @property
    def record_key(self) -> str:
        return frame_key(self.raw)


def frame_key(raw: bytes) -> str:
    """The quarantine key of an unreadable stream frame: the execution id when the frame names
    one (an execution happens once); else the order id with a digest of the frame (two different
    unreadable events of one order are two rows, the same frame twice is one); else, when no id
    can be read at all, ``sha256:`` and the start of the frame's digest (as ``quality`` does)."""
    digest = hashlib.sha256(raw).hexdigest()[:32]
    data = frame_data(raw)
    if data is not None:
        execution_id = data.get("execution_id")
        if isinstance(execution_id, str) and execution_id:
            return execution_id[:256]
        order = data.get("order")
        order_id = order.get("id") if isinstance(order, dict) else None
        if isinstance(order_id, str) and order_id:
            return f"{order_id[:200]}#sha256:{digest[:16]}"
    return f"sha256:{digest}"


def frame_data(raw: bytes) -> dict[str, Any] | None:
    """The ``data`` object of a stream frame (JSON or MessagePack), or None when unreadable."""
    for decode in (msgspec.json.decode, msgspec.msgpack.decode):
        try:
            document = decode(raw)
        except (msgspec.DecodeError, RecursionError, ValueError):  # the digest will do
            continue
        if isinstance(document, dict):
            data = document.get("data")
            return data if isinstance(data, dict) else None
        return None
    return None
