"""Moved: reconciliation now lives in :mod:`alpaca_integration.checks.reconcile` (the run) and
:mod:`alpaca_integration.checks.reconcile_diff` (the pure comparisons). This module re-exports
every name it had so old imports keep working; it adds nothing of its own.
"""

from __future__ import annotations

from alpaca_integration.checks import reconcile as _moved
from alpaca_integration.checks.reconcile import *  # noqa: F403  (the moved module's surface)

__all__ = list(_moved.__all__)
