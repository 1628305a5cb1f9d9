"""Simulator market and clock: XNYS sessions, phase boundaries with their auctions and expiries,
seeded prices, pinned prices, bar replay, and the strictly increasing venue clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sim_venue import Venue

from alpaca_integration.simulator.clock import SimClock, XnysCalendar
from alpaca_integration.simulator.market import UNIVERSE, Market, build_assets, load_bars

Build = Callable[..., Venue]
UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture(scope="module")
def xnys() -> XnysCalendar:
    return XnysCalendar()


@pytest.mark.parametrize(
    ("moment", "phase"),
    [
        ("2024-03-04T08:59:00-05:00", "pre"),
        ("2024-03-04T09:30:00-05:00", "regular"),
        ("2024-03-04T15:59:59-05:00", "regular"),
        ("2024-03-04T16:00:00-05:00", "post"),
        ("2024-03-04T20:00:00-05:00", "closed"),
        ("2024-03-04T03:59:00-05:00", "closed"),
        ("2024-03-09T12:00:00-05:00", "closed"),  # Saturday
        ("2024-07-04T12:00:00-04:00", "closed"),  # Independence Day
        ("2024-07-03T13:30:00-04:00", "post"),  # early close at 13:00
    ],
)
def test_xnys_phases(xnys: XnysCalendar, moment: str, phase: str) -> None:
    """Pre-market from 04:00, regular 09:30-16:00 (13:00 on early closes), after-hours to 20:00."""
    assert xnys.phase(at(moment)) == phase


def test_next_open_and_close_skip_the_weekend(xnys: XnysCalendar) -> None:
    """After Friday's close the next open is Monday 09:30 and the next close Monday 16:00."""
    friday_evening = at("2024-03-08T17:00:00-05:00")
    assert xnys.next_open(friday_evening) == at("2024-03-11T09:30:00-04:00")
    assert xnys.next_close(friday_evening) == at("2024-03-11T16:00:00-04:00")


def test_boundaries_between_two_instants_in_order(xnys: XnysCalendar) -> None:
    """From Friday 19:00 to Monday 10:00: Friday's after-hours end, Monday's pre-open and open."""
    kinds = [
        (b.kind, b.at)
        for b in xnys.boundaries(at("2024-03-08T19:00:00-05:00"), at("2024-03-11T10:00:00-04:00"))
    ]
    assert kinds == [
        ("post_close", at("2024-03-08T20:00:00-05:00")),
        ("pre_open", at("2024-03-11T04:00:00-04:00")),
        ("open", at("2024-03-11T09:30:00-04:00")),
    ]


def test_clock_stamps_strictly_increase_and_advance_moves_time() -> None:
    """A frozen clock still hands out distinct increasing stamps; advance jumps forward."""
    start = at("2024-03-04T10:00:00-05:00")
    clock = SimClock(start, realtime=False)
    stamps = [clock.stamp() for _ in range(5)]
    assert stamps == sorted(set(stamps))
    clock.advance(3600)
    assert clock.now() >= start + dt.timedelta(hours=1)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)


def market(seed: int, **kwargs: object) -> Market:
    start = at("2024-03-04T10:00:00-05:00")
    return Market(
        build_assets(None, seed),
        seed=seed,
        start=start,
        volatility=float(kwargs.get("volatility", 0.01)),  # type: ignore[arg-type]
        step_seconds=1.0,
        bars=kwargs.get("bars"),  # type: ignore[arg-type]
    )


def test_prices_are_a_seeded_walk() -> None:
    """The same seed gives the same prices at the same time; another seed gives others."""
    later = at("2024-03-04T10:05:00-05:00")
    first, second, other = market(3), market(3), market(4)
    for m in (first, second, other):
        m.advance(later)
    assert first.prices() == second.prices()
    assert first.prices() != other.prices()
    assert first.prices() != {s: spec.price for s, spec in UNIVERSE.items()}


def test_a_pinned_price_stays_until_released() -> None:
    """set_price pins a symbol (ticked to cents); release lets it walk again from there."""
    m = market(3)
    assert m.set_price("AAPL", Decimal("123.456")) == Decimal("123.46")
    m.advance(at("2024-03-04T10:30:00-05:00"))
    assert m.price("AAPL") == Decimal("123.46")
    m.release("AAPL", at("2024-03-04T10:30:00-05:00"))
    m.advance(at("2024-03-04T11:00:00-05:00"))
    assert m.price("AAPL") != Decimal("123.46")


def test_sub_dollar_prices_keep_four_decimals() -> None:
    """A price under $1 is quantized to $0.0001."""
    m = market(3)
    assert m.set_price("PNNY", Decimal("0.512345")) == Decimal("0.5123")


def test_bars_replay_replaces_the_walk(tmp_path: Path) -> None:
    """With a bar file the price is the close of the latest bar at or before now."""
    path = tmp_path / "bars.csv"
    path.write_text(
        "timestamp,symbol,close\n"
        "2024-03-04T15:00:00Z,AAPL,170.10\n"
        "2024-03-04T15:01:00Z,AAPL,171.20\n"
    )
    m = market(3, bars=load_bars(path))
    assert m.price("AAPL") == Decimal("170.10")
    m.advance(at("2024-03-04T15:01:30Z"))
    assert m.price("AAPL") == Decimal("171.20")


