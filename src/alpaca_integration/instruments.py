"""What a symbol says about the instrument: OCC option symbols, contract multipliers, crypto
pairs and their quantity precision, and the asset class a symbol belongs to.

OCC option symbols are parsed (:func:`parse_occ_symbol`), explained when malformed
(:func:`occ_symbol_problem`) and formatted (:func:`format_occ_symbol`) here and nowhere else.
Alpaca writes them without the OCC's padding: the root (1-6 characters; an adjusted contract's
root carries a digit, e.g. ``SPGI1``), the expiry as YYMMDD, ``C`` or ``P``, and the strike x 1000
in 8 digits: ``AAPL250620C00150000`` is the AAPL 150 call expiring 2025-06-20.

Quantities of one unit are worth ``multiplier`` units of value: 100 for a standard US option
contract (premium x 100 per contract), 1 for equities and crypto. Crypto pairs are spelled with a
slash on orders and fills (``BTC/USD``) and without it on positions and activities (``BTCUSD``);
Alpaca keeps crypto quantities to 9 decimals (:data:`CRYPTO_QTY_STEP`).

Part of the models layer (it moved here from ``ledger.symbols``, which re-exports it): pure, no
I/O. Imports only ``models`` and ``reference_models`` from the package.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation

import msgspec

from alpaca_integration.models import AssetClass
from alpaca_integration.reference_models import OptionType

__all__ = [
    "CONTRACT_MULTIPLIER",
    "CRYPTO_MAX_FEE_RATE",
    "CRYPTO_QTY_DECIMALS",
    "CRYPTO_QTY_STEP",
    "OptionSymbol",
    "asset_class_of_symbol",
    "contract_multiplier",
    "crypto_qty",
    "default_multiplier",
    "format_occ_symbol",
    "instrument_class",
    "instrument_multiplier",
    "is_crypto_symbol",
    "looks_like_option_symbol",
    "occ_symbol_problem",
    "parse_occ_symbol",
    "plain_symbol",
    "position_key",
]

CONTRACT_MULTIPLIER = Decimal(100)
"""Shares a standard US equity option contract delivers (Alpaca's ``multiplier`` for them)."""

CRYPTO_QTY_DECIMALS = 9
"""Decimals Alpaca keeps of a crypto (or fractional) quantity: qty and notional take up to 9."""

CRYPTO_QTY_STEP = Decimal(1).scaleb(-CRYPTO_QTY_DECIMALS)

CRYPTO_MAX_FEE_RATE = Decimal("0.0025")
"""The highest crypto fee Alpaca charges per execution (the first tier's taker fee, 0.25%)."""

_ONE = Decimal(1)
_STRIKE_SCALE = 3
_MAX_STRIKE = Decimal("99999.999")
_OCC = re.compile(r"(?P<root>[A-Z][A-Z0-9.]{0,5})(?P<expiry>\d{6})(?P<right>[CP])(?P<strike>\d{8})")
_ROOT = re.compile(r"[A-Z][A-Z0-9.]{0,5}")
# Equity tickers and crypto pairs never hold six digits in a row; an OCC symbol always does.
_SIX_DIGITS = re.compile(r"\d{6}")
_OCC_EXAMPLE = "AAPL250620C00150000"
_RIGHTS = {"C": OptionType.CALL, "P": OptionType.PUT}


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

    @property
    def option_type(self) -> OptionType:
        return _RIGHTS[self.right]


def _expiry(text: str) -> dt.date | None:
    try:
        return dt.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        return None


def parse_occ_symbol(symbol: str) -> OptionSymbol | None:
    """The parts of an OCC option symbol (``AAPL250620C00150000``), or None for anything else
    (an equity ticker, a crypto pair, a malformed option symbol: see :func:`occ_symbol_problem`)."""
    found = _OCC.fullmatch(symbol)
    if found is None:
        return None
    expiry = _expiry(found["expiry"])
    strike = Decimal(found["strike"]).scaleb(-_STRIKE_SCALE)
    if expiry is None or strike <= 0:
        return None
    return OptionSymbol(
        symbol=symbol, root=found["root"], expiry=expiry, right=found["right"], strike=strike
    )


def looks_like_option_symbol(symbol: str) -> bool:
    """True when ``symbol`` is meant as an option contract (it holds six digits in a row, as an
    OCC symbol's expiry does), whether or not it is a valid one; False for an asset id (UUID)."""
    if not _SIX_DIGITS.search(symbol):
        return False
    try:
        uuid.UUID(symbol)
    except ValueError:
        return True
    return False


def occ_symbol_problem(symbol: str) -> str | None:
    """Why ``symbol`` is not a valid OCC option symbol, in words; None when it is one."""
    if parse_occ_symbol(symbol) is not None:
        return None
    shape = (
        f"an option symbol is ROOT (1-6 letters) + expiry YYMMDD + C or P + strike x 1000 in 8 "
        f"digits, e.g. {_OCC_EXAMPLE}"
    )
    found = _OCC.fullmatch(symbol)
    if found is None:
        if symbol != symbol.upper():
            return f"{symbol!r} has lower-case letters; {shape}"
        return f"{symbol!r} does not have that shape: {shape}"
    if _expiry(found["expiry"]) is None:
        return f"{symbol!r}: expiry {found['expiry']} is not a date (YYMMDD)"
    return f"{symbol!r}: the strike is zero"


def format_occ_symbol(
    root: str, expiry: dt.date, option_type: OptionType | str, strike: Decimal
) -> str:
    """The OCC symbol of a contract: ``format_occ_symbol("AAPL", date(2025, 6, 20), "call",
    Decimal(150))`` is ``AAPL250620C00150000``. ``ValueError`` naming the part that cannot be
    written (a root of more than 6 characters, a year outside 2000-2099, a strike that is not
    positive, has more than 3 decimals, or is 100,000 or more)."""
    if not _ROOT.fullmatch(root):
        raise ValueError(f"root {root!r}: 1-6 upper-case letters, digits or dots, letter first")
    if not 2000 <= expiry.year <= 2099:
        raise ValueError(f"expiry {expiry}: OCC symbols write years 2000-2099 only")
    kind = OptionType(option_type)
    try:
        scaled = Decimal(strike).scaleb(_STRIKE_SCALE)
    except InvalidOperation:
        raise ValueError(f"strike {strike!r} is not a number") from None
    if not 0 < strike <= _MAX_STRIKE or scaled != scaled.to_integral_value():
        raise ValueError(f"strike {strike}: positive, below 100000, at most 3 decimals")
    right = "C" if kind is OptionType.CALL else "P"
    return f"{root}{expiry:%y%m%d}{right}{int(scaled):08d}"


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


def default_multiplier(asset_class: AssetClass) -> Decimal:
    """The multiplier of an instrument of ``asset_class`` when nothing more is known: 100 for a
    US option (a standard contract), 1 for everything else."""
    return CONTRACT_MULTIPLIER if asset_class is AssetClass.US_OPTION else _ONE


def instrument_class(asset_class: AssetClass, symbol: str) -> AssetClass:
    """The asset class the venue stated, else what the symbol says (``asset_class_of_symbol``)."""
    return asset_class if asset_class is not AssetClass.UNKNOWN else asset_class_of_symbol(symbol)


def instrument_multiplier(asset_class: AssetClass, symbol: str) -> Decimal:
    """The standard multiplier of an instrument: by its stated asset class, else by its symbol."""
    if asset_class is AssetClass.UNKNOWN:
        return contract_multiplier(symbol)
    return default_multiplier(asset_class)


def asset_class_of_symbol(symbol: str) -> AssetClass:
    """The asset class a symbol names: an OCC symbol is a US option, a pair with a slash is
    crypto, an asset id (UUID) could be anything (``UNKNOWN``), the rest are US equities.
    (Positions spell pairs without the slash, ``BTCUSD``: those read as equities here; a
    position's own ``asset_class`` says better.)"""
    if parse_occ_symbol(symbol) is not None:
        return AssetClass.US_OPTION
    if is_crypto_symbol(symbol):
        return AssetClass.CRYPTO
    try:
        uuid.UUID(symbol)
    except ValueError:
        return AssetClass.US_EQUITY
    return AssetClass.UNKNOWN


def plain_symbol(symbol: str) -> str:
    """The symbol without the pair slash: fills and orders say ``BTC/USD``, positions and
    activities ``BTCUSD``."""
    return symbol.replace("/", "")


def position_key(symbol: str) -> str:
    """The one spelling under which an order's, a fill's and a position's symbol meet: upper
    case, without a crypto pair's slash (``btc/usd`` and ``BTCUSD`` are both ``BTCUSD``)."""
    return plain_symbol(symbol.strip().upper())


def is_crypto_symbol(symbol: str) -> bool:
    """True for Alpaca's crypto pair spelling (``BTC/USD``); equities and options have no slash."""
    return "/" in symbol


def crypto_qty(qty: Decimal) -> Decimal:
    """``qty`` as Alpaca keeps a crypto quantity: cut (toward zero) to 9 decimals."""
    return qty.quantize(CRYPTO_QTY_STEP, rounding=ROUND_DOWN)
