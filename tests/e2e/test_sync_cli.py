"""`alpacactl sync`: the one-shot backfill a user runs first."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.models import OrderRequest, OrderSide
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from support.cli_runs import child_env

pytestmark = [pytest.mark.e2e]


async def _trade(sim: SimulatorHandle, n: int) -> None:
    await sim.aset_price("MSFT", Decimal("400.00"))
    async with AlpacaClient(SIM_API_KEY, SIM_SECRET_KEY, sim.base_url) as client:
        for i in range(n):
            side = OrderSide.BUY if i % 2 == 0 else OrderSide.SELL
            await client.submit_order(OrderRequest(symbol="MSFT", side=side, qty=Decimal(1)))


def test_sync_backfills_then_finds_nothing_new(simulator: SimulatorHandle, tmp_path: Path) -> None:
    """The first run reads every order and writes them; a second run changes no row."""
    asyncio.run(_trade(simulator, 6))
    env = child_env(simulator.base_url, f"sqlite:///{tmp_path / 'sync.db'}")
    alpacactl = str(Path(sys.executable).parent / "alpacactl")

    def run() -> str:
        result = subprocess.run(
            [alpacactl, "sync", "--no-progress"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    first = run()
    assert "default: 6 orders read" in first
    assert "orders 6, fills 6" in first
    second = run()
    assert "orders 0, fills 0, activities 0, positions 0" in second
