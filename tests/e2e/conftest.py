"""Fixtures for end-to-end tests: a real simulator over real sockets.

``simulator`` is a fresh venue per test (always-open clock, seed 1234, a generous 1,000
requests/minute budget so the rate-limit headers are present but never bite, matching every
50 ms). ``simulator_factory(**config)`` starts more, or differently configured, venues. The key
pair constants are the simulator's demo keys; any other pair works too (each is its own account).
``trading_stream`` runs alpaca-py's ``TradingStream`` against ``simulator`` in a helper thread and
records every update (``StreamRecorder``). ``store`` is a migrated PostgreSQL store of the
test's own database.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from alpaca_integration.monitor.runtime import opened_store
from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.testing import (
    SIM_API_KEY,
    SIM_SECRET_KEY,
    SimulatorHandle,
    running_simulator,
)
from alpaca_integration.storage import Store

__all__ = [
    "OPTIONS_DAY",
    "SIM_API_KEY",
    "SIM_SECRET_KEY",
    "SIM_SEED",
    "StreamRecorder",
    "e2e_config",
]

SIM_SEED = 1234
# Monday 2024-03-04 10:00 New York: AAPL's option chain has contracts expiring at 16:00 that day.
OPTIONS_DAY = dt.datetime(2024, 3, 4, 15, 0, tzinfo=dt.UTC)


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
async def store(postgres_url: str) -> AsyncIterator[Store]:
    """A migrated PostgreSQL store of the test's own database."""
    async with opened_store(postgres_url, migrate=True) as opened:
        yield opened


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
def options_day(simulator_factory: Callable[..., SimulatorHandle]) -> SimulatorHandle:
    """A venue started at ``OPTIONS_DAY`` whose clock moves only when told; no rate limit."""
    return simulator_factory(start_time=OPTIONS_DAY, realtime=False, rate_limit=0)


@pytest.fixture
def sim_keys() -> tuple[str, str]:
    """The demo key pair (API key id, secret key)."""
    return SIM_API_KEY, SIM_SECRET_KEY


class StreamRecorder:
    """alpaca-py's ``TradingStream`` in a helper thread, collecting every TradeUpdate."""

    def __init__(
        self, handle: SimulatorHandle, key: str = SIM_API_KEY, secret: str = SIM_SECRET_KEY
    ):
        from alpaca.trading.stream import TradingStream

        self.handle = handle
        self.updates: list[Any] = []
        self._lock = threading.Lock()
        self.stream = TradingStream(key, secret, paper=True, url_override=handle.stream_url)

        async def on_update(update: Any) -> None:
            with self._lock:
                self.updates.append(update)

        self.stream.subscribe_trade_updates(on_update)
        self.thread = threading.Thread(target=self.stream.run, name="trading-stream", daemon=True)

    def start(self) -> StreamRecorder:
        self.thread.start()
        deadline = time.monotonic() + 15
        while self.handle.stats()["stream_listeners"] < 1:
            if time.monotonic() > deadline:
                raise AssertionError("TradingStream did not start listening within 15 s")
            time.sleep(0.02)
        return self

    def events_of(self, order_id: str) -> list[str]:
        with self._lock:
            return [
                str(u.event.value if hasattr(u.event, "value") else u.event)
                for u in self.updates
                if str(u.order.id) == order_id
            ]

    def wait_for(self, order_id: str, count: int, timeout: float = 10.0) -> list[str]:
        """The events of ``order_id`` once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while len(self.events_of(order_id)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"order {order_id}: expected {count} events, got {self.events_of(order_id)}"
                )
            time.sleep(0.01)
        return self.events_of(order_id)

    def stop(self) -> None:
        # stop() flags the stream; dropping the connection wakes its receive loop at once.
        self.stream.stop()
        self.handle.drop_streams()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "TradingStream thread did not stop"


@pytest.fixture
def trading_stream(simulator: SimulatorHandle) -> Iterator[StreamRecorder]:
    """alpaca-py's TradingStream listening to the ``simulator`` fixture with the demo keys."""
    recorder = StreamRecorder(simulator).start()
    try:
        yield recorder
    finally:
        recorder.stop()
