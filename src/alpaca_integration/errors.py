"""One exception tree for the whole package.

Callers match on classes, never on message text::

    AlpacaIntegrationError
    ├── ConfigError                      invalid or missing settings (named, with the fix)
    ├── OrderValidationError             an order intent breaks a venue rule; nothing was sent
    ├── RiskLimitError                   a pre-trade risk check refused the order; nothing was sent
    ├── ParseError                       a venue payload could not be mapped (e.g. unknown status)
    ├── ApiError                         the venue answered with an error status
    │   ├── AuthError                    401: bad or missing keys
    │   ├── ForbiddenError               403
    │   │   ├── InsufficientBuyingPowerError
    │   │   ├── InsufficientQtyError
    │   │   └── ShortingNotAllowedError
    │   ├── NotFoundError                404 (unknown order, flat position, ...)
    │   ├── RequestRejectedError         400/422: the venue refused the request's content
    │   │   ├── DuplicateClientOrderIdError
    │   │   └── SubPennyError
    │   ├── RateLimitedError             429
    │   └── ServerError                  5xx
    ├── TransportError                   no answer: connect failure, reset, timeout
    │   ├── RequestTimeoutError
    │   └── RequestNotSentError          nothing reached the venue (it cannot have acted)
    ├── OrderOutcomeUnknownError         a submit/replace whose fate could not be established
    ├── InstructionOutcomeUnknownError   an exercise / do-not-exercise whose fate is unknown
    ├── StreamError                      trade_updates protocol or authorization failure
    └── StorageError                     the store refused or lost a write
        └── FencedWriteError             a writer whose lease was taken over (stale epoch)

Lower-level exceptions (httpx, SQLAlchemy, redis) are translated at the boundary with
``raise ... from``. No message built here ever contains an API secret: errors carry what the venue
said and what the caller sent, never the request headers.

This module imports nothing from the package.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlpacaIntegrationError",
    "ApiError",
    "AuthError",
    "ConfigError",
    "DuplicateClientOrderIdError",
    "FencedWriteError",
    "ForbiddenError",
    "InstructionOutcomeUnknownError",
    "InsufficientBuyingPowerError",
    "InsufficientQtyError",
    "NotFoundError",
    "OrderOutcomeUnknownError",
    "OrderValidationError",
    "ParseError",
    "RateLimitedError",
    "RequestNotSentError",
    "RequestRejectedError",
    "RequestTimeoutError",
    "RiskLimitError",
    "ServerError",
    "ShortingNotAllowedError",
    "StorageError",
    "StreamError",
    "SubPennyError",
    "TransportError",
]


class AlpacaIntegrationError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(AlpacaIntegrationError):
    """A setting is missing or invalid. The message names the setting and how to fix it."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class OrderValidationError(AlpacaIntegrationError, ValueError):
    """An order intent breaks one of the venue's rules; no request was sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RiskLimitError(AlpacaIntegrationError):
    """A pre-trade risk limit refused the order; no request was sent."""

    def __init__(self, message: str, *, limit: str, account: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.account = account


class ParseError(AlpacaIntegrationError, ValueError):
    """A payload from the venue could not be mapped to the domain models."""

    def __init__(self, message: str, *, shape: str | None = None, value: object = None) -> None:
        super().__init__(message)
        self.shape = shape
        self.value = value


class ApiError(AlpacaIntegrationError):
    """The venue answered with an error status.

    ``status`` is the HTTP status, ``code`` Alpaca's numeric code (None when the body had none),
    ``message`` the venue's message, ``extra`` every other key of the error body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: int | None = None,
        extra: dict[str, Any] | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        where = f" ({method} {path})" if method and path else ""
        code_text = f", code {code}" if code is not None else ""
        super().__init__(f"HTTP {status}{code_text}{where}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra: dict[str, Any] = dict(extra or {})
        self.method = method
        self.path = path


class AuthError(ApiError):
    """401: the API key pair was refused. Check ALPACA_API_KEY / ALPACA_SECRET_KEY and the base URL."""


class ForbiddenError(ApiError):
    """403: the account may not do this."""


class InsufficientBuyingPowerError(ForbiddenError):
    """403: not enough buying power for the order."""


class InsufficientQtyError(ForbiddenError):
    """403: not enough shares available (held for other orders or not owned)."""


class ShortingNotAllowedError(ForbiddenError):
    """403: the account or the asset does not allow short selling."""


class NotFoundError(ApiError):
    """404: no such order, position, asset or watchlist."""


class RequestRejectedError(ApiError):
    """400/422: the venue refused the request's content."""


class DuplicateClientOrderIdError(RequestRejectedError):
    """422: the client_order_id is already taken on this account (ids are unique forever)."""


class SubPennyError(RequestRejectedError):
    """422: a price has more decimals than the venue allows."""


class RateLimitedError(ApiError):
    """429: over the request budget. ``reset_at`` is the UNIX time the budget refills by the
    venue's clock, if known; ``reset_in`` the seconds from the answer until then."""

    def __init__(
        self,
        message: str,
        *,
        reset_at: float | None = None,
        reset_in: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at
        self.reset_in = reset_in


class ServerError(ApiError):
    """5xx: the venue failed; the request's effect is unknown for writes."""


class TransportError(AlpacaIntegrationError):
    """No answer from the venue: connection refused or reset, TLS failure, timeout."""


class RequestTimeoutError(TransportError):
    """The venue did not answer within the configured timeout."""


class RequestNotSentError(TransportError):
    """The request never reached the venue (connection refused, no connection within the connect
    or pool timeout), so the venue cannot have acted on it: an order may be sent again."""


class OrderOutcomeUnknownError(AlpacaIntegrationError):
    """A submit or replace got no clear answer and a lookup could not establish what happened.

    The order may or may not exist at the venue. ``client_order_id`` is the key to look it up
    again later; the order must never be resent under a new id.
    """

    def __init__(self, message: str, *, client_order_id: str) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id


class InstructionOutcomeUnknownError(AlpacaIntegrationError):
    """An option exercise or do-not-exercise instruction got no clear answer, and looking at the
    position (and the account's exercise activities) could not tell whether the venue took it.

    Never resend it blindly: check the position first. ``symbol`` is the contract;
    ``instruction`` is ``exercise`` or ``do-not-exercise``.
    """

    def __init__(self, message: str, *, symbol: str, instruction: str) -> None:
        super().__init__(message)
        self.symbol = symbol
        self.instruction = instruction


class StreamError(AlpacaIntegrationError):
    """The trade_updates stream refused authorization or broke its protocol."""


class StorageError(AlpacaIntegrationError):
    """The store could not complete a write or a read."""


class FencedWriteError(StorageError):
    """A write carried a lease epoch older than the one stored for its account: another
    monitor took the account over, so this writer must stop (nothing was written)."""
