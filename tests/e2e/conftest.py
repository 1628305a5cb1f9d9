"""Fixtures for end-to-end tests: a real simulator over real sockets.

``simulator`` is a fresh venue per test (always-open clock, seed 1234, a generous 1,000
requests/minute budget so the rate-limit headers are present but never bite, matching every
50 ms). ``simulator_factory(**config)`` starts more, or differently configured, venues. The key
pair constants are the simulator's demo keys; any other pair works too (each is its own account).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.testing import (
    SIM_API_KEY,
    SIM_SECRET_KEY,
    SimulatorHandle,
    running_simulator,
)

__all__ = ["SIM_API_KEY", "SIM_SECRET_KEY", "SIM_SEED", "e2e_config"]

SIM_SEED = 1234


def e2e_config(**overrides: Any) -> SimConfig:
    """The configuration of the ``simulator`` fixture, with ``overrides`` applied."""
    settings: dict[str, Any] = {
        "clock": "always-open",
        "seed": SIM_SEED,
        "rate_limit": 1000,
        "tick_interval": 0.05,
    }
    settings.update(overrides)
    return SimConfig(**settings)


@pytest.fixture
def simulator() -> Iterator[SimulatorHandle]:
    """A fresh always-open simulator (seed 1234) on a free port, stopped after the test."""
    with running_simulator(e2e_config()) as handle:
        yield handle


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., SimulatorHandle]]:
    """Start simulators with ``e2e_config(**overrides)``; all are stopped after the test."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> SimulatorHandle:
            return stack.enter_context(running_simulator(e2e_config(**overrides)))

        yield start


@pytest.fixture
def sim_keys() -> tuple[str, str]:
    """The demo key pair (API key id, secret key)."""
    return SIM_API_KEY, SIM_SECRET_KEY
