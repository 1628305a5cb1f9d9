"""``AlpacaClient``: the async REST client for Alpaca's Trading API (v2).

One pooled ``httpx.AsyncClient`` per ``AlpacaClient``; use it as ``async with AlpacaClient(...)``.
Every method returns the provider-neutral models of ``models`` (the venue's JSON is on ``.raw``).

What it guarantees, and alpaca-py does not:

* **No 429s by design**: each request waits for a slot of the key's ``RateBudget`` (in-process, or
  shared by every process through Redis), kept in step with the venue's ``X-RateLimit-*`` headers;
  after a 429 every request pauses until the venue's reset time. Orders use a reserved share of
  the budget (the order lane) that monitoring reads can never take.
* **Bounded retries**: reads and cancels are retried on 429, 5xx, timeouts and connection errors
  with exponential backoff and full jitter, bounded in attempts and in total time.
* **An order is never placed twice**: ``submit_order`` sets ``client_order_id`` before the first
  attempt; when an attempt's outcome is unknown (timeout, dropped connection, 5xx) it looks the
  order up by that id and only resends (same id) when the venue verifiably does not have it. If
  nothing can be established it raises ``OrderOutcomeUnknownError(client_order_id)``.
  ``replace_order`` does the same with the replacement's own client_order_id.
* **Risk limits first**: ``submit_order`` and ``replace_order`` run the pre-trade check (a
  replace is checked as the order it would become) before any request. The check is injected
  (``pre_trade_check``); the client knows no risk policy. ``client_for_account`` installs an
  account's ``[risk]`` limits; ``from_account`` refuses an account with limits unless it is told
  how to check them.
* **Paper unless told otherwise**: the live endpoint (api.alpaca.markets) is refused unless
  ``allow_live=True`` (``ALPACA_ALLOW_LIVE`` / ``allow_live`` in the accounts file).
* **Timeouts** on connect, read, write and pool wait.
* **Typed errors** (``errors``): chosen by HTTP status, Alpaca code and the error body's extra
  fields; message text decides only where Alpaca gives no other signal (``_MESSAGE_RULES``).
* **Secrets never leak**: not in ``repr``, logs or exceptions (transport errors are re-raised
  without the httpx request, which carries the key headers, in their chain).
* **Paging**: ``iter_orders`` and ``iter_activities`` stream every matching item across any number
  of pages with bounded memory, without losing or repeating orders that share a timestamp.
* **One bad item never blocks a page** when an ``on_bad_item`` hook is given: the page is parsed
  item by item, the good items are returned, each unparseable one is handed to the hook as a
  ``BadItem`` (its raw bytes and the reason), and paging moves on past it. Without a hook a bad
  item raises ``ParseError`` as before.

This module imports ``models``, ``errors``, ``config`` and ``alpaca.{parse,requests,ratelimit}``
from the package; never risk (or any check), storage, sync, flows or the simulator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import inspect
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeVar, overload, runtime_checkable
from urllib.parse import quote, urlsplit

import httpx
import msgspec
from pydantic import SecretStr

from alpaca_integration import __version__
from alpaca_integration.alpaca import parse
from alpaca_integration.alpaca.ratelimit import (
    DEFAULT_RATE_LIMIT,
    DEFAULT_WINDOW_SECONDS,
    Lane,
    RateBudget,
    make_rate_budget,
    parse_rate_limit_headers,
)
from alpaca_integration.alpaca.requests import (
    activities_query,
    build_order_body,
    build_replace_body,
    orders_query,
    replaced_order_request,
    validate_order_request,
)
from alpaca_integration.config import LIVE_BASE_URL, PAPER_BASE_URL, AccountConfig, AlpacaSettings
from alpaca_integration.errors import (
    AlpacaIntegrationError,
    ApiError,
    AuthError,
    ConfigError,
    DuplicateClientOrderIdError,
    ForbiddenError,
    InsufficientBuyingPowerError,
    InsufficientQtyError,
    NotFoundError,
    OrderOutcomeUnknownError,
    ParseError,
    RateLimitedError,
    RequestRejectedError,
    RequestTimeoutError,
    ServerError,
    ShortingNotAllowedError,
    SubPennyError,
    TransportError,
)
from alpaca_integration.models import (
    AccountConfiguration,
    AccountSnapshot,
    Activity,
    Asset,
    BulkResult,
    CalendarDay,
    Clock,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    PortfolioHistory,
    Position,
    ReplaceRequest,
    Watchlist,
    new_client_order_id,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "AlpacaClient",
    "BadItem",
    "OnBadItem",
    "PreTradeCheck",
    "PreTradeCheckFactory",
    "ReplaceAwareCheck",
    "RetryPolicy",
    "error_from_response",
]

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 20.0
ORDERS_PAGE_MAX = 500
ACTIVITIES_PAGE_MAX = 100
_ONE_MICROSECOND = dt.timedelta(microseconds=1)

PreTradeCheck = Callable[[OrderRequest], Awaitable[None]]
"""An async callable run before any request of ``submit_order`` and ``replace_order``; it refuses
by raising (e.g. ``RiskLimitError``). The client knows no risk policy: the check is injected
(``checks.risk.make_pre_trade_check`` builds one from an account's limits;
``client_for_account`` installs it). For a replace, a check that is also a
``ReplaceAwareCheck`` gets ``check_replace(old_order, replace_request)`` (so it can release the old
order's quantity); any other check is called with the order as it would be after the replace
(``requests.replaced_order_request``)."""

PreTradeCheckFactory = Callable[["AlpacaClient"], PreTradeCheck]
"""Builds a client's pre-trade check once the client exists (a check may read the broker through
the client it guards)."""


@runtime_checkable
class ReplaceAwareCheck(Protocol):
    """A pre-trade check that values a replace itself (old order released, new one counted)."""

    async def check_replace(self, old: Order, change: ReplaceRequest) -> None: ...


_LIVE_HOST = (urlsplit(LIVE_BASE_URL).hostname or "").lower()


def _refuse_live(url: str, allow_live: bool, setting: str) -> None:
    """``ConfigError`` when ``url`` is Alpaca's live venue and live trading was not opted in to."""
    if allow_live or (urlsplit(url).hostname or "").lower() != _LIVE_HOST:
        return
    raise ConfigError(
        f"{url} is Alpaca's LIVE endpoint: real money would be at stake. Use "
        f"{PAPER_BASE_URL} for paper trading, or opt in to live trading explicitly: "
        "allow_live=True here, ALPACA_ALLOW_LIVE=true in the environment, or allow_live = true "
        "in the account's table of the accounts file",
        setting="ALPACA_ALLOW_LIVE",
    )


