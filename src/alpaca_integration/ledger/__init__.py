"""Position and performance tracking: a lot ledger with exact realized and unrealized P&L.

Pure: fills and activities in, lots, matches and income out (no storage, sync, client or CLI), so
the sync path can apply events incrementally and the store can rebuild the same rows at any time.
``ledger.returns`` (imported on its own: it loads pandas through empyrical) turns equity snapshots
and cash flows into returns and statistics. Conventions: docs/ledger.md.

The package imports only ``models``, ``errors``, the standard library and msgspec (``returns``
adds empyrical, pandas and numpy).
"""

from __future__ import annotations

from alpaca_integration.ledger.ledger import Ledger, LedgerError, LedgerEvent, LedgerOrderError
from alpaca_integration.ledger.records import (
    Income,
    IncomeKind,
    LedgerChanges,
    LedgerTotals,
    Lot,
    LotValuation,
    Match,
    MatchingMethod,
    MatchKind,
    PendingAction,
    PnlSummary,
)
from alpaca_integration.ledger.sleeves import (
    DEFAULT_SLEEVE,
    SleeveConvention,
    strategy_from_client_order_id,
    strategy_prefix,
)
from alpaca_integration.ledger.symbols import (
    OptionSymbol,
    contract_multiplier,
    parse_occ_symbol,
)

__all__ = [
    "DEFAULT_SLEEVE",
    "Income",
    "IncomeKind",
    "Ledger",
    "LedgerChanges",
    "LedgerError",
    "LedgerEvent",
    "LedgerOrderError",
    "LedgerTotals",
    "Lot",
    "LotValuation",
    "Match",
    "MatchKind",
    "MatchingMethod",
    "OptionSymbol",
    "PendingAction",
    "PnlSummary",
    "SleeveConvention",
    "contract_multiplier",
    "parse_occ_symbol",
    "strategy_from_client_order_id",
    "strategy_prefix",
]
