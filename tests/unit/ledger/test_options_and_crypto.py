"""Options (OCC symbols, expiry, exercise, assignment) and crypto fees, hand-computed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ledger_builders import DAY0, activity, at, fill

from alpaca_integration import instruments
from alpaca_integration.ledger import (
    IncomeKind,
    Ledger,
    MatchKind,
    contract_multiplier,
    parse_occ_symbol,
)

D = Decimal
CALL = "AAPL230721C00150000"
DAY1 = DAY0 + dt.timedelta(days=1)


def test_occ_symbols_are_taken_apart() -> None:
    """The ledger reads OCC symbols with the models layer's parser (tested in test_instruments);
    an adjusted contract's root keeps its digit."""
    assert parse_occ_symbol is instruments.parse_occ_symbol
    adjusted = parse_occ_symbol("SPGI1260821P00470500")
    assert adjusted is not None
    assert (adjusted.underlying, adjusted.is_call, adjusted.strike) == ("SPGI", False, D("470.5"))
    assert parse_occ_symbol("AAPL") is None
    assert parse_occ_symbol("BTC/USD") is None


def test_multipliers_come_from_the_symbol_unless_given() -> None:
    """100 for an OCC option, 1 for equities and crypto; an explicit multiplier wins."""
    assert contract_multiplier(CALL) == D(100)
    assert contract_multiplier("AAPL") == contract_multiplier("BTC/USD") == D(1)
    assert contract_multiplier(CALL, {CALL: D(10)}) == D(10)


def test_an_expired_long_option_loses_its_premium_and_a_short_keeps_it() -> None:
    """Long 2 calls @ 1.50 (cost 300) expire: -300. Short 1 put @ 2.00 expires: +200."""
    put = "AAPL230721P00100000"
    ledger = Ledger()
    ledger.apply(
        [
            fill("long", "buy", 2, "1.50", symbol=CALL, when=at(1)),
            fill("short", "sell", 1, "2.00", symbol=put, when=at(2)),
        ]
    )
    ledger.apply(
        [
            activity("e1", "OPEXP", day=DAY1, symbol=CALL, qty=-2, net_amount=0),
            activity("e2", "OPEXP", day=DAY1, symbol=put, qty=1, net_amount=0),
        ]
    )
    assert [(m.kind, m.qty, m.gross, m.close_price) for m in ledger.matches()] == [
        (MatchKind.EXPIRY, D(2), D(-300), D(0)),
        (MatchKind.EXPIRY, D(-1), D(200), D(0)),
    ]
    assert ledger.positions() == {}


def test_an_exercised_call_carries_its_premium_into_the_shares() -> None:
    """An exercised call closes at cost and carries its premium into the shares' cost."""
    # Long 2 calls @ 3.00 (cost 600) exercised: 200 shares at the strike 150 (net_amount -30000;
    # Alpaca's own example shows a wrong price of 90, the cash is right) cost 30600, i.e. 153 a
    # share; the option closes at cost. Selling the shares @ 160: 32000 - 30600 = 1400.
    ledger = Ledger()
    ledger.apply([fill("call", "buy", 2, "3.00", symbol=CALL, when=at(1))])
    ledger.apply(
        [
            activity("x1", "OPEXC", day=DAY1, symbol=CALL, qty=-2, net_amount=0),
            activity("x2", "OPTRD", day=DAY1, symbol="AAPL", qty=200, price=90, net_amount=-30000),
        ]
    )
    (option,) = ledger.matches()
    assert (option.kind, option.gross) == (MatchKind.EXERCISE, D(0))
    (lot,) = ledger.open_lots()
    assert (lot.symbol, lot.qty, lot.cost, lot.unit_cost, lot.open_fill_id) == (
        "AAPL",
        D(200),
        D(30600),
        D(153),
        "x2",
    )
    ledger.apply([fill("s", "sell", 200, 160, when=at(days=3))])
    assert ledger.matches()[-1].gross == D(1400)


def test_an_assigned_short_put_lowers_the_cost_of_the_shares() -> None:
    """Short 1 put 50 @ 2.00 (proceeds 200) assigned: 100 shares bought at 50 cost 4800."""
    put = "XYZ260116P00050000"
    ledger = Ledger()
    ledger.apply([fill("put", "sell", 1, "2.00", symbol=put, when=at(1))])
    ledger.apply(
        [
            activity("a1", "OPASN", day=DAY1, symbol=put, qty=1, net_amount=0),
            activity("a2", "OPTRD", day=DAY1, symbol="XYZ", qty=100, price=50, net_amount=-5000),
        ]
    )
    assert [(lot.symbol, lot.qty, lot.cost) for lot in ledger.open_lots()] == [
        ("XYZ", D(100), D(4800))
    ]


