"""How one API key's requests reach the venue: attempts, retries, timeouts, the rate budget.

``RestTransport`` owns the pooled ``httpx.AsyncClient`` (key headers, timeouts, no redirects) and
sends every request through the key's ``RateBudget``:

* ``attempt()`` is one request: wait for a budget slot on the request's lane, send, settle the
  slot, take the answer's ``Date`` as a sample of the venue's clock (``venue_clock``), keep the
  budget in step with the venue's ``X-RateLimit-*`` headers (the reset read against the venue's
  clock), pause the budget after a 429, and turn a failure into a typed error (``http_errors``;
  ``RequestNotSentError`` / ``RequestTimeoutError`` / ``TransportError`` without the httpx
  exception, whose request carries the key headers, in their chain, and never with its text
  where that may quote a header).
* ``call()`` retries ``attempt()`` on the given errors within the ``RetryPolicy``'s bounds
  (attempts and total time; full-jitter backoff; no extra sleep after a 429: the budget holds).

The query helpers (``query_params``, ``path_part``, ``utc_text``, ``names``) spell arguments the
way the venue reads them. This module imports ``errors`` and
``alpaca.{http_errors,ratelimit,ratelimit_base,venue_clock}`` from the package; never the client,
parsing of models, risk, storage or sync.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from alpaca_integration import __version__
from alpaca_integration.alpaca.http_errors import error_from_response
from alpaca_integration.alpaca.ratelimit import Lane, RateBudget, parse_rate_limit_headers
from alpaca_integration.alpaca.ratelimit_base import http_date
from alpaca_integration.alpaca.venue_clock import VenueClock
from alpaca_integration.errors import (
    AlpacaIntegrationError,
    ConfigError,
    RateLimitedError,
    RequestNotSentError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "NO_RETRY",
    "RETRY_ALL",
    "RETRY_WHEN_NOT_ACTED",
    "RestTransport",
    "RetryPolicy",
    "names",
    "path_part",
    "query_params",
    "utc_text",
]

# The client's one logger, whichever module of the adapter speaks: users filter on one name.
log = logging.getLogger("alpaca_integration.alpaca.client")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 20.0

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How retried requests back off: attempt ``n`` (1-based) waits a uniformly random time in
    ``[0, min(max_delay, base_delay * 2**(n-1))]`` ("full jitter"); no more than ``max_attempts``
    attempts and no retry that would end later than ``max_elapsed`` seconds after the first."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 10.0
    max_elapsed: float = 90.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_elapsed < 0:
            raise ConfigError("RetryPolicy delays must be >= 0 seconds")

    def delay(self, attempt: int, rng: random.Random) -> float:
        cap = min(self.max_delay, self.base_delay * (2.0 ** max(attempt - 1, 0)))
        return rng.uniform(0.0, cap)


NO_RETRY = RetryPolicy(max_attempts=1)
RETRY_ALL: tuple[type[AlpacaIntegrationError], ...] = (
    RateLimitedError,
    ServerError,
    TransportError,
)
# For requests that must not be repeated after an unclear outcome: only what the venue did not act on.
RETRY_WHEN_NOT_ACTED: tuple[type[AlpacaIntegrationError], ...] = (
    RateLimitedError,
    RequestNotSentError,
)


# --------------------------------------------------------------------------- query helpers


def path_part(value: str, what: str) -> str:
    """One path segment, escaped; ``ValueError`` when empty."""
    text = str(value).strip()
    if not text:
        raise ValueError(f"{what} must not be empty")
    return quote(text, safe="")


def utc_text(value: dt.datetime, what: str) -> str:
    """An aware datetime as UTC text with microseconds (``ValueError`` when naive)."""
    if value.tzinfo is None:
        raise ValueError(
            f"{what} must be a timezone-aware datetime (got naive {value.isoformat()}); "
            "use datetime.now(UTC) or attach tzinfo=UTC"
        )
    # Microseconds always spelled out: paging moves bounds by one microsecond.
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def names(value: str | Iterable[str] | None) -> list[str] | None:
    """A list of names from a list or one comma-separated string (never split into letters)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def query_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Query parameters as the venue reads them; None values left out."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dt.datetime):
            out[key] = utc_text(value, key)
        elif isinstance(value, dt.date):
            out[key] = value.isoformat()
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


# --------------------------------------------------------------------------- the transport


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    """The TLS context every client would build for itself (``verify=True``, the environment's
    or certifi's CA bundle), built once per process: loading the CA bundle costs ~35 ms of CPU,
    once per account's client at every start or takeover of an account in a monitor."""
    return httpx.create_ssl_context(verify=True, trust_env=True)


