"""An Alpaca-compatible paper-trading venue: REST under ``/v2``, the trade_updates WebSocket at
``/stream``, an admin API under ``/_sim``; a matching engine, a market clock, fault injection.

``create_app(config)`` builds the ASGI app; ``SimConfig`` / ``FaultConfig`` configure it;
``testing.running_simulator`` serves it in a background thread for tests and scripts. See
docs/simulator.md.

Names are exported lazily so that importing this package (e.g. for ``SimConfig``) does not load
Starlette or uvicorn (``_lazy``, standard library only, does that). The simulator imports nothing
else from the package but ``errors``: it speaks Alpaca's wire format itself.
"""

from __future__ import annotations

from typing import Any

from alpaca_integration._lazy import lazy_attribute

__all__ = [
    "FaultConfig",
    "SimConfig",
    "SimulatorHandle",
    "create_app",
    "running_simulator",
]

_EXPORTS = {
    "FaultConfig": "alpaca_integration.simulator.config",
    "SimConfig": "alpaca_integration.simulator.config",
    "create_app": "alpaca_integration.simulator.app",
    "SimulatorHandle": "alpaca_integration.simulator.testing",
    "running_simulator": "alpaca_integration.simulator.testing",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _EXPORTS, name, globals())


def __dir__() -> list[str]:
    return __all__
