"""The typed seams: what sync and the checks need from the store, the cache and the venue client.

Each Protocol names only the methods actually called, with their real signatures, so
``mypy --strict`` checks every call across the seam: ``storage.Store``, ``cache.Cache`` and
``alpaca.AlpacaClient`` satisfy them structurally (no inheritance), and a test fake needs only
the few methods its test reaches. The typed results are the storage layer's own
(``ApplyBatch``, ``ApplyResult``, ``FillProgress``): renaming one of their fields breaks the type
check, never silently reports zeros.

* :class:`SyncStore`, :class:`SyncCache`, :class:`VenueClient`: the sync engine's three seams.
* :class:`ReconcileStore`, :class:`ReconcileClient`, :class:`RepairWriter`: reconciliation's.
* :class:`QualityStore`, :class:`ExposureStore`, :class:`RiskStoreSource`,
  :class:`RiskClientSource`: the quality rules', exposure's and the pre-trade risk hook's.

Imports models, the storage value types, the adapter's ``OnBadItem`` and the cache rebuild's own
seams (``StoreReader``: the state reads; ``Rebuildable``), for typing; no implementation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, Protocol

from alpaca_integration.alpaca.paging import OnBadItem
from alpaca_integration.cache.rebuild import Rebuildable, StoreReader
from alpaca_integration.models import (
    AccountSnapshot,
    Activity,
    DataSource,
    Fill,
    Order,
    Position,
)
from alpaca_integration.storage.records import (
    ApplyBatch,
    ApplyResult,
    ExposureLike,
    FillProgress,
    FindingLike,
    QualityResultLike,
    RiskBreachLike,
)

__all__ = [
    "ExposureStore",
    "QualityStore",
    "ReconcileClient",
    "ReconcileStore",
    "RepairWriter",
    "RiskClientSource",
    "RiskSource",
    "RiskStoreSource",
    "SyncCache",
    "SyncStore",
    "VenueClient",
]

Direction = Literal["asc", "desc"]
OrderStatusFilter = Literal["open", "closed", "all"]


# --------------------------------------------------------------------------- sync


class SyncStore(StoreReader, Protocol):
    """What ``SyncEngine`` reads and writes in the store (``storage.Store`` has it all)."""

    async def apply_batch(self, account: str, batch: ApplyBatch) -> ApplyResult: ...

    async def get_checkpoint(self, account: str, feed: str) -> str | None: ...

    async def list_orders(
        self, account: str, *, ids: Iterable[str] | None = ...
    ) -> Sequence[Order]: ...

    async def get_order(
        self, account: str, order_id: str, *, with_legs: bool = ...
    ) -> Order | None: ...

    async def fill_progress(
        self, account: str, order_ids: Iterable[str], symbols: Iterable[str] = ...
    ) -> FillProgress: ...

    async def attach_fee(
        self, account: str, order_id: str, transaction_time: dt.datetime, amount: Decimal
    ) -> bool: ...

    async def insert_quarantine(
        self,
        account: str,
        *,
        record_kind: str,
        record_key: str | None,
        reason: str,
        raw: bytes | str,
        source: str,
    ) -> bool: ...

    async def insert_stream_gap(
        self,
        account: str,
        *,
        gap_from: dt.datetime,
        gap_to: dt.datetime | None = ...,
        reason: str,
        closed_by: str | None = ...,
        rows_recovered: int = ...,
    ) -> int: ...


class SyncCache(Rebuildable, Protocol):
    """What ``SyncEngine`` mirrors into the cache, beside the rebuild (``cache.Cache`` has it
    all)."""

    async def set_account(self, account: str, snapshot: AccountSnapshot | None) -> bool: ...

    async def set_positions(self, account: str, positions: Iterable[Position]) -> bool: ...

    async def update_orders(self, account: str, orders: Iterable[Order]) -> bool: ...

    async def publish(self, account: str, message: Mapping[str, Any]) -> bool: ...

    async def mirror(
        self,
        account: str,
        *,
        snapshot: AccountSnapshot | None = ...,
        positions: Iterable[Position] | None = ...,
        orders: Iterable[Order] = ...,
        fill_ids: Sequence[str] = ...,
    ) -> bool: ...


class _VenueState(Protocol):
    """The venue's account state (``AlpacaClient`` has it)."""

    async def get_account(self) -> AccountSnapshot: ...

    async def list_positions(self) -> Sequence[Position]: ...


