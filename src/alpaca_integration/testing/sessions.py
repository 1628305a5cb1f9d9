"""Trading sessions for the demo, the e2e tests, the restart test and the benchmarks.

:func:`scripted_session` places one of every order type and class the demo shows (market, limit,
a replace, a cancel, stop, trailing stop, bracket, OCO, a fill in parts), moving prices with the
simulator's admin API so the stops and limits trigger. :func:`random_session` places a busy,
seeded random mix of the same, with replaces, cancels and price moves. Both trade through any
client with ``submit_order``/``replace_order``/``cancel_order`` (``AlpacaClient``).

Imports ``models`` and ``errors``; never the store, sync or the simulator (prices move through
the ``set_price`` callback the caller passes).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alpaca_integration.errors import AlpacaIntegrationError, OrderOutcomeUnknownError
from alpaca_integration.models import (
    OrderClass,
    OrderRequest,
    OrderSide,
    OrderType,
    ReplaceRequest,
    StopLoss,
    TakeProfit,
    TimeInForce,
)

if TYPE_CHECKING:
    from alpaca_integration.alpaca.client import AlpacaClient


__all__ = [
    "DEMO_SYMBOLS",
    "START_PRICES",
    "SessionStats",
    "SetPrice",
    "random_session",
    "scripted_session",
]

DEMO_SYMBOLS = ("AAPL", "MSFT", "SPY", "TSLA")
START_PRICES = {
    "AAPL": Decimal("190.00"),
    "MSFT": Decimal("410.00"),
    "SPY": Decimal("520.00"),
    "TSLA": Decimal("180.00"),
}

SetPrice = Callable[[str, Decimal], Awaitable[None]]
Step = Callable[[str], Awaitable[None]]

_BUY, _SELL = OrderSide.BUY, OrderSide.SELL


# --------------------------------------------------------------------------- order shapes


def _gtc(symbol: str, side: OrderSide, qty: Decimal, **shape: Any) -> OrderRequest:
    """A good-till-canceled order for ``qty`` of ``symbol``; ``shape``: its type, prices and
    class (``OrderRequest`` fields)."""
    return OrderRequest(symbol=symbol, side=side, qty=qty, time_in_force=TimeInForce.GTC, **shape)


def _limit(symbol: str, side: OrderSide, qty: Decimal, price: Decimal) -> OrderRequest:
    return _gtc(symbol, side, qty, type=OrderType.LIMIT, limit_price=price)


def _stop(
    symbol: str, side: OrderSide, qty: Decimal, stop: Decimal, limit: Decimal | None = None
) -> OrderRequest:
    order_type = OrderType.STOP if limit is None else OrderType.STOP_LIMIT
    return _gtc(symbol, side, qty, type=order_type, stop_price=stop, limit_price=limit)


def _trailing(symbol: str, side: OrderSide, qty: Decimal, percent: Decimal) -> OrderRequest:
    return _gtc(symbol, side, qty, type=OrderType.TRAILING_STOP, trail_percent=percent)


def _with_exits(
    symbol: str,
    side: OrderSide,
    qty: Decimal,
    order_class: OrderClass,
    take_profit: Decimal,
    stop_loss: Decimal,
    **shape: Any,
) -> OrderRequest:
    """An order of ``order_class`` with a take-profit limit and a stop-loss exit."""
    return _gtc(
        symbol,
        side,
        qty,
        order_class=order_class,
        take_profit=TakeProfit(limit_price=take_profit),
        stop_loss=StopLoss(stop_price=stop_loss),
        **shape,
    )


def _bracket(symbol: str, qty: Decimal, take_profit: Decimal, stop_loss: Decimal) -> OrderRequest:
    """A market buy with a take-profit and a stop-loss exit."""
    return _with_exits(symbol, _BUY, qty, OrderClass.BRACKET, take_profit, stop_loss)


def _oco(symbol: str, qty: Decimal, take_profit: Decimal, stop_loss: Decimal) -> OrderRequest:
    """A sell that exits at the take-profit limit or the stop-loss, whichever comes first."""
    return _with_exits(
        symbol, _SELL, qty, OrderClass.OCO, take_profit, stop_loss, type=OrderType.LIMIT
    )


# --------------------------------------------------------------------------- the scripted session


async def _replace_and_cancel(client: AlpacaClient, step: Step) -> None:
    await client.submit_order(OrderRequest(symbol="AAPL", side=_BUY, qty=Decimal(20)))
    await step("market buy 20 AAPL")
    limit = await client.submit_order(_limit("MSFT", _BUY, Decimal(5), Decimal("400.00")))
    await step("limit buy 5 MSFT @ 400.00 (rests below the market)")
    await client.replace_order(limit.id, ReplaceRequest(limit_price=Decimal("411.00")))
    await step("replace: MSFT limit raised to 411.00 (marketable: fills)")
    far = await client.submit_order(_limit("SPY", _BUY, Decimal(3), Decimal("400.00")))
    await step("limit buy 3 SPY @ 400.00")
    await client.cancel_order(far.id)
    await step("cancel the SPY limit")


async def _stops(client: AlpacaClient, set_price: SetPrice, step: Step) -> None:
    await client.submit_order(_stop("AAPL", _SELL, Decimal(5), Decimal("185.00")))
    await step("stop sell 5 AAPL @ 185.00")
    await client.submit_order(_trailing("AAPL", _SELL, Decimal(5), Decimal("2")))
    await step("trailing stop sell 5 AAPL, trail 2%")
    await set_price("AAPL", Decimal("195.00"))
    await step("AAPL up to 195.00 (the trailing stop's high-water mark follows)")
    await set_price("AAPL", Decimal("184.00"))
    await step("AAPL down to 184.00: the stop and the trailing stop trigger")


async def _multi_leg(client: AlpacaClient, set_price: SetPrice, step: Step) -> None:
    await client.submit_order(_bracket("SPY", Decimal(10), Decimal("530.00"), Decimal("510.00")))
    await step("bracket buy 10 SPY: take profit 530.00, stop loss 510.00")
    await set_price("SPY", Decimal("531.00"))
    await step("SPY up to 531.00: the take-profit leg fills, the stop leg is canceled")
    await client.submit_order(_oco("MSFT", Decimal(5), Decimal("430.00"), Decimal("395.00")))
    await step("OCO sell 5 MSFT: limit 430.00 / stop 395.00")
    await set_price("MSFT", Decimal("394.00"))
    await step("MSFT down to 394.00: the OCO's stop fills, its limit is canceled")


async def scripted_session(
    client: AlpacaClient,
    set_price: SetPrice,
    *,
    pause: float = 0.5,
    say: Callable[[str], None] = lambda _line: None,
) -> list[str]:
    """Place the demo's orders; returns what was done, one line per step."""
    done: list[str] = []

    async def step(text: str) -> None:
        say(text)
        done.append(text)
        await asyncio.sleep(pause)

    for symbol, price in START_PRICES.items():
        if symbol != "TSLA":  # TSLA keeps moving: each price step brings new liquidity
            await set_price(symbol, price)
    await _replace_and_cancel(client, step)
    await _stops(client, set_price, step)
    await _multi_leg(client, set_price, step)
    await client.submit_order(OrderRequest(symbol="TSLA", side=_BUY, qty=Decimal(300)))
    await step("market buy 300 TSLA: fills in parts under the liquidity cap (100 per step)")
    return done


