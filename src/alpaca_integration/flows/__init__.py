"""Prefect flows: ``alpaca_account_monitoring`` and ``alpaca_order_monitoring``.

The flows are thin: small typed tasks with retries that call the monitor's one-shot jobs
(``monitor.jobs``: one sync feed, the quality rules, exposure), which open the store, the cache and
one ``AlpacaClient`` per task. They never parse JSON and never import ``storage``. Both take the
configured account name (``config.load_accounts``) as their parameter, so one deployment per
account (or a parameter per run) lets a work pool spread many accounts over several machines.

``serve_flows`` runs both on an interval with ``flow.serve``, which needs a Prefect API
(``prefect server start`` and ``PREFECT_API_URL``; see docs/monitoring.md); ``flows.deploy``
puts them on a work pool (one deployment per flow and account, one run at a time).

This module imports Prefect at import time; nothing on the CLI's start-up path imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import flow, task

from alpaca_integration.config import AccountConfig, AlpacaSettings, load_accounts, load_settings
from alpaca_integration.sync.engine import SyncReport

__all__ = [
    "FLOW_PREFIXES",
    "alpaca_account_monitoring",
    "alpaca_order_monitoring",
    "monitoring_flows",
    "serve_flows",
]


def _account(name: str, settings: AlpacaSettings) -> AccountConfig:
    accounts = load_accounts(settings)
    if name not in accounts:
        from alpaca_integration.errors import ConfigError

        raise ConfigError(
            f"unknown account {name!r}; configured: {', '.join(accounts)}. "
            "Fix: pass one of the configured names as account_name",
            setting="account_name",
        )
    return accounts[name]


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """Retry what may pass next time (network, venue, database); never a configuration or a
    refused key, which fail the same way every time."""
    from alpaca_integration.errors import AuthError, ConfigError

    return not isinstance(getattr(state, "data", None), ConfigError | AuthError)


def _summary(report: SyncReport) -> dict[str, Any]:
    return {"account": report.account, **report.counts()}


# Sync tasks retry what may pass next time, at growing intervals; the checks' tasks retry once.
_sync_task = task(
    retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=_worth_retrying, log_prints=True
)
_check_task = task(retries=1, retry_delay_seconds=5, retry_condition_fn=_worth_retrying)


async def _sync(account_name: str, feed: str) -> dict[str, Any]:
    from alpaca_integration.monitor.jobs import sync_feed

    settings = load_settings()
    return _summary(await sync_feed(settings, _account(account_name, settings), feed))


@_sync_task
async def sync_account_state(account_name: str) -> dict[str, Any]:
    """Account snapshot and positions into the store and cache."""
    return await _sync(account_name, "account")


@_sync_task
async def sync_orders(account_name: str) -> dict[str, Any]:
    """Orders since the checkpoint plus a refresh of every order still open in the store."""
    return await _sync(account_name, "orders")


@_sync_task
async def sync_fills_and_activities(account_name: str) -> dict[str, Any]:
    """Fills (with fees) and non-trade activities since the checkpoint."""
    return await _sync(account_name, "activities")


@_check_task
async def run_quality_rules(account_name: str) -> int:
    """Quality rules over the store (``checks.quality.run_rules``); the number of findings."""
    from alpaca_integration.monitor import jobs

    return len(await jobs.run_quality_rules(load_settings(), [account_name]))


@_check_task
async def record_exposure_and_breaches(account_name: str) -> int:
    """Exposure snapshot and risk-limit breaches of the stored positions, as rows; breaches."""
    from alpaca_integration.monitor.jobs import record_stored_exposure

    settings = load_settings()
    return len(await record_stored_exposure(settings, _account(account_name, settings)))


async def _start_checks() -> bool:
    """First, free the slots that dead runs hold (``flows.zombies``): any run of the pool does
    it for every account, so a dead worker's runs are crashed within a bound. False when this
    very run was given up on before it started (crashed as a zombie, or cancelled as a repeat
    of an earlier waiting run: ``zombies.given_up_on``); it must then do nothing."""
    from alpaca_integration.flows.zombies import start_checks

    return await start_checks()


def _given_up(account_name: str) -> dict[str, Any]:
    return {
        "account": account_name,
        "skipped": "given up on before it started (a zombie, or a repeat)",
    }


@flow(name="alpaca_account_monitoring", log_prints=True)
async def alpaca_account_monitoring(account_name: str = "default") -> dict[str, Any]:
    """Account monitoring: snapshot, positions, exposure and risk breaches, quality rules."""
    if not await _start_checks():
        return _given_up(account_name)
    summary = await sync_account_state(account_name)
    summary["risk_breaches"] = await record_exposure_and_breaches(account_name)
    summary["quality_findings"] = await run_quality_rules(account_name)
    return summary


@flow(name="alpaca_order_monitoring", log_prints=True)
async def alpaca_order_monitoring(account_name: str = "default") -> dict[str, Any]:
    """Order monitoring: orders (incremental + open refresh), then fills and activities."""
    if not await _start_checks():
        return _given_up(account_name)
    orders = await sync_orders(account_name)
    activities = await sync_fills_and_activities(account_name)
    return {
        **orders,
        "fills_changed": activities["fills_changed"],
        "activities_changed": activities["activities_changed"],
        "fees_attached": activities["fees_attached"],
        "quarantined": orders["quarantined"] + activities["quarantined"],
    }


FLOW_PREFIXES = ("account", "orders")


def monitoring_flows() -> list[tuple[str, Any]]:
    """(deployment name prefix, flow) of the two flows; deployments are ``<prefix>-<account>``."""
    return [("account", alpaca_account_monitoring), ("orders", alpaca_order_monitoring)]


def serve_flows(account_names: Sequence[str], *, interval: int, heartbeat: int = 30) -> None:
    """Serve both flows for each account every ``interval`` seconds (blocks; needs a Prefect API).

    Each deployment runs one flow run at a time: a run due while the previous one still runs is
    cancelled (``flows.deploy.one_at_a_time``), never stacked. The runs send heartbeats every
    ``heartbeat`` seconds and the zombie automation of ``flows deploy`` is put in place, so a run
    left RUNNING by a killed ``flows serve`` is marked CRASHED (after ``3 * heartbeat`` seconds
    without one) and stops holding its deployment. Ctrl-C pauses the deployments, lets the runs
    in flight finish and returns."""
    import asyncio
    import os

    from prefect import serve

    from alpaca_integration.flows.deploy import ensure_zombie_automation, one_at_a_time
    from alpaca_integration.flows.zombies import DEPLOYMENT_TAG

    # The runs are child processes of this one: they read the frequency from the environment.
    os.environ["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = str(heartbeat)
    asyncio.run(ensure_zombie_automation(heartbeat))

    deployments: list[Any] = []
    for name in account_names:
        for prefix, monitoring_flow in monitoring_flows():
            deployments.append(
                monitoring_flow.to_deployment(
                    name=f"{prefix}-{name}",
                    interval=interval,
                    parameters={"account_name": name},
                    concurrency_limit=one_at_a_time(),
                    tags=[DEPLOYMENT_TAG, f"account:{name}"],
                )
            )
    serve(*deployments)
