"""How the ledger reads its input: what each activity type means to it, when an event happened, in
which order events apply, and the shape of a corporate-action leg.

Alpaca reports a corporate action as legs, one activity each, linked by ``group_id``: a removal leg
(signed ``qty`` taking the old position away, with ``price``) and an addition leg (putting the new
one in), plus, for cash mergers and cash in lieu, a cash leg (``net_amount``). The REST activity
carries ``symbol``/``qty``/``price``/``net_amount`` at the top level; the activities event stream
puts the symbols and rates under ``details``. ``leg_of`` reads both from ``Activity.raw`` (see
docs/ledger.md for the shapes relied on).

Imports only ``models`` and ``ledger.symbols`` from the package.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from alpaca_integration.ledger.symbols import parse_occ_symbol
from alpaca_integration.models import Activity, Fill

__all__ = [
    "NEW_YORK",
    "Leg",
    "Role",
    "activity_key",
    "activity_time",
    "detail",
    "detail_decimal",
    "fill_key",
    "fill_key_rank",
    "group_key",
    "leg_of",
    "option_group_key",
    "role_of",
]

NEW_YORK = ZoneInfo("America/New_York")
_ZERO = Decimal(0)


class Role(enum.Enum):
    """What an activity does to the ledger. ``sequenced`` roles change lots, so they must apply in
    time order; the others add up the same in any order."""

    REORG_LEG = ("reorg", True)  # SPLIT, NC, MA, OPCA, REORG: one leg of a grouped action
    SPIN = ("spin", True)  # SPIN: new shares of a spun-off company
    STOCK_DIVIDEND = ("stock_dividend", True)  # DIV with a quantity of shares
    DIVIDEND = ("dividend", True)  # DIV*, CGD cash: booked to the sleeves holding the symbol
    OPTION_EVENT = ("option_event", True)  # OPEXP, OPEXC, OPASN
    OPTION_TRADE = ("option_trade", True)  # OPTRD: the underlying's side of an exercise
    CRYPTO_FEE = ("crypto_fee", True)  # CFEE
    TRANSFER = ("transfer", True)  # JNLS, ACATS with a symbol and quantity
    INTEREST = ("interest", False)  # INT*
    CHARGE = ("charge", False)  # FEE (when not joined to a fill), DIVFEE, PTC, PTR
    CASH_FLOW = ("cash_flow", False)  # CSD, CSW, JNLC, ACATC ...: for returns, not for lots
    IGNORED = ("ignored", False)

    @property
    def sequenced(self) -> bool:
        return self.value[1]


_REORG = frozenset({"SPLIT", "NC", "MA", "OPCA", "REORG"})
_OPTION_EVENTS = frozenset({"OPEXP", "OPEXC", "OPASN"})
_CASH_FLOWS = frozenset({"CSD", "CSW", "JNLC", "ACATC", "JNL", "TRANS"})
_CHARGES = frozenset({"FEE", "DIVFEE", "PTC", "PTR"})

# Among events at the same instant (date-only activities share a midnight): lot changes of a
# corporate action or option event first, then the underlying's side of an exercise, then fills,
# then crypto fees (which attach to fills), then cash items.
_RANK_FILL = 2
_RANKS = {
    Role.REORG_LEG: 0,
    Role.SPIN: 0,
    Role.STOCK_DIVIDEND: 0,
    Role.OPTION_EVENT: 0,
    Role.OPTION_TRADE: 1,
    Role.TRANSFER: 1,
    Role.CRYPTO_FEE: 3,
    Role.DIVIDEND: 4,
}


def role_of(activity: Activity) -> Role:
    kind = activity.activity_type.upper()
    if kind in _REORG:
        return Role.REORG_LEG
    if kind == "SPIN":
        return Role.SPIN
    if kind in _OPTION_EVENTS:
        return Role.OPTION_EVENT
    if kind == "OPTRD":
        return Role.OPTION_TRADE
    if kind == "CFEE":
        return Role.CRYPTO_FEE
    if kind in _CHARGES:
        return Role.CHARGE
    if kind.startswith("DIV") or kind == "CGD":
        if kind == "DIV" and activity.qty and (activity.activity_subtype or "").upper() == "SDIV":
            return Role.STOCK_DIVIDEND
        return Role.DIVIDEND
    if kind.startswith("INT"):
        return Role.INTEREST
    if kind in ("JNLS", "ACATS"):
        return Role.TRANSFER if activity.qty and activity.symbol else Role.CASH_FLOW
    if kind in _CASH_FLOWS:
        return Role.CASH_FLOW
    return Role.IGNORED


def activity_time(activity: Activity) -> dt.datetime:
    """When an activity happened: its transaction time, else its date (New York): the start of the
    day (a corporate action applies before the day's trading), or for a crypto fee, which Alpaca
    posts at the end of the day for the day's trades, the end of the day."""
    if activity.transaction_time is not None:
        return activity.transaction_time
    if activity.date is None:
        raise ValueError(f"activity {activity.id} has neither transaction_time nor date")
    start = dt.datetime.combine(activity.date, dt.time(), NEW_YORK)
    if activity.activity_type.upper() == "CFEE":
        start = dt.datetime.combine(activity.date, dt.time.max, NEW_YORK)
    return start.astimezone(dt.UTC)


def fill_key(fill: Fill) -> tuple[dt.datetime, int, str]:
    return fill.timestamp, _RANK_FILL, fill.fill_id


def fill_key_rank() -> int:
    """The rank of fills among events at one instant (for callers that build keys inline)."""
    return _RANK_FILL


def activity_key(activity: Activity, role: Role) -> tuple[dt.datetime, int, str]:
    return activity_time(activity), _RANKS.get(role, 4), activity.id


# --------------------------------------------------------------------------- legs


class Leg(msgspec.Struct, frozen=True, kw_only=True):
    """One activity of a grouped action, with its payload's extra fields in ``details``."""

    activity_id: str
    activity_type: str
    subtype: str
    symbol: str | None
    order_id: str | None
    qty: Decimal
    price: Decimal | None
    net_amount: Decimal
    at: dt.datetime
    details: dict[str, Any]


def _payload(activity: Activity) -> dict[str, Any]:
    try:
        raw = activity.raw_json()
    except (msgspec.DecodeError, UnicodeDecodeError):
        return {}
    if not isinstance(raw, dict):
        return {}
    nested = raw.get("details")
    return {**raw, **nested} if isinstance(nested, dict) else dict(raw)


def detail(details: Mapping[str, Any], *names: str) -> str | None:
    """The first of ``names`` present (non-empty) in a payload, as text."""
    for name in names:
        value = details.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def detail_decimal(details: Mapping[str, Any], name: str) -> Decimal | None:
    text = detail(details, name)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def leg_of(activity: Activity) -> Leg:
    details = _payload(activity)
    subtype = (activity.activity_subtype or detail(details, "activity_sub_type") or "").upper()
    return Leg(
        activity_id=activity.id,
        activity_type=activity.activity_type.upper(),
        subtype=subtype,
        symbol=activity.symbol,
        order_id=activity.order_id or detail(details, "order_id"),
        qty=activity.qty or _ZERO,
        price=activity.price,
        net_amount=activity.net_amount or _ZERO,
        at=activity_time(activity),
        details=details,
    )


def group_key(leg: Leg) -> str:
    """The legs of one action share it: Alpaca's ``group_id`` (or ``ca_id``), else the type and
    day (and, for a split, whose legs share their symbol, the symbol)."""
    given = detail(leg.details, "group_id", "ca_id")
    if given is not None:
        return given
    day = leg.at.astimezone(NEW_YORK).date().isoformat()
    if leg.activity_type == "SPLIT" and leg.symbol:
        return f"{leg.activity_type}:{day}:{leg.symbol}"
    return f"{leg.activity_type}:{leg.subtype}:{day}"


def option_group_key(leg: Leg) -> str:
    """Pairs an exercise or assignment with its OPTRD: ``group_id``, else day and underlying."""
    given = detail(leg.details, "group_id")
    if given is not None:
        return given
    symbol = leg.symbol or ""
    option = parse_occ_symbol(symbol)
    underlying = option.underlying if option is not None else symbol
    return f"OPT:{leg.at.astimezone(NEW_YORK).date().isoformat()}:{underlying}"
