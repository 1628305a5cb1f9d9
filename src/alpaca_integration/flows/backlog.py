"""A pool that falls behind queues one run per account, not every run it missed.

Prefect's scheduler books every deployment's runs ahead, and workers take due runs oldest
first. When the pool cannot keep up (more deployments than its workers can run in an interval,
or a worker lost), due runs pile up: every account's run waits behind every other account's
missed runs, and the wait grows with each interval. In the 20-account e2e test on a loaded
machine the queue reached 77 runs, and two accounts that needed a run got none in the test's
last eight minutes. For a monitoring flow a missed run has no value of its own: any later run
syncs from the checkpoint and does all of it.

``cancel_repeated_runs`` therefore cancels, for every deployment tagged ``alpaca-integration``,
each due SCHEDULED run while an earlier due run of the same deployment still waits (the ids
are logged; the server's own Cancelled state carries no message). The earliest keeps its place
in the queue, so the queue holds at most one run per deployment and an account's run waits at
most one round of the others. Keeping the latest
instead would starve the accounts at the end of a round: their run would be replaced each
interval by a new one at the back of the queue (tried: three accounts got no run at all).
Runs not due yet are never touched. "Due" is judged on the Prefect server's clock (its
answer's ``Date``), which dates the runs; without it nothing is cancelled.

It cancels as Prefect's own Cancel does: it proposes CANCELLING, which the server turns into
CANCELLED in the same transaction while the run is SCHEDULED with no process, so the check and
the cancel are one step there. The cancelled runs are the newer ones, which workers take last;
should a worker take one between this module's read and its cancel (a window of one round
trip), that run goes CANCELLING with the ``repeat`` message, keeping its slot, and its worker
cancels it as Prefect cancels any run; should its process start anyway, the run finds the
message in its own history and does nothing (``zombies.given_up_on``). In that rare case
Prefect's bookkeeping can still release the deployment's slot once too often (the worker's
forced CANCELLED revokes the lease, then the late process's end releases again by fallback),
so one run of the account might overlap the next; none of that run's work is done. Every run
of the two flows calls this after the zombie check (``zombies.start_checks``). Imports Prefect;
only flow runs call it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

__all__ = ["REPEAT_MESSAGE", "cancel_repeated_runs", "repeats"]

REPEAT_MESSAGE = "repeat: an earlier run of this deployment is still waiting (the pool is behind)"
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
            # Oldest first: a deployment with any run on the page has its earliest due run
            # there too, so a page never cancels the run that keeps the account's place. Past
            # 200 due runs, the newer ones wait for the next check.
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=200,
        )
    )


def _order(run: Any) -> tuple[dt.datetime, str]:
    return (run.expected_start_time, str(run.id))


def repeats(due: list[Any]) -> list[Any]:
    """Of ``due`` runs (any order), every run that has an earlier due run of its deployment,
    newest first (the furthest from being taken). Ties in time go to the smaller id, so two
    checks at once keep the same run."""
    earliest: dict[Any, Any] = {}
    for run in due:
        held = earliest.get(run.deployment_id)
        if held is None or _order(run) < _order(held):
            earliest[run.deployment_id] = run
    waiting = (run for run in due if earliest[run.deployment_id] is not run)
    return sorted(waiting, key=_order, reverse=True)


async def cancel_repeated_runs(*, server_now: dt.datetime | None = None) -> list[str]:
    """Cancel every due SCHEDULED run of this package's deployments while an earlier due run
    of the same deployment waits; returns their ids. ``server_now``: the Prefect server's time
    (read from the server when not given). Needs a Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import Cancelling

    from alpaca_integration.flows.zombies import server_time

    cancelled: list[str] = []
    async with get_client() as client:
        at = server_now or await server_time(client)
        if at is None:
            _log.debug("backlog check skipped: the Prefect server's answer had no date")
            return cancelled
        try:
            for listed in repeats(await _due_scheduled(client, at)):
                # Read it again just before: a worker may have taken it since the listing.
                run = await client.read_flow_run(listed.id)
                if run.state is None or run.state.name not in _BOOKED:
                    continue
                result: Any = await client.set_flow_run_state(
                    run.id, Cancelling(message=REPEAT_MESSAGE)
                )
                # SCHEDULED: the server made it CANCELLED at once (REJECT, with its own
                # Cancelled state). Taken by a worker meanwhile: it is CANCELLING now (ACCEPT),
                # and its worker cancels it. ABORT: it had ended already (another check).
                if (
                    result.status != SetStateStatus.ABORT
                    and result.state is not None
                    and (result.state.is_cancelled() or result.state.is_cancelling())
                ):
                    cancelled.append(str(run.id))
        finally:
            if cancelled:
                # Prefect's own Cancelled state carries no message: the ids are told here.
                _log.warning(
                    "the pool is behind: %d due run(s) cancelled while an earlier run of the "
                    "same deployment still waits: %s",
                    len(cancelled),
                    ", ".join(cancelled),
                )
    return cancelled
