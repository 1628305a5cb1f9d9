"""`alpacactl monitor` as a user runs it: a subprocess on the embedded defaults (SQLite file,
in-memory cache) against the simulator; SIGTERM stops it gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.models import OrderRequest, OrderSide
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.testing.compare import compare_with_venue, store_view
from support.cli_runs import child_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _env(sim: SimulatorHandle, db: Path) -> dict[str, str]:
    return child_env(sim.base_url, f"sqlite:///{db}", ALPACA_UPDATE_INTERVAL="1")


async def _trade(sim: SimulatorHandle) -> None:
    await sim.aset_price("AAPL", Decimal("100.00"))
    async with AlpacaClient(SIM_API_KEY, SIM_SECRET_KEY, sim.base_url) as client:
        for side in (OrderSide.BUY, OrderSide.BUY, OrderSide.SELL):
            await client.submit_order(OrderRequest(symbol="AAPL", side=side, qty=Decimal(4)))


async def _reconciliation_runs(db: Path) -> int:
    store = await Store.open(f"sqlite:///{db}")
    try:
        return len(await store.list_reconciliation_runs("default"))
    finally:
        await store.aclose()


async def _differences(db: Path, sim: SimulatorHandle) -> list[str]:
    store = await Store.open(f"sqlite:///{db}")
    try:
        dump = await store_view(store, "default")
    finally:
        await store.aclose()
    return compare_with_venue(dump, await asyncio.to_thread(sim.dump, SIM_API_KEY))


DEADLINE = 60.0  # generous: a busy 2-core CI machine is slow, a correct monitor is quick


def _differences_or_error(db: Path, sim: SimulatorHandle) -> list[str]:
    if not db.exists():
        return ["no store file yet"]
    try:
        return asyncio.run(_differences(db, sim))
    except Exception as exc:  # the first migration may still be running
        return [repr(exc)]


def _poll_until_equal(
    db: Path, sim: SimulatorHandle, monitor: subprocess.Popen[bytes]
) -> list[str]:
    """The store's differences from the venue once they are none, or the last ones at the deadline."""
    deadline = time.monotonic() + DEADLINE
    differences = _differences_or_error(db, sim)
    while differences and time.monotonic() < deadline and monitor.poll() is None:
        time.sleep(0.5)
        differences = _differences_or_error(db, sim)
    return differences


def _reconciliation_runs_or_zero(db: Path) -> int:
    try:
        return asyncio.run(_reconciliation_runs(db))
    except Exception:  # the store may be mid-migration
        return 0


@contextlib.contextmanager
def _monitor_process(
    sim: SimulatorHandle, tmp_path: Path, db: Path, *options: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """``alpacactl monitor --no-status *options`` on the embedded defaults, with its stdout and
    stderr files (not pipes: an INFO log nobody reads would fill a pipe and block it); stopped
    with SIGTERM when the block ends (killed if it does not stop)."""
    alpacactl = str(Path(sys.executable).parent / "alpacactl")
    stdout_path, stderr_path = tmp_path / "monitor.out", tmp_path / "monitor.err"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        monitor = subprocess.Popen(
            [alpacactl, "monitor", "--no-status", *options],
            cwd=tmp_path,
            env=_env(sim, db),
            stdout=out,
            stderr=err,
        )
    try:
        yield monitor, stdout_path, stderr_path
        monitor.send_signal(signal.SIGTERM)
        monitor.wait(timeout=30)
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()


def test_monitor_syncs_on_embedded_defaults_and_stops_on_sigterm(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """Keys and a URL only: a SQLite store equal to the venue; SIGTERM exits 0."""
    db = tmp_path / "monitor.db"
    asyncio.run(_trade(simulator))
    with _monitor_process(simulator, tmp_path, db, "--log-json", "--log-level", "INFO") as (
        monitor,
        stdout_path,
        stderr_path,
    ):
        first = _poll_until_equal(db, simulator, monitor)
        assert first == [], stderr_path.read_text(errors="replace")[-4000:]
        # More trading while it runs: the stream brings it in.
        asyncio.run(_trade(simulator))
        second = _poll_until_equal(db, simulator, monitor)
        assert second == [], stderr_path.read_text(errors="replace")[-4000:]
        # Reconciliation runs after the first periodic sync: wait for it rather than assume it.
        deadline = time.monotonic() + DEADLINE
        while _reconciliation_runs_or_zero(db) < 1 and time.monotonic() < deadline:
            if monitor.poll() is not None:
                break
            time.sleep(0.5)
    stderr = stderr_path.read_text(errors="replace")
    assert monitor.returncode == 0, stderr[-4000:]
    assert asyncio.run(_reconciliation_runs(db)) >= 1, "the monitor reconciles on start"
    assert SIM_SECRET_KEY not in stderr
    assert SIM_SECRET_KEY not in stdout_path.read_text(errors="replace")
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    assert lines, "--log-json writes one JSON object per line"


def test_monitor_without_keys_says_how_to_start(tmp_path: Path) -> None:
    """No keys configured: exit 2 (configuration) with the fix, not a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    alpacactl = str(Path(sys.executable).parent / "alpacactl")
    result = subprocess.run(
        [alpacactl, "monitor"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "ALPACA_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


async def _activity_events_checkpoint(db: Path) -> str | None:
    store = await Store.open(f"sqlite:///{db}")
    try:
        return await store.get_checkpoint("default", "activity_events")
    finally:
        await store.aclose()


def test_monitor_with_the_activities_stream_resumes_it_from_the_store(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """`--activities-stream`: the activities arrive by the SSE stream (its checkpoint is
    stored), the store equals the venue, SIGTERM exits 0, the secret is in no log."""
    db = tmp_path / "monitor.db"
    with _monitor_process(
        simulator, tmp_path, db, "--activities-stream", "--log-level", "INFO"
    ) as (
        monitor,
        stdout_path,
        stderr_path,
    ):
        assert _poll_until_equal(db, simulator, monitor) == [], stderr_path.read_text()[-4000:]
        asyncio.run(_trade(simulator))
        assert _poll_until_equal(db, simulator, monitor) == [], stderr_path.read_text()[-4000:]
        deadline = time.monotonic() + DEADLINE
        checkpoint = None
        while checkpoint is None and time.monotonic() < deadline and monitor.poll() is None:
            try:
                checkpoint = asyncio.run(_activity_events_checkpoint(db))
            except Exception:  # the store may be mid-migration
                checkpoint = None
            time.sleep(0.5)
    stderr = stderr_path.read_text(errors="replace")
    assert monitor.returncode == 0, stderr[-4000:]
    assert checkpoint, "the activities came through the stream"
    assert "falling back to REST paging" not in stderr
    assert SIM_SECRET_KEY not in stderr
    assert SIM_SECRET_KEY not in stdout_path.read_text(errors="replace")
