"""A pool that falls behind runs each account's latest due run, not every run it missed.

Prefect's scheduler books every deployment's runs ahead, and a worker takes due runs oldest
first. When the pool cannot keep up (more deployments than its workers can run in an interval,
or a worker lost), the due runs pile up: each account's runs wait behind every other account's
missed runs, the wait grows with every interval, and an account whose store needs a run gets it
minutes late, or (seen in the 20-account e2e test on a loaded machine) not within ten minutes.
For a monitoring flow a missed run has no value of its own: the next run syncs from the
checkpoint and does all of it.

``cancel_superseded_runs`` therefore cancels, for every deployment tagged ``alpaca-integration``,
each due SCHEDULED run that has a later due run of the same deployment (message ``superseded``);
the latest due run of each deployment stays and is taken in its turn, so a behind pool cycles
through its accounts once per round instead of once per missed run. Runs not due yet are never
touched. "Due" is judged on the Prefect server's clock (its answer's ``Date``), which dates the
runs; without it nothing is cancelled.

A worker may take a run in the moment it is cancelled. Either its PENDING comes first and the
cancel is refused or stops that run before its code (its slot is released by Prefect), or the
cancel comes first and Prefect refuses the worker's PENDING: no run's work is done twice, and
the latest run of the deployment is still there. Every run of the two flows calls this after
the zombie check (``zombies.start_checks``). Imports Prefect; only flow runs call it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

__all__ = ["SUPERSEDED_MESSAGE", "cancel_superseded_runs", "superseded"]

SUPERSEDED_MESSAGE = "superseded: a later run of this deployment is due (the pool is behind)"
# A booked run's state names: as the scheduler creates it, and once Prefect has found it late.
_BOOKED = ("Scheduled", "Late")
_log = logging.getLogger(__name__)


async def _due_scheduled(client: Any, server_now: dt.datetime) -> list[Any]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterTags,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateName,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    from alpaca_integration.flows.zombies import DEPLOYMENT_TAG

    return list(
        await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                # The scheduler's own runs only (not a retry's AwaitingRetry, say).
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]),
                    name=FlowRunFilterStateName(any_=list(_BOOKED)),
                ),
                expected_start_time=FlowRunFilterExpectedStartTime(before_=server_now),
            ),
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[DEPLOYMENT_TAG])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=200,
        )
    )


def superseded(due: list[Any]) -> list[Any]:
    """Of ``due`` runs (any order), every run that has a later due run of its deployment."""
    latest: dict[Any, Any] = {}
    for run in due:
        held = latest.get(run.deployment_id)
        if held is None or run.expected_start_time > held.expected_start_time:
            latest[run.deployment_id] = run
    return [run for run in due if latest[run.deployment_id] is not run]


async def cancel_superseded_runs(*, server_now: dt.datetime | None = None) -> list[str]:
    """Cancel every due SCHEDULED run of this package's deployments that a later due run of
    the same deployment supersedes; returns their ids. ``server_now``: the Prefect server's
    time (read from the server when not given). Needs a Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import Cancelled

    from alpaca_integration.flows.zombies import server_time

    cancelled: list[str] = []
    async with get_client() as client:
        at = server_now or await server_time(client)
        if at is None:
            return cancelled
        for listed in superseded(await _due_scheduled(client, at)):
            # Read it again just before: a worker may have taken it since the listing.
            run = await client.read_flow_run(listed.id)
            if run.state is None or run.state.name not in _BOOKED:
                continue
            result: Any = await client.set_flow_run_state(
                run.id, Cancelled(message=SUPERSEDED_MESSAGE)
            )
            if result.status == SetStateStatus.ACCEPT:
                cancelled.append(str(run.id))
    if cancelled:
        _log.warning(
            "the pool is behind: %d due run(s) superseded by a later run of their deployment "
            "were cancelled",
            len(cancelled),
        )
    return cancelled
