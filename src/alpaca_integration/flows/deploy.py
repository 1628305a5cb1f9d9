"""The flows on a Prefect work pool: deployments per (flow, account), their status, zombie runs.

``deploy_flows`` creates (or updates) on the running Prefect server:

* the ``process`` work pool (``alpaca`` by default) when it does not exist;
* one deployment per (flow, account): ``orders-<account>`` (``alpaca_order_monitoring``) and
  ``account-<account>`` (``alpaca_account_monitoring``), every ``interval`` seconds, with the
  account as parameter, the installed package as entrypoint (``alpaca_integration.flows.<flow>``:
  a worker needs the package, not a checkout) and a **concurrency limit of 1 that cancels the new
  run** while one runs (``CANCEL_NEW``), so runs of one account never overlap and never queue up;
* flow-run heartbeats every ``heartbeat`` seconds (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` in the
  runs' environment) and one automation, ``alpaca: crash zombie flow runs``, which marks a run
  CRASHED when nothing followed its last heartbeat, its Pending or its Running state (no
  heartbeat, no Running, no final state) within ``3 * heartbeat`` seconds: a run whose worker was killed stops holding its deployment's slot within about
  ``3 * heartbeat`` seconds (plus the automation's evaluation period) and the next run proceeds.

``flow_status`` lists the deployments with their newest runs. Imports Prefect (this module is
only imported by ``alpacactl flows ...`` command bodies and by workers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alpaca_integration.flows import monitoring_flows
from alpaca_integration.flows.zombies import DEPLOYMENT_TAG

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient


__all__ = [
    "ZOMBIE_AUTOMATION",
    "DeploymentStatus",
    "RunSummary",
    "deploy_flows",
    "ensure_zombie_automation",
    "flow_status",
    "one_at_a_time",
]

ZOMBIE_AUTOMATION = "alpaca: crash zombie flow runs"
# A run is a zombie after this many heartbeat periods without one.
ZOMBIE_AFTER_BEATS = 3


def one_at_a_time() -> Any:
    """A deployment's concurrency: one run at a time; a new run is cancelled, not queued."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


async def _ensure_pool(client: PrefectClient, pool: str) -> bool:
    """Create the ``process`` work pool unless it exists; True when it was created."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    try:
        await client.read_work_pool(pool)
        return False
    except ObjectNotFound:
        await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        return True


async def ensure_zombie_automation(heartbeat: int) -> None:
    """(Re)create the automation that crashes runs whose heartbeats stopped."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    try:
        existing = await Automation.aread(name=ZOMBIE_AUTOMATION)
    except ValueError:
        existing = None
    if existing is not None:
        await existing.adelete()
    final = ("Completed", "Failed", "Cancelled", "Crashed")
    await Automation(
        name=ZOMBIE_AUTOMATION,
        description="A flow run whose heartbeats stopped (its worker died) is marked crashed.",
        # Armed by the server's own Pending and Running events as well as by heartbeats: a run
        # killed in its first seconds may never get its first heartbeat out, and a run killed
        # while PENDING sends none at all; either would hold its deployment's slot.
        trigger=EventTrigger(
            after={f"prefect.flow-run.{s}" for s in ("heartbeat", "Pending", "Running")},
            expect={
                *(f"prefect.flow-run.{s}" for s in ("heartbeat", "Running")),
                *(f"prefect.flow-run.{s}" for s in final),
            },
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=dt.timedelta(seconds=ZOMBIE_AFTER_BEATS * heartbeat),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {ZOMBIE_AFTER_BEATS * heartbeat} s: its worker died",
            )
        ],
    ).acreate()


async def deploy_flows(
    account_names: Sequence[str], *, pool: str, interval: int, heartbeat: int
) -> tuple[bool, list[str]]:
    """Create or update the deployments; returns (whether the pool was created, their names)."""
    from prefect.client.orchestration import get_client
    from prefect.types.entrypoint import EntrypointType

    async with get_client() as client:
        created = await _ensure_pool(client, pool)
    names: list[str] = []
    env = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(heartbeat)}
    for account in account_names:
        for prefix, monitoring_flow in monitoring_flows():
            deployment = await monitoring_flow.ato_deployment(
                name=f"{prefix}-{account}",
                interval=interval,
                parameters={"account_name": account},
                concurrency_limit=one_at_a_time(),
                work_pool_name=pool,
                job_variables={"env": env},
                entrypoint_type=EntrypointType.MODULE_PATH,
                tags=[DEPLOYMENT_TAG, f"account:{account}"],
            )
            await deployment.aapply(work_pool_name=pool)
            names.append(f"{monitoring_flow.name}/{prefix}-{account}")
    await ensure_zombie_automation(heartbeat)
    return created, names


@dataclass(frozen=True)
class RunSummary:
    name: str
    state: str
    start: dt.datetime | None
    end: dt.datetime | None


@dataclass(frozen=True)
class DeploymentStatus:
    name: str
    pool: str | None
    interval: float | None
    concurrency: str
    runs: list[RunSummary]


async def flow_status(*, last_runs: int = 3) -> list[DeploymentStatus]:
    """Every deployment of the two flows, with its newest runs (newest first)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    flow_names = [f.name for _, f in monitoring_flows()]
    out: list[DeploymentStatus] = []
    async with get_client() as client:
        flows = {f.id: f.name for f in await client.read_flows()}
        deployments = await client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=flow_names))
        )
        for deployment in sorted(deployments, key=lambda d: d.name):
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED])
                    )
                ),
                sort=FlowRunSort.START_TIME_DESC,
                limit=last_runs,
            )
            limit = deployment.global_concurrency_limit
            strategy = getattr(deployment.concurrency_options, "collision_strategy", None)
            interval = None
            for schedule in deployment.schedules:
                interval = getattr(schedule.schedule, "interval", None)
                if interval is not None:
                    interval = interval.total_seconds()
            out.append(
                DeploymentStatus(
                    name=f"{flows.get(deployment.flow_id, '?')}/{deployment.name}",
                    pool=deployment.work_pool_name,
                    interval=interval,
                    concurrency=(
                        f"{limit.limit} ({getattr(strategy, 'value', strategy)})"
                        if limit is not None
                        else "none"
                    ),
                    runs=[
                        RunSummary(
                            r.name, r.state.type.value if r.state else "?", r.start_time, r.end_time
                        )
                        for r in runs
                    ],
                )
            )
    return out