def test_bar_file_without_the_needed_columns_is_refused(tmp_path: Path) -> None:
    """A CSV lacking symbol/close says which columns it needs."""
    path = tmp_path / "bars.csv"
    path.write_text("time,price\n2024-01-01,1\n")
    with pytest.raises(ValueError, match="timestamp,symbol,close"):
        load_bars(path)


def test_universe_has_assets_that_bite_each_rule() -> None:
    """The built-in list includes non-shortable, non-fractionable, sub-dollar, untradable assets."""
    assets = build_assets(None, 0)
    assert any(not a.shortable for a in assets.values())
    assert any(not a.fractionable for a in assets.values())
    assert any(a.price < 1 for a in assets.values())
    assert any(not a.tradable for a in assets.values())
    custom = build_assets(("AAPL", "ZZZZ"), 0)
    assert set(custom) == {"AAPL", "ZZZZ"}
    assert Decimal(20) <= custom["ZZZZ"].price <= Decimal(500)


# ---------------------------------------------------------------- market-mode broker behaviour

SUNDAY_NOON = at("2024-03-03T12:00:00-05:00")
MONDAY_OPEN = at("2024-03-04T09:30:00-05:00")


def test_orders_placed_while_closed_wait_accepted_and_fill_at_the_open(venue: Build) -> None:
    """A weekend market order is accepted, goes new at Monday's open and fills there."""
    v = venue(clock="market", start_time=SUNDAY_NOON)
    answer = v.trade("AAPL", "buy", 1, "100.00")
    assert answer["status"] == "accepted"
    v.advance((MONDAY_OPEN - SUNDAY_NOON).total_seconds() + 60)
    order = v.order(answer["id"])
    assert order["status"] == "filled"
    assert order["filled_at"].startswith("2024-03-04T14:30:00")  # the open, in UTC
    assert v.event_names(answer["id"]) == ["accepted", "new", "fill"]


def test_day_orders_expire_at_the_close_and_gtc_orders_stay(venue: Build) -> None:
    """At 16:00 an unfilled day limit expires (expired_at = the close); a gtc one stays new."""
    v = venue(clock="market", start_time=at("2024-03-04T15:00:00-05:00"))
    v.price("AAPL", "100.00")
    day = v.submit(symbol="AAPL", qty=1, side="buy", type="limit", limit_price="90")
    gtc = v.submit(
        symbol="AAPL", qty=1, side="buy", type="limit", limit_price="90", time_in_force="gtc"
    )
    v.advance(3600 + 60)
    expired = v.order(day["id"])
    assert expired["status"] == "expired"
    assert expired["expired_at"].startswith("2024-03-04T21:00:00")
    assert v.event_names(day["id"])[-1] == "expired"
    assert v.order(gtc["id"])["status"] == "new"


def test_extended_hours_limit_orders_trade_in_the_pre_market(venue: Build) -> None:
    """At 08:00 an extended-hours limit fills at once; a regular one waits for the open."""
    v = venue(clock="market", start_time=at("2024-03-04T08:00:00-05:00"))
    v.price("AAPL", "100.00")
    extended = v.submit(
        symbol="AAPL", qty=1, side="buy", type="limit", limit_price="101", extended_hours=True
    )
    regular = v.submit(symbol="AAPL", qty=1, side="buy", type="limit", limit_price="101")
    assert v.order(extended["id"])["status"] == "filled"
    assert v.order(regular["id"])["status"] == "accepted"
    v.advance(2 * 3600)
    assert v.order(regular["id"])["status"] == "filled"


def test_opening_and_closing_auction_orders(venue: Build) -> None:
    """opg executes at the open (the rest canceled); cls waits all day and executes at the close."""
    v = venue(clock="market", start_time=at("2024-03-04T08:00:00-05:00"))
    v.price("AAPL", "100.00")
    opg = v.submit(symbol="AAPL", qty=1, side="buy", time_in_force="opg")
    missed = v.submit(
        symbol="AAPL", qty=1, side="buy", type="limit", limit_price="50", time_in_force="opg"
    )
    v.advance(2 * 3600)
    assert v.order(opg["id"])["status"] == "filled"
    assert v.order(missed["id"])["status"] == "canceled"
    cls = v.submit(symbol="AAPL", qty=1, side="sell", time_in_force="cls")
    v.advance(3600)
    assert v.order(cls["id"])["status"] == "new"
    v.advance(6 * 3600)
    assert v.order(cls["id"])["status"] == "filled"


def test_the_close_records_last_equity(venue: Build) -> None:
    """After the close, last_equity is the equity at the close."""
    v = venue(clock="market", start_time=at("2024-03-04T15:00:00-05:00"))
    v.trade("AAPL", "buy", 10, "100.00")
    v.price("AAPL", "110.00")
    v.advance(2 * 3600)
    account = v.broker.account_json(v.account)
    assert account["last_equity"] == account["equity"]
    assert Decimal(account["last_equity"]) == Decimal(100100)
