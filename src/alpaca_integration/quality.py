"""Moved: data quality now lives in :mod:`alpaca_integration.checks.quality` (the rules and their
runner) and :mod:`alpaca_integration.sync.validation` (validation before storage). This module
re-exports every name it had so old imports keep working; it adds nothing of its own.
"""

from __future__ import annotations

from alpaca_integration.checks import quality as _moved
from alpaca_integration.checks.quality import *  # noqa: F403  (the moved module's surface)
from alpaca_integration.checks.quality_rules import *  # noqa: F403  (the rules it runs)
from alpaca_integration.sync.validation import *  # noqa: F403  (the part that moved below sync)

__all__ = list(_moved.__all__)
