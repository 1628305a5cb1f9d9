"""An account's history as Alpaca serves it: activities with their filters and page_token
paging (``GET /v2/account/activities[/{type}]``) and the portfolio history sampled from equity
(``GET /v2/account/portfolio/history``).

Both are read-only views over what ``accounting`` recorded; they parse Alpaca's query
parameters and answer 422 with the fix for a bad one.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from alpaca_integration.simulator.clock import NEW_YORK
from alpaca_integration.simulator.state import Account
from alpaca_integration.simulator.wire import (
    parse_descending,
    parse_page_size,
    parse_time,
    parse_window,
    unprocessable,
)

__all__ = ["ACTIVITY_TYPES", "activities", "portfolio_history"]

ACTIVITY_TYPES = (
    "FILL",
    "TRANS",
    "MISC",
    "ACATC",
    "ACATS",
    "CFEE",
    "CSD",
    "CSW",
    "DIV",
    "DIVCGL",
    "DIVCGS",
    "DIVFEE",
    "DIVFT",
    "DIVNRA",
    "DIVROC",
    "DIVTW",
    "DIVTXEX",
    "FEE",
    "INT",
    "INTNRA",
    "INTTW",
    "JNL",
    "JNLC",
    "JNLS",
    "MA",
    "NC",
    "OPASN",
    "OPEXP",
    "OPXRC",
    "PTC",
    "PTR",
    "REORG",
    "SC",
    "SSO",
    "SSP",
    "SPLIT",
)
_MAX_ACTIVITIES_PAGE = 100
_BUCKETS = {"1Min": 60, "5Min": 300, "15Min": 900, "1H": 3600, "1D": 86400}
_PERIOD_UNITS = {"D": 86400, "W": 7 * 86400, "M": 30 * 86400, "A": 365 * 86400}


@dataclasses.dataclass(frozen=True, slots=True)
class _ActivityQuery:
    """The filters of one activities request."""

    types: set[str] | None
    category: str | None
    page_size: int
    descending: bool
    after: dt.datetime | None
    until: dt.datetime | None
    day: dt.date | None

    def admits(self, activity: dict[str, Any], at: dt.datetime) -> bool:
        kind = activity["activity_type"]
        if self.types is not None and kind not in self.types:
            return False
        if self.category == "trade_activity" and kind != "FILL":
            return False
        if self.category == "non_trade_activity" and kind == "FILL":
            return False
        return self.day is None or at.astimezone(NEW_YORK).date() == self.day


def _activity_types(params: dict[str, str], activity_type: str | None) -> set[str] | None:
    if activity_type is not None:
        types: set[str] | None = {activity_type.upper()}
    elif params.get("activity_types"):
        types = {t.strip().upper() for t in params["activity_types"].split(",") if t.strip()}
    else:
        types = None
    if types is not None:
        unknown = sorted(types - set(ACTIVITY_TYPES))
        if unknown:
            raise unprocessable(
                f"invalid activity type(s) {', '.join(unknown)}; valid: {', '.join(ACTIVITY_TYPES)}"
            )
    return types


def _activity_query(params: dict[str, str], activity_type: str | None) -> _ActivityQuery:
    types = _activity_types(params, activity_type)
    category = params.get("category")
    if category is not None:
        if category not in ("trade_activity", "non_trade_activity"):
            raise unprocessable("category must be trade_activity or non_trade_activity")
        if types is not None:
            raise unprocessable("give activity_types or category, not both")
    page_size = parse_page_size(
        params,
        "page_size",
        default=_MAX_ACTIVITIES_PAGE,
        most=_MAX_ACTIVITIES_PAGE,
        hint="use page_token to read further",
    )
    descending = parse_descending(params)
    after, until = parse_window(params)
    return _ActivityQuery(
        types=types,
        category=category,
        page_size=page_size,
        descending=descending,
        after=after,
        until=until,
        day=parse_time(params["date"], "date").date() if params.get("date") else None,
    )


def _first_index(account: Account, query: _ActivityQuery, token: str | None) -> int:
    """Where the page starts: the newest (desc) or oldest (asc), or just past the token."""
    step = -1 if query.descending else 1
    if not token:
        return len(account.activities) - 1 if query.descending else 0
    index = account.activity_index.get(token)
    if index is None:
        raise unprocessable(
            "page_token is not the id of an activity of this account; pass the id of "
            "the last activity of the previous page"
        )
    return index + step


def activities(
    account: Account, params: dict[str, str], activity_type: str | None = None
) -> list[dict[str, Any]]:
    """GET /v2/account/activities[/{type}] with Alpaca's filters and page_token paging."""
    query = _activity_query(params, activity_type)
    step = -1 if query.descending else 1
    index = _first_index(account, query, params.get("page_token"))
    records = account.activities
    times = account.activity_times
    out: list[dict[str, Any]] = []
    while 0 <= index < len(records) and len(out) < query.page_size:
        activity = records[index]
        at = times[index]
        index += step
        # Times only grow along the list: past the window's far edge nothing more can match.
        if query.after is not None and at <= query.after:
            if query.descending:
                break
            continue
        if query.until is not None and at >= query.until:
            if not query.descending:
                break
            continue
        if query.admits(activity, at):
            out.append(activity)
    return out


def _span_seconds(period: str) -> int:
    try:
        return int(period[:-1] or "1") * _PERIOD_UNITS[period[-1]]
    except (KeyError, ValueError, IndexError):
        raise unprocessable(
            f"period must be a number and a unit D, W, M or A (e.g. 1W), got {period!r}"
        ) from None


def portfolio_history(
    account: Account, params: dict[str, str], *, now: dt.datetime, equity: Decimal
) -> dict[str, Any]:
    """GET /v2/account/portfolio/history from the equity sampled once a simulated minute
    (``equity`` is the current one, appended as the last sample)."""
    timeframe = params.get("timeframe") or "1D"
    if timeframe not in _BUCKETS:
        raise unprocessable(f"timeframe must be one of {', '.join(_BUCKETS)}")
    span = _span_seconds(params.get("period") or "1M")
    end = parse_time(params["end"], "end") if params.get("end") else now
    start = (
        parse_time(params["start"], "start")
        if params.get("start")
        else end - dt.timedelta(seconds=span)
    )
    bucket = _BUCKETS[timeframe]
    points: dict[int, Decimal] = {}
    samples = list(account.equity_samples)
    samples.append((int(now.timestamp()), equity))
    for at, value in samples:
        if start.timestamp() <= at <= end.timestamp():
            points[at - at % bucket] = value
    base = account.starting_cash
    stamps = sorted(points)
    return {
        "timestamp": stamps,
        "equity": [float(points[s]) for s in stamps],
        "profit_loss": [round(float(points[s] - base), 4) for s in stamps],
        "profit_loss_pct": [
            round(float((points[s] - base) / base), 6) if base else 0.0 for s in stamps
        ],
        "base_value": float(base),
        "base_value_asof": start.astimezone(NEW_YORK).date().isoformat(),
        "timeframe": timeframe,
    }
