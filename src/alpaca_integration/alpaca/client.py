"""``AlpacaClient``: the async REST client for Alpaca's Trading API (v2).

One pooled ``httpx.AsyncClient`` per ``AlpacaClient``; use it as ``async with AlpacaClient(...)``.
Every method returns the provider-neutral models of ``models`` (the venue's JSON is on ``.raw``).

What it guarantees, and alpaca-py does not:

* **No 429s by design**: each request waits for a slot of the key's ``RateBudget`` (in-process, or
  shared by every process through Redis), kept in step with the venue's ``X-RateLimit-*`` headers
  (the reset read against the venue's own clock); after a 429 every request pauses until the
  venue's reset, for at most ``max_pause``. Windows run on a monotonic clock. Orders use a reserved
  share of the budget (the order lane) that monitoring reads can never take.
* **Bounded retries**: reads and cancels are retried on 429, 5xx, timeouts and connection errors
  with exponential backoff and full jitter, bounded in attempts and in total time.
* **An order is never placed twice**: ``submit_order`` sets ``client_order_id`` before the first
  attempt; when an attempt's outcome is unknown (timeout, dropped connection, 5xx) it looks the
  order up by that id (again, for ``order_visibility_wait`` seconds, while the venue shows none)
  and only resends (same id) when the venue verifiably does not have it. If nothing can be
  established it raises ``OrderOutcomeUnknownError(client_order_id)``, never a refusal that an
  earlier attempt may have caused. ``replace_order`` does the same with the replacement's own
  client_order_id (``alpaca.placement`` has the state table).
* **Risk limits first**: ``submit_order`` and ``replace_order`` run the pre-trade check (a
  replace is checked as the order it would become) before any request. The check is injected
  (``pre_trade_check``); the client knows no risk policy. ``client_for_account`` installs an
  account's ``[risk]`` limits; ``from_account`` refuses an account with limits unless it is told
  how to check them. Check and placement run as one step under the key's order lock (within the
  client; across processes through Redis when a Redis URL is set), so concurrent orders cannot
  each pass a limit that only some of them fit.
* **Paper unless told otherwise**: the live endpoint (api.alpaca.markets) is refused unless
  ``allow_live=True`` (``ALPACA_ALLOW_LIVE`` / ``allow_live`` in the accounts file).
* **Timeouts** on connect, read, write and pool wait.
* **Typed errors** (``errors``): chosen by HTTP status, Alpaca code and the error body's extra
  fields; message text decides only where Alpaca gives no other signal
  (``http_errors.MESSAGE_RULES``).
* **Secrets never leak**: not in ``repr``, logs or exceptions (transport errors are re-raised
  without the httpx request, which carries the key headers, in their chain, and never with httpx's
  text where it may quote a header); keys that cannot be a header value are refused when built.
* **The venue's clock is measured**: ``clock_skew`` and ``venue_now()``, from every answer's
  ``Date`` and ``get_clock()``'s timestamp.
* **Paging**: ``iter_orders`` and ``iter_activities`` stream every matching item across any number
  of pages with bounded memory, without losing or repeating orders that share a timestamp;
  ``iter_option_contracts`` follows the contracts listing's page tokens.
* **Options and crypto**: option contracts (listed, fetched), multi-leg (``mleg``) orders
  (``MultiLegOrderRequest``), crypto pairs (``BTC/USD``), and every order checked against its
  asset class's rules before it is sent (``alpaca.asset_rules``). ``exercise_position`` and
  ``do_not_exercise`` are sent at most once; an unclear answer is looked up in the account's
  exercise activities and the position, else ``InstructionOutcomeUnknownError``.
* **One bad item never blocks a page** when an ``on_bad_item`` hook is given: the page is parsed
  item by item, the good items are returned, each unparseable one is handed to the hook as a
  ``BadItem`` (its raw bytes and the reason), and paging moves on past it. Without a hook a bad
  item raises ``ParseError`` as before.

The endpoints live in ``alpaca.endpoints``; the request core in ``alpaca.transport``. This module
imports ``config``, ``errors`` and ``alpaca.*`` from the package; never risk (or any check),
storage, sync, flows or the simulator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from pydantic import SecretStr

from alpaca_integration._closing import AsyncClosing
from alpaca_integration.alpaca.endpoints.account import AccountEndpoints
from alpaca_integration.alpaca.endpoints.options import InstructionResult, OptionEndpoints
from alpaca_integration.alpaca.endpoints.orders import OrderEndpoints
from alpaca_integration.alpaca.endpoints.reference import ReferenceEndpoints
from alpaca_integration.alpaca.http_errors import error_from_response
from alpaca_integration.alpaca.paging import BadItem, OnBadItem
from alpaca_integration.alpaca.placement import DEFAULT_VISIBILITY_WAIT
from alpaca_integration.alpaca.pretrade import (
    OrderLock,
    PreTradeCheck,
    PreTradeCheckFactory,
    ReplaceAwareCheck,
    make_order_lock,
    order_lock_key,
)
from alpaca_integration.alpaca.queries import MAX_ACTIVITIES_PAGE, MAX_ORDERS_PAGE
from alpaca_integration.alpaca.ratelimit import (
    DEFAULT_RATE_LIMIT,
    DEFAULT_WINDOW_SECONDS,
    RateBudget,
    make_rate_budget,
)
from alpaca_integration.alpaca.transport import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    NO_RETRY,
    RestTransport,
    RetryPolicy,
)
from alpaca_integration.config import (
    PAPER_BASE_URL,
    AccountConfig,
    AlpacaSettings,
    is_live_url,
    key_text_problem,
)
from alpaca_integration.errors import ConfigError

__all__ = [
    "ACTIVITIES_PAGE_MAX",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "NO_RETRY",
    "ORDERS_PAGE_MAX",
    "AlpacaClient",
    "BadItem",
    "InstructionResult",
    "OnBadItem",
    "PreTradeCheck",
    "PreTradeCheckFactory",
    "ReplaceAwareCheck",
    "RetryPolicy",
    "error_from_response",
]


# The page bounds under their old names here (they live in ``queries``).
ORDERS_PAGE_MAX = MAX_ORDERS_PAGE
ACTIVITIES_PAGE_MAX = MAX_ACTIVITIES_PAGE


def _refuse_live(url: str, allow_live: bool) -> None:
    """``ConfigError`` when ``url`` is Alpaca's live venue (however its host is spelled) and live
    trading was not opted in to."""
    if allow_live or not is_live_url(url):
        return
    raise ConfigError(
        f"{url} is Alpaca's LIVE endpoint: real money would be at stake. Use "
        f"{PAPER_BASE_URL} for paper trading, or opt in to live trading explicitly: "
        "allow_live=True here, ALPACA_ALLOW_LIVE=true in the environment, or allow_live = true "
        "in the account's table of the accounts file",
        setting="ALPACA_ALLOW_LIVE",
    )


def _secret_text(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _checked_keys(key_id: str, secret: str) -> str:
    """``secret`` when both keys are present and fit an HTTP header; else ``ConfigError`` naming
    the setting (never the key)."""
    if not key_id or not secret:
        raise ConfigError(
            "an Alpaca key id and secret key are required: export ALPACA_API_KEY and "
            "ALPACA_SECRET_KEY, or try the built-in simulator with `alpacactl sim`",
            setting="ALPACA_API_KEY" if not key_id else "ALPACA_SECRET_KEY",
        )
    for setting, text in (("ALPACA_API_KEY", key_id), ("ALPACA_SECRET_KEY", secret)):
        problem = key_text_problem(text)
        if problem is not None:
            raise ConfigError(f"{setting} {problem}", setting=setting)
    return secret


def _base_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith("/v2"):
        base = base[: -len("/v2")]
    if not base.startswith(("http://", "https://")):
        raise ConfigError(
            f"base_url must be an http(s) URL such as {PAPER_BASE_URL}, got {base_url!r}",
            setting="ALPACA_BASE_URL",
        )
    return base


class AlpacaClient(
    OrderEndpoints, OptionEndpoints, AccountEndpoints, ReferenceEndpoints, AsyncClosing
):
    """Async client for one Alpaca API key. See the module docstring for its guarantees.

    Build it from settings (``AlpacaClient.from_settings()``, ``from_account(account)``) or from
    explicit arguments. ``transport`` (an ``httpx.AsyncBaseTransport``), ``sleep``, ``clock`` and
    ``rng`` are seams for tests. The endpoints live in ``alpaca.endpoints`` (orders, account,
    reference, options), the request core in ``alpaca.transport``.
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
        order_visibility_wait: float = DEFAULT_VISIBILITY_WAIT,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 20,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        secret_text = _checked_keys(key_id, _secret_text(secret_key))
        base = _base_url(base_url)
        _refuse_live(base, allow_live)
        self.base_url = base
        self.allow_live = allow_live
        self.key_id = key_id
        self._secret = SecretStr(secret_text)
        self._owns_budget = rate_budget is None
        budget = rate_budget or make_rate_budget(
            key_id,
            limit=rate_limit,
            window=rate_window,
            order_reserve=order_reserve,
            redis_url=redis_url,
        )
        self.pre_trade_check = pre_trade_check
        self.client_order_id_prefix = client_order_id_prefix
        if not order_visibility_wait >= 0:
            raise ConfigError(
                f"order_visibility_wait must be >= 0 seconds, got {order_visibility_wait}"
            )
        self.order_visibility_wait = order_visibility_wait
        self._redis_url = redis_url
        self._lock: OrderLock | None = None
        self._transport = RestTransport(
            base,
            key_id,
            self._secret.get_secret_value(),
            rate_budget=budget,
            retry=retry or RetryPolicy(),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            transport=transport,
            max_connections=max_connections,
            sleep=sleep or asyncio.sleep,
            clock=clock or time.time,
            rng=rng or random.Random(),
        )

    @property
    def rate_budget(self) -> RateBudget:
        """The key's request budget (shared with every client of the key in this process, or
        through Redis)."""
        return self._transport.rate_budget

    @property
    def retry(self) -> RetryPolicy:
        """How reads, cancels and unclear order attempts are retried."""
        return self._transport.retry

    @property
    def clock_skew(self) -> float | None:
        """The venue's clock minus this host's, in seconds (smoothed), measured from every
        answer's ``Date`` header (about half a second) and ``get_clock()``'s ``timestamp`` (to
        the millisecond); None until an answer has been seen (``venue_clock``)."""
        return self._transport.venue_clock.skew

    @property
    def order_lock_key(self) -> str:
        """The Redis key of this API key's check-and-place lock (used when a Redis URL is set)."""
        return order_lock_key(self.key_id)

    def _order_lock(self) -> OrderLock:
        """The key's check-and-place lock, made on first use: through Redis when the client has a
        Redis URL, else within this client."""
        if self._lock is None:
            self._lock = make_order_lock(self.key_id, self._redis_url)
        return self._lock

    def venue_now(self) -> dt.datetime:
        """The venue's time now by that estimate (UTC); this host's time until one exists."""
        return dt.datetime.fromtimestamp(self._transport.venue_clock.now(), dt.UTC)

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

    async def aclose(self) -> None:
        """Close the connection pool (and the budget's Redis connection if this client made it)."""
        await self._transport.aclose()
        if self._lock is not None:
            await self._lock.aclose()
        if self._owns_budget:
            await self.rate_budget.aclose()
