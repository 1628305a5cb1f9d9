"""One-shot jobs over the store and the broker, shared by the monitor, the flows and the CLI.

Each job opens what it needs (``monitor.runtime``), does one thing and closes it again: one sync
feed for one account, the full history sync, the quality rules, reconciliation, exposure and its
breaches, a pre-trade check against the stored state. The flows and the CLI call these instead of
opening the store themselves, so neither ever imports ``storage``.

Imports config, sync, ``monitor.runtime`` and (lazily) the checks and the client; never Prefect,
the CLI or the simulator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from alpaca_integration.config import AccountConfig, AlpacaSettings
from alpaca_integration.monitor.runtime import opened_store, opened_store_and_cache
from alpaca_integration.sync.engine import SyncEngine, SyncReport

if TYPE_CHECKING:
    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.checks.exposure import ExposureSnapshot, RiskBreach
    from alpaca_integration.checks.quality import QualityResult
    from alpaca_integration.checks.reconcile import ReconcileReport
    from alpaca_integration.checks.risk_limits import RiskLimits
    from alpaca_integration.models import OrderIntent
    from alpaca_integration.storage import Store

__all__ = [
    "FEEDS",
    "ProgressCallback",
    "check_order_against",
    "reconcile_accounts",
    "record_exposure",
    "record_stored_exposure",
    "run_quality_rules",
    "stored_exposure",
    "sync_feed",
    "sync_history",
]

# The feeds one flow task syncs, by the name the flows pass.
FEEDS = ("account", "orders", "activities")

ProgressCallback = Callable[[str, int], None]


def _limits(config: AccountConfig) -> RiskLimits | None:
    from alpaca_integration.checks.risk import RiskLimits

    return RiskLimits.from_mapping(config.risk, account=config.name) if config.risk else None


def _client(config: AccountConfig, settings: AlpacaSettings) -> AlpacaClient:
    from alpaca_integration.checks.risk import client_for_account

    return client_for_account(config, redis_url=settings.redis_url)


async def record_exposure(
    store: Store, config: AccountConfig
) -> tuple[ExposureSnapshot, list[RiskBreach]]:
    """Exposure of the stored positions and every breach of the account's risk limits, written
    as rows (``exposure_snapshots``, ``risk_breaches``); after each account sync."""
    from alpaca_integration.checks.exposure import record_exposure as record

    limits = _limits(config)
    positions = await store.positions(config.name)
    return await record(store, config.name, positions, limits, at=dt.datetime.now(dt.UTC))


async def record_stored_exposure(
    settings: AlpacaSettings, config: AccountConfig
) -> list[RiskBreach]:
    """:func:`record_exposure` with the store opened and closed around it; the breaches."""
    async with opened_store(settings.database_url) as store:
        _, breaches = await record_exposure(store, config)
    return breaches


async def sync_feed(settings: AlpacaSettings, config: AccountConfig, feed: str) -> SyncReport:
    """One feed (``account``, ``orders`` or ``activities``) of one account into the store and
    the cache."""
    if feed not in FEEDS:
        raise ValueError(f"feed must be one of {', '.join(FEEDS)}, got {feed!r}")
    async with (
        opened_store_and_cache(settings.database_url, settings.redis_url) as (store, cache),
        _client(config, settings) as client,
    ):
        engine = SyncEngine(config.name, client, store, cache)
        if feed == "account":
            return await engine.sync_account()
        if feed == "orders":
            return await engine.sync_orders()
        return await engine.sync_activities()


async def sync_history(
    settings: AlpacaSettings,
    accounts: Sequence[AccountConfig],
    *,
    migrate: bool = False,
    progress_for: Callable[[AccountConfig], ProgressCallback | None] | None = None,
    on_report: Callable[[SyncReport], None] | None = None,
) -> list[SyncReport]:
    """Every feed of each account (the full history on the first run, incremental afterwards);
    ``progress_for(account)`` gives the engine's progress callback for that account."""
    reports: list[SyncReport] = []
    async with opened_store_and_cache(
        settings.database_url, settings.redis_url, migrate=migrate
    ) as (store, cache):
        for config in accounts:
            on_progress = progress_for(config) if progress_for is not None else None
            async with _client(config, settings) as client:
                engine = SyncEngine(config.name, client, store, cache, on_progress=on_progress)
                report = await engine.sync_all()
            reports.append(report)
            if on_report is not None:
                on_report(report)
    return reports


async def run_quality_rules(
    settings: AlpacaSettings, account_names: Sequence[str] = (), *, save: bool = True
) -> list[QualityResult]:
    """The quality rules over each named account (none named: every account in the store);
    findings written to ``quality_results`` unless ``save`` is false."""
    from alpaca_integration.checks.quality import run_rules

    results: list[QualityResult] = []
    async with opened_store(settings.database_url) as store:
        names = list(account_names) or list(await store.list_accounts())
        for name in names:
            results += await run_rules(
                store,
                name,
                now=dt.datetime.now(dt.UTC),
                update_interval=dt.timedelta(seconds=settings.update_interval),
                save=save,
            )
    return results


async def reconcile_accounts(
    settings: AlpacaSettings, accounts: Sequence[AccountConfig], *, dry_run: bool = False
) -> list[ReconcileReport]:
    """Reconcile each account's store with its broker; one report each."""
    from alpaca_integration.checks.reconcile import reconcile

    reports: list[ReconcileReport] = []
    async with opened_store(settings.database_url) as store:
        for config in accounts:
            async with _client(config, settings) as client:
                reports.append(await reconcile(client, store, config.name, dry_run=dry_run))
    return reports


async def stored_exposure(
    settings: AlpacaSettings, config: AccountConfig, limits: RiskLimits
) -> tuple[ExposureSnapshot, list[RiskBreach]]:
    """The exposure of the account's stored positions and the limits it breaches (nothing
    written)."""
    from alpaca_integration.checks.exposure import exposure_breaches, measure_exposure

    async with opened_store(settings.database_url) as store:
        positions = await store.positions(config.name)
    snapshot = measure_exposure(positions, account=config.name, at=dt.datetime.now(dt.UTC))
    return snapshot, exposure_breaches(snapshot, limits)


async def check_order_against(
    settings: AlpacaSettings,
    config: AccountConfig,
    limits: RiskLimits,
    request: OrderIntent,
    *,
    from_broker: bool,
) -> None:
    """Run the account's pre-trade check on ``request`` against the stored positions and open
    orders (or the broker's with ``from_broker``); ``RiskLimitError`` when refused. Sends no
    order."""
    from alpaca_integration.checks.risk import make_pre_trade_check

    if from_broker:
        async with _client(config, settings) as client:
            await make_pre_trade_check(client, limits, account=config.name)(request)
        return
    async with opened_store(settings.database_url) as store:
        await make_pre_trade_check(store, limits, account=config.name)(request)
