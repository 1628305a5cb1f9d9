"""Run the simulator inside a test (or a script): a real uvicorn server on 127.0.0.1 in a
background thread, and a handle with the admin calls as plain methods.

    with running_simulator(SimConfig(clock="always-open", seed=7)) as sim:
        client = TradingClient(SIM_API_KEY, SIM_SECRET_KEY, paper=True, url_override=sim.base_url)
        sim.set_price("AAPL", "190.00")
        ...
        state = sim.dump(SIM_API_KEY)

Each helper has an ``a``-prefixed coroutine twin (``await sim.aset_price(...)``) for async tests.
This module ships with the product (like structlog's ``testing``) and imports no test framework.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import uvicorn

from alpaca_integration.simulator.app import create_app
from alpaca_integration.simulator.config import DEMO_API_KEY, DEMO_SECRET_KEY, SimConfig

__all__ = [
    "SIM_API_KEY",
    "SIM_SECRET_KEY",
    "SimulatorHandle",
    "running_simulator",
]

SIM_API_KEY = DEMO_API_KEY
SIM_SECRET_KEY = DEMO_SECRET_KEY


class SimulatorHandle:
    """Where a running simulator answers, and its admin API as methods."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}"
        self.stream_url = f"ws://{host}:{port}/stream"
        self.admin_url = f"{self.base_url}/_sim"
        self._client = httpx.Client(base_url=self.admin_url, timeout=30.0)

    def __repr__(self) -> str:
        return f"SimulatorHandle(base_url={self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._client.request(method, path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(
                f"simulator admin {method} {path} failed with {response.status_code}: "
                f"{response.text}"
            )
        return response.json()

    async def _acall(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.admin_url, timeout=30.0) as client:
            response = await client.request(method, path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(
                f"simulator admin {method} {path} failed with {response.status_code}: "
                f"{response.text}"
            )
        return response.json()

    @staticmethod
    def _price_body(symbol: str, price: Decimal | str | float) -> dict[str, Any]:
        return {"symbol": symbol, "price": str(price)}

    # -- sync helpers

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "/health"))

    def reset(self, **overrides: Any) -> None:
        """Forget every account, order and price move (``seed``/``starting_cash`` may change)."""
        self._call("POST", "/reset", overrides)

    def set_price(self, symbol: str, price: Decimal | str | float) -> Decimal:
        """Pin ``symbol`` at ``price`` (matching runs at once); returns the quantized price."""
        return Decimal(self._call("POST", "/price", self._price_body(symbol, price))["price"])

    def release_price(self, symbol: str) -> None:
        self._call("POST", "/price", {"symbol": symbol, "release": True})

    def split(self, symbol: str, new_rate: int | str, old_rate: int | str = 1) -> dict[str, Any]:
        """Split ``symbol`` now (``new_rate`` for ``old_rate``: 2, 1 forward; 1, 10 reverse)."""
        body = {"symbol": symbol, "new_rate": str(new_rate), "old_rate": str(old_rate)}
        return dict(self._call("POST", "/split", body))

    def prices(self) -> dict[str, Decimal]:
        return {s: Decimal(p) for s, p in self._call("GET", "/prices").items()}

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move simulated time forward (crossing opens and closes runs their auctions)."""
        return dict(self._call("POST", "/clock/advance", {"seconds": seconds}))

    def clock(self) -> dict[str, Any]:
        return dict(self._call("GET", "/clock"))

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Change faults (names of ``FaultConfig``); ``reset=True`` clears the others first."""
        return dict(self._call("POST", "/faults", faults))

    def faults(self) -> dict[str, Any]:
        return dict(self._call("GET", "/faults"))

    def tick(self) -> None:
        self._call("POST", "/tick")

    def drop_streams(self) -> int:
        return int(self._call("POST", "/stream/drop")["dropped"])

    def dump(self, key_id: str) -> dict[str, Any]:
        """Full state of ``key_id``'s account: orders (legs nested), fills, activities,
        positions, cash, equity, realized P&L, fees, watchlists, configuration."""
        return dict(self._call("GET", f"/accounts/{key_id}/dump"))

    def events(self, key_id: str, since: int = 0) -> dict[str, Any]:
        return dict(self._call("GET", f"/accounts/{key_id}/events?since={since}"))

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/stats"))

    # -- async twins

    async def areset(self, **overrides: Any) -> None:
        await self._acall("POST", "/reset", overrides)

    async def aset_price(self, symbol: str, price: Decimal | str | float) -> Decimal:
        body = await self._acall("POST", "/price", self._price_body(symbol, price))
        return Decimal(body["price"])

    async def aadvance_clock(self, seconds: float) -> dict[str, Any]:
        return dict(await self._acall("POST", "/clock/advance", {"seconds": seconds}))

    async def aset_faults(self, **faults: Any) -> dict[str, Any]:
        return dict(await self._acall("POST", "/faults", faults))

    async def atick(self) -> None:
        await self._acall("POST", "/tick")

    async def adump(self, key_id: str) -> dict[str, Any]:
        return dict(await self._acall("GET", f"/accounts/{key_id}/dump"))

    async def aevents(self, key_id: str, since: int = 0) -> dict[str, Any]:
        return dict(await self._acall("GET", f"/accounts/{key_id}/events?since={since}"))


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        """The server runs in a helper thread: signals stay with the main thread."""


@contextlib.contextmanager
def running_simulator(
    config: SimConfig | None = None, *, port: int = 0, host: str = "127.0.0.1"
) -> Iterator[SimulatorHandle]:
    """Serve the simulator with uvicorn in a background thread until the block exits."""
    app = create_app(config)
    # IPPROTO_TCP: asyncio disables Nagle only on sockets declared TCP (else ~40 ms stalls).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = int(sock.getsockname()[1])
    server = _Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            ws="websockets-sansio",
            timeout_graceful_shutdown=2,
            # The app dates every answer from the venue's clock (the clock-skew fault).
            date_header=False,
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="alpaca-simulator", daemon=True
    )
    thread.start()
    handle = SimulatorHandle(host, bound_port)
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start (see the log above)")
            time.sleep(0.01)
        handle.health()
        yield handle
    finally:
        handle.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
