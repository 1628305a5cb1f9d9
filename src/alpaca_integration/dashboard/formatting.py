"""The dashboard's Jinja2 environment: templates from the package, autoescaped, and the filters
that turn exact amounts and UTC instants into what a desk reads.

Money is shown with two decimals and thousands separators (rounded half-even only for display:
the store keeps the exact value); quantities and prices keep their exact digits. Instants are
UTC, to the second, with a relative age where it helps.

Imports nothing from the package; no I/O.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import jinja2

# What a cell shows for an unknown value (an en dash).
NONE = "\u2013"

__all__ = [
    "NONE",
    "age",
    "environment",
    "label",
    "money",
    "number",
    "order_prices",
    "order_qty",
    "percent",
    "short_id",
    "signed_class",
    "utc",
]


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def money(value: Any, signed: bool = False) -> str:
    """``12345.678`` -> ``12,345.68`` (``+`` in front of gains when ``signed``)."""
    amount = _decimal(value)
    if amount is None:
        return NONE
    text = f"{amount:,.2f}"
    return f"+{text}" if signed and amount > 0 else text


def number(value: Any) -> str:
    """A quantity or price with its exact digits and no trailing zeros: ``10.500`` -> ``10.5``."""
    amount = _decimal(value)
    if amount is None:
        return NONE
    if amount == amount.to_integral_value():
        return f"{amount.quantize(Decimal(1)):,}"
    return f"{amount.normalize():,f}"


def percent(value: Any) -> str:
    """A ratio as a percentage: ``0.0123`` -> ``1.23%``."""
    ratio = _decimal(value)
    if ratio is None:
        return NONE
    return f"{ratio * 100:,.2f}%"


def signed_class(value: Any) -> str:
    """``gain`` / ``loss`` / empty: the CSS class of a signed amount."""
    amount = _decimal(value)
    if amount is None or amount == 0:
        return ""
    return "gain" if amount > 0 else "loss"


def utc(value: dt.datetime | None, with_ms: bool = False) -> str:
    """``2026-03-02 14:30:05`` (UTC)."""
    if value is None:
        return NONE
    moment = value.astimezone(dt.UTC)
    if with_ms:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def age(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """How long ago: ``4 s``, ``3 min``, ``2 h``, ``5 d``."""
    if value is None:
        return "never"
    seconds = ((now or dt.datetime.now(dt.UTC)) - value).total_seconds()
    if seconds < 0:
        return "now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def label(value: Any) -> str:
    """An enum's value, or the text itself (``OrderStatus.FILLED`` -> ``filled``)."""
    if value is None:
        return NONE
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def order_qty(order: Any) -> str:
    """An order's size: its quantity, or ``$notional`` for a notional order."""
    if order.qty is not None:
        return number(order.qty)
    if order.notional is not None:
        return f"${money(order.notional)}"
    return NONE


def order_prices(order: Any) -> str:
    """An order's price terms: ``lmt 187.25``, ``stp 185``, ``trail 2%``."""
    terms = []
    if order.limit_price is not None:
        terms.append(f"lmt {number(order.limit_price)}")
    if order.stop_price is not None:
        terms.append(f"stp {number(order.stop_price)}")
    if order.trail_percent is not None:
        terms.append(f"trail {number(order.trail_percent)}%")
    elif order.trail_price is not None:
        terms.append(f"trail {number(order.trail_price)}")
    return " ".join(terms)


def short_id(value: str | None) -> str:
    """The first 8 characters of a venue id (the full id stays in the link and the title)."""
    return NONE if not value else value[:8]


def environment() -> jinja2.Environment:
    """Templates from ``dashboard/templates``, autoescaped, undefined names an error."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("alpaca_integration.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        money=money,
        number=number,
        percent=percent,
        signed_class=signed_class,
        utc=utc,
        age=age,
        label=label,
        order_qty=order_qty,
        order_prices=order_prices,
        short_id=short_id,
    )
    return env
