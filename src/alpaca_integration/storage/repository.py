"""Where ``Store`` used to live, kept so ``alpaca_integration.storage.repository`` still imports.

``Store`` moved to ``storage.store`` (assembled from ``storage.writes``, ``storage.holdings``,
``storage.fees``, ``storage.order_reads``, ``storage.account_reads`` and ``storage.results``;
the upsert rules are ``storage.rules``). Import it from ``alpaca_integration.storage``.

Imports only ``models`` and ``storage.store``.
"""

from __future__ import annotations

from alpaca_integration.models import INTEGRATION_PREFIX
from alpaca_integration.storage.store import Store

__all__ = ["INTEGRATION_PREFIX", "Store"]
