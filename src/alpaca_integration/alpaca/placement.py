"""Placing an order at most once: the protocol ``submit_order`` and ``replace_order`` run.

The order's ``client_order_id`` is fixed before the first attempt. Alpaca keeps client order ids
unique per account forever, so a resend under the same id can never create a second order: the
id is the idempotency key. What the protocol must never do is give up on an order that may exist
as if it did not (the caller would place it again under a new id), nor report a refusal as final
when an earlier attempt may be what caused it.

State: FRESH until an attempt's outcome is unclear, then UNCLEAR (an earlier attempt may have
created the order). Each attempt's outcome decides the next step:

===========================  =================================  =================================
outcome of the attempt       FRESH                              UNCLEAR
===========================  =================================  =================================
2xx, order readable          return it                          return it
2xx, answer unreadable       OrderOutcomeUnknownError (exists)  OrderOutcomeUnknownError (exists)
not sent (connect refused,   back off; resend (same id)         back off; resend (same id)
connect or pool timeout)
429                          resend (same id) after the pause   resend (same id) after the pause
timeout, reset, 5xx          -> UNCLEAR; back off; look         back off; look
duplicate client_order_id    raise it (the caller reused an     look
                             id), unless a 429 came first: look
other refusal (4xx)          raise it                           look; absent: OrderOutcomeUnknown
attempts or time run out     raise the last error               OrderOutcomeUnknownError
===========================  =================================  =================================

"look" asks the venue for the order (the seam's ``resolve``) and, while the venue says it has
none, asks again until ``visibility_wait`` seconds have passed: a venue may take a moment to show
an order it has just accepted, so one 404 right after an unclear submit proves nothing. Found ->
return it. Still absent after the bound -> resend with the same id (after a timeout or 5xx),
or ``OrderOutcomeUnknownError`` (after a duplicate-id or other refusal). The lookup itself
failing -> ``OrderOutcomeUnknownError``, whose ``client_order_id`` is the handle to look the order
up later.

Why a 429 is resent: the venue answers 429 before it looks at the order, so nothing was placed;
and if a gateway answered 429 for an order the venue did take, the resend carries the same id and
meets "client_order_id must be unique", which is then looked up instead of being raised as the
caller's reused id. A resend after a 429 can therefore never make a second order.

The protocol runs over a small seam (``PlacementVenue``: one attempt, one lookup) so it can be
tested without HTTP. This module imports ``models``, ``errors`` and ``alpaca.parse`` from the
package; never httpx, the client, risk, storage or sync.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from alpaca_integration.alpaca import parse
from alpaca_integration.errors import (
    AlpacaIntegrationError,
    ApiError,
    DuplicateClientOrderIdError,
    OrderOutcomeUnknownError,
    ParseError,
    RateLimitedError,
    RequestNotSentError,
    ServerError,
    TransportError,
)
from alpaca_integration.models import Order

__all__ = [
    "DEFAULT_VISIBILITY_WAIT",
    "PlacementPolicy",
    "PlacementVenue",
    "accepted_order",
    "look_within_bound",
    "outcome_unknown",
    "place_at_most_once",
]

# The client's one logger, whichever module of the adapter speaks: users filter on one name.
log = logging.getLogger("alpaca_integration.alpaca.client")

_Found = TypeVar("_Found")

# How long a venue may take to show an order it has just accepted, before "not found" is believed.
DEFAULT_VISIBILITY_WAIT = 5.0
_FIRST_LOOK_INTERVAL = 0.5


class PlacementVenue(Protocol):
    """The seam the protocol drives: one attempt, and one lookup of the order."""

    async def send(self) -> Order:
        """One attempt: the accepted order, or a typed error (``RateLimitedError`` after the
        budget paused; ``OrderOutcomeUnknownError`` for an accepted but unreadable answer)."""
        ...

    async def resolve(self, cause: AlpacaIntegrationError) -> Order | None:
        """The order if the venue shows it; None when it shows none; ``OrderOutcomeUnknownError``
        when the lookup fails."""
        ...


class _RetryLike(Protocol):
    """What a placement needs from ``transport.RetryPolicy``."""

    @property
    def max_attempts(self) -> int: ...
    @property
    def max_elapsed(self) -> float: ...
    def delay(self, attempt: int, rng: random.Random) -> float: ...


@dataclass(frozen=True, slots=True)
class PlacementPolicy:
    """Bounds and seams: at most ``max_attempts`` sends within ``max_elapsed`` seconds;
    ``backoff(attempt)`` is the wait before looking up an unclear attempt or resending one that
    was not sent; a lookup that finds nothing is repeated for ``visibility_wait`` seconds."""

    max_attempts: int
    max_elapsed: float
    backoff: Callable[[int], float]
    sleep: Callable[[float], Awaitable[None]]
    clock: Callable[[], float]
    visibility_wait: float = DEFAULT_VISIBILITY_WAIT

    @classmethod
    def from_retry(
        cls,
        retry: _RetryLike,
        rng: random.Random,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
        visibility_wait: float = DEFAULT_VISIBILITY_WAIT,
    ) -> PlacementPolicy:
        return cls(
            max_attempts=retry.max_attempts,
            max_elapsed=retry.max_elapsed,
            backoff=lambda attempt: retry.delay(attempt, rng),
            sleep=sleep,
            clock=clock,
            visibility_wait=visibility_wait,
        )


def accepted_order(body: bytes, client_order_id: str) -> Order:
    """The order from a 2xx answer. The venue has the order whatever its answer says, so an
    answer we cannot read must not look like a failure that a caller could retry into a second
    order: it is an unknown outcome carrying the client_order_id to look it up by."""
    try:
        return parse.parse_order(body)
    except ParseError as exc:
        raise OrderOutcomeUnknownError(
            f"order {client_order_id}: the venue accepted it but its answer could not be read "
            f"({exc}). The order exists: look it up by this client_order_id and never resend "
            "it under a new id",
            client_order_id=client_order_id,
        ) from exc


def outcome_unknown(client_order_id: str, cause: object) -> OrderOutcomeUnknownError:
    """The error for an order that may or may not exist at the venue."""
    return OrderOutcomeUnknownError(
        f"order {client_order_id}: outcome unknown after {cause}. It may or may not exist at "
        "the venue; look it up later by this client_order_id and never resend it under a new "
        "id",
        client_order_id=client_order_id,
    )


async def look_within_bound(
    lookup: Callable[[], Awaitable[_Found | None]], policy: PlacementPolicy
) -> _Found | None:
    """Look the order (or any other trace of a request) up; while the venue shows none, look
    again (0.5 s, then doubling) until ``visibility_wait`` seconds have passed since the first
    look. None: still absent."""
    deadline = policy.clock() + policy.visibility_wait
    interval = _FIRST_LOOK_INTERVAL
    while True:
        found = await lookup()
        remaining = deadline - policy.clock()
        if found is not None or remaining <= 0:
            return found
        await policy.sleep(min(interval, remaining))
        interval *= 2


class _Placement:
    """One run of the protocol: the attempt count and what earlier attempts left unclear."""

    def __init__(self, venue: PlacementVenue, client_order_id: str, policy: PlacementPolicy):
        self.venue = venue
        self.client_order_id = client_order_id
        self.policy = policy
        self.started = policy.clock()
        self.attempt = 0
        self.unknown: AlpacaIntegrationError | None = None  # an earlier attempt's unclear failure
        self.after_429 = False  # a 429 came first: a duplicate id may be our own order

    def attempts_left(self) -> bool:
        elapsed = self.policy.clock() - self.started
        return self.attempt < self.policy.max_attempts and elapsed < self.policy.max_elapsed

    def give_up(self, error: AlpacaIntegrationError) -> AlpacaIntegrationError:
        """What to raise when no attempt is left: the error itself while FRESH, else unknown."""
        if self.unknown is None:
            return error
        return outcome_unknown(self.client_order_id, self.unknown)

    async def on_unclear(self, exc: AlpacaIntegrationError, what: str) -> Order | None:
        """Timeout, reset or 5xx: look (within the bound); None means resend."""
        self.unknown = exc
        log.warning(
            "%s %s: outcome unknown (%s); looking it up",
            what,
            self.client_order_id,
            type(exc).__name__,
        )
        # Give a slow venue a moment to finish the first request before asking.
        await self.policy.sleep(self.policy.backoff(self.attempt))
        found = await look_within_bound(lambda: self.venue.resolve(exc), self.policy)
        if found is not None:
            return found
        if not self.attempts_left():
            raise outcome_unknown(self.client_order_id, exc) from None
        log.info("%s not at the venue: resending with the same id", self.client_order_id)
        return None

    async def on_refusal(self, refusal: ApiError) -> Order:
        """A refusal (duplicate id included) that an earlier attempt may have caused: the order
        if the venue shows it within the bound; else ``OrderOutcomeUnknownError``."""
        cause = self.unknown or refusal
        found = await look_within_bound(lambda: self.venue.resolve(cause), self.policy)
        if found is not None:
            return found
        raise OrderOutcomeUnknownError(
            f"order {self.client_order_id}: an earlier attempt got no clear answer "
            f"({self.unknown or 'a 429'}), then the venue refused the resend ({refusal}), which "
            "that earlier attempt may have caused, and it shows no order under this id yet. It "
            "may exist: look it up later by this client_order_id and never resend it under a "
            "new id",
            client_order_id=self.client_order_id,
        ) from refusal

    async def run(self, what: str) -> Order:
        while True:
            self.attempt += 1
            try:
                return await self.venue.send()
            except RequestNotSentError as exc:
                # Nothing reached the venue: not an unclear outcome, only a failed delivery.
                if not self.attempts_left():
                    raise self.give_up(exc) from None
                await self.policy.sleep(self.policy.backoff(self.attempt))
            except RateLimitedError as exc:
                # Refused before acceptance: the budget now holds requests until the reset.
                self.after_429 = True
                if not self.attempts_left():
                    raise self.give_up(exc) from None
            except DuplicateClientOrderIdError as exc:
                if self.unknown is None and not self.after_429:
                    raise  # the caller reused an id: that is their order, not ours
                return await self.on_refusal(exc)
            except (ServerError, TransportError) as exc:
                found = await self.on_unclear(exc, what)
                if found is not None:
                    return found
            except ApiError as exc:
                if self.unknown is None:
                    raise
                return await self.on_refusal(exc)


async def place_at_most_once(
    venue: PlacementVenue, client_order_id: str, policy: PlacementPolicy, *, what: str = "order"
) -> Order:
    """Run the protocol of the module docstring until the order is known, or raise."""
    return await _Placement(venue, client_order_id, policy).run(what)
