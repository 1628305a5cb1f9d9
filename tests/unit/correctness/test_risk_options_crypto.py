"""Pre-trade risk for options and crypto, with hand-computed cases: the 100x multiplier in every
notional, the options level and buying power, max_contracts, crypto's no-shorting and cash-only
buying power, multi-leg orders and their replaces."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from alpaca_integration import models
from alpaca_integration.checks.risk import (
    RiskLimits,
    RiskState,
    check_order,
    check_replace,
    make_pre_trade_check,
    measure_exposure,
)
from alpaca_integration.checks.risk_state import AccountFigures
from alpaca_integration.errors import RiskLimitError
from alpaca_integration.models import OrderRequest, OrderSide, OrderType, PositionIntent
from support.correctness_factories import (
    NOW,
    make_mleg_order,
    make_order,
    make_position,
    make_snapshot,
)

D = Decimal
CALL = "AAPL250620C00100000"
CALL_HIGH = "AAPL250620C00110000"
PUT = "AAPL250620P00050000"
BUY, SELL = OrderSide.BUY, OrderSide.SELL
NO_LIMITS = RiskLimits()


def option(qty: str, price: str | None, side: OrderSide = BUY, **kw: Any) -> OrderRequest:
    kind = {"type": OrderType.LIMIT, "limit_price": D(price)} if price is not None else {}
    return OrderRequest(symbol=kw.pop("symbol", CALL), side=side, qty=D(qty), **kind, **kw)


def crypto(side: OrderSide, **kw: Any) -> OrderRequest:
    return OrderRequest(symbol="BTC/USD", side=side, time_in_force=models.TimeInForce.GTC, **kw)


def spread(qty: str, limit: str | None = "2.50", ratio: str = "1") -> models.MultiLegOrderRequest:
    return models.MultiLegOrderRequest(
        legs=(
            models.OptionLegRequest(
                symbol=CALL, side=BUY, position_intent=PositionIntent.BUY_TO_OPEN
            ),
            models.OptionLegRequest(
                symbol=CALL_HIGH, ratio_qty=D(ratio), position_intent=PositionIntent.SELL_TO_OPEN
            ),
        ),
        qty=D(qty),
        type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        limit_price=None if limit is None else D(limit),
    )


def state(
    positions: dict[str, str] | None = None,
    prices: dict[str, str] | None = None,
    *,
    level: int | None = None,
    options_bp: str | None = None,
    crypto_bp: str | None = None,
    open_orders: tuple[models.Order, ...] = (),
) -> RiskState:
    figures = AccountFigures(
        options_level=level,
        options_buying_power=None if options_bp is None else D(options_bp),
        crypto_buying_power=None if crypto_bp is None else D(crypto_bp),
    )
    return RiskState(
        positions={k: D(v) for k, v in (positions or {}).items()},
        prices={k: D(v) for k, v in (prices or {}).items()},
        open_orders=open_orders,
        account=figures,
    )


def refused(request: models.OrderIntent, risk: RiskState, limits: RiskLimits = NO_LIMITS) -> str:
    with pytest.raises(RiskLimitError) as info:
        check_order(request, risk, limits, account="main")
    return f"{info.value.limit}: {info.value}"


# --------------------------------------------------------------------------- the multiplier


def test_an_option_orders_notional_counts_100_shares_per_contract() -> None:
    """2 contracts at 4.05 are worth 2 x 4.05 x 100 = 810 (passes 1000); 3 are 1215 (refused)."""
    limits = RiskLimits(max_order_notional=D(1000))
    check_order(option("2", "4.05"), state(), limits)
    assert "max_order_notional: " in refused(option("3", "4.05"), state(), limits)
    assert "notional 1215.00" in refused(option("3", "4.05"), state(), limits)


def test_an_option_positions_value_and_the_gross_exposure_use_the_multiplier() -> None:
    """Holding 1 call at 5: buying 2 more at 5.10 makes 3 x 5.10 x 100 = 1530 > 1500. Gross:
    20 AAPL at 100 (2000) + calls; 15 more calls at 4 make 16 x 400 = 6400 (8400 <= 10000),
    22 make 23 x 400 = 9200 (11200 > 10000)."""
    held = state({CALL: "1"}, {CALL: "5"})
    position_limit = RiskLimits(max_position_notional=D(1500))
    check_order(option("1", "5.10"), held, position_limit)  # 2 x 5.10 x 100 = 1020
    assert "worth 1530.00" in refused(option("2", "5.10"), held, position_limit)
    gross = RiskLimits(max_gross_exposure=D(10_000))
    book = state({"AAPL": "20", CALL: "1"}, {"AAPL": "100", CALL: "4"})
    check_order(option("15", "4"), book, gross)
    assert "gross exposure would reach 11200.00" in refused(option("22", "4"), book, gross)


def test_exposure_and_prices_of_option_positions_count_the_multiplier() -> None:
    """2 calls marked at 3.50 are worth 700; a position's price read from its market value is
    per share (700 / (2 x 100) = 3.50)."""
    unmarked = make_position(
        symbol=CALL,
        asset_class=models.AssetClass.US_OPTION,
        qty=D(2),
        market_value=None,
        current_price=D("3.50"),
        multiplier=D(100),
    )
    assert measure_exposure([unmarked], account="main", at=NOW).gross == D(700)
    priced = make_position(
        symbol=CALL, qty=D(2), market_value=D(700), current_price=None, multiplier=D(100)
    )
    assert RiskState.from_records([priced]).price(CALL) == D("3.50")


# --------------------------------------------------------------------------- options level


def test_the_options_level_decides_what_an_account_may_trade() -> None:
    """Level 0 refuses everything; level 1 sells covered calls and closes but cannot buy calls;
    level 2 buys calls but cannot trade spreads."""
    assert "disabled" in refused(option("1", "4"), state(level=0))
    assert "needs options level 2, the account has level 1" in refused(
        option("1", "4"), state(level=1)
    )
    closing = option("1", "4", SELL, position_intent=PositionIntent.SELL_TO_CLOSE)
    check_order(closing, state({CALL: "1"}, level=1), NO_LIMITS)
    check_order(option("1", "4"), state(level=2), NO_LIMITS)
    assert "needs options level 3" in refused(spread("1"), state(level=2))
    check_order(spread("1"), state(level=3), NO_LIMITS)


def test_a_call_sold_to_open_must_be_covered_by_shares() -> None:
    """200 AAPL shares cover 2 calls (2 x 100); a third needs 300 shares, and with one call
    already short, a second and third need 300 too."""
    shares = state({"AAPL": "200"}, level=1)
    check_order(option("2", "3", SELL), shares, NO_LIMITS)
    assert "needs 300 AAPL shares" in refused(option("3", "3", SELL), shares)
    one_short = state({"AAPL": "200", CALL_HIGH: "-1"}, level=1)
    assert "needs 300 AAPL shares" in refused(option("2", "3", SELL), one_short)


def test_options_buying_power_pays_premiums_and_secures_puts() -> None:
    """Buying 2 calls at 2.40 costs 480 (within 500), at 2.60 it costs 520 (refused); selling a
    50-strike put to open secures 50 x 100 = 5000 (beyond 4000); a debit spread of 2 at 2.50
    costs 500."""
    assert "costs 520.00" in refused(option("2", "2.60"), state(level=2, options_bp="500"))
    check_order(option("2", "2.40"), state(level=2, options_bp="500"), NO_LIMITS)
    put = option("1", "1.10", SELL, symbol=PUT)
    assert "costs 5000.00" in refused(put, state(level=1, options_bp="4000"))
    check_order(spread("2"), state(level=3, options_bp="500"), NO_LIMITS)
    assert "options_buying_power" in refused(spread("2"), state(level=3, options_bp="499.99"))
    check_order(spread("2", "-1.10"), state(level=3, options_bp="0"), NO_LIMITS)  # a credit


def test_max_contracts_counts_every_legs_contracts() -> None:
    """With max_contracts 10: 3 spreads of ratio 1:2 trade 3 + 6 = 9 contracts (pass), 4 trade
    12 (refused); a single order of 11 contracts is refused."""
    limits = RiskLimits(max_contracts=10)
    check_order(spread("3", ratio="2"), state(), limits)
    assert "trades 12 option contracts" in refused(spread("4", ratio="2"), state(), limits)
    assert "max_contracts" in refused(option("11", "1"), state(), limits)


def test_multi_leg_orders_meet_the_account_limits_leg_by_leg() -> None:
    """An option on an allowed underlying is allowed; a leg short while shorting is off is
    refused; the spread's notional is |net| x qty x 100."""
    check_order(option("1", "4"), state(), RiskLimits(allowed_symbols=frozenset({"AAPL"})))
    msft = option("1", "4", symbol="MSFT250620C00450000")
    assert "allowed_symbols" in refused(
        msft, state(), RiskLimits(allowed_symbols=frozenset({"AAPL"}))
    )
    assert "shorting_allowed" in refused(spread("1"), state(), RiskLimits(shorting_allowed=False))
    notional = RiskLimits(max_order_notional=D(700))
    check_order(spread("2", "-3.50"), state(), notional)  # 3.50 x 2 x 100 = 700
    assert "notional 750.00" in refused(spread("3", "2.50"), state(), notional)
    assert "reference_price" in refused(spread("1", None), state(), notional)


