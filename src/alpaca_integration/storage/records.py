"""Value types the store returns (and the shapes it accepts) besides the domain models.

``ApplyBatch`` is everything one page or event brings to ``Store.apply_batch``; ``ApplyResult``
is what one such write changed. The ``*Record`` types are rows of the
correctness tables as read back. The ``*Like`` protocols are what the insert methods read from the
objects other modules pass (``risk.ExposureSnapshot``, ``reconcile.Finding``, ...), so those
modules need not import this one.

Imports only the package's models (a batch and ``FillProgress`` carry them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypedDict

import msgspec

from alpaca_integration.models import AccountSnapshot, Activity, DataSource, Fill, Order, Position

__all__ = [
    "FENCE_FEED",
    "ApplyBatch",
    "ApplyResult",
    "Checkpoint",
    "ExposureFigures",
    "ExposureLike",
    "ExposureRecord",
    "FillProgress",
    "FindingLike",
    "QualityResultLike",
    "QualityResultRecord",
    "QuarantineRecord",
    "ReconciliationItemRecord",
    "ReconciliationRunRecord",
    "RiskBreachLike",
    "RiskBreachRecord",
    "StoreDump",
    "StreamGapRecord",
    "StreamPositions",
]


# The checkpoint row holding the newest lease epoch that wrote an account (``ApplyBatch.fence``).
FENCE_FEED = "lease_epoch"


class ApplyBatch(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one page or event brings: ``Store.apply_batch`` writes it, and the
    checkpoints it covers, in ONE transaction.

    ``orders``: legs (``Order.legs``) are stored as rows of their own with ``parent_id``.
    ``positions``: the account's FULL set of open positions as of ``positions_at`` (default: the
    newest ``observed_at`` among them, else the snapshot's); symbols missing from it are closed.
    ``None`` leaves positions alone. ``position_updates``: a PARTIAL set, ``{symbol: position,
    or None to close it}`` (e.g. what stream fills moved); symbols not in it are left alone. Each
    is monotonic like ``Store.set_position``: skipped when the stored row, or the newest full
    set, is as new or newer. A position is dated by its ``observed_at``; a close by
    ``position_updates_at`` (one time, or ``{symbol: time}``; default: now). Applied after
    ``positions``. ``checkpoints``: ``{feed: value}`` (opaque text). ``source``: where the
    orders, activities, snapshot and positions came from (fills carry their own). ``fence``: the
    writer's lease epoch (``monitor.leases``); under the account's row lock, a batch whose epoch
    is below the one stored (checkpoint feed ``FENCE_FEED``) writes nothing and raises
    ``FencedWriteError``, else the epoch is stored with the batch's rows and checkpoints.
    ``stream_positions``: position updates judged inside the transaction (see
    ``StreamPositions``), applied like ``position_updates`` (and beside them). ``read_back``: the
    result also carries the changed orders and, when a position moved, the account's positions,
    as committed (``ApplyResult.committed_orders`` / ``committed_positions``), read in the
    transaction itself instead of by separate reads after it.

    The sequences and mappings are read, never copied or changed.
    """

    orders: Sequence[Order] = ()
    fills: Sequence[Fill] = ()
    activities: Sequence[Activity] = ()
    snapshot: AccountSnapshot | None = None
    positions: Sequence[Position] | None = None
    positions_at: dt.datetime | None = None
    position_updates: Mapping[str, Position | None] | None = None
    position_updates_at: dt.datetime | Mapping[str, dt.datetime] | None = None
    checkpoints: Mapping[str, str] | None = None
    source: DataSource = DataSource.REST
    fence: int | None = None
    stream_positions: StreamPositions | None = None
    read_back: bool = False


class ApplyResult(msgspec.Struct, frozen=True, kw_only=True):
    """Rows one ``Store.apply_batch`` (or ``apply``) actually changed (inserted, updated or deleted), per kind.

    Applying the same data twice gives all zeros the second time. ``order_ids`` are the orders
    whose row changed (legs included); ``positions_refreshed`` says a newer positions set was
    stored (market values may have moved even when no holding changed); ``position_symbols`` are
    the symbols whose current row ``position_updates`` wrote or deleted (sorted; an update older
    than the stored row is not among them); ``account_updated`` says the snapshot is now the
    account's newest.
    """

    orders: int = 0
    fills: int = 0
    fees: int = 0
    activities: int = 0
    snapshots: int = 0
    positions: int = 0
    checkpoints: int = 0
    quarantined: int = 0
    order_ids: tuple[str, ...] = ()
    positions_refreshed: bool = False
    position_symbols: tuple[str, ...] = ()
    account_updated: bool = False
    # With ``ApplyBatch.read_back``: the orders of ``order_ids`` as committed (flat, oldest
    # first), and the account's whole positions set as committed when ``position_symbols`` is
    # not empty (else None).
    committed_orders: tuple[Order, ...] = ()
    committed_positions: tuple[Position, ...] | None = None

    @property
    def rows_changed(self) -> int:
        """Every data row changed (checkpoints not counted: they only record progress)."""
        return (
            self.orders
            + self.fills
            + self.fees
            + self.activities
            + self.snapshots
            + self.positions
            + self.quarantined
        )

    @property
    def changed(self) -> bool:
        return self.rows_changed > 0 or self.checkpoints > 0 or self.positions_refreshed


