"""A simulator the end-to-end tests start for themselves."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from alpaca_integration.simulator import SimConfig
from alpaca_integration.simulator.testing import SimulatorHandle, running_simulator

__all__ = ["priced_simulator"]


@contextlib.contextmanager
def priced_simulator(seed: int, **prices: str) -> Iterator[SimulatorHandle]:
    """A fresh always-open simulator (``seed``, no rate limit) with AAPL at 100.00 and each of
    ``prices`` (symbol=price) pinned."""
    with running_simulator(SimConfig(clock="always-open", seed=seed, rate_limit=0)) as handle:
        for symbol, price in {"AAPL": "100.00", **prices}.items():
            handle.set_price(symbol, price)
        yield handle
