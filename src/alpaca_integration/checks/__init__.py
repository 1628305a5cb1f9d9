"""The checks that prove the store right: data quality, reconciliation, pre-trade risk.

* ``checks.quality`` (rules over the store; ``quality_rules`` holds the pure rules) builds on
  ``sync.validation`` (what sync refuses before storage);
* ``checks.reconcile`` (the run; ``reconcile_diff`` holds the pure comparisons) repairs through
  the sync engine's write path;
* ``checks.risk`` (the pre-trade hook), ``checks.risk_limits`` (the limits, the pure check),
  ``checks.exposure`` (exposure and breaches).

The checks read the store and the client through small protocols and may import ``sync``
(reconciliation writes through the engine); ``sync``, the adapter (``alpaca/``), the storage and
the simulator never import the checks. Nothing is imported here: import the module you need.
"""

from __future__ import annotations

__all__: list[str] = []
