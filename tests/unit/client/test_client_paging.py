"""iter_orders / iter_activities against a fake venue with Alpaca's paging semantics: orders paged by
exclusive after/until on submission time (nanosecond precision on the venue, microseconds in our
models), activities by page_token."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from client_fakes import FakeVenue, fill_activity_json, json_response, order_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.alpaca.ratelimit import UnlimitedRateBudget

BASE_NS = 1_748_872_800 * 1_000_000_000  # 2025-06-02T14:00:00Z


def ns_text(ns: int) -> str:
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"


def text_ns(text: str) -> int:
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    whole = int(stamp.replace(microsecond=0).timestamp()) * 1_000_000_000
    return whole + stamp.microsecond * 1000


@dataclass(frozen=True)
class VenueOrder:
    id: str
    submitted_ns: int
    side: str


class OrderBookVenue:
    """GET /v2/orders with Alpaca's filters: exclusive after/until, direction, side, limit."""

    def __init__(self, orders: list[VenueOrder]) -> None:
        self.orders = orders
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v2/orders"
        params = dict(request.url.params)
        self.queries.append(params)
        rows = self.orders
        if "after" in params:
            after = text_ns(params["after"])
            rows = [o for o in rows if o.submitted_ns > after]
        if "until" in params:
            until = text_ns(params["until"])
            rows = [o for o in rows if o.submitted_ns < until]
        if "side" in params:
            rows = [o for o in rows if o.side == params["side"]]
        descending = params.get("direction", "desc") == "desc"
        rows = sorted(rows, key=lambda o: (o.submitted_ns, o.id), reverse=descending)
        rows = rows[: int(params.get("limit", "50"))]
        body = [order_json(o.id, submitted_at=ns_text(o.submitted_ns), side=o.side) for o in rows]
        return json_response(200, body)


def client_for(venue: Callable[[httpx.Request], httpx.Response]) -> AlpacaClient:
    fake = FakeVenue(fallback=venue)
    return AlpacaClient(
        "KEY",
        "SECRET",
        "https://x.test",
        rate_budget=UnlimitedRateBudget(),
        transport=fake.transport(),
    )


async def collect(client: AlpacaClient, **filters: object) -> list[str]:
    return [order.id async for order in client.iter_orders(**filters)]  # type: ignore[arg-type]


def make_orders(stamps_ns: list[int], rng: random.Random | None = None) -> list[VenueOrder]:
    rng = rng or random.Random(3)
    return [
        VenueOrder(f"o-{i:04d}", ns, rng.choice(["buy", "sell"])) for i, ns in enumerate(stamps_ns)
    ]


@pytest.mark.parametrize("direction", ["desc", "asc"])
async def test_ties_at_a_page_boundary_are_neither_lost_nor_repeated(direction: str) -> None:
    """A full page ending amid orders sharing one timestamp continues with that instant."""
    # 10 distinct instants, then 5 orders at one instant straddling the 12-order page boundary
    stamps = [BASE_NS + i * 1_000_000 for i in range(10)] + [BASE_NS + 50_000_000] * 5
    stamps += [BASE_NS + 60_000_000 + i for i in range(10)]
    venue = OrderBookVenue(make_orders(stamps))
    async with client_for(venue) as client:
        ids = await collect(client, direction=direction, page_size=12)
    assert sorted(ids) == sorted(o.id for o in venue.orders)
    assert len(ids) == len(set(ids))
    assert len(venue.queries) >= 3


