"""Zombie flow runs: runs of this package's deployments left PENDING, RUNNING or CANCELLING by a
dead process.

A worker (or ``flows serve``) killed with its runs leaves them PENDING or RUNNING in Prefect's
records, and each one keeps its deployment's concurrency slot (one run at a time), so its
account gets no run until Prefect's slot lease runs out, and the records say RUNNING for ever.

``crash_zombie_runs`` marks them CRASHED, which releases the slot. A run is a zombie when

* RUNNING, with no state change and no heartbeat event for ``ZOMBIE_AFTER_BEATS`` heartbeat
  periods (a live run sends one every ``heartbeat`` seconds,
  ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, from a thread of its own);
* PENDING, submitted by a worker that has itself gone silent: the worker that takes a run
  labels it (``prefect.worker.name``, ``prefect.work-pool.name``), and a live worker beats every
  ``heartbeat_interval_seconds`` (30 s by default) into its pool's record. A run is PENDING until
  its process starts, which on a swamped worker can take minutes (seen on a loaded 2-core
  machine), so the run's own age proves nothing; its worker's silence does: the run is a zombie
  once its worker has not beaten for ``ZOMBIE_AFTER_BEATS`` of its periods (90 s by default) and
  the run has been PENDING at least as long.
* PENDING for ``PENDING_SILENCE`` seconds when its worker cannot be told (no label yet, a worker
  record gone, or a worker restarted under the same ``--name``, whose new beats speak for the
  dead one): Prefect's own slot lease (300 s), after which the slot is free anyway, so the check
  then only puts the record right.
* CANCELLING (cancelled by hand, or by ``backlog`` the moment a worker took it), with no
  heartbeat for ``ZOMBIE_AFTER_BEATS`` periods and its worker dead as for a PENDING run: the
  worker that would have cancelled it is gone. It is marked CANCELLED, not CRASHED: someone
  wanted it cancelled. (Prefect's own cancellation clean-up ends any run CANCELLING for 300 s,
  whoever its worker; this is the earlier bound when the worker is known dead.)

Every run of the two flows calls it first, for every deployment tagged ``alpaca-integration``:
with runs every ``interval`` seconds somewhere in the pool, a RUNNING zombie is crashed within
``3 * heartbeat + interval`` seconds of its last sign of life, a PENDING one within
``3 * the worker's heartbeat period + interval`` of its worker's death (``PENDING_SILENCE +
interval`` when the worker cannot be told), by a run of any account.

Prefect's own answer, the heartbeat automation (``flows.deploy.ensure_zombie_automation``), is
kept as well, but on this Prefect (3.8) it was seen not to fire for runs killed in their first
seconds or while PENDING (their state events reach the automations late or not at all), hence
this check. Imports Prefect; only flow runs call it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Iterable
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "DEPLOYMENT_TAG",
    "PENDING_SILENCE",
    "ZOMBIE_AFTER_BEATS",
    "ZOMBIE_MESSAGE",
    "crash_zombie_runs",
    "given_up_on",
    "heartbeat_seconds",
    "server_time",
    "start_checks",
]

DEPLOYMENT_TAG = "alpaca-integration"
# How a CRASHED state set here begins: a run that finds it in its own history was given up on.
ZOMBIE_MESSAGE = "no sign of life"
ZOMBIE_AFTER_BEATS = 3
# Prefect's initial deployment-concurrency lease (PREFECT_SERVER_CONCURRENCY_INITIAL_DEPLOYMENT_
# LEASE_DURATION, 300 s by default).
PENDING_SILENCE = 300
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


async def server_time(client: Any) -> dt.datetime | None:
    """The Prefect server's clock (its answer's ``Date`` header, whole seconds): worker
    heartbeats are dated by it, so a worker's silence is measured on it, never on this
    machine's clock, which may be off by minutes."""
    try:
        answer = await client.hello()
        return parsedate_to_datetime(answer.headers["date"]).astimezone(dt.UTC)
    except Exception:  # no Date header, an unreadable one, an API hiccup: no worker is judged
        return None


