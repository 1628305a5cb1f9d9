"""Lot matching, hand-computed: FIFO/LIFO/HIFO, partial closes, shorts, fees, duplicates, order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ledger_builders import at, fill

from alpaca_integration.ledger import (
    Ledger,
    LedgerError,
    LedgerOrderError,
    MatchingMethod,
)
from alpaca_integration.models import Activity

D = Decimal

# Three buys at 100, 120, 110 then one sell of 15 at 130.
LADDER = [
    fill("b1", "buy", 10, 100, when=at(1)),
    fill("b2", "buy", 10, 120, when=at(2)),
    fill("b3", "buy", 10, 110, when=at(3)),
    fill("s1", "sell", 15, 130, when=at(4)),
]


def _closed(ledger: Ledger) -> list[tuple[str, Decimal, Decimal]]:
    return [(m.open_fill_id, m.qty, m.gross) for m in ledger.matches()]


def _open(ledger: Ledger) -> list[tuple[str, Decimal, Decimal]]:
    return [(lot.open_fill_id, lot.qty, lot.cost) for lot in ledger.open_lots()]


def test_fifo_closes_the_oldest_lots_first() -> None:
    """FIFO: b1 10 x (130-100) = 300, then 5 of b2 x (130-120) = 50; b2 5 and b3 10 stay open."""
    ledger = Ledger.rebuild(LADDER, method=MatchingMethod.FIFO)
    assert _closed(ledger) == [("b1", D(10), D(300)), ("b2", D(5), D(50))]
    assert _open(ledger) == [("b2", D(5), D(600)), ("b3", D(10), D(1100))]


def test_lifo_closes_the_newest_lots_first() -> None:
    """LIFO: b3 10 x (130-110) = 200, then 5 of b2 x 10 = 50; b1 10 and b2 5 stay open."""
    ledger = Ledger.rebuild(LADDER, method=MatchingMethod.LIFO)
    assert _closed(ledger) == [("b3", D(10), D(200)), ("b2", D(5), D(50))]
    assert _open(ledger) == [("b1", D(10), D(1000)), ("b2", D(5), D(600))]


def test_hifo_closes_the_highest_cost_lots_first() -> None:
    """HIFO: b2 (120) 10 x 10 = 100, then 5 of b3 (110) x 20 = 100; b1 10 and b3 5 stay open."""
    ledger = Ledger.rebuild(LADDER, method=MatchingMethod.HIFO)
    assert _closed(ledger) == [("b2", D(10), D(100)), ("b3", D(5), D(100))]
    assert _open(ledger) == [("b1", D(10), D(1000)), ("b3", D(5), D(550))]


@pytest.mark.parametrize("method", list(MatchingMethod))
def test_every_method_gives_the_same_total_at_the_same_price(method: MatchingMethod) -> None:
    """Realized + unrealized at 130 is 600 whatever the method: 30 shares x 130 - 3300 paid."""
    ledger = Ledger.rebuild(LADDER, method=method)
    realized = sum(m.gross for m in ledger.matches())
    unrealized = sum(v.unrealized or 0 for v in ledger.valuations({"AAPL": D(130)}))
    assert realized + unrealized == D(600)


def test_partial_close_splits_the_lot_and_its_fee() -> None:
    """A partial close splits the lot, its cost and its opening fee by quantity."""
    # Buy 100 @ 10 (fee 1.00); sell 30 @ 12 (fee 0.30): gross 30 x 2 = 60, open fee 1.00 x 30/100 =
    # 0.30, net 59.40; the lot keeps 70 shares, cost 700, fee 0.70. Selling those 70 @ 11 (fee
    # 0.21): gross 70, fees 0.70 + 0.21, net 69.09.
    ledger = Ledger()
    ledger.apply([fill("b", "buy", 100, "10.00", fee="1.00", when=at(1))])
    ledger.apply([fill("s1", "sell", 30, "12.00", fee="0.30", when=at(2))])
    (first,) = ledger.matches()
    assert (first.qty, first.gross, first.open_fee, first.close_fee, first.net) == (
        D(30),
        D(60),
        D("0.30"),
        D("0.30"),
        D("59.40"),
    )
    (lot,) = ledger.open_lots()
    assert (lot.qty, lot.cost, lot.fee) == (D(70), D(700), D("0.70"))
    ledger.apply([fill("s2", "sell", 70, "11.00", fee="0.21", when=at(3))])
    assert ledger.matches()[1].net == D("69.09")
    assert ledger.open_lots() == []


def test_short_cover_and_a_fill_crossing_zero() -> None:
    """A short is covered, and a buy crossing zero closes it and opens a long with the rest."""
    # Sell 50 @ 20 opens a short; buy 20 @ 18 covers 20 (gross +40); buy 40 @ 21 (fee 0.40) covers
    # the last 30 (gross -30, fee 0.30) and opens a long of 10 @ 21 carrying fee 0.10.
    ledger = Ledger.rebuild(
        [
            fill("short", "sell", 50, 20, when=at(1)),
            fill("cover", "buy", 20, 18, when=at(2)),
            fill("cross", "buy", 40, 21, fee="0.40", when=at(3)),
        ]
    )
    first, second = ledger.matches()
    assert (first.qty, first.gross, second.qty, second.gross) == (D(-20), D(40), D(-30), D(-30))
    assert (second.close_fee, second.net) == (D("0.30"), D("-30.30"))
    (lot,) = ledger.open_lots()
    assert (lot.open_fill_id, lot.qty, lot.cost, lot.fee) == ("cross", D(10), D(210), D("0.10"))
    assert ledger.positions() == {"AAPL": D(10)}


def test_fee_shares_are_rounded_and_the_last_takes_the_remainder() -> None:
    """Fee shares round to 1e-9 and the last takes the remainder, so they add up exactly."""
    # A 0.01 fee on a sell closing three 1-share lots: 0.003333333, 0.003333333, then the remainder
    # 0.003333334, so the shares add up to the fee exactly.
    ledger = Ledger.rebuild(
        [fill(f"b{i}", "buy", 1, 10, when=at(i)) for i in range(3)]
        + [fill("s", "sell", 3, 11, fee="0.01", when=at(5))]
    )
    fees = [m.close_fee for m in ledger.matches()]
    assert fees == [D("0.003333333"), D("0.003333333"), D("0.003333334")]
    assert sum(fees) == D("0.01")
    assert ledger.totals().fees_paid == ledger.fees_given == D("0.01")


def test_an_option_contract_counts_its_multiplier() -> None:
    """Buy 2 AAPL 150 calls @ 3.50, sell them @ 4.25: (4.25 - 3.50) x 2 x 100 = 150."""
    symbol = "AAPL250620C00150000"
    ledger = Ledger.rebuild(
        [
            fill("b", "buy", 2, "3.50", symbol=symbol, when=at(1)),
            fill("s", "sell", 2, "4.25", symbol=symbol, when=at(2)),
        ]
    )
    (match,) = ledger.matches()
    assert (match.multiplier, match.gross) == (D(100), D(150))


def test_applying_a_fill_twice_is_a_no_op() -> None:
    """The same fill_id again, in the same batch or a later one, books nothing."""
    ledger = Ledger()
    first = ledger.apply([LADDER[0], LADDER[0]])
    again = ledger.apply([LADDER[0]])
    assert (first.applied, first.duplicates, again.applied, again.duplicates) == (1, 1, 0, 1)
    assert _open(ledger) == [("b1", D(10), D(1000))]


def test_an_older_fill_after_a_newer_one_asks_for_a_rebuild() -> None:
    """A lot-changing event older than the last applied raises; nothing of that batch stays."""
    ledger = Ledger()
    ledger.apply([LADDER[1]])
    with pytest.raises(LedgerOrderError):
        ledger.apply([LADDER[0], LADDER[2]])
    assert _open(ledger) == [("b2", D(10), D(1200))]
    ledger.apply([LADDER[2]])  # not marked seen by the refused batch
    assert len(ledger.open_lots()) == 2


def test_incremental_batches_and_a_rebuild_give_identical_rows() -> None:
    """Applying fills in three batches makes exactly the rows of one rebuild from all of them."""
    fills = [*LADDER, fill("s2", "sell", 20, 90, when=at(9)), fill("b4", "buy", 3, 95, when=at(10))]
    incremental = Ledger()
    for start in range(0, len(fills), 2):
        incremental.apply(fills[start : start + 2])
    rebuilt = Ledger.rebuild(reversed(fills), like=incremental)
    assert incremental.matches() == rebuilt.matches()
    assert incremental.open_lots() == rebuilt.open_lots()


def test_fills_at_the_same_instant_apply_in_fill_id_order() -> None:
    """Ties on time break on fill_id, so any arrival order books the same way."""
    same = [fill("x2", "sell", 5, 101), fill("x1", "buy", 5, 100)]
    forward, backward = Ledger.rebuild(same), Ledger.rebuild(reversed(same))
    assert forward.matches() == backward.matches()
    assert forward.matches()[0].open_fill_id == "x1"


def test_changes_hand_out_the_new_rows() -> None:
    """A ledger that keeps no matches still returns each batch's matches and touched books."""
    ledger = Ledger(keep_matches=False)
    changes = ledger.apply(LADDER)
    assert [m.gross for m in changes.matches] == [D(300), D(50)]
    assert changes.books == frozenset({("default", "AAPL")})
    assert ledger.totals().realized_gross == D(350)
    with pytest.raises(LedgerError):
        ledger.matches()