_T = TypeVar("_T")
_ACCOUNT_CONFIGURATION_KEYS = frozenset(
    {
        "dtbp_check",
        "trade_confirm_email",
        "suspend_trade",
        "no_shorting",
        "fractional_trading",
        "max_margin_multiplier",
        "pdt_check",
        "max_options_trading_level",
    }
)


# --------------------------------------------------------------------------- retry policy


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

# --------------------------------------------------------------------------- errors

# The one table where an error message's text decides the class: for these Alpaca sends the same
# status and code as for other refusals, and no field that tells them apart. Each entry:
# (HTTP statuses, lower-case fragments any of which must appear in the message, class).
_MESSAGE_RULES: tuple[tuple[frozenset[int], tuple[str, ...], type[ApiError]], ...] = (
    # 422 / 40010001 is also every qty/notional validation failure.
    (frozenset({400, 422}), ("client_order_id must be unique",), DuplicateClientOrderIdError),
    # 422 / 42210000 is also invalid symbols, wash trades, bracket rules.
    (frozenset({422}), ("sub-penny", "sub penny", "subpenny"), SubPennyError),
    # 403 / 40310000 is also buying power and qty (those carry extra fields, checked first).
    (frozenset({403}), ("short",), ShortingNotAllowedError),
)


def _class_for(status: int, message: str, extra: Mapping[str, Any]) -> type[ApiError]:
    if status == 403:
        if "buying_power" in extra:
            return InsufficientBuyingPowerError
        if {"available", "held_for_orders", "existing_qty"} & extra.keys():
            return InsufficientQtyError
    lowered = message.lower()
    for statuses, fragments, error_class in _MESSAGE_RULES:
        if status in statuses and any(fragment in lowered for fragment in fragments):
            return error_class
    if status == 401:
        return AuthError
    if status == 403:
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status in (400, 422):
        return RequestRejectedError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    return ApiError


