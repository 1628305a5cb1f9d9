"""What differs by asset class on the venue: the crypto pairs it lists, OCC option symbols, and
Alpaca's order rules for option contracts and crypto pairs (equities keep ``validation``'s).

Option contracts (docs/assets.md): market or limit, time in force day, whole contracts, no
notional, no extended hours, simple class (spreads are ``mleg`` orders, see ``mleg``). Crypto
pairs: market, limit or stop_limit, time in force gtc or ioc, fractions and notional allowed, no
extended hours, simple class, never sold short. A refusal is Alpaca's 422 (42210000).

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from decimal import Decimal
from typing import Any

from alpaca_integration.simulator.market import AssetSpec
from alpaca_integration.simulator.wire import fmt, forbidden, parse_bool, parse_decimal
from alpaca_integration.simulator.wire import unprocessable as refused

__all__ = [
    "CRYPTO_UNIVERSE",
    "DEFAULT_CRYPTO_PAIRS",
    "DEFAULT_OPTION_UNDERLYINGS",
    "check_asset_class_order",
    "crypto_assets",
    "crypto_short_refusal",
    "option_symbol_problem",
]

DEFAULT_OPTION_UNDERLYINGS = ("AAPL", "MSFT", "SPY")
DEFAULT_CRYPTO_PAIRS = ("BTC/USD", "ETH/USD")
CRYPTO_UNIVERSE = {"BTC/USD": ("Bitcoin", "60000.00"), "ETH/USD": ("Ethereum", "3000.00")}
_OCC = re.compile(r"([A-Z][A-Z0-9.]{0,5})(\d{2})(\d{2})(\d{2})([CP])(\d{8})")
_NINE_PLACES = Decimal("1E-9")


def crypto_assets(pairs: tuple[str, ...], seed: int) -> dict[str, AssetSpec]:
    """The venue's crypto pairs: known ones at their reference price, others seeded."""
    out: dict[str, AssetSpec] = {}
    for pair in pairs:
        base = pair.split("/")[0]
        name, price = CRYPTO_UNIVERSE.get(pair, (base, ""))
        if not price:
            price = f"{random.Random(f'{seed}:crypto:{pair}').uniform(1, 500):.2f}"
        out[pair] = AssetSpec(
            pair,
            f"{name} / US Dollar",
            "CRYPTO",
            Decimal(price),
            shortable=False,
            easy_to_borrow=False,
            marginable=False,
            asset_class="crypto",
        )
    return out


def option_symbol_problem(symbol: str) -> str | None:
    """Why a symbol meant as an option contract (it holds six digits in a row) is not a valid
    OCC symbol; None when it is one, or when it is not meant as one (a ticker, an asset id)."""
    if not re.search(r"\d{6}", symbol) or "-" in symbol:
        return None
    found = _OCC.fullmatch(symbol)
    if found is not None:
        try:
            dt.date(2000 + int(found[2]), int(found[3]), int(found[4]))
        except ValueError:
            return f"invalid symbol {symbol!r}: {''.join(found.groups()[1:4])} is not a YYMMDD date"
        if int(found[6]):
            return None
    return (
        f"invalid symbol {symbol!r}: an option contract is ROOT + YYMMDD + C or P + strike x 1000 "
        "in 8 digits (e.g. AAPL250620C00150000)"
    )


def _extended(body: dict[str, Any]) -> bool:
    value = body.get("extended_hours")
    return value is not None and parse_bool(value, "extended_hours")


def check_asset_class_order(
    asset: AssetSpec, body: dict[str, Any], order_type: str, tif: str, order_class: str
) -> None:
    """Alpaca's rules for a single option contract or crypto pair order (nothing for equities)."""
    if asset.is_option:
        _check_option_order(asset, body, order_type, tif, order_class)
    elif asset.is_crypto:
        if order_type not in ("market", "limit", "stop_limit"):
            raise refused(f"crypto orders must be market, limit or stop_limit, got {order_type}")
        if tif not in ("gtc", "ioc"):
            raise refused(f"crypto orders take time_in_force gtc or ioc, got {tif}")
        if order_class not in ("", "simple"):
            raise refused(f"crypto orders are simple orders, got order_class {order_class}")
        if _extended(body):
            raise refused("crypto trades around the clock: extended_hours does not apply")


def _check_option_order(
    asset: AssetSpec, body: dict[str, Any], order_type: str, tif: str, order_class: str
) -> None:
    if order_type not in ("market", "limit"):
        raise refused(f"options orders must be market or limit orders, got {order_type}")
    if tif != "day":
        raise refused(f"options orders must have time_in_force day, got {tif}")
    if order_class not in ("", "simple"):
        raise refused(
            f"options orders are simple, or mleg for spreads; got order_class {order_class}"
        )
    if body.get("notional") not in (None, ""):
        raise refused("options orders cannot be sized in dollars: give qty in whole contracts")
    qty = body.get("qty")
    if qty not in (None, "") and parse_decimal(qty, "qty") % 1:
        raise refused(
            f"qty must be a whole number of contracts for {asset.symbol}: fractional options "
            "orders are not supported"
        )
    if _extended(body):
        raise refused("options orders cannot trade in extended hours")


def check_fine_price(field: str, price: Decimal) -> None:
    """A crypto price: positive, at most 9 decimals."""
    if price <= 0:
        raise refused(f"{field} must be > 0, got {fmt(price)}")
    if price != price.quantize(_NINE_PLACES):
        raise refused(f"{field} takes at most 9 decimals for crypto, got {fmt(price)}")


def crypto_short_refusal(asset: AssetSpec, requested: Decimal, available: Decimal) -> Exception:
    """Alpaca's answer to a crypto sell beyond the coins held (crypto is never sold short)."""
    base = asset.symbol.split("/")[0]
    return forbidden(
        f"insufficient balance for {base} (requested: {fmt(requested)}, available: "
        f"{fmt(available)}): crypto cannot be sold short",
        available=fmt(available),
        symbol=asset.symbol,
    )
