"""The ledger's trades (and cash items) as CSV that Portfolio Performance and Ghostfolio import.

* ``portfolio-performance``: PP's CSV import ("Portfolio Transactions" / "Account Transactions"
  columns, matched by header name): ``Date, Time, Type, Security Name, Ticker Symbol, Shares,
  Value, Fees, Taxes, Transaction Currency, Note``. ``Value`` is the cash moved: a buy's
  ``shares * price + fees``, a sell's ``shares * price - fees``; types ``Buy``, ``Sell``,
  ``Dividend``, ``Interest``, ``Fees``.
* ``ghostfolio``: Ghostfolio's activity import: ``Date, Code, DataSource, Currency, Price,
  Quantity, Action, Fee, Note`` with actions ``buy``, ``sell``, ``dividend``, ``interest``,
  ``fee`` (a cash item is one unit at its amount).

Amounts are exact decimal text (never floats), dates New York trading days (ISO), times UTC.
Imports only the ledger's types.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from alpaca_integration.ledger.records import Income
from alpaca_integration.ledger.rows import day_of
from alpaca_integration.ledger.stored import StoredLedger
from alpaca_integration.models import Fill, OrderSide

__all__ = ["PROFILES", "trades_csv"]

PROFILES = ("portfolio-performance", "ghostfolio")
_PP = [
    "Date",
    "Time",
    "Type",
    "Security Name",
    "Ticker Symbol",
    "Shares",
    "Value",
    "Fees",
    "Taxes",
    "Transaction Currency",
    "Note",
]
_GHOSTFOLIO = [
    "Date",
    "Code",
    "DataSource",
    "Currency",
    "Price",
    "Quantity",
    "Action",
    "Fee",
    "Note",
]
_INCOME_TYPES = {"dividend": "Dividend", "interest": "Interest", "fee": "Fees", "other": "Deposit"}


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def _pp_fill(fill: Fill, account: str) -> list[str]:
    gross = fill.qty * fill.price * fill.multiplier
    buy = fill.side is OrderSide.BUY
    value = gross + fill.fee if buy else gross - fill.fee
    return [
        day_of(fill.timestamp).isoformat(),
        fill.timestamp.strftime("%H:%M:%S"),
        "Buy" if buy else "Sell",
        fill.symbol,
        fill.symbol,
        _text(fill.qty * fill.multiplier),
        _text(value),
        _text(fill.fee),
        "0",
        "USD",
        f"{account} fill {fill.fill_id}",
    ]


def _pp_income(item: Income, account: str) -> list[str]:
    kind = _INCOME_TYPES.get(str(item.kind), "Deposit")
    amount = -item.amount if kind == "Fees" else item.amount
    return [
        day_of(item.at).isoformat(),
        item.at.strftime("%H:%M:%S"),
        kind,
        item.symbol or "",
        item.symbol or "",
        "",
        _text(amount),
        "0",
        "0",
        "USD",
        f"{account} {item.activity_type} {item.activity_id}",
    ]


def _gf_fill(fill: Fill, account: str) -> list[str]:
    return [
        day_of(fill.timestamp).isoformat(),
        fill.symbol,
        "YAHOO",
        "USD",
        _text(fill.price * fill.multiplier),
        _text(fill.qty),
        str(fill.side.value),
        _text(fill.fee),
        f"{account} fill {fill.fill_id}",
    ]


def _gf_income(item: Income, account: str) -> list[str]:
    kind = str(item.kind) if str(item.kind) in ("dividend", "interest", "fee") else "interest"
    amount = -item.amount if kind == "fee" else item.amount
    return [
        day_of(item.at).isoformat(),
        item.symbol or "USD",
        "MANUAL" if not item.symbol else "YAHOO",
        "USD",
        _text(amount),
        "1",
        kind,
        "0",
        f"{account} {item.activity_type} {item.activity_id}",
    ]


def _rows(ledger: StoredLedger, profile: str) -> Iterable[tuple[Any, list[str]]]:
    fill_row, income_row = (
        (_pp_fill, _pp_income) if profile == PROFILES[0] else (_gf_fill, _gf_income)
    )
    for fill in ledger.fills:
        yield fill.timestamp, fill_row(fill, ledger.account)
    for item in ledger.income:
        yield item.at, income_row(item, ledger.account)


def trades_csv(ledgers: Sequence[StoredLedger], profile: str = PROFILES[0]) -> str:
    """Every fill and income item of ``ledgers``, oldest first, as CSV text for ``profile``."""
    if profile not in PROFILES:
        raise ValueError(f"profile {profile!r}: use {' or '.join(PROFILES)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_PP if profile == PROFILES[0] else _GHOSTFOLIO)
    rows = [row for ledger in ledgers for row in _rows(ledger, profile)]
    rows.sort(key=lambda item: item[0])
    writer.writerows(row for _, row in rows)
    return out.getvalue()
