"""A simulator the end-to-end tests start for themselves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from alpaca_integration.config import AccountConfig
from alpaca_integration.simulator import SimConfig
from alpaca_integration.simulator.testing import SimulatorHandle, running_simulator
from alpaca_integration.testing import SIM_API_KEY, SIM_SECRET_KEY

__all__ = ["priced_simulator", "sim_account"]


@contextlib.contextmanager
def priced_simulator(seed: int, **prices: str) -> Iterator[SimulatorHandle]:
    """A fresh always-open simulator (``seed``, no rate limit) with AAPL at 100.00 and each of
    ``prices`` (symbol=price) pinned."""
    with running_simulator(SimConfig(clock="always-open", seed=seed, rate_limit=0)) as handle:
        for symbol, price in {"AAPL": "100.00", **prices}.items():
            handle.set_price(symbol, price)
        yield handle


def sim_account(handle: SimulatorHandle, name: str = "default") -> AccountConfig:
    """The simulator's demo account as a monitor's configured account (a generous rate limit:
    the tests' own budget never paces them)."""
    return AccountConfig(
        name=name,
        api_key=SIM_API_KEY,
        secret_key=SIM_SECRET_KEY,
        base_url=handle.base_url,
        rate_limit=100_000,
    )
