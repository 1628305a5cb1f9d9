"""Provider-neutral reference models: option contracts and the markets' clocks and calendars.

An :class:`OptionContract` is what a venue lists for one contract (underlying, expiry, call or
put, style, strike, multiplier, deliverables ...). :class:`MarketClock` and
:class:`MarketCalendar` describe one market's sessions (pre-market, core, lunch, after-hours),
with every time as a UTC instant. Money and quantities are ``Decimal``; descriptive enums
(exercise style, market phase) carry an ``UNKNOWN`` member so a new venue value never loses data;
the contract type (call or put) is strict, since a contract of unknown type cannot be valued.

``models`` re-exports every public name here: import them from ``models``. This module imports
only ``model_base`` from the package.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import msgspec

from alpaca_integration.model_base import OpenStrEnum, VenueModel

__all__ = [
    "Market",
    "MarketCalendar",
    "MarketClock",
    "MarketDay",
    "MarketPhase",
    "OptionContract",
    "OptionDeliverable",
    "OptionStyle",
    "OptionType",
]


# --------------------------------------------------------------------------- option contracts


class OptionType(enum.StrEnum):
    CALL = "call"
    PUT = "put"


class OptionStyle(OpenStrEnum):
    AMERICAN = "american"
    EUROPEAN = "european"
    UNKNOWN = "unknown"


class OptionDeliverable(msgspec.Struct, frozen=True, kw_only=True):
    """What exercising or being assigned one contract delivers. A standard contract delivers one
    ``equity`` deliverable: 100 shares of the underlying. ``amount`` is None while a delayed
    settlement is yet to be determined."""

    type: str
    symbol: str
    asset_id: str | None = None
    amount: Decimal | None = None
    allocation_percentage: Decimal | None = None
    settlement_type: str | None = None
    settlement_method: str | None = None
    delayed_settlement: bool = False


class OptionContract(VenueModel, frozen=True, kw_only=True):
    """One listed option contract. ``multiplier`` prices it (premium x multiplier per contract,
    strike x multiplier on exercise); ``size`` is the number of underlying shares delivered, which
    for a non-standard contract is not the multiplier. ``close_price`` and ``open_interest`` are
    as of their dates (None when the venue has none)."""

    id: str
    symbol: str
    name: str | None
    status: str
    tradable: bool
    underlying: str
    underlying_asset_id: str | None
    root: str | None
    expiry: dt.date
    type: OptionType
    style: OptionStyle
    strike: Decimal
    multiplier: Decimal
    size: Decimal | None
    open_interest: Decimal | None = None
    open_interest_date: dt.date | None = None
    close_price: Decimal | None = None
    close_price_date: dt.date | None = None
    deliverables: tuple[OptionDeliverable, ...] = ()

    @property
    def is_call(self) -> bool:
        return self.type is OptionType.CALL


# --------------------------------------------------------------------------- markets (v3)


class MarketPhase(OpenStrEnum):
    """Where a market's day stands: closed, pre-market, the core session, lunch, after-hours."""

    CLOSED = "closed"
    PRE = "pre"
    CORE = "core"
    LUNCH = "lunch"
    POST = "post"
    UNKNOWN = "unknown"


class Market(msgspec.Struct, frozen=True, kw_only=True):
    """A market as a venue names it: its acronym (``NYSE``), name, time zone and codes."""

    acronym: str
    name: str
    timezone: str
    mic: str | None = None
    bic: str | None = None


class MarketClock(VenueModel, frozen=True, kw_only=True):
    """One market's clock at ``timestamp``: whether it is a market day, the current phase and
    when it ends, the next core open and close. Times are UTC."""

    market: Market
    timestamp: dt.datetime
    is_market_day: bool
    phase: MarketPhase
    phase_until: dt.datetime
    next_market_open: dt.datetime
    next_market_close: dt.datetime

    @property
    def is_open(self) -> bool:
        """True during the core session (what the v2 clock calls open)."""
        return self.phase is MarketPhase.CORE


class MarketDay(VenueModel, frozen=True, kw_only=True):
    """One market day's sessions as UTC instants (sessions the market does not have are None)."""

    date: dt.date
    core_start: dt.datetime
    core_end: dt.datetime
    pre_start: dt.datetime | None = None
    pre_end: dt.datetime | None = None
    post_start: dt.datetime | None = None
    post_end: dt.datetime | None = None
    lunch_start: dt.datetime | None = None
    lunch_end: dt.datetime | None = None
    settlement_date: dt.date | None = None


class MarketCalendar(VenueModel, frozen=True, kw_only=True):
    """A market's calendar: its market days in date order."""

    market: Market
    days: tuple[MarketDay, ...] = ()