async def _dead_workers(
    client: Any, pending: list[Any], server_now: dt.datetime | None
) -> set[tuple[str, str]]:
    """(pool, worker) of the workers behind the ``pending`` runs that have not beaten for
    ``ZOMBIE_AFTER_BEATS`` of their heartbeat periods, by the server's clock. A pool whose
    workers cannot be read judges none (its PENDING runs wait for the slot lease)."""
    if server_now is None:
        return set()
    pools = {(run.labels or {}).get("prefect.work-pool.name") for run in pending}
    dead: set[tuple[str, str]] = set()
    for pool in sorted(p for p in pools if isinstance(p, str)):
        try:
            workers = await client.read_workers_for_work_pool(pool)
        except Exception as exc:  # a pool renamed or gone: the other checks go on
            _log.warning(
                "zombie check: workers of pool %r unreadable: %s", pool, type(exc).__name__
            )
            continue
        for worker in workers:
            beat = worker.heartbeat_interval_seconds or 30
            last = worker.last_heartbeat_time
            silence = dt.timedelta(seconds=ZOMBIE_AFTER_BEATS * beat)
            if last is not None and server_now - last > silence:
                dead.add((pool, worker.name))
    return dead


def _worker_of(run: Any) -> tuple[str, str] | None:
    labels = run.labels or {}
    pool, name = labels.get("prefect.work-pool.name"), labels.get("prefect.worker.name")
    return (pool, name) if isinstance(pool, str) and isinstance(name, str) else None


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
                    type=FlowRunFilterStateType(
                        any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
                    )
                )
            ),
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[DEPLOYMENT_TAG])),
            limit=200,
        )
    )


