"""Broker invariants under randomized options and crypto sessions (hypothesis, derandomized).

Whatever mix of option orders (single contracts and mleg spreads), crypto buys and sells,
exercises, do-not-exercise instructions, price moves and clock jumps across the expiry a session
makes, afterwards: cash reconciles to the cent with the fills (x 100 for contracts), the fees
(FEE and CFEE in USD) and the shares delivered at the strike (OPTRD); every position equals its
fills plus the activities that move positions without one (OPEXC, OPASN, OPEXP, OPTRD, a CFEE in
the coin) plus the coin fees charged and not posted yet (CFEE posts at the end of the UTC day),
and again once every fee has posted; no refusal is a server error; nothing stays reserved for orders that are gone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_venue import KEY, Venue

from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.wire import VenueError

START = dt.datetime(2024, 3, 4, 15, 0, tzinfo=dt.UTC)  # Monday 10:00 New York
CONTRACTS = tuple(f"AAPL240304{right}00{strike}000" for right in "CP" for strike in (185, 190, 195))
MOVES_POSITIONS = frozenset({"OPEXC", "OPASN", "OPEXP", "OPTRD"})
# Reproducible and patient: the same sessions every run, however slow the machine.
SESSIONS = settings(
    database=None, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

premiums = st.decimals(min_value=Decimal("0.50"), max_value=Decimal("8"), places=2)
actions = st.one_of(
    st.tuples(
        st.just("option"),
        st.sampled_from(CONTRACTS),
        st.sampled_from(("buy", "sell")),
        st.integers(1, 3),
    ),
    st.tuples(
        st.just("spread"),
        st.sampled_from(CONTRACTS),
        st.sampled_from(CONTRACTS),
        st.decimals(min_value=Decimal("-3"), max_value=Decimal("3"), places=2),
    ),
    st.tuples(
        st.just("crypto"),
        st.sampled_from(("buy", "sell")),
        st.decimals(min_value=Decimal("0.001"), max_value=Decimal("0.2"), places=3),
    ),
    st.tuples(st.just("price"), st.sampled_from((*CONTRACTS, "AAPL")), premiums),
    st.tuples(st.just("aapl"), st.decimals(min_value=180, max_value=200, places=2)),
    st.tuples(st.just("exercise"), st.sampled_from(CONTRACTS)),
    st.tuples(st.just("dne"), st.sampled_from(CONTRACTS)),
    st.tuples(st.just("advance"), st.sampled_from((60, 3600, 4 * 3600))),
)


def _act(venue: Venue, action: tuple[Any, ...]) -> None:
    broker, account = venue.broker, venue.account
    kind = action[0]
    if kind == "option":
        body = {"symbol": action[1], "side": action[2], "qty": str(action[3])}
        broker.submit_order(account, {**body, "type": "market", "time_in_force": "day"})
    elif kind == "spread":
        legs = [
            {"symbol": action[1], "ratio_qty": "1", "side": "buy"},
            {"symbol": action[2], "ratio_qty": "1", "side": "sell"},
        ]
        body = {"order_class": "mleg", "type": "limit", "limit_price": str(action[3])}
        broker.submit_order(account, {**body, "qty": "1", "time_in_force": "day", "legs": legs})
    elif kind == "crypto":
        body = {"symbol": "BTC/USD", "side": action[1], "qty": str(action[2])}
        broker.submit_order(account, {**body, "type": "market", "time_in_force": "gtc"})
    elif kind in ("price", "aapl"):
        symbol, price = (action[1], action[2]) if kind == "price" else ("AAPL", action[1])
        broker.set_price(symbol, price)
    elif kind == "exercise":
        broker.exercise(account, action[1])
    elif kind == "dne":
        broker.do_not_exercise(account, action[1])
    else:
        venue.advance(action[1])


def _check(venue: Venue) -> None:
    dump = venue.broker.dump(KEY)
    activities = dump["activities"]
    cash = venue.account.starting_cash
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for activity in activities:
        kind = activity["activity_type"]
        qty = Decimal(activity.get("qty") or 0)
        symbol = activity["symbol"].replace("/", "")
        if kind == "FILL":
            sign = 1 if activity["side"] == "buy" else -1
            size = Decimal(100) if len(symbol) > 10 else Decimal(1)
            cash -= sign * qty * Decimal(activity["price"]) * size
            expected[symbol] += sign * qty
        else:
            cash += Decimal(activity["net_amount"])  # FEE, CFEE in USD, OPTRD (0 for the rest)
            if kind in MOVES_POSITIONS or kind == "CFEE":
                expected[symbol] += qty
    # A coin fee leaves the position at the fill; its CFEE posts at the end of the UTC day.
    for _, owner, body, _ in venue.broker.accounting.pending_fees:
        if owner is venue.account and "qty" in body:
            expected[body["symbol"]] += Decimal(body["qty"])
    assert Decimal(dump["cash"]) == cash
    held = {p["symbol"]: Decimal(p["qty"]) for p in dump["positions"]}
    assert held == {s: q for s, q in expected.items() if q != 0}
    open_orders = [o for o in venue.account.orders.values() if not o.is_terminal]
    assert venue.account.reserved == sum((o.reserved for o in open_orders), Decimal(0))


@settings(SESSIONS, max_examples=30)
@given(session=st.lists(actions, min_size=5, max_size=40))
def test_options_and_crypto_invariants_hold_for_any_session(
    session: list[tuple[Any, ...]],
) -> None:
    venue = Venue(SimConfig(clock="market", seed=5, volatility=0.0, start_time=START, rate_limit=0))
    venue.broker.set_price("AAPL", Decimal("190.00"))
    venue.broker.set_price("BTC/USD", Decimal("40000"))
    refusals: list[VenueError] = []
    for action in session:
        try:
            _act(venue, action)
        except VenueError as exc:
            refusals.append(exc)
    venue.advance(8 * 3600)  # past the expiry whatever the session did
    assert all(r.status < 500 for r in refusals), [r.body() for r in refusals]
    _check(venue)
    venue.advance(24 * 3600)  # every crypto fee posted
    assert venue.broker.accounting.pending_fees == []
    _check(venue)
