"""What a symbol says about the instrument: OCC option contracts, their multiplier, crypto pairs.

Kept small and free of ledger state so the OCC parse can move to the models layer unchanged when
options land (issue 13). Imports nothing from the package.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal

import msgspec

__all__ = [
    "CONTRACT_MULTIPLIER",
    "OptionSymbol",
    "contract_multiplier",
    "is_crypto_symbol",
    "parse_occ_symbol",
    "plain_symbol",
]

CONTRACT_MULTIPLIER = Decimal(100)
"""Shares a standard US equity option contract delivers (Alpaca's ``multiplier`` for them)."""

_ONE = Decimal(1)

# OCC symbology without padding, as Alpaca writes it: root (1-6 characters; adjusted contracts
# carry a digit, e.g. ``SPGI1``), expiry YYMMDD, C or P, strike x 1000 in 8 digits.
_OCC = re.compile(r"(?P<root>[A-Z][A-Z0-9.]{0,5})(?P<expiry>\d{6})(?P<right>[CP])(?P<strike>\d{8})")


class OptionSymbol(msgspec.Struct, frozen=True, kw_only=True):
    """An OCC option symbol taken apart. ``underlying`` is the root without the digit an adjusted
    contract carries (``SPGI1`` -> ``SPGI``)."""

    symbol: str
    root: str
    expiry: dt.date
    right: str  # "C" or "P"
    strike: Decimal

    @property
    def underlying(self) -> str:
        return self.root.rstrip("0123456789") or self.root

    @property
    def is_call(self) -> bool:
        return self.right == "C"


def parse_occ_symbol(symbol: str) -> OptionSymbol | None:
    """The parts of an OCC option symbol (``AAPL250620C00150000``), or None for anything else."""
    found = _OCC.fullmatch(symbol)
    if found is None:
        return None
    expiry = found["expiry"]
    try:
        date = dt.date(2000 + int(expiry[:2]), int(expiry[2:4]), int(expiry[4:]))
    except ValueError:
        return None
    return OptionSymbol(
        symbol=symbol,
        root=found["root"],
        expiry=date,
        right=found["right"],
        strike=Decimal(found["strike"]).scaleb(-3),
    )


def contract_multiplier(symbol: str, overrides: Mapping[str, Decimal] | None = None) -> Decimal:
    """Units of value per unit of quantity: 100 for an OCC option, 1 for equities and crypto.

    ``overrides`` (symbol -> multiplier, e.g. from an option contract's ``multiplier``) wins: a
    non-standard contract can deliver something else.
    """
    if overrides is not None:
        given = overrides.get(symbol)
        if given is not None:
            return given
    return CONTRACT_MULTIPLIER if parse_occ_symbol(symbol) is not None else _ONE


def plain_symbol(symbol: str) -> str:
    """The symbol without the pair slash: fills and orders say ``BTC/USD``, positions and
    activities ``BTCUSD``."""
    return symbol.replace("/", "")


def is_crypto_symbol(symbol: str) -> bool:
    """True for Alpaca's crypto pair spelling (``BTC/USD``); equities and options have no slash."""
    return "/" in symbol