class RestTransport:
    """One API key's requests: budget, attempt, retry. ``sleep``, ``clock`` (UNIX time) and
    ``rng`` are seams for tests."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret_key: str,
        *,
        rate_budget: RateBudget,
        retry: RetryPolicy,
        connect_timeout: float,
        read_timeout: float,
        transport: httpx.AsyncBaseTransport | None,
        max_connections: int,
        sleep: Sleep,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ConfigError("connect_timeout and read_timeout must be > 0 seconds")
        # The secret as it could appear in an exception's text: verbatim, or escaped in a repr.
        self._secret_forms = sorted({secret_key, repr(secret_key)[1:-1]}, key=len, reverse=True)
        self.rate_budget = rate_budget
        self.retry = retry
        self.sleep = sleep
        self.clock = clock
        self.rng = rng
        self.venue_clock = VenueClock(clock)
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "APCA-API-KEY-ID": key_id,
                "APCA-API-SECRET-KEY": secret_key,
                "User-Agent": f"alpaca-integration/{__version__}",
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(
                connect=connect_timeout, read=read_timeout, write=read_timeout, pool=read_timeout
            ),
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            verify=_verifying_context(),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        lane: Lane,
    ) -> httpx.Response:
        """The request itself, within a budget slot; failures as typed errors."""
        permit = await self.rate_budget.acquire(lane)
        failure: AlpacaIntegrationError | None = None
        response: httpx.Response | None = None
        try:
            response = await self._http.request(
                method,
                path,
                params=params,
                content=content,
                headers={"Content-Type": "application/json"} if content is not None else None,
            )
        except httpx.TransportError as exc:
            failure = self._failure(method, path, exc)
        finally:
            await self.rate_budget.settle(permit)
        if failure is not None:
            # Raised outside the except block so the httpx exception (its request carries the key
            # headers) is not chained to ours.
            raise failure
        assert response is not None
        venue_time = http_date(response.headers)
        if venue_time is not None:
            self.venue_clock.observe(venue_time, self.clock(), precise=False)
        return response

    def _failure(self, method: str, path: str, exc: httpx.TransportError) -> AlpacaIntegrationError:
        """Our error for httpx's. Never its text when it may quote a header (a local protocol
        error quotes the offending header value: the secret); other texts with the secret cut."""
        where = f"{method} {path}"
        if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
            return ConfigError(
                f"{where}: the request could not be sent ({type(exc).__name__}): it is malformed, "
                "most likely a key id or secret that is not one line of visible ASCII. Check "
                "ALPACA_API_KEY / ALPACA_SECRET_KEY and ALPACA_BASE_URL",
                setting="ALPACA_SECRET_KEY",
            )
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ConnectError):
            return RequestNotSentError(
                f"{where}: not sent, no connection to the venue ({type(exc).__name__}: "
                f"{self._scrubbed(exc)})"
            )
        if isinstance(exc, httpx.TimeoutException):
            return RequestTimeoutError(
                f"{where}: no answer within the timeout ({type(exc).__name__}); "
                "raise read_timeout/connect_timeout if the venue is slow"
            )
        return TransportError(f"{where}: {type(exc).__name__}: {self._scrubbed(exc)}")

    def _scrubbed(self, exc: Exception) -> str:
        text = str(exc)
        for form in self._secret_forms:
            text = text.replace(form, "***")
        return text

    async def attempt(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        lane: Lane = Lane.READ,
    ) -> httpx.Response:
        """One request through the budget: the answer, or a typed error (nothing retried)."""
        response = await self._send(method, path, params, content, lane)
        limits = parse_rate_limit_headers(response.headers, now=self.venue_clock.now())
        if limits is not None:
            await self.rate_budget.observe(limits)
        if response.status_code < 400:
            return response
        error = error_from_response(
            response.status_code,
            response.content,
            method=method,
            path=path,
            headers=response.headers,
            now=self.venue_clock.now(),
        )
        if isinstance(error, RateLimitedError):
            await self.rate_budget.pause_for(error.reset_in)
        raise error

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        lane: Lane = Lane.READ,
        retry_on: tuple[type[AlpacaIntegrationError], ...] = RETRY_ALL,
    ) -> httpx.Response:
        """A request retried on ``retry_on`` errors within the retry policy's bounds."""
        query = query_params(params) if params else None
        content = None if json_body is None else msgspec.json.encode(json_body)
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.attempt(method, path, params=query, content=content, lane=lane)
            except retry_on as exc:
                delay = self._retry_delay(exc, attempt, started)
                if delay is None:
                    raise
                log.info(
                    "%s %s failed (%s), retry %d/%d in %.2fs",
                    method,
                    path,
                    type(exc).__name__,
                    attempt,
                    self.retry.max_attempts - 1,
                    delay,
                )
                await self.sleep(delay)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> bytes:
        """``GET`` on the read lane, retried: the body."""
        return (await self.call("GET", path, params=params)).content

    def _retry_delay(
        self, exc: AlpacaIntegrationError, attempt: int, started: float
    ) -> float | None:
        """How long to wait before the next attempt, or None when the policy is exhausted."""
        if attempt >= self.retry.max_attempts:
            return None
        # After a 429 the budget itself holds every request until the venue's reset.
        delay = 0.0 if isinstance(exc, RateLimitedError) else self.retry.delay(attempt, self.rng)
        if self.clock() - started + delay > self.retry.max_elapsed:
            return None
        return delay

    def attempts_left(self, attempt: int, started: float) -> bool:
        """Whether the policy allows another attempt after ``attempt`` (1-based)."""
        return attempt < self.retry.max_attempts and (
            self.clock() - started < self.retry.max_elapsed
        )
