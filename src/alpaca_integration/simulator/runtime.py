"""The running venue: everything one simulator holds, rebuilt from its configuration on reset.

``SimulatorState`` owns the clock, the calendar, the market, the broker, the rate limiter, the
stream hub and the faults in force; the REST gate (``rest``), the admin API (``admin``) and the
app (``app``) read it from ``app.state.sim``. Every HTTP answer carries a ``Date`` header from
the venue's clock (``http_date``), so a client can measure the clock-skew fault. The stream hub survives a reset (its connections
stay open); everything else starts over.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import email.utils
import random
from typing import Any

from alpaca_integration.simulator.broker import Broker
from alpaca_integration.simulator.clock import (
    NEW_YORK,
    AlwaysOpenCalendar,
    SimClock,
    TradingCalendar,
    XnysCalendar,
)
from alpaca_integration.simulator.config import FaultConfig, SimConfig
from alpaca_integration.simulator.events import ActivityEventHub
from alpaca_integration.simulator.market import Market, build_assets, load_bars
from alpaca_integration.simulator.ratelimit import RateLimiter
from alpaca_integration.simulator.stream import StreamHub

__all__ = ["SimulatorState"]


class SimulatorState:
    """Everything one running venue holds; ``reset`` rebuilds it from the configuration."""

    def __init__(self, config: SimConfig) -> None:
        self.base_config = config
        self.config = config
        self.faults = config.faults
        self._fault_rng = random.Random(f"{config.seed}:faults")
        self.build(config)

    def build(self, config: SimConfig) -> None:
        self.config = config
        self.clock = SimClock(
            config.start_time,
            realtime=config.realtime,
            skew_seconds=self.faults.clock_skew_seconds,
        )
        self._date_second = -1
        self._date = b""
        self.calendar: TradingCalendar = (
            AlwaysOpenCalendar() if config.clock == "always-open" else XnysCalendar()
        )
        self.assets = build_assets(config.symbols, config.seed)
        bars = load_bars(config.bars_file) if config.bars_file is not None else None
        self.market = Market(
            self.assets,
            seed=config.seed,
            start=self.clock.now(),
            volatility=config.volatility,
            step_seconds=config.price_step_seconds,
            bars=bars,
        )
        self.limiter = RateLimiter(config.rate_limit) if config.rate_limit else None
        hub = getattr(self, "hub", None)
        self.broker = Broker(
            config,
            clock=self.clock,
            calendar=self.calendar,
            market=self.market,
            assets=self.assets,
            sink=None,
        )
        self._apply_faults()
        if hub is None:
            hub = StreamHub(
                authenticate=lambda key, secret: self.broker.authenticate(key, secret),
                faults=lambda: self.faults,
                seed=config.seed,
            )
        self.hub: StreamHub = hub
        self.broker.sink = hub.publish
        events = getattr(self, "activity_events", None)
        if events is None:
            events = ActivityEventHub(
                faults=lambda: self.faults,
                execution_ids=lambda: self.broker.accounting.execution_ids,
                seed=config.seed,
            )
        else:
            # The accounts are rebuilt: streams of the old ones end (their clients resume).
            events.drop_all()
        self.activity_events: ActivityEventHub = events
        self.broker.accounting.on_activity = events.notify

    def reset(self, **overrides: Any) -> None:
        config = self.base_config.replace(**overrides) if overrides else self.base_config
        self.faults = config.faults
        self._fault_rng = random.Random(f"{config.seed}:faults")
        self.build(config)
        self.hub.apply_faults()
        self.activity_events.apply_faults()

    def set_faults(self, changes: dict[str, Any]) -> FaultConfig:
        self.faults = self.faults.merged(changes)
        self._apply_faults()
        self.hub.apply_faults()
        self.activity_events.apply_faults()
        return self.faults

    def _apply_faults(self) -> None:
        """Hand the faults in force to the parts that apply them (the stream hub and the REST
        gate read ``faults`` themselves)."""
        faults = self.faults
        if self.clock.skew_seconds != faults.clock_skew_seconds:
            self.clock.set_skew(faults.clock_skew_seconds)
        if self.limiter is not None:
            self.limiter.skew_seconds = faults.clock_skew_seconds
        self.broker.apply_faults(faults)

    def http_date(self) -> bytes:
        """An answer's HTTP ``Date``: the venue's clock (clock skew included), to the second."""
        second = int(self.clock.now().timestamp())
        if second != self._date_second:
            self._date_second = second
            self._date = email.utils.formatdate(second, usegmt=True).encode()
        return self._date

    def roll(self, rate: float) -> bool:
        return rate > 0 and self._fault_rng.random() < rate

    def clock_json(self) -> dict[str, Any]:
        self.broker.sync()
        now = self.clock.now()
        calendar = self.calendar
        return {
            "timestamp": now.astimezone(NEW_YORK).isoformat(),
            "is_open": calendar.phase(now) == "regular",
            "next_open": calendar.next_open(now).astimezone(NEW_YORK).isoformat(),
            "next_close": calendar.next_close(now).astimezone(NEW_YORK).isoformat(),
        }