def error_from_response(
    status: int,
    body: bytes,
    *,
    method: str | None = None,
    path: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ApiError:
    """The typed error for a venue answer with an error status (never raises)."""
    code, message, extra = parse.parse_error(body)
    if not message:
        message = httpx.codes.get_reason_phrase(status) or "error"
    error_class = _class_for(status, message, extra)
    if error_class is RateLimitedError:
        limits = parse_rate_limit_headers(headers or {})
        return RateLimitedError(
            message,
            reset_at=limits.reset_at if limits else None,
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


_RETRY_ALL: tuple[type[AlpacaIntegrationError], ...] = (
    RateLimitedError,
    ServerError,
    TransportError,
)
_RETRY_RATE_LIMIT_ONLY: tuple[type[AlpacaIntegrationError], ...] = (RateLimitedError,)


# --------------------------------------------------------------------------- helpers


def _path_part(value: str, what: str) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError(f"{what} must not be empty")
    return quote(text, safe="")


def _utc_text(value: dt.datetime, what: str) -> str:
    if value.tzinfo is None:
        raise ValueError(
            f"{what} must be a timezone-aware datetime (got naive {value.isoformat()}); "
            "use datetime.now(UTC) or attach tzinfo=UTC"
        )
    # Microseconds always spelled out: paging moves bounds by one microsecond.
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _names(value: str | Iterable[str] | None) -> list[str] | None:
    """A list of names from a list or one comma-separated string (never split into letters)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


_PAGING_BAND = dt.timedelta(microseconds=3)


def _paging_time(order: Order) -> dt.datetime:
    return order.submitted_at or order.created_at


def _activity_key(entry: Fill | Activity | BadItem) -> str | None:
    if isinstance(entry, Fill):
        return entry.activity_id or None
    if isinstance(entry, Activity):
        return entry.id or None
    return entry.key


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def _drop_none(params: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = _bool_text(value)
        elif isinstance(value, dt.datetime):
            out[key] = _utc_text(value, key)
        elif isinstance(value, dt.date):
            out[key] = value.isoformat()
        elif isinstance(value, (list, tuple, set, frozenset)):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


def _secret_text(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


# --------------------------------------------------------------------------- bad page items


@dataclass(frozen=True, slots=True)
class BadItem:
    """One item of a REST page that could not be parsed: its kind, why, and its bytes verbatim.

    ``key`` is the item's ``id`` when its raw JSON has one; ``at`` is the time the venue pages it
    by (an order's ``submitted_at``, else its ``created_at``; an activity's ``transaction_time``)
    when that can be read. The payload is left out of ``repr``.
    """

    kind: Literal["order", "activity"]
    reason: str
    raw: bytes = field(repr=False)
    key: str | None = None
    at: dt.datetime | None = None


OnBadItem = Callable[[BadItem], Awaitable[None] | None]
"""Receives each ``BadItem`` of a page (sync or async); the page's good items are still returned.
It runs before the paging method moves on, so an async hook can persist the item first."""

_RAW_LIST: msgspec.json.Decoder[list[msgspec.Raw]] = msgspec.json.Decoder(list[msgspec.Raw])
_ANY_JSON: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_PAGING_FIELDS: dict[str, tuple[str, ...]] = {
    "order": ("submitted_at", "created_at"),
    "activity": ("transaction_time", "created_at"),
}


def _raw_items(body: bytes, shape: str) -> list[bytes]:
    """A page body split into its items' raw bytes; ``ParseError`` when it is not a JSON list
    (there is no item to keep and nothing to page on)."""
    try:
        return [bytes(item) for item in _RAW_LIST.decode(body)]
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ParseError(
            f"list of {shape}: the page is not a JSON list ({exc}); payload starts "
            f"{body[:200].decode('utf-8', errors='replace')!r}",
            shape=f"list of {shape}",
        ) from None


def _aware_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp.astimezone(dt.UTC) if stamp.tzinfo is not None else None


def _bad_item(kind: Literal["order", "activity"], raw: bytes, exc: Exception) -> BadItem:
    """The ``BadItem`` for ``raw``, with whatever id and paging time its JSON still offers."""
    # Worded like quality.split_page's, so a quarantine row reads the same whoever split the page.
    reason = f"could not be parsed: {type(exc).__name__}: {exc}"
    try:
        fields = _ANY_JSON.decode(raw)
    except (msgspec.DecodeError, RecursionError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        return BadItem(kind=kind, reason=reason, raw=raw)
    key = fields.get("id")
    at = None
    for name in _PAGING_FIELDS[kind]:
        at = _aware_time(fields.get(name))
        if at is not None:
            break
    return BadItem(
        kind=kind,
        reason=reason,
        raw=raw,
        key=key[:256] if isinstance(key, str) and key else None,
        at=at,
    )


def _one_activity(raw: bytes) -> Fill | Activity:
    return parse.parse_activities(b"[" + raw + b"]")[0]


def _split_orders(body: bytes) -> list[Order | BadItem]:
    """A ``GET /v2/orders`` page item by item, in payload order (legs stay with their parent)."""
    out: list[Order | BadItem] = []
    for raw in _raw_items(body, "orders"):
        try:
            out.append(parse.parse_order(raw))
        except Exception as exc:  # one item's failure of any kind must not sink the page
            out.append(_bad_item("order", raw, exc))
    return out


def _split_activities(body: bytes) -> list[Fill | Activity | BadItem]:
    """An activities page item by item, in payload order."""
    out: list[Fill | Activity | BadItem] = []
    for raw in _raw_items(body, "activities"):
        try:
            out.append(_one_activity(raw))
        except Exception as exc:  # one item's failure of any kind must not sink the page
            out.append(_bad_item("activity", raw, exc))
    return out


async def _hand_over(on_bad_item: OnBadItem, item: BadItem) -> None:
    log.warning("%s %s skipped: %s", item.kind, item.key or "(no id)", item.reason)
    outcome = on_bad_item(item)
    if inspect.isawaitable(outcome):
        await outcome


def _digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


# --------------------------------------------------------------------------- the client


class AlpacaClient:
    """Async client for one Alpaca API key. See the module docstring for its guarantees.

    Build it from settings (``AlpacaClient.from_settings()``, ``from_account(account)``) or from
    explicit arguments. ``transport`` (an ``httpx.AsyncBaseTransport``), ``sleep``, ``clock`` and
    ``rng`` are seams for tests.
    """

    def __init__(
        self,
        key_id: str,
        secret_key: str | SecretStr,
        base_url: str = PAPER_BASE_URL,
        *,
        rate_limit: int | None = DEFAULT_RATE_LIMIT,
        rate_window: float = DEFAULT_WINDOW_SECONDS,
        order_reserve: int | None = None,
        redis_url: str | None = None,
        rate_budget: RateBudget | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        retry: RetryPolicy | None = None,
        pre_trade_check: PreTradeCheck | None = None,
        allow_live: bool = False,
        client_order_id_prefix: str = "ai",
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 20,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not key_id or not _secret_text(secret_key):
            raise ConfigError(
                "an Alpaca key id and secret key are required: export ALPACA_API_KEY and "
                "ALPACA_SECRET_KEY, or try the built-in simulator with `alpacactl sim`",
                setting="ALPACA_API_KEY" if not key_id else "ALPACA_SECRET_KEY",
            )
        base = base_url.rstrip("/")
        if base.endswith("/v2"):
            base = base[: -len("/v2")]
        if not base.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must be an http(s) URL such as {PAPER_BASE_URL}, got {base_url!r}",
                setting="ALPACA_BASE_URL",
            )
        _refuse_live(base, allow_live, "ALPACA_BASE_URL")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ConfigError("connect_timeout and read_timeout must be > 0 seconds")
        self.base_url = base
        self.allow_live = allow_live
        self.key_id = key_id
        self._secret = SecretStr(_secret_text(secret_key))
        self._owns_budget = rate_budget is None
        self.rate_budget: RateBudget = rate_budget or make_rate_budget(
            key_id,
            limit=rate_limit,
            window=rate_window,
            order_reserve=order_reserve,
            redis_url=redis_url,
        )
        self.retry = retry or RetryPolicy()
        self.pre_trade_check = pre_trade_check
        self.client_order_id_prefix = client_order_id_prefix
        self._sleep = sleep or asyncio.sleep
        self._clock = clock or time.time
        self._rng = rng or random.Random()
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=read_timeout
        )
        self._http = httpx.AsyncClient(
            base_url=base,
            headers={
                "APCA-API-KEY-ID": key_id,
                "APCA-API-SECRET-KEY": self._secret.get_secret_value(),
                "User-Agent": f"alpaca-integration/{__version__}",
                "Accept": "application/json",
            },
            timeout=self._timeout,
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
        )

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_account(
        cls,
        account: AccountConfig,
        *,
        redis_url: str | None = None,
        apply_risk_limits: bool = True,
        pre_trade_check_factory: PreTradeCheckFactory | None = None,
        **options: Any,
    ) -> AlpacaClient:
        """A client for one configured account (``config.load_accounts``).

        The client knows no risk policy, so it cannot turn the account's ``[risk]`` table into a
        check by itself: ``alpaca_integration.client_for_account(account)`` does (it passes
        ``pre_trade_check_factory``), and that is how the CLI, the monitor and the flows build
        their clients. Here, an account with a ``[risk]`` table needs one of: a
        ``pre_trade_check_factory``, an explicit ``pre_trade_check=`` option, or
        ``apply_risk_limits=False`` (only for code that runs its own check); otherwise
        ``ConfigError``: an account with limits never gets a client that silently skips them.
        The account's ``allow_live`` is passed on.
        """
        options.setdefault("rate_limit", account.rate_limit)
        options.setdefault("allow_live", account.allow_live)
        wants_limits = apply_risk_limits and bool(account.risk)
        if (
            wants_limits
            and pre_trade_check_factory is None
            and options.get("pre_trade_check") is None
        ):
            raise ConfigError(
                f"account {account.name!r} has risk limits, and AlpacaClient.from_account cannot "
                "install them by itself. Fix: build the client with "
                "alpaca_integration.client_for_account(account), or pass apply_risk_limits=False "
                "if your code runs its own check"
            )
        client = cls(
            account.api_key.get_secret_value(),
            account.secret_key,
            account.base_url,
            redis_url=redis_url,
            **options,
        )
        if (
            wants_limits
            and pre_trade_check_factory is not None
            and options.get("pre_trade_check") is None
        ):
            client.pre_trade_check = pre_trade_check_factory(client)
        return client

    @classmethod
    def from_settings(cls, settings: AlpacaSettings | None = None, **options: Any) -> AlpacaClient:
        """A client from ``ALPACA_*`` settings (the environment when ``settings`` is None);
        shares the key's budget through Redis when ``ALPACA_REDIS_URL`` is set. Built through
        ``from_account`` (``ALPACA_ALLOW_LIVE`` is passed on; options as there)."""
        from alpaca_integration.config import load_settings

        settings = settings or load_settings()
        account = AccountConfig.from_settings(settings)
        options.setdefault("redis_url", settings.redis_url)
        redis_url = options.pop("redis_url")
        return cls.from_account(account, redis_url=redis_url, **options)

    def __repr__(self) -> str:
        tail = self.key_id[-4:] if len(self.key_id) > 8 else "****"
        return f"AlpacaClient(base_url={self.base_url!r}, key_id='...{tail}')"

    async def __aenter__(self) -> AlpacaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (and the budget's Redis connection if this client made it)."""
        await self._http.aclose()
        if self._owns_budget:
            await self.rate_budget.aclose()

    # ------------------------------------------------------------------ the request core

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    async def _attempt(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        lane: Lane = Lane.READ,
    ) -> httpx.Response:
        """One request through the budget: the answer, or a typed error (nothing retried)."""
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
        except httpx.TimeoutException as exc:
            failure = RequestTimeoutError(
                f"{method} {path}: no answer within the timeout ({type(exc).__name__}); "
                "raise read_timeout/connect_timeout if the venue is slow"
            )
        except httpx.TransportError as exc:
            failure = TransportError(f"{method} {path}: {type(exc).__name__}: {exc}")
        finally:
            await self.rate_budget.settle(permit)
        if failure is not None:
            # Raised outside the except block so the httpx exception (its request carries the key
            # headers) is not chained to ours.
            raise failure
        assert response is not None
        limits = parse_rate_limit_headers(response.headers, now=self._clock())
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
        )
        if isinstance(error, RateLimitedError):
            await self.rate_budget.pause_until(error.reset_at)
        raise error

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        lane: Lane = Lane.READ,
        retry_on: tuple[type[AlpacaIntegrationError], ...] = _RETRY_ALL,
    ) -> httpx.Response:
        """A request retried on ``retry_on`` errors within the retry policy's bounds."""
        query = _drop_none(params) if params else None
        content = None if json_body is None else msgspec.json.encode(json_body)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(method, path, params=query, content=content, lane=lane)
            except retry_on as exc:
                delay = await self._retry_delay(exc, attempt, started)
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
                await self._sleep(delay)

    async def _retry_delay(
        self, exc: AlpacaIntegrationError, attempt: int, started: float
    ) -> float | None:
        """How long to wait before the next attempt, or None when the policy is exhausted."""
        if attempt >= self.retry.max_attempts:
            return None
        # After a 429 the budget itself holds every request until the venue's reset.
        delay = 0.0 if isinstance(exc, RateLimitedError) else self.retry.delay(attempt, self._rng)
        if self._clock() - started + delay > self.retry.max_elapsed:
            return None
        return delay

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> bytes:
        return (await self._call("GET", path, params=params)).content

    # ------------------------------------------------------------------ account

    async def get_account(self) -> AccountSnapshot:
        """``GET /v2/account``: the account's figures, stamped with the time of the answer."""
        body = await self._get("/v2/account")
        return parse.parse_account(body, self._now())

    async def get_account_configurations(self) -> AccountConfiguration:
        """``GET /v2/account/configurations``."""
        return parse.parse_account_configuration(await self._get("/v2/account/configurations"))

    async def update_account_configurations(self, **changes: Any) -> AccountConfiguration:
        """``PATCH /v2/account/configurations`` with only the given settings changed."""
        unknown = sorted(set(changes) - _ACCOUNT_CONFIGURATION_KEYS)
        if unknown:
            raise ValueError(
                f"unknown account configuration(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(sorted(_ACCOUNT_CONFIGURATION_KEYS))}"
            )
        if not changes:
            raise ValueError("nothing to change: pass at least one configuration keyword")
        response = await self._call("PATCH", "/v2/account/configurations", json_body=changes)
        return parse.parse_account_configuration(response.content)

    async def get_activities(
        self,
        *,
        activity_types: Iterable[str] | None = None,
        date: dt.date | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        on_bad_item: OnBadItem | None = None,
    ) -> list[Fill | Activity]:
        """One page of ``GET /v2/account/activities`` (FILLs as ``Fill``, the rest ``Activity``).

        With ``on_bad_item`` an unparseable item goes to the hook and the rest are returned;
        without it, it raises ``ParseError``."""
        query = activities_query(
            activity_types=_names(activity_types),
            date=date,
            after=after,
            until=until,
            direction=direction,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._activities_page("/v2/account/activities", query, on_bad_item)

    async def get_activities_by_type(
        self,
        activity_type: str,
        *,
        date: dt.date | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        on_bad_item: OnBadItem | None = None,
    ) -> list[Fill | Activity]:
        """One page of ``GET /v2/account/activities/{activity_type}`` (e.g. ``FILL``, ``FEE``);
        ``on_bad_item`` as in ``get_activities``."""
        query = activities_query(
            date=date,
            after=after,
            until=until,
            direction=direction,
            page_size=page_size,
            page_token=page_token,
        )
        path = f"/v2/account/activities/{_path_part(activity_type.upper(), 'activity_type')}"
        return await self._activities_page(path, query, on_bad_item)

    async def _activities_page(
        self, path: str, query: Mapping[str, Any], on_bad_item: OnBadItem | None
    ) -> list[Fill | Activity]:
        body = await self._get(path, query)
        if on_bad_item is None:
            return parse.parse_activities(body)
        good: list[Fill | Activity] = []
        for entry in _split_activities(body):
            if isinstance(entry, BadItem):
                await _hand_over(on_bad_item, entry)
            else:
                good.append(entry)
        return good

    async def iter_activities(
        self,
        *,
        activity_types: Iterable[str] | None = None,
        activity_type: str | None = None,
        date: dt.date | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] = "desc",
        page_size: int = ACTIVITIES_PAGE_MAX,
        page_token: str | None = None,
        on_bad_item: OnBadItem | None = None,
    ) -> AsyncIterator[Fill | Activity]:
        """Every matching activity, page after page (``page_token`` = the last id seen).

        ``activity_type`` uses the by-type endpoint; ``activity_types`` filters the general one.
        Only one page is held in memory at a time. With ``on_bad_item`` an unparseable activity
        goes to the hook (before the next item is yielded) and paging continues from its id,
        which is read from its raw JSON; without it, it raises ``ParseError``.
        """
        if not 1 <= page_size <= ACTIVITIES_PAGE_MAX:
            raise ValueError(f"page_size must be 1..{ACTIVITIES_PAGE_MAX}, got {page_size}")
        if activity_type is not None:
            path = f"/v2/account/activities/{_path_part(activity_type.upper(), 'activity_type')}"
            types = None
        else:
            path = "/v2/account/activities"
            types = _names(activity_types)
        token = page_token
        # When a page's last item had no readable id, the next page starts from an earlier one and
        # repeats a few items: the previous page's ids, to skip those.
        previous: set[str] = set()
        while True:
            query = activities_query(
                activity_types=types,
                date=date,
                after=after,
                until=until,
                direction=direction,
                page_size=page_size,
                page_token=token,
            )
            body = await self._get(path, query)
            page: list[Fill | Activity | BadItem]
            if on_bad_item is None:
                page = list(parse.parse_activities(body))
            else:
                page = _split_activities(body)
            ids: list[str | None] = [_activity_key(entry) for entry in page]
            for entry, key in zip(page, ids, strict=True):
                if key is not None and key in previous:
                    continue
                if isinstance(entry, BadItem):
                    assert on_bad_item is not None
                    await _hand_over(on_bad_item, entry)
                else:
                    yield entry
            if len(page) < page_size:
                return
            next_token = next((key for key in reversed(ids) if key), None)
            if not next_token or next_token == token:
                log.warning("activities paging made no progress at token %r; stopping", token)
                return
            previous = {key for key in ids if key} if ids[-1] is None else set()
            token = next_token

    async def get_portfolio_history(
        self,
        *,
        period: str | None = None,
        timeframe: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        extended_hours: bool | None = None,
        intraday_reporting: str | None = None,
        pnl_reset: str | None = None,
    ) -> PortfolioHistory:
        """``GET /v2/account/portfolio/history``."""
        params = {
            "period": period,
            "timeframe": timeframe,
            "start": start,
            "end": end,
            "extended_hours": extended_hours,
            "intraday_reporting": intraday_reporting,
            "pnl_reset": pnl_reset,
        }
        body = await self._get("/v2/account/portfolio/history", params)
        return parse.parse_portfolio_history(body)

    # ------------------------------------------------------------------ reference data

    async def list_assets(
        self,
        *,
        status: str | None = None,
        asset_class: str | None = None,
        exchange: str | None = None,
        attributes: Iterable[str] | None = None,
    ) -> list[Asset]:
        """``GET /v2/assets``."""
        params = {
            "status": status,
            "asset_class": asset_class,
            "exchange": exchange,
            "attributes": _names(attributes),
        }
        return parse.parse_assets(await self._get("/v2/assets", params))

    async def get_asset(self, symbol_or_asset_id: str) -> Asset:
        """``GET /v2/assets/{symbol_or_asset_id}`` (``NotFoundError`` when unknown)."""
        path = f"/v2/assets/{_path_part(symbol_or_asset_id, 'symbol_or_asset_id')}"
        return parse.parse_asset(await self._get(path))

    async def get_clock(self) -> Clock:
        """``GET /v2/clock``."""
        return parse.parse_clock(await self._get("/v2/clock"))

    async def get_calendar(
        self, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[CalendarDay]:
        """``GET /v2/calendar`` between ``start`` and ``end`` (inclusive dates)."""
        return parse.parse_calendar(await self._get("/v2/calendar", {"start": start, "end": end}))

    # ------------------------------------------------------------------ orders: reads

    async def list_orders(
        self,
        *,
        status: Literal["open", "closed", "all"] | None = None,
        limit: int | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] | None = None,
        nested: bool | None = None,
        symbols: Iterable[str] | None = None,
        side: str | None = None,
        on_bad_item: OnBadItem | None = None,
    ) -> list[Order]:
        """One page of ``GET /v2/orders`` (venue defaults: open orders, 50, newest first).

        With ``on_bad_item`` an unparseable order (e.g. an unknown status) goes to the hook and
        the rest are returned; without it, it raises ``ParseError``."""
        entries = await self._orders_page(
            status=status,
            limit=limit,
            after=after,
            until=until,
            direction=direction,
            nested=nested,
            symbols=_names(symbols),
            side=side,
            lenient=on_bad_item is not None,
        )
        good: list[Order] = []
        for entry in entries:
            if isinstance(entry, BadItem):
                assert on_bad_item is not None
                await _hand_over(on_bad_item, entry)
            else:
                good.append(entry)
        return good

    async def _orders_page(
        self,
        *,
        status: Literal["open", "closed", "all"] | None,
        limit: int | None,
        after: dt.datetime | None,
        until: dt.datetime | None,
        direction: Literal["asc", "desc"] | None,
        nested: bool | None,
        symbols: list[str] | None,
        side: str | None,
        lenient: bool,
    ) -> list[Order | BadItem]:
        """One page in payload order; lenient: unparseable items as ``BadItem`` (else raise)."""
        if limit is not None and not 1 <= limit <= ORDERS_PAGE_MAX:
            raise ValueError(f"limit must be 1..{ORDERS_PAGE_MAX}, got {limit}")
        query = orders_query(
            status=status,
            limit=limit,
            after=after,
            until=until,
            direction=direction,
            nested=nested,
            symbols=symbols,
            side=side,
        )
        # Spelled out to the microsecond whatever the query builder does: paging relies on it.
        if after is not None:
            query["after"] = _utc_text(after, "after")
        if until is not None:
            query["until"] = _utc_text(until, "until")
        body = await self._get("/v2/orders", query)
        if lenient:
            return _split_orders(body)
        return list(parse.parse_orders(body))

    async def iter_orders(
        self,
        *,
        status: Literal["open", "closed", "all"] = "all",
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] = "desc",
        nested: bool | None = None,
        symbols: Iterable[str] | None = None,
        side: str | None = None,
        page_size: int = ORDERS_PAGE_MAX,
        on_bad_item: OnBadItem | None = None,
    ) -> AsyncIterator[Order]:
        """Every order matching the filters, across any number of pages, each exactly once.

        Pages by moving the time window (``after``/``until`` are exclusive and compare submission
        times). When a full page ends with orders at one instant, the next window includes that
        instant again (the bound moves one microsecond past it) and the ids already seen at that
        instant are skipped. When a whole page shares one instant, the instant is re-read per side
        and in the opposite order before the window moves past it. Residual limit: if more orders
        than two pages per side (``2 * page_size``) share one microsecond, the venue offers no way
        to list the rest; a warning is logged. Memory: one page plus the ids at the boundary.

        With ``on_bad_item`` an unparseable order goes to the hook (once per listing) and the
        window moves on its raw ``submitted_at`` (else ``created_at``); when neither can be read,
        on the last readable time of the page. Without the hook it raises ``ParseError``.
        """
        if not 1 <= page_size <= ORDERS_PAGE_MAX:
            raise ValueError(f"page_size must be 1..{ORDERS_PAGE_MAX}, got {page_size}")
        symbol_list = _names(symbols)
        descending = direction == "desc"
        lower, upper = after, until
        # Ids already yielded (or handed to the hook) whose time lies within _PAGING_BAND of the
        # current boundary, or beyond it in the paging direction (possible only when the page's
        # last item had no readable time): every later query reaches at most two microseconds
        # behind the boundary, so anything it returns again is found here.
        recent: dict[str, dt.datetime] = {}
        # Bad items without a readable time (rare): remembered for the whole listing.
        untimed: set[str] = set()
        drained_at: dt.datetime | None = None

        async def fetch(
            low: dt.datetime | None,
            high: dt.datetime | None,
            order_direction: Literal["asc", "desc"],
            order_side: str | None,
        ) -> list[Order | BadItem]:
            return await self._orders_page(
                status=status,
                limit=page_size,
                after=low,
                until=high,
                direction=order_direction,
                nested=nested,
                symbols=symbol_list,
                side=order_side,
                lenient=on_bad_item is not None,
            )

        def first_sight(entry: Order | BadItem) -> bool:
            """Remember ``entry``; False when it was seen before in this listing."""
            at: dt.datetime | None
            if isinstance(entry, Order):
                key, at = entry.id, _paging_time(entry)
            else:
                key, at = entry.key or _digest(entry.raw), entry.at
            if key in recent or key in untimed:
                return False
            if at is None:
                untimed.add(key)
            else:
                recent[key] = at
            return True

        def paging_time(entry: Order | BadItem) -> dt.datetime | None:
            return _paging_time(entry) if isinstance(entry, Order) else entry.at

        while True:
            page = await fetch(lower, upper, direction, side)
            fresh = [entry for entry in page if first_sight(entry)]
            for entry in fresh:
                if isinstance(entry, Order):
                    yield entry
                else:
                    assert on_bad_item is not None
                    await _hand_over(on_bad_item, entry)
            if len(page) < page_size:
                return
            instant = next((at for at in map(paging_time, reversed(page)) if at is not None), None)
            if instant is None:
                raise ParseError(
                    f"a full page of {len(page)} orders has no readable submitted_at or "
                    "created_at, so the listing cannot move past it (every item went to "
                    "on_bad_item); report the payload to the maintainers",
                    shape="list of orders",
                )
            if descending:
                recent = {k: at for k, at in recent.items() if at <= instant + _PAGING_BAND}
            else:
                recent = {k: at for k, at in recent.items() if at >= instant - _PAGING_BAND}
            at_instant = sum(
                1
                for at in map(paging_time, page)
                if at is not None and abs(at - instant) <= _ONE_MICROSECOND
            )
            if fresh and at_instant < len(page):
                # The usual case: re-include the boundary instant, skip what was seen there.
                if descending:
                    upper = instant + _ONE_MICROSECOND
                else:
                    lower = instant - _ONE_MICROSECOND
                continue
            # The page is one instant (or brought nothing new): read that instant other ways.
            extra_full = False
            sides = [side] if side is not None else ["buy", "sell"]
            for order_side in sides:
                for order_direction in ("asc", "desc"):
                    part = await fetch(
                        instant - 2 * _ONE_MICROSECOND,
                        instant + 2 * _ONE_MICROSECOND,
                        order_direction,
                        order_side,
                    )
                    extra_full = extra_full or len(part) >= page_size
                    for entry in part:
                        if not first_sight(entry):
                            continue
                        if isinstance(entry, Order):
                            yield entry
                        else:
                            assert on_bad_item is not None
                            await _hand_over(on_bad_item, entry)
            if extra_full:
                log.warning(
                    "more than %d orders share submitted_at %s: the API cannot page within one "
                    "instant, so some of them may be missing from this listing",
                    page_size,
                    instant.isoformat(),
                )
            # Move strictly past the instant. On a second stall at the same instant (venue times
            # finer than a microsecond), step a whole microsecond further.
            step = _ONE_MICROSECOND if drained_at == instant else dt.timedelta(0)
            drained_at = instant
            if descending:
                upper = instant - step
            else:
                lower = instant + step

    @overload
    async def get_order(
        self,
        order_id: str,
        *,
        nested: bool | None = None,
        lane: Lane = Lane.READ,
        on_bad_item: None = None,
    ) -> Order: ...

    @overload
    async def get_order(
        self,
        order_id: str,
        *,
        nested: bool | None = None,
        lane: Lane = Lane.READ,
        on_bad_item: OnBadItem,
    ) -> Order | None: ...

    async def get_order(
        self,
        order_id: str,
        *,
        nested: bool | None = None,
        lane: Lane = Lane.READ,
        on_bad_item: OnBadItem | None = None,
    ) -> Order | None:
        """``GET /v2/orders/{order_id}`` (``NotFoundError`` when unknown). With ``on_bad_item``
        an unparseable answer goes to the hook and None is returned; without it, ``ParseError``."""
        path = f"/v2/orders/{_path_part(order_id, 'order_id')}"
        response = await self._call("GET", path, params={"nested": nested}, lane=lane)
        if on_bad_item is None:
            return parse.parse_order(response.content)
        try:
            return parse.parse_order(response.content)
        except Exception as exc:  # the hook is promised every failure, not only ParseError
            await _hand_over(on_bad_item, _bad_item("order", bytes(response.content), exc))
            return None

    async def get_order_by_client_order_id(
        self, client_order_id: str, *, lane: Lane = Lane.READ
    ) -> Order:
        """``GET /v2/orders:by_client_order_id`` (``NotFoundError`` when the venue has none).
        The order path passes ``lane=Lane.ORDER``: resolving an order is part of placing it."""
        if not client_order_id:
            raise ValueError("client_order_id must not be empty")
        body = (
            await self._call(
                "GET",
                "/v2/orders:by_client_order_id",
                params={"client_order_id": client_order_id},
                lane=lane,
            )
        ).content
        return parse.parse_order(body)

    # ------------------------------------------------------------------ orders: writes

    def _attempts_left(self, attempt: int, started: float) -> bool:
        return attempt < self.retry.max_attempts and (
            self._clock() - started < self.retry.max_elapsed
        )

    async def _lookup_after_unknown(
        self, client_order_id: str, cause: AlpacaIntegrationError
    ) -> Order | None:
        """The order with this id, None if the venue verifiably has none; if the lookup itself
        fails, ``OrderOutcomeUnknownError``."""
        try:
            return await self.get_order_by_client_order_id(client_order_id, lane=Lane.ORDER)
        except NotFoundError:
            return None
        except AlpacaIntegrationError as exc:
            raise OrderOutcomeUnknownError(
                f"order {client_order_id}: the submit got no clear answer ({cause}) and the "
                f"lookup by client_order_id failed too ({exc}). The order may exist: look it up "
                "later with get_order_by_client_order_id; never resend it under a new id",
                client_order_id=client_order_id,
            ) from None

    async def submit_order(
        self, request: OrderRequest, *, pre_trade_check: PreTradeCheck | None = None
    ) -> Order:
        """``POST /v2/orders``, placed at most once.

        Sets ``client_order_id`` (``models.new_client_order_id``) when empty, validates the order
        (``OrderValidationError``), runs ``pre_trade_check`` (this argument, else the client's)
        before any request, then submits on the order lane. A 429 is waited out and resent (the
        venue did not take it). A timeout, dropped connection or 5xx is resolved by looking the
        order up by its client_order_id: found -> returned; verifiably absent -> resent with the
        same id (a duplicate-id refusal then means it exists -> fetched). ``OrderOutcomeUnknownError``
        when it cannot be established; other venue refusals raise their typed ``ApiError``.
        """
        client_order_id = request.client_order_id or new_client_order_id(
            self.client_order_id_prefix
        )
        if request.client_order_id != client_order_id:
            request = request.with_client_order_id(client_order_id)
        validate_order_request(request)
        content = msgspec.json.encode(build_order_body(request))
        check = pre_trade_check or self.pre_trade_check
        if check is not None:
            await check(request)
        return await self._place(
            "POST",
            "/v2/orders",
            content,
            client_order_id,
            resolve=lambda cause: self._lookup_after_unknown(client_order_id, cause),
        )

    async def _place(
        self,
        method: str,
        path: str,
        content: bytes,
        client_order_id: str,
        *,
        resolve: Callable[[AlpacaIntegrationError], Awaitable[Order | None]],
    ) -> Order:
        """Send an order-creating request without ever creating two orders (see submit_order)."""
        started = self._clock()
        attempt = 0
        unknown: AlpacaIntegrationError | None = None  # an earlier attempt's unclear failure
        while True:
            attempt += 1
            try:
                response = await self._attempt(method, path, content=content, lane=Lane.ORDER)
            except RateLimitedError:
                # Refused before acceptance: the budget now holds requests until the reset.
                if not self._attempts_left(attempt, started):
                    if unknown is None:
                        raise
                    raise self._unknown(client_order_id, unknown) from None
                continue
            except DuplicateClientOrderIdError:
                if unknown is None:
                    raise  # the caller reused an id: that is their order, not ours
                found = await resolve(unknown)
                if found is not None:
                    return found
                raise self._unknown(client_order_id, unknown) from None
            except (ServerError, TransportError) as exc:
                unknown = exc
                log.warning(
                    "%s %s for client_order_id %s: outcome unknown (%s); looking it up",
                    method,
                    path,
                    client_order_id,
                    type(exc).__name__,
                )
                # Give a slow venue a moment to finish the first request before asking.
                await self._sleep(self.retry.delay(attempt, self._rng))
                found = await resolve(exc)
                if found is not None:
                    return found
                if not self._attempts_left(attempt, started):
                    raise self._unknown(client_order_id, exc) from None
                log.info("%s not at the venue: resending with the same id", client_order_id)
            except ApiError:
                if unknown is None:
                    raise
                # A refusal after an unclear attempt can be caused by that attempt's order
                # (e.g. it used the buying power): look once more before reporting it.
                found = await resolve(unknown)
                if found is not None:
                    return found
                raise
            else:
                return self._accepted_order(response.content, client_order_id)

    @staticmethod
    def _accepted_order(body: bytes, client_order_id: str) -> Order:
        """The order from a 2xx answer. The venue has the order whatever its answer says, so an
        answer we cannot read must not look like a failure that a caller could retry into a
        second order: it is an unknown outcome carrying the client_order_id to look it up by."""
        try:
            return parse.parse_order(body)
        except ParseError as exc:
            raise OrderOutcomeUnknownError(
                f"order {client_order_id}: the venue accepted it but its answer could not be read "
                f"({exc}). The order exists: look it up by this client_order_id and never resend "
                "it under a new id",
                client_order_id=client_order_id,
            ) from exc

    @staticmethod
    def _unknown(client_order_id: str, cause: AlpacaIntegrationError) -> OrderOutcomeUnknownError:
        return OrderOutcomeUnknownError(
            f"order {client_order_id}: outcome unknown after {cause}. It may or may not exist at "
            "the venue; look it up later by this client_order_id and never resend it under a new "
            "id",
            client_order_id=client_order_id,
        )

    async def replace_order(
        self,
        order_id: str,
        request: ReplaceRequest,
        *,
        pre_trade_check: PreTradeCheck | None = None,
    ) -> Order:
        """``PATCH /v2/orders/{order_id}``: the replacement order (a new id), at most once.

        The replacement carries its own client_order_id (set when empty). When a pre-trade check
        applies (this argument, else the client's), the old order is fetched and the check runs on
        the order as it would be after the replace, before the PATCH is sent (see
        ``PreTradeCheck``); a refusal sends nothing. After an unknown
        outcome the replacement is looked up by that id, then the old order is fetched: when its
        ``replaced_by`` is set the new order is returned; when it is still working and not
        replaced, the same PATCH is resent. ``OrderOutcomeUnknownError`` when it cannot be told
        (e.g. the old order stays ``pending_replace``). Note a 200 does not mean the replace won:
        if the old order filled first, the outcome arrives on the stream.
        """
        client_order_id = request.client_order_id or new_client_order_id(
            self.client_order_id_prefix
        )
        if request.client_order_id != client_order_id:
            request = msgspec.structs.replace(request, client_order_id=client_order_id)
        content = msgspec.json.encode(build_replace_body(request))
        path = f"/v2/orders/{_path_part(order_id, 'order_id')}"
        check = pre_trade_check or self.pre_trade_check
        if check is not None:
            await self._check_replace(check, order_id, request)

        async def resolve(cause: AlpacaIntegrationError) -> Order | None:
            found = await self._lookup_after_unknown(client_order_id, cause)
            if found is not None:
                return found
            try:
                old = await self.get_order(order_id, lane=Lane.ORDER)
                if old.replaced_by:
                    return await self.get_order(old.replaced_by, lane=Lane.ORDER)
            except AlpacaIntegrationError as exc:
                raise OrderOutcomeUnknownError(
                    f"replace of {order_id} (new client_order_id {client_order_id}): outcome "
                    f"unknown after {cause}; fetching the old order failed ({exc})",
                    client_order_id=client_order_id,
                ) from None
            if old.status in (OrderStatus.PENDING_REPLACE, OrderStatus.REPLACED):
                raise OrderOutcomeUnknownError(
                    f"replace of {order_id}: the old order is {old.status} and its replacement "
                    f"({client_order_id}) is not visible yet; look it up later",
                    client_order_id=client_order_id,
                )
            return None

        return await self._place("PATCH", path, content, client_order_id, resolve=resolve)

    async def _check_replace(
        self, check: PreTradeCheck, order_id: str, request: ReplaceRequest
    ) -> None:
        old = await self.get_order(order_id, nested=True, lane=Lane.ORDER)
        if isinstance(check, ReplaceAwareCheck):
            await check.check_replace(old, request)
            return
        await check(replaced_order_request(old, request))

    async def cancel_order(self, order_id: str) -> None:
        """``DELETE /v2/orders/{order_id}`` (order lane, retried: a cancel is idempotent)."""
        path = f"/v2/orders/{_path_part(order_id, 'order_id')}"
        await self._call("DELETE", path, lane=Lane.ORDER)

    async def cancel_all_orders(self) -> list[BulkResult]:
        """``DELETE /v2/orders``: one result per open order (207 Multi-Status)."""
        response = await self._call("DELETE", "/v2/orders", lane=Lane.ORDER)
        return parse.parse_bulk_orders(response.content) if response.content.strip() else []

    # ------------------------------------------------------------------ positions

    async def list_positions(self) -> list[Position]:
        """``GET /v2/positions``: every open position (shorts have negative qty)."""
        body = await self._get("/v2/positions")
        return parse.parse_positions(body, self._now())

    async def get_position(self, symbol_or_asset_id: str) -> Position:
        """``GET /v2/positions/{symbol}`` (``NotFoundError`` when flat)."""
        path = f"/v2/positions/{_path_part(symbol_or_asset_id, 'symbol_or_asset_id')}"
        body = await self._get(path)
        return parse.parse_position(body, self._now())

    async def close_all_positions(self, *, cancel_orders: bool = False) -> list[BulkResult]:
        """``DELETE /v2/positions``: one closing order per position (207).

        Resent only after a 429 (the venue did not act). After an unclear failure (timeout,
        dropped connection, 5xx) the venue may already have placed closing orders, and a resend
        with ``cancel_orders=True`` would cancel them and place them again: it raises
        ``OrderOutcomeUnknownError`` instead, for you to check the positions and open orders."""
        try:
            response = await self._call(
                "DELETE",
                "/v2/positions",
                params={"cancel_orders": cancel_orders},
                lane=Lane.ORDER,
                retry_on=_RETRY_RATE_LIMIT_ONLY,
            )
        except (ServerError, TransportError) as exc:
            raise OrderOutcomeUnknownError(
                f"close all positions: outcome unknown after {exc}. The venue may already have "
                "placed closing orders: check the positions and open orders (alpacactl positions, "
                "alpacactl orders) before trying again",
                client_order_id="",
            ) from None
        return parse.parse_bulk_positions(response.content) if response.content.strip() else []

    async def close_position(
        self,
        symbol_or_asset_id: str,
        *,
        qty: Decimal | None = None,
        percentage: Decimal | None = None,
    ) -> Order:
        """``DELETE /v2/positions/{symbol}``: the closing order. Resent only after a 429: after
        an unclear failure a resend could close twice, so the error is raised for you to check
        the positions."""
        if qty is not None and percentage is not None:
            raise ValueError("give qty or percentage, not both")
        if qty is not None and qty <= 0:
            raise ValueError(f"qty must be > 0, got {qty}")
        if percentage is not None and not 0 < percentage <= 100:
            raise ValueError(f"percentage must be in (0, 100], got {percentage}")
        path = f"/v2/positions/{_path_part(symbol_or_asset_id, 'symbol_or_asset_id')}"
        response = await self._call(
            "DELETE",
            path,
            params={"qty": qty, "percentage": percentage},
            lane=Lane.ORDER,
            retry_on=_RETRY_RATE_LIMIT_ONLY,
        )
        return parse.parse_order(response.content)

    # ------------------------------------------------------------------ watchlists

    async def list_watchlists(self) -> list[Watchlist]:
        """``GET /v2/watchlists``."""
        return parse.parse_watchlists(await self._get("/v2/watchlists"))

    async def create_watchlist(self, name: str, symbols: Iterable[str] = ()) -> Watchlist:
        """``POST /v2/watchlists``."""
        if not name.strip():
            raise ValueError("a watchlist needs a non-empty name")
        response = await self._call(
            "POST", "/v2/watchlists", json_body={"name": name, "symbols": _names(symbols) or []}
        )
        return parse.parse_watchlist(response.content)

    async def get_watchlist(self, watchlist_id: str) -> Watchlist:
        """``GET /v2/watchlists/{id}``."""
        path = f"/v2/watchlists/{_path_part(watchlist_id, 'watchlist_id')}"
        return parse.parse_watchlist(await self._get(path))

    async def update_watchlist(
        self, watchlist_id: str, *, name: str, symbols: Iterable[str] | None = None
    ) -> Watchlist:
        """``PUT /v2/watchlists/{id}``: new name and (if given) the full list of symbols."""
        body: dict[str, Any] = {"name": name}
        if symbols is not None:
            body["symbols"] = _names(symbols)
        path = f"/v2/watchlists/{_path_part(watchlist_id, 'watchlist_id')}"
        return parse.parse_watchlist((await self._call("PUT", path, json_body=body)).content)

    async def add_to_watchlist(self, watchlist_id: str, symbol: str) -> Watchlist:
        """``POST /v2/watchlists/{id}``: add one symbol."""
        path = f"/v2/watchlists/{_path_part(watchlist_id, 'watchlist_id')}"
        response = await self._call("POST", path, json_body={"symbol": symbol})
        return parse.parse_watchlist(response.content)

    async def remove_from_watchlist(self, watchlist_id: str, symbol: str) -> Watchlist:
        """``DELETE /v2/watchlists/{id}/{symbol}``: the updated watchlist."""
        path = (
            f"/v2/watchlists/{_path_part(watchlist_id, 'watchlist_id')}/"
            f"{_path_part(symbol, 'symbol')}"
        )
        return parse.parse_watchlist((await self._call("DELETE", path)).content)

    async def delete_watchlist(self, watchlist_id: str) -> None:
        """``DELETE /v2/watchlists/{id}``."""
        await self._call("DELETE", f"/v2/watchlists/{_path_part(watchlist_id, 'watchlist_id')}")
