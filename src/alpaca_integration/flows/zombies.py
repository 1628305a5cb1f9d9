"""Zombie flow runs: runs of this package's deployments left PENDING or RUNNING by a dead process.

A worker (or ``flows serve``) killed with its runs leaves them PENDING or RUNNING in Prefect's
records, and each one keeps its deployment's concurrency slot (one run at a time), so its
account gets no run until Prefect's slot lease runs out, and the records say RUNNING for ever.

``crash_zombie_runs`` marks them CRASHED, which releases the slot. A run is a zombie when no sign
of life came from it for ``ZOMBIE_AFTER_BEATS`` heartbeat periods: no state change (its PENDING
or RUNNING state is older than that) and, for a RUNNING run, no heartbeat event either (a live
run sends one every ``heartbeat`` seconds, ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``). Every run of
the two flows calls it first, for every deployment tagged ``alpaca-integration``: with runs every
``interval`` seconds somewhere in the pool, a zombie is crashed within ``3 * heartbeat +
interval`` seconds of its last sign of life, by a run of any account.

Prefect's own answer, the heartbeat automation (``flows.deploy.ensure_zombie_automation``), is
kept as well, but on this Prefect (3.8) it was seen not to fire for runs killed in their first
seconds or while PENDING (their state events reach the automations late or not at all), hence
this check. Imports Prefect; only flow runs call it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from typing import Any

__all__ = ["DEPLOYMENT_TAG", "ZOMBIE_AFTER_BEATS", "crash_zombie_runs", "heartbeat_seconds"]

DEPLOYMENT_TAG = "alpaca-integration"
ZOMBIE_AFTER_BEATS = 3
_log = logging.getLogger(__name__)


def heartbeat_seconds() -> int:
    """The runs' heartbeat period: ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, 30 s (Prefect's floor)
    when unset or unreadable."""
    try:
        return max(30, int(os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30")))
    except ValueError:
        return 30


def _silent_since(run: Any) -> dt.datetime | None:
    state = run.state
    return state.timestamp if state is not None else None


async def _last_heartbeat(client: Any, run_id: str, since: dt.datetime) -> dt.datetime | None:
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    page = await client.read_events(
        filter=EventFilter(
            occurred=EventOccurredFilter(since=since),
            event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
            resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"]),
        ),
        limit=1,
    )
    return max((e.occurred for e in page.events), default=None)


async def _candidates(client: Any) -> list[Any]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterTags,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    return list(
        await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
                )
            ),
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[DEPLOYMENT_TAG])),
            limit=200,
        )
    )


async def crash_zombie_runs(
    *, heartbeat: int | None = None, exclude: Iterable[str] = (), now: dt.datetime | None = None
) -> list[str]:
    """Mark CRASHED every zombie run of this package's deployments; returns their ids.

    ``exclude`` is the calling run (alive by definition). Needs a Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    beat = heartbeat or heartbeat_seconds()
    silence = dt.timedelta(seconds=ZOMBIE_AFTER_BEATS * beat)
    cutoff = (now or dt.datetime.now(dt.UTC)) - silence
    skip = {str(x) for x in exclude}
    crashed: list[str] = []
    async with get_client() as client:
        for run in await _candidates(client):
            run_id = str(run.id)
            since = _silent_since(run)
            if run_id in skip or since is None or since > cutoff:
                continue
            if run.state.is_running() and await _last_heartbeat(client, run_id, cutoff):
                continue
            message = (
                f"no sign of life for {int(silence.total_seconds())} s (no heartbeat, no state "
                "change): the process running it died"
            )
            await client.set_flow_run_state(run.id, Crashed(message=message), force=True)
            _log.warning("flow run %s (%s) marked CRASHED: %s", run.name, run_id, message)
            crashed.append(run_id)
    return crashed


async def crash_zombies_quietly() -> list[str]:
    """``crash_zombie_runs`` for the calling flow run; a failure is logged, never raised (the
    run's own work matters more than someone else's zombie)."""
    try:
        from prefect.runtime import flow_run

        return await crash_zombie_runs(exclude=[str(flow_run.id)])
    except Exception as exc:  # a run must not fail because the check could not be made
        _log.warning("zombie check skipped: %s", type(exc).__name__)
        return []
