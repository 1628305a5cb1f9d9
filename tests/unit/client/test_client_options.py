"""The client's option, crypto and multi-leg surface: contracts listed and paged, exercise and
do-not-exercise sent at most once and looked up after an unclear answer, the v3 clock and
calendar, mleg orders placed, replaced and cancelled, crypto orders."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from client_fakes import FakeClock, FakeVenue, json_response, order_json

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.alpaca.endpoints.options import InstructionResult
from alpaca_integration.alpaca.paging import walk_option_contracts
from alpaca_integration.alpaca.parse import OptionContractsPage, parse_option_contract
from alpaca_integration.errors import (
    ForbiddenError,
    InstructionOutcomeUnknownError,
    OrderValidationError,
    RiskLimitError,
)
from alpaca_integration.models import (
    MultiLegOrderRequest,
    OrderClass,
    OrderRequest,
    OrderSide,
    OrderType,
    ReplaceRequest,
    TimeInForce,
)
from support.option_requests import CALL, CALL_HIGH
from support.option_requests import CALL_SPREAD as SPREAD

D = Decimal
DATA = Path(__file__).resolve().parents[2] / "data"
NOT_FOUND = {"code": 40410000, "message": "position does not exist"}


def data(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def option_position(qty: str = "2", symbol: str = CALL) -> dict[str, Any]:
    return {
        **data("http_get_v2_positions_options_crypto.json")[0],
        "symbol": symbol,
        "qty": qty,
        "side": "long" if D(qty) > 0 else "short",
    }


def opexc(symbol: str = CALL, day: str = "2025-06-13") -> dict[str, Any]:
    return {
        "id": "20250613000000000::5f59",
        "activity_type": "OPEXC",
        "date": day,
        "net_amount": "0",
        "description": "Option Exercise",
        "symbol": symbol,
        "qty": "-2",
        "status": "executed",
    }


ACCOUNT = data("http_get_v2_account.json")  # options levels 2


def paths(venue: FakeVenue) -> list[str]:
    return [f"{r.method} {r.url.path}" for r in venue.requests]


@pytest.fixture
def at_venue_day(clock: FakeClock) -> FakeClock:
    """The fake clock on 2025-06-13 14:00 New York (18:00 UTC), expiry day of the tests."""
    clock.now = dt.datetime(2025, 6, 13, 18, 0, tzinfo=dt.UTC).timestamp()
    return clock


# --------------------------------------------------------------------------- contracts


async def test_contracts_are_listed_with_every_filter(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """Every filter reaches the query as the venue spells it; the page comes back with its
    next token."""
    venue.script = [json_response(200, data("http_get_v2_options_contracts.json"))]
    async with make_client() as client:
        page = await client.list_option_contracts(
            underlying_symbols=["aapl", "spgi"],
            status="active",
            expiration_date_gte=dt.date(2025, 6, 1),
            expiration_date_lte=dt.date(2025, 6, 30),
            root_symbol="aapl",
            type="call",
            style="american",
            strike_price_gte=D("95.5"),
            strike_price_lte=D(200),
            limit=500,
            page_token="abc",
            ppind=True,
            show_deliverables=True,
        )
    assert dict(venue.requests[0].url.params) == {
        "underlying_symbols": "AAPL,SPGI",
        "status": "active",
        "expiration_date_gte": "2025-06-01",
        "expiration_date_lte": "2025-06-30",
        "root_symbol": "AAPL",
        "type": "call",
        "style": "american",
        "strike_price_gte": "95.5",
        "strike_price_lte": "200",
        "limit": "500",
        "page_token": "abc",
        "ppind": "true",
        "show_deliverables": "true",
    }
    assert page.next_page_token == "MTAwMA=="
    assert [c.symbol for c in page.contracts] == ["AAPL250620C00100000", "SPGI1250620P00470500"]


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        ({"strike_price_gte": D(200), "strike_price_lte": D(100)}, "strike_price_gte"),
        ({"type": "straddle"}, "type"),
        ({"limit": 10_001}, "limit"),
        (
            {
                "expiration_date_gte": dt.date(2025, 7, 1),
                "expiration_date_lte": dt.date(2025, 6, 1),
            },
            "expiration_date_gte",
        ),
    ],
)
async def test_impossible_contract_filters_are_refused_before_sending(
    make_client: Callable[..., AlpacaClient],
    venue: FakeVenue,
    filters: dict[str, Any],
    named: str,
) -> None:
    """A range upside down, an unknown type or an oversized page is a ValueError naming it."""
    async with make_client() as client:
        with pytest.raises(ValueError, match=named):
            await client.list_option_contracts(**filters)
    assert venue.requests == []


async def test_iterating_contracts_follows_the_page_tokens(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """Three pages linked by tokens are walked in order; the last page's null token ends it."""
    first = data("http_get_v2_options_contracts.json")
    second = {"option_contracts": [data("http_get_v2_options_contracts_symbol_or_id.json")]}
    venue.script = [
        json_response(200, first),
        json_response(200, {**second, "next_page_token": "Mg=="}),
        json_response(200, {"option_contracts": [], "next_page_token": None}),
    ]
    async with make_client() as client:
        symbols = [c.symbol async for c in client.iter_option_contracts(underlying_symbols="AAPL")]
    assert symbols == ["AAPL250620C00100000", "SPGI1250620P00470500", "AAPL241213P00250000"]
    tokens = [r.url.params.get("page_token") for r in venue.requests]
    assert tokens == [None, "MTAwMA==", "Mg=="]


