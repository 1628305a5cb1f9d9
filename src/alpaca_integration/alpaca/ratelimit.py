"""The request budget for one Alpaca API key: wait for a slot instead of drawing a 429.

Alpaca allows a number of requests per minute per API key (200 by default). A ``RateBudget`` admits
each request before it is sent and makes the caller wait (``await acquire(lane)``) when the window
is full. Three implementations share one behaviour:

* ``InMemoryRateBudget``: one process (the default). Clock and sleep are injectable for tests.
* ``RedisRateBudget``: every process using the same key shares one window through Redis
  (``ALPACA_REDIS_URL``).
* ``UnlimitedRateBudget``: no local limit (benchmarks, a venue with the limit off); still honours a
  pause after a 429.

The window is a *moving* window: at most ``limit`` admissions in any ``window`` seconds. That is
never more than a fixed per-minute window or a token bucket of the same size would accept, so it is
safe whatever the venue counts with. Each admission is re-stamped when its answer arrives
(``settle``), so latency cannot make the venue see more requests in a window than we did.

**Order lane.** ``Lane.READ`` requests may use at most ``limit - order_reserve`` of the window;
``Lane.ORDER`` (submit, replace, cancel, close) may use all of it. Monitoring polls therefore can
never take the last ``order_reserve`` slots, and an order always finds one within a window.

**Keeping in step with the venue.** ``observe(headers)`` reads ``X-RateLimit-Limit/Remaining/
Reset`` from every answer: if the venue has counted more requests than we have (another program
uses the key), the difference is added as used slots that free up at the venue's reset; when the
venue says nothing remains, admissions pause until that reset. ``pause_for`` after a 429 does the
same with the reset from the 429's headers.

**Clocks.** Windows and pauses run on a monotonic clock (Redis: the server's ``TIME``, guarded
against steps); the venue's reset is read against the venue's own clock (the answer's ``Date``),
and a pause never lasts longer than ``max_pause`` (``DEFAULT_MAX_PAUSE``, 10 s). Details in
``ratelimit_base``.

**Why hand-written Lua and not the ``limits`` library** for the shared window: ``limits``' moving
window trims its list to the caller's limit on every hit, so two lanes with different limits on one
key would erase each other's entries (a read hit at 180 drops the entries an order needs to count
to 200); it stamps entries with each host's own clock (skewed hosts would disagree on the window);
it cannot re-stamp an entry when the answer arrives, nor add slots that expire at the venue's reset;
and a refusal does not say how long to wait (a second round trip). The scripts in
``ratelimit_redis`` are short, atomic, and use the Redis server's ``TIME`` as the one clock.

This module is the one import path for the budget (the classes live in ``ratelimit_base``,
``ratelimit_local`` and ``ratelimit_redis``). It imports only ``errors`` and those modules from the
package (``redis`` lazily, when a Redis budget is made).
"""

from __future__ import annotations

import weakref

from alpaca_integration.alpaca import ratelimit_base as _base
from alpaca_integration.alpaca import ratelimit_local as _local
from alpaca_integration.alpaca.ratelimit_base import *  # noqa: F403  (the shared behaviour)
from alpaca_integration.alpaca.ratelimit_base import (
    DEFAULT_RATE_LIMIT,
    DEFAULT_WINDOW_SECONDS,
    RateBudget,
)
from alpaca_integration.alpaca.ratelimit_local import *  # noqa: F403  (the in-process budgets)
from alpaca_integration.alpaca.ratelimit_local import InMemoryRateBudget, UnlimitedRateBudget
from alpaca_integration.alpaca.ratelimit_redis import RedisRateBudget, key_digest

__all__ = [*_base.__all__, *_local.__all__, "RedisRateBudget", "make_rate_budget"]


# In-process budgets by key: two clients for one key in one process draw on one window. Weak, so
# a budget goes away with its last client.
_LOCAL_BUDGETS: weakref.WeakValueDictionary[tuple[object, ...], RateBudget] = (
    weakref.WeakValueDictionary()
)


def make_rate_budget(
    key_id: str,
    *,
    limit: int | None = DEFAULT_RATE_LIMIT,
    window: float = DEFAULT_WINDOW_SECONDS,
    order_reserve: int | None = None,
    redis_url: str | None = None,
    redis_key_prefix: str = "alpaca_integration:ratelimit",
    shared: bool = True,
) -> RateBudget:
    """The budget for one key: shared through Redis when ``redis_url`` is set, else in-process
    (one per key and settings in this process unless ``shared=False``); ``limit=None`` or ``0``
    turns the local limit off (the 429 pause still applies)."""
    if not redis_url:
        identity = (key_digest(key_id), limit or None, window, order_reserve)
        existing = _LOCAL_BUDGETS.get(identity) if shared else None
        if existing is not None:
            return existing
        local: RateBudget = (
            UnlimitedRateBudget()
            if not limit
            else InMemoryRateBudget(limit, window, order_reserve=order_reserve)
        )
        if shared:
            _LOCAL_BUDGETS[identity] = local
        return local
    if not limit:
        return UnlimitedRateBudget()
    return RedisRateBudget(
        redis_url,
        key_id,
        limit,
        window,
        order_reserve=order_reserve,
        key_prefix=redis_key_prefix,
    )