def test_a_legs_max_order_qty_counts_the_order_qty_times_the_legs_ratio() -> None:
    """3 units of a 1:2 spread trade 3 contracts of the first leg and 6 of the second: within
    max_order_qty 6, and the second leg beyond 5."""
    check_order(spread("3", ratio="2"), state(), RiskLimits(max_order_qty=D(6)))
    message = refused(spread("3", ratio="2"), state(), RiskLimits(max_order_qty=D(5)))
    assert message.startswith("max_order_qty: ")
    assert f"the {CALL_HIGH} leg trades 6 contracts, which exceeds the limit 5" in message


def test_an_mleg_replace_is_checked_as_the_strategy_it_becomes() -> None:
    """Raising a 1:2 spread from 3 to 4 units trades 12 contracts: refused by max_contracts 10."""
    old = make_mleg_order(CALL, CALL_HIGH)
    limits = RiskLimits(max_contracts=10)
    check_replace(old, models.ReplaceRequest(limit_price=D("2.40")), state(), limits)
    with pytest.raises(RiskLimitError, match="12 option contracts"):
        check_replace(old, models.ReplaceRequest(qty=D(4)), state(), limits)


# --------------------------------------------------------------------------- crypto


def test_crypto_cannot_be_sold_short_counting_open_sells() -> None:
    """Holding 0.5 BTC (the position says BTCUSD) with 0.2 already being sold: selling 0.3 ends
    at 0; 0.31 would end at -0.01 and is refused."""
    working = make_order(
        id="sell-1", symbol="BTC/USD", side=SELL, qty=D("0.2"), status=models.OrderStatus.NEW
    )
    book = state({"BTCUSD": "0.5"}, {"BTCUSD": "60000"}, open_orders=(working,))
    check_order(crypto(SELL, qty=D("0.3")), book, NO_LIMITS)
    assert "crypto_shorting: " in refused(crypto(SELL, qty=D("0.31")), book)
    assert "to -0.01" in refused(crypto(SELL, qty=D("0.31")), book)


