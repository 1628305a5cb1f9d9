"""Moved: pre-trade risk now lives in :mod:`alpaca_integration.checks.risk` (the hook and
``client_for_account``), :mod:`alpaca_integration.checks.risk_limits` (the limits and the pure
check) and :mod:`alpaca_integration.checks.exposure`. This module re-exports every name it had so
old imports keep working; it adds nothing of its own.
"""

from __future__ import annotations

from alpaca_integration.checks import risk as _moved
from alpaca_integration.checks.risk import *  # noqa: F403  (the moved module's surface)

__all__ = list(_moved.__all__)
