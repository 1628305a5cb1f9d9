"""Alpaca reference payloads -> models: the market clock and calendar (v2, and v3 per market),
assets, watchlists, the portfolio history.

Pure: no I/O, no clock reads. Imports only ``models``, ``errors`` and ``alpaca.{schemas,decoding}``
from the package.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import msgspec

from alpaca_integration.alpaca import decoding
from alpaca_integration.alpaca.decoding import (
    Body,
    as_bytes,
    calendar_date,
    decode,
    required_timestamp,
    utc_timestamp,
)
from alpaca_integration.alpaca.schemas import (
    WireAsset,
    WireCalendarDay,
    WireClock,
    WireMarket,
    WireMarketCalendar,
    WireMarketClock,
    WireMarketClocks,
    WireMarketDay,
    WirePortfolioHistory,
    WireWatchlist,
)
from alpaca_integration.errors import ParseError
from alpaca_integration.models import (
    Asset,
    CalendarDay,
    Clock,
    Market,
    MarketCalendar,
    MarketClock,
    MarketDay,
    MarketPhase,
    PortfolioHistory,
    Watchlist,
)

__all__ = [
    "EXCHANGE_TIMEZONE",
    "parse_asset",
    "parse_assets",
    "parse_calendar",
    "parse_clock",
    "parse_market_calendar",
    "parse_market_clocks",
    "parse_portfolio_history",
    "parse_watchlist",
    "parse_watchlists",
]

# The calendar's open/close times are wall-clock times of the US equity exchanges.
EXCHANGE_TIMEZONE = ZoneInfo("America/New_York")

_UTC = dt.UTC
_CLOCK = msgspec.json.Decoder(WireClock)
_CALENDAR_DAY = msgspec.json.Decoder(WireCalendarDay)
_ASSET = msgspec.json.Decoder(WireAsset)
_WATCHLIST = msgspec.json.Decoder(WireWatchlist)
_PORTFOLIO_HISTORY = msgspec.json.Decoder(WirePortfolioHistory)
_MARKET_CLOCK = msgspec.json.Decoder(WireMarketClock)
_MARKET_CLOCKS = msgspec.json.Decoder(WireMarketClocks)
_MARKET_DAY = msgspec.json.Decoder(WireMarketDay)
_MARKET_CALENDAR = msgspec.json.Decoder(WireMarketCalendar)


def parse_clock(body: Body) -> Clock:
    """``GET /v2/clock`` -> the market clock, times in UTC."""
    raw = as_bytes(body)
    wire = decode(_CLOCK, raw, "clock")
    return Clock(
        timestamp=required_timestamp(wire.timestamp, "clock", "timestamp"),
        is_open=wire.is_open,
        next_open=required_timestamp(wire.next_open, "clock", "next_open"),
        next_close=required_timestamp(wire.next_close, "clock", "next_close"),
        raw=raw,
    )


def _market(wire: WireMarket) -> Market:
    return Market(
        acronym=wire.acronym,
        name=wire.name,
        timezone=wire.timezone,
        mic=wire.mic or None,
        bic=wire.bic or None,
    )


def _market_clock(raw: bytes) -> MarketClock:
    shape = "market clock"
    wire = decode(_MARKET_CLOCK, raw, shape)
    next_close = required_timestamp(wire.next_market_close, shape, "next_market_close")
    return MarketClock(
        market=_market(wire.market),
        timestamp=required_timestamp(wire.timestamp, shape, "timestamp"),
        is_market_day=wire.is_market_day,
        phase=MarketPhase(wire.phase),
        # A clock without phase_until is read as "until the next close" (the core session's end).
        phase_until=utc_timestamp(wire.phase_until, shape, "phase_until") or next_close,
        next_market_open=required_timestamp(wire.next_market_open, shape, "next_market_open"),
        next_market_close=next_close,
        raw=raw,
    )


def parse_market_clocks(body: Body) -> list[MarketClock]:
    """``GET /v3/clock`` -> one clock per market asked for, times in UTC."""
    wire = decode(_MARKET_CLOCKS, as_bytes(body), "market clocks")
    return [_market_clock(bytes(item)) for item in wire.clocks]


def _market_day(raw: bytes) -> MarketDay:
    shape = "market calendar day"
    wire = decode(_MARKET_DAY, raw, shape)
    day = calendar_date(wire.date, shape, "date")
    if day is None:
        raise ParseError(f"{shape}: date is missing or empty", shape=shape, value=wire.date)
    return MarketDay(
        date=day,
        core_start=required_timestamp(wire.core_start, shape, "core_start"),
        core_end=required_timestamp(wire.core_end, shape, "core_end"),
        pre_start=utc_timestamp(wire.pre_start, shape, "pre_start"),
        pre_end=utc_timestamp(wire.pre_end, shape, "pre_end"),
        post_start=utc_timestamp(wire.post_start, shape, "post_start"),
        post_end=utc_timestamp(wire.post_end, shape, "post_end"),
        lunch_start=utc_timestamp(wire.lunch_start, shape, "lunch_start"),
        lunch_end=utc_timestamp(wire.lunch_end, shape, "lunch_end"),
        settlement_date=calendar_date(wire.settlement_date, shape, "settlement_date"),
        raw=raw,
    )


def parse_market_calendar(body: Body) -> MarketCalendar:
    """``GET /v3/calendar/{market}`` -> the market and its days; session times as UTC instants
    (the venue writes them with the market's offset, or in UTC when asked)."""
    raw = as_bytes(body)
    wire = decode(_MARKET_CALENDAR, raw, "market calendar")
    return MarketCalendar(
        market=_market(wire.market),
        days=tuple(_market_day(bytes(item)) for item in wire.calendar or ()),
        raw=raw,
    )


def _session_time(day: dt.date, value: str, field: str) -> dt.datetime:
    """``09:30`` or ``0930`` on ``day`` in New York -> UTC (DST handled by the zone)."""
    text = value.strip()
    digits = text.replace(":", "")
    if len(digits) != 4 or not digits.isdigit():
        raise ParseError(
            f"calendar {day}.{field}: {value!r} is not a time of day (expected HH:MM)",
            shape="calendar",
            value=value,
        )
    hour, minute = int(digits[:2]), int(digits[2:])
    if hour > 23 or minute > 59:
        raise ParseError(
            f"calendar {day}.{field}: {value!r} is not a time of day",
            shape="calendar",
            value=value,
        )
    local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=EXCHANGE_TIMEZONE)
    return local.astimezone(_UTC)


