"""Fixtures for the client's unit tests (fakes live in client_fakes.py)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from client_fakes import BASE_URL, KEY_ID, SECRET, FakeClock, FakeVenue

from alpaca_integration.alpaca.client import AlpacaClient, RetryPolicy
from alpaca_integration.alpaca.ratelimit import InMemoryRateBudget


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def venue() -> FakeVenue:
    return FakeVenue()


@pytest.fixture
def make_client(clock: FakeClock, venue: FakeVenue) -> Callable[..., AlpacaClient]:
    """Build an AlpacaClient on the fake venue, fake clock and a seeded rng."""

    def build(**options: Any) -> AlpacaClient:
        budget = options.pop("rate_budget", None) or InMemoryRateBudget(
            options.pop("rate_limit", 200),
            60.0,
            order_reserve=options.pop("order_reserve", None),
            clock=clock,
            sleep=clock.sleep,
        )
        options.setdefault("retry", RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=4.0))
        client = AlpacaClient(
            KEY_ID,
            SECRET,
            BASE_URL,
            rate_budget=budget,
            transport=venue.transport(),
            sleep=clock.sleep,
            clock=clock,
            rng=random.Random(7),
            **options,
        )
        return client

    return build