@pytest.mark.parametrize("direction", ["desc", "asc"])
async def test_nanosecond_neighbours_within_one_microsecond_are_kept(direction: str) -> None:
    """Orders 1-999 ns apart (one microsecond in our models) page without loss or repeats."""
    stamps = [BASE_NS + 1_000 * (i // 3) + (i % 3) * 300 for i in range(40)]
    venue = OrderBookVenue(make_orders(stamps))
    async with client_for(venue) as client:
        ids = await collect(client, direction=direction, page_size=7)
    assert sorted(ids) == sorted(o.id for o in venue.orders)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("direction", ["desc", "asc"])
async def test_a_whole_page_at_one_instant_is_read_per_side_and_both_ways(direction: str) -> None:
    """More orders at one instant than a page holds (but within two per side) are all listed."""
    instant = BASE_NS + 5_000_000
    stamps = [BASE_NS + i * 1_000 for i in range(6)] + [instant] * 14
    stamps += [instant + 1_000_000 + i * 1_000 for i in range(6)]
    orders = [
        VenueOrder(f"o-{i:04d}", ns, "buy" if i % 2 else "sell") for i, ns in enumerate(stamps)
    ]
    venue = OrderBookVenue(orders)
    async with client_for(venue) as client:
        ids = await collect(client, direction=direction, page_size=5)
    assert sorted(ids) == sorted(o.id for o in orders)
    assert len(ids) == len(set(ids))


async def test_beyond_the_residual_limit_it_warns_and_still_terminates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Too many orders in one microsecond: a warning, no repeats, and paging goes on past it."""
    stamps = [BASE_NS] * 30 + [BASE_NS - 10_000 * (i + 1) for i in range(5)]
    orders = [VenueOrder(f"o-{i:04d}", ns, "buy") for i, ns in enumerate(stamps)]
    venue = OrderBookVenue(orders)
    with caplog.at_level(logging.WARNING, logger="alpaca_integration.alpaca.client"):
        async with client_for(venue) as client:
            ids = await collect(client, page_size=5)
    assert len(ids) == len(set(ids))
    assert {o.id for o in orders[30:]} <= set(ids)  # the older orders after the instant
    assert any("share submitted_at" in r.message for r in caplog.records)


async def test_filters_are_passed_on_every_page() -> None:
    """status, symbols, side and nested reach the venue on each page request."""
    venue = OrderBookVenue(make_orders([BASE_NS + i * 1000 for i in range(9)]))
    async with client_for(venue) as client:
        await collect(
            client, status="closed", symbols=["AAPL", "MSFT"], side="buy", nested=True, page_size=4
        )
    for query in venue.queries:
        assert query["status"] == "closed"
        assert query["symbols"] == "AAPL,MSFT"
        assert query["side"] == "buy"
        assert query["nested"] == "true"
        assert query["limit"] == "4"


async def test_user_bounds_are_respected() -> None:
    """after/until given by the caller limit the listing (exclusive)."""
    stamps = [BASE_NS + i * 1_000_000 for i in range(20)]
    venue = OrderBookVenue(make_orders(stamps))
    after = dt.datetime.fromtimestamp((BASE_NS + 4_000_000) / 1e9, dt.UTC)
    until = dt.datetime.fromtimestamp((BASE_NS + 15_000_000) / 1e9, dt.UTC)
    async with client_for(venue) as client:
        ids = await collect(client, after=after, until=until, page_size=3)
    assert sorted(ids) == [f"o-{i:04d}" for i in range(5, 15)]


@pytest.mark.parametrize("direction", ["desc", "asc"])
async def test_an_order_exactly_on_the_microsecond_after_a_sub_microsecond_page_is_kept(
    direction: str,
) -> None:
    """A full page of orders 1 ns past one microsecond, then an order exactly on the next one: the
    walk must step a whole microsecond past the first, and must not skip the second doing it (CI
    found this: o-0003 went missing going up)."""
    stamps = [BASE_NS + 6_001] * 3 + [BASE_NS + 7_000] + [BASE_NS + 2_000 + i for i in range(3)]
    orders = [VenueOrder(f"o-{i:04d}", ns, "sell") for i, ns in enumerate(stamps)]
    venue = OrderBookVenue(orders)
    async with client_for(venue) as client:
        ids = await collect(client, direction=direction, page_size=3)
    assert sorted(ids) == sorted(o.id for o in orders)
    assert len(ids) == len(set(ids))


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    instants=st.lists(st.integers(0, 12), min_size=0, max_size=60),
    sub_ns=st.lists(st.integers(0, 999), min_size=60, max_size=60),
    page_size=st.integers(3, 9),
    direction=st.sampled_from(["asc", "desc"]),
    seed=st.integers(0, 1000),
)
def test_every_order_exactly_once_whatever_the_ties(
    instants: list[int], sub_ns: list[int], page_size: int, direction: str, seed: int
) -> None:
    """Random books with heavy ties: never an order twice; every order once as long as no two
    adjacent microseconds hold more orders per side than one page (beyond that is the documented
    residual limit: a whole-instant read spans the instant and the fractions of the one before)."""
    stamps = [
        BASE_NS + k * 1_000 + (sub_ns[i] if k % 3 == 0 else 0) for i, k in enumerate(instants)
    ]
    orders = make_orders(stamps, random.Random(seed))
    per_instant: dict[tuple[int, str], int] = {}
    for order in orders:
        key = (order.submitted_ns // 1_000, order.side)
        per_instant[key] = per_instant.get(key, 0) + 1
    venue = OrderBookVenue(orders)

    async def run() -> list[str]:
        async with client_for(venue) as client:
            return await collect(client, direction=direction, page_size=page_size)

    ids = asyncio.run(run())
    assert len(ids) == len(set(ids))
    crowded = any(
        count + per_instant.get((micro - 1, side), 0) > page_size
        for (micro, side), count in per_instant.items()
    )
    if not crowded:
        assert sorted(ids) == sorted(o.id for o in orders)


# --------------------------------------------------------------------------- activities


class ActivitiesVenue:
    def __init__(self, count: int) -> None:
        self.ids = [f"20250602143000{i:04d}::{i:08x}" for i in range(count)]
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.queries.append(params)
        descending = params.get("direction", "desc") == "desc"
        ids = sorted(self.ids, reverse=descending)
        token = params.get("page_token")
        if token is not None:
            ids = [i for i in ids if (i < token if descending else i > token)]
        ids = ids[: int(params.get("page_size", "100"))]
        return json_response(200, [fill_activity_json(i) for i in ids])


@pytest.mark.parametrize("direction", ["desc", "asc"])
async def test_activities_are_paged_by_token(direction: str) -> None:
    """250 activities come back whole in three pages of 100, each page token the last id."""
    venue = ActivitiesVenue(250)
    async with client_for(venue) as client:
        ids = [
            item.activity_id  # type: ignore[union-attr]
            async for item in client.iter_activities(direction=direction)  # type: ignore[arg-type]
        ]
    assert sorted(ids) == sorted(venue.ids)
    assert len(ids) == len(set(ids))
    assert len(venue.queries) == 3
    assert venue.queries[1]["page_token"] == ids[99]


async def test_activities_by_type_use_the_type_endpoint() -> None:
    """activity_type=FILL pages /v2/account/activities/FILL."""
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return json_response(200, [fill_activity_json("a::1")])

    async with client_for(answer) as client:
        items = [item async for item in client.iter_activities(activity_type="fill")]
    assert paths == ["/v2/account/activities/FILL"]
    assert len(items) == 1


async def test_activity_paging_stops_when_the_venue_repeats_itself() -> None:
    """A venue ignoring page_token cannot trap the iterator in a loop."""
    page = [fill_activity_json(f"a::{i}") for i in range(3)]
    calls = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(200, content=json.dumps(page).encode())

    async with client_for(answer) as client:
        items = [item async for item in client.iter_activities(page_size=3)]
    assert calls["n"] == 2
    assert len(items) == 6  # the venue's repeat is passed on; the loop stops there
