"""Simulator unit-test fixtures: ``venue(**config)`` builds a ``sim_venue.Venue``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sim_venue import Venue

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
