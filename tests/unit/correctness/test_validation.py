"""Validation before storage: each record check passes a good record and names what is wrong."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from alpaca_integration.errors import ParseError
from alpaca_integration.models import (
    Fill,
    OrderStatus,
    PositionSide,
    TradeEventKind,
    TradeUpdate,
)
from alpaca_integration.sync.validation import (
    screen,
    split_page,
    validate_activity,
    validate_fill,
    validate_order,
    validate_position,
    validate_record,
    validate_snapshot,
    validate_trade_update,
)
from support.correctness_factories import (
    NOW,
    make_activity,
    make_fill,
    make_order,
    make_position,
    make_snapshot,
)

FUTURE = NOW + dt.timedelta(minutes=10)


def test_good_records_have_no_issues() -> None:
    """Every valid record of every kind passes validation."""
    for record in (make_order(), make_fill(), make_activity(), make_position(), make_snapshot()):
        assert validate_record(record, NOW) == [], type(record).__name__


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"id": ""}, "id is missing"),
        ({"client_order_id": " "}, "client_order_id is missing"),
        ({"symbol": ""}, "symbol is missing"),
        ({"qty": None, "notional": None}, "neither qty nor notional"),
        ({"qty": Decimal(-1)}, "qty must be positive"),
        ({"qty": Decimal("NaN")}, "qty is not a finite number"),
        ({"limit_price": Decimal(0)}, "limit_price must be positive"),
        ({"stop_price": Decimal("-2")}, "stop_price must be positive"),
        ({"filled_qty": Decimal(-1)}, "filled_qty must not be negative"),
        (
            {"filled_qty": Decimal(11), "filled_avg_price": Decimal(100)},
            "filled_qty 11 exceeds qty 10",
        ),
        (
            {
                "status": OrderStatus.FILLED,
                "filled_qty": Decimal(5),
                "filled_avg_price": Decimal(100),
            },
            "status filled but filled_qty 5 != qty 10",
        ),
        ({"status": OrderStatus.PARTIALLY_FILLED}, "status partially_filled but filled_qty is 0"),
        ({"filled_qty": Decimal(5)}, "no filled_avg_price"),
        ({"created_at": FUTURE}, "created_at"),
        ({"updated_at": dt.datetime(2026, 1, 1)}, "updated_at has no timezone"),
    ],
)
def test_order_rules(overrides: dict[str, Any], expected: str) -> None:
    """A broken order field is reported by name; the same order without it is clean."""
    issues = validate_order(make_order(**overrides), NOW)
    assert any(expected in issue for issue in issues), issues


def test_filled_order_consistent_passes() -> None:
    """A filled order with filled_qty == qty and an average price is valid."""
    order = make_order(
        status=OrderStatus.FILLED, filled_qty=Decimal(10), filled_avg_price=Decimal("99.5")
    )
    assert validate_order(order, NOW) == []


def test_order_timestamp_within_skew_passes() -> None:
    """A venue timestamp slightly ahead of our clock (within the skew) is accepted."""
    ahead = NOW + dt.timedelta(seconds=30)
    assert validate_order(make_order(updated_at=ahead), NOW) == []
    assert validate_order(make_order(updated_at=ahead), NOW, max_skew=dt.timedelta(0)) != []


def test_bad_leg_is_reported_with_its_id() -> None:
    """A leg's problem is reported under the leg's id."""
    leg = make_order(id="leg-1", parent_id="ord-1", limit_price=Decimal(-1))
    issues = validate_order(make_order(legs=(leg,)), NOW)
    assert issues == ["leg leg-1: limit_price must be positive, got -1"]


# What each validator reports for one broken field: (overrides of a valid record, a phrase the
# issues must contain), by record kind.
_BROKEN_FIELDS: dict[str, tuple[Callable[..., list[str]], Callable[..., Any], list[Any]]] = {
    "fill": (
        validate_fill,
        make_fill,
        [
            ({"fill_id": ""}, "fill_id is missing"),
            ({"order_id": ""}, "order_id is missing"),
            ({"qty": Decimal(0)}, "qty must be positive"),
            ({"price": Decimal(-1)}, "price must be positive"),
            ({"price": Decimal("Infinity")}, "price is not a finite number"),
            ({"leaves_qty": Decimal(-1)}, "leaves_qty must not be negative"),
            ({"cum_qty": Decimal(5)}, "cum_qty 5 is below"),
            ({"timestamp": FUTURE}, "timestamp"),
        ],
    ),
    "activity": (
        validate_activity,
        make_activity,
        [
            ({"id": ""}, "id is missing"),
            ({"activity_type": ""}, "activity_type is missing"),
            ({"net_amount": Decimal("NaN")}, "net_amount is not a finite number"),
            ({"transaction_time": FUTURE}, "transaction_time"),
            ({"date": NOW.date() + dt.timedelta(days=5)}, "date"),
        ],
    ),
    "position": (
        validate_position,
        make_position,
        [
            ({"symbol": ""}, "symbol is missing"),
            ({"qty": Decimal(-10)}, "side long but qty -10 is negative"),
            ({"side": PositionSide.SHORT}, "side short but qty 10 is positive"),
            ({"avg_entry_price": Decimal(0)}, "avg_entry_price must be positive"),
            ({"current_price": Decimal(-1)}, "current_price must be positive"),
            ({"observed_at": FUTURE}, "observed_at"),
        ],
    ),
    "snapshot": (
        validate_snapshot,
        make_snapshot,
        [
            ({"account_id": ""}, "account_id is missing"),
            ({"buying_power": Decimal(-1)}, "buying_power must not be negative"),
            ({"long_market_value": Decimal(-5)}, "long_market_value must not be negative"),
            ({"multiplier": Decimal(0)}, "multiplier must be positive"),
            ({"daytrade_count": -1}, "daytrade_count must not be negative"),
            ({"cash": Decimal("NaN")}, "cash is not a finite number"),
            ({"observed_at": FUTURE}, "observed_at"),
        ],
    ),
}


@pytest.mark.parametrize(
    ("validate", "make", "overrides", "expected"),
    [
        pytest.param(validate, make, overrides, expected, id=f"{kind}-{expected}")
        for kind, (validate, make, broken) in _BROKEN_FIELDS.items()
        for overrides, expected in broken
    ],
)
def test_a_broken_field_is_reported_by_name(
    validate: Callable[..., list[str]],
    make: Callable[..., Any],
    overrides: dict[str, Any],
    expected: str,
) -> None:
    """A broken fill, activity, position or account snapshot field is reported by name."""
    issues = validate(make(**overrides), NOW)
    assert any(expected in issue for issue in issues), issues


def test_short_position_passes() -> None:
    """A short position with negative qty is valid."""
    position = make_position(side=PositionSide.SHORT, qty=Decimal("-2.5"))
    assert validate_position(position, NOW) == []


def test_trade_update_fill_needs_execution_fields() -> None:
    """A fill event must carry execution id, qty and price; a 'new' event need not."""
    order = make_order(
        status=OrderStatus.FILLED, filled_qty=Decimal(10), filled_avg_price=Decimal(100)
    )
    good = TradeUpdate(
        event=TradeEventKind.FILL,
        event_name="fill",
        order=order,
        timestamp=NOW,
        execution_id="x1",
        price=Decimal(100),
        qty=Decimal(10),
        position_qty=Decimal(10),
    )
    assert validate_trade_update(good, NOW) == []
    bad = msgspec.structs.replace(good, execution_id=None, price=Decimal(0))
    issues = validate_trade_update(bad, NOW)
    assert "execution_id is missing or empty" in issues
    assert "price must be positive, got 0" in issues
    new = TradeUpdate(event=TradeEventKind.NEW, event_name="new", order=make_order(), timestamp=NOW)
    assert validate_trade_update(new, NOW) == []


def test_validation_needs_aware_now() -> None:
    """Calling a validator with a naive 'now' is a programming error, said clearly."""
    with pytest.raises(ValueError, match="timezone-aware"):
        validate_order(make_order(), dt.datetime(2026, 1, 1))


# --------------------------------------------------------------------------- page splitter


def _fill_wire(**overrides: Any) -> dict[str, Any]:
    base = msgspec.to_builtins(make_fill())
    base.pop("raw", None)
    base.update(overrides)
    return base


def _parse_fill(raw: bytes) -> Fill:
    try:
        return msgspec.json.decode(raw, type=Fill, strict=False)
    except msgspec.ValidationError as exc:
        raise ParseError(f"fill: {exc}", shape="fill") from None


def test_split_page_keeps_good_items_and_quarantines_bad_with_raw_bytes() -> None:
    """One unparseable and one invalid item are quarantined alone; the good items are kept."""
    items = [
        _fill_wire(fill_id="a"),
        _fill_wire(fill_id="b", side="sideways"),
        _fill_wire(fill_id="c", price="-3"),
        _fill_wire(fill_id="d"),
    ]
    body = msgspec.json.encode(items)
    split = split_page(body, _parse_fill, kind="fill", now=NOW)
    assert [fill.fill_id for fill in split.good] == ["a", "d"]
    assert [(q.record_kind, q.record_key) for q in split.quarantined] == [
        ("fill", "b"),
        ("fill", "c"),
    ]
    assert "could not be parsed: ParseError" in split.quarantined[0].reason
    assert split.quarantined[1].reason == "price must be positive, got -3"
    assert msgspec.json.decode(split.quarantined[0].raw)["side"] == "sideways"


def test_split_page_body_not_a_list_is_one_quarantined_record() -> None:
    """A body that is not a JSON list is quarantined whole, not raised."""
    split = split_page(b'{"message": "oops"}', _parse_fill, kind="fill", now=NOW)
    assert split.good == []
    assert split.quarantined[0].record_kind == "fill_page"
    assert split.quarantined[0].raw == b'{"message": "oops"}'


def test_split_page_parser_crash_is_quarantined() -> None:
    """A parser raising something unexpected quarantines the item instead of crashing."""

    def explode(raw: bytes) -> Fill:
        raise RuntimeError("boom")

    split = split_page(b'[{"id": "z"}]', explode, kind="order", now=NOW)
    assert split.good == []
    assert split.quarantined[0].record_key == "z"
    assert "RuntimeError: boom" in split.quarantined[0].reason


def test_screen_parsed_records() -> None:
    """Already-parsed records are split into good and quarantined, keeping their raw payload."""
    bad = make_fill(fill_id="bad", qty=Decimal(0), raw=b'{"qty": "0"}')
    split = screen([make_fill(fill_id="ok"), bad], NOW)
    assert [f.fill_id for f in split.good] == ["ok"]
    assert split.quarantined[0].record_key == "bad"
    assert split.quarantined[0].raw == b'{"qty": "0"}'
    assert split.quarantined[0].source == "stream"


def test_multileg_parent_without_symbol_passes() -> None:
    """An mleg parent names its symbols on its legs; a simple order without a symbol fails."""
    from alpaca_integration.models import OrderClass

    leg = make_order(id="leg", parent_id="ord-1", symbol="AAPL250620C00200000")
    parent = make_order(symbol="", order_class=OrderClass.MLEG, legs=(leg,))
    assert validate_order(parent, NOW) == []
    assert "symbol is missing or empty" in validate_order(make_order(symbol=""), NOW)


def test_multileg_parent_screened_with_its_legs_detached_passes() -> None:
    """The sync screens a parent and its legs as separate rows: the parent, legs detached,
    still needs no symbol; a leg (it has a parent) still does."""
    from alpaca_integration.models import OrderClass

    parent = make_order(symbol="", order_class=OrderClass.MLEG, legs=())
    assert validate_order(parent, NOW) == []
    leg = make_order(id="leg", parent_id="ord-1", symbol="", order_class=OrderClass.MLEG)
    assert "symbol is missing or empty" in validate_order(leg, NOW)
