"""Corporate actions from activities, hand-computed: splits, name changes, mergers, spin-offs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ledger_builders import DAY0, T0, activity, at, fill, legs

from alpaca_integration.ledger import Ledger, MatchKind

D = Decimal
DAY1 = DAY0 + dt.timedelta(days=1)
LATER = at(days=2)


def _lots(ledger: Ledger) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(lot.symbol, lot.open_fill_id, lot.qty, lot.cost) for lot in ledger.open_lots()]


def test_a_two_for_one_split_between_buys_and_sells() -> None:
    """A 2:1 split between buys and a sell doubles the lots' quantity and keeps their cost."""
    # Buy 10 @ 100 and 10 @ 110; 2:1 split (-20, +40); sell 25 @ 60. FIFO: the first lot is now 20
    # shares costing 1000 -> 20 x 60 - 1000 = 200; 5 of the second (20 costing 1100) -> 300 - 275 =
    # 25. Left: 15 shares costing 825, still opened at the original time.
    ledger = Ledger()
    ledger.apply([fill("b1", "buy", 10, 100, when=at(1)), fill("b2", "buy", 10, 110, when=at(2))])
    ledger.apply(legs("SPLIT", DAY1, ("AAPL", -20, 105), ("AAPL", 40, "52.5"), subtype="FSPLIT"))
    assert _lots(ledger) == [("AAPL", "b1", D(20), D(1000)), ("AAPL", "b2", D(20), D(1100))]
    ledger.apply([fill("s", "sell", 25, 60, when=LATER)])
    assert [(m.open_fill_id, m.qty, m.gross) for m in ledger.matches()] == [
        ("b1", D(20), D(200)),
        ("b2", D(5), D(25)),
    ]
    assert ledger.matches()[0].open_price == D(50)
    assert ledger.open_lots()[0].opened_at == at(2)
    assert _lots(ledger) == [("AAPL", "b2", D(15), D(825))]


def test_a_one_for_ten_reverse_split_keeps_fractions_and_cost() -> None:
    """A 1:10 reverse split keeps fractional lots and every lot's exact cost."""
    # Buy 100 @ 2, 50 @ 3 and 7 @ 3; 1:10 (-157, +15.7): lots of 10 (cost 200), 5 (150) and 0.7
    # (21). Sell 12 @ 25: 10 -> 250 - 200 = 50; 2 of 5 -> 50 - 150 x 2/5 = -10.
    ledger = Ledger()
    ledger.apply(
        [
            fill("b1", "buy", 100, 2, when=at(1)),
            fill("b2", "buy", 50, 3, when=at(2)),
            fill("b3", "buy", 7, 3, when=at(3)),
        ]
    )
    ledger.apply(legs("SPLIT", DAY1, ("AAPL", -157, "2.3"), ("AAPL", "15.7", 23), subtype="RSPLIT"))
    assert _lots(ledger) == [
        ("AAPL", "b1", D(10), D(200)),
        ("AAPL", "b2", D(5), D(150)),
        ("AAPL", "b3", D("0.7"), D(21)),
    ]
    ledger.apply([fill("s", "sell", 12, 25, when=LATER)])
    assert [m.gross for m in ledger.matches()] == [D(50), D(-10)]
    assert _lots(ledger) == [("AAPL", "b2", D(3), D(90)), ("AAPL", "b3", D("0.7"), D(21))]


def test_a_split_of_a_short_position() -> None:
    """A split of a short position scales the negative lot and its proceeds."""
    # Short 10 @ 50; 2:1 (+10 removes the short, -20 adds it back): a lot of -20 worth -500.
    # Covering 20 @ 20 realizes (25 - 20) x 20 = 100.
    ledger = Ledger()
    ledger.apply([fill("short", "sell", 10, 50, when=at(1))])
    ledger.apply(legs("SPLIT", DAY1, ("AAPL", 10, 48), ("AAPL", -20, 24)))
    assert _lots(ledger) == [("AAPL", "short", D(-20), D(-500))]
    ledger.apply([fill("cover", "buy", 20, 20, when=LATER)])
    assert [(m.qty, m.gross) for m in ledger.matches()] == [(D(-20), D(100))]


