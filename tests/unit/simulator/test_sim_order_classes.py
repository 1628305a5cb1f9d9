"""Simulator broker: bracket, OCO and OTO orders, held legs, one-cancels-other, cancel all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sim_venue import Venue, bracket, oco

from alpaca_integration.simulator.wire import VenueError

Build = Callable[..., Venue]


def legs(v: Venue, parent_id: str) -> dict[str, dict[str, Any]]:
    order = v.order(parent_id)
    roles = {"limit": "take_profit", "stop": "stop_loss", "stop_limit": "stop_loss"}
    return {roles[leg["type"]]: leg for leg in order["legs"]}


def test_bracket_legs_wait_held_and_are_answered_nested(venue: Build) -> None:
    """The POST answer of a bracket carries both exit legs, held, on the opposite side."""
    v = venue()
    v.price("AAPL", "101.00")
    answer = bracket(v)
    assert answer["order_class"] == "bracket"
    assert [(leg["status"], leg["side"], leg["type"]) for leg in answer["legs"]] == [
        ("held", "sell", "limit"),
        ("held", "sell", "stop"),
    ]
    assert [leg["qty"] for leg in answer["legs"]] == ["10", "10"]


def test_bracket_entry_fill_activates_take_profit_and_keeps_the_stop_held(venue: Build) -> None:
    """When the entry fills, the take-profit goes new and the stop-loss stays held (watched)."""
    v = venue()
    v.price("AAPL", "101.00")
    answer = bracket(v)
    v.price("AAPL", "99.50")
    parts = legs(v, answer["id"])
    assert v.order(answer["id"])["status"] == "filled"
    assert parts["take_profit"]["status"] == "new"
    assert parts["stop_loss"]["status"] == "held"
    assert v.event_names(parts["take_profit"]["id"]) == ["new"]


def test_held_legs_are_not_listed_under_status_open(venue: Build) -> None:
    """status=open lists the working take-profit but not the held stop-loss; all lists both."""
    v = venue()
    v.price("AAPL", "99.00")
    answer = bracket(v)
    parts = legs(v, answer["id"])
    open_ids = {o["id"] for o in v.broker.list_orders(v.account, {"status": "open"})}
    all_ids = {o["id"] for o in v.broker.list_orders(v.account, {"status": "all"})}
    assert parts["take_profit"]["id"] in open_ids
    assert parts["stop_loss"]["id"] not in open_ids
    assert parts["stop_loss"]["id"] in all_ids


@pytest.mark.parametrize(
    ("price", "exit_leg", "peer"),
    [("110.50", "take_profit", "stop_loss"), ("94.00", "stop_loss", "take_profit")],
    ids=["take-profit-fill-cancels-the-stop-loss", "stop-loss-trigger-cancels-the-take-profit"],
)
def test_one_exit_filling_cancels_its_peer(
    venue: Build, price: str, exit_leg: str, peer: str
) -> None:
    """The take-profit filling, or the price reaching the stop, cancels the other exit; the one
    that fires goes new and fills, and the position is flat."""
    v = venue()
    v.price("AAPL", "99.00")
    answer = bracket(v)
    v.price("AAPL", price)
    parts = legs(v, answer["id"])
    assert parts[exit_leg]["status"] == "filled"
    assert parts[peer]["status"] == "canceled"
    assert v.event_names(parts[exit_leg]["id"]) == ["new", "fill"]
    assert "AAPL" not in v.account.positions


def test_canceling_an_unfilled_bracket_entry_cancels_its_legs(venue: Build) -> None:
    """Canceling the entry before it fills cancels both held legs."""
    v = venue()
    v.price("AAPL", "101.00")
    answer = bracket(v)
    v.broker.cancel_order(v.account, answer["id"])
    parts = legs(v, answer["id"])
    assert {p["status"] for p in parts.values()} == {"canceled"}


def test_held_legs_cannot_be_canceled_or_replaced_before_the_entry_fills(venue: Build) -> None:
    """Canceling or replacing a held leg is 422 and emits order_cancel/replace_rejected."""
    v = venue()
    v.price("AAPL", "101.00")
    answer = bracket(v)
    take_profit = legs(v, answer["id"])["take_profit"]["id"]
    with pytest.raises(VenueError) as canceled:
        v.broker.cancel_order(v.account, take_profit)
    assert canceled.value.status == 422
    assert answer["id"] in canceled.value.message
    with pytest.raises(VenueError):
        v.broker.replace_order(v.account, take_profit, {"limit_price": "111"})
    assert v.event_names(take_profit) == ["order_cancel_rejected", "order_replace_rejected"]
    assert v.order(take_profit)["status"] == "held"


def test_replacing_the_held_stop_loss_moves_the_stop_and_keeps_the_pair(venue: Build) -> None:
    """A replaced stop-loss keeps guarding the position: its new stop fires and cancels the TP."""
    v = venue()
    v.price("AAPL", "99.00")
    answer = bracket(v)
    stop = legs(v, answer["id"])["stop_loss"]
    new_stop = v.broker.replace_order(v.account, stop["id"], {"stop_price": "97.00"})
    assert (new_stop["status"], new_stop["stop_price"]) == ("held", "97")
    v.price("AAPL", "96.50")
    parts = legs(v, answer["id"])
    assert parts["stop_loss"]["id"] == new_stop["id"]
    assert parts["stop_loss"]["status"] == "filled"
    assert parts["take_profit"]["status"] == "canceled"


def test_bracket_must_be_an_entry_order(venue: Build) -> None:
    """A sell bracket against a long position is refused: bracket orders must be entry orders."""
    v = venue()
    v.trade("AAPL", "buy", 10, "100.00")
    with pytest.raises(VenueError) as info:
        bracket(
            v,
            side="sell",
            limit_price="101",
            take_profit={"limit_price": "90"},
            stop_loss={"stop_price": "105"},
        )
    assert (info.value.code, info.value.message) == (
        42210000,
        "bracket orders must be entry orders",
    )


@pytest.mark.parametrize(
    ("take_profit", "stop_price", "fragment"),
    [
        ("100.00", "95", "take_profit.limit_price must be >= base_price + 0.01"),
        ("110", "100.00", "stop_loss.stop_price must be <= base_price - 0.01"),
    ],
)
def test_buy_bracket_take_profit_above_and_stop_below_the_base_price(
    venue: Build, take_profit: str, stop_price: str, fragment: str
) -> None:
    """A buy bracket's take-profit must sit above its entry price and its stop below."""
    v = venue()
    v.price("AAPL", "101.00")
    with pytest.raises(VenueError) as info:
        bracket(v, take_profit={"limit_price": take_profit}, stop_loss={"stop_price": stop_price})
    assert info.value.code == 42210000
    assert fragment in info.value.message


