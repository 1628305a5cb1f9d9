"""Alpaca's wire conventions as the simulator speaks them: decimal strings, RFC 3339 times,
error bodies, and the parsing of what clients send (numbers as JSON strings or numbers).

``VenueError`` is how the broker refuses a request: it carries the HTTP status, Alpaca's numeric
code, the message and any extra keys of the error body. Every message says what was wrong and,
where there is one, what to do instead. No message ever echoes a secret key.

This module imports nothing from the package.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "CODE_BAD_REQUEST",
    "CODE_FORBIDDEN",
    "CODE_NOT_FOUND",
    "CODE_RATE_LIMITED",
    "CODE_SERVER_ERROR",
    "CODE_UNAUTHORIZED",
    "CODE_UNPROCESSABLE",
    "CODE_VALIDATION",
    "VenueError",
    "bad_request",
    "fmt",
    "fmt_or_none",
    "forbidden",
    "invalid",
    "not_found",
    "parse_bool",
    "parse_decimal",
    "parse_descending",
    "parse_int",
    "parse_page_size",
    "parse_time",
    "parse_window",
    "require_object",
    "ts",
    "ts_or_none",
    "unprocessable",
]

CODE_BAD_REQUEST = 40010000
CODE_VALIDATION = 40010001
CODE_UNAUTHORIZED = 40110000
CODE_FORBIDDEN = 40310000
CODE_NOT_FOUND = 40410000
CODE_UNPROCESSABLE = 42210000
CODE_RATE_LIMITED = 42910000
CODE_SERVER_ERROR = 50010000


class VenueError(Exception):
    """A refusal, answered as ``{"code": code, "message": message, **extra}`` with ``status``."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


def bad_request(message: str) -> VenueError:
    """400 / 40010000: the request itself is malformed (not JSON, not an object)."""
    return VenueError(400, CODE_BAD_REQUEST, message)


def invalid(message: str) -> VenueError:
    """422 / 40010001: a field is missing or malformed."""
    return VenueError(422, CODE_VALIDATION, message)


def unprocessable(message: str, **extra: Any) -> VenueError:
    """422 / 42210000: a well-formed request the venue's rules refuse."""
    return VenueError(422, CODE_UNPROCESSABLE, message, **extra)


def forbidden(message: str, **extra: Any) -> VenueError:
    """403 / 40310000: the account may not do this (buying power, shorting, held qty)."""
    return VenueError(403, CODE_FORBIDDEN, message, **extra)


def not_found(message: str) -> VenueError:
    """404 / 40410000."""
    return VenueError(404, CODE_NOT_FOUND, message)


def require_object(body: object) -> dict[str, Any]:
    """The request body as a JSON object, or 400 with Alpaca's code."""
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body


def fmt(value: Decimal) -> str:
    """A decimal as Alpaca writes it: plain notation, no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        return "0"
    return text


def fmt_or_none(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def ts(value: dt.datetime) -> str:
    """RFC 3339 in UTC with microseconds and ``Z``."""
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def ts_or_none(value: dt.datetime | None) -> str | None:
    return None if value is None else ts(value)


def parse_decimal(value: object, field: str, *, code: int = CODE_VALIDATION) -> Decimal:
    """A decimal from a JSON string or number (alpaca-py sends floats)."""
    if isinstance(value, bool):
        raise VenueError(422, code, f"{field} must be a number or a decimal string")
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, (int, str)):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            pass
        else:
            if result.is_finite():
                return result
    raise VenueError(
        422, code, f'{field} must be a number or a decimal string such as "10.5", got {value!r}'
    )


def parse_int(value: str | None, field: str, *, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise VenueError(
            422, CODE_UNPROCESSABLE, f"{field} must be a whole number, got {value!r}"
        ) from None


def parse_bool(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise VenueError(422, CODE_VALIDATION, f"{field} must be true or false, got {value!r}")


def parse_time(value: str, field: str) -> dt.datetime:
    """An RFC 3339 timestamp (nanoseconds are cut to microseconds) or a date (midnight New York
    time is not assumed: a bare date means 00:00 UTC)."""
    text = value.strip()
    # An unencoded "+05:00" arrives as " 05:00" after query-string decoding: restore the sign.
    if len(text) > 6 and text[-6] == " " and text[-3] == ":" and text[-5:-3].isdigit():
        text = text[:-6] + "+" + text[-5:]
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[: min(digits, 6)]}{tail[digits:]}"
        if digits == 0:
            text = head + tail
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise VenueError(
            422,
            CODE_UNPROCESSABLE,
            f"{field} must be an RFC 3339 timestamp such as 2024-03-04T14:30:00Z or a date "
            f"such as 2024-03-04, got {value!r}",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_descending(params: dict[str, str]) -> bool:
    """A listing's ``direction`` (default desc): True for newest first."""
    direction = params.get("direction") or "desc"
    if direction not in ("asc", "desc"):
        raise unprocessable(f"direction must be asc or desc, got {direction!r}")
    return direction == "desc"


def parse_window(params: dict[str, str]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A listing's exclusive ``after`` / ``until`` bounds (None when not given)."""
    after = parse_time(params["after"], "after") if params.get("after") else None
    until = parse_time(params["until"], "until") if params.get("until") else None
    return after, until


def parse_page_size(
    params: dict[str, str], field: str, *, default: int, most: int, hint: str
) -> int:
    """A listing's page size, 1 to ``most`` (``hint`` says how to read further)."""
    size = parse_int(params.get(field), field, default=default)
    if not 1 <= size <= most:
        raise unprocessable(f"{field} must be between 1 and {most}, got {size}; {hint}")
    return size