def test_cash_in_lieu_closes_the_fraction_that_was_not_delivered() -> None:
    """Cash in lieu closes the fraction the split's rates promised but Alpaca did not deliver."""
    # 155 shares costing 155, 1:10 with rates 10 -> 1 promise 15.5; Alpaca delivers 15 and pays
    # 12.00: the 0.5 share costs 155 x 0.5 / 15.5 = 5, so the cash realizes 7; 15 shares cost 150.
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 155, 1, when=at(1))])
    group = {"group_id": "g-rsplit", "old_rate": "10", "new_rate": "1"}
    ledger.apply(
        [
            activity(
                "r1",
                "SPLIT",
                day=DAY1,
                symbol="AAPL",
                qty=-155,
                price=1,
                net_amount=0,
                payload=group,
            ),
            activity(
                "r2",
                "SPLIT",
                day=DAY1,
                symbol="AAPL",
                qty=15,
                price=10,
                net_amount=0,
                payload=group,
            ),
            activity(
                "r3", "SPLIT", day=DAY1, symbol="AAPL", qty=0, net_amount="12.00", payload=group
            ),
        ]
    )
    (match,) = ledger.matches()
    assert (match.kind, match.qty, match.gross) == (MatchKind.CASH_IN_LIEU, D("0.5"), D(7))
    assert _lots(ledger) == [("AAPL", "b", D(15), D(150))]


def test_the_event_stream_shape_with_symbols_in_details() -> None:
    """Legs whose symbol and rates sit in details (the event stream shape) apply like REST ones."""
    # Alpaca's own FSPLIT example (SF, 1 -> 1.5): 0.54796447 shares become 0.821946705, the cost
    # 0.54796447 x 62.32 unchanged.
    ledger = Ledger()
    ledger.apply([fill("b", "buy", "0.54796447", "62.32", symbol="SF", when=at(1))])
    details = {"details": {"group_id": "g-sf", "symbol": "SF", "old_rate": "1", "new_rate": "1.5"}}
    ledger.apply(
        [
            activity(
                "a1",
                "SPLIT",
                day=DAY1,
                qty="-0.54796447",
                price="62.32",
                subtype="FSPLIT",
                payload=details,
            ),
            activity(
                "a2",
                "SPLIT",
                day=DAY1,
                qty="0.821946705",
                price="41.5467",
                subtype="FSPLIT",
                payload=details,
            ),
        ]
    )
    assert _lots(ledger) == [("SF", "b", D("0.821946705"), D("0.54796447") * D("62.32"))]


def test_a_name_change_moves_the_lots_to_the_new_symbol() -> None:
    """A name change moves the lots to the new symbol, legs in either order."""
    # FB 10 @ 100 becomes META 10 (legs in either order); selling META @ 120 realizes 200 on the FB
    # fill, with the holding period from the original purchase.
    for order in (1, -1):
        ledger = Ledger()
        ledger.apply([fill("b", "buy", 10, 100, symbol="FB", when=at(1))])
        ledger.apply(legs("NC", DAY1, ("FB", -10, 120), ("META", 10, 120), subtype="SNC")[::order])
        assert _lots(ledger) == [("META", "b", D(10), D(1000))]
        assert ledger.positions() == {"META": D(10)}
        ledger.apply([fill("s", "sell", 10, 120, symbol="META", when=LATER)])
        (match,) = ledger.matches()
        assert (match.symbol, match.open_fill_id, match.gross) == ("META", "b", D(200))
        assert match.holding_period == LATER - at(1)


def test_an_action_seen_in_part_waits_for_its_other_leg() -> None:
    """A removal leg alone changes nothing yet and is listed as pending."""
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 10, 100, symbol="FB", when=at(1))])
    removal, addition = legs("NC", DAY1, ("FB", -10, 120), ("META", 10, 120))
    ledger.apply([removal])
    assert [p.activity_ids for p in ledger.pending()] == [(removal.id,)]
    assert ledger.positions() == {"FB": D(10)}
    ledger.apply([addition])
    assert ledger.pending() == []
    assert ledger.positions() == {"META": D(10)}


