"""The flows on a real work pool: `prefect server start` as a subprocess, the deployments made by
`alpacactl flows deploy`, two `prefect worker start --pool` processes, one killed with SIGKILL and
restarted. Both workers run flows, no two runs of one deployment overlap (Prefect's own run
records), and every account's store (PostgreSQL) ends equal to the simulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import random
import re
import signal
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
    pytest.mark.prefect,
    pytest.mark.postgres,
    pytest.mark.redis,
]

ACCOUNTS = {f"pool{i}": (f"PKPOOL{i}", f"SKPOOL{i}") for i in range(2)}
DEADLINE = 200.0  # a busy 2-core machine starts Prefect and its run processes slowly


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
        time.sleep(1.0)


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

    def log(self, label: str) -> str:
        path = self.tmp_path / f"{label}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {k}:\n{self.log(k)[-2500:]}" for k in self.procs)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with_group = os.getpgid(proc.pid)
                os.killpg(with_group, signal.SIGKILL)
                proc.wait()


def _worker_runs(log: str) -> set[str]:
    return set(re.findall(r"submitting flow run '([0-9a-f-]{36})'", log))


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
    from prefect.settings import PREFECT_API_URL, temporary_settings

    started = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED]))
    )
    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            return list(await client.read_flow_runs(flow_run_filter=started, limit=200))


def _completed(api_url: str) -> set[str]:
    return {str(r.id) for r in asyncio.run(_runs(api_url)) if r.state and r.state.is_completed()}


def _overlaps(runs: list[Any]) -> list[str]:
    """Runs of one deployment whose RUNNING intervals overlap (a run still going ends now)."""
    now = dt.datetime.now(dt.UTC)
    by_deployment: dict[Any, list[tuple[dt.datetime, dt.datetime, str]]] = {}
    for run in runs:
        if run.start_time is None:
            continue
        end = run.end_time or now
        by_deployment.setdefault(run.deployment_id, []).append((run.start_time, end, run.name))
    found: list[str] = []
    for spans in by_deployment.values():
        spans.sort()
        for (_, end, name), (start, _, other) in itertools.pairwise(spans):
            if start < end:
                found.append(f"{name} and {other}")
    return found


async def _trade(sim: SimulatorHandle, seed: int) -> None:
    async def set_price(symbol: str, price: Decimal) -> None:
        await sim.aset_price(symbol, price)

    for index, (key, secret) in enumerate(ACCOUNTS.values()):
        async with AlpacaClient(key, secret, sim.base_url) as client:
            rng = random.Random(seed + index)
            await random_session(client, set_price, n_orders=10, rng=rng)
            await client.cancel_all_orders()


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


@pytest.mark.timeout(600)
def test_deployments_on_a_work_pool_with_two_workers_one_killed(
    simulator: SimulatorHandle, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
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
        deploy = subprocess.run(
            [str(procs.bin / "alpacactl"), "flows", "deploy", "--interval", "15"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert deploy.returncode == 0, deploy.stderr
        assert deploy.stdout.count("one at a time") == 2 * len(ACCOUNTS)
        worker = [str(procs.bin / "prefect"), "worker", "start", "--pool", "alpaca"]
        w1 = procs.start("w1", *worker, "--name", "w1")
        procs.start("w2", *worker, "--name", "w2")
        asyncio.run(_trade(simulator, seed=1))
        _until(
            lambda: bool(_worker_runs(procs.log("w1")) & _completed(api_url)),
            "the first worker completes a run",
            procs.logs,
        )
        w1.send_signal(signal.SIGKILL)  # the worker only: its runs in flight finish on their own
        w1.wait()
        before = _worker_runs(procs.log("w2"))
        asyncio.run(_trade(simulator, seed=2))
        _until(
            lambda: bool((_worker_runs(procs.log("w2")) - before) & _completed(api_url)),
            "the second worker completes runs after the kill",
            procs.logs,
        )
        procs.start("w1", *worker, "--name", "w1")  # restarted

        deadline = time.monotonic() + DEADLINE
        differences = asyncio.run(_differences(postgres_url, simulator))
        while differences and time.monotonic() < deadline:
            time.sleep(2.0)
            differences = asyncio.run(_differences(postgres_url, simulator))
        assert differences == [], procs.logs()

        status = subprocess.run(
            [str(procs.bin / "alpacactl"), "flows", "status"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert status.returncode == 0, status.stderr
        assert "CANCEL_NEW" in status.stdout
        runs = asyncio.run(_runs(api_url))
        assert _overlaps(runs) == []
        assert "Traceback" not in procs.log("w2")
    finally:
        procs.stop_all()
        import psycopg

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            name = postgres_url.rsplit("/", 1)[1] + "_prefect"
            conn.execute(f'drop database if exists "{name}" with (force)')