async def test_the_contract_walk_stops_when_a_token_comes_back() -> None:
    """A venue handing out a token already followed ends the walk instead of looping forever."""
    contract = parse_option_contract(
        json.dumps(data("http_get_v2_options_contracts_symbol_or_id.json"))
    )
    calls: list[str | None] = []

    async def fetch(token: str | None) -> OptionContractsPage:
        calls.append(token)
        return OptionContractsPage([contract], "again")

    seen = [c.symbol async for c in walk_option_contracts(fetch)]
    assert calls == [None, "again"]
    assert seen == [contract.symbol]


async def test_one_contract_is_fetched_by_symbol_or_id(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """get_option_contract asks for the contract by its (upper-cased) symbol."""
    venue.script = [json_response(200, data("http_get_v2_options_contracts_symbol_or_id.json"))]
    async with make_client() as client:
        contract = await client.get_option_contract("aapl241213p00250000")
    assert venue.requests[0].url.path == "/v2/options/contracts/AAPL241213P00250000"
    assert contract.strike == D(250)


# --------------------------------------------------------------------------- exercise


async def _exercise(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, *answers: Any
) -> InstructionResult:
    """Exercise ``CALL`` through a new client: the venue answers the position and account reads
    an exercise starts with, then ``answers``."""
    venue.script = [json_response(200, option_position()), json_response(200, ACCOUNT), *answers]
    async with make_client() as client:
        return await client.exercise_position(CALL)


async def test_an_exercise_reads_the_position_then_posts_once(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """The held contracts and the account's options level are read first; the venue's 200 is
    the answer."""
    result = await _exercise(make_client, venue, httpx.Response(200))
    assert paths(venue) == [
        f"GET /v2/positions/{CALL}",
        "GET /v2/account",
        f"POST /v2/positions/{CALL}/exercise",
    ]
    assert (result.contracts, result.established) == (D(2), "answer")


@pytest.mark.parametrize("held", ["short option", "equity"])
async def test_only_a_long_option_position_can_be_exercised(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, held: str
) -> None:
    """A short contract (assigned, not exercised) or shares: refused, nothing posted."""
    position = (
        option_position("-1") if held == "short option" else data("http_get_v2_positions.json")[0]
    )
    venue.script = [json_response(200, position)]
    async with make_client() as client:
        with pytest.raises(OrderValidationError, match="long option position"):
            await client.exercise_position(CALL)
    assert [r.method for r in venue.requests] == ["GET"]


async def test_a_lost_exercise_answer_is_proved_by_the_exercise_activity(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, at_venue_day: FakeClock
) -> None:
    """A 500 after the exercise: the OPEXC activity of the contract dated today proves it was
    taken; it is never posted again."""
    result = await _exercise(
        make_client,
        venue,
        json_response(500, {"code": 50010000, "message": "internal error"}),
        json_response(200, [opexc()]),
    )
    assert result.established == "activity"
    assert paths(venue).count(f"POST /v2/positions/{CALL}/exercise") == 1
    assert venue.requests[3].url.params["after"].startswith("2025-06-12")


async def test_a_timed_out_exercise_is_proved_by_the_position_being_gone(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, at_venue_day: FakeClock
) -> None:
    """A read timeout, no activity yet (an older OPEXC of another day does not count), the
    position gone: taken, established by the position."""
    result = await _exercise(
        make_client,
        venue,
        httpx.ReadTimeout("slow"),
        json_response(200, [opexc(day="2025-06-10")]),
        json_response(404, NOT_FOUND),
    )
    assert result.established == "position"
    assert paths(venue).count(f"POST /v2/positions/{CALL}/exercise") == 1


async def test_an_exercise_that_cannot_be_established_is_an_unknown_outcome(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, at_venue_day: FakeClock
) -> None:
    """Unclear answer, no activity and the position unchanged until the visibility wait runs
    out: InstructionOutcomeUnknownError (one POST), saying what the position shows."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return json_response(502, {"message": "bad gateway"})
        if "activities" in request.url.path:
            return json_response(200, [])
        if request.url.path == "/v2/account":
            return json_response(200, ACCOUNT)
        return json_response(200, option_position())

    venue.fallback = answer
    async with make_client(order_visibility_wait=2.0) as client:
        with pytest.raises(InstructionOutcomeUnknownError, match="now shows 2 contracts") as info:
            await client.exercise_position(CALL)
    assert info.value.instruction == "exercise"
    assert paths(venue).count(f"POST /v2/positions/{CALL}/exercise") == 1


async def test_an_exercise_refused_with_429_is_sent_again(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A 429 means the venue did not act: the same instruction is sent again."""
    result = await _exercise(
        make_client,
        venue,
        json_response(429, {"message": "rate limit exceeded"}),
        httpx.Response(200),
    )
    assert result.established == "answer"
    assert paths(venue).count(f"POST /v2/positions/{CALL}/exercise") == 2


async def test_a_lost_do_not_exercise_answer_is_reported_not_resent(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """The venue keeps no visible trace of a do-not-exercise: after a 500 the outcome is
    unknown, with the advice that sending it again is safe; it was posted once."""
    venue.script = [
        json_response(200, option_position()),
        json_response(500, {"message": "internal error"}),
        json_response(200, option_position()),
    ]
    async with make_client() as client:
        with pytest.raises(InstructionOutcomeUnknownError, match="idempotent"):
            await client.do_not_exercise(CALL)
    assert paths(venue).count(f"POST /v2/positions/{CALL}/do-not-exercise") == 1


async def test_a_refused_instruction_is_the_venues_typed_error(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A 403 (e.g. exercise after the close) is raised as it is, not looked up."""
    refusal = json_response(403, {"code": 40310000, "message": "exercise window closed"})
    with pytest.raises(ForbiddenError, match="exercise window closed"):
        await _exercise(make_client, venue, refusal)
    assert len(venue.requests) == 3


async def test_an_exercise_with_options_trading_disabled_is_refused_before_it_is_sent(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """Options level 0 (the approved level capped to 0 by the account's configuration): the
    exercise is refused (RiskLimitError, limit options_level) and nothing is posted; a
    do-not-exercise, which only keeps the contract from being exercised, is still sent."""
    disabled = {**ACCOUNT, "options_trading_level": 0}
    venue.script = [json_response(200, option_position()), json_response(200, disabled)]
    async with make_client() as client:
        with pytest.raises(RiskLimitError, match="options trading is disabled") as refused:
            await client.exercise_position(CALL)
    assert refused.value.limit == "options_level"
    assert [r.method for r in venue.requests] == ["GET", "GET"]
    venue.script = [json_response(200, option_position()), httpx.Response(200)]
    async with make_client() as client:
        assert (await client.do_not_exercise(CALL)).established == "answer"
    assert paths(venue)[-1] == f"POST /v2/positions/{CALL}/do-not-exercise"


async def test_an_exercise_at_options_level_1_is_sent(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """Level 1 (the level that closes positions) may exercise a held contract."""
    level_one = {**ACCOUNT, "options_trading_level": 1, "options_approved_level": 3}
    venue.script = [
        json_response(200, option_position()),
        json_response(200, level_one),
        httpx.Response(200),
    ]
    async with make_client() as client:
        assert (await client.exercise_position(CALL)).established == "answer"


# --------------------------------------------------------------------------- v3 clock, calendar


async def test_the_v3_clock_and_calendar_ask_for_their_markets(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """GET /v3/clock?markets=NYSE,OPRA and GET /v3/calendar/NYSE with dates; an unknown market
    is refused before sending."""
    venue.script = [
        json_response(200, data("http_get_v3_clock.json")),
        json_response(200, data("http_get_v3_calendar_market.json")),
    ]
    async with make_client() as client:
        clocks = await client.get_market_clocks(["nyse", "OPRA"])
        calendar = await client.get_market_calendar(
            "nyse", dt.date(2025, 7, 3), dt.date(2025, 7, 7), utc_times=True
        )
        with pytest.raises(ValueError, match="XNYS"):
            await client.get_market_calendar("MOON")
    assert [c.market.acronym for c in clocks] == ["NYSE", "OPRA"]
    assert venue.requests[0].url.params["markets"] == "NYSE,OPRA"
    assert venue.requests[1].url.path == "/v3/calendar/NYSE"
    assert dict(venue.requests[1].url.params) == {
        "start": "2025-07-03",
        "end": "2025-07-07",
        "timezone": "UTC",
    }
    assert len(calendar.days) == 2
    assert len(venue.requests) == 2


# --------------------------------------------------------------------------- orders


async def test_a_multi_leg_order_is_posted_once_and_read_back_with_its_legs(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """The mleg body carries the legs and a client_order_id; the parent comes back nested."""
    venue.script = [json_response(200, data("http_post_v2_orders_mleg.json"))]
    async with make_client() as client:
        order = await client.submit_order(SPREAD)
    (body,) = venue.bodies()
    assert body["order_class"] == "mleg"
    assert [leg["symbol"] for leg in body["legs"]] == [CALL, CALL_HIGH]
    assert body["client_order_id"].startswith("ai-")
    assert order.order_class is OrderClass.MLEG
    assert len(order.legs) == 2


async def test_a_one_leg_mleg_order_never_reaches_the_venue(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """Refused locally: OrderValidationError, no request."""
    lonely = MultiLegOrderRequest(legs=SPREAD.legs[:1], qty=D(1), type=OrderType.MARKET)
    async with make_client() as client:
        with pytest.raises(OrderValidationError, match="2 to 4 legs"):
            await client.submit_order(lonely)
    assert venue.requests == []


async def test_an_mleg_replace_reads_the_order_for_a_credit_and_a_cancel_uses_the_parent(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """A negative net price is judged against the order it replaces (fetched first), then the
    PATCH carries it; the spread is cancelled through its parent's id."""
    mleg = data("http_post_v2_orders_mleg.json")
    parent_id = mleg["id"]
    venue.script = [
        json_response(200, {**mleg, "status": "new"}),
        json_response(200, {**mleg, "id": "7f3d0a52-2c1b-4e8a-9d6f-0b1c2d3e4f50"}),
        httpx.Response(204),
    ]
    async with make_client() as client:
        await client.replace_order(parent_id, ReplaceRequest(limit_price=D("-0.40")))
        await client.cancel_order(parent_id)
    assert paths(venue) == [
        f"GET /v2/orders/{parent_id}",
        f"PATCH /v2/orders/{parent_id}",
        f"DELETE /v2/orders/{parent_id}",
    ]
    assert json.loads(venue.requests[1].content)["limit_price"] == "-0.4"


async def test_an_option_replace_to_gtc_is_refused_after_reading_the_order(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """An option order takes day only: the replace to gtc is refused, no PATCH sent."""
    venue.script = [json_response(200, data("http_post_v2_orders_option.json"))]
    async with make_client() as client:
        with pytest.raises(OrderValidationError, match="day"):
            await client.replace_order("o-1", ReplaceRequest(time_in_force=TimeInForce.GTC))
    assert [r.method for r in venue.requests] == ["GET"]


async def test_a_crypto_order_is_posted_with_its_pair_and_fraction(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """BTC/USD with a fractional gtc quantity goes out as given; a day crypto order does not."""
    venue.script = [json_response(200, order_json(symbol="BTC/USD", asset_class="crypto"))]
    async with make_client() as client:
        await client.submit_order(
            OrderRequest(
                symbol="BTC/USD",
                side=OrderSide.BUY,
                time_in_force=TimeInForce.GTC,
                qty=D("0.0015"),
            )
        )
        with pytest.raises(OrderValidationError, match="gtc"):
            await client.submit_order(
                OrderRequest(symbol="BTC/USD", side=OrderSide.BUY, qty=D("0.0015"))
            )
    (body,) = venue.bodies()
    assert (body["symbol"], body["qty"], body["time_in_force"]) == ("BTC/USD", "0.0015", "gtc")