def test_a_cash_merger_closes_the_lots_at_the_cash() -> None:
    """10 shares costing 200 taken for 250 cash (cash leg and removal leg): gross 50."""
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 10, 20, symbol="TGT", when=at(1))])
    group = {"group_id": "g-cma", "details": {"acquiree_symbol": "TGT", "cash_rate": "25"}}
    ledger.apply(
        [
            activity("c1", "MA", day=DAY1, qty=0, net_amount=250, subtype="CMA", payload=group),
            activity(
                "c2",
                "MA",
                day=DAY1,
                symbol="TGT",
                qty=-10,
                net_amount=0,
                subtype="CMA",
                payload=group,
            ),
        ]
    )
    (match,) = ledger.matches()
    assert (match.kind, match.qty, match.gross, match.close_price) == (
        MatchKind.CASH_MERGER,
        D(10),
        D(50),
        D(25),
    )
    assert ledger.positions() == {}


def test_a_stock_merger_carries_the_cost_into_the_acquirer() -> None:
    """2000 shares of the acquiree costing 1000 become 200 of the acquirer costing 1000."""
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 2000, "0.50", symbol="OLD", when=at(1))])
    ledger.apply(legs("MA", DAY1, ("OLD", -2000, "0.8"), ("NEW", 200, 8), subtype="SMA"))
    assert _lots(ledger) == [("NEW", "b", D(200), D(1000))]


def test_stock_and_cash_merger_cash_returns_capital_first() -> None:
    """Cash in a stock-and-cash merger lowers the new lots' cost before it realizes anything."""
    # 400 shares costing 4000 become 400 of NEW plus 8.29 cash: the cash lowers the cost to 3991.71
    # and realizes nothing (it is less than the cost).
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 400, 10, symbol="OLD", when=at(1))])
    group = {"group_id": "g-scma"}
    ledger.apply(
        [
            activity("m1", "MA", day=DAY1, qty=0, net_amount="8.29", subtype="SCMA", payload=group),
            activity(
                "m2",
                "MA",
                day=DAY1,
                symbol="OLD",
                qty=-400,
                price="15.704",
                subtype="SCMA",
                payload=group,
            ),
            activity(
                "m3", "MA", day=DAY1, symbol="NEW", qty=400, price=0, subtype="SCMA", payload=group
            ),
        ]
    )
    assert _lots(ledger) == [("NEW", "b", D(400), D("3991.71"))]
    assert ledger.matches() == ()


def test_a_spin_off_takes_its_share_of_the_parent_cost_from_the_prices() -> None:
    """A spin-off's lots take the share of the parent's cost that the activity's prices give."""
    # 10 PARENT costing 1000; 2 CHILD spun off. Values 2 x 50 = 100 and 10 x 90 = 900, so 100 of the
    # cost moves to the child, which keeps the parent lot's opening time.
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 10, 100, symbol="PARENT", when=at(1))])
    details = {
        "details": {
            "source_symbol": "PARENT",
            "new_symbol": "CHILD",
            "source_qty": "10",
            "new_qty": "2",
            "source_price": "90",
            "new_price": "50",
        }
    }
    ledger.apply([activity("sp", "SPIN", day=DAY1, symbol="CHILD", qty=2, payload=details)])
    assert _lots(ledger) == [("CHILD", "b", D(2), D(100)), ("PARENT", "b", D(10), D(900))]
    assert ledger.open_lots()[0].opened_at == at(1)


def test_a_spin_off_without_prices_gets_zero_cost() -> None:
    """Alpaca's SPIN example carries new_price 0: the child lots cost nothing."""
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 2, "72.82", symbol="RNAM", when=at(1))])
    details = {
        "details": {
            "source_symbol": "RNAM",
            "new_symbol": "RNA",
            "source_qty": "2",
            "new_price": "0",
            "source_price": "72.82",
        }
    }
    ledger.apply([activity("sp", "SPIN", day=DAY1, qty="0.2", payload=details)])
    assert _lots(ledger) == [("RNA", "b", D("0.2"), D(0)), ("RNAM", "b", D(2), D("145.64"))]


