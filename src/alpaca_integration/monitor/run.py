"""Running the monitor in a process: the store opened, the service started, stopped by a signal
or after a duration, and the status line's figures for whoever displays them.

:func:`run_monitor` is what ``alpacactl monitor`` runs; ``on_status`` is called about twice a
second with one :func:`status_row` per account (the CLI renders them; this module prints nothing).

Imports ``monitor.service`` and ``monitor.runtime``; never the CLI, Prefect or the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from alpaca_integration.config import AccountConfig, AlpacaSettings
from alpaca_integration.errors import ConfigError
from alpaca_integration.monitor.leases import (
    DEFAULT_LEASE_PREFIX,
    LeaseBoard,
    LeaseHolder,
    MonitorMember,
)
from alpaca_integration.monitor.runtime import opened_store_and_cache
from alpaca_integration.monitor.service import AccountStatus, MonitorService

if TYPE_CHECKING:
    from alpaca_integration.cache import Cache
    from alpaca_integration.storage import Store

__all__ = [
    "STATUS_COLUMNS",
    "Beside",
    "StatusCallback",
    "lease_status",
    "run_monitor",
    "skew_text",
    "status_row",
]

STATUS_COLUMNS = (
    "account",
    "stream",
    "last sync",
    "events",
    "events/s",
    "lag",
    "skew",
    "gaps",
    "error",
)

StatusCallback = Callable[[list[tuple[str, ...]]], None]

# Something served beside the monitor in its event loop (``alpacactl monitor --dashboard``):
# called with the store, the cache and the service's ``statuses``; entered once the service
# exists, left after it stopped and before the store closes.
Beside = Callable[
    ["Store", "Cache", Callable[[], Sequence[AccountStatus]]], AbstractAsyncContextManager[Any]
]

# How often the status line is refreshed, in seconds.
_STATUS_EVERY = 0.5


def status_row(status: AccountStatus) -> tuple[str, ...]:
    """One account's figures as the status line shows them, in :data:`STATUS_COLUMNS` order."""
    return (
        status.name,
        _stream_cell(status),
        status.last_sync_at.strftime("%H:%M:%S") if status.last_sync_at else "-",
        str(status.events),
        f"{status.events_per_second:.1f}",
        f"{status.lag_seconds * 1000:.0f} ms" if status.lag_seconds is not None else "-",
        skew_text(status.clock_skew),
        str(status.gaps),
        (status.last_error or status.stream_warning or "")[:60],
    )


def _stream_cell(status: AccountStatus) -> str:
    cell = "connected" if status.connected else "down"
    if status.activities_stream is not None:
        cell += f" / activities {status.activities_stream}"
    return cell


def skew_text(skew: float | None) -> str:
    """The venue's clock against this host's as the status line shows it: ``+75.0 s`` (the
    venue ahead), ``-0.4 s`` (behind), ``-`` before the venue has answered."""
    if skew is None:
        return "-"
    return f"{skew:+.1f} s"


async def run_monitor(
    accounts: Sequence[AccountConfig],
    settings: AlpacaSettings,
    *,
    interval: float,
    stream: bool = True,
    migrate: bool = False,
    duration: float | None = None,
    reconcile_every: float | None = 3600.0,
    on_status: StatusCallback | None = None,
    beside: Beside | None = None,
    lease_ttl: float | None = None,
    lease_prefix: str = DEFAULT_LEASE_PREFIX,
    activities_stream: bool = False,
) -> None:
    """Open the store and the cache, run the monitor until SIGINT/SIGTERM (or ``duration``
    seconds), then let the writes in flight finish and close everything. ``beside``: served in
    the same loop while the monitor runs (see :data:`Beside`).

    ``lease_ttl`` (needs ``settings.redis_url``): share the accounts with the other monitors
    through leases of that many seconds (``monitor.leases``); None runs every account here."""
    board = None
    if lease_ttl is not None:
        if not settings.redis_url:
            raise ConfigError(
                "sharing accounts between monitors needs Redis and ALPACA_REDIS_URL is not set. "
                "Fix: export ALPACA_REDIS_URL=redis://host:6379/0 on every monitor",
                setting="ALPACA_REDIS_URL",
            )
        board = LeaseBoard(settings.redis_url, prefix=lease_prefix, ttl=lease_ttl)
    async with contextlib.AsyncExitStack() as stack:
        if board is not None:
            stack.push_async_callback(board.aclose)
        store, cache = await stack.enter_async_context(
            opened_store_and_cache(settings.database_url, settings.redis_url, migrate=migrate)
        )
        service = MonitorService(
            accounts,
            store,
            cache,
            update_interval=interval,
            stream=stream,
            redis_url=settings.redis_url,
            reconcile_every=reconcile_every or None,
            leases=board,
            activities_stream=activities_stream,
            freeze_gc=True,
        )
        served = contextlib.AsyncExitStack()
        if beside is not None:
            await served.enter_async_context(beside(store, cache, service.statuses))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, service.stop)
        if duration is not None:
            loop.call_later(duration, service.stop)
        runner = asyncio.create_task(service.run())
        try:
            while on_status is not None and not runner.done():
                on_status([status_row(s) for s in service.statuses()])
                await asyncio.wait({runner}, timeout=_STATUS_EVERY)
            await runner
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await served.aclose()


async def lease_status(
    accounts: Sequence[AccountConfig], redis_url: str, *, prefix: str = DEFAULT_LEASE_PREFIX
) -> tuple[list[LeaseHolder], list[MonitorMember]]:
    """Who holds each account's lease, and the live monitors (``alpacactl monitor --status``)."""
    board = LeaseBoard(redis_url, prefix=prefix)
    try:
        return await board.holders([a.name for a in accounts]), await board.members()
    finally:
        await board.aclose()