def _calendar_day(raw: bytes) -> CalendarDay:
    wire = decode(_CALENDAR_DAY, raw, "calendar day")
    day = calendar_date(wire.date, "calendar", "date")
    if day is None:
        raise ParseError("calendar.date is missing or empty", shape="calendar", value=wire.date)
    return CalendarDay(
        date=day,
        open=_session_time(day, wire.open, "open"),
        close=_session_time(day, wire.close, "close"),
        session_open=_session_time(day, wire.session_open, "session_open")
        if wire.session_open
        else None,
        session_close=_session_time(day, wire.session_close, "session_close")
        if wire.session_close
        else None,
        settlement_date=calendar_date(wire.settlement_date, "calendar", "settlement_date"),
        raw=raw,
    )


def parse_calendar(body: Body) -> list[CalendarDay]:
    """``GET /v2/calendar`` -> trading days; open/close as UTC instants (exchange time is New
    York)."""
    return decoding.decode_each(body, "calendar days", _calendar_day)


def _asset(raw: bytes) -> Asset:
    wire = decode(_ASSET, raw, "asset")
    return Asset(
        id=wire.id,
        symbol=wire.symbol,
        name=wire.name or None,
        asset_class=decoding.asset_class_of(wire.asset_class),
        exchange=wire.exchange or None,
        status=wire.status,
        tradable=wire.tradable,
        marginable=wire.marginable,
        shortable=wire.shortable,
        easy_to_borrow=wire.easy_to_borrow,
        fractionable=wire.fractionable,
        maintenance_margin_requirement=wire.maintenance_margin_requirement,
        min_order_size=wire.min_order_size,
        min_trade_increment=wire.min_trade_increment,
        price_increment=wire.price_increment,
        attributes=tuple(wire.attributes or ()),
        raw=raw,
    )


def parse_asset(body: Body) -> Asset:
    """``GET /v2/assets/{symbol}`` -> one asset."""
    return _asset(as_bytes(body))


def parse_assets(body: Body) -> list[Asset]:
    """``GET /v2/assets`` -> assets in payload order."""
    return decoding.decode_each(body, "assets", _asset)


def _watchlist(raw: bytes) -> Watchlist:
    wire = decode(_WATCHLIST, raw, "watchlist")
    return Watchlist(
        id=wire.id,
        account_id=wire.account_id or None,
        name=wire.name,
        created_at=utc_timestamp(wire.created_at, "watchlist", "created_at"),
        updated_at=utc_timestamp(wire.updated_at, "watchlist", "updated_at"),
        assets=tuple([_asset(bytes(item)) for item in wire.assets or ()]),
        raw=raw,
    )


def parse_watchlist(body: Body) -> Watchlist:
    """One watchlist (get, create, update, add or remove a symbol), with its assets."""
    return _watchlist(as_bytes(body))


def parse_watchlists(body: Body) -> list[Watchlist]:
    """``GET /v2/watchlists`` -> watchlists (Alpaca lists them without assets)."""
    return decoding.decode_each(body, "watchlists", _watchlist)


def _unix_second(second: int, index: int) -> dt.datetime:
    """One portfolio-history timestamp (UNIX seconds, as the spec says) as UTC."""
    try:
        return dt.datetime.fromtimestamp(second, _UTC)
    except (ValueError, OverflowError, OSError):
        raise ParseError(
            f"portfolio history.timestamp[{index}]: {second} is not a UNIX time in seconds "
            "(milliseconds?)",
            shape="portfolio history",
            value=second,
        ) from None


def parse_portfolio_history(body: Body) -> PortfolioHistory:
    """``GET /v2/account/portfolio/history`` -> aligned series; ``None`` where Alpaca sent null
    (periods before the account had data)."""
    raw = as_bytes(body)
    wire = decode(_PORTFOLIO_HISTORY, raw, "portfolio history")
    timestamps = tuple(_unix_second(second, n) for n, second in enumerate(wire.timestamp or ()))
    series = {
        "equity": tuple(wire.equity or ()),
        "profit_loss": tuple(wire.profit_loss or ()),
        "profit_loss_pct": tuple(wire.profit_loss_pct or ()),
    }
    for name, values in series.items():
        if len(values) != len(timestamps):
            raise ParseError(
                f"portfolio history: {name} has {len(values)} values for {len(timestamps)} "
                "timestamps; the series must be aligned",
                shape="portfolio history",
                value=name,
            )
    return PortfolioHistory(
        timestamps=timestamps,
        equity=series["equity"],
        profit_loss=series["profit_loss"],
        profit_loss_pct=series["profit_loss_pct"],
        base_value=wire.base_value,
        timeframe=wire.timeframe,
        raw=raw,
    )