def test_a_fill_without_quantity_is_refused() -> None:
    """A zero-quantity fill is an input error, not a silent no-op."""
    with pytest.raises(LedgerError):
        Ledger().apply([fill("z", "buy", 0, 10)])


def test_an_activity_without_any_time_is_refused_whole() -> None:
    """An activity with neither a time nor a date cannot be placed: the batch is refused."""
    undated = Activity(id="x", activity_type="INT", date=None, net_amount=D(1))
    ledger = Ledger()
    with pytest.raises(LedgerError):
        ledger.apply([LADDER[0], undated])
    assert ledger.open_lots() == []


def test_hifo_covers_the_short_that_realizes_the_least_gain() -> None:
    """HIFO on shorts covers the lowest-priced short first (the least gain)."""
    # Short 10 @ 60 and 10 @ 50; buy 10 @ 40: covering the 50 lot realizes (50 - 40) x 10 = 100,
    # not the 200 of the 60 lot, which stays open.
    ledger = Ledger.rebuild(
        [
            fill("s60", "sell", 10, 60, when=at(1)),
            fill("s50", "sell", 10, 50, when=at(2)),
            fill("b", "buy", 10, 40, when=at(3)),
        ],
        method=MatchingMethod.HIFO,
    )
    assert _closed(ledger) == [("s50", D(-10), D(100))]
    assert _open(ledger) == [("s60", D(-10), D(-600))]
