"""Strategy sleeves from client_order_ids, and income (dividends, interest, unattached fees)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from ledger_builders import DAY0, activity, at, fill

from alpaca_integration.ledger import (
    DEFAULT_SLEEVE,
    IncomeKind,
    Ledger,
    SleeveConvention,
    strategy_from_client_order_id,
    strategy_prefix,
)
from alpaca_integration.models import new_client_order_id
from alpaca_integration.reconcile import is_integration_order
from support.storage_builders import make_order

D = Decimal
DAY1 = DAY0 + dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("client_order_id", "sleeve"),
    [
        ("ai-momentum-9f1c2d", "momentum"),
        ("ai-mean_rev.v2-abc-def", "mean_rev.v2"),
        ("ai-0123456789abcdef0123456789abcdef", DEFAULT_SLEEVE),  # the integration's plain id
        ("ai-1b4e28ba-2fa1-11d2-883f-0016d3cca427", DEFAULT_SLEEVE),  # a UUID after the prefix
        ("ai-9lives-x", DEFAULT_SLEEVE),  # a strategy starts with a letter
        ("ai-momentum-", DEFAULT_SLEEVE),  # nothing after the strategy
        ("momentum-123", DEFAULT_SLEEVE),  # placed elsewhere
        (None, DEFAULT_SLEEVE),
    ],
)
def test_the_strategy_is_read_from_the_client_order_id(
    client_order_id: str | None, sleeve: str
) -> None:
    """ai-<strategy>-<rest> names a sleeve; every other id books to the default sleeve."""
    assert strategy_from_client_order_id(client_order_id) == sleeve


def test_a_strategy_prefix_makes_ids_that_read_back_and_stay_the_integrations() -> None:
    """new_client_order_id(strategy_prefix(s)) parses back to s and still starts with ai-."""
    client_order_id = new_client_order_id(strategy_prefix("momentum"))
    assert strategy_from_client_order_id(client_order_id) == "momentum"
    assert is_integration_order(client_order_id)
    with pytest.raises(ValueError, match="strategy"):
        strategy_prefix("has-dash")


def test_the_convention_is_configurable() -> None:
    """Another prefix and default sleeve name."""
    convention = SleeveConvention(prefix="desk/", default_sleeve="house")
    assert convention.sleeve_of("desk/alpha-1") == "alpha"
    assert convention.sleeve_of("ai-alpha-1") == "house"


def test_each_strategy_gets_its_own_lots_and_pnl() -> None:
    """Each strategy sleeve matches its own lots and has its own P&L."""
    # Two strategies and an untagged order on one symbol: each sleeve matches its own lots.
    # momentum: buy 10 @ 100, sell 10 @ 110 -> 100; reversion: buy 10 @ 105, still open; the
    # untagged sell 5 @ 90 opens a short in the default sleeve instead of closing theirs.
    ledger = Ledger.rebuild(
        [
            fill("m1", "buy", 10, 100, client_order_id="ai-momentum-1", when=at(1)),
            fill("r1", "buy", 10, 105, client_order_id="ai-reversion-1", when=at(2)),
            fill("m2", "sell", 10, 110, client_order_id="ai-momentum-2", when=at(3)),
            fill("x1", "sell", 5, 90, when=at(4)),
        ]
    )
    summary = ledger.summary(by="sleeve")
    assert summary["momentum"].realized_gross == D(100)
    assert [(lot.sleeve, lot.qty) for lot in ledger.open_lots()] == [
        (DEFAULT_SLEEVE, D(-5)),
        ("reversion", D(10)),
    ]
    assert ledger.positions() == {"AAPL": D(5)}
    assert [lot.open_fill_id for lot in ledger.open_lots(sleeve="reversion")] == ["r1"]


def test_replacements_and_legs_inherit_the_strategy_of_their_order() -> None:
    """A replacement with a plain id and a bracket leg book to the original order's sleeve."""
    leg = make_order(id="o1-tp", client_order_id="venue-generated", parent_id="o1")
    entry = make_order(id="o1", client_order_id="ai-breakout-1", legs=(leg,))
    replacement = make_order(id="o2", client_order_id="ai-0123abcd", replaces="o1")
    ledger = Ledger.rebuild(
        [
            entry,
            replacement,
            fill("f1", "buy", 1, 100, order_id="o2", when=at(1)),
            fill(
                "f2",
                "sell",
                1,
                101,
                order_id="o1-tp",
                client_order_id="venue-generated",
                when=at(2),
            ),
        ]
    )
    assert {m.sleeve for m in ledger.matches()} == {"breakout"}


def test_a_dividend_is_shared_by_the_sleeves_holding_the_symbol() -> None:
    """8.00 on 40 shares held 30 by alpha and 10 by beta: 6.00 and 2.00."""
    ledger = Ledger()
    ledger.apply(
        [
            fill("a", "buy", 30, 10, client_order_id="ai-alpha-1", when=at(1)),
            fill("b", "buy", 10, 10, client_order_id="ai-beta-1", when=at(2)),
        ]
    )
    ledger.apply([activity("d", "DIV", day=DAY1, symbol="AAPL", net_amount="8.00", qty=40)])
    assert [(i.sleeve, i.kind, i.amount) for i in ledger.income()] == [
        ("alpha", IncomeKind.DIVIDEND, D("6.00")),
        ("beta", IncomeKind.DIVIDEND, D("2.00")),
    ]
    assert ledger.summary(by="symbol")["AAPL"].income == D("8.00")


def test_interest_withholding_and_unattached_fees_are_booked() -> None:
    """Interest, withholding and unattached fees are booked; joined and canceled ones are not."""
    # INT is interest; DIVNRA a negative dividend; a FEE without order is a fee on the account; a
    # FEE with order and time was joined to its fill by the store and is not counted again; a
    # canceled activity books nothing.
    ledger = Ledger()
    ledger.apply(
        [
            activity("i", "INT", day=DAY0, net_amount="1.25", subtype="CDT"),
            activity("w", "DIVNRA", day=DAY0, symbol="VG", net_amount="-0.30"),
            activity("f", "FEE", day=DAY0, net_amount="-0.02", subtype="TAF"),
            activity("j", "FEE", when=at(1), order_id="o-1", net_amount="-0.01"),
            activity("c", "INT", day=DAY0, net_amount="9.99", status="canceled"),
        ]
    )
    assert [(i.activity_id, i.kind, i.amount) for i in ledger.income()] == [
        ("f", IncomeKind.FEE, D("-0.02")),
        ("i", IncomeKind.INTEREST, D("1.25")),
        ("w", IncomeKind.DIVIDEND, D("-0.30")),
    ]
    totals = ledger.totals()
    assert (totals.income, totals.fees_paid) == (D("0.95"), D("0.02"))
