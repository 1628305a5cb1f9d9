"""Pre-trade risk limits: validation of the configuration, each limit's pass and refusal, exposure."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from alpaca_integration import models
from alpaca_integration.checks.risk import (
    RiskLimits,
    RiskState,
    check_order,
    check_replace,
    exposure_breaches,
    make_pre_trade_check,
    measure_exposure,
    replaced_order_request,
)
from alpaca_integration.errors import ConfigError, RiskLimitError
from alpaca_integration.models import OrderRequest, OrderSide, OrderType, ReplaceRequest
from support.correctness_factories import NOW, make_order, make_position


def buy(qty: str = "10", symbol: str = "AAPL", **kw: Any) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=OrderSide.BUY, qty=Decimal(qty), **kw)


def sell(qty: str = "10", symbol: str = "AAPL", **kw: Any) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=OrderSide.SELL, qty=Decimal(qty), **kw)


STATE = RiskState(positions={"AAPL": Decimal(10)}, prices={"AAPL": Decimal(100)})


def refused(request: OrderRequest, state: RiskState, limits: RiskLimits) -> RiskLimitError:
    with pytest.raises(RiskLimitError) as info:
        check_order(request, state, limits, account="main")
    return info.value


# --------------------------------------------------------------------------- configuration


def test_limits_from_mapping_reads_every_key() -> None:
    """A full risk table validates into exact Decimals, upper-cased symbols and overrides."""
    limits = RiskLimits.from_mapping(
        {
            "halted": False,
            "allowed_symbols": ["aapl", "SPY"],
            "shorting_allowed": False,
            "max_order_qty": "100",
            "max_order_notional": "25000.50",
            "max_open_orders": 5,
            "max_position_qty": 500,
            "max_position_notional": "50000",
            "max_gross_exposure": "100000",
            "max_net_exposure": 80000.1,
            "symbols": {"aapl": {"max_position_qty": "50"}},
        },
        account="main",
    )
    assert limits.allowed_symbols == frozenset({"AAPL", "SPY"})
    assert limits.max_order_notional == Decimal("25000.50")
    assert limits.max_net_exposure == Decimal("80000.1")
    assert limits.position_qty_limit("AAPL") == Decimal(50)
    assert limits.position_qty_limit("SPY") == Decimal(500)


def test_limits_unknown_key_names_it_and_lists_known_keys() -> None:
    """A typo in the risk table is a ConfigError naming the key and the valid keys."""
    with pytest.raises(ConfigError) as info:
        RiskLimits.from_mapping({"max_order_notionl": "1"}, account="main")
    message = str(info.value)
    assert "accounts.main.risk.max_order_notionl" in message
    assert "max_order_notional" in message
    assert info.value.setting == "accounts.main.risk.max_order_notionl"


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"max_order_qty": "-5"}, "max_order_qty"),
        ({"max_order_notional": "lots"}, "max_order_notional"),
        ({"max_open_orders": -1}, "max_open_orders"),
        ({"allowed_symbols": "AAPL"}, "allowed_symbols"),
        ({"symbols": {"AAPL": {"max_position_qty": 0}}}, "symbols.AAPL.max_position_qty"),
    ],
)
def test_limits_invalid_value_is_config_error(mapping: dict[str, Any], key: str) -> None:
    """An invalid limit value raises one ConfigError naming the exact key."""
    with pytest.raises(ConfigError) as info:
        RiskLimits.from_mapping(mapping, account="main")
    assert f"accounts.main.risk.{key}" in str(info.value)


# --------------------------------------------------------------------------- each limit


def test_halted_refuses_every_order_and_unhalted_passes() -> None:
    """The halt switch refuses even a risk-reducing order; off, the same order passes."""
    assert refused(sell("1"), STATE, RiskLimits(halted=True)).limit == "halted"
    check_order(sell("1"), STATE, RiskLimits(halted=False))


def test_allowed_symbols() -> None:
    """A symbol outside the allow-list is refused; one inside passes (case-insensitive)."""
    limits = RiskLimits.from_mapping({"allowed_symbols": ["AAPL"]})
    check_order(buy(symbol="aapl"), STATE, limits)
    error = refused(buy(symbol="TSLA"), STATE, limits)
    assert error.limit == "allowed_symbols"
    assert "TSLA" in str(error)
    assert error.account == "main"


def test_max_open_orders_counts_working_orders_not_legs() -> None:
    """Open orders plus this one may not exceed the limit; held exit legs do not count."""
    bracket = make_order(
        id="p",
        order_class=models.OrderClass.BRACKET,
        legs=(
            make_order(id="tp", parent_id="p", side=OrderSide.SELL, status=models.OrderStatus.HELD),
            make_order(id="sl", parent_id="p", side=OrderSide.SELL, status=models.OrderStatus.HELD),
        ),
    )
    state = RiskState.from_records([], [bracket], {"AAPL": Decimal(100)})
    check_order(buy(), state, RiskLimits(max_open_orders=2))
    assert refused(buy(), state, RiskLimits(max_open_orders=1)).limit == "max_open_orders"


def test_max_order_qty() -> None:
    """An order's quantity at the limit passes; above it is refused, with the fix that fits a
    per-order limit (split the order)."""
    check_order(buy("100"), STATE, RiskLimits(max_order_qty=Decimal(100)))
    error = refused(buy("101"), STATE, RiskLimits(max_order_qty=Decimal(100)))
    assert error.limit == "max_order_qty"
    assert "exceeds the limit 100. Fix: split the order or raise max_order_qty" in str(error)


def test_max_order_notional_uses_limit_price_then_market_price() -> None:
    """Notional = qty x limit price (else the known price); at the limit passes, above refused."""
    limits = RiskLimits(max_order_notional=Decimal(1000))
    check_order(buy("10"), STATE, limits)  # 10 x 100
    check_order(buy("10", type=OrderType.LIMIT, limit_price=Decimal(100)), STATE, limits)
    error = refused(buy("10", type=OrderType.LIMIT, limit_price=Decimal("100.01")), STATE, limits)
    assert error.limit == "max_order_notional"
    assert "1000.10" in str(error)


def test_max_order_notional_for_notional_orders() -> None:
    """A notional order is measured by its notional."""
    limits = RiskLimits(max_order_notional=Decimal(500))
    check_order(
        OrderRequest(symbol="AAPL", side=OrderSide.BUY, notional=Decimal(500)), STATE, limits
    )
    request = OrderRequest(symbol="AAPL", side=OrderSide.BUY, notional=Decimal(501))
    assert refused(request, STATE, limits).limit == "max_order_notional"


def test_notional_market_order_needs_no_price_for_max_order_notional() -> None:
    """A --notional market order on an unpriced symbol is valued by its notional, not refused."""
    limits = RiskLimits(max_order_notional=Decimal(500))
    check_order(
        OrderRequest(symbol="MSFT", side=OrderSide.BUY, notional=Decimal(500)), STATE, limits
    )
    over = OrderRequest(symbol="MSFT", side=OrderSide.BUY, notional=Decimal("500.01"))
    assert refused(over, STATE, limits).limit == "max_order_notional"
    priced = RiskLimits(max_order_notional=Decimal(500), max_position_notional=Decimal(10**6))
    under = OrderRequest(symbol="MSFT", side=OrderSide.BUY, notional=Decimal(5))
    assert refused(under, STATE, priced).limit == "reference_price"


def test_unknown_price_refuses_only_when_a_notional_limit_needs_it() -> None:
    """A market order on a symbol with no known price is refused under a notional limit only."""
    check_order(buy(symbol="MSFT"), STATE, RiskLimits(max_order_qty=Decimal(100)))
    error = refused(buy(symbol="MSFT"), STATE, RiskLimits(max_order_notional=Decimal(10**6)))
    assert error.limit == "reference_price"
    assert "limit price" in str(error)


def test_shorting_allowed_counts_open_sells() -> None:
    """Without shorting, a sell beyond the long position (counting open sells) is refused."""
    limits = RiskLimits(shorting_allowed=False)
    check_order(sell("10"), STATE, limits)
    assert refused(sell("11"), STATE, limits).limit == "shorting_allowed"
    working_sell = make_order(id="s1", side=OrderSide.SELL, qty=Decimal(5))
    state = RiskState(positions=STATE.positions, prices=STATE.prices, open_orders=(working_sell,))
    check_order(sell("5"), state, limits)
    assert refused(sell("6"), state, limits).limit == "shorting_allowed"
    check_order(sell("11"), STATE, RiskLimits(shorting_allowed=True))


def test_max_position_qty_worst_case_with_open_buys() -> None:
    """Position + open buys + this buy may not exceed the symbol limit; a reducing sell passes."""
    limits = RiskLimits(max_position_qty=Decimal(30))
    open_buy = make_order(id="b1", qty=Decimal(10), filled_qty=Decimal(0))
    state = RiskState(positions=STATE.positions, prices=STATE.prices, open_orders=(open_buy,))
    check_order(buy("10"), state, limits)  # 10 + 10 + 10 = 30
    assert refused(buy("11"), state, limits).limit == "max_position_qty"
    over = RiskState(positions={"AAPL": Decimal(50)}, prices=STATE.prices)
    check_order(sell("5"), over, limits)  # reducing an over-limit position is allowed


def test_symbol_override_beats_account_default() -> None:
    """A per-symbol limit applies to that symbol only."""
    limits = RiskLimits.from_mapping(
        {"max_position_qty": "1000", "symbols": {"AAPL": {"max_position_qty": "15"}}}
    )
    check_order(buy("500", symbol="SPY"), STATE, limits)
    check_order(buy("5"), STATE, limits)
    assert refused(buy("6"), STATE, limits).limit == "max_position_qty"


def test_max_position_qty_for_shorts() -> None:
    """A short position is limited by its absolute size."""
    limits = RiskLimits(max_position_qty=Decimal(20))
    check_order(sell("30"), STATE, limits)  # 10 - 30 = -20
    assert refused(sell("31"), STATE, limits).limit == "max_position_qty"


def test_max_position_notional() -> None:
    """The symbol's projected position value may not exceed the limit."""
    limits = RiskLimits(max_position_notional=Decimal(2000))
    check_order(buy("10"), STATE, limits)  # 20 x 100
    assert refused(buy("11"), STATE, limits).limit == "max_position_notional"


