"""Simulator broker: fills, fees, positions, account figures, paging, dumps, determinism."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sim_venue import KEY, Venue, bracket

from alpaca_integration.simulator.wire import VenueError

Build = Callable[..., Venue]

ACTIVITY_ID = re.compile(
    r"^\d{17}::[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)


def fill_events(v: Venue) -> list[dict[str, Any]]:
    return [m["data"] for _, m in v.events if m["data"]["event"] in ("fill", "partial_fill")]


def test_fill_activity_carries_alpacas_fields(venue: Build) -> None:
    """A FILL activity has an id <timestamp>::<uuid>, order_id, cum_qty, leaves_qty, status."""
    v = venue()
    order = v.trade("AAPL", "buy", 3, "100.00")
    (fill,) = v.activities("FILL")
    assert ACTIVITY_ID.match(fill["id"])
    assert {k: fill[k] for k in ("type", "price", "qty", "side", "symbol", "cum_qty")} == {
        "type": "fill",
        "price": "100",
        "qty": "3",
        "side": "buy",
        "symbol": "AAPL",
        "cum_qty": "3",
    }
    assert (fill["order_id"], fill["leaves_qty"], fill["order_status"]) == (
        order["id"],
        "0",
        "filled",
    )
    assert v.activities("FEE") == []


def test_each_sell_execution_pays_one_fee_stamped_like_its_fill(venue: Build) -> None:
    """Every sell execution has one FEE (negative, same order, qty, transaction_time as its FILL)."""
    v = venue(liquidity_cap="60")
    v.trade("AAPL", "buy", 100, "100.00")
    v.broker.tick()
    sell = v.submit(symbol="AAPL", qty=100, side="sell")
    v.broker.tick()
    sell_fills = [f for f in v.activities("FILL") if f["order_id"] == sell["id"]]
    fees = v.activities("FEE")
    assert len(sell_fills) == len(fees) == 2
    for fill, fee in zip(sell_fills, fees, strict=True):
        assert fee["order_id"] == sell["id"]
        assert fee["qty"] == fill["qty"]
        assert fee["transaction_time"] == fill["transaction_time"]
        assert fee["symbol"] == "AAPL"
        assert Decimal(fee["net_amount"]) < 0
        assert fee["description"]
    # SEC 0.0000278 x $6,000 = 0.1668 plus TAF 60 x 0.000166 = 0.00996 -> 0.18 (rounded up).
    assert fees[0]["net_amount"] == "-0.18"


def test_stream_fill_events_match_their_fill_activities(venue: Build) -> None:
    """A fill event's timestamp is its FILL's transaction_time; order.filled_qty is cum_qty."""
    v = venue(liquidity_cap="4")
    v.trade("AAPL", "buy", 10, "100.00")
    v.broker.tick()
    v.broker.tick()
    events = fill_events(v)
    fills = v.activities("FILL")
    assert len(events) == len(fills) == 3
    for event, fill in zip(events, fills, strict=True):
        assert event["timestamp"] == fill["transaction_time"]
        assert event["order"]["filled_qty"] == fill["cum_qty"]
        assert event["qty"] == fill["qty"]
        assert event["price"] == fill["price"]
    assert [e["position_qty"] for e in events] == ["4", "8", "10"]
    assert len({e["execution_id"] for e in events}) == 3


def test_average_entry_price_and_realized_pl(venue: Build) -> None:
    """Buys at 100 and 110 average 105; selling 5 at 120 realizes 75 and leaves the average."""
    v = venue()
    v.trade("AAPL", "buy", 10, "100.00")
    v.trade("AAPL", "buy", 10, "110.00")
    v.trade("AAPL", "sell", 5, "120.00")
    position = v.broker.get_position(v.account, "AAPL")
    assert (position["qty"], position["avg_entry_price"]) == ("15", "105")
    assert (position["cost_basis"], position["market_value"]) == ("1575", "1800")
    assert position["unrealized_pl"] == "225"
    assert v.account.realized_pl["AAPL"] == Decimal(75)


def test_short_position_is_negative_and_covering_realizes_the_gain(venue: Build) -> None:
    """Short 10 at 100, cover at 90: the position shows short, the cover realizes +100."""
    v = venue()
    v.trade("AAPL", "sell", 10, "100.00")
    position = v.broker.get_position(v.account, "AAPL")
    assert (position["side"], position["qty"], position["market_value"]) == (
        "short",
        "-10",
        "-1000",
    )
    cover = v.trade("AAPL", "buy", 10, "90.00")
    assert cover["position_intent"] == "buy_to_close"
    assert v.account.realized_pl["AAPL"] == Decimal(100)
    assert "AAPL" not in v.account.positions


def test_account_figures_hold_together(venue: Build) -> None:
    """equity = cash + long + short market value; margin buying power is 4x above $25k equity."""
    v = venue()
    fresh = v.broker.account_json(v.account)
    assert (fresh["cash"], fresh["equity"], fresh["buying_power"], fresh["multiplier"]) == (
        "100000",
        "100000",
        "400000",
        "4",
    )
    v.price("AAPL", "100.00")
    v.price("MSFT", "200.00")
    v.submit(symbol="AAPL", qty=100, side="buy")
    v.submit(symbol="MSFT", qty=20, side="sell")
    v.price("AAPL", "101.00")
    account = v.broker.account_json(v.account)
    cash, long_value, short_value = (
        Decimal(account[k]) for k in ("cash", "long_market_value", "short_market_value")
    )
    assert (long_value, short_value) == (Decimal(10100), Decimal(-4000))
    assert Decimal(account["equity"]) == cash + long_value + short_value
    assert account["portfolio_value"] == account["equity"]


def test_cash_account_buying_power_is_its_cash(venue: Build) -> None:
    """A cash account reports multiplier 1, buying power equal to cash, and cannot short."""
    v = venue(account_type="cash", starting_cash="5000")
    account = v.broker.account_json(v.account)
    assert (account["multiplier"], account["buying_power"], account["shorting_enabled"]) == (
        "1",
        "5000",
        False,
    )


def test_close_position_sends_a_market_order_for_all_or_part(venue: Build) -> None:
    """DELETE /v2/positions/AAPL?percentage=50 sells half; without options it sells the rest."""
    v = venue()
    v.trade("AAPL", "buy", 10, "100.00")
    half = v.broker.close_position(v.account, "AAPL", {"percentage": "50"})
    assert (half["side"], half["qty"], half["type"]) == ("sell", "5", "market")
    rest = v.broker.close_position(v.account, "AAPL", {})
    assert rest["qty"] == "5"
    with pytest.raises(VenueError) as info:
        v.broker.close_position(v.account, "AAPL", {})
    assert (info.value.status, info.value.code, info.value.message) == (
        404,
        40410000,
        "position does not exist",
    )


def test_close_all_positions_answers_one_entry_per_symbol(venue: Build) -> None:
    """DELETE /v2/positions?cancel_orders=true cancels orders then closes each position."""
    v = venue()
    v.price("AAPL", "100.00")
    v.price("MSFT", "100.00")
    v.submit(symbol="AAPL", qty=3, side="buy")
    v.submit(symbol="MSFT", qty=2, side="sell")
    v.submit(
        symbol="AAPL", qty=3, side="sell", type="limit", limit_price="200", time_in_force="gtc"
    )
    results = v.broker.close_all(v.account, {"cancel_orders": "true"})
    assert [(r["symbol"], r["status"], r["body"]["side"]) for r in results] == [
        ("AAPL", 200, "sell"),
        ("MSFT", 200, "buy"),
    ]
    assert v.account.positions == {}


def test_activities_page_with_page_token_in_both_directions(venue: Build) -> None:
    """page_size cuts pages; page_token (the last id seen) continues; asc is the reverse of desc."""
    v = venue()
    v.price("AAPL", "100.00")
    for _ in range(3):
        v.submit(symbol="AAPL", qty=1, side="buy")
        v.submit(symbol="AAPL", qty=1, side="sell")
    every = [a["id"] for a in v.broker.activities(v.account, {})]
    assert len(every) == 9  # 6 fills and 3 fees
    first = v.broker.activities(v.account, {"page_size": "4"})
    second = v.broker.activities(v.account, {"page_size": "4", "page_token": first[-1]["id"]})
    assert [a["id"] for a in first + second] == every[:8]
    ascending = [a["id"] for a in v.broker.activities(v.account, {"direction": "asc"})]
    assert ascending == every[::-1]
    fees = v.broker.activities(v.account, {"activity_types": "FEE"})
    assert {a["activity_type"] for a in fees} == {"FEE"}
    assert len(v.broker.activities(v.account, {}, "FILL")) == 6


def test_activities_after_and_until_are_exclusive(venue: Build) -> None:
    """after/until exclude activities stamped exactly at the bound."""
    v = venue()
    v.price("AAPL", "100.00")
    for _ in range(3):
        v.submit(symbol="AAPL", qty=1, side="buy")
    times = [a["transaction_time"] for a in v.broker.activities(v.account, {"direction": "asc"})]
    between = v.broker.activities(
        v.account, {"after": times[0], "until": times[2], "direction": "asc"}
    )
    assert [a["transaction_time"] for a in between] == [times[1]]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"page_size": "101"}, "page_size must be between 1 and 100"),
        ({"activity_types": "FILL,NOPE"}, "invalid activity type"),
        ({"direction": "up"}, "direction must be asc or desc"),
        ({"page_token": "nope"}, "page_token"),
        ({"after": "yesterday"}, "after must be an RFC 3339 timestamp"),
    ],
)
def test_bad_activity_queries_are_refused(
    venue: Build, params: dict[str, str], fragment: str
) -> None:
    """Out-of-range or malformed activity query parameters answer 422 saying what to send."""
    v = venue()
    with pytest.raises(VenueError) as info:
        v.broker.activities(v.account, params)
    assert info.value.status == 422
    assert fragment in info.value.message


def test_orders_page_by_submission_time_exclusively(venue: Build) -> None:
    """limit cuts; after/until exclude the bound; direction orders; symbols and side filter."""
    v = venue()
    v.price("AAPL", "100.00")
    v.price("MSFT", "100.00")
    ids = []
    for index in range(6):
        symbol = "AAPL" if index % 2 == 0 else "MSFT"
        ids.append(v.submit(symbol=symbol, qty=1, side="buy")["id"])
    newest_two = v.broker.list_orders(v.account, {"status": "all", "limit": "2"})
    assert [o["id"] for o in newest_two] == ids[:-3:-1]
    oldest = v.broker.list_orders(v.account, {"status": "all", "direction": "asc"})
    assert [o["id"] for o in oldest] == ids
    middle = v.broker.list_orders(
        v.account,
        {
            "status": "closed",
            "after": oldest[1]["submitted_at"],
            "until": oldest[4]["submitted_at"],
            "direction": "asc",
        },
    )
    assert [o["id"] for o in middle] == ids[2:4]
    aapl = v.broker.list_orders(v.account, {"status": "all", "symbols": "AAPL", "side": "buy"})
    assert {o["symbol"] for o in aapl} == {"AAPL"}
    assert v.broker.list_orders(v.account, {"status": "open"}) == []


def test_orders_limit_over_500_is_refused(venue: Build) -> None:
    """limit=501 answers 422 pointing at after/until paging."""
    v = venue()
    with pytest.raises(VenueError) as info:
        v.broker.list_orders(v.account, {"limit": "501"})
    assert info.value.status == 422
    assert "after/until" in info.value.message


def test_nested_lists_legs_inside_their_parent_only(venue: Build) -> None:
    """nested=true shows a bracket once with its legs; flat lists show the legs separately."""
    v = venue()
    v.price("AAPL", "99.00")
    bracket(v, qty="1")
    nested = v.broker.list_orders(v.account, {"status": "all", "nested": "true"})
    flat = v.broker.list_orders(v.account, {"status": "all"})
    assert len(nested) == 1
    assert len(nested[0]["legs"]) == 2
    assert len(flat) == 3
    assert all(o["legs"] is None for o in flat)
    open_nested = v.broker.list_orders(v.account, {"status": "open", "nested": "true"})
    assert [o["id"] for o in open_nested] == [nested[0]["id"]]


def test_dump_reconciles_cash_with_fills_and_fees(venue: Build) -> None:
    """The dump's cash equals starting cash minus buys plus sells plus fees, to the cent."""
    v = venue()
    v.trade("AAPL", "buy", 7, "100.00")
    v.trade("AAPL", "sell", 4, "103.37")
    dump = v.broker.dump(KEY)
    flows = sum(
        (Decimal(f["qty"]) * Decimal(f["price"]) * (1 if f["side"] == "sell" else -1))
        for f in dump["fills"]
    )
    fees = sum(Decimal(a["net_amount"]) for a in dump["activities"] if a["activity_type"] == "FEE")
    assert Decimal(dump["cash"]) == Decimal(dump["starting_cash"]) + flows + fees
    assert [p["qty"] for p in dump["positions"]] == ["3"]
    assert len(dump["orders"]) == 2


def test_same_seed_and_requests_give_the_same_venue(venue: Build) -> None:
    """Two venues with one seed answer the same requests with the same ids and state."""

    def session(v: Venue) -> dict[str, Any]:
        v.trade("AAPL", "buy", 2, "100.00")
        v.submit(
            symbol="AAPL", qty=1, side="sell", type="limit", limit_price="120", time_in_force="gtc"
        )
        v.advance(30)
        dump = v.broker.dump(KEY)
        for key in ("account",):
            dump.pop(key)
        return dump

    first = session(venue(seed=5, volatility=0.01))
    second = session(venue(seed=5, volatility=0.01))
    assert first == second
    other = session(venue(seed=6, volatility=0.01))
    assert other["orders"][0]["id"] != first["orders"][0]["id"]
