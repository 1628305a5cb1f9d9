"""Testing helpers shipped with the product: the simulator in a thread, the store-vs-venue
comparer, and the demo's trading sessions.

* ``running_simulator``, ``SimulatorHandle``, ``SIM_API_KEY``, ``SIM_SECRET_KEY``: re-exported
  from ``simulator.testing`` (the simulator itself must not import the integration, which is why
  the helpers that join both live here and not there);
* ``testing.compare``: ``compare_with_venue``, ``store_view``, ``normalize_store_dump`` (the check behind "the
  store equals the venue");
* ``testing.sessions``: ``scripted_session``, ``random_session`` (orders of every type);
* ``testing.demo``: ``run_demo`` (``alpacactl demo``);
* ``testing.processes``: ``stop_process`` (a signal, a bounded wait, then SIGKILL).

This is the top of the package: it may import anything in it; nothing in the package but the CLI
(``demo``) and the old re-export paths imports it. Names are resolved lazily, so importing one
module here does not load the simulator.
"""

from __future__ import annotations

from typing import Any

from alpaca_integration._lazy import lazy_attribute

__all__ = [
    "DEMO_ACCOUNT",
    "SIM_API_KEY",
    "SIM_SECRET_KEY",
    "SessionStats",
    "SimulatorHandle",
    "compare_with_venue",
    "normalize_store_dump",
    "random_session",
    "run_demo",
    "running_simulator",
    "scripted_session",
    "stop_process",
    "store_view",
]

_HOMES = {
    "SIM_API_KEY": "alpaca_integration.simulator.testing",
    "SIM_SECRET_KEY": "alpaca_integration.simulator.testing",
    "SimulatorHandle": "alpaca_integration.simulator.testing",
    "running_simulator": "alpaca_integration.simulator.testing",
    "compare_with_venue": "alpaca_integration.testing.compare",
    "normalize_store_dump": "alpaca_integration.testing.compare",
    "store_view": "alpaca_integration.testing.compare",
    "SessionStats": "alpaca_integration.testing.sessions",
    "random_session": "alpaca_integration.testing.sessions",
    "scripted_session": "alpaca_integration.testing.sessions",
    "DEMO_ACCOUNT": "alpaca_integration.testing.demo",
    "run_demo": "alpaca_integration.testing.demo",
    "stop_process": "alpaca_integration.testing.processes",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _HOMES, name)


def __dir__() -> list[str]:
    return __all__