# Long 10 AAPL at 100, short 2 SPY at 500.
HEDGED = RiskState(
    positions={"AAPL": Decimal(10), "SPY": Decimal(-2)},
    prices={"AAPL": Decimal(100), "SPY": Decimal(500)},
)


def test_max_gross_exposure() -> None:
    """Gross exposure after the order may not exceed the limit; reducing it always passes."""
    state = HEDGED  # gross 2000
    limits = RiskLimits(max_gross_exposure=Decimal(3000))
    check_order(buy("10"), state, limits)  # gross 3000
    assert refused(buy("11"), state, limits).limit == "max_gross_exposure"
    assert refused(sell("3", symbol="SPY"), state, limits).limit == "max_gross_exposure"
    tight = RiskLimits(max_gross_exposure=Decimal(100))
    check_order(sell("5"), state, tight)


def test_max_net_exposure() -> None:
    """|net exposure| after the order may not exceed the limit; a hedge passes."""
    state = HEDGED  # net 0
    limits = RiskLimits(max_net_exposure=Decimal(500))
    check_order(buy("5"), state, limits)
    assert refused(buy("6"), state, limits).limit == "max_net_exposure"
    long_heavy = RiskState(positions={"AAPL": Decimal(100)}, prices={"AAPL": Decimal(100)})
    check_order(sell("1"), long_heavy, limits)


