"""The flows on a real work pool, at the issue's scale: a simulator with 20 accounts (one key each)
and its 200/minute budget on, `prefect server start` as a subprocess (its database on
PostgreSQL), the 40 deployments made by `alpacactl flows deploy`, two `prefect worker start
--pool` processes, two and a half minutes of order flow with faults, and one worker killed
with SIGKILL, together with the flow runs it had started, then restarted.

Then: every account's store (PostgreSQL) equals the simulator; no two runs of one deployment
overlapped (Prefect's own run records); both workers completed runs; the simulator answered no
429 (every key kept to its budget); and a run left RUNNING by the killed worker was marked
CRASHED by the zombie check the flows run first (``flows.zombies``), so its deployment went on
(the stores could not all catch up otherwise)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import os
import random
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.simulator.testing import SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.testing.compare import compare_with_venue, store_view
from alpaca_integration.testing.sessions import random_session

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.workpool,
    pytest.mark.prefect,
    pytest.mark.postgres,
    pytest.mark.redis,
]

ACCOUNTS = {f"pool{i:02d}": (f"PKPOOL{i:02d}", f"SKPOOL{i:02d}") for i in range(20)}
# A busy 2-core machine starts Prefect and its run processes slowly, and a zombie run holds its
# deployment for 3 heartbeats (90 s; for a PENDING one, 3 of its dead worker's beats) plus up to
# one interval before a run crashes it.
DEADLINE = 600.0
TRADING_SECONDS = 120.0  # order flow before the kill, and a shorter spell after it
AFTER_KILL_SECONDS = 30.0
# Each of the 40 deployments every 90 s: a run process costs ~3 s of CPU here, so every minute
# would keep both cores of this machine busy with run processes alone.
INTERVAL = 90
WORKER_LIMIT = 4  # runs at once per worker, so the machine is not swamped by run processes
FAULTS = {"error_rate": 0.02, "latency_ms": 5, "latency_jitter_ms": 20, "lost_answer_rate": 0.05}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _until(check: Callable[[], bool], what: str, logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {DEADLINE:.0f}s\n{logs()}")
        time.sleep(2.0)


class _Processes:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path, self.env = tmp_path, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.bin = Path(sys.executable).parent

    def start(self, label: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.tmp_path / f"{label}.log").open("ab") as log:
            proc = subprocess.Popen(
                args,
                cwd=self.tmp_path,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[label] = proc
        return proc

    def alpacactl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``alpacactl ARGS`` run to its end; it must exit 0."""
        done = subprocess.run(
            [str(self.bin / "alpacactl"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return done

    def log(self, label: str) -> str:
        path = self.tmp_path / f"{label}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {k}:\n{self.log(k)[-2500:]}" for k in self.procs)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                _kill_with_descendants(proc)


def _runs_of(api_url: str, worker: str | None) -> set[str]:
    """The COMPLETED runs ``worker`` took (its label: see ``_active``)."""
    if worker is None:
        return set()  # it never took a run
    return {
        str(r.id)
        for r in asyncio.run(_runs(api_url))
        if r.state and r.state.is_completed() and r.labels.get("prefect.worker.name") == worker
    }


def _prefect_database(postgres_url: str) -> str:
    """A second database beside the store's, for the Prefect server (the store's fixture drops
    its own; this one is dropped at the end of the test too)."""
    import psycopg

    name = postgres_url.rsplit("/", 1)[1] + "_prefect"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return name


async def _migrate(database_url: str) -> None:
    store = await Store.open(database_url, migrate=True)
    await store.aclose()


async def _runs(api_url: str) -> list[Any]:
    """Every run that left SCHEDULED (the scheduler books many ahead)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    started = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED]))
    )
    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            # Pages in a stable order (runs leaving SCHEDULED land at the end), and by id, so a
            # run that moves between pages while they are read is counted once.
            runs: dict[str, Any] = {}
            offset = 0
            while True:
                page = await client.read_flow_runs(
                    flow_run_filter=started,
                    sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                    limit=200,
                    offset=offset,
                )
                runs.update((str(run.id), run) for run in page)
                offset += len(page)
                if len(page) < 200:
                    return list(runs.values())


def _describe(run: Any) -> str:
    state = run.state
    return (
        f"{run.name} [{state.type.value if state else '?'} at {state.timestamp if state else ''}"
        f" start {run.start_time} end {run.end_time} ran {run.total_run_time} worker "
        f"{run.labels.get('prefect.worker.name')}: {(state.message or '')[:100] if state else ''}]"
    )


def _overlaps(runs: list[Any], killed: dict[str, dt.datetime]) -> list[str]:
    """Runs of one deployment whose RUNNING intervals overlap (runs that were RUNNING: time spent
    RUNNING, or RUNNING now). A run still going ends now; a run
    the test killed (``killed``: run id -> the kill) ended then, whatever Prefect recorded later;
    any other run set CRASHED from outside has no end time and ends when it was crashed."""
    now = dt.datetime.now(dt.UTC)
    by_deployment: dict[Any, list[tuple[dt.datetime, dt.datetime, Any]]] = {}
    for run in runs:
        running = run.state is not None and run.state.is_running()
        if run.start_time is None or not (running or run.total_run_time > dt.timedelta(0)):
            # Never RUNNING: e.g. cancelled by the one-at-a-time limit when it asked to run
            # (Prefect records a start time at that ask), so none of its code ran.
            continue
        final = run.state is not None and run.state.is_final()
        end = run.end_time or (run.state.timestamp if final else now)
        end = min(end, killed.get(str(run.id), end))
        by_deployment.setdefault(run.deployment_id, []).append((run.start_time, end, run))
    found: list[str] = []
    for spans in by_deployment.values():
        spans.sort(key=lambda span: span[0])
        for (_, end, first), (start, _, then) in itertools.pairwise(spans):
            if start < end:
                found.append(f"{_describe(first)} and {_describe(then)}")
    return found


async def _trade(sim: SimulatorHandle, seconds: float, seed: int) -> None:
    """Every account trades at once for ``seconds``, in short random sessions, then cancels
    what still rests."""

    async def set_price(symbol: str, price: Decimal) -> None:
        await sim.aset_price(symbol, price)

    async def account(index: int, key: str, secret: str) -> None:
        rng = random.Random(seed + index)
        async with AlpacaClient(key, secret, sim.base_url) as client:
            while time.monotonic() < stop:
                await random_session(client, set_price, n_orders=2, rng=rng, pause=1.0)
            await client.cancel_all_orders()

    stop = time.monotonic() + seconds
    await asyncio.gather(
        *(account(i, key, secret) for i, (key, secret) in enumerate(ACCOUNTS.values()))
    )


async def _differences(database_url: str, sim: SimulatorHandle) -> list[str]:
    store = await Store.open(database_url)
    try:
        out: list[str] = []
        for name, (key, _) in ACCOUNTS.items():
            view = await store_view(store, name)
            out += [f"{name}: {d}" for d in compare_with_venue(view, await sim.adump(key))]
        return out
    finally:
        await store.aclose()


def _suspend_with_descendants(proc: subprocess.Popen[bytes]) -> list[Any]:
    """SIGSTOP a worker and every process below it, until no new one appears (a worker listed
    and then stopped could start a run's process in between); returns them all. Prefect starts
    each flow run in a session of its own, so the worker's process group would miss the runs."""
    import psutil

    stopped: dict[int, psutil.Process] = {}
    frontier = [psutil.Process(proc.pid)]
    while frontier:
        for victim in frontier:
            with contextlib.suppress(psutil.NoSuchProcess):
                victim.suspend()
            stopped[victim.pid] = victim
        found: list[psutil.Process] = []
        for victim in frontier:
            with contextlib.suppress(psutil.NoSuchProcess):
                found += [c for c in victim.children(recursive=True) if c.pid not in stopped]
        frontier = found
    return list(stopped.values())


def _resume(victims: list[Any]) -> None:
    import psutil

    for victim in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.resume()


def _kill(proc: subprocess.Popen[bytes], victims: list[Any]) -> None:
    import psutil

    for victim in victims:
        with contextlib.suppress(psutil.NoSuchProcess):
            victim.kill()
    psutil.wait_procs(victims, timeout=30)
    proc.wait()


def _kill_with_descendants(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and every process below it, all stopped first (a run left alive would
    complete instead of being the zombie the test expects: a CI run under load saw it)."""
    _kill(proc, _suspend_with_descendants(proc))


def _history(api_url: str, differences: list[str]) -> str:
    """The runs of the accounts that differ (state, times, worker, message): what the failure
    needs to say why an account fell behind."""
    names = {d.split(":", 1)[0] for d in differences}
    lines = []
    for run in sorted(asyncio.run(_runs(api_url)), key=lambda r: str(r.expected_start_time)):
        account = (run.parameters or {}).get("account_name")
        if account not in names:
            continue
        state = run.state
        lines.append(
            f"{account} {run.flow_id!s:.8} {run.name}: {state.type.value if state else '?'} "
            f"expected {run.expected_start_time:%H:%M:%S} start {run.start_time} end "
            f"{run.end_time} worker {run.labels.get('prefect.worker.name')} "
            f"{(state.message or '')[:120] if state else ''}"
        )
    return "\n--- runs of the accounts that differ:\n" + "\n".join(lines[-80:])


def _active(api_url: str, worker: str | None = None) -> set[str]:
    """Runs PENDING or RUNNING (both hold their deployment's concurrency slot); with ``worker``,
    only those that worker took. A worker logs "submitting flow run" before it asks for the run,
    and may lose it to the other worker; it labels the run with its name only once the server
    gave the run to it (a CI run counted a run the second worker then completed as a zombie of
    the first)."""
    return {
        str(r.id)
        for r in asyncio.run(_runs(api_url))
        if r.state
        and (r.state.is_running() or r.state.is_pending())
        and (worker is None or r.labels.get("prefect.worker.name") == worker)
    }


def _worker_name(log: str) -> str | None:
    found = re.search(r"Worker '([^']+)' submitting flow run", log)
    return found.group(1) if found else None


def _states(api_url: str, ids: set[str]) -> dict[str, str]:
    return {
        str(r.id): r.state.type.value if r.state else "?"
        for r in asyncio.run(_runs(api_url))
        if str(r.id) in ids
    }


@pytest.mark.timeout(1500)
def test_deployments_on_a_work_pool_with_two_workers_one_killed(
    simulator_factory: Callable[..., SimulatorHandle],
    postgres_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    simulator = simulator_factory(rate_limit=200)
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        "\n".join(
            f'[accounts.{n}]\napi_key = "{k}"\nsecret_key = "{s}"\n'
            f'base_url = "{simulator.base_url}"\n'
            for n, (k, s) in ACCOUNTS.items()
        )
    )
    asyncio.run(_migrate(postgres_url))
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "PREFECT_"))}
    env.update(
        ALPACA_ACCOUNTS_FILE=str(accounts),
        ALPACA_DATABASE_URL=postgres_url,
        ALPACA_REDIS_URL=redis_url,
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_API_URL=api_url,
    )
    procs = _Processes(tmp_path, env)
    try:
        # Prefect's own database on the same PostgreSQL (its SQLite default locks up under load).
        server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
        server_env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
            postgres_url.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
            + f"/{_prefect_database(postgres_url)}"
        )
        procs.env = server_env
        procs.start("server", str(procs.bin / "prefect"), "server", "start", "--port", str(port))
        procs.env = env

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{api_url}/health", timeout=2) as answer:
                    return bool(answer.status == 200)
            except OSError:
                return False

        _until(healthy, "the Prefect server answers", procs.logs)
        deploy = procs.alpacactl("flows", "deploy", "--interval", str(INTERVAL))
        assert deploy.stdout.count("one at a time") == 2 * len(ACCOUNTS)
        worker = [str(procs.bin / "prefect"), "worker", "start", "--pool", "alpaca"]
        worker += ["--limit", str(WORKER_LIMIT)]
        # No --name: each worker start gets a name of its own (Prefect's default), so the runs a
        # dead worker left PENDING are told apart from the restarted worker's by their label.
        w1 = procs.start("w1", *worker)
        procs.start("w2", *worker)
        simulator.set_faults(**FAULTS)
        asyncio.run(_trade(simulator, TRADING_SECONDS, seed=1))

        # Kill the first worker with the runs it started (a machine going down) while one of
        # them is PENDING or RUNNING: that run can report nothing more, so it is a zombie. The
        # worker and its runs are stopped first and then looked at (stopped, none of them can
        # move a run on); holding none, they go on and are looked at again later.
        zombies: set[str] = set()
        victims: list[Any] = []

        def w1_holds_a_run() -> bool:
            nonlocal zombies, victims
            name = _worker_name(procs.log("w1"))
            if name is None or not _active(api_url, name):
                return False
            victims = _suspend_with_descendants(w1)
            zombies = _active(api_url, name)
            if not zombies:
                _resume(victims)
            return bool(zombies)

        _until(w1_holds_a_run, "a run of the first worker is PENDING or RUNNING", procs.logs)
        _kill(w1, victims)
        killed_at = dt.datetime.now(dt.UTC)
        # A run stopped just after sending its final state may see it land after the read above.
        time.sleep(2.0)
        zombies &= _active(api_url)
        assert zombies, "every run the killed worker held ended at the moment it was stopped"
        time.sleep(INTERVAL / 2)
        restarted_at = len(procs.log("w1"))
        procs.start("w1", *worker)  # restarted
        asyncio.run(_trade(simulator, AFTER_KILL_SECONDS, seed=2))
        simulator.set_faults(reset=True)  # the last runs see a quiet venue

        deadline = time.monotonic() + DEADLINE
        differences = asyncio.run(_differences(postgres_url, simulator))
        while differences and time.monotonic() < deadline:
            time.sleep(5.0)
            differences = asyncio.run(_differences(postgres_url, simulator))
        assert differences == [], (
            "\n".join(differences[:20]) + _history(api_url, differences) + procs.logs()
        )

        assert _runs_of(api_url, _worker_name(procs.log("w2"))), "the second worker ran no flow"
        second_w1 = _worker_name(procs.log("w1")[restarted_at:])
        assert _runs_of(api_url, second_w1), "the restarted worker ran no flow"
        # A zombie is crashed once its process (RUNNING) or its worker (PENDING) has been silent
        # for three heartbeats, by the next run of any deployment.
        states: dict[str, str] = {}

        def zombies_crashed() -> bool:
            states.update(_states(api_url, zombies))
            return all(state == "CRASHED" for state in states.values())

        _until(zombies_crashed, "every zombie run CRASHED", lambda: f"{states}\n{procs.logs()}")
        assert simulator.stats()["rate_limited"] == {}
        status = procs.alpacactl("flows", "status")
        assert status.stdout.count("CANCEL_NEW") == 2 * len(ACCOUNTS)
        overlaps = _overlaps(asyncio.run(_runs(api_url)), dict.fromkeys(zombies, killed_at))
        assert overlaps == [], "\n".join(overlaps) + f"\nkilled at {killed_at}: {zombies}"
    finally:
        procs.stop_all()
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            name = postgres_url.rsplit("/", 1)[1] + "_prefect"
            conn.execute(f'drop database if exists "{name}" with (force)')
