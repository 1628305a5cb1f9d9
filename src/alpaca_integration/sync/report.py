"""What a sync did and the small helpers every part of the engine shares: the feeds, ``SyncReport``,
the REST read-ahead, checkpoint parsing. Imports models only."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from alpaca_integration._closing import cancel_and_wait
from alpaca_integration.models import (
    Activity,
    Fill,
)

__all__ = [
    "FEED_ACCOUNT",
    "FEED_ACTIVITIES",
    "FEED_ORDERS",
    "FEED_STREAM",
    "SYNC_COUNTS",
    "ProgressCallback",
    "SyncReport",
    "activity_id_of",
    "parse_time",
    "read_ahead",
    "utcnow",
]

FEED_ORDERS = "orders"
FEED_ACTIVITIES = "activities"
FEED_ACCOUNT = "account"
FEED_STREAM = "stream"

_T = TypeVar("_T")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def read_ahead(source: AsyncIterator[_T], limit: int) -> AsyncIterator[_T]:
    """Iterate ``source`` while a background task fetches up to ``limit`` items ahead, so the
    next page's request (and its wait for rate budget) overlaps the current batch's write."""
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(maxsize=max(1, limit))

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((True, item))
        except Exception as exc:
            await queue.put((False, exc))
            return
        await queue.put((False, None))

    task = asyncio.create_task(pump())
    try:
        while True:
            more, value = await queue.get()
            if more:
                yield value
                continue
            if value is not None:
                raise value
            return
    finally:
        await cancel_and_wait(task)


def activity_id_of(item: Fill | Activity) -> str | None:
    return item.activity_id if isinstance(item, Fill) else item.id


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass
class SyncReport:
    """What one sync (or catch-up) did: rows actually changed per kind, requests-free figures."""

    account: str
    orders_seen: int = 0
    orders_changed: int = 0
    fills_changed: int = 0
    activities_changed: int = 0
    positions_changed: int = 0
    quarantined: int = 0
    fees_attached: int = 0
    started_at: dt.datetime = field(default_factory=utcnow)
    finished_at: dt.datetime | None = None

    @property
    def rows_changed(self) -> int:
        return sum(getattr(self, name) for name in _ROW_COUNTS)

    def counts(self) -> dict[str, int]:
        """Every counter by name (``SYNC_COUNTS``), as summaries show them."""
        return {name: getattr(self, name) for name in SYNC_COUNTS}

    def merge(self, other: SyncReport) -> SyncReport:
        for name in SYNC_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.finished_at = other.finished_at or self.finished_at
        return self


# The counters of a ``SyncReport`` in the order summaries show them, and those that count rows
# changed.
SYNC_COUNTS = (
    "orders_seen",
    "orders_changed",
    "fills_changed",
    "activities_changed",
    "positions_changed",
    "fees_attached",
    "quarantined",
)
_ROW_COUNTS = (
    "orders_changed",
    "fills_changed",
    "activities_changed",
    "positions_changed",
    "fees_attached",
)


ProgressCallback = Callable[[str, int], None]
