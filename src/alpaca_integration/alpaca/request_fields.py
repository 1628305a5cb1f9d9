"""The fields every Alpaca request body is made of, checked one by one: numbers (exact, finite,
positive, within sanity bounds, at most so many decimals), prices (Alpaca's tick rules), enum
values and client order ids. A bad value is an ``OrderValidationError`` whose ``field`` names the
culprit and whose message says why and how to fix it.

``requests`` (equity orders, replaces, closes) and ``asset_rules`` (options, crypto, multi-leg)
build their bodies from these. Pure: no I/O, no clock reads. Imports only ``errors`` from the
package.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from alpaca_integration.errors import OrderValidationError

__all__ = [
    "MAX_CLIENT_ORDER_ID_LENGTH",
    "MAX_ORDER_NOTIONAL",
    "MAX_ORDER_QTY",
    "MAX_PRICE",
    "MAX_QTY_DECIMALS",
    "as_decimal",
    "checked_client_order_id",
    "decimal_places",
    "decimal_text",
    "member",
    "positive",
    "price",
    "refuse",
    "size",
    "whole",
    "within",
]

MAX_CLIENT_ORDER_ID_LENGTH = 128
# Sanity bounds, far above any real order (the largest equity orders are millions of shares; a
# crypto order of a coin worth a thousandth of a cent is still below ten billion units; BRK.A
# trades below $1M): what lies beyond is a typo or an attack, refused before it is sent.
MAX_ORDER_QTY = Decimal(10_000_000_000)
MAX_ORDER_NOTIONAL = Decimal(1_000_000_000)
MAX_PRICE = Decimal(10_000_000)
# Alpaca's finest fraction (fractional shares, crypto) is 1e-9.
MAX_QTY_DECIMALS = 9

_ONE = Decimal(1)


def decimal_text(value: Decimal) -> str:
    """A Decimal as Alpaca expects it: plain notation, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def refuse(field: str, problem: str, fix: str) -> OrderValidationError:
    return OrderValidationError(f"{field}: {problem}. Fix: {fix}", field=field)


def as_decimal(value: object, field: str) -> Decimal:
    """Coerce a user-supplied number to Decimal, refusing floats (they are not exact)."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool):
        raise refuse(field, f"{value!r} is not a number", f"pass {field} as a Decimal")
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise refuse(
                field, f"{value!r} is not a number", f"pass {field} as a Decimal"
            ) from None
    elif isinstance(value, float):
        raise refuse(
            field,
            f"got the float {value!r}, which cannot represent money exactly",
            f"pass Decimal({str(value)!r}) or the string {str(value)!r}",
        )
    else:
        raise refuse(field, f"{value!r} ({type(value).__name__}) is not a number", "pass a Decimal")
    if not number.is_finite():
        raise refuse(field, f"{value!r} is not a finite number", f"pass a real {field}")
    return number


def positive(value: object, field: str) -> Decimal:
    number = as_decimal(value, field)
    if number <= 0:
        raise refuse(
            field, f"must be greater than 0, got {decimal_text(number)}", f"pass {field} > 0"
        )
    return number


def decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def within(number: Decimal, field: str, maximum: Decimal, what: str) -> Decimal:
    """``number`` when it is at most ``maximum``; else a refusal that names the bound."""
    if number > maximum:
        shown = decimal_text(number) if number.adjusted() < 30 else f"{number:.3E}"
        raise refuse(
            field,
            f"{shown} is beyond the largest {what} this client sends ({maximum:,})",
            f"check {field} for a typo; orders this large are refused before sending",
        )
    return number


def size(value: object, field: str, maximum: Decimal) -> Decimal:
    """A positive quantity or notional within ``maximum`` and ``MAX_QTY_DECIMALS`` decimals."""
    number = within(positive(value, field), field, maximum, "size")
    if decimal_places(number) > MAX_QTY_DECIMALS:
        raise refuse(
            field,
            f"has more than {MAX_QTY_DECIMALS} decimals; Alpaca's finest fraction is 1e-9",
            f"round {field} to at most {MAX_QTY_DECIMALS} decimals",
        )
    return number


def price(
    value: object,
    field: str,
    *,
    max_decimals: int | None = None,
    why: str = "",
    signed: bool = False,
) -> Decimal:
    """A price within ``MAX_PRICE``. By default positive and on Alpaca's equity tick (2 decimals
    from $1, 4 below $1); ``max_decimals`` fixes the decimals instead (``why`` says whose rule
    that is); ``signed`` takes a net price that may be zero or negative (a multi-leg credit)."""
    if signed:
        number = as_decimal(value, field)
        within(abs(number), field, MAX_PRICE, "price")
    else:
        number = within(positive(value, field), field, MAX_PRICE, "price")
    if max_decimals is None:
        allowed = 2 if number >= _ONE else 4
        why = (
            f"a sub-penny price: Alpaca accepts at most {allowed} decimals for prices "
            f"{'at or above' if allowed == 2 else 'below'} $1"
        )
    else:
        allowed = max_decimals
    if decimal_places(number) > allowed:
        rounded = number.quantize(Decimal(1).scaleb(-allowed))
        raise refuse(
            field,
            f"{decimal_text(number)} is {why}",
            f"round it, e.g. to {decimal_text(rounded)}",
        )
    return number


def whole(value: Decimal, field: str, what: str) -> Decimal:
    """``value`` when it is a whole number; else a refusal saying ``what`` cannot be split."""
    if value != value.to_integral_value():
        raise refuse(
            field,
            f"{decimal_text(value)} is not a whole number: {what}",
            f"pass a whole number such as {decimal_text(max(value.to_integral_value(), _ONE))}",
        )
    return value


def member(enum_type: Any, value: object, field: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        known = ", ".join(member.value for member in enum_type)
        raise refuse(field, f"{value!r} is not a valid {field}", f"use one of {known}") from None


def checked_client_order_id(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise refuse("client_order_id", f"{value!r} is not a string", "pass a string id")
    if len(value) > MAX_CLIENT_ORDER_ID_LENGTH:
        raise refuse(
            "client_order_id",
            f"is {len(value)} characters long; Alpaca allows at most {MAX_CLIENT_ORDER_ID_LENGTH}",
            "use a shorter id (models.new_client_order_id() makes 35-character ids)",
        )
    return value
