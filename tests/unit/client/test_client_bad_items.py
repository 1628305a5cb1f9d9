"""``on_bad_item``: a page is split item by item, the good items are returned, each unparseable one
reaches the hook once with its raw bytes and the reason, and paging moves on past it (orders on
the bad item's raw ``submitted_at``, activities on its raw ``id``)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from client_fakes import fill_activity_json, json_response, order_json
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from alpaca_integration.alpaca.client import BadItem
from alpaca_integration.errors import ParseError
from support.paged_venue import client_on

T0 = dt.datetime(2025, 6, 2, 14, 0, tzinfo=dt.UTC)


class OrdersVenue:
    """``GET /v2/orders`` over wire dicts: exclusive after/until on submitted_at, direction,
    side, limit (items are ordered by their raw submitted_at text, as the venue would)."""

    def __init__(self, orders: list[dict[str, Any]]) -> None:
        self.orders = orders
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.queries.append(params)
        rows = self.orders
        if "after" in params:
            rows = [o for o in rows if o["submitted_at"] > params["after"]]
        if "until" in params:
            rows = [o for o in rows if o["submitted_at"] < params["until"]]
        if "side" in params:
            rows = [o for o in rows if o["side"] == params["side"]]
        descending = params.get("direction", "desc") == "desc"
        rows = sorted(rows, key=lambda o: (o["submitted_at"], o["id"]), reverse=descending)
        return json_response(200, rows[: int(params.get("limit", "50"))])


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def test_list_orders_returns_the_good_orders_and_hands_over_the_bad_one() -> None:
    """One unknown status on a page: the other orders are returned in order, the bad one reaches
    the hook with its bytes verbatim, its id, its submitted_at and a reason naming the status."""
    page = [order_json(f"o-{i}", submitted_at=at(i)) for i in range(3)]
    page[1]["status"] = "teleported"
    body = json.dumps(page).encode()
    bad: list[BadItem] = []
    async with client_on(lambda request: httpx.Response(200, content=body)) as client:
        orders = await client.list_orders(status="all", on_bad_item=bad.append)
    assert [o.id for o in orders] == ["o-0", "o-2"]
    (item,) = bad
    assert (item.kind, item.key, item.at) == ("order", "o-1", at(1))
    assert "teleported" in item.reason
    assert json.loads(item.raw) == page[1]
    assert item.raw in body  # the item's own bytes, not a re-encoding


async def test_without_a_hook_a_bad_order_still_raises() -> None:
    """The default is unchanged: no hook, one bad item -> ParseError for the page."""
    page = [order_json("o-0", submitted_at=at(0), status="teleported")]
    async with client_on(lambda request: json_response(200, page)) as client:
        with pytest.raises(ParseError, match="teleported"):
            await client.list_orders()
        with pytest.raises(ParseError, match="teleported"):
            [o async for o in client.iter_orders()]


async def test_an_async_hook_is_awaited_before_the_next_order_is_yielded() -> None:
    """An async hook (e.g. a database write) has finished before iteration goes on."""
    page = [order_json(f"o-{i}", submitted_at=at(i)) for i in range(3)]
    page[0]["status"] = "teleported"
    events: list[str] = []

    async def hook(item: BadItem) -> None:
        events.append(f"bad {item.key}")

    async with client_on(OrdersVenue(page)) as client:
        async for order in client.iter_orders(direction="asc", on_bad_item=hook):
            events.append(order.id)
    assert events == ["bad o-0", "o-1", "o-2"]


async def test_get_order_with_a_hook_returns_none_for_a_bad_order() -> None:
    """get_order(on_bad_item=...) hands an unparseable order over and returns None."""
    body = order_json("o-9", submitted_at=at(0), status="teleported")
    bad: list[BadItem] = []
    async with client_on(lambda request: json_response(200, body)) as client:
        assert await client.get_order("o-9", on_bad_item=bad.append) is None
    assert [b.key for b in bad] == ["o-9"]


@pytest.mark.parametrize("direction", ["asc", "desc"])
async def test_a_bad_order_closing_a_full_page_is_paged_past(direction: str) -> None:
    """The last item of a full page is bad: the window moves on its raw submitted_at and every
    good order after it is listed exactly once; the bad one reaches the hook once."""
    book = [order_json(f"o-{i:02d}", submitted_at=at(i)) for i in range(10)]
    boundary = 3 if direction == "asc" else 6  # the 4th item in the listing's order
    book[boundary]["status"] = "teleported"
    bad: list[BadItem] = []
    venue = OrdersVenue(book)
    async with client_on(venue) as client:
        seen = [
            o.id
            async for o in client.iter_orders(
                direction=direction,  # type: ignore[arg-type]
                page_size=4,
                on_bad_item=bad.append,
            )
        ]
    assert sorted(seen) == sorted(o["id"] for o in book if o["status"] != "teleported")
    assert len(seen) == len(set(seen))
    assert [b.key for b in bad] == [book[boundary]["id"]]


async def test_a_bad_order_without_any_time_pages_on_the_good_ones() -> None:
    """A bad last item whose submitted_at and created_at are unreadable: paging falls back to
    the last readable time of the page and still lists everything once."""
    book = [order_json(f"o-{i:02d}", submitted_at=at(i)) for i in range(8)]
    book[3].update(status="teleported", created_at="yesterday")
    broken = dict(book[3])

    def answer(request: httpx.Request) -> httpx.Response:
        response = venue(request)
        rows = json.loads(response.content)
        # The venue sorts by its own time; the payload's time field is garbage.
        return json_response(
            200,
            [
                {**row, "submitted_at": "not a time"} if row["id"] == broken["id"] else row
                for row in rows
            ],
        )

    venue = OrdersVenue(book)
    bad: list[BadItem] = []
    async with client_on(answer) as client:
        seen = [
            o.id
            async for o in client.iter_orders(direction="asc", page_size=4, on_bad_item=bad.append)
        ]
    assert seen == [o["id"] for o in book if o["id"] != broken["id"]]
    assert [b.key for b in bad] == [broken["id"]]
    assert bad[0].at is None


async def test_a_full_page_of_timeless_bad_orders_raises_a_clear_error() -> None:
    """When no item of a full page has a readable time the listing cannot move on: ParseError
    saying so (after every item reached the hook)."""
    page = [
        order_json(f"o-{i}", status="teleported", submitted_at="?", created_at="?")
        for i in range(2)
    ]
    bad: list[BadItem] = []
    async with client_on(lambda request: json_response(200, page)) as client:
        with pytest.raises(ParseError, match="cannot move past it"):
            [o async for o in client.iter_orders(page_size=2, on_bad_item=bad.append)]
    assert [b.key for b in bad] == ["o-0", "o-1"]


class ActivitiesVenue:
    """``GET /v2/account/activities`` paged by page_token (ids sorted ascending)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = sorted(items, key=lambda a: a["id"])
        self.tokens: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.tokens.append(params.get("page_token"))
        rows = self.items
        if "page_token" in params:
            rows = [a for a in rows if a["id"] > params["page_token"]]
        return json_response(200, rows[: int(params.get("page_size", "100"))])


