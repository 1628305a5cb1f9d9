"""Moved: what a symbol says about the instrument (OCC option symbols, multipliers, crypto pairs)
now lives in the models layer, ``alpaca_integration.instruments``. This module re-exports the
names it had so ``ledger.symbols`` imports keep working.
"""

from __future__ import annotations

from alpaca_integration.instruments import (
    CONTRACT_MULTIPLIER,
    OptionSymbol,
    contract_multiplier,
    is_crypto_symbol,
    parse_occ_symbol,
    plain_symbol,
)

__all__ = [
    "CONTRACT_MULTIPLIER",
    "OptionSymbol",
    "contract_multiplier",
    "is_crypto_symbol",
    "parse_occ_symbol",
    "plain_symbol",
]
