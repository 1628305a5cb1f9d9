"""Moved: the demo now lives in :mod:`alpaca_integration.testing.demo` (``run_demo``) and its
trading sessions in :mod:`alpaca_integration.testing.sessions`. This module re-exports every name
it had so old imports keep working; it adds nothing of its own.
"""

from __future__ import annotations

from alpaca_integration.testing.demo import DEMO_ACCOUNT, DEMO_CLOCKS, run_demo
from alpaca_integration.testing.sessions import (
    DEMO_SYMBOLS,
    SessionStats,
    random_session,
    scripted_session,
)

__all__ = [
    "DEMO_ACCOUNT",
    "DEMO_CLOCKS",
    "DEMO_SYMBOLS",
    "SessionStats",
    "random_session",
    "run_demo",
    "scripted_session",
]