# --------------------------------------------------------------------------- exposure


def _short(symbol: str, qty: str, price: str) -> models.Position:
    """A short of ``qty`` ``symbol`` marked at ``price``, worth -1000."""
    return make_position(
        symbol=symbol,
        side=models.PositionSide.SHORT,
        qty=-Decimal(qty),
        market_value=Decimal(-1000),
        current_price=Decimal(price),
    )


def test_measure_exposure_long_short_gross_net() -> None:
    """Exposure sums signed market values: gross = long + short, net = long - short."""
    positions = [
        make_position(symbol="AAPL", qty=Decimal(10), market_value=Decimal(1100)),
        _short("SPY", "2", "500"),
        make_position(symbol="XYZ", qty=Decimal(1), market_value=None, current_price=None),
    ]
    snapshot = measure_exposure(positions, account="main", at=NOW)
    assert (snapshot.long, snapshot.short) == (Decimal(1100), Decimal(1000))
    assert (snapshot.gross, snapshot.net) == (Decimal(2100), Decimal(100))
    assert snapshot.per_symbol == {"AAPL": Decimal(1100), "SPY": Decimal(-1000)}
    assert snapshot.unpriced == ("XYZ",)


def test_exposure_breaches_pass_and_fail() -> None:
    """Breaches list every exceeded limit; within limits there are none."""
    positions = [
        make_position(symbol="AAPL", qty=Decimal(10), market_value=Decimal(1100)),
        _short("TSLA", "5", "200"),
    ]
    snapshot = measure_exposure(positions, account="main", at=NOW)
    loose = RiskLimits(max_gross_exposure=Decimal(5000), max_net_exposure=Decimal(5000))
    assert exposure_breaches(snapshot, loose) == []
    tight = RiskLimits.from_mapping(
        {
            "allowed_symbols": ["AAPL"],
            "shorting_allowed": False,
            "max_position_qty": "8",
            "max_position_notional": "1050",
            "max_gross_exposure": "2000",
            "max_net_exposure": "50",
        }
    )
    found = {(b.limit_name, b.subject) for b in exposure_breaches(snapshot, tight)}
    assert found == {
        ("allowed_symbols", "TSLA"),
        ("shorting_allowed", "TSLA"),
        ("max_position_qty", "AAPL"),
        ("max_position_notional", "AAPL"),
        ("max_gross_exposure", "account"),
        ("max_net_exposure", "account"),
    }