# --------------------------------------------------------------------------- the random session


@dataclass
class SessionStats:
    """What a random session did (orders accepted, refused by the venue, of unknown outcome)."""

    submitted: int = 0
    refused: int = 0
    unknown_outcome: int = 0
    replaced: int = 0
    canceled: int = 0
    price_moves: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)


_KINDS = (
    "market",
    "market",
    "limit_rest",
    "limit_cross",
    "stop",
    "trailing_stop",
    "bracket",
    "oco",
    "replace",
    "cancel",
    "stop_limit",
)
# Kinds whose order usually rests, so a later replace or cancel has something to act on.
_RESTING_KINDS = frozenset({"limit_rest", "stop", "stop_limit", "trailing_stop"})


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def _random_request(
    kind: str, symbol: str, side: OrderSide, qty: Decimal, price: Decimal, rng: random.Random
) -> OrderRequest | None:
    """The order a random step of ``kind`` places (None for a replace or a cancel)."""
    away = Decimal("0.99") if side is _SELL else Decimal("1.01")
    if kind == "market":
        return OrderRequest(symbol=symbol, side=side, qty=qty)
    if kind in ("limit_rest", "limit_cross"):
        offset = Decimal("0.97") if kind == "limit_rest" else Decimal("1.01")
        if side is _SELL:
            offset = 2 - offset
        return _limit(symbol, side, qty, _cents(price * offset))
    if kind in ("stop", "stop_limit"):
        stop = _cents(price * away)
        return _stop(symbol, side, qty, stop, None if kind == "stop" else stop)
    if kind == "trailing_stop":
        return _trailing(symbol, side, qty, Decimal(rng.choice(("0.5", "1", "2"))))
    up, down = _cents(price * Decimal("1.01")), _cents(price * Decimal("0.99"))
    if kind == "bracket":
        return _bracket(symbol, qty, up, down)
    if kind == "oco":
        return _oco(symbol, qty, up, down)
    return None


