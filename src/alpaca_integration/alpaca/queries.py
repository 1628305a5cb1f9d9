"""Query parameters of Alpaca's listings, checked before sending.

Query builders return ``dict[str, str]`` ready for httpx; datetimes are sent as RFC 3339 UTC with
``Z``. A bad argument is a caller bug and raises ``ValueError`` naming the parameter.

Pure: no I/O, no clock reads. Imports only ``models`` from the package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from alpaca_integration.models import OrderSide

__all__ = [
    "MAX_ACTIVITIES_PAGE",
    "MAX_ORDERS_PAGE",
    "activities_query",
    "orders_query",
    "rfc3339",
]

MAX_ORDERS_PAGE = 500
MAX_ACTIVITIES_PAGE = 100


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
    if after is not None:
        query["after"] = _instant(after, "after")
    if until is not None:
        query["until"] = _instant(until, "until")
    if direction is not None:
        query["direction"] = _choice(direction, "direction", ("asc", "desc"))
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
    if after is not None:
        query["after"] = _instant(after, "after")
    if until is not None:
        query["until"] = _instant(until, "until")
    if direction is not None:
        query["direction"] = _choice(direction, "direction", ("asc", "desc"))
    if page_size is not None:
        query["page_size"] = _bound(page_size, "page_size", MAX_ACTIVITIES_PAGE)
    if page_token is not None:
        if not page_token:
            raise ValueError("page_token is empty: pass the id of the last activity seen")
        query["page_token"] = page_token
    return query