def test_measure_exposure_needs_aware_time() -> None:
    """A naive timestamp is refused with a clear error."""
    with pytest.raises(ValueError, match="timezone-aware"):
        measure_exposure([], account="main", at=dt.datetime(2026, 1, 1))


# --------------------------------------------------------------------------- the hook


class _Venue:
    """The client-shaped source the hook can read (positions and open orders)."""

    def __init__(
        self, positions: Sequence[models.Position], orders: Sequence[models.Order]
    ) -> None:
        self.positions_list = list(positions)
        self.orders = list(orders)
        self.calls = 0

    async def list_positions(self) -> Sequence[models.Position]:
        self.calls += 1
        return self.positions_list

    async def iter_orders(
        self, *, status: str = "open", nested: bool | None = True
    ) -> AsyncIterator[models.Order]:
        self.calls += 1
        for order in self.orders:
            yield order


async def test_pre_trade_hook_reads_state_and_refuses() -> None:
    """The hook values the order against the venue's positions and refuses over the limit."""
    venue = _Venue([make_position(qty=Decimal(10), current_price=Decimal(100))], [])
    check = make_pre_trade_check(venue, RiskLimits(max_position_qty=Decimal(15)), account="main")
    await check(buy("5"))
    with pytest.raises(RiskLimitError) as info:
        await check(buy("6"))
    assert info.value.limit == "max_position_qty"
    assert venue.calls == 4


async def test_pre_trade_hook_uses_price_lookup() -> None:
    """A price lookup lets a market order on a new symbol be valued instead of refused."""

    async def lookup(symbol: str) -> Decimal | None:
        return Decimal(50) if symbol == "MSFT" else None

    venue = _Venue([], [])
    limits = RiskLimits(max_order_notional=Decimal(500))
    check = make_pre_trade_check(venue, limits, price_lookup=lookup)
    await check(buy("10", symbol="MSFT"))
    with pytest.raises(RiskLimitError) as info:
        await check(buy("11", symbol="MSFT"))
    assert info.value.limit == "max_order_notional"


async def test_halted_hook_refuses_without_reading_state() -> None:
    """A halted account refuses before any read (works even when the source is unreachable)."""
    venue = _Venue([], [])
    check = make_pre_trade_check(venue, RiskLimits(halted=True))
    with pytest.raises(RiskLimitError):
        await check(buy())
    assert venue.calls == 0


def test_filled_open_orders_do_not_count_as_pending() -> None:
    """An open order's already-filled part is in the position, not counted twice."""
    partly = make_order(
        qty=Decimal(10), filled_qty=Decimal(8), status=models.OrderStatus.PARTIALLY_FILLED
    )
    state = RiskState(positions={"AAPL": Decimal(8)}, prices=STATE.prices, open_orders=(partly,))
    limits = RiskLimits(max_position_qty=Decimal(20))
    check_order(buy("10"), state, limits)  # 8 + 2 + 10
    assert refused(buy("11"), state, limits).limit == "max_position_qty"


# --------------------------------------------------------------------------- replaces