def test_a_stock_dividend_adds_shares_at_no_cost() -> None:
    """10 shares costing 100 plus a 1-share stock dividend: 11 shares costing 100."""
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 10, 10, when=at(1))])
    ledger.apply(
        [activity("sd", "DIV", day=DAY1, symbol="AAPL", qty=1, net_amount=0, subtype="SDIV")]
    )
    assert _lots(ledger) == [("AAPL", "b", D(11), D(100))]


def test_a_worthless_removal_closes_at_zero() -> None:
    """REORG/WRM removes 200 warrants costing 30: a loss of 30."""
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 200, "0.15", symbol="CLNNW", when=at(1))])
    ledger.apply(
        [activity("w", "REORG", day=DAY1, symbol="CLNNW", qty=-200, price=0, subtype="WRM")]
    )
    (match,) = ledger.matches()
    assert (match.kind, match.gross) == (MatchKind.WORTHLESS, D(-30))


def test_date_only_actions_apply_before_that_days_fills() -> None:
    """A split dated the same day as a sell applies first (ex-date, before the open)."""
    ledger = Ledger.rebuild(
        [
            fill("b", "buy", 10, 100, when=T0 - dt.timedelta(days=1)),
            fill("s", "sell", 20, 55, when=T0),
            *legs("SPLIT", DAY0, ("AAPL", -10, 100), ("AAPL", 20, 50)),
        ]
    )
    assert [(m.qty, m.gross) for m in ledger.matches()] == [(D(20), D(100))]


def test_a_unit_split_gives_the_warrants_zero_cost() -> None:
    """A unit split moves the cost to the new shares and gives the warrants zero cost."""
    # 8 units CCCXU costing 210.48 become 8 INFQ (all the cost) and 2 INFQ.WS warrants (price 0,
    # zero cost), as in Alpaca's USPLIT example, with symbols only in details.
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 8, "26.31", symbol="CCCXU", when=at(1))])
    details = {
        "details": {
            "group_id": "g-unit",
            "old_symbol": "CCCXU",
            "new_symbol": "INFQ",
            "alternate_symbol": "INFQ.WS",
            "alternate_qty": "2",
        }
    }
    ledger.apply(
        [
            activity(
                "u1", "SPLIT", day=DAY1, qty=-8, price="26.31", subtype="USPLIT", payload=details
            ),
            activity(
                "u2", "SPLIT", day=DAY1, qty=8, price="26.31", subtype="USPLIT", payload=details
            ),
            activity("u3", "SPLIT", day=DAY1, qty=2, price=0, subtype="USPLIT", payload=details),
        ]
    )
    assert _lots(ledger) == [("INFQ", "b", D(8), D("210.48")), ("INFQ.WS", "b", D(2), D(0))]


def test_an_option_contract_adjustment_moves_the_contracts() -> None:
    """An option contract adjustment (OPCA) moves the contracts and their cost, no cash."""
    # OPCA NC.SNC: 1 SATS call costing 2910 becomes 1 ECHO call with the same cost; the legs'
    # net_amounts (+2910/-2910) value the contracts and move no cash.
    old, new = "SATS271217C00120000", "ECHO271217C00120000"
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 1, "29.10", symbol=old, when=at(1))])
    details = {
        "details": {"group_id": "g-opca", "old_contract_symbol": old, "new_contract_symbol": new}
    }
    ledger.apply(
        [
            activity(
                "o1",
                "OPCA",
                day=DAY1,
                qty=-1,
                price="29.1",
                net_amount=2910,
                subtype="NC.SNC",
                payload=details,
            ),
            activity(
                "o2",
                "OPCA",
                day=DAY1,
                qty=1,
                price="29.1",
                net_amount=-2910,
                subtype="NC.SNC",
                payload=details,
            ),
        ]
    )
    assert _lots(ledger) == [(new, "b", D(1), D(2910))]
    assert ledger.matches() == ()
