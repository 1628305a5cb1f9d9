"""``TradeUpdatesStream``: Alpaca's ``trade_updates`` WebSocket as an async iterator of events.

``async for update in stream.updates()`` connects, authenticates, listens and yields each
``TradeUpdate``. On a drop it reconnects by itself with exponential backoff and jitter (never a
tight loop; at least ``unclean_drop_wait`` seconds after an unclean drop, since Alpaca can refuse
a new connection for about 90 s while it still holds the dead one). Alpaca does not replay what
was sent while disconnected, so:

* ``on_gap(gap_from, gap_to, reason)`` is awaited for every interval without a working stream
  (from the last moment the old connection was known alive to the moment the new one listens);
* ``on_connected()`` is awaited after every (re)connect, once listening: run the REST catch-up
  there; events that arrive meanwhile wait in the socket buffer and are yielded afterwards;
* ``on_bad_frame(raw, reason)`` is awaited with the bytes of every frame that cannot be read (not
  JSON/MessagePack, not Alpaca's shape, an unknown order status inside a trade update), so the
  caller can quarantine it; then the lost event is reported as an instant gap
  (``gap_from == gap_to``). A failing ``on_bad_frame`` is logged and never ends the stream.

A connected-but-silent stream is detected with WebSocket pings: no pong within ``ping_timeout``
seconds is treated as a drop. ``last_event_at`` is when the last trade update arrived.
``aclose()`` closes the connection cleanly and ends the iteration. A refused authorization raises
``StreamError`` (keys are wrong: retrying would not help).

The live venue's stream (on api.alpaca.markets) is refused unless ``allow_live=True``, as for the
REST client.

The secret key is sent in the authenticate message and kept in a ``SecretStr``; it never appears in
a repr, a log line or an error.

This module imports ``models``, ``errors``, ``config``, ``alpaca.parse`` and ``alpaca.stream_rules``
(the rules it shares with the activities event stream) from the package (``websockets`` for the
socket); never the client, storage or sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from alpaca_integration import __version__
from alpaca_integration._closing import cancel_and_wait, raise_if_cancelling
from alpaca_integration.alpaca.parse import (
    StreamAuthorization,
    StreamListening,
    StreamTradeUpdate,
    decode_stream_frame,
    encode_stream_auth,
    encode_stream_listen,
)
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
from alpaca_integration.config import PAPER_BASE_URL, derive_stream_url
from alpaca_integration.errors import ConfigError, ParseError, StreamError
from alpaca_integration.models import TradeUpdate

__all__ = [
    "BadFrameCallback",
    "ConnectedCallback",
    "GapCallback",
    "TradeUpdatesStream",
]

log = logging.getLogger(__name__)

ConnectedCallback = Callable[[], Awaitable[None]]

_CLEAN_CLOSE_CODES = frozenset({1000, 1001})


class _Drop(Exception):
    """The current connection is gone; ``reason`` says how, ``clean`` whether it said goodbye."""

    def __init__(self, reason: str, *, clean: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.clean = clean


class TradeUpdatesStream(ClosableStream):
    """One account's trade_updates stream with automatic, gap-reporting reconnection."""

    def __init__(
        self,
        key_id: str,
        secret_key: str | SecretStr,
        url: str,
        *,
        msgpack: bool = False,
        on_connected: ConnectedCallback | None = None,
        on_gap: GapCallback | None = None,
        on_bad_frame: BadFrameCallback | None = None,
        initial_backoff: float = 2.0,
        max_backoff: float = 90.0,
        unclean_drop_wait: float = 10.0,
        ping_interval: float = 20.0,
        ping_timeout: float = 20.0,
        handshake_timeout: float = 10.0,
        stable_after: float = 30.0,
        allow_live: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        secret = required_secret(key_id, secret_key, "the trade_updates stream")
        if not url.startswith(("ws://", "wss://")):
            raise ConfigError(
                f"stream URL must be ws:// or wss://, got {url!r}. Fix: set ALPACA_STREAM_URL, "
                "or unset it to derive it from ALPACA_BASE_URL",
                setting="ALPACA_STREAM_URL",
            )
        refuse_live(
            url,
            allow_live=allow_live,
            venue="the stream of Alpaca's LIVE venue",
            paper_url=derive_stream_url(PAPER_BASE_URL),
        )
        check_positive_seconds(
            "TradeUpdatesStream",
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            handshake_timeout=handshake_timeout,
        )
        if unclean_drop_wait < 0:
            raise ConfigError("TradeUpdatesStream unclean_drop_wait must be >= 0 seconds")
        super().__init__()
        self.key_id = key_id
        self._secret = SecretStr(secret)
        self.url = url
        self.msgpack = msgpack
        self.on_connected = on_connected
        self.on_gap = on_gap
        self.on_bad_frame = on_bad_frame
        self.initial_backoff = initial_backoff
        self.max_backoff = max(max_backoff, initial_backoff)
        self.unclean_drop_wait = unclean_drop_wait
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.handshake_timeout = handshake_timeout
        self.stable_after = stable_after
        self._rng = rng or random.Random()
        self._ws: ClientConnection | None = None
        self._silent_reason: str | None = None

    # ------------------------------------------------------------------ public

    async def _close_connection(self) -> None:
        ws = self._ws
        if ws is not None:
            await ws.close()  # cleanly; ``updates()`` ends

    async def updates(self) -> AsyncIterator[TradeUpdate]:
        """Yield every trade update until ``aclose()``; reconnects (and reports gaps) by itself."""
        failures = 0
        gap_from: dt.datetime | None = None
        gap_reason = ""
        while not self.closed:
            raise_if_cancelling()  # one swallowed below (``_closing``) still ends the loop
            try:
                ws = await self._open()
            except _Drop as refused:
                if self.closed:
                    return
                failures += 1
                if gap_from is None and self.connects:
                    gap_from, gap_reason = self._alive_time(), refused.reason
                await self._wait(self._backoff(failures, clean=refused.clean), refused.reason)
                continue
            connected_at = time.time()
            self._ws = ws
            self.connected = True
            self.connects += 1
            self._alive_at = connected_at
            keepalive = asyncio.create_task(self._keepalive(ws))
            ended: _Drop | None = None
            try:
                if gap_from is not None:
                    self.gaps += 1
                    if self.on_gap is not None:
                        await self.on_gap(gap_from, _utc(connected_at), gap_reason)
                    gap_from = None
                if self.on_connected is not None:
                    await self.on_connected()
                while True:
                    update = await self._next_update(ws)
                    if update is None:
                        break
                    yield update
            except _Drop as exc:
                ended = exc
            finally:
                self.connected = False
                self._ws = None
                try:
                    await cancel_and_wait(keepalive)
                finally:  # closed whatever happens while the keepalive stops
                    with contextlib.suppress(Exception):
                        await ws.close()
            if self.closed:
                return
            if ended is None:
                ended = _Drop("connection ended", clean=True)
            if time.time() - connected_at >= self.stable_after:
                failures = 0
            failures += 1
            gap_from, gap_reason = self._alive_time(), ended.reason
            log.warning("trade_updates stream dropped: %s", ended.reason)
            await self._wait(self._backoff(failures, clean=ended.clean), ended.reason)

    # ------------------------------------------------------------------ internals

    def _alive_time(self) -> dt.datetime:
        return _utc(self._alive_at or time.time())

    def _backoff(self, failures: int, *, clean: bool) -> float:
        # "Equal jitter": spread reconnects out, but never below half the step (no tight loop).
        delay = equal_jitter(failures, self.initial_backoff, self.max_backoff, self._rng)
        if not clean:
            delay = max(delay, self.unclean_drop_wait)
        return delay

    async def _wait(self, delay: float, reason: str) -> None:
        log.info("trade_updates: reconnecting in %.1fs (%s)", delay, reason)
        await wait_or_closed(self._closed, delay)

    async def _open(self) -> ClientConnection:
        """Connect, authenticate and listen; a ``_Drop`` for anything worth retrying."""
        headers = {"Content-Type": "application/msgpack"} if self.msgpack else None
        try:
            ws = await connect(
                self.url,
                additional_headers=headers,
                user_agent_header=f"alpaca-integration/{__version__}",
                open_timeout=self.handshake_timeout,
                ping_interval=None,  # our own keepalive knows when the link was last alive
                close_timeout=2.0,
                max_size=2**24,
            )
        except InvalidURI as exc:
            raise ConfigError(f"invalid stream URL {self.url!r}: {exc}") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise _Drop(f"connect failed: {type(exc).__name__}: {exc}", clean=True) from None
        try:
            await self._handshake(ws)
        except StreamError:
            with contextlib.suppress(Exception):
                await ws.close()
            raise
        except (ConnectionClosed, OSError, TimeoutError, ParseError) as exc:
            with contextlib.suppress(Exception):
                await ws.close()
            raise _Drop(f"handshake failed: {type(exc).__name__}: {exc}", clean=False) from None
        return ws

    async def _handshake(self, ws: ClientConnection) -> None:
        async with asyncio.timeout(self.handshake_timeout):
            await ws.send(encode_stream_auth(self.key_id, self._secret.get_secret_value()).decode())
            while True:
                message = decode_stream_frame(await ws.recv())
                if isinstance(message, StreamAuthorization):
                    if message.status != "authorized":
                        raise StreamError(
                            f"trade_updates refused authorization ({message.status}): check "
                            "ALPACA_API_KEY / ALPACA_SECRET_KEY and the stream URL"
                        )
                    break
            await ws.send(encode_stream_listen().decode())
            while True:
                message = decode_stream_frame(await ws.recv())
                if isinstance(message, StreamListening) and "trade_updates" in message.streams:
                    return

    async def _next_update(self, ws: ClientConnection) -> TradeUpdate | None:
        """The next trade update; None once ``aclose()`` closed the connection."""
        while True:
            try:
                frame = await ws.recv()
            except ConnectionClosed as exc:
                if self.closed:
                    return None
                raise self._drop_from(exc) from None
            except OSError as exc:
                raise _Drop(f"connection lost: {type(exc).__name__}", clean=False) from None
            self._alive_at = time.time()
            try:
                message = decode_stream_frame(frame)
            except ParseError as exc:
                log.error("trade_updates: unreadable event skipped: %s", exc)
                self.bad_frames += 1
                # A lost event is a gap: report it so the catch-up re-reads the venue.
                await report_lost_frame(
                    frame,
                    str(exc),
                    f"unreadable event skipped: {exc}",
                    on_bad_frame=self.on_bad_frame,
                    on_gap=self.on_gap,
                    stream="trade_updates",
                )
                continue
            if isinstance(message, StreamTradeUpdate):
                self.last_event_at = _utc(self._alive_at)
                return message.update
            elif isinstance(message, StreamAuthorization) and message.status != "authorized":
                raise StreamError(f"trade_updates authorization revoked ({message.status})")

    def _drop_from(self, exc: ConnectionClosed) -> _Drop:
        if self._silent_reason is not None:
            reason, self._silent_reason = self._silent_reason, None
            return _Drop(reason, clean=False)
        received = exc.rcvd
        if received is not None:
            clean = received.code in _CLEAN_CLOSE_CODES
            text = f": {received.reason}" if received.reason else ""
            return _Drop(f"closed by the venue (code {received.code}{text})", clean=clean)
        return _Drop("connection lost without a close frame", clean=False)

    async def _keepalive(self, ws: ClientConnection) -> None:
        """Ping every ``ping_interval``; no pong within ``ping_timeout`` means a silent drop."""
        while True:
            raise_if_cancelling()
            await asyncio.sleep(self.ping_interval)
            sent_at = time.time()
            try:
                pong = await ws.ping()
                await asyncio.wait_for(pong, timeout=self.ping_timeout)
            except TimeoutError:
                self._silent_reason = (
                    f"silent: no pong within {self.ping_timeout:g}s of a ping (connection open "
                    "but not delivering)"
                )
                log.warning("trade_updates: %s", self._silent_reason)
                # No close handshake with a peer that does not answer: cut the connection.
                ws.transport.abort()
                return
            except ConnectionClosed:
                return
            # Everything the venue sent before this pong has been received (one ordered stream).
            self._alive_at = max(self._alive_at, sent_at)


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)
