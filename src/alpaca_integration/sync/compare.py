"""Moved: the store-vs-venue comparer now lives in :mod:`alpaca_integration.testing.compare`.
This module re-exports every name it had so old imports keep working; it adds nothing of its own.
"""

from __future__ import annotations

import alpaca_integration.testing.compare as _moved
from alpaca_integration.testing.compare import *  # noqa: F403  (the moved module's surface)

__all__ = list(_moved.__all__)