async def crash_zombie_runs(
    *,
    heartbeat: int | None = None,
    exclude: Iterable[str] = (),
    now: dt.datetime | None = None,
    server_now: dt.datetime | None = None,
) -> list[str]:
    """Mark CRASHED every zombie run of this package's deployments (CANCELLED when it was
    CANCELLING); returns their ids.

    ``exclude`` is the calling run (alive by definition). ``now`` is this machine's time, which
    the age of a run's state is measured on (Prefect's server dates the states: a machine far
    ahead of it judges them older than they are; see docs/monitoring.md), ``server_now`` the
    Prefect server's (worker heartbeats; read from the server when not given). Needs a Prefect
    API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import Cancelled, Crashed

    beat = heartbeat or heartbeat_seconds()
    at = now or dt.datetime.now(dt.UTC)
    running_cutoff = at - dt.timedelta(seconds=ZOMBIE_AFTER_BEATS * beat)
    pending_cutoff = at - dt.timedelta(seconds=PENDING_SILENCE)
    skip = {str(x) for x in exclude}
    crashed: list[str] = []
    async with get_client() as client:
        candidates = [run for run in await _candidates(client) if str(run.id) not in skip]
        pending = [
            run
            for run in candidates
            if run.state is not None and (run.state.is_pending() or run.state.is_cancelling())
        ]
        # The server's clock only matters for a PENDING (or CANCELLING) run's worker: no
        # request without one.
        server_at = server_now or (await server_time(client) if pending else None)
        dead = await _dead_workers(client, pending, server_at)

        async def silent(run: Any) -> bool:
            since = _silent_since(run)
            if since is None or run.state is None:
                return False
            if run.state.is_cancelling():
                # Its worker cancels it (stopping its process, if any); with that worker dead,
                # nobody does. Not while its process still beats (it holds the account).
                # Past 300 s Prefect's own cancellation clean-up ends it anyway.
                if since > running_cutoff or _worker_of(run) not in dead:
                    return False
                return not await _last_heartbeat(client, str(run.id), running_cutoff)
            if not (run.state.is_pending() or run.state.is_running()):
                return False  # moved on (or already crashed by another run's check)
            if run.state.is_pending():
                if _worker_of(run) in dead:
                    return since <= running_cutoff
                return since <= pending_cutoff
            return since <= running_cutoff and not await _last_heartbeat(
                client, str(run.id), running_cutoff
            )

        for run in candidates:
            run_id = str(run.id)
            if not await silent(run):
                continue
            # Read it again just before: it may have moved on since the listing.
            run = await client.read_flow_run(run.id)
            if not await silent(run):
                continue
            what = run.state.type.value if run.state is not None else "?"
            cancelling = run.state is not None and run.state.is_cancelling()
            why = "its worker died before cancelling it" if cancelling else "its process died"
            message = (
                f"{ZOMBIE_MESSAGE} since {_silent_since(run):%H:%M:%S} UTC while {what}: {why}"
            )
            end: Any = Cancelled(message=message) if cancelling else Crashed(message=message)
            # Not forced: should another check crash it first, Prefect refuses this one, so the
            # run keeps the first CRASHED state (and its time) rather than a later one. (Two
            # checks may both cancel a CANCELLING run: CANCELLED -> CANCELLED is accepted, and
            # harmless: nothing is released twice, the end time is kept.)
            result: Any = await client.set_flow_run_state(run.id, end)
            if result.status != SetStateStatus.ACCEPT:
                continue  # another check ended it first, or it moved on
            _log.warning(
                "flow run %s (%s) marked %s: %s", run.name, run_id, end.type.value, message
            )
            crashed.append(run_id)
    return crashed


async def crash_zombies_quietly(run_id: str | None = None) -> list[str]:
    """``crash_zombie_runs`` for the calling flow run (``run_id``, read from Prefect's runtime
    when not given); a failure is logged, never raised (the run's own work matters more than
    someone else's zombie)."""
    try:
        if run_id is None:
            from prefect.runtime import flow_run

            run_id = str(flow_run.id)
        return await crash_zombie_runs(exclude=[run_id])
    except Exception as exc:  # a run must not fail because the check could not be made
        _log.warning("zombie check skipped: %s", type(exc).__name__)
        return []


async def given_up_on(run_id: str) -> bool:
    """Whether ``run_id`` was given up on before it started, so that it must do no work:

    * crashed by this check (a run whose process was only slow to start: its worker died, the
      process lived on, and Prefect lets it go from CRASHED to RUNNING anyway); its slot went
      to the account's next run;
    * cancelled, whoever cancelled it: as a repeat (``backlog.cancel_repeated_runs``) in the
      moment a worker took it (an earlier run of its deployment does the work), by hand, or by
      Prefect's clean-up; a cancelled run holds no slot, so it must not do the work.

    Only the states since the run was last SCHEDULED count: a run rescheduled by hand (a rerun
    from the UI) is a new attempt."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        states = await client.read_flow_run_states(uuid.UUID(run_id))
    states = sorted(states, key=lambda state: state.timestamp)
    last_booked = max((i for i, s in enumerate(states) if s.is_scheduled()), default=-1)

    def says(state: Any, prefix: str) -> bool:
        return (state.message or "").startswith(prefix)

    return any(
        (state.is_crashed() and says(state, ZOMBIE_MESSAGE))
        or state.is_cancelling()
        or state.is_cancelled()
        for state in states[last_booked + 1 :]
    )


async def start_checks() -> bool:
    """What every run of the two flows does first: False when the calling run was given up on
    (``given_up_on``: it must return at once); otherwise crash the pool's zombies
    (``crash_zombie_runs``), cancel the due runs that repeat an earlier waiting run of their
    deployment (``backlog.cancel_repeated_runs``) and True. A failure of any is logged, never raised
    (the run's own work matters more than someone else's zombie)."""
    try:
        from prefect.runtime import flow_run

        run_id = str(flow_run.id)
    except Exception as exc:
        _log.warning("zombie check skipped: %s", type(exc).__name__)
        return True
    try:
        if await given_up_on(run_id):
            _log.warning(
                "flow run %s was given up on before it started (crashed as a zombie, or "
                "cancelled): it does nothing",
                run_id,
            )
            return False
    except Exception as exc:
        _log.warning("zombie check of this run skipped: %s", type(exc).__name__)
    await crash_zombies_quietly(run_id)
    try:
        from alpaca_integration.flows.backlog import cancel_repeated_runs

        await cancel_repeated_runs()
    except Exception as exc:  # as the zombie check: never the run's own failure
        _log.warning("backlog check skipped: %s", type(exc).__name__)
    return True
