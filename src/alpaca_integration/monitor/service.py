"""The monitor service: stream ingestion plus periodic syncs for one or many accounts.

``MonitorService`` opens the store and the cache once, then for each account runs:

* a ``StreamIngestor`` (trade_updates applied as they arrive; REST catch-up after every connect;
  silence watchdog; gaps recorded);
* with ``activities_stream`` (off by default: see ``docs/monitoring.md``), an
  ``ActivityStreamIngestor`` beside it: the activities event stream (SSE), resumed from the last
  stored event id, fees, dividends and corporate actions in real time; on HTTP 403/404 it logs
  one line and the periodic REST paging carries on alone;
* the two periodic syncs every ``update_interval`` seconds: order monitoring (orders + fills and
  activities) and account monitoring (snapshot + positions);
* exposure and risk-limit breaches recorded as rows after each account sync;
* reconciliation (``checks.reconcile``) after the first periodic sync and then every
  ``reconcile_every`` seconds (an hour by default; ``None`` turns it off);

each account through its own ``AlpacaClient`` and so its own rate budget (shared through Redis
with other processes using the same key when a Redis URL is configured).

With ``leases`` (a ``monitor.leases.LeaseBoard``), several services (processes, machines) share
the accounts: each runs only the accounts whose lease it holds (``monitor.leases_shard``), writes
them with the lease's fencing epoch, and records a ``takeover``/``handover`` gap for an account
another monitor streamed before it.

With ``freeze_gc`` (the CLI's ``monitor`` sets it: a process of its own), every object alive once
an account has started (imports, engines, clients, compiled statements: long-lived) is moved out
of the garbage collector's view (``gc.freeze``), so a full collection scans only what came after.
Without it, one full collection in a 100-account monitor paused its event loop, every account's
stream with it, for 0.4 s (measured on a loaded 2-core machine; benchmarks/accounts.py).

Stopping (``stop()``, SIGINT/SIGTERM in the CLI) cancels the loops, lets every write in flight
commit (``SyncEngine.drain``), then closes the clients, the cache and the store.

The store and the cache are opened by the caller (``monitor.runtime``) and passed in. Imports the
sync engine, config, ``monitor.jobs`` and (lazily) the checks and the client; never Prefect, the
CLI or the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alpaca_integration._closing import cancel_until_ended, raise_if_cancelling, task_stack
from alpaca_integration.config import AccountConfig
from alpaca_integration.monitor.jobs import record_exposure
from alpaca_integration.monitor.leases import FencedStore, Lease, LeaseBoard
from alpaca_integration.monitor.leases_shard import ShardKeeper
from alpaca_integration.monitor.ledger_jobs import update_account_ledger
from alpaca_integration.storage.records import FENCE_FEED
from alpaca_integration.sync.activity_stream import (
    ActivityStreamFactory,
    ActivityStreamIngestor,
    default_activity_stream_factory,
)
from alpaca_integration.sync.engine import FEED_STREAM, SyncEngine
from alpaca_integration.sync.stream import StreamFactory, StreamIngestor, default_stream_factory

if TYPE_CHECKING:
    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.cache import Cache
    from alpaca_integration.storage import Store

__all__ = ["AccountStatus", "MonitorService"]

log = logging.getLogger(__name__)

# Seconds after an account stops before the heap is collected and frozen again (freeze_gc).
REFREEZE_AFTER = 0.5
# Seconds an account's loops, then its writes in flight, get to end once its stop asked them to
# (a normal stop takes well under one); then each is reported and cancelled again.
STOP_PATIENCE = 10.0


@dataclass
class AccountStatus:
    """What the status line shows for one account."""

    name: str
    connected: bool = False
    last_sync_at: dt.datetime | None = None
    events: int = 0
    events_per_second: float = 0.0
    lag_seconds: float | None = None
    # The venue's clock minus this host's, in seconds, as the account's client measures it
    # (``AlpacaClient.clock_skew``); None until the venue has answered.
    clock_skew: float | None = None
    gaps: int = 0
    last_error: str | None = None
    # Why the stream keeps being cut short (e.g. a second monitor on the same key), while it does.
    stream_warning: str | None = None
    # The activities event stream: None when off, else "connected", "down" or "unavailable".
    activities_stream: str | None = None


@dataclass
class _AccountRuntime:
    config: AccountConfig
    client: AlpacaClient
    engine: SyncEngine
    ingestor: StreamIngestor | None
    status: AccountStatus
    activities: ActivityStreamIngestor | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    rate_window: list[tuple[float, int]] = field(default_factory=list)


class MonitorService:
    """Keeps every configured account's store and cache equal to the broker until stopped."""

    def __init__(
        self,
        accounts: Sequence[AccountConfig],
        store: Store,
        cache: Cache | None,
        *,
        update_interval: float = 60.0,
        stream: bool = True,
        silence_timeout: float = 30.0,
        redis_url: str | None = None,
        stream_options: dict[str, Any] | None = None,
        client_options: dict[str, Any] | None = None,
        reconcile_every: float | None = 3600.0,
        leases: LeaseBoard | None = None,
        activities_stream: bool = False,
        activities_stream_options: dict[str, Any] | None = None,
        freeze_gc: bool = False,
    ) -> None:
        if not accounts:
            raise ValueError("MonitorService needs at least one account")
        if update_interval <= 0:
            raise ValueError("update_interval must be > 0 seconds")
        self.accounts = list(accounts)
        self.store = store
        self.cache = cache
        self.update_interval = update_interval
        self.stream = stream
        self.silence_timeout = silence_timeout
        self.redis_url = redis_url
        self.stream_options = dict(stream_options or {})
        self.client_options = dict(client_options or {})
        self.reconcile_every = reconcile_every or None
        self.activities_stream = activities_stream
        self.activities_stream_options = dict(activities_stream_options or {})
        # Process-wide (gc.freeze): only for a process that is the monitor (the CLI's).
        self.freeze_gc = freeze_gc
        self._refreeze: asyncio.TimerHandle | None = None
        # With a LeaseBoard, only the accounts whose lease this monitor holds are run.
        self.leases = leases
        self.keeper: ShardKeeper | None = None
        self._runtimes: list[_AccountRuntime] = []
        self._ledgers: dict[str, Any] = {}  # one ledger updater per account (incremental)
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()

    # ------------------------------------------------------------------ status

    def statuses(self) -> list[AccountStatus]:
        """A fresh view of each account's figures for the status line."""
        now = time.monotonic()
        out: list[AccountStatus] = []
        for runtime in self._runtimes:
            status = runtime.status
            engine = runtime.engine
            status.events = engine.events_applied
            status.last_sync_at = engine.last_sync_at
            status.lag_seconds = engine.last_event_lag
            status.clock_skew = runtime.client.clock_skew
            if runtime.ingestor is not None:
                status.connected = runtime.ingestor.connected
                status.gaps = runtime.ingestor.gaps_recorded
                status.stream_warning = runtime.ingestor.stream_warning
            activities = runtime.activities
            if activities is not None:
                status.gaps += activities.gaps_recorded
                status.activities_stream = (
                    "unavailable"
                    if not activities.available
                    else "connected"
                    if activities.connected
                    else "down"
                )
            runtime.rate_window.append((now, engine.events_applied))
            runtime.rate_window[:] = [(t, n) for t, n in runtime.rate_window if now - t <= 10]
            first_t, first_n = runtime.rate_window[0]
            span = now - first_t
            status.events_per_second = (engine.events_applied - first_n) / span if span else 0.0
            out.append(status)
        return out

    @property
    def engines(self) -> list[SyncEngine]:
        return [runtime.engine for runtime in self._runtimes]

    async def wait_started(self) -> None:
        await self._started.wait()

    # ------------------------------------------------------------------ run

    def stream_factory_for(self, config: AccountConfig) -> StreamFactory:
        """The account's trade_updates stream factory (its keys, URL and live opt-in)."""
        return default_stream_factory(
            config.api_key.get_secret_value(),
            config.secret_key.get_secret_value(),
            config.resolved_stream_url,
            allow_live=config.allow_live,
            **self.stream_options,
        )

    def activity_stream_factory_for(
        self, config: AccountConfig, client: AlpacaClient
    ) -> ActivityStreamFactory:
        """The account's activities event stream factory (its keys, base URL, live opt-in), its
        connects counted in the account client's rate budget."""
        return default_activity_stream_factory(
            config.api_key.get_secret_value(),
            config.secret_key.get_secret_value(),
            config.base_url,
            allow_live=config.allow_live,
            rate_budget=client.rate_budget,
            venue_now=client.venue_now,
            **self.activities_stream_options,
        )

    def _build_client(self, config: AccountConfig) -> AlpacaClient:
        from alpaca_integration.checks.risk import client_for_account

        return client_for_account(config, redis_url=self.redis_url, **self.client_options)

    async def _periodic(self, runtime: _AccountRuntime) -> None:
        engine = runtime.engine
        if runtime.ingestor is not None:
            # The stream's first on_connected runs the initial catch-up.
            await asyncio.sleep(self.update_interval)
        last_reconcile: float | None = None
        while True:
            started = time.monotonic()
            try:
                await engine.sync_orders()
                await engine.sync_activities()
                await engine.sync_account()
                _, breaches = await record_exposure(self.store, runtime.config)
                await update_account_ledger(
                    self.store,
                    runtime.config.name,
                    self._ledgers,
                    method=runtime.config.ledger_method,
                )
                if breaches:
                    log.warning(
                        "%s: %d risk limit breach(es): %s",
                        runtime.config.name,
                        len(breaches),
                        "; ".join(str(b.limit_name) for b in breaches),
                    )
                runtime.status.last_error = None
                if self.reconcile_every is not None and (
                    last_reconcile is None or started - last_reconcile >= self.reconcile_every
                ):
                    last_reconcile = started
                    await self._reconcile(runtime)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                runtime.status.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("periodic sync failed for account %s", runtime.config.name)
            # A cancellation swallowed somewhere inside the sync must still end the loop (on
            # Python 3.11, asyncio.wait_for drops a cancellation that arrives as its result
            # does, gh-86296; the site here is not identified): a sharded monitor waited
            # forever for this task after SIGTERM, the task "cancelling" and asleep.
            raise_if_cancelling()
            elapsed = time.monotonic() - started
            await asyncio.sleep(max(0.0, self.update_interval - elapsed))

    async def _reconcile(self, runtime: _AccountRuntime) -> None:
        """Reconciliation (``checks.reconcile``): on the first periodic sync, then every
        ``reconcile_every`` seconds; its findings and repairs are rows of their own."""
        from alpaca_integration.checks.reconcile import reconcile

        report = await reconcile(
            runtime.client,
            self.store,
            runtime.config.name,
            apply=runtime.engine.apply_reconciled,
            exclusive=runtime.engine.exclusive,
        )
        log.info("reconciliation for %s: %s", runtime.config.name, report.summary())

    async def _start_account(self, config: AccountConfig, lease: Lease | None = None) -> None:
        """The account's client, engine (writing with the lease's epoch), stream and loops."""
        client = self._build_client(config)
        await client.__aenter__()
        store = self.store if lease is None else FencedStore(self.store, lease.epoch)
        engine = SyncEngine(config.name, client, store, self.cache)
        ingestor = None
        if self.stream:
            factory = self.stream_factory_for(config)
            ingestor = StreamIngestor(engine, factory, silence_timeout=self.silence_timeout)
            if lease is not None and lease.kind != "first":
                # Streamed by another monitor until now: the gap runs from the last event it
                # stored; the first connect's catch-up closes and records it.
                stored = await self.store.get_checkpoint(config.name, FEED_STREAM)
                now = engine.now()
                ingestor.add_gap(_time_or(stored, now), now, lease.kind)
        runtime = _AccountRuntime(config, client, engine, ingestor, AccountStatus(config.name))
        self._runtimes.append(runtime)
        runtime.tasks.append(
            asyncio.create_task(self._periodic(runtime), name=f"sync-{config.name}")
        )
        if ingestor is not None:
            runtime.tasks.append(asyncio.create_task(ingestor.run(), name=f"stream-{config.name}"))
        if self.activities_stream:
            activities = ActivityStreamIngestor(
                engine, self.activity_stream_factory_for(config, client)
            )
            runtime.activities = activities
            runtime.tasks.append(
                asyncio.create_task(activities.run(), name=f"activities-{config.name}")
            )
        if self.freeze_gc:
            # What this account's start built lives as long as it runs: out of the collector's
            # view. Garbage first: frozen, it would never be freed (every takeover would leak).
            # The collection scans only what is not frozen yet, this account's start mostly.
            gc.collect()
            gc.freeze()

    async def _stop_account(self, name: str) -> None:
        """Stop one account's loops, let its writes in flight finish, close its client."""
        await self._close_account(name)
        if self.freeze_gc and self._refreeze is None:
            # Its engine and client were frozen with its start: soon back in view, collected,
            # the rest frozen again. Once for a burst of stops (a handover of many accounts), a
            # moment later (a closed transport holds its client until the loop has run its
            # connection_lost callback), never inside the stop itself (the lease renewals wait
            # for it).
            self._refreeze = asyncio.get_running_loop().call_later(
                REFREEZE_AFTER, self._refreeze_gc
            )

    def _refreeze_gc(self) -> None:
        self._refreeze = None
        gc.unfreeze()
        gc.collect()
        gc.freeze()

    async def _close_account(self, name: str) -> None:
        for runtime in [r for r in self._runtimes if r.config.name == name]:
            self._runtimes.remove(runtime)
            await self._close_runtimes([runtime])

    async def _fence_floor(self, name: str) -> int:
        stored = await self.store.get_checkpoint(name, FENCE_FEED)
        return int(stored) if stored else 0

    async def run(self) -> None:
        """Run until ``stop()``; then finish the writes in flight and close everything."""
        if self.freeze_gc:
            # The process's start-up (imports, the store's engine): one collection, then frozen.
            gc.collect()
            gc.freeze()
        try:
            if self.leases is None:
                for config in self.accounts:
                    await self._start_account(config)
                self._started.set()
                await self._stopping.wait()
            else:
                await self._run_sharded(self.leases)
        finally:
            await self._shutdown()

    async def _run_sharded(self, board: LeaseBoard) -> None:
        """Stream only the accounts whose lease this monitor holds (``monitor.leases_shard``)."""
        configs = {config.name: config for config in self.accounts}

        async def start(name: str, lease: Lease) -> None:
            await self._start_account(configs[name], lease)

        self.keeper = ShardKeeper(
            board,
            list(configs),
            start=start,
            stop=self._stop_account,
            fence_floor=self._fence_floor,
        )
        keeper = asyncio.create_task(self.keeper.run(), name="leases")
        stopping = asyncio.create_task(self._stopping.wait())
        self._started.set()
        try:
            await asyncio.wait({keeper, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (keeper, stopping):
                task.cancel()
            await asyncio.gather(keeper, stopping, return_exceptions=True)

    def stop(self) -> None:
        """Ask the service to stop (idempotent; safe from a signal handler)."""
        self._stopping.set()

    async def _shutdown(self) -> None:
        if self._refreeze is not None:
            self._refreeze.cancel()
        await self._close_runtimes(self._runtimes)

    @staticmethod
    async def _close_runtimes(runtimes: Sequence[_AccountRuntime]) -> None:
        """Cancel the accounts' loops, let their writes in flight finish, close their clients.
        Bounded: a loop or a write still running ``STOP_PATIENCE`` s after it was asked to end
        is logged with where it waits and cancelled again (``cancel_until_ended``), so one
        stuck task never keeps a graceful stop (and every lease after it) waiting forever."""
        tasks = [task for runtime in runtimes for task in runtime.tasks]
        await cancel_until_ended(tasks, patience=STOP_PATIENCE, on_stuck=_report_stuck)
        await asyncio.gather(
            *(r.engine.drain(patience=STOP_PATIENCE, on_stuck=_report_stuck) for r in runtimes)
        )
        for runtime in runtimes:
            with contextlib.suppress(Exception):
                await runtime.client.__aexit__(None, None, None)


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)


def _report_stuck(task: asyncio.Future[Any]) -> None:
    log.error(
        "%s is still running %.0f s after it was last asked to end; it waits at:\n%s",
        _name(task),
        STOP_PATIENCE,
        task_stack(task),
    )


def _time_or(text: str | None, default: dt.datetime) -> dt.datetime:
    if not text:
        return default
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
