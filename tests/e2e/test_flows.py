"""The Prefect flows against the simulator: both run, thin, and write the store."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.testing.compare import compare_with_venue, store_view
from alpaca_integration.testing.sessions import random_session

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.prefect,
    pytest.mark.postgres,
    # Under Prefect's ephemeral test harness some loopback sockets are left to the garbage
    # collector (not traced to their owner: tracing makes the harness time out). Ignored in this
    # module only; everywhere else an unclosed resource fails its test.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

T = TypeVar("T")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API for the whole session (starting it takes seconds; under a
    heavily loaded machine, CI saw it miss a 60 s start-up bound, hence 180 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def flow_env(
    monkeypatch: pytest.MonkeyPatch, simulator: SimulatorHandle, postgres_url: str, tmp_path: object
) -> str:
    """ALPACA_* settings pointing the flows at the simulator and a migrated PostgreSQL store."""
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("ALPACA_API_KEY", SIM_API_KEY)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SIM_SECRET_KEY)
    monkeypatch.setenv("ALPACA_BASE_URL", simulator.base_url)
    monkeypatch.setenv("ALPACA_DATABASE_URL", postgres_url)
    monkeypatch.delenv("ALPACA_REDIS_URL", raising=False)
    monkeypatch.delenv("ALPACA_ACCOUNTS_FILE", raising=False)

    async def migrate() -> None:
        store = await Store.open(postgres_url, migrate=True)
        await store.aclose()

    asyncio.run(migrate())
    return postgres_url


def _read_store(url: str, read: Callable[[Store], Awaitable[T]]) -> T:
    """What ``read`` answers from the store at ``url``, opened and closed around it."""

    async def run() -> T:
        store = await Store.open(url)
        try:
            return await read(store)
        finally:
            await store.aclose()

    return asyncio.run(run())


async def _trade(simulator: SimulatorHandle) -> None:
    async def set_price(symbol: str, price: Decimal) -> None:
        await simulator.aset_price(symbol, price)

    async with AlpacaClient(SIM_API_KEY, SIM_SECRET_KEY, simulator.base_url) as client:
        await random_session(client, set_price, n_orders=25, rng=random.Random(9))
        await client.cancel_all_orders()


@pytest.mark.usefixtures("prefect_harness")
def test_both_flows_write_the_store(flow_env: str, simulator: SimulatorHandle) -> None:
    """Order monitoring then account monitoring leave the store equal to the venue."""
    from alpaca_integration.flows import alpaca_account_monitoring, alpaca_order_monitoring

    asyncio.run(_trade(simulator))
    orders = asyncio.run(alpaca_order_monitoring(account_name="default"))
    account = asyncio.run(alpaca_account_monitoring(account_name="default"))
    assert orders["orders_changed"] > 0
    assert orders["fills_changed"] > 0
    assert account["account"] == "default"
    assert account["risk_breaches"] == 0

    exposures = _read_store(flow_env, lambda store: store.list_exposure_snapshots("default"))
    assert len(exposures) == 1, "the account flow records the exposure"
    dump = _read_store(flow_env, lambda store: store_view(store, "default"))
    assert compare_with_venue(dump, simulator.dump(SIM_API_KEY)) == []
    again = asyncio.run(alpaca_order_monitoring(account_name="default"))
    assert again["orders_changed"] == 0
    assert again["fills_changed"] == 0


@pytest.mark.usefixtures("prefect_harness")
def test_unknown_account_name_fails_the_flow_clearly(flow_env: str) -> None:
    """A flow run for an account that is not configured fails naming the configured ones."""
    from alpaca_integration.errors import ConfigError
    from alpaca_integration.flows import alpaca_order_monitoring

    with pytest.raises(ConfigError, match="unknown account 'nope'"):
        asyncio.run(alpaca_order_monitoring(account_name="nope"))


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_flows_serve_registers_both_flows_and_runs_them(
    flow_env: str, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """`flows serve` registers both deployments; a run of each completes and writes the store.
    Its runs send heartbeats and the zombie automation is in place; Ctrl-C stops it with exit
    code 0 and no traceback."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    alpacactl = str(Path(sys.executable).parent / "alpacactl")
    output = tmp_path / "serve.log"
    with output.open("wb") as log:
        server = subprocess.Popen(
            [alpacactl, "flows", "serve", "--interval", "3600"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Ctrl-C as at a terminal (a shell may start the suite with SIGINT ignored).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    names = ("alpaca_order_monitoring/orders-default", "alpaca_account_monitoring/account-default")

    async def run_both() -> list[str]:
        async with get_client() as prefect:
            deployments = []
            for _ in range(120):
                try:
                    deployments = [await prefect.read_deployment_by_name(n) for n in names]
                    break
                except Exception:  # not registered yet
                    await asyncio.sleep(0.25)
            assert len(deployments) == 2, "flows serve registered both deployments"
            runs = [await prefect.create_flow_run_from_deployment(d.id) for d in deployments]
            states: list[str] = []
            for _ in range(240):
                states = [str((await prefect.read_flow_run(r.id)).state_name) for r in runs]
                if all(s in ("Completed", "Failed", "Crashed") for s in states):
                    break
                await asyncio.sleep(0.25)
            return states

    async def zombie_automation() -> bool:
        from prefect.automations import Automation

        from alpaca_integration.flows.deploy import ZOMBIE_AUTOMATION

        try:
            await Automation.aread(name=ZOMBIE_AUTOMATION)
        except ValueError:
            return False
        return True

    try:
        asyncio.run(_trade(simulator))
        states = asyncio.run(run_both())
        has_zombie_automation = asyncio.run(zombie_automation())
        server.send_signal(signal.SIGINT)  # Ctrl-C
        returncode = server.wait(timeout=180)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert states == ["Completed", "Completed"]
    printed = output.read_text(errors="replace")
    assert (returncode, "Traceback" in printed) == (0, False), printed[-3000:]
    assert printed.rstrip().endswith("flows serve stopped"), printed[-3000:]
    assert has_zombie_automation, "a killed flows serve would leave its runs RUNNING"

    assert len(_read_store(flow_env, lambda store: store.list_orders("default"))) > 0


async def _throwaway_flow(client: Any, prefix: str) -> Any:
    """A flow registered under a fresh name (its runs are only records, never executed)."""
    import uuid

    from prefect import flow

    @flow(name=f"{prefix}-{uuid.uuid4().hex[:8]}")
    def sleeper() -> None:
        return None

    return await client.create_flow(sleeper)


async def _pending_runs_of_workers(
    client: Any, prefix: str, periods: dict[str, int]
) -> tuple[dict[str, str], dict[str, Any]]:
    """A fresh process pool in which each worker of ``periods`` (name -> heartbeat period)
    beats once now, and for each a deployment tagged alpaca-integration (one run at a time)
    with one run that worker took: PENDING and labelled as a worker labels it. Returns the run
    ids and the deployment ids, by worker."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.states import Pending

    from alpaca_integration.flows.zombies import DEPLOYMENT_TAG

    pool = f"pool-{uuid.uuid4().hex[:8]}"
    await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    for worker, period in periods.items():
        await client.send_worker_heartbeat(pool, worker, heartbeat_interval_seconds=period)
    flow_id = await _throwaway_flow(client, prefix)
    runs, deployments = {}, {}
    for worker in periods:
        deployment = await client.create_deployment(
            flow_id=flow_id,
            name=f"{worker}-{uuid.uuid4().hex[:8]}",
            tags=[DEPLOYMENT_TAG],
            concurrency_limit=1,
        )
        run = await client.create_flow_run_from_deployment(deployment)
        await client.set_flow_run_state(run.id, Pending())
        await client.update_flow_run_labels(
            run.id, {"prefect.worker.name": worker, "prefect.work-pool.name": pool}
        )
        runs[worker], deployments[worker] = str(run.id), deployment
    return runs, deployments


@pytest.mark.usefixtures("prefect_harness")
def test_zombie_runs_are_crashed_and_free_their_deployment() -> None:
    """A run left RUNNING by a dead process (no state change, no heartbeat for three heartbeat
    periods) of a deployment tagged alpaca-integration is marked CRASHED, which frees the
    deployment's one slot; a live run, the caller's own run and other deployments' runs are
    left alone."""
    import datetime as dt
    import uuid

    from prefect.client.orchestration import get_client
    from prefect.states import Pending, Running

    from alpaca_integration.flows.zombies import (
        DEPLOYMENT_TAG,
        PENDING_SILENCE,
        crash_zombie_runs,
    )

    async def scenario() -> dict[str, Any]:
        async with get_client() as client:
            flow_id = await _throwaway_flow(client, "zombie-check")
            ours, other, waiting = [
                await client.create_deployment(
                    flow_id=flow_id,
                    name=f"{name}-{uuid.uuid4().hex[:8]}",
                    tags=tags,
                    concurrency_limit=1,
                )
                for name, tags in (
                    ("ours", [DEPLOYMENT_TAG]),
                    ("other", ["someone-else"]),
                    ("pending", [DEPLOYMENT_TAG]),
                )
            ]

            async def propose_pending(deployment: Any) -> str:
                run = await client.create_flow_run_from_deployment(deployment)
                result: Any = await client.set_flow_run_state(run.id, Pending())  # the slot
                return str(result.state.type.value if result.state else "?")

            runs = {}
            for label, deployment in (("dead", ours), ("foreign", other)):
                run = await client.create_flow_run_from_deployment(deployment)
                await client.set_flow_run_state(run.id, Pending())
                await client.set_flow_run_state(run.id, Running())
                runs[label] = run.id
            pending = await client.create_flow_run_from_deployment(waiting)
            await client.set_flow_run_state(pending.id, Pending())
            runs["pending"] = pending.id
            out: dict[str, Any] = {"blocked": await propose_pending(ours)}
            later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=91)
            out["own_run"] = await crash_zombie_runs(
                heartbeat=30, exclude=[str(runs["dead"])], now=later
            )
            out["too_early"] = await crash_zombie_runs(heartbeat=30)
            out["crashed"] = await crash_zombie_runs(heartbeat=30, now=later)
            out["states"] = {
                label: str((await client.read_flow_run(run_id)).state_name)
                for label, run_id in runs.items()
            }
            out["after"] = await propose_pending(ours)
            # PENDING: a live run may wait minutes for its process, so only past the slot lease.
            much_later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=PENDING_SILENCE + 1)
            out["pending_crashed"] = await crash_zombie_runs(heartbeat=30, now=much_later)
            out["pending_state"] = str((await client.read_flow_run(pending.id)).state_name)
            # Another run's check a moment later: nothing is crashed twice (a second CRASHED
            # state would move the run's end past its successor's start).
            out["again"] = await crash_zombie_runs(heartbeat=30, now=much_later)
            out["pending_id"] = str(pending.id)
            return out

    out = asyncio.run(scenario())
    assert out["blocked"] != "PENDING", "the dead run holds the deployment's one slot"
    assert (out["own_run"], out["too_early"], len(out["crashed"])) == ([], [], 1)
    assert out["states"] == {"dead": "Crashed", "foreign": "Running", "pending": "Pending"}
    assert out["after"] == "PENDING"
    assert out["pending_id"] in out["pending_crashed"]
    assert out["pending_state"] == "Crashed"
    assert out["again"] == []


@pytest.mark.usefixtures("prefect_harness")
def test_a_pending_run_whose_worker_went_silent_is_crashed_before_the_slot_lease() -> None:
    """A PENDING run sends no heartbeat, but the worker that took it does: once that worker has
    been silent for three of its heartbeat periods, its PENDING run is a zombie (the machine went
    down before the run's process started) and is crashed then, not after Prefect's 300 s slot
    lease. A PENDING run of a worker still beating is left alone, however long it waits; the
    silence is measured on the server's clock. A crashed run whose process was only slow and
    that goes RUNNING anyway knows it was given up on."""
    import datetime as dt

    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from alpaca_integration.flows.zombies import crash_zombie_runs, given_up_on

    async def scenario() -> dict[str, Any]:
        async with get_client() as client:
            # "gone" beats every 30 s, "slow" every 60 s: 91 s on, only "gone" missed three.
            runs, _ = await _pending_runs_of_workers(
                client, "zombie-pending", {"gone": 30, "slow": 60}
            )
            now = dt.datetime.now(dt.UTC)

            def at(seconds: float, *, server: float | None = None) -> dict[str, Any]:
                skew = seconds if server is None else server
                return {
                    "now": now + dt.timedelta(seconds=seconds),
                    "server_now": now + dt.timedelta(seconds=skew),
                }

            early = await crash_zombie_runs(heartbeat=30, **at(60))
            # This machine's clock 91 s ahead of the server's: the workers' silence is measured
            # on the server's clock, so nobody is dead yet.
            skewed = await crash_zombie_runs(heartbeat=30, **at(91, server=0))
            later = await crash_zombie_runs(heartbeat=30, **at(91))
            states = {
                worker: str((await client.read_flow_run(run_id)).state_name)
                for worker, run_id in runs.items()
            }
            # Its process was only slow: Prefect lets the crashed run go RUNNING, and the run
            # sees in its history that it was given up on (so the flow does nothing).
            resumed: Any = await client.set_flow_run_state(runs["gone"], Running())
            given_up = {worker: await given_up_on(run_id) for worker, run_id in runs.items()}
            return {
                "runs": runs,
                "early": early,
                "skewed": skewed,
                "later": later,
                "states": states,
                "resumed": resumed.status.value,
                "given_up": given_up,
            }

    out = asyncio.run(scenario())
    assert out["early"] == [], "a worker silent for less than three beats may be alive"
    assert out["skewed"] == [], "the worker's silence is judged on the server's clock"
    assert out["later"] == [out["runs"]["gone"]]
    assert out["states"] == {"gone": "Crashed", "slow": "Pending"}
    assert out["resumed"] == "ACCEPT"
    assert out["given_up"] == {"gone": True, "slow": False}


@pytest.mark.usefixtures("prefect_harness")
def test_a_cancelling_run_whose_worker_died_is_cancelled() -> None:
    """A run set CANCELLING after a worker took it (by hand, or as a repeat by the backlog
    check) waits for that worker to cancel it; with the worker dead for three of its heartbeat
    periods it is marked CANCELLED, which frees its deployment's slot. One whose worker still
    beats is left to that worker. Either does nothing should its process start anyway."""
    import datetime as dt

    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Cancelling, Pending

    from alpaca_integration.flows.zombies import crash_zombie_runs, given_up_on

    async def scenario() -> dict[str, Any]:
        async with get_client() as client:
            runs, deployments = await _pending_runs_of_workers(
                client, "zombie-cancelling", {"gone": 30, "alive": 60}
            )
            for run_id in runs.values():
                await client.set_flow_run_state(uuid.UUID(run_id), Cancelling())
            now = dt.datetime.now(dt.UTC)
            blocked = await client.create_flow_run_from_deployment(deployments["gone"])
            before: Any = await client.set_flow_run_state(blocked.id, Pending())
            later = now + dt.timedelta(seconds=91)
            ended = await crash_zombie_runs(heartbeat=30, now=later, server_now=later)
            states = {
                worker: str((await client.read_flow_run(run_id)).state_name)
                for worker, run_id in runs.items()
            }
            after: Any = await client.set_flow_run_state(blocked.id, Pending())
            given_up = {worker: await given_up_on(run_id) for worker, run_id in runs.items()}
            # Nothing left for the other tests' checks on this server: the live worker's cancel.
            await client.set_flow_run_state(runs["alive"], Cancelled(), force=True)
            await client.set_flow_run_state(blocked.id, Cancelled(), force=True)
            return {
                "runs": runs,
                "ended": ended,
                "states": states,
                "before": before.state.type.value,
                "after": after.state.type.value,
                "given_up": given_up,
            }

    out = asyncio.run(scenario())
    assert out["before"] != "PENDING", "the CANCELLING run holds its deployment's one slot"
    # (Other tests' runs left on this server may be ended too: only these two are judged.)
    assert set(out["ended"]) & set(out["runs"].values()) == {out["runs"]["gone"]}
    assert out["states"] == {"gone": "Cancelled", "alive": "Cancelling"}
    assert out["after"] == "PENDING", "its slot is free again"
    assert out["given_up"] == {"gone": True, "alive": True}


@pytest.mark.usefixtures("prefect_harness")
def test_a_pool_that_fell_behind_queues_one_run_per_account() -> None:
    """Due runs pile up when the pool cannot keep up: each deployment keeps its earliest due run
    (its place in the queue), and every later due run of it is cancelled as a repeat. Runs not
    due yet, a deployment with a single due run, another package's deployment, and a run a
    worker has taken are left alone (a taken run does not keep a place: the next due run
    does); a second check (on the server's own clock) finds nothing more to do. A run a worker
    takes in the moment it is cancelled goes CANCELLING, keeps its deployment's slot until
    its worker has cancelled it, and knows it was given up on should it start."""
    import datetime as dt
    import uuid

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions
    from prefect.states import Cancelled, Cancelling, Pending, Scheduled

    from alpaca_integration.flows.backlog import REPEAT_MESSAGE, cancel_repeated_runs
    from alpaca_integration.flows.zombies import DEPLOYMENT_TAG, given_up_on

    async def scenario() -> dict[str, Any]:
        async with get_client() as client:
            flow_id = await _throwaway_flow(client, "backlog")
            now = dt.datetime.now(dt.UTC)
            runs: dict[str, str] = {}
            for name, tags, minutes in (
                ("behind", [DEPLOYMENT_TAG], (-5, -3, -1, 2)),
                ("keeping-up", [DEPLOYMENT_TAG], (-1, 2)),
                ("foreign", ["someone-else"], (-5, -1)),
                ("taken", [DEPLOYMENT_TAG], (-6, -4, -2)),
            ):
                deployment = await client.create_deployment(
                    flow_id=flow_id,
                    name=f"{name}-{uuid.uuid4().hex[:8]}",
                    tags=tags,
                    concurrency_limit=1,
                    # As `flows deploy` makes them: a run that finds the slot held is cancelled.
                    concurrency_options=ConcurrencyOptions(
                        collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
                    ),
                )
                for minute in minutes:
                    run = await client.create_flow_run_from_deployment(
                        deployment,
                        state=Scheduled(scheduled_time=now + dt.timedelta(minutes=minute)),
                    )
                    runs[f"{name}{minute:+d}"] = str(run.id)
            # A worker took the oldest (PENDING): the next one keeps the place, the last goes.
            await client.set_flow_run_state(uuid.UUID(runs["taken-6"]), Pending())
            first = await cancel_repeated_runs(server_now=now)
            again = await cancel_repeated_runs()  # the server's clock

            async def state_of(label: str) -> str:
                state = (await client.read_flow_run(uuid.UUID(runs[label]))).state
                assert state is not None
                return state.type.value

            states = {label: await state_of(label) for label in runs}
            # The race: the cancel lands on a run a worker has just taken.
            raced: Any = await client.set_flow_run_state(
                uuid.UUID(runs["taken-6"]), Cancelling(message=REPEAT_MESSAGE)
            )
            beside: Any = await client.set_flow_run_state(uuid.UUID(runs["taken-4"]), Pending())
            given_up = {label: await given_up_on(runs[label]) for label in ("taken-6", "behind-5")}
            # Rescheduled by hand (a rerun): a new attempt, no longer given up on.
            await client.set_flow_run_state(uuid.UUID(runs["taken-6"]), Cancelled(), force=True)
            await client.set_flow_run_state(
                uuid.UUID(runs["taken-6"]), Scheduled(scheduled_time=now), force=True
            )
            given_up["rerun"] = await given_up_on(runs["taken-6"])
            return {
                "runs": runs,
                "first": first,
                "again": again,
                "states": states,
                "raced": raced.state.type.value,
                "beside": beside.state.type.value,
                "given_up": given_up,
            }

    out = asyncio.run(scenario())
    runs = out["runs"]
    ours = set(runs.values())
    # (Other tests' deployments share this Prefect server: only this test's runs are judged.)
    assert set(out["first"]) & ours == {runs["behind-3"], runs["behind-1"], runs["taken-2"]}
    assert set(out["again"]) & ours == set()
    assert out["states"] == {
        "behind-5": "SCHEDULED",
        "behind-3": "CANCELLED",
        "behind-1": "CANCELLED",
        "behind+2": "SCHEDULED",
        "keeping-up-1": "SCHEDULED",
        "keeping-up+2": "SCHEDULED",
        "foreign-5": "SCHEDULED",
        "foreign-1": "SCHEDULED",
        "taken-6": "PENDING",
        "taken-4": "SCHEDULED",
        "taken-2": "CANCELLED",
    }
    assert out["raced"] == "CANCELLING"
    # The raced run still holds its deployment's one slot: the next run is cancelled (CANCEL_NEW).
    assert out["beside"] == "CANCELLED"
    assert out["given_up"] == {"taken-6": True, "behind-5": False, "rerun": False}