async def test_a_malformed_fill_closing_a_page_is_paged_past_on_its_raw_id() -> None:
    """A FILL without a price ends a full page: the next page_token is its id (from its raw
    JSON), the fills after it are yielded, and the bad one reaches the hook once."""
    items = [fill_activity_json(f"a-{i}", order_id=f"o-{i}") for i in range(7)]
    del items[2]["price"]
    venue = ActivitiesVenue(items)
    bad: list[BadItem] = []
    async with client_on(venue) as client:
        seen = [
            a.activity_id
            async for a in client.iter_activities(
                direction="asc", page_size=3, on_bad_item=bad.append
            )
        ]
    assert seen == ["a-0", "a-1", "a-3", "a-4", "a-5", "a-6"]
    assert venue.tokens[:2] == [None, "a-2"]
    (item,) = bad
    assert (item.kind, item.key) == ("activity", "a-2")
    assert "price" in item.reason


async def test_without_a_hook_a_malformed_fill_still_raises() -> None:
    """The default is unchanged for activities too."""
    items = [fill_activity_json("a-0")]
    del items[0]["price"]
    async with client_on(ActivitiesVenue(items)) as client:
        with pytest.raises(ParseError, match="price"):
            await client.get_activities()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    times=st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=25),
    bad_mask=st.lists(st.booleans(), min_size=25, max_size=25),
    page_size=st.integers(min_value=2, max_value=6),
    direction=st.sampled_from(["asc", "desc"]),
)
async def test_every_order_is_listed_or_handed_over_exactly_once(
    times: list[int], bad_mask: list[bool], page_size: int, direction: str
) -> None:
    """Whatever the mix of bad orders and shared timestamps, each good order is yielded once and
    each bad one reaches the hook once."""
    # More than two pages per side at one instant is the API's documented residual limit.
    per_instant_side = [(second, i % 2) for i, second in enumerate(times)]
    assume(max(per_instant_side.count(key) for key in per_instant_side) <= 2 * page_size)
    book = []
    for i, second in enumerate(times):
        side = "buy" if i % 2 else "sell"
        status = "teleported" if bad_mask[i] else "new"
        book.append(order_json(f"o-{i:02d}", submitted_at=at(second), side=side, status=status))
    bad: list[BadItem] = []
    async with client_on(OrdersVenue(book)) as client:
        seen = [
            o.id
            async for o in client.iter_orders(
                direction=direction,  # type: ignore[arg-type]
                page_size=page_size,
                on_bad_item=bad.append,
            )
        ]
    good_ids = sorted(o["id"] for o in book if o["status"] == "new")
    bad_ids = sorted(o["id"] for o in book if o["status"] != "new")
    assert sorted(seen) == good_ids
    assert sorted(b.key or "" for b in bad) == bad_ids