class _VenueHistory(Protocol):
    """The venue's orders and activities, page after page (``AlpacaClient`` has them)."""

    def iter_orders(
        self,
        *,
        status: OrderStatusFilter = ...,
        after: dt.datetime | None = ...,
        direction: Direction = ...,
        nested: bool | None = ...,
        on_bad_item: OnBadItem | None = ...,
    ) -> AsyncIterator[Order]: ...

    def iter_activities(
        self,
        *,
        direction: Direction = ...,
        page_token: str | None = ...,
        on_bad_item: OnBadItem | None = ...,
    ) -> AsyncIterator[Fill | Activity]: ...


class VenueClient(_VenueHistory, Protocol):
    """What ``SyncEngine`` reads from the venue (``AlpacaClient`` has it all)."""

    async def get_account(self) -> AccountSnapshot: ...

    async def list_positions(
        self, *, on_bad_item: OnBadItem | None = ...
    ) -> Sequence[Position]: ...

    async def get_order(
        self, order_id: str, *, nested: bool | None = ..., on_bad_item: OnBadItem
    ) -> Order | None: ...


# --------------------------------------------------------------------------- checks


class ReconcileClient(_VenueState, _VenueHistory, Protocol):
    """What reconciliation reads from the broker (``AlpacaClient`` has all of it)."""


class RepairWriter(Protocol):
    """Writes reconciliation's repairs: ``Store.apply``, or the sync engine's
    ``apply_reconciled`` (the one write path, serialised with the stream)."""

    def __call__(
        self,
        account: str,
        *,
        orders: Sequence[Order] = ...,
        fills: Sequence[Fill] = ...,
        activities: Sequence[Activity] = ...,
        snapshot: AccountSnapshot | None = ...,
        positions: Sequence[Position] | None = ...,
        source: DataSource = ...,
    ) -> Awaitable[ApplyResult]: ...


class ReconcileStore(StoreReader, Protocol):
    """What reconciliation reads and writes in the store (``storage.Store`` has all of it)."""

    async def list_orders(
        self, account: str, *, ids: Iterable[str] | None = ...
    ) -> Sequence[Order]: ...

    async def list_fills(
        self, account: str, *, order_ids: Iterable[str] | None = ...
    ) -> Sequence[Fill]: ...

    async def list_activities(
        self, account: str, *, ids: Iterable[str] | None = ...
    ) -> Sequence[Activity]: ...

    async def external_flags(self, account: str) -> dict[str, bool]: ...

    async def mark_external(
        self, account: str, order_ids: Iterable[str], external: bool = ...
    ) -> int: ...

    @property
    def apply(self) -> RepairWriter:
        """The write of the repairs when no ``apply`` is given (``Store.apply``)."""
        ...

    async def start_reconciliation_run(
        self, account: str, *, dry_run: bool, started_at: dt.datetime | None = ...
    ) -> int: ...

    async def add_reconciliation_items(
        self, run_id: int, account: str, findings: Iterable[FindingLike]
    ) -> int: ...

    async def finish_reconciliation_run(
        self,
        run_id: int,
        *,
        finished_at: dt.datetime | None = ...,
        summary: Mapping[str, Any] | None = ...,
    ) -> None: ...


class QualityStore(Protocol):
    """What the quality rules read and write (``storage.Store`` has it)."""

    async def list_orders(self, account: str) -> Sequence[Order]: ...

    async def list_fills(self, account: str) -> Sequence[Fill]: ...

    async def positions(self, account: str) -> Sequence[Position]: ...

    async def latest_snapshot(self, account: str) -> AccountSnapshot | None: ...

    async def get_checkpoint(self, account: str, feed: str) -> str | None: ...

    async def list_activities(self, account: str) -> Sequence[Activity]: ...

    async def insert_quality_results(self, results: Iterable[QualityResultLike]) -> int: ...


class ExposureStore(Protocol):
    """Where exposure and breaches are written (``storage.Store`` has it)."""

    async def insert_exposure_snapshot(self, snapshot: ExposureLike) -> bool: ...

    async def insert_risk_breaches(self, breaches: Iterable[RiskBreachLike]) -> int: ...


class RiskStoreSource(Protocol):
    """The pre-trade hook reading the store: cheap, no request budget used."""

    async def positions(self, account: str) -> Sequence[Position]: ...

    async def open_orders(self, account: str) -> Sequence[Order]: ...

    async def latest_snapshot(self, account: str) -> AccountSnapshot | None: ...


class RiskClientSource(_VenueState, Protocol):
    """The pre-trade hook reading the venue: exact, two requests or more."""

    def iter_orders(
        self, *, status: OrderStatusFilter = ..., nested: bool | None = ...
    ) -> AsyncIterator[Order]: ...


RiskSource = RiskStoreSource | RiskClientSource