def test_crypto_is_bought_with_non_marginable_buying_power() -> None:
    """With 500 of cash buying power: 0.008 BTC at 60000 (480) passes; 0.01 (600) and a 600
    notional are refused."""
    cash = state(crypto_bp="500")
    limit = {"type": OrderType.LIMIT, "limit_price": D(60000)}
    check_order(crypto(BUY, qty=D("0.008"), **limit), cash, NO_LIMITS)
    assert "costs 600.00" in refused(crypto(BUY, qty=D("0.01"), **limit), cash)
    assert "crypto_buying_power" in refused(crypto(BUY, notional=D(600)), cash)


# --------------------------------------------------------------------------- the hook


class _Venue:
    """The client as the pre-trade hook sees it: positions, open orders, the account."""

    def __init__(self) -> None:
        self.account_reads = 0

    async def list_positions(self) -> list[Any]:
        return [make_position(symbol="AAPL", qty=D(100))]

    async def iter_orders(
        self, *, status: str = "open", nested: bool | None = None
    ) -> AsyncIterator[models.Order]:
        for order in ():
            yield order

    async def get_account(self) -> Any:
        self.account_reads += 1
        return make_snapshot(options_trading_level=1, options_buying_power=D(10_000))


async def test_the_hook_reads_the_account_only_for_option_and_crypto_orders() -> None:
    """An equity order is checked without reading the account; an option order reads it and
    meets the account's level (1: a covered call passes, a long call is refused)."""
    venue = _Venue()
    check = make_pre_trade_check(venue, RiskLimits(max_order_qty=D(1000)), account="main")
    await check(OrderRequest(symbol="AAPL", side=BUY, qty=D(1)))
    assert venue.account_reads == 0
    await check(option("1", "3", SELL))
    with pytest.raises(RiskLimitError, match="needs options level 2"):
        await check(option("1", "3"))
    assert venue.account_reads == 2
