"""`alpacactl performance --fetch-history` against the simulator: Alpaca's daily portfolio history
fetched, stored (SQLite) and read back, twice without duplicates."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from support.cli_runs import cli, cli_json, user_env
from support.sim_runs import priced_simulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with priced_simulator(5) as handle:
        yield handle


async def _stored(url: str) -> Any:
    async with await Store.open(url) as store:
        return await store.portfolio_history("default")


def test_fetch_history_stores_the_venues_daily_equity(
    sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a sync, --fetch-history stores the venue's daily equity (the last point is the
    account's equity) and the figures follow; fetching again replaces the same points."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = {**user_env(sim.base_url, SIM_API_KEY, SIM_SECRET_KEY), "ALPACA_DATABASE_URL": url}
    cli(env, "sync")  # the account's orders, fills, activities and a snapshot, as a user would
    out = cli(env, "performance", "--fetch-history", "--period", "1W")
    found = re.search(r"portfolio history: (\d+) day\(s\) stored for default", out)
    assert found is not None, out
    first = asyncio.run(_stored(url))
    assert first is not None
    assert len(first.timestamps) == int(found.group(1)) >= 1
    assert first.timeframe == "1D"
    account = cli_json(env, "account")
    assert first.equity[-1] == pytest.approx(float(account["equity"]))
    cli_json(env, "performance", "--fetch-history", "--period", "1W")
    assert asyncio.run(_stored(url)).timestamps == first.timestamps
