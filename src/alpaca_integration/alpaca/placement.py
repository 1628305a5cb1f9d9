"""Placing an order at most once: the protocol ``submit_order`` and ``replace_order`` run.

The order's ``client_order_id`` is fixed before the first attempt. Alpaca keeps client order ids
unique per account forever, so a resend under the same id can never create a second order: the
id is the idempotency key. What the protocol must never do is give up on an order that may exist
as if it did not (the caller would place it again under a new id).

State: FRESH until an attempt's outcome is unclear, then UNCLEAR (an earlier attempt may have
created the order). Each attempt's outcome decides the next step:

==========================  ==================================  ==================================
outcome of the attempt      FRESH                               UNCLEAR
==========================  ==================================  ==================================
2xx, order readable         return it                           return it
2xx, answer unreadable      OrderOutcomeUnknownError (exists)   OrderOutcomeUnknownError (exists)
429                         resend (same id) after the pause    resend (same id) after the pause
timeout, reset, 5xx         -> UNCLEAR; back off; resolve       back off; resolve
duplicate client_order_id   raise it (the caller reused an id)  resolve
other refusal (4xx)         raise it                            resolve; absent: raise it
attempts or time run out    raise the last error                OrderOutcomeUnknownError
==========================  ==================================  ==================================

"resolve" asks the venue for the order (the seam's ``resolve``): found -> return it; verifiably
absent -> resend with the same id (or, after a refusal, raise it); the lookup fails ->
``OrderOutcomeUnknownError``, whose ``client_order_id`` is the handle to look it up later.

The protocol runs over a small seam (``PlacementVenue``: one attempt, one resolution) so it can be
tested without HTTP. This module imports ``models``, ``errors`` and ``alpaca.parse`` from the
package; never httpx, the client, risk, storage or sync.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from alpaca_integration.alpaca import parse
from alpaca_integration.errors import (
    AlpacaIntegrationError,
    ApiError,
    DuplicateClientOrderIdError,
    OrderOutcomeUnknownError,
    ParseError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from alpaca_integration.models import Order

__all__ = [
    "PlacementPolicy",
    "PlacementVenue",
    "accepted_order",
    "outcome_unknown",
    "place_at_most_once",
]

# The client's one logger, whichever module of the adapter speaks: users filter on one name.
log = logging.getLogger("alpaca_integration.alpaca.client")


class PlacementVenue(Protocol):
    """The seam the protocol drives: one attempt, and the resolution of an unclear one."""

    async def send(self) -> Order:
        """One attempt: the accepted order, or a typed error (``RateLimitedError`` after the
        budget paused; ``OrderOutcomeUnknownError`` for an accepted but unreadable answer)."""
        ...

    async def resolve(self, cause: AlpacaIntegrationError) -> Order | None:
        """The order if the venue has it; None when it verifiably has not;
        ``OrderOutcomeUnknownError`` when that cannot be told."""
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
    ``backoff(attempt)`` is the wait before resolving an unclear attempt."""

    max_attempts: int
    max_elapsed: float
    backoff: Callable[[int], float]
    sleep: Callable[[float], Awaitable[None]]
    clock: Callable[[], float]

    @classmethod
    def from_retry(
        cls,
        retry: _RetryLike,
        rng: random.Random,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
    ) -> PlacementPolicy:
        return cls(
            max_attempts=retry.max_attempts,
            max_elapsed=retry.max_elapsed,
            backoff=lambda attempt: retry.delay(attempt, rng),
            sleep=sleep,
            clock=clock,
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


async def place_at_most_once(
    venue: PlacementVenue, client_order_id: str, policy: PlacementPolicy, *, what: str = "order"
) -> Order:
    """Run the protocol of the module docstring until the order is known, or raise."""
    started = policy.clock()
    attempt = 0
    unknown: AlpacaIntegrationError | None = None  # an earlier attempt's unclear failure

    def attempts_left() -> bool:
        return attempt < policy.max_attempts and policy.clock() - started < policy.max_elapsed

    while True:
        attempt += 1
        try:
            return await venue.send()
        except RateLimitedError:
            # Refused before acceptance: the budget now holds requests until the reset.
            if attempts_left():
                continue
            if unknown is None:
                raise
            raise outcome_unknown(client_order_id, unknown) from None
        except DuplicateClientOrderIdError:
            if unknown is None:
                raise  # the caller reused an id: that is their order, not ours
            found = await venue.resolve(unknown)
            if found is not None:
                return found
            raise outcome_unknown(client_order_id, unknown) from None
        except (ServerError, TransportError) as exc:
            unknown = exc
            log.warning(
                "%s %s: outcome unknown (%s); looking it up",
                what,
                client_order_id,
                type(exc).__name__,
            )
            # Give a slow venue a moment to finish the first request before asking.
            await policy.sleep(policy.backoff(attempt))
            found = await venue.resolve(exc)
            if found is not None:
                return found
            if not attempts_left():
                raise outcome_unknown(client_order_id, exc) from None
            log.info("%s not at the venue: resending with the same id", client_order_id)
        except ApiError:
            if unknown is None:
                raise
            # A refusal after an unclear attempt can be caused by that attempt's order
            # (e.g. it used the buying power): look once more before reporting it.
            found = await venue.resolve(unknown)
            if found is not None:
                return found
            raise
