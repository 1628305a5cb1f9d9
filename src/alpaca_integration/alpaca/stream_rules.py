"""The rules both real-time connections share: the trade_updates WebSocket (``stream``) and the
activities event stream (``events``).

* ``required_secret``: both keys are needed; the secret comes back as plain text for the
  caller to keep in a ``SecretStr``;
* ``refuse_live``: a URL of Alpaca's live venue is refused without the explicit opt-in;
* ``check_positive_seconds``: every timing setting is > 0;
* ``equal_jitter``: the reconnect backoff, exponential with "equal jitter" (between half and all
  of ``min(maximum, initial * 2**(failures-1))``), never a tight loop;
* ``wait_or_closed``: sleep that long, or less if the connection is closed meanwhile;
* ``ClosableStream``: ``async with`` closes it, ``closed`` says whether ``aclose()`` ran; the
  counters and the ``repr`` both streams keep;
* ``report_lost_frame``: an unreadable frame goes to ``on_bad_frame`` (a failing callback is
  only logged: keeping the stream alive matters more than one quarantine row), then the lost
  event is reported to ``on_gap`` as an instant gap, so the caller re-reads the venue.

Imports ``config`` and ``errors`` from the package.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Awaitable, Callable

from pydantic import SecretStr

from alpaca_integration._closing import AsyncClosing
from alpaca_integration.config import is_live_url
from alpaca_integration.errors import ConfigError

__all__ = [
    "BadFrameCallback",
    "ClosableStream",
    "GapCallback",
    "check_positive_seconds",
    "equal_jitter",
    "refuse_live",
    "report_lost_frame",
    "required_secret",
    "wait_or_closed",
]

log = logging.getLogger("alpaca_integration.alpaca.stream")

GapCallback = Callable[[dt.datetime, dt.datetime, str], Awaitable[None]]
BadFrameCallback = Callable[[bytes, str], Awaitable[None]]


class ClosableStream(AsyncClosing):
    """A reconnecting connection ``aclose()`` ends (setting ``_closed``); usable as ``async with``.

    Holds what both streams count and show: whether connected, connects, gaps, unreadable
    frames, the time of the last event, and ``_alive_at``, the last moment the connection was
    known to deliver (UNIX time)."""

    url: str

    def __init__(self) -> None:
        self.connected = False
        self.connects = 0
        self.gaps = 0
        self.bad_frames = 0
        self.last_event_at: dt.datetime | None = None
        self._closed = asyncio.Event()
        self._alive_at = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, connected={self.connected})"

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def aclose(self) -> None:
        """End the iteration and close the connection (a failure to close is ignored)."""
        self._closed.set()
        with contextlib.suppress(Exception):
            await self._close_connection()

    async def _close_connection(self) -> None:
        """Close the open connection, if any (each stream knows its own)."""


def required_secret(key_id: str, secret_key: str | SecretStr, what: str) -> str:
    """The secret as text, or ``ConfigError`` naming the missing key."""
    secret = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
    if not key_id or not secret:
        raise ConfigError(
            f"{what} needs ALPACA_API_KEY and ALPACA_SECRET_KEY",
            setting="ALPACA_API_KEY" if not key_id else "ALPACA_SECRET_KEY",
        )
    return secret


def refuse_live(url: str, *, allow_live: bool, venue: str, paper_url: str) -> None:
    """``ConfigError`` when ``url`` is Alpaca's live venue and ``allow_live`` is not set."""
    if allow_live or not is_live_url(url):
        return
    raise ConfigError(
        f"{url} is {venue}: real money would be at stake. Use {paper_url} for paper trading, or "
        "opt in to live trading explicitly: allow_live=True here, ALPACA_ALLOW_LIVE=true in the "
        "environment, or allow_live = true in the account's table of the accounts file",
        setting="ALPACA_ALLOW_LIVE",
    )


def check_positive_seconds(owner: str, **seconds: float) -> None:
    for name, value in seconds.items():
        if value <= 0:
            raise ConfigError(f"{owner} {name} must be > 0 seconds, got {value}")


def equal_jitter(failures: int, initial: float, maximum: float, rng: random.Random) -> float:
    ceiling = min(maximum, initial * (2.0 ** max(failures - 1, 0)))
    return ceiling / 2 + rng.uniform(0.0, ceiling / 2)


async def wait_or_closed(closed: asyncio.Event, delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closed.wait(), timeout=delay)


async def report_lost_frame(
    frame: bytes | str,
    reason: str,
    gap_reason: str,
    *,
    on_bad_frame: BadFrameCallback | None,
    on_gap: GapCallback | None,
    stream: str,
) -> None:
    """``on_bad_frame(raw, reason)`` (failure logged), then ``on_gap(now, now, gap_reason)``."""
    if on_bad_frame is not None:
        raw = frame.encode("utf-8") if isinstance(frame, str) else bytes(frame)
        try:
            await on_bad_frame(raw, reason)
        except Exception:
            log.exception("%s: on_bad_frame failed for an unreadable frame", stream)
    if on_gap is not None:
        now = dt.datetime.fromtimestamp(time.time(), dt.UTC)
        await on_gap(now, now, gap_reason)
