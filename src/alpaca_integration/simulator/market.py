"""Reference data and prices of the simulated market.

``UNIVERSE`` is the built-in list of assets with their flags (some are not shortable, not
fractionable, priced under a dollar, or not tradable, so every rule has something to bite on).
``Market`` owns the current price of every symbol: a seeded random walk advanced in steps of
simulated time, optionally replaced by bars replayed from a CSV file, and pinned by
``set_price`` (an admin call) until ``release`` or a reset. Prices are quantized to the venue's
tick: cents at or above $1, hundredths of a cent below.

This module imports nothing from the package.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
import math
import random
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = [
    "UNIVERSE",
    "AssetSpec",
    "Market",
    "asset_id_for",
    "build_assets",
    "load_bars",
    "option_value",
    "price_tick",
    "quantize_price",
]

_ASSET_NAMESPACE = uuid.UUID("6f0c5a8e-3d4b-4e0f-9a51-5a1c0de5e7a1")
_CENT = Decimal("0.01")
_HUNDREDTH_CENT = Decimal("0.0001")
_NEW_YORK = ZoneInfo("America/New_York")


def asset_id_for(symbol: str) -> str:
    """A stable asset id per symbol (the same in every run)."""
    return str(uuid.uuid5(_ASSET_NAMESPACE, symbol))


def price_tick(price: Decimal) -> Decimal:
    """The minimum price increment: $0.01 at or above $1, $0.0001 below."""
    return _CENT if price >= 1 else _HUNDREDTH_CENT


def quantize_price(price: Decimal) -> Decimal:
    return price.quantize(price_tick(price), rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class AssetSpec:
    symbol: str
    name: str
    exchange: str
    price: Decimal
    tradable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    fractionable: bool = True
    marginable: bool = True
    status: str = "active"
    asset_class: str = "us_equity"
    # Units of value per unit of quantity: 100 for an option contract, 1 otherwise.
    multiplier: Decimal = Decimal(1)
    # An option contract's terms (None for equities and crypto).
    underlying: str | None = None
    strike: Decimal | None = None
    expiry: dt.date | None = None
    right: str | None = None  # "C" or "P"

    @property
    def is_option(self) -> bool:
        return self.asset_class == "us_option"

    @property
    def is_crypto(self) -> bool:
        return self.asset_class == "crypto"

    @property
    def id(self) -> str:
        return asset_id_for(self.symbol)


def _spec(symbol: str, name: str, exchange: str, price: str, **flags: bool | str) -> AssetSpec:
    return AssetSpec(symbol, name, exchange, Decimal(price), **flags)  # type: ignore[arg-type]


UNIVERSE: dict[str, AssetSpec] = {
    spec.symbol: spec
    for spec in (
        _spec("AAPL", "Apple Inc. Common Stock", "NASDAQ", "190.00"),
        _spec("MSFT", "Microsoft Corporation Common Stock", "NASDAQ", "410.00"),
        _spec("AMZN", "Amazon.com, Inc. Common Stock", "NASDAQ", "180.00"),
        _spec("GOOGL", "Alphabet Inc. Class A Common Stock", "NASDAQ", "170.00"),
        _spec("NVDA", "NVIDIA Corporation Common Stock", "NASDAQ", "120.00"),
        _spec("TSLA", "Tesla, Inc. Common Stock", "NASDAQ", "240.00"),
        _spec("META", "Meta Platforms, Inc. Class A Common Stock", "NASDAQ", "500.00"),
        _spec("SPY", "SPDR S&P 500 ETF Trust", "ARCA", "520.00"),
        _spec("QQQ", "Invesco QQQ Trust, Series 1", "NASDAQ", "440.00"),
        _spec("IWM", "iShares Russell 2000 ETF", "ARCA", "205.00"),
        _spec("JPM", "JPMorgan Chase & Co. Common Stock", "NYSE", "200.00"),
        _spec("XOM", "Exxon Mobil Corporation Common Stock", "NYSE", "115.00"),
        # Hard to borrow: shorting refused.
        _spec(
            "GME",
            "GameStop Corp. Class A Common Stock",
            "NYSE",
            "25.00",
            shortable=False,
            easy_to_borrow=False,
        ),
        # Whole shares only, no shorting, no margin.
        _spec(
            "ACME",
            "Acme Holdings Common Stock (simulated)",
            "NYSE",
            "42.00",
            shortable=False,
            easy_to_borrow=False,
            fractionable=False,
            marginable=False,
        ),
        # Under a dollar: prices take four decimals.
        _spec(
            "PNNY",
            "Penny Minerals Common Stock (simulated)",
            "OTC",
            "0.5123",
            shortable=False,
            easy_to_borrow=False,
            fractionable=False,
            marginable=False,
        ),
        # Listed but not tradable.
        _spec(
            "OLDCO",
            "Old Company Common Stock (simulated, delisted)",
            "NYSE",
            "3.10",
            tradable=False,
            shortable=False,
            easy_to_borrow=False,
            fractionable=False,
            marginable=False,
            status="inactive",
        ),
    )
}


def build_assets(symbols: tuple[str, ...] | None, seed: int) -> dict[str, AssetSpec]:
    """The venue's assets: the built-in universe, or the listed symbols (unknown ones get a
    generated name and a seeded starting price between $20 and $500, and every flag on)."""
    if symbols is None:
        return dict(UNIVERSE)
    out: dict[str, AssetSpec] = {}
    for symbol in symbols:
        known = UNIVERSE.get(symbol)
        if known is not None:
            out[symbol] = known
            continue
        rng = random.Random(f"{seed}:asset:{symbol}")
        price = Decimal(str(round(rng.uniform(20, 500), 2))).quantize(_CENT)
        out[symbol] = AssetSpec(symbol, f"{symbol} Common Stock (simulated)", "NASDAQ", price)
    return out


# The simulated options market: a flat implied volatility, the regular session's end as expiry.
OPTION_VOLATILITY = 0.3
_YEAR_SECONDS = 365 * 24 * 3600.0


@functools.lru_cache(maxsize=64)
def _expiry_close(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(16), _NEW_YORK)


def option_value(spec: AssetSpec, underlying: Decimal, at: dt.datetime) -> Decimal:
    """An option contract's premium: intrinsic value plus a simple time value (the at-the-money
    Black-Scholes approximation 0.4 x S x sigma x sqrt(T), fading with the distance to the
    strike), to the cent and at least a cent until expiry; intrinsic value only after it."""
    assert spec.strike is not None
    assert spec.expiry is not None
    strike = spec.strike
    intrinsic = (
        max(underlying - strike, Decimal(0))
        if spec.right == "C"
        else max(strike - underlying, Decimal(0))
    )
    seconds = (_expiry_close(spec.expiry) - at).total_seconds()
    if seconds <= 0:
        return intrinsic.quantize(_CENT)
    spot = float(underlying)
    spread = spot * OPTION_VOLATILITY * math.sqrt(seconds / _YEAR_SECONDS)
    distance = (spot - float(strike)) / spread if spread else 0.0
    time_value = 0.4 * spread * math.exp(-0.5 * distance * distance)
    value = intrinsic + Decimal(repr(round(time_value, 2)))
    return max(value.quantize(_CENT), _CENT)


def load_bars(path: Path) -> dict[str, list[tuple[dt.datetime, Decimal]]]:
    """Bars from a CSV file with columns ``timestamp`` (ISO 8601), ``symbol`` and ``close``
    (other columns are ignored), sorted by time per symbol."""
    bars: dict[str, list[tuple[dt.datetime, Decimal]]] = {}
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"bars file {path} does not exist") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = {"timestamp", "symbol", "close"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"bars file {path} lacks column(s) {', '.join(sorted(missing))}; expected a "
                "header with timestamp,symbol,close"
            )
        for line, row in enumerate(reader, start=2):
            try:
                at = dt.datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
                close = Decimal(row["close"])
            except (ValueError, ArithmeticError):
                raise ValueError(
                    f"bars file {path} line {line}: timestamp must be ISO 8601 and close a number"
                ) from None
            if at.tzinfo is None:
                at = at.replace(tzinfo=dt.UTC)
            bars.setdefault(row["symbol"].strip().upper(), []).append(
                (at.astimezone(dt.UTC), close)
            )
    for series in bars.values():
        series.sort(key=lambda bar: bar[0])
    return bars


class _Walk:
    __slots__ = ("pinned", "price", "rng", "step", "value")

    def __init__(self, price: Decimal, rng: random.Random, step: int) -> None:
        self.value = float(price)
        self.price = price
        self.rng = rng
        self.step = step
        self.pinned = False


class Market:
    """Current prices. ``advance(at)`` moves every unpinned walk to ``at`` and returns the
    symbols whose price changed; ``price(symbol)`` is the last computed price."""

    # Beyond this many steps in one jump, the rest of the move is drawn as one aggregate step.
    _MAX_STEPS = 5_000

    def __init__(
        self,
        assets: dict[str, AssetSpec],
        *,
        seed: int,
        start: dt.datetime,
        volatility: float,
        step_seconds: float,
        bars: dict[str, list[tuple[dt.datetime, Decimal]]] | None = None,
    ) -> None:
        self._assets = assets
        self._epoch = start
        self._volatility = volatility
        self._step_seconds = step_seconds
        self._bars = {s: b for s, b in (bars or {}).items() if s in assets}
        self._bar_times = {s: [t for t, _ in b] for s, b in self._bars.items()}
        self._walks = {
            symbol: _Walk(spec.price, random.Random(f"{seed}:walk:{symbol}"), 0)
            for symbol, spec in assets.items()
        }
        self.lastday: dict[str, Decimal] = {s: spec.price for s, spec in assets.items()}
        # Option contracts: no walk of their own, priced from their underlying (option_value).
        self._options: dict[str, AssetSpec] = {}
        self._option_prices: dict[str, Decimal] = {}
        self._option_pins: set[str] = set()
        self._seed = seed
        self._now = start
        self._priced_minute = -1
        self.advance(start)

    def add_walks(self, assets: dict[str, AssetSpec]) -> None:
        """More walking symbols (the crypto pairs), each from its reference price."""
        for symbol, spec in assets.items():
            walk = _Walk(spec.price, random.Random(f"{self._seed}:walk:{symbol}"), 0)
            walk.step = self._step_index(self._now)
            self._walks[symbol] = walk
            self.lastday[symbol] = spec.price

    def add_options(self, contracts: dict[str, AssetSpec]) -> None:
        """Option contracts, priced from their underlying's walk from now on."""
        self._options.update(contracts)
        for symbol, spec in contracts.items():
            assert spec.underlying is not None
            price = option_value(spec, self.price(spec.underlying), self._now)
            self._option_prices[symbol] = price
            self.lastday[symbol] = price

    def _step_index(self, at: dt.datetime) -> int:
        return max(0, int((at - self._epoch).total_seconds() // self._step_seconds))

    def price(self, symbol: str) -> Decimal:
        walk = self._walks.get(symbol)
        return walk.price if walk is not None else self._option_prices[symbol]

    def prices(self) -> dict[str, Decimal]:
        """The walking symbols' prices (option contracts are derived from them)."""
        return {symbol: walk.price for symbol, walk in self._walks.items()}

    def is_pinned(self, symbol: str) -> bool:
        if symbol in self._options:
            return symbol in self._option_pins
        return self._walks[symbol].pinned

    def set_price(self, symbol: str, price: Decimal) -> Decimal:
        """Pin ``symbol`` at ``price`` (quantized to the tick) until ``release``."""
        if symbol in self._options:
            self._option_pins.add(symbol)
            self._option_prices[symbol] = quantize_price(price)
            return self._option_prices[symbol]
        walk = self._walks[symbol]
        walk.price = quantize_price(price)
        walk.value = float(walk.price)
        walk.pinned = True
        return walk.price

    def release(self, symbol: str, at: dt.datetime) -> None:
        """Let a pinned symbol walk again, from its pinned price."""
        if symbol in self._options:
            self._option_pins.discard(symbol)
            self.reprice_options(at)
            return
        walk = self._walks[symbol]
        walk.pinned = False
        walk.step = self._step_index(at)

    def mark_close(self) -> None:
        """Remember today's last prices as the previous close (``lastday_price``)."""
        for symbol, walk in self._walks.items():
            self.lastday[symbol] = walk.price
        self.lastday.update(self._option_prices)

    def reprice_options(
        self, at: dt.datetime | None = None, underlyings: set[str] | None = None
    ) -> list[str]:
        """The unpinned contracts' premiums at ``at`` (default: the last advance), of
        ``underlyings`` only when given; the symbols whose premium changed."""
        at = at or self._now
        changed: list[str] = []
        for symbol, spec in self._options.items():
            if symbol in self._option_pins:
                continue
            assert spec.underlying is not None
            if underlyings is not None and spec.underlying not in underlyings:
                continue
            price = option_value(spec, self._walks[spec.underlying].price, at)
            if price != self._option_prices[symbol]:
                self._option_prices[symbol] = price
                changed.append(symbol)
        return changed

    def advance(self, at: dt.datetime) -> list[str]:
        """Move every walk to ``at`` and reprice the contracts; the symbols whose price moved."""
        changed = self._advance_walks(at)
        self._now = max(self._now, at)
        if self._options:
            # Time value decays slowly: every contract once a simulated minute (and at expiry,
            # which is on a minute), in between those whose underlying moved.
            minute = int(self._now.timestamp()) // 60
            if minute != self._priced_minute:
                self._priced_minute = minute
                changed.extend(self.reprice_options(self._now))
            elif changed:
                changed.extend(self.reprice_options(self._now, set(changed)))
        return changed

    def _advance_walks(self, at: dt.datetime) -> list[str]:
        changed: list[str] = []
        target = self._step_index(at)
        for symbol, walk in self._walks.items():
            if walk.pinned:
                continue
            bars = self._bars.get(symbol)
            if bars:
                index = bisect.bisect_right(self._bar_times[symbol], at) - 1
                new_price = quantize_price(bars[max(index, 0)][1])
            else:
                steps = target - walk.step
                if steps <= 0 or self._volatility == 0:
                    walk.step = max(walk.step, target)
                    continue
                walk.step = target
                sigma = self._volatility
                log_move = 0.0
                for _ in range(min(steps, self._MAX_STEPS)):
                    log_move += walk.rng.gauss(0.0, sigma)
                if steps > self._MAX_STEPS:
                    log_move += walk.rng.gauss(0.0, sigma * math.sqrt(steps - self._MAX_STEPS))
                # Keep the walk off zero: a price never falls below one tick.
                walk.value = max(walk.value * math.exp(log_move), 0.0001)
                new_price = quantize_price(Decimal(repr(walk.value)))
                if new_price <= 0:
                    new_price = Decimal("0.0001")
            if new_price != walk.price:
                walk.price = new_price
                changed.append(symbol)
        return changed