def test_an_assigned_covered_call_adds_its_premium_to_the_sale() -> None:
    """An assigned covered call sells the shares for the strike plus the premium received."""
    # 100 XYZ @ 40 (cost 4000) and a short call 50 @ 1.50: assignment sells the shares for 5000 +
    # 150 premium, a gain of 1150.
    call = "XYZ260116C00050000"
    ledger = Ledger()
    ledger.apply(
        [
            fill("stock", "buy", 100, 40, symbol="XYZ", when=at(1)),
            fill("call", "sell", 1, "1.50", symbol=call, when=at(2)),
        ]
    )
    ledger.apply(
        [
            activity("a1", "OPASN", day=DAY1, symbol=call, qty=1, net_amount=0),
            activity("a2", "OPTRD", day=DAY1, symbol="XYZ", qty=-100, price=50, net_amount=5000),
        ]
    )
    assignment, sale = ledger.matches()
    assert (assignment.kind, assignment.gross) == (MatchKind.ASSIGNMENT, D(0))
    assert (sale.symbol, sale.gross, sale.close_price) == ("XYZ", D(1150), D("51.5"))
    assert ledger.positions() == {}


def test_a_coin_fee_reduces_the_lot_like_the_broker_position() -> None:
    """A crypto fee paid in coin takes the coins out of the lot, as the broker's position does."""
    # alpaca-py #374: buy 0.1 BTC @ 35000, the 0.00025 BTC fee (valued 8.75) leaves 0.09975 in the
    # lot (cost 3491.25) and books a crypto_fee match netting -8.75. Selling the 0.09975 @ 36000
    # then realizes 3591 - 3491.25 = 99.75.
    ledger = Ledger()
    ledger.apply([fill("b", "buy", "0.1", 35000, symbol="BTC/USD", when=at(1))])
    ledger.apply(
        [
            activity(
                "cf",
                "CFEE",
                day=DAY0,
                symbol="BTCUSD",
                qty="-0.00025",
                price=35000,
                net_amount=0,
            )
        ]
    )
    (fee,) = ledger.matches()
    assert (fee.kind, fee.qty, fee.gross, fee.close_fee, fee.net) == (
        MatchKind.CRYPTO_FEE,
        D("0.00025"),
        D(0),
        D("8.75"),
        D("-8.75"),
    )
    (lot,) = ledger.open_lots()
    assert (lot.qty, lot.cost) == (D("0.09975"), D("3491.25"))
    assert ledger.positions() == {"BTC/USD": D("0.09975")}
    ledger.apply([fill("s", "sell", "0.09975", 36000, symbol="BTC/USD", when=at(days=2))])
    assert ledger.matches()[-1].gross == D("99.75")
    assert ledger.totals().fees_paid == ledger.fees_given == D("8.75")


def test_a_usd_fee_on_a_sell_attaches_to_its_match() -> None:
    """A crypto fee paid in USD lands on the match its sell closed, reported as an updated row."""
    # Buy 1 ETH @ 2000, sell @ 2100 the same day; the day's 5.25 USD fee (posted later) lands on the
    # sell's match: net 100 - 5.25 = 94.75, reported as an updated row.
    ledger = Ledger()
    ledger.apply(
        [
            fill("b", "buy", 1, 2000, symbol="ETH/USD", when=at(1)),
            fill("s", "sell", 1, 2100, symbol="ETH/USD", when=at(2)),
        ]
    )
    changes = ledger.apply([activity("cf", "CFEE", day=DAY0, symbol="ETHUSD", net_amount="-5.25")])
    ((index, match),) = changes.updated_matches
    assert (index, match.close_fee, match.net) == (0, D("5.25"), D("94.75"))
    assert ledger.matches()[0] == match
    assert ledger.totals().realized_net == D("94.75")


def test_a_crypto_fee_with_no_execution_is_kept_as_unattributed() -> None:
    """A CFEE for a day without fills of its symbol is an account-level fee, not lost."""
    ledger = Ledger()
    ledger.apply([activity("cf", "CFEE", day=DAY0, symbol="SOLUSD", net_amount="-0.40")])
    (item,) = ledger.income()
    assert (item.kind, item.amount, item.symbol) == (IncomeKind.FEE, D("-0.40"), "SOLUSD")
    assert ledger.totals().unattributed_fees == D("0.40")
