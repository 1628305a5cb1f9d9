"""Simulator unit-test fixtures: ``venue(**config)`` builds a ``sim_venue.Venue``;
``client_for(**config)`` an in-process client of the app (``sim_venue.app_client``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sim_venue import Venue, app_client

from alpaca_integration.simulator.config import SimConfig


@pytest.fixture
def venue() -> Callable[..., Venue]:
    """Build a ``Venue``: always open, seed 1, no price moves, unless overridden."""

    def build(**overrides: Any) -> Venue:
        settings: dict[str, Any] = {
            "clock": "always-open",
            "seed": 1,
            "volatility": 0.0,
            "rate_limit": 0,
            "tick_interval": 0,
        }
        settings.update(overrides)
        return Venue(SimConfig(**settings))

    return build


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Build in-process clients of simulators configured with ``SimConfig(**overrides)``."""
    clients: list[httpx.AsyncClient] = []

    def build(**overrides: Any) -> httpx.AsyncClient:
        client = app_client(**overrides)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()