def test_replaced_order_request_merges_the_change_into_the_old_order() -> None:
    """Fields the replace leaves None keep the old order's value; a trail follows the old kind."""
    old = make_order(
        qty=Decimal(10),
        limit_price=Decimal(100),
        time_in_force=models.TimeInForce.GTC,
        extended_hours=True,
    )
    merged = replaced_order_request(
        old, ReplaceRequest(limit_price=Decimal(101), client_order_id="repl-1")
    )
    assert (merged.symbol, merged.side, merged.type) == ("AAPL", OrderSide.BUY, OrderType.LIMIT)
    assert (merged.qty, merged.limit_price) == (Decimal(10), Decimal(101))
    assert merged.time_in_force is models.TimeInForce.GTC
    assert merged.extended_hours is True
    assert merged.client_order_id == "repl-1"
    trailing = make_order(
        type=OrderType.TRAILING_STOP,
        side=OrderSide.SELL,
        limit_price=None,
        trail_percent=Decimal(2),
    )
    moved = replaced_order_request(trailing, ReplaceRequest(trail=Decimal(3), qty=Decimal(4)))
    assert (moved.trail_percent, moved.trail_price, moved.qty) == (Decimal(3), None, Decimal(4))


def test_replace_raising_qty_past_max_order_qty_is_refused() -> None:
    """A replace is checked as the order it becomes: its new qty meets max_order_qty."""
    old = make_order(id="old", qty=Decimal(10))
    state = RiskState.from_records([], [old], {"AAPL": Decimal(100)})
    limits = RiskLimits(max_order_qty=Decimal(20))
    check_replace(old, ReplaceRequest(qty=Decimal(20)), state, limits)
    with pytest.raises(RiskLimitError) as info:
        check_replace(old, ReplaceRequest(qty=Decimal(21)), state, limits, account="main")
    assert info.value.limit == "max_order_qty"


def test_replace_releases_the_old_orders_quantity() -> None:
    """The old order's remaining qty is not counted beside its replacement (nor twice refused)."""
    old = make_order(id="old", qty=Decimal(10))
    other = make_order(id="other", qty=Decimal(5))
    state = RiskState.from_records(
        [make_position(qty=Decimal(10), current_price=Decimal(100))], [old, other]
    )
    limits = RiskLimits(max_position_qty=Decimal(30), max_open_orders=2)
    check_replace(old, ReplaceRequest(qty=Decimal(15)), state, limits)  # 10 + 5 + 15
    with pytest.raises(RiskLimitError) as info:
        check_replace(old, ReplaceRequest(qty=Decimal(16)), state, limits)
    assert info.value.limit == "max_position_qty"
    assert refused(buy("15"), state, limits).limit == "max_open_orders"


def test_replace_raising_the_limit_price_meets_max_order_notional() -> None:
    """A replace that only moves the limit price is valued at the new price."""
    old = make_order(id="old", qty=Decimal(10), limit_price=Decimal(100))
    state = RiskState.from_records([], [old])
    limits = RiskLimits(max_order_notional=Decimal(1000))
    check_replace(old, ReplaceRequest(limit_price=Decimal(99)), state, limits)
    with pytest.raises(RiskLimitError) as info:
        check_replace(old, ReplaceRequest(limit_price=Decimal(101)), state, limits)
    assert info.value.limit == "max_order_notional"


async def test_pre_trade_hook_checks_replaces_against_fresh_state() -> None:
    """The hook's check_replace reads the venue and refuses a replace past a position limit."""
    old = make_order(id="old", qty=Decimal(10))
    venue = _Venue([make_position(qty=Decimal(10), current_price=Decimal(100))], [old])
    check = make_pre_trade_check(venue, RiskLimits(max_position_qty=Decimal(25)), account="main")
    await check.check_replace(old, ReplaceRequest(qty=Decimal(15)))
    with pytest.raises(RiskLimitError) as info:
        await check.check_replace(old, ReplaceRequest(qty=Decimal(16)))
    assert info.value.limit == "max_position_qty"
    assert info.value.account == "main"
    halted = make_pre_trade_check(venue, RiskLimits(halted=True))
    calls = venue.calls
    with pytest.raises(RiskLimitError):
        await halted.check_replace(old, ReplaceRequest(qty=Decimal(1)))
    assert venue.calls == calls