async def _random_step(
    client: AlpacaClient,
    kind: str,
    request: OrderRequest | None,
    resting: list[str],
    stats: SessionStats,
    rng: random.Random,
) -> None:
    """Place ``request``, or replace or cancel a resting order; venue refusals are counted."""
    try:
        if kind == "replace" and resting:
            order_id = resting.pop(rng.randrange(len(resting)))
            await client.replace_order(order_id, ReplaceRequest(qty=Decimal(rng.randint(1, 20))))
            stats.replaced += 1
        elif kind == "cancel" and resting:
            await client.cancel_order(resting.pop(rng.randrange(len(resting))))
            stats.canceled += 1
        if request is not None:
            order = await client.submit_order(request)
            stats.submitted += 1
            stats.kinds[kind] = stats.kinds.get(kind, 0) + 1
            if kind in _RESTING_KINDS:
                resting.append(order.id)
    except OrderOutcomeUnknownError:
        stats.unknown_outcome += 1
    except AlpacaIntegrationError as exc:
        stats.refused += 1
        name = type(exc).__name__
        stats.refusals[name] = stats.refusals.get(name, 0) + 1


async def random_session(
    client: AlpacaClient,
    set_price: SetPrice,
    *,
    n_orders: int,
    rng: random.Random,
    symbols: Sequence[str] = DEMO_SYMBOLS,
    start_prices: Mapping[str, Decimal] | None = None,
    pause: float = 0.0,
) -> SessionStats:
    """A busy session of every order type and class, replaces and cancels, with price moves.

    Used by the e2e tests, the restart test and the benchmarks. Venue refusals (buying power,
    wash trade, ...) are counted and skipped; an unknown outcome is counted (the sync finds out).
    """
    prices = {s: (start_prices or START_PRICES).get(s, Decimal("100.00")) for s in symbols}
    for symbol, price in prices.items():
        await set_price(symbol, price)
    stats = SessionStats()
    resting: list[str] = []
    for _ in range(n_orders):
        symbol = rng.choice(list(symbols))
        kind = rng.choice(_KINDS)
        side = rng.choice((_BUY, _SELL))
        qty = Decimal(rng.randint(1, 20))
        request = _random_request(kind, symbol, side, qty, prices[symbol], rng)
        await _random_step(client, kind, request, resting, stats, rng)
        if rng.random() < 0.3:
            change = Decimal(rng.randint(-300, 300)) / Decimal(10_000)
            prices[symbol] = _cents(prices[symbol] * (1 + change))
            await set_price(symbol, prices[symbol])
            stats.price_moves += 1
        if pause:
            await asyncio.sleep(pause)
    return stats
