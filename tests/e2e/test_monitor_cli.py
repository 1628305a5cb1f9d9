"""`alpacactl monitor` as a user runs it: a subprocess on the embedded defaults (SQLite file,
in-memory cache) against the simulator; SIGTERM stops it gracefully."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.models import OrderRequest, OrderSide
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.sync.compare import compare_with_venue, normalize_store_dump

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _env(sim: SimulatorHandle, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    env.update(
        ALPACA_API_KEY=SIM_API_KEY,
        ALPACA_SECRET_KEY=SIM_SECRET_KEY,
        ALPACA_BASE_URL=sim.base_url,
        ALPACA_DATABASE_URL=f"sqlite:///{db}",
        ALPACA_UPDATE_INTERVAL="1",
    )
    return env


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
        dump = normalize_store_dump(await store.dump("default"))
    finally:
        await store.aclose()
    return compare_with_venue(dump, await asyncio.to_thread(sim.dump, SIM_API_KEY))


def test_monitor_syncs_on_embedded_defaults_and_stops_on_sigterm(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """Keys and a URL only: a SQLite store equal to the venue; SIGTERM exits 0."""
    db = tmp_path / "monitor.db"
    alpacactl = str(Path(sys.executable).parent / "alpacactl")
    asyncio.run(_trade(simulator))
    monitor = subprocess.Popen(
        [alpacactl, "monitor", "--no-status", "--log-json", "--log-level", "INFO"],
        cwd=tmp_path,
        env=_env(simulator, db),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        differences = ["not synced yet"]
        deadline = time.monotonic() + 30
        while differences and time.monotonic() < deadline:
            time.sleep(0.5)
            if db.exists():
                try:
                    differences = asyncio.run(_differences(db, simulator))
                except Exception as exc:  # the first migration may still be running
                    differences = [repr(exc)]
        # More trading while it runs: the stream brings it in.
        asyncio.run(_trade(simulator))
        deadline = time.monotonic() + 30
        differences = ["not synced yet"]
        while differences and time.monotonic() < deadline:
            time.sleep(0.5)
            differences = asyncio.run(_differences(db, simulator))
        monitor.send_signal(signal.SIGTERM)
        _, stderr = monitor.communicate(timeout=30)
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()
    assert differences == []
    assert monitor.returncode == 0, stderr
    assert asyncio.run(_reconciliation_runs(db)) >= 1, "the monitor reconciles on start"
    assert SIM_SECRET_KEY not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    assert lines, "--log-json writes one JSON object per line"


def test_monitor_without_keys_says_how_to_start(tmp_path: Path) -> None:
    """No keys configured: exit 1 with the fix, not a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    alpacactl = str(Path(sys.executable).parent / "alpacactl")
    result = subprocess.run(
        [alpacactl, "monitor"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "ALPACA_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr
