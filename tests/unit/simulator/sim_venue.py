"""The simulator without a network (imported by the simulator unit tests).

``Venue`` holds a broker with frozen simulated time, zero volatility, and every event it emitted;
``venue.submit(...)`` places an order for the default account with Alpaca-style fields.
``app_client(**config)`` is an httpx client of the whole ASGI app in-process (no sockets, no
background ticker), authenticated with ``APP_AUTH``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx

from alpaca_integration.simulator.app import create_app
from alpaca_integration.simulator.broker import Broker
from alpaca_integration.simulator.clock import AlwaysOpenCalendar, SimClock, XnysCalendar
from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.market import Market, build_assets
from alpaca_integration.simulator.state import Account

__all__ = [
    "APP_AUTH",
    "APP_KEY",
    "KEY",
    "MONDAY_10AM",
    "SECRET",
    "Venue",
    "app_client",
    "bracket",
    "oco",
]

KEY = "PKUNITTEST0000000001"
SECRET = "unit-secret"
# A Monday in regular trading hours (10:00 New York, EST).
MONDAY_10AM = dt.datetime(2024, 3, 4, 15, 0, tzinfo=dt.UTC)
APP_KEY = "PKAPPTEST00000000001"
APP_AUTH = {"APCA-API-KEY-ID": APP_KEY, "APCA-API-SECRET-KEY": "app-secret"}


def app_client(**overrides: Any) -> httpx.AsyncClient:
    """A client of ``create_app(SimConfig(**overrides))`` (always open, seed 3, no ticker)."""
    settings: dict[str, Any] = {"clock": "always-open", "seed": 3, "tick_interval": 0}
    settings.update(overrides)
    transport = httpx.ASGITransport(app=create_app(SimConfig(**settings)))
    return httpx.AsyncClient(transport=transport, base_url="http://sim", headers=APP_AUTH)


class Venue:
    """A broker and its moving parts, driven directly."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = SimClock(config.start_time or MONDAY_10AM, realtime=False)
        self.calendar = AlwaysOpenCalendar() if config.clock == "always-open" else XnysCalendar()
        assets = build_assets(config.symbols, config.seed)
        self.market = Market(
            assets,
            seed=config.seed,
            start=self.clock.now(),
            volatility=config.volatility,
            step_seconds=config.price_step_seconds,
        )
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.broker = Broker(
            config,
            clock=self.clock,
            calendar=self.calendar,
            market=self.market,
            assets=assets,
            sink=lambda key, message: self.events.append((key, message)),
        )
        self.account: Account = self.broker.authenticate(KEY, SECRET)

    def submit(self, account: Account | None = None, **fields: Any) -> dict[str, Any]:
        body = {"type": "market", "time_in_force": "day", **fields}
        body = {k: (str(v) if isinstance(v, Decimal | int | float) else v) for k, v in body.items()}
        return self.broker.submit_order(account or self.account, body)

    def price(self, symbol: str, price: str) -> None:
        self.broker.set_price(symbol, Decimal(price))

    def trade(self, symbol: str, side: str, qty: int | str, price: str) -> dict[str, Any]:
        """Move ``symbol`` to ``price``, then send a market order of ``qty`` (it fills there)."""
        self.price(symbol, price)
        return self.submit(symbol=symbol, qty=qty, side=side)

    def order(self, order_id: str) -> dict[str, Any]:
        from alpaca_integration.simulator.state import order_json

        return order_json(self.broker.get_order(self.account, order_id), nested=True)

    def event_names(self, order_id: str | None = None) -> list[str]:
        return [
            message["data"]["event"]
            for _, message in self.events
            if order_id is None or message["data"]["order"]["id"] == order_id
        ]

    def activities(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self.account.activities if kind is None or a["activity_type"] == kind]

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.broker.sync()


# What the bracket and the OCO below share: 10 AAPL, GTC, a take-profit limit at 110.
_WITH_EXITS: dict[str, Any] = {
    "symbol": "AAPL",
    "qty": "10",
    "type": "limit",
    "time_in_force": "gtc",
    "take_profit": {"limit_price": "110"},
}


def bracket(v: Venue, **overrides: Any) -> dict[str, Any]:
    """A bracket buying 10 AAPL at a limit of 100, take-profit 110, stop-loss 95 (GTC)."""
    entry = {"side": "buy", "limit_price": "100", "stop_loss": {"stop_price": "95"}}
    return v.submit(**{**_WITH_EXITS, "order_class": "bracket", **entry, **overrides})


def oco(v: Venue, **overrides: Any) -> dict[str, Any]:
    """An OCO exit selling 10 AAPL: a limit at 110 and a stop-loss at 90 (GTC)."""
    exit_pair = {"side": "sell", "stop_loss": {"stop_price": "90"}}
    return v.submit(**{**_WITH_EXITS, "order_class": "oco", **exit_pair, **overrides})
