"""Query parameters of Alpaca's listings (orders, activities, option contracts) and of the v3
market clock and calendar, checked before sending.

Query builders return ``dict[str, str]`` ready for httpx; datetimes are sent as RFC 3339 UTC with
``Z``. A bad argument is a caller bug and raises ``ValueError`` naming the parameter.

Pure: no I/O, no clock reads. Imports only ``models`` from the package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TypedDict, Unpack

from alpaca_integration.models import OrderSide

__all__ = [
    "MARKETS",
    "MAX_ACTIVITIES_PAGE",
    "MAX_CONTRACTS_PAGE",
    "MAX_ORDERS_PAGE",
    "OptionContractFilters",
    "activities_query",
    "market_calendar_query",
    "market_clock_query",
    "market_name",
    "option_contracts_query",
    "orders_query",
    "rfc3339",
]

MAX_ORDERS_PAGE = 500
MAX_ACTIVITIES_PAGE = 100
MAX_CONTRACTS_PAGE = 10_000
# The markets the v3 clock and calendar know (the spec's ``market`` enum).
MARKETS = frozenset(
    [
        "BMO",
        "BNYM",
        "BOATS",
        "CEUX",
        "CHIX",
        "HKEX",
        "IEX",
        "IEXG",
        "ISE",
        "LSE",
        "MTA",
        "MTAA",
        "NASDAQ",
        "NYSE",
        "OCEA",
        "OPRA",
        "OTC",
        "OTCM",
        "SIFMA",
        "TADAWUL",
        "XAMS",
        "XBRU",
        "XDUB",
        "XETR",
        "XETRA",
        "XHKG",
        "XLIS",
        "XLON",
        "XNAS",
        "XNYS",
        "XPAR",
        "XSAU",
    ]
)


def rfc3339(value: dt.datetime, name: str = "datetime") -> str:
    """A timezone-aware datetime as RFC 3339 UTC with ``Z`` (microseconds only when set)."""
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} {value.isoformat()} has no timezone: pass an aware datetime "
            "(e.g. datetime.now(UTC)) so the instant is unambiguous"
        )
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _choice(value: object, name: str, allowed: tuple[str, ...]) -> str:
    text = str(getattr(value, "value", value)).lower()
    if text not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return text


def _bound(value: int, name: str, maximum: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(f"{name} must be a whole number from 1 to {maximum}, got {value!r}")
    return str(value)


def _instant(value: dt.datetime | dt.date, name: str) -> str:
    if isinstance(value, dt.datetime):
        return rfc3339(value, name)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise ValueError(f"{name} must be a datetime or a date, got {type(value).__name__}")


def _names(value: str | Iterable[str], name: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    names = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if not names:
        raise ValueError(f"{name} is empty: pass at least one value or leave it out")
    return names


def orders_query(
    *,
    status: str | None = None,
    limit: int | None = None,
    after: dt.datetime | dt.date | None = None,
    until: dt.datetime | dt.date | None = None,
    direction: str | None = None,
    nested: bool | None = None,
    symbols: str | Iterable[str] | None = None,
    side: OrderSide | str | None = None,
) -> dict[str, str]:
    """Query parameters of ``GET /v2/orders``. ``after``/``until`` bound the submission time
    (exclusive); ``limit`` is at most 500."""
    query: dict[str, str] = {}
    if status is not None:
        query["status"] = _choice(status, "status", ("open", "closed", "all"))
    if limit is not None:
        query["limit"] = _bound(limit, "limit", MAX_ORDERS_PAGE)
    query.update(_window(after, until, direction))
    if nested is not None:
        query["nested"] = "true" if nested else "false"
    if symbols is not None:
        query["symbols"] = ",".join(name.upper() for name in _names(symbols, "symbols"))
    if side is not None:
        query["side"] = _choice(side, "side", ("buy", "sell"))
    return query


def activities_query(
    *,
    activity_types: str | Iterable[str] | None = None,
    date: dt.date | None = None,
    after: dt.datetime | dt.date | None = None,
    until: dt.datetime | dt.date | None = None,
    direction: str | None = None,
    page_size: int | None = None,
    page_token: str | None = None,
) -> dict[str, str]:
    """Query parameters of ``GET /v2/account/activities``. ``date`` excludes ``after``/``until``;
    ``page_size`` is at most 100; ``page_token`` is the id of the last activity seen."""
    query: dict[str, str] = {}
    if activity_types is not None:
        types = [name.upper() for name in _names(activity_types, "activity_types")]
        for name in types:
            if not name.isalnum():
                raise ValueError(f"activity_types: {name!r} is not an activity type like FILL")
        query["activity_types"] = ",".join(types)
    if date is not None:
        if after is not None or until is not None:
            raise ValueError("date cannot be combined with after/until: pass one or the other")
        if isinstance(date, dt.datetime) or not isinstance(date, dt.date):
            raise ValueError(f"date must be a datetime.date, got {type(date).__name__}")
        query["date"] = date.isoformat()
    query.update(_window(after, until, direction))
    if page_size is not None:
        query["page_size"] = _bound(page_size, "page_size", MAX_ACTIVITIES_PAGE)
    query.update(_page_token(page_token, "the id of the last activity seen"))
    return query


def _window(
    after: dt.datetime | dt.date | None,
    until: dt.datetime | dt.date | None,
    direction: str | None,
) -> dict[str, str]:
    """``after``/``until`` (exclusive instants) and ``direction``, each only when given."""
    query: dict[str, str] = {}
    if after is not None:
        query["after"] = _instant(after, "after")
    if until is not None:
        query["until"] = _instant(until, "until")
    if direction is not None:
        query["direction"] = _choice(direction, "direction", ("asc", "desc"))
    return query


def _page_token(page_token: str | None, what: str) -> dict[str, str]:
    """``page_token`` when given; an empty one is refused, saying to pass ``what``."""
    if page_token is None:
        return {}
    if not page_token:
        raise ValueError(f"page_token is empty: pass {what}")
    return {"page_token": page_token}


def _day(value: dt.date, name: str) -> str:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"{name} must be a datetime.date, got {type(value).__name__}")
    return value.isoformat()


def _strike(value: Decimal | int | str, name: str) -> Decimal:
    try:
        strike = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if isinstance(value, float) or not strike.is_finite() or strike < 0:
        raise ValueError(f"{name} must be an exact number >= 0 (a Decimal), got {value!r}")
    return strike


def _text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


class OptionContractFilters(TypedDict, total=False):
    """The filters of ``GET /v2/options/contracts`` (each optional; the venue's default is the
    active contracts expiring by the next weekend). Dates are calendar dates, strikes exact
    numbers; ``type`` is call or put, ``style`` american or european, ``status`` active or
    inactive, ``ppind`` the penny-program flag."""

    underlying_symbols: str | Iterable[str] | None
    status: str | None
    expiration_date: dt.date | None
    expiration_date_gte: dt.date | None
    expiration_date_lte: dt.date | None
    root_symbol: str | None
    type: str | None
    style: str | None
    strike_price_gte: Decimal | int | str | None
    strike_price_lte: Decimal | int | str | None
    ppind: bool | None
    show_deliverables: bool | None


def _strike_range(filters: OptionContractFilters) -> dict[str, str]:
    low, high = filters.get("strike_price_gte"), filters.get("strike_price_lte")
    low_value = None if low is None else _strike(low, "strike_price_gte")
    high_value = None if high is None else _strike(high, "strike_price_lte")
    if low_value is not None and high_value is not None and low_value > high_value:
        raise ValueError(f"strike_price_gte {low_value} is above strike_price_lte {high_value}")
    out = {}
    if low_value is not None:
        out["strike_price_gte"] = _text(low_value)
    if high_value is not None:
        out["strike_price_lte"] = _text(high_value)
    return out


def _expiry_range(filters: OptionContractFilters) -> dict[str, str]:
    out = {}
    for name in ("expiration_date", "expiration_date_gte", "expiration_date_lte"):
        day = filters.get(name)
        if day is not None:
            out[name] = _day(day, name)  # type: ignore[arg-type]
    gte, lte = filters.get("expiration_date_gte"), filters.get("expiration_date_lte")
    if gte is not None and lte is not None and gte > lte:
        raise ValueError(f"expiration_date_gte {gte} is after expiration_date_lte {lte}")
    return out


def option_contracts_query(
    *,
    limit: int | None = None,
    page_token: str | None = None,
    **filters: Unpack[OptionContractFilters],
) -> dict[str, str]:
    """Query parameters of ``GET /v2/options/contracts``: every filter the venue has
    (:class:`OptionContractFilters`), ``limit`` at most 10,000, the ``page_token`` of the page to
    read. A range whose low end lies above its high end is refused (it could only list nothing)."""
    query: dict[str, str] = {}
    underlying = filters.get("underlying_symbols")
    if underlying is not None:
        names = _names(underlying, "underlying_symbols")
        query["underlying_symbols"] = ",".join(name.upper() for name in names)
    choices = {
        "status": ("active", "inactive"),
        "type": ("call", "put"),
        "style": ("american", "european"),
    }
    for name, allowed in choices.items():
        value = filters.get(name)
        if value is not None:
            query[name] = _choice(value, name, allowed)
    query.update(_expiry_range(filters))
    root = filters.get("root_symbol")
    if root is not None:
        query["root_symbol"] = _names(root, "root_symbol")[0].upper()
    query.update(_strike_range(filters))
    if limit is not None:
        query["limit"] = _bound(limit, "limit", MAX_CONTRACTS_PAGE)
    query.update(_page_token(page_token, "the token the previous page returned"))
    for flag_name in ("ppind", "show_deliverables"):
        flag = filters.get(flag_name)
        if flag is not None:
            query[flag_name] = "true" if flag else "false"
    return query


def market_name(market: str) -> str:
    """A market code of the v3 clock and calendar (``NYSE``, ``OPRA`` ...), upper case; a code
    the venue does not know is refused, listing those it does."""
    code = str(market).strip().upper()
    if code not in MARKETS:
        raise ValueError(f"market {market!r} is not one of {', '.join(sorted(MARKETS))}")
    return code


def market_clock_query(
    *, markets: str | Iterable[str] | None = None, time: dt.datetime | None = None
) -> dict[str, str]:
    """Query parameters of ``GET /v3/clock``: which markets (default: the venue's), and the
    instant to read the clocks at instead of now."""
    query: dict[str, str] = {}
    if markets is not None:
        query["markets"] = ",".join(market_name(name) for name in _names(markets, "markets"))
    if time is not None:
        query["time"] = rfc3339(time, "time")
    return query


def market_calendar_query(
    *, start: dt.date | None = None, end: dt.date | None = None, timezone: str | None = None
) -> dict[str, str]:
    """Query parameters of ``GET /v3/calendar/{market}``: dates inclusive (the venue's defaults:
    today and a week later); ``timezone="UTC"`` asks for UTC times."""
    query: dict[str, str] = {}
    if start is not None:
        query["start"] = _day(start, "start")
    if end is not None:
        query["end"] = _day(end, "end")
    if start is not None and end is not None and start > end:
        raise ValueError(f"start {start} is after end {end}")
    if timezone is not None:
        query["timezone"] = _choice(timezone, "timezone", ("utc",)).upper()
    return query
