"""testing.compare: what "the store equals the venue" checks, and what it reports."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from alpaca_integration.testing.compare import compare_with_venue, normalize_store_dump

T = "2026-03-02T15:00:00.123456Z"


def _venue() -> dict[str, Any]:
    leg = {
        "id": "leg",
        "client_order_id": "l",
        "symbol": "AAPL",
        "side": "sell",
        "status": "held",
        "order_class": "bracket",
        "qty": "2",
        "filled_qty": "0",
        "filled_avg_price": None,
        "limit_price": "110",
        "stop_price": None,
        "legs": None,
    }
    parent = {
        "id": "p",
        "client_order_id": "ai-p",
        "symbol": "AAPL",
        "side": "buy",
        "status": "filled",
        "order_class": "bracket",
        "qty": "2",
        "filled_qty": "2",
        "filled_avg_price": "100",
        "limit_price": None,
        "stop_price": None,
        "legs": [leg],
    }
    sell = {
        "id": "s",
        "client_order_id": "ai-s",
        "symbol": "AAPL",
        "side": "sell",
        "status": "filled",
        "order_class": "",
        "qty": "1",
        "filled_qty": "1",
        "filled_avg_price": "101",
        "limit_price": None,
        "stop_price": None,
        "legs": None,
    }
    fills = [
        {
            "activity_type": "FILL",
            "order_id": "p",
            "cum_qty": "2",
            "qty": "2",
            "price": "100",
            "side": "buy",
            "transaction_time": T,
        },
        {
            "activity_type": "FILL",
            "order_id": "s",
            "cum_qty": "1",
            "qty": "1",
            "price": "101",
            "side": "sell",
            "transaction_time": T,
        },
    ]
    fee = {"activity_type": "FEE", "order_id": "s", "transaction_time": T, "net_amount": "-0.02"}
    return {
        "cash": "99899.98",
        "orders": [parent, sell],
        "fills": fills,
        "activities": [*fills, fee],
        "positions": [{"symbol": "AAPL", "qty": "1", "side": "long", "avg_entry_price": "100"}],
    }


def _store() -> dict[str, Any]:
    def order(**fields: Any) -> dict[str, Any]:
        base = {
            "limit_price": None,
            "stop_price": None,
            "notional": None,
            "parent_id": None,
            "replaces": None,
            "replaced_by": None,
            "filled_avg_price": None,
        }
        return {**base, **fields}

    return {
        "account": {},
        "cash": Decimal("99899.98000000"),
        "orders": {
            "p": order(
                client_order_id="ai-p",
                symbol="AAPL",
                side="buy",
                status="filled",
                order_class="bracket",
                qty=Decimal(2),
                filled_qty=Decimal("2.000"),
                filled_avg_price=Decimal(100),
            ),
            "leg": order(
                client_order_id="l",
                symbol="AAPL",
                side="sell",
                status="held",
                order_class="bracket",
                qty=Decimal(2),
                filled_qty=Decimal(0),
                limit_price=Decimal(110),
                parent_id="p",
            ),
            "s": order(
                client_order_id="ai-s",
                symbol="AAPL",
                side="sell",
                status="filled",
                order_class="simple",
                qty=Decimal(1),
                filled_qty=Decimal(1),
                filled_avg_price=Decimal(101),
            ),
        },
        "fills": [
            {
                "order_id": "p",
                "cum_qty": Decimal(2),
                "qty": Decimal(2),
                "price": Decimal(100),
                "fee": Decimal(0),
                "side": "buy",
            },
            {
                "order_id": "s",
                "cum_qty": Decimal(1),
                "qty": Decimal(1),
                "price": Decimal(101),
                "fee": Decimal("0.02"),
                "side": "sell",
            },
        ],
        "positions": {"AAPL": {"qty": Decimal(1), "avg_entry_price": Decimal("100.0")}},
    }


def test_equal_states_have_no_difference() -> None:
    """Same orders and legs, fills with joined fees, positions and cash: no difference."""
    assert compare_with_venue(normalize_store_dump(_store()), _venue()) == []


def test_a_missing_fee_is_reported() -> None:
    """A fill stored without its FEE is a difference naming the fill and the field."""
    store = _store()
    store["fills"][1]["fee"] = Decimal(0)
    assert compare_with_venue(store, _venue()) == [
        "fill (s, 1): fee is 0 in the store, 0.02 at the venue"
    ]


def test_a_duplicated_fill_is_reported() -> None:
    """The same execution stored twice is reported even though the values agree."""
    store = _store()
    store["fills"].append(copy.deepcopy(store["fills"][0]))
    assert compare_with_venue(store, _venue()) == ["fill (p, 2): stored more than once"]


def test_stale_status_missing_order_and_position_drift_are_reported() -> None:
    """Each kind of drift becomes one line."""
    store = _store()
    store["orders"]["leg"]["status"] = "new"
    del store["orders"]["s"]
    store["positions"]["AAPL"]["qty"] = Decimal(2)
    store["cash"] = Decimal(1)
    assert compare_with_venue(store, _venue()) == [
        "order s: at the venue, missing from the store",
        "order leg: status is new in the store, held at the venue",
        "position AAPL: qty is 2 in the store, 1 at the venue",
        "cash is 1 in the store, 99899.98 at the venue",
    ]


def test_every_field_the_venue_states_is_compared() -> None:
    """Type, time in force, extended hours, the trail fields and every timestamp are compared,
    not only status and quantities: a store that got any of them wrong is not "equal"."""
    venue = _venue()
    sell = venue["orders"][1]
    sell.update(
        type="trailing_stop",
        time_in_force="gtc",
        extended_hours=False,
        trail_percent="2",
        created_at="2026-03-02T14:59:00.000001Z",
        filled_at=T,
    )
    store = _store()
    store["orders"]["s"].update(
        type="market",
        time_in_force="day",
        extended_hours=True,
        trail_percent=Decimal("2.5"),
        created_at="2026-03-02T14:59:00Z",
        filled_at=None,
    )
    assert compare_with_venue(store, venue) == [
        "order s: type is market in the store, trailing_stop at the venue",
        "order s: time_in_force is day in the store, gtc at the venue",
        "order s: extended_hours is True in the store, False at the venue",
        "order s: trail_percent is 2.5 in the store, 2 at the venue",
        "order s: created_at is 2026-03-02T14:59:00+00:00 in the store, "
        "2026-03-02T14:59:00.000001+00:00 at the venue",
        "order s: filled_at is None in the store, 2026-03-02T15:00:00.123456+00:00 at the venue",
    ]


def test_the_same_instant_in_another_notation_is_equal() -> None:
    """A timestamp written with an offset, a Z or as a datetime is the same instant; 100 and
    100.00 are the same amount: none of these is a difference."""
    import datetime as dt

    venue = _venue()
    venue["orders"][1].update(created_at="2026-03-02T10:00:00-05:00", limit_price="101.50")
    store = _store()
    store["orders"]["s"].update(
        created_at=dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC), limit_price=Decimal("101.5000")
    )
    assert compare_with_venue(store, venue) == []
