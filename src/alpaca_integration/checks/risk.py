"""Pre-trade risk: the hook every order passes, and the names of the whole risk check.

Every order the integration places passes :func:`check_order` (pure, ``checks.risk_limits``)
before a request is sent; :func:`make_pre_trade_check` builds the async hook that
``AlpacaClient.submit_order(..., pre_trade_check=...)`` runs, reading the current positions and
open orders from the store (or the client). A replace is checked as the order it would become
(:func:`replaced_order_request`, :func:`check_replace`): the old order's remaining quantity is
released, so the old order is left out of the open orders it is compared with; the hook's
``check_replace`` method is what ``AlpacaClient.replace_order`` runs. A refusal is
``RiskLimitError`` whose ``limit`` names the limit and whose message says the value, the limit and
what to do. :func:`client_for_account` builds a client with the account's limits installed.

The limits and the pure check live in ``checks.risk_limits``; exposure (:func:`measure_exposure`,
:func:`exposure_breaches`, :func:`record_exposure`) in ``checks.exposure``; both are re-exported
here so one module names the whole risk check.

Option and crypto orders are also checked against the account's figures (options level and
buying power, non-marginable buying power): for those the hook reads the account too (the
client's ``get_account()``, or the store's latest snapshot). A multi-leg order reads the prices
of every leg.

Imports ``models``, ``instruments``, ``config``, the pure ``alpaca.requests`` and the other
``checks.risk_*``/``checks.exposure`` modules; the client only inside
:func:`client_for_account` (and for typing); never storage, sync or the simulator (the store and
the client are reached through small protocols).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from alpaca_integration.alpaca.requests import replaced_intent
from alpaca_integration.checks.exposure import (
    ExposureSnapshot,
    RiskBreach,
    exposure_breaches,
    measure_exposure,
    record_exposure,
)
from alpaca_integration.checks.risk_limits import (
    RiskLimits,
    RiskState,
    SymbolLimits,
    check_order,
    check_replace,
    order_reference_price,
    replaced_order_request,
)
from alpaca_integration.config import AccountConfig
from alpaca_integration.instruments import asset_class_of_symbol
from alpaca_integration.models import (
    AccountSnapshot,
    AssetClass,
    MultiLegOrderRequest,
    Order,
    OrderClass,
    OrderIntent,
    ReplaceRequest,
)
from alpaca_integration.sync.ports import RiskClientSource, RiskSource, RiskStoreSource

__all__ = [
    "ExposureSnapshot",
    "PreTradeCheck",
    "RiskBreach",
    "RiskCheck",
    "RiskLimits",
    "RiskState",
    "SymbolLimits",
    "check_order",
    "check_replace",
    "client_for_account",
    "exposure_breaches",
    "make_pre_trade_check",
    "measure_exposure",
    "order_reference_price",
    "record_exposure",
    "replaced_order_request",
]

if TYPE_CHECKING:
    from alpaca_integration.alpaca.client import AlpacaClient


PreTradeCheck = Callable[[OrderIntent], Awaitable[None]]


PriceLookup = Callable[[str], Awaitable[Decimal | None]]


_ACCOUNT_CLASSES = frozenset({AssetClass.US_OPTION, AssetClass.CRYPTO})


def _needs_account(symbols: tuple[str, ...]) -> bool:
    """Option and crypto orders are checked against the account's figures (options level and
    buying power, non-marginable buying power): read them only then."""
    return any(asset_class_of_symbol(symbol) in _ACCOUNT_CLASSES for symbol in symbols)


def _is_store(source: RiskSource) -> TypeGuard[RiskStoreSource]:
    return hasattr(source, "open_orders") and hasattr(source, "positions")


async def _account_figures(source: RiskSource, account: str) -> AccountSnapshot | None:
    """The account as the source knows it: the store's latest snapshot, else the client's
    ``get_account()``."""
    if _is_store(source):
        return await source.latest_snapshot(account)
    client = cast(RiskClientSource, source)
    return await client.get_account()


async def _load_state(
    source: RiskSource, account: str, price_lookup: PriceLookup | None, symbols: tuple[str, ...]
) -> RiskState:
    if _is_store(source):
        positions = list(await source.positions(account))
        orders = list(await source.open_orders(account))
    else:
        client = cast(RiskClientSource, source)
        positions = list(await client.list_positions())
        # Every page: one page (the venue's default 50) would hide the rest of the open orders.
        orders = [order async for order in client.iter_orders(status="open", nested=True)]
    prices: dict[str, Decimal] = {}
    if price_lookup is not None:
        for symbol in symbols:
            looked_up = await price_lookup(symbol)
            if looked_up is not None:
                prices[symbol] = looked_up
    figures = await _account_figures(source, account) if _needs_account(symbols) else None
    return RiskState.from_records(positions, orders, prices, figures)


def _symbols(request: OrderIntent) -> tuple[str, ...]:
    if isinstance(request, MultiLegOrderRequest):
        return tuple(leg.symbol.strip().upper() for leg in request.legs)
    return (request.symbol.strip().upper(),)


def _order_symbols(order: Order) -> tuple[str, ...]:
    if order.order_class is OrderClass.MLEG and not order.symbol:
        return tuple(leg.symbol.strip().upper() for leg in order.legs)
    return (order.symbol.strip().upper(),)


@dataclasses.dataclass(eq=False, repr=False)
class RiskCheck:
    """The pre-trade hook :func:`make_pre_trade_check` returns.

    ``await check(request)`` checks a new order; ``await check.check_replace(old, change)`` checks
    a replace (``AlpacaClient.replace_order`` calls it). Both read the current state from the
    source first, and refuse with ``RiskLimitError``; a halted account refuses without reading.
    """

    source: RiskSource
    limits: RiskLimits
    _: dataclasses.KW_ONLY
    account: str = "default"
    price_lookup: PriceLookup | None = None

    def __repr__(self) -> str:
        return f"RiskCheck(account={self.account!r})"

    def _refuse_if_halted(self, request: OrderIntent) -> None:
        if self.limits.halted:
            # No state is needed to refuse, and a halted account must refuse even when the store
            # cannot be read.
            check_order(request, RiskState(), self.limits, account=self.account)

    async def _state(self, symbols: tuple[str, ...]) -> RiskState:
        return await _load_state(self.source, self.account, self.price_lookup, symbols)

    async def __call__(self, request: OrderIntent) -> None:
        self._refuse_if_halted(request)
        state = await self._state(_symbols(request))
        check_order(request, state, self.limits, account=self.account)

    async def check_replace(self, old: Order, change: ReplaceRequest) -> None:
        self._refuse_if_halted(replaced_intent(old, change))
        state = await self._state(_order_symbols(old))
        check_replace(old, change, state, self.limits, account=self.account)


def make_pre_trade_check(
    source: RiskSource,
    limits: RiskLimits,
    *,
    account: str = "default",
    price_lookup: PriceLookup | None = None,
) -> RiskCheck:
    """An async ``pre_trade_check(request)`` for ``AlpacaClient.submit_order`` (and, through its
    ``check_replace`` method, for ``AlpacaClient.replace_order``).

    ``source`` is the store (``positions(account)``, ``open_orders(account)``: cheap, no request
    budget used) or the client (``list_positions()``, every page of ``iter_orders(status="open")``:
    exact, two requests or more). ``price_lookup(symbol)`` may supply a reference price for symbols
    with no position (a quote feed); without it a market order on a new symbol is refused only
    when a limit needs its price. Raises ``RiskLimitError``; returns None when the order may go.
    """
    return RiskCheck(source, limits, account=account, price_lookup=price_lookup)


def client_for_account(
    account: AccountConfig,
    *,
    redis_url: str | None = None,
    apply_risk_limits: bool = True,
    **options: Any,
) -> AlpacaClient:
    """A client for one configured account with the account's ``[risk]`` limits installed as its
    pre-trade check (read through that client: positions and every page of open orders), so
    every ``submit_order``/``replace_order`` passes them. Invalid limits raise ``ConfigError``
    here, before any order can be placed. ``apply_risk_limits=False`` leaves them out (only for
    code that runs its own check); a ``pre_trade_check=`` option replaces them."""
    from alpaca_integration.alpaca.client import AlpacaClient

    factory = None
    if apply_risk_limits and account.risk:
        limits = RiskLimits.from_mapping(account.risk, account=account.name)

        def factory(client: AlpacaClient) -> RiskCheck:
            return make_pre_trade_check(client, limits, account=account.name)

    return AlpacaClient.from_account(
        account,
        redis_url=redis_url,
        apply_risk_limits=apply_risk_limits,
        pre_trade_check_factory=factory,
        **options,
    )
