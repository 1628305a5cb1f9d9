"""Moved: the monitor service now lives in :mod:`alpaca_integration.monitor.service`
(``MonitorService``, ``AccountStatus``), :mod:`alpaca_integration.monitor.runtime` (opening the
store and the cache) and :mod:`alpaca_integration.monitor.jobs` (``record_exposure``). This
module re-exports every name it had so old imports keep working; it adds nothing of its own.
"""

from __future__ import annotations

from alpaca_integration.monitor.jobs import record_exposure
from alpaca_integration.monitor.runtime import close_store_and_cache, open_store_and_cache
from alpaca_integration.monitor.service import AccountStatus, MonitorService

__all__ = [
    "AccountStatus",
    "MonitorService",
    "close_store_and_cache",
    "open_store_and_cache",
    "record_exposure",
]
