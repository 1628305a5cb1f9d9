"""Position and performance tracking: a lot ledger with exact realized and unrealized P&L.

Pure: fills and activities in, lots, matches and income out (no storage, sync, client or CLI), so
the sync path can apply events incrementally and the store can rebuild the same rows at any time.
``ledger.returns`` (imported on its own: it loads pandas through empyrical) turns equity snapshots
and cash flows into returns and statistics. Conventions: docs/ledger.md.

The package imports only ``models``, ``errors``, the standard library and msgspec (``returns``
adds empyrical, pandas and numpy).
"""

from __future__ import annotations

from alpaca_integration.ledger import ledger as _ledger
from alpaca_integration.ledger import records as _records
from alpaca_integration.ledger import sleeves as _sleeves
from alpaca_integration.ledger.ledger import *  # noqa: F403  (Ledger and its errors)
from alpaca_integration.ledger.records import *  # noqa: F403  (the rows it hands out)
from alpaca_integration.ledger.sleeves import *  # noqa: F403  (strategy sleeves)
from alpaca_integration.ledger.symbols import (
    OptionSymbol,
    contract_multiplier,
    parse_occ_symbol,
)

__all__ = [
    *_ledger.__all__,
    *_records.__all__,
    *_sleeves.__all__,
    "OptionSymbol",
    "contract_multiplier",
    "parse_occ_symbol",
]