def test_oco_exit_pairs_a_take_profit_with_a_stop_loss(venue: Build) -> None:
    """An OCO sell on a long position: the limit works, the stop waits; the stop firing wins."""
    v = venue()
    v.trade("AAPL", "buy", 10, "100.00")
    oco_order = oco(v)
    assert (oco_order["status"], oco_order["limit_price"]) == ("new", "110")
    assert [leg["status"] for leg in oco_order["legs"]] == ["held"]
    v.price("AAPL", "89.00")
    after = v.order(oco_order["id"])
    assert after["status"] == "canceled"
    assert after["legs"][0]["status"] == "filled"
    assert "AAPL" not in v.account.positions


def test_oco_needs_a_position_to_exit(venue: Build) -> None:
    """An OCO without a position is refused: oco orders must be exit orders."""
    v = venue()
    v.price("AAPL", "100.00")
    with pytest.raises(VenueError) as info:
        oco(v)
    assert info.value.code == 42210000
    assert "exit orders" in info.value.message


def test_oto_activates_its_single_leg_when_the_entry_fills(venue: Build) -> None:
    """An OTO with a stop-loss: the entry fills, the stop goes new and later fills."""
    v = venue()
    v.price("AAPL", "100.00")
    oto = v.submit(
        symbol="AAPL",
        qty="4",
        side="buy",
        order_class="oto",
        stop_loss={"stop_price": "95"},
    )
    stop = v.order(oto["id"])["legs"][0]
    assert (stop["status"], stop["type"], stop["side"]) == ("new", "stop", "sell")
    v.price("AAPL", "94.00")
    assert v.order(oto["id"])["legs"][0]["status"] == "filled"


def test_oto_needs_exactly_one_exit(venue: Build) -> None:
    """An OTO with both a take-profit and a stop-loss is refused (that is a bracket)."""
    v = venue()
    v.price("AAPL", "100.00")
    with pytest.raises(VenueError) as info:
        v.submit(
            symbol="AAPL",
            qty="1",
            side="buy",
            order_class="oto",
            take_profit={"limit_price": "110"},
            stop_loss={"stop_price": "90"},
        )
    assert info.value.code == 40010001


def test_cancel_all_answers_one_entry_per_order_and_takes_legs_with_their_entry(
    venue: Build,
) -> None:
    """DELETE /v2/orders: an entry per open order (status 200, pending_cancel body); legs follow."""
    v = venue()
    v.price("AAPL", "101.00")
    entry = bracket(v)
    simple = v.submit(
        symbol="MSFT", qty=1, side="buy", type="limit", limit_price="1", time_in_force="gtc"
    )
    results = v.broker.cancel_all(v.account)
    assert {r["id"] for r in results} == {entry["id"], simple["id"]}
    assert {r["status"] for r in results} == {200}
    assert {r["body"]["status"] for r in results} == {"pending_cancel"}
    assert v.account.open_orders == {}
    assert {leg["status"] for leg in v.order(entry["id"])["legs"]} == {"canceled"}


def test_partially_filled_entry_canceled_activates_legs_for_the_filled_part(venue: Build) -> None:
    """An entry canceled after filling 4 of 10 hands its legs a quantity of 4."""
    v = venue(liquidity_cap="4")
    v.price("AAPL", "99.00")
    answer = bracket(v)
    assert v.order(answer["id"])["filled_qty"] == "4"
    v.broker.cancel_order(v.account, answer["id"])
    parts = legs(v, answer["id"])
    assert (parts["take_profit"]["qty"], parts["take_profit"]["status"]) == ("4", "new")
    assert (parts["stop_loss"]["qty"], parts["stop_loss"]["status"]) == ("4", "held")
