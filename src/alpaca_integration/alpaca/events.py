"""``ActivityEventsStream``: Alpaca's activities event stream (SSE) as an async iterator.

``async for event in stream.events()`` opens ``GET <base>/v2beta1/events/activities`` (with
``since_id`` once an event id is known), decodes the Server-Sent Events (``parse_events``) and
yields one ``ActivityEvent`` (``event_id`` + the ``Fill``/``Activity`` the REST parser makes of
it) per event. Alpaca replays every event after ``since_id`` first, then pushes new ones, so:

* the stream resumes by itself: every reconnect asks for ``since_id = last_event_id`` (the last
  event yielded, or the caller's stored one passed as ``since_id``), and nothing is lost across a
  drop; events seen twice (a replay overlapping what arrived before the drop, or the venue
  sending one twice) are yielded again: the store's upserts are idempotent;
* ``on_connected(resumed)`` is awaited after every (re)connect, once the venue answered 200:
  ``resumed`` is False when no event id was known (no replay: the caller must catch up over
  REST);
* ``on_gap(gap_from, gap_to, reason)`` is awaited for every interval without a working stream
  once it has connected (before the first connect there is nothing to miss: the resume or the
  caller's catch-up covers it);
* ``on_bad_frame(raw, reason)`` is awaited with the bytes of every event that cannot be read; the
  event's id still counts as seen (its replay would be just as unreadable), and the lost event is
  reported as an instant gap (``gap_from == gap_to``). A failing callback is only logged.

With a ``rate_budget`` (the account client's), every connect waits for a slot of the key's
budget, as every REST request does, and its answer's rate-limit headers align that budget (a
429 pauses it, bounded by its ``max_pause``). A drop, a 5xx, a 429 or a network error reconnects with exponential backoff and jitter (never a
tight loop; the venue's ``retry:`` hint is a floor). A connected stream that sends nothing, not
even a heartbeat comment, for ``read_timeout`` seconds is treated as a drop. HTTP 401 raises
``StreamError`` (keys are wrong). HTTP 403 or 404 raises ``ActivityStreamUnavailable``: the
endpoint is a beta that an account or a venue may not offer; the caller falls back to REST paging.

The live venue is refused unless ``allow_live=True``, as for the REST client and the WebSocket.
The secret key travels only in the ``APCA-API-SECRET-KEY`` header, kept in a ``SecretStr``; it
never appears in a repr, a log line or an error.

Imports ``errors``, ``config`` and ``alpaca.{parse_events,stream_rules,ratelimit_base}`` from the
package (``httpx`` for the connection); never the client, storage or sync.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from pydantic import SecretStr

from alpaca_integration import __version__
from alpaca_integration._closing import raise_if_cancelling
from alpaca_integration.alpaca.parse_events import (
    ActivityEvent,
    SseComment,
    SseDecoder,
    parse_activity_event,
)
from alpaca_integration.alpaca.ratelimit_base import Lane, RateBudget, parse_rate_limit_headers
from alpaca_integration.alpaca.stream_rules import (
    BadFrameCallback,
    ClosableStream,
    GapCallback,
    check_positive_seconds,
    equal_jitter,
    refuse_live,
    report_lost_frame,
    required_secret,
    wait_or_closed,
)
from alpaca_integration.config import PAPER_BASE_URL
from alpaca_integration.errors import ConfigError, ParseError, StreamError

__all__ = [
    "ACTIVITIES_EVENTS_PATH",
    "ActivityEventsStream",
    "ActivityStreamUnavailable",
]

log = logging.getLogger(__name__)

ACTIVITIES_EVENTS_PATH = "/v2beta1/events/activities"

ResumedCallback = Callable[[bool], Awaitable[None]]


class ActivityStreamUnavailable(StreamError):
    """The venue does not offer the activities stream to this key (HTTP 403 or 404)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Drop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ActivityEventsStream(ClosableStream):
    """One account's activities event stream, resumed by event id after every reconnect."""

    def __init__(
        self,
        key_id: str,
        secret_key: str | SecretStr,
        base_url: str = PAPER_BASE_URL,
        *,
        since_id: str | None = None,
        on_connected: ResumedCallback | None = None,
        on_gap: GapCallback | None = None,
        on_bad_frame: BadFrameCallback | None = None,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
        read_timeout: float = 60.0,
        connect_timeout: float = 10.0,
        stable_after: float = 30.0,
        allow_live: bool = False,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_budget: RateBudget | None = None,
        venue_now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        secret = required_secret(key_id, secret_key, "the activities event stream")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base URL must be http:// or https://, got {base_url!r}. Fix: ALPACA_BASE_URL",
                setting="ALPACA_BASE_URL",
            )
        refuse_live(
            base_url, allow_live=allow_live, venue="Alpaca's LIVE venue", paper_url=PAPER_BASE_URL
        )
        check_positive_seconds(
            "ActivityEventsStream",
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
        )
        super().__init__()
        self.key_id = key_id
        self._secret = SecretStr(secret)
        self.url = base_url.rstrip("/") + ACTIVITIES_EVENTS_PATH
        self.last_event_id = since_id or None
        self.on_connected = on_connected
        self.on_gap = on_gap
        self.on_bad_frame = on_bad_frame
        self.initial_backoff = initial_backoff
        self.max_backoff = max(max_backoff, initial_backoff)
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.stable_after = stable_after
        self._rng = rng or random.Random()
        self._transport = transport
        self.rate_budget = rate_budget
        # The venue's time by the account client's estimate (``AlpacaClient.venue_now``): a
        # reset is measured on it when an answer has no Date header; None: this host's clock.
        self.venue_now = venue_now
        self.events_received = 0
        self._retry_floor = 0.0
        self._response: httpx.Response | None = None
        self._gap_from: dt.datetime | None = None
        self._gap_reason = ""

    async def _close_connection(self) -> None:
        response = self._response
        if response is not None:
            await response.aclose()

    # ------------------------------------------------------------------ the loop

    async def events(self) -> AsyncIterator[ActivityEvent]:
        """Yield every activity event until ``aclose()``; reconnects and resumes by itself."""
        failures = 0
        headers = {
            "APCA-API-KEY-ID": self.key_id,
            "APCA-API-SECRET-KEY": self._secret.get_secret_value(),
            "User-Agent": f"alpaca-integration/{__version__}",
            "Accept": "text/event-stream",
            "Cache-Control": "no-cache",
        }
        timeout = httpx.Timeout(
            connect=self.connect_timeout, read=self.read_timeout, write=10.0, pool=10.0
        )
        async with httpx.AsyncClient(
            headers=headers, timeout=timeout, transport=self._transport
        ) as http:
            while not self.closed:
                raise_if_cancelling()  # one swallowed below (``_closing``) still ends the loop
                connected_at = time.time()
                try:
                    async for event in self._session(http):
                        yield event
                    reason = "the venue ended the stream"
                except _Drop as drop:
                    reason = drop.reason
                finally:
                    self.connected = False
                    self._response = None
                if self.closed:
                    return
                if self._gap_from is None and self.connects:
                    # The gap starts where the last session was last known to deliver (none
                    # before the first connect: the caller's resume or catch-up covers that).
                    self._gap_from = _utc(self._alive_at or connected_at)
                    self._gap_reason = reason
                if self._alive_at >= connected_at and time.time() - connected_at >= (
                    self.stable_after
                ):
                    failures = 0
                failures += 1
                log.warning("activities stream dropped: %s", reason)
                await self._wait(self._backoff(failures), reason)

    async def _session(self, http: httpx.AsyncClient) -> AsyncIterator[ActivityEvent]:
        params = {"since_id": self.last_event_id} if self.last_event_id else {}
        # Each (re)connect is one request against the key's rate budget (shared, with Redis,
        # by every process using the key), settled once the venue has answered.
        permit = None if self.rate_budget is None else await self.rate_budget.acquire(Lane.READ)
        try:
            async with http.stream("GET", self.url, params=params) as response:
                if permit is not None and self.rate_budget is not None:
                    await self.rate_budget.settle(permit)
                    permit = None
                await self._observe_budget(response)
                self._check_status(response)
                self._response = response
                self.connected = True
                self.connects += 1
                self._alive_at = time.time()
                gap_from, self._gap_from = self._gap_from, None
                if gap_from is not None:
                    self.gaps += 1
                    if self.on_gap is not None:
                        await self.on_gap(gap_from, _utc(self._alive_at), self._gap_reason)
                if self.on_connected is not None:
                    await self.on_connected(bool(params))
                decoder = SseDecoder()
                async for chunk in response.aiter_bytes():
                    self._alive_at = time.time()
                    for message in decoder.feed(chunk):
                        if isinstance(message, SseComment):
                            if "error" in message.text.lower():
                                log.warning("activities stream: the venue says %r", message.text)
                            continue
                        event = await self._event(message.data, message.id)
                        if event is not None:
                            yield event
                    if decoder.retry is not None:
                        self._retry_floor = decoder.retry / 1000
                    if self.closed:
                        return
        except (httpx.TransportError, httpx.StreamError) as exc:
            if self.closed:
                return
            raise _Drop(f"connection lost: {type(exc).__name__}: {exc}") from None
        finally:
            if permit is not None and self.rate_budget is not None:
                await self.rate_budget.settle(permit)

    async def _observe_budget(self, response: httpx.Response) -> None:
        """The connect's answer tells the key's budget what the venue counted, as a REST answer
        does; a 429 pauses every request on the key (bounded by the budget's ``max_pause``)."""
        if self.rate_budget is None:
            return
        now = None if self.venue_now is None else self.venue_now().timestamp()
        limits = parse_rate_limit_headers(response.headers, now=now)
        if limits is not None:
            await self.rate_budget.observe(limits)
        if response.status_code == 429:
            await self.rate_budget.pause_for(limits.reset_in if limits is not None else None)

    def _check_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        if status == 401:
            raise StreamError(
                "the activities event stream refused the keys (HTTP 401): check "
                "ALPACA_API_KEY / ALPACA_SECRET_KEY and ALPACA_BASE_URL"
            )
        if status in (403, 404):
            raise ActivityStreamUnavailable(
                f"the activities event stream (beta, {ACTIVITIES_EVENTS_PATH}) is not available "
                f"to this key (HTTP {status})",
                status=status,
            )
        if status in (400, 422) and self.last_event_id:
            # The venue refuses the id to resume from (unknown, or too old to replay): start
            # afresh without it; on_connected(False) tells the caller to catch up over REST.
            log.error(
                "activities stream: the venue refused since_id %s (HTTP %d); resuming without it",
                self.last_event_id,
                status,
            )
            self.last_event_id = None
            raise _Drop(f"HTTP {status} for since_id")
        if 400 <= status < 500 and status not in (408, 429):
            raise StreamError(f"the activities event stream answered HTTP {status}")
        raise _Drop(f"HTTP {status}")

    async def _event(self, data: str, frame_id: str | None) -> ActivityEvent | None:
        raw = data.encode("utf-8")
        try:
            event = parse_activity_event(raw)
        except ParseError as exc:
            self.bad_frames += 1
            if frame_id:
                # Its replay would be just as unreadable: resume after it.
                self.last_event_id = frame_id
            log.error("activities stream: unreadable event skipped: %s", exc)
            await report_lost_frame(
                raw,
                str(exc),
                f"unreadable activity event skipped: {exc}",
                on_bad_frame=self.on_bad_frame,
                on_gap=self.on_gap,
                stream="activities stream",
            )
            return None
        self.last_event_id = event.event_id
        self.events_received += 1
        self.last_event_at = _utc(self._alive_at)
        return event

    def _backoff(self, failures: int) -> float:
        delay = equal_jitter(failures, self.initial_backoff, self.max_backoff, self._rng)
        return max(delay, self._retry_floor)

    async def _wait(self, delay: float, reason: str) -> None:
        log.info("activities stream: reconnecting in %.1fs (%s)", delay, reason)
        await wait_or_closed(self._closed, delay)


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)
