"""The public API is pinned: a name the package or a documented module exports keeps working.

``public_api.json`` (beside this file) lists, per module named in the README and ``docs/``, the
names its ``__all__`` exported when it was last written. A pinned name that no longer imports
fails here (a move must leave the old import path working); a name added to an ``__all__`` (a
star re-export grows it silently) fails until it is pinned on purpose:

    ./dev run python tests/unit/test_public_api.py --update
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

PINNED = Path(__file__).with_name("public_api.json")

# The modules the README and docs/ name for users to import from.
DOCUMENTED = (
    "alpaca_integration",
    "alpaca_integration.alpaca.client",
    "alpaca_integration.alpaca.ratelimit",
    "alpaca_integration.alpaca.stream",
    "alpaca_integration.cache",
    "alpaca_integration.checks.quality",
    "alpaca_integration.checks.reconcile",
    "alpaca_integration.checks.risk",
    "alpaca_integration.config",
    "alpaca_integration.dashboard",
    "alpaca_integration.errors",
    "alpaca_integration.flows",
    "alpaca_integration.ledger",
    "alpaca_integration.models",
    "alpaca_integration.monitor.service",
    "alpaca_integration.order_fields",
    "alpaca_integration.quality",
    "alpaca_integration.reconcile",
    "alpaca_integration.report",
    "alpaca_integration.service",
    "alpaca_integration.simulator",
    "alpaca_integration.simulator.testing",
    "alpaca_integration.storage",
    "alpaca_integration.sync",
    "alpaca_integration.sync.validation",
    "alpaca_integration.testing",
    "alpaca_integration.testing.compare",
)


def exported(module_name: str) -> list[str]:
    return sorted(importlib.import_module(module_name).__all__)


def pinned() -> dict[str, list[str]]:
    loaded: dict[str, list[str]] = json.loads(PINNED.read_text(encoding="utf-8"))
    return loaded


def test_every_documented_module_is_pinned() -> None:
    assert sorted(pinned()) == sorted(DOCUMENTED)


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_every_pinned_name_still_imports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in pinned()[module_name] if not hasattr(module, name)]
    assert not missing, (
        f"{module_name} no longer has {missing}: users import these; leave the old path working"
    )


@pytest.mark.parametrize("module_name", DOCUMENTED)
def test_no_name_joins_the_public_api_unnoticed(module_name: str) -> None:
    added = sorted(set(exported(module_name)) - set(pinned()[module_name]))
    assert not added, (
        f"{module_name}.__all__ gained {added}: if they are meant to be public, run "
        "./dev run python tests/unit/test_public_api.py --update"
    )


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    snapshot = {name: exported(name) for name in DOCUMENTED}
    PINNED.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"pinned {sum(map(len, snapshot.values()))} names of {len(snapshot)} modules")
