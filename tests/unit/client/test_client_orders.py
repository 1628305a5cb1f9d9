"""Order placement and replacement: never twice, unknown outcomes resolved by lookup."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
from client_fakes import EPOCH, FakeClock, FakeVenue, json_response, limit_buy, order_json

from alpaca_integration.alpaca.client import AlpacaClient, RetryPolicy
from alpaca_integration.errors import (
    DuplicateClientOrderIdError,
    InsufficientBuyingPowerError,
    OrderOutcomeUnknownError,
    OrderValidationError,
    RiskLimitError,
)
from alpaca_integration.models import (
    Order,
    OrderRequest,
    OrderSide,
    ReplaceRequest,
)

BUY = limit_buy("10", "187.50")
NOT_FOUND = {"code": 40410000, "message": "order not found"}
DUPLICATE = {"code": 40010001, "message": "client_order_id must be unique"}
# A test's own answer to a request, or None to leave it to the book (see _answer_first).
Step = Callable[[httpx.Request], "httpx.Response | None"]


class Venue:
    """A tiny order book behind the fake transport: POST creates, lookup finds by client id."""

    def __init__(self, fake: FakeVenue) -> None:
        self.fake = fake
        self.orders: dict[str, dict[str, object]] = {}  # client_order_id -> order json
        self.post_script: list[str] = []  # per POST: "ok", "lost" (created, answer lost),
        # "fail" (not created, 500), "timeout" (not created), "429", "403",
        # "unreadable" (created, 200 with an answer the parser refuses)
        self.lookup_script: list[str] = []  # per lookup: "real" or "fail"
        fake.fallback = self.answer

    def posts(self) -> list[dict[str, object]]:
        return [json.loads(r.content) for r in self.fake.requests if r.method == "POST"]

    def lookups(self) -> int:
        return sum(1 for r in self.fake.requests if "by_client_order_id" in r.url.path)

    def answer(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v2/orders":
            body = json.loads(request.content)
            cid = str(body["client_order_id"])
            step = self.post_script.pop(0) if self.post_script else "ok"
            if step == "429":
                return httpx.Response(429, content=b"Too Many Requests")
            if step == "403":
                return json_response(
                    403,
                    {"code": 40310000, "message": "insufficient buying power", "buying_power": "0"},
                )
            if step in ("fail", "timeout"):
                if step == "timeout":
                    raise httpx.ReadTimeout("no answer")
                return json_response(500, {"message": "internal server error"})
            if cid in self.orders:
                return json_response(422, DUPLICATE)
            order = order_json(f"order-{len(self.orders) + 1}", client_order_id=cid)
            self.orders[cid] = order
            if step == "lost":
                raise httpx.ReadTimeout("answer lost after the order was created")
            if step == "unreadable":  # created, but the answer has a status nobody knows yet
                return json_response(200, {**order, "status": "pending_review"})
            return json_response(200, order)
        if request.url.path == "/v2/orders:by_client_order_id":
            step = self.lookup_script.pop(0) if self.lookup_script else "real"
            if step == "fail":
                raise httpx.ConnectError("venue unreachable")
            cid = request.url.params["client_order_id"]
            if cid in self.orders:
                return json_response(200, self.orders[cid])
            return json_response(404, NOT_FOUND)
        raise AssertionError(f"unexpected {request.method} {request.url}")


@pytest.fixture
def book(venue: FakeVenue) -> Venue:
    return Venue(venue)


def _answer_first(book: Venue | ReplaceVenue, step: Step) -> None:
    """Let ``step`` answer each request first; where it answers None, the book answers."""

    def answer(request: httpx.Request) -> httpx.Response:
        response = step(request)
        return book.answer(request) if response is None else response

    book.fake.fallback = answer


async def _buy(make_client: Callable[..., AlpacaClient]) -> Order:
    """Submit ``BUY`` through a new client and close it: the order the caller gets."""
    async with make_client() as client:
        return await client.submit_order(BUY)


async def _buy_once(
    make_client: Callable[..., AlpacaClient], book: Venue, step: Step, order_id: str
) -> None:
    """``_buy`` with ``step`` answering each request first (``_answer_first``): the caller gets
    order ``order_id``, the only order the venue holds (nothing was placed twice)."""
    _answer_first(book, step)
    order = await _buy(make_client)
    assert order.id == order_id
    assert [o["id"] for o in book.orders.values()] == [order_id]


async def test_client_order_id_is_set_before_the_first_attempt(
    make_client: Callable[..., AlpacaClient], book: Venue
) -> None:
    """An order without an id gets one (with the client's prefix) in its very first request."""
    async with make_client(client_order_id_prefix="desk") as client:
        order = await client.submit_order(BUY)
    [posted] = book.posts()
    assert str(posted["client_order_id"]).startswith("desk-")
    assert order.client_order_id == posted["client_order_id"]


async def test_unknown_outcome_resolved_by_lookup_when_it_exists(
    make_client: Callable[..., AlpacaClient], book: Venue
) -> None:
    """Created but the answer was lost: the lookup finds it and nothing is sent again."""
    book.post_script = ["lost"]
    order = await _buy(make_client)
    assert len(book.posts()) == 1
    assert book.lookups() == 1
    assert len(book.orders) == 1
    assert order.id == "order-1"


async def test_an_accepted_order_with_an_unreadable_answer_is_an_unknown_outcome(
    make_client: Callable[..., AlpacaClient], book: Venue
) -> None:
    """A 2xx the parser refuses raises OrderOutcomeUnknownError with the id; nothing is resent."""
    book.post_script = ["unreadable"]
    async with make_client() as client:
        with pytest.raises(OrderOutcomeUnknownError) as caught:
            await client.submit_order(BUY)
    [posted] = book.posts()
    assert caught.value.client_order_id == posted["client_order_id"]
    assert "accepted" in str(caught.value)
    assert len(book.orders) == 1


async def test_unknown_outcome_resent_with_the_same_id_when_it_does_not_exist(
    make_client: Callable[..., AlpacaClient], book: Venue
) -> None:
    """500 and the lookup says 404: resent once, under the same client_order_id."""
    book.post_script = ["fail", "ok"]
    order = await _buy(make_client)
    posts = book.posts()
    assert len(posts) == 2
    assert posts[0]["client_order_id"] == posts[1]["client_order_id"]
    assert len(book.orders) == 1
    assert order.client_order_id == posts[0]["client_order_id"]


async def test_a_timeout_without_an_order_is_resent_with_the_same_id(
    make_client: Callable[..., AlpacaClient], book: Venue
) -> None:
    """A read timeout before the venue created anything: lookup 404, resend, one order."""
    book.post_script = ["timeout", "ok"]
    async with make_client() as client:
        await client.submit_order(BUY)
    assert len(book.posts()) == 2
    assert len(book.orders) == 1


async def test_duplicate_id_after_an_unknown_outcome_means_it_exists(
    make_client: Callable[..., AlpacaClient], book: Venue, venue: FakeVenue
) -> None:
    """The order landed late: the resend gets 'client_order_id must be unique', so it is fetched."""
    book.post_script = ["fail", "ok"]
    # The lookup misses it (the first request is still being processed), then it lands.

    def late(request: httpx.Request) -> httpx.Response | None:
        if "by_client_order_id" in request.url.path and not book.orders and book.lookups() == 1:
            response = book.answer(request)
            cid = json.loads(venue.requests[0].content)["client_order_id"]
            book.orders[cid] = order_json("order-late", client_order_id=cid)
            return response
        return None

    await _buy_once(make_client, book, late, "order-late")


async def test_lookup_failing_too_raises_outcome_unknown_with_the_id(
    make_client: Callable[..., AlpacaClient], book: Venue
) -> None:
    """When neither the submit nor the lookup answers, the caller gets the id to check later."""
    book.post_script = ["lost"]
    book.lookup_script = ["fail"] * 10
    async with make_client(retry=RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(OrderOutcomeUnknownError) as caught:
            await client.submit_order(BUY)
    assert caught.value.client_order_id == book.posts()[0]["client_order_id"]
    assert len(book.posts()) == 1  # never resent blindly


async def test_venue_failing_every_time_ends_in_outcome_unknown(
    make_client: Callable[..., AlpacaClient], book: Venue
) -> None:
    """Every attempt 500 + 404: at most max_attempts sends, all one id, then outcome unknown."""
    book.post_script = ["fail"] * 10
    async with make_client(retry=RetryPolicy(max_attempts=3)) as client:
        with pytest.raises(OrderOutcomeUnknownError):
            await client.submit_order(BUY)
    posts = book.posts()
    assert len(posts) == 3
    assert len({p["client_order_id"] for p in posts}) == 1


async def test_a_429_on_submit_waits_for_the_reset_and_resends_the_same_id(
    make_client: Callable[..., AlpacaClient], book: Venue, venue: FakeVenue, clock: FakeClock
) -> None:
    """429 means not accepted: wait until the reset, resend with the same id, no lookup."""

    def limited(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and len(book.posts()) == 1:
            return httpx.Response(
                429, content=b"Too Many Requests", headers={"X-RateLimit-Reset": str(EPOCH + 9)}
            )
        return None

    _answer_first(book, limited)
    async with make_client() as client:
        await client.submit_order(BUY)
    posts = book.posts()
    assert len(posts) == 2
    assert posts[0]["client_order_id"] == posts[1]["client_order_id"]
    assert book.lookups() == 0
    assert clock.now >= EPOCH + 9


async def test_a_reused_id_is_reported_not_fetched(
    make_client: Callable[..., AlpacaClient], book: Venue
) -> None:
    """A duplicate id on the first attempt is the caller's mistake: raised, nothing looked up."""
    book.orders["mine-1"] = order_json("old", client_order_id="mine-1")
    async with make_client() as client:
        with pytest.raises(DuplicateClientOrderIdError):
            await client.submit_order(BUY.with_client_order_id("mine-1"))
    assert book.lookups() == 0


async def test_a_refusal_after_an_unknown_outcome_checks_for_the_first_order(
    make_client: Callable[..., AlpacaClient], book: Venue, venue: FakeVenue
) -> None:
    """A 403 on the resend may be caused by the first order: found by lookup -> returned."""
    calls = {"lookups": 0}

    def flow(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST":
            cid = json.loads(request.content)["client_order_id"]
            if len(book.posts()) == 1:
                return json_response(500, {"message": "internal"})
            # the first request did land meanwhile and used up the buying power
            book.orders[cid] = order_json("order-first", client_order_id=cid)
            return json_response(
                403, {"code": 40310000, "message": "insufficient buying power", "buying_power": "0"}
            )
        calls["lookups"] += 1
        return None

    await _buy_once(make_client, book, flow, "order-first")
    # Five looks within the 5 s visibility bound (at 0, 0.5, 1.5, 3.5 and 5 s) before the
    # resend, then one after the refusal finds the first order.
    assert calls["lookups"] == 6


async def test_a_plain_refusal_is_raised_typed(
    make_client: Callable[..., AlpacaClient], book: Venue
) -> None:
    """Without an earlier unclear attempt, a 403 is raised as is."""
    book.post_script = ["403"]
    async with make_client() as client:
        with pytest.raises(InsufficientBuyingPowerError):
            await client.submit_order(BUY)
    assert book.lookups() == 0


async def test_pre_trade_check_runs_before_any_request(
    make_client: Callable[..., AlpacaClient], book: Venue, venue: FakeVenue
) -> None:
    """A refusing risk hook stops the order with nothing sent; it sees the id already set."""
    seen: list[OrderRequest] = []

    async def refuse(request: OrderRequest) -> None:
        seen.append(request)
        raise RiskLimitError("max order notional 1000 exceeded", limit="max_order_notional")

    async with make_client() as client:
        with pytest.raises(RiskLimitError):
            await client.submit_order(BUY, pre_trade_check=refuse)
    assert venue.requests == []
    assert seen[0].client_order_id


async def test_client_level_pre_trade_check_applies_to_every_order(
    make_client: Callable[..., AlpacaClient], book: Venue, venue: FakeVenue
) -> None:
    """A hook given to the client is run for orders that pass none of their own."""
    calls: list[str] = []

    async def allow(request: OrderRequest) -> None:
        calls.append(request.symbol)

    async with make_client(pre_trade_check=allow) as client:
        await client.submit_order(BUY)
    assert calls == ["AAPL"]
    assert len(book.posts()) == 1


async def test_invalid_orders_are_refused_before_sending(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A sub-penny limit price never reaches the venue."""
    bad = limit_buy("1", "187.555")
    async with make_client() as client:
        with pytest.raises(OrderValidationError):
            await client.submit_order(bad)
    assert venue.requests == []


# --------------------------------------------------------------------------- replace


class ReplaceVenue:
    """PATCH replaces old -> new; the old order's fate is scripted."""

    def __init__(self, fake: FakeVenue, *, old_status: str = "new") -> None:
        self.fake = fake
        self.old = order_json("old-1", status=old_status)
        self.new: dict[str, object] | None = None
        self.patch_script: list[str] = []  # "ok", "lost" (replaced, answer lost), "fail"
        fake.fallback = self.answer

    def patches(self) -> list[dict[str, object]]:
        return [json.loads(r.content) for r in self.fake.requests if r.method == "PATCH"]

    def answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "PATCH" and path == "/v2/orders/old-1":
            step = self.patch_script.pop(0) if self.patch_script else "ok"
            if step == "fail":
                return json_response(504, {"message": "gateway timeout"})
            cid = json.loads(request.content)["client_order_id"]
            if self.new is not None:
                return json_response(422, DUPLICATE)
            self.new = order_json("new-1", client_order_id=cid, replaces="old-1", qty="5")
            self.old.update(status="replaced", replaced_by="new-1")
            if step == "lost":
                raise httpx.RemoteProtocolError("connection reset")
            return json_response(200, self.new)
        if path == "/v2/orders:by_client_order_id":
            cid = request.url.params["client_order_id"]
            if self.new is not None and self.new["client_order_id"] == cid:
                return json_response(200, self.new)
            return json_response(404, NOT_FOUND)
        if path == "/v2/orders/old-1":
            return json_response(200, self.old)
        if path == "/v2/orders/new-1" and self.new is not None:
            return json_response(200, self.new)
        raise AssertionError(f"unexpected {request.method} {path}")


async def test_replace_carries_its_own_client_order_id(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """The PATCH body names the replacement's new client_order_id."""
    book = ReplaceVenue(venue)
    async with make_client() as client:
        new = await client.replace_order("old-1", ReplaceRequest(qty=Decimal(5)))
    [patch] = book.patches()
    assert patch["client_order_id"] == new.client_order_id
    assert patch["qty"] == "5"
    assert new.replaces == "old-1"


async def test_replace_unknown_outcome_finds_the_replacement(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """Replaced but the answer was lost: the replacement is fetched, the PATCH not resent."""
    book = ReplaceVenue(venue)
    book.patch_script = ["lost"]
    async with make_client() as client:
        new = await client.replace_order("old-1", ReplaceRequest(qty=Decimal(5)))
    assert new.id == "new-1"
    assert len(book.patches()) == 1


async def test_replace_unknown_outcome_follows_replaced_by(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """If the new id is not found by client id, the old order's replaced_by leads to it."""
    book = ReplaceVenue(venue)
    book.patch_script = ["lost"]

    def hide_by_cid(request: httpx.Request) -> httpx.Response | None:
        if "by_client_order_id" in request.url.path:
            return json_response(404, NOT_FOUND)
        return None

    _answer_first(book, hide_by_cid)
    async with make_client() as client:
        new = await client.replace_order("old-1", ReplaceRequest(qty=Decimal(5)))
    assert new.id == "new-1"
    assert [r.url.path for r in venue.requests][-2:] == ["/v2/orders/old-1", "/v2/orders/new-1"]


async def test_replace_not_done_is_resent_with_the_same_id(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """504 and the old order is still working, not replaced: the same PATCH goes again."""
    book = ReplaceVenue(venue)
    book.patch_script = ["fail", "ok"]
    async with make_client() as client:
        new = await client.replace_order("old-1", ReplaceRequest(qty=Decimal(5)))
    patches = book.patches()
    assert len(patches) == 2
    assert patches[0]["client_order_id"] == patches[1]["client_order_id"] == new.client_order_id


async def test_replace_pending_is_outcome_unknown(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """Old order stuck in pending_replace with no replacement visible: OrderOutcomeUnknownError."""
    book = ReplaceVenue(venue, old_status="pending_replace")
    book.patch_script = ["fail"]
    async with make_client() as client:
        with pytest.raises(OrderOutcomeUnknownError) as caught:
            await client.replace_order(
                "old-1", ReplaceRequest(qty=Decimal(5), client_order_id="repl-7")
            )
    assert caught.value.client_order_id == "repl-7"
    assert len(book.patches()) == 1


# --------------------------------------------------------------------------- issue 11 items 8, 9

BUYING_POWER = {"code": 40310000, "message": "insufficient buying power", "buying_power": "0"}


async def test_an_order_the_venue_shows_late_is_found_not_resent(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, clock: FakeClock
) -> None:
    """503 although the order landed, and the venue shows it only 3 s later: the client looks
    again within its bound and returns that order; it never resends (which would be refused
    403 for the buying power the first order took)."""
    created: dict[str, float] = {}

    def slow_to_show(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            cid = json.loads(request.content)["client_order_id"]
            if created:
                return json_response(403, BUYING_POWER)
            created[cid] = clock.now
            return json_response(503, {"message": "service unavailable"})
        cid = request.url.params["client_order_id"]
        if cid in created and clock.now >= created[cid] + 3.0:
            return json_response(200, order_json("order-first", client_order_id=cid))
        return json_response(404, NOT_FOUND)

    venue.fallback = slow_to_show
    order = await _buy(make_client)
    assert order.id == "order-first"
    assert sum(1 for r in venue.requests if r.method == "POST") == 1


async def test_a_refusal_after_an_unclear_submit_is_an_unknown_outcome(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """503, the order never shows within the bound, the resend is refused 403: the first attempt
    may exist (and may be what used the buying power), so the caller gets
    OrderOutcomeUnknownError with the id, not a plain refusal to act on."""

    def refuse_after_unclear(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            if sum(1 for r in venue.requests if r.method == "POST") == 1:
                return json_response(503, {"message": "service unavailable"})
            return json_response(403, BUYING_POWER)
        return json_response(404, NOT_FOUND)

    venue.fallback = refuse_after_unclear
    async with make_client() as client:
        with pytest.raises(OrderOutcomeUnknownError) as caught:
            await client.submit_order(BUY)
    posts = [json.loads(r.content) for r in venue.requests if r.method == "POST"]
    assert caught.value.client_order_id == posts[0]["client_order_id"]
    assert "insufficient buying power" in str(caught.value)


async def test_a_duplicate_id_after_a_429_is_our_order_not_a_reused_id(
    make_client: Callable[..., AlpacaClient], book: Venue, venue: FakeVenue
) -> None:
    """A 429 that came after the venue took the order (a gateway answering for it): the resend
    meets 'client_order_id must be unique', which is resolved by a lookup, not raised as the
    caller's reused id. The resend could not have made a second order (same id)."""

    def limited_after_accepting(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and len(book.posts()) == 1:
            book.answer(request)  # the venue takes it...
            return httpx.Response(429, content=b"Too Many Requests")  # ...the gateway says 429
        return None

    await _buy_once(make_client, book, limited_after_accepting, "order-1")


async def test_a_huge_quantity_is_never_sent(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """--qty 99999999999999999999999999999999 fails validation: no request, no lookup, no
    resend (it used to get a 500 and be looked up and resent five times)."""
    huge = OrderRequest(
        symbol="AAPL", side=OrderSide.BUY, qty=Decimal("99999999999999999999999999999999")
    )
    async with make_client() as client:
        with pytest.raises(OrderValidationError, match="qty"):
            await client.submit_order(huge)
        with pytest.raises(OrderValidationError, match="qty"):
            await client.close_position("AAPL", qty=Decimal("1e999999"))
    assert venue.requests == []
