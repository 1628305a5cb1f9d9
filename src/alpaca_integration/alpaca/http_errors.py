"""A venue answer with an error status -> the typed error of ``errors`` (never raises).

The class is chosen by HTTP status first, then by the error body's extra fields (``buying_power``
means insufficient buying power, ``available``/``held_for_orders``/``existing_qty`` insufficient
quantity), and only then by message text, in the one table ``MESSAGE_RULES``: for those cases
Alpaca sends the same status and code as for other refusals and no field that tells them apart.

This module imports only ``errors``, ``alpaca.parse`` and ``alpaca.ratelimit`` from the package;
never the client, the transport or anything doing I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from alpaca_integration.alpaca import parse
from alpaca_integration.alpaca.ratelimit import parse_rate_limit_headers
from alpaca_integration.errors import (
    ApiError,
    AuthError,
    DuplicateClientOrderIdError,
    ForbiddenError,
    InsufficientBuyingPowerError,
    InsufficientQtyError,
    NotFoundError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    ShortingNotAllowedError,
    SubPennyError,
)

__all__ = ["MESSAGE_RULES", "error_class_for", "error_from_response"]

# The one table where an error message's text decides the class: for these Alpaca sends the same
# status and code as for other refusals, and no field that tells them apart. Each entry:
# (HTTP statuses, lower-case fragments any of which must appear in the message, class).
MESSAGE_RULES: tuple[tuple[frozenset[int], tuple[str, ...], type[ApiError]], ...] = (
    # 422 / 40010001 is also every qty/notional validation failure.
    (frozenset({400, 422}), ("client_order_id must be unique",), DuplicateClientOrderIdError),
    # 422 / 42210000 is also invalid symbols, wash trades, bracket rules.
    (frozenset({422}), ("sub-penny", "sub penny", "subpenny"), SubPennyError),
    # 403 / 40310000 is also buying power and qty (those carry extra fields, checked first).
    (frozenset({403}), ("short",), ShortingNotAllowedError),
)

_BY_STATUS: dict[int, type[ApiError]] = {
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    400: RequestRejectedError,
    422: RequestRejectedError,
    429: RateLimitedError,
}


def error_class_for(status: int, message: str, extra: Mapping[str, Any]) -> type[ApiError]:
    """The error class for one answer: extra fields first, then ``MESSAGE_RULES``, then status."""
    if status == 403:
        if "buying_power" in extra:
            return InsufficientBuyingPowerError
        if {"available", "held_for_orders", "existing_qty"} & extra.keys():
            return InsufficientQtyError
    lowered = message.lower()
    for statuses, fragments, error_class in MESSAGE_RULES:
        if status in statuses and any(fragment in lowered for fragment in fragments):
            return error_class
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)


def error_from_response(
    status: int,
    body: bytes,
    *,
    method: str | None = None,
    path: str | None = None,
    headers: Mapping[str, str] | None = None,
    now: float | None = None,
) -> ApiError:
    """The typed error for a venue answer with an error status (never raises). ``now`` is the
    venue's time by this host's estimate, for a 429 without a ``Date`` header."""
    code, message, extra = parse.parse_error(body)
    if not message:
        message = httpx.codes.get_reason_phrase(status) or "error"
    error_class = error_class_for(status, message, extra)
    if error_class is RateLimitedError:
        limits = parse_rate_limit_headers(headers or {}, now=now)
        return RateLimitedError(
            message,
            reset_at=limits.reset_at if limits else None,
            reset_in=limits.reset_in if limits else None,
            status=status,
            code=code,
            extra=extra,
            method=method,
            path=path,
        )
    if error_class is AuthError:
        message = (
            f"{message} (the API key pair was refused: check ALPACA_API_KEY / ALPACA_SECRET_KEY "
            "and that ALPACA_BASE_URL is the venue the keys belong to, paper or live)"
        )
    return error_class(message, status=status, code=code, extra=extra, method=method, path=path)
