"""The ledger's frozen rows as the store's table rows and back (pure: no I/O).

``match_row`` / ``lot_rows`` / ``income_row`` give the mappings ``storage.LedgerWrite`` takes;
``match_from_row`` / ``lot_from_row`` / ``income_from_row`` read the store's rows back into the
ledger's own types (``msgspec.convert``). ``day_of`` is the New York day of an instant (the daily
P&L's day), ``returns_rows`` the stored daily returns series.

Imports only ``ledger`` modules and ``models``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from alpaca_integration.ledger.events import NEW_YORK
from alpaca_integration.ledger.records import Income, Lot, Match
from alpaca_integration.ledger.returns import DailyReturn

__all__ = [
    "day_of",
    "income_from_row",
    "income_row",
    "lot_from_row",
    "lot_rows",
    "match_from_row",
    "match_row",
    "returns_rows",
]

_RETURN_QUANTUM = Decimal("1e-12")
_ONE = Decimal(1)


def day_of(at: dt.datetime) -> dt.date:
    """The New York date of an instant."""
    return at.astimezone(NEW_YORK).date()


def _fields(row: msgspec.Struct) -> dict[str, Any]:
    values = msgspec.structs.asdict(row)
    del values["account"]
    return values


def match_row(seq: int, match: Match) -> dict[str, Any]:
    """A match as a ``ledger_matches`` row at its place ``seq`` in the account's sequence."""
    values = _fields(match)
    values["seq"] = seq
    values["kind"] = str(match.kind)
    return values


def lot_rows(lots: Iterable[Lot]) -> list[dict[str, Any]]:
    """Open lots as ``ledger_lots`` rows: ``seq`` is the lot's place in its book."""
    places: dict[tuple[str, str], int] = {}
    rows = []
    for lot in lots:
        key = (lot.sleeve, lot.symbol)
        values = _fields(lot)
        values["seq"] = places.get(key, 0)
        places[key] = values["seq"] + 1
        rows.append(values)
    return rows


def income_row(item: Income) -> dict[str, Any]:
    values = _fields(item)
    values["kind"] = str(item.kind)
    return values


def match_from_row(account: str, row: Mapping[str, Any]) -> Match:
    fields = {k: v for k, v in row.items() if k != "seq"}
    return msgspec.convert({**fields, "account": account}, Match)


def lot_from_row(account: str, row: Mapping[str, Any]) -> Lot:
    fields = {k: v for k, v in row.items() if k != "seq"}
    return msgspec.convert({**fields, "account": account}, Lot)


def income_from_row(account: str, row: Mapping[str, Any]) -> Income:
    return msgspec.convert({**row, "account": account}, Income)


def returns_rows(returns: Sequence[DailyReturn]) -> list[dict[str, Any]]:
    """The daily time-weighted returns with the chained return to date (both to 1e-12)."""
    growth = _ONE
    rows = []
    for point in returns:
        growth *= _ONE + point.value
        rows.append(
            {
                "day": point.day,
                "equity": point.equity,
                "flow": point.flow,
                "daily_return": point.value.quantize(_RETURN_QUANTUM),
                "cumulative_return": (growth - _ONE).quantize(_RETURN_QUANTUM),
            }
        )
    return rows