class FillProgress(msgspec.Struct, frozen=True, kw_only=True):
    """What the store holds of some orders' executions and some symbols' positions, read in one
    go (``Store.fill_progress``): enough to tell whether a stream fill event is news.

    ``filled_qty``: stored ``filled_qty`` by order id (orders not stored are absent);
    ``executions``: stored execution ids of those orders; ``cum_qtys``: stored
    ``(order_id, cum_qty)`` keys; ``positions``: the current positions of the symbols asked for
    (flat ones absent).
    """

    filled_qty: dict[str, Decimal] = msgspec.field(default_factory=dict)
    executions: frozenset[str] = frozenset()
    cum_qtys: frozenset[tuple[str, Decimal]] = frozenset()
    positions: dict[str, Position] = msgspec.field(default_factory=dict)


# The judge of ``StreamPositions``: {symbol: (position, or None when flat; when observed)}.
PositionJudge = Callable[["FillProgress"], Mapping[str, tuple[Position | None, dt.datetime]]]


class StreamPositions(msgspec.Struct, frozen=True, kw_only=True):
    """Positions that depend on what the store holds when the batch is written (stream fill
    events): inside ``apply_batch``'s transaction, under the account's row lock and before the
    batch's rows are written, the store reads the ``FillProgress`` of ``order_ids`` and
    ``symbols`` (what ``Store.fill_progress`` returns) and applies what ``judge`` makes of it
    as position updates. ``judge`` must be pure: a retried transaction calls it again."""

    order_ids: frozenset[str]
    symbols: frozenset[str]
    judge: PositionJudge


class StoreDump(TypedDict):
    """``Store.dump``: one account's state in a plain, comparable form (no ingestion times, no
    raw payloads). Each view is ``{field: value}`` with enums as their values: ``account`` the
    latest snapshot's figures (empty without one), ``orders`` by id, ``fills`` sorted by
    ``(order_id, cum_qty)``, ``positions`` by symbol, ``activities`` by id, ``checkpoints``
    ``{feed: value}``."""

    account: dict[str, Any]
    cash: Decimal | None
    orders: dict[str, dict[str, Any]]
    fills: list[dict[str, Any]]
    positions: dict[str, dict[str, Any]]
    activities: dict[str, dict[str, Any]]
    checkpoints: dict[str, str]


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """How far one feed of one account has been applied."""

    feed: str
    value: str
    updated_at: dt.datetime


class StreamGapRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An interval the trade_updates stream missed, and how it was closed."""

    id: int
    account: str
    gap_from: dt.datetime
    gap_to: dt.datetime | None
    reason: str
    closed_by: str | None
    rows_recovered: int
    created_at: dt.datetime


class QualityResultRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    run_id: str
    rule: str
    account: str
    subject: str
    severity: str
    detail: Any
    created_at: dt.datetime


class QuarantineRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A record that was refused, with its raw payload verbatim."""

    id: int
    account: str
    record_kind: str
    record_key: str
    reason: str
    raw: bytes
    source: str
    created_at: dt.datetime


class ReconciliationRunRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    account: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    dry_run: bool
    summary: Any


class ReconciliationItemRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    run_id: int
    account: str
    kind: str
    subject: str
    difference: str
    decision: str
    detail: str
    created_at: dt.datetime


class ExposureFigures(msgspec.Struct, frozen=True, kw_only=True):
    """An account's exposure at ``at``: gross = long + short, net = long - short; ``per_symbol``
    maps each symbol to its signed market value. Symbols without any price are listed in
    ``unpriced`` and left out of the sums. (``checks.exposure.ExposureSnapshot`` as measured,
    ``ExposureRecord`` as stored.)"""

    account: str
    at: dt.datetime
    gross: Decimal
    net: Decimal
    long: Decimal
    short: Decimal
    per_symbol: dict[str, Decimal]
    quantities: dict[str, Decimal]
    unpriced: tuple[str, ...] = ()


class ExposureRecord(ExposureFigures, frozen=True, kw_only=True):
    """A stored exposure measurement (a row of ``exposure_snapshots``)."""

    id: int


class RiskBreachRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    account: str
    at: dt.datetime
    limit_name: str
    subject: str
    value: Decimal | None
    limit: Decimal | None
    detail: str


# --------------------------------------------------------------------------- accepted shapes


class FindingLike(Protocol):
    """A reconciliation finding (``reconcile.Finding``)."""

    @property
    def kind(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def difference(self) -> str: ...
    @property
    def decision(self) -> str: ...
    @property
    def detail(self) -> str: ...


class ExposureLike(Protocol):
    """An exposure measurement (``risk.ExposureSnapshot``)."""

    @property
    def account(self) -> str: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def gross(self) -> Decimal: ...
    @property
    def net(self) -> Decimal: ...
    @property
    def long(self) -> Decimal: ...
    @property
    def short(self) -> Decimal: ...
    @property
    def per_symbol(self) -> Mapping[str, Decimal]: ...
    @property
    def quantities(self) -> Mapping[str, Decimal]: ...
    @property
    def unpriced(self) -> Sequence[str]: ...


class RiskBreachLike(Protocol):
    """A limit exceeded (``risk.RiskBreach``)."""

    @property
    def account(self) -> str: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def limit_name(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def value(self) -> Decimal | None: ...
    @property
    def limit(self) -> Decimal | None: ...
    @property
    def detail(self) -> str: ...


class QualityResultLike(Protocol):
    """One quality rule finding (``quality.QualityResult``); ``created_at`` None means now."""

    @property
    def run_id(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def detail(self) -> str | Mapping[str, Any]: ...
    @property
    def created_at(self) -> dt.datetime | None: ...
