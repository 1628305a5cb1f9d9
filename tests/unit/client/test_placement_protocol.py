"""The at-most-once placement protocol through its seam, without HTTP: one test per row of the
state table in ``alpaca.placement``'s docstring."""

from __future__ import annotations

import json

import pytest
from client_fakes import FakeClock, order_json

from alpaca_integration.alpaca.parse import parse_order
from alpaca_integration.alpaca.placement import PlacementPolicy, place_at_most_once
from alpaca_integration.errors import (
    AlpacaIntegrationError,
    DuplicateClientOrderIdError,
    InsufficientBuyingPowerError,
    OrderOutcomeUnknownError,
    RateLimitedError,
    RequestNotSentError,
    ServerError,
)
from alpaca_integration.models import Order

CID = "ai-placement-1"
ORDER = parse_order(json.dumps(order_json("o-1", client_order_id=CID)).encode())

Step = Order | Exception | None


class ScriptedVenue:
    """Answers each send and each look from a script; counts both."""

    def __init__(self, sends: list[Step], looks: list[Step] | None = None) -> None:
        self.sends, self.looks = list(sends), list(looks or [])
        self.sent = self.looked = 0

    async def send(self) -> Order:
        self.sent += 1
        step = self.sends.pop(0)
        if isinstance(step, Exception):
            raise step
        assert step is not None
        return step

    async def resolve(self, cause: AlpacaIntegrationError) -> Order | None:
        self.looked += 1
        step = self.looks.pop(0) if self.looks else None
        if isinstance(step, Exception):
            raise step
        return step


def policy(clock: FakeClock, attempts: int = 3, wait: float = 5.0) -> PlacementPolicy:
    return PlacementPolicy(
        max_attempts=attempts,
        max_elapsed=90.0,
        backoff=lambda attempt: 0.25,
        sleep=clock.sleep,
        clock=clock,
        visibility_wait=wait,
    )


def server_error() -> ServerError:
    return ServerError("HTTP 503", status=503)


def refusal() -> InsufficientBuyingPowerError:
    return InsufficientBuyingPowerError("insufficient buying power", status=403)


async def test_an_accepted_order_is_returned(clock: FakeClock) -> None:
    """2xx: the order, after one send and no look."""
    venue = ScriptedVenue([ORDER])
    assert await place_at_most_once(venue, CID, policy(clock)) is ORDER
    assert (venue.sent, venue.looked) == (1, 0)


async def test_a_request_not_sent_is_sent_again_without_a_look(clock: FakeClock) -> None:
    """Connect refused: nothing reached the venue, so it is resent (no lookup needed)."""
    venue = ScriptedVenue([RequestNotSentError("refused"), ORDER])
    assert await place_at_most_once(venue, CID, policy(clock)) is ORDER
    assert (venue.sent, venue.looked) == (2, 0)


async def test_a_429_is_resent_without_a_look(clock: FakeClock) -> None:
    """429: not accepted; resent with the same id after the budget's pause."""
    venue = ScriptedVenue([RateLimitedError("slow down", status=429), ORDER])
    assert await place_at_most_once(venue, CID, policy(clock)) is ORDER
    assert (venue.sent, venue.looked) == (2, 0)


async def test_an_unclear_attempt_is_looked_up_again_until_the_order_shows(
    clock: FakeClock,
) -> None:
    """503, then the venue shows nothing twice and the order on the third look: returned,
    nothing resent."""
    venue = ScriptedVenue([server_error()], [None, None, ORDER])
    assert await place_at_most_once(venue, CID, policy(clock)) is ORDER
    assert (venue.sent, venue.looked) == (1, 3)


async def test_an_order_absent_for_the_whole_bound_is_resent(clock: FakeClock) -> None:
    """503 and no order within the 5 s bound: resent (same id) once the bound has passed."""
    venue = ScriptedVenue([server_error(), ORDER])
    start = clock.now
    assert await place_at_most_once(venue, CID, policy(clock)) is ORDER
    assert venue.sent == 2
    assert clock.now - start >= 5.0


async def test_a_duplicate_id_while_fresh_is_the_callers(clock: FakeClock) -> None:
    """The first answer 'client_order_id must be unique': the caller reused an id; raised."""
    venue = ScriptedVenue([DuplicateClientOrderIdError("unique", status=422)])
    with pytest.raises(DuplicateClientOrderIdError):
        await place_at_most_once(venue, CID, policy(clock))
    assert venue.looked == 0


async def test_a_duplicate_id_after_a_429_is_looked_up(clock: FakeClock) -> None:
    """429 then duplicate id: the first attempt landed after all; looked up and returned."""
    venue = ScriptedVenue(
        [RateLimitedError("slow down", status=429), DuplicateClientOrderIdError("u", status=422)],
        [ORDER],
    )
    assert await place_at_most_once(venue, CID, policy(clock)) is ORDER


async def test_a_refusal_while_fresh_is_raised(clock: FakeClock) -> None:
    """A 403 on the first attempt is the answer: raised as it is, nothing looked up."""
    venue = ScriptedVenue([refusal()])
    with pytest.raises(InsufficientBuyingPowerError):
        await place_at_most_once(venue, CID, policy(clock))
    assert venue.looked == 0


async def test_a_refusal_after_an_unclear_attempt_is_an_unknown_outcome(clock: FakeClock) -> None:
    """503, absent within the bound, resend refused 403, still absent: the first attempt may
    exist, so OrderOutcomeUnknownError (the refusal as its cause), never the plain refusal."""
    venue = ScriptedVenue([server_error(), refusal()])
    with pytest.raises(OrderOutcomeUnknownError) as caught:
        await place_at_most_once(venue, CID, policy(clock))
    assert caught.value.client_order_id == CID
    assert isinstance(caught.value.__cause__, InsufficientBuyingPowerError)


async def test_running_out_of_attempts_while_unclear_is_an_unknown_outcome(
    clock: FakeClock,
) -> None:
    """Every attempt 503 and never an order: max_attempts sends, then OrderOutcomeUnknownError."""
    venue = ScriptedVenue([server_error(), server_error(), server_error()])
    with pytest.raises(OrderOutcomeUnknownError):
        await place_at_most_once(venue, CID, policy(clock, attempts=3))
    assert venue.sent == 3


async def test_a_failing_lookup_is_an_unknown_outcome(clock: FakeClock) -> None:
    """The lookup itself fails: the seam's OrderOutcomeUnknownError reaches the caller."""
    venue = ScriptedVenue(
        [server_error()], [OrderOutcomeUnknownError("lookup", client_order_id=CID)]
    )
    with pytest.raises(OrderOutcomeUnknownError):
        await place_at_most_once(venue, CID, policy(clock))
    assert venue.sent == 1


async def test_without_a_visibility_bound_one_look_decides(clock: FakeClock) -> None:
    """visibility_wait=0 (for a venue known to show orders at once): one look per unclear
    attempt."""
    venue = ScriptedVenue([server_error(), ORDER])
    assert await place_at_most_once(venue, CID, policy(clock, wait=0.0)) is ORDER
    assert (venue.sent, venue.looked) == (2, 1)
