"""Live updates: what changed, per account, as Server-Sent Events.

``LiveFeed`` turns the writer's change notifications into numbered events naming the parts of
the pages that changed (``account``, ``positions``, ``orders``, ``fills``, ``checks``):

* **cache** mode: the cache's own notifications (``cache.subscribe()``): Redis pub/sub, or the
  in-memory cache's queues when the dashboard runs in the monitor's process. The correctness
  tables are not announced on the cache, so the feed also polls their newest ids every
  ``checks_interval`` seconds.
* **poll** mode: when nothing here can see the writer's notifications (a standalone dashboard
  on the in-memory cache, or Redis unreachable), a few indexed reads per account every
  ``poll_interval`` seconds (``summaries.change_stamps``); the page says so.

Events are numbered ``<boot>-<seq>``. A page carries the number current when it was rendered;
a browser that (re)connects sends it back (``Last-Event-ID``, or ``?since=``) and, if anything
for its accounts happened after it (or the server restarted, or the listener fell behind), gets
one event naming every part: the page re-renders its fragments from the store. Nothing is
replayed from memory, so a catch-up is always what the store holds now.

Imports the dashboard's ``summaries`` and the cache's event type; never the client, the sync
engine or the CLI.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING

from alpaca_integration._closing import raise_if_cancelling
from alpaca_integration.dashboard import summaries

if TYPE_CHECKING:
    from alpaca_integration.cache import Cache
    from alpaca_integration.storage import Store

__all__ = [
    "ALL_PARTS",
    "KIND_PARTS",
    "Listener",
    "LiveEvent",
    "LiveFeed",
    "sse_message",
]

log = logging.getLogger(__name__)

ALL_PARTS = frozenset({"account", "positions", "orders", "fills", "checks"})
# The cache's event kinds (cache.base) -> the parts of the pages they change.
KIND_PARTS: dict[str, frozenset[str]] = {
    "account": frozenset({"account"}),
    "positions": frozenset({"positions"}),
    "open_orders": frozenset({"orders"}),
    "orders": frozenset({"orders"}),
    "fills": frozenset({"fills", "positions"}),
    "rebuilt": ALL_PARTS,
}
_HISTORY = 4096
_QUEUE = 256
# Cache notifications of one commit arrive as a burst (account, positions, orders, fills):
# merged into one event if they land within this window.
_COALESCE_SECONDS = 0.005
_RESUBSCRIBE_SECONDS = 5.0

AccountNames = Callable[[], Awaitable[Sequence[str]]]


@dataclass(frozen=True)
class LiveEvent:
    id: str
    kind: str  # "change", "mode" or "closed"
    account: str | None = None
    parts: frozenset[str] = frozenset()
    data: str = ""


def sse_message(event: str, data: str, event_id: str | None = None) -> str:
    """One Server-Sent Events message (``data`` is one line of JSON)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


class Listener:
    """One browser's queue of events for its accounts (None: every account)."""

    def __init__(self, feed: LiveFeed, accounts: frozenset[str] | None) -> None:
        self.feed = feed
        self.accounts = accounts
        self.queue: asyncio.Queue[LiveEvent] = asyncio.Queue(_QUEUE)
        self.fell_behind = False

    def wants(self, account: str | None) -> bool:
        return account is None or self.accounts is None or account in self.accounts

    def deliver(self, event: LiveEvent) -> None:
        if self.queue.full():
            # A browser that stops reading gets one catch-up later, not an unbounded queue.
            self.fell_behind = True
            return
        self.queue.put_nowait(event)

    async def next(self, within: float) -> LiveEvent | None:
        """The next event, a catch-up if this listener fell behind, None after ``within``."""
        if self.fell_behind and self.queue.empty():
            self.fell_behind = False
            return self.feed.catch_up_event()
        try:
            return await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            return None

    async def __aenter__(self) -> Listener:
        self.feed.listeners.add(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.feed.listeners.discard(self)


@dataclass(eq=False, repr=False)
class LiveFeed:
    """Numbered change events for the pages, from the cache or from polling the store."""

    store: Store
    cache: Cache | None
    account_names: AccountNames
    _: KW_ONLY
    mode: str
    poll_interval: float = 1.0
    checks_interval: float = 2.0

    def __post_init__(self) -> None:
        if self.mode not in ("cache", "poll"):
            raise ValueError(f"the live feed's mode is 'cache' or 'poll', not {self.mode!r}")
        if self.mode == "cache" and self.cache is None:
            raise ValueError("the live feed's cache mode needs a cache")
        self.configured_mode = self.mode
        self.boot = secrets.token_hex(4)
        self.seq = 0
        self.listeners: set[Listener] = set()
        self._history: collections.deque[tuple[int, str | None]] = collections.deque(
            maxlen=_HISTORY
        )
        self._pending: dict[str | None, set[str]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._note = ""
        self.closed = False

    # ------------------------------------------------------------------ what the page shows

    @property
    def description(self) -> str:
        """One line for the page: where live updates come from."""
        if self.mode == "cache":
            return "live: the cache's change notifications"
        seconds = f"{self.poll_interval:g} s"
        reason = self._note or (
            "this process cannot see the writer's in-memory cache notifications"
        )
        return f"live: polling the store every {seconds} ({reason})"

    def current_id(self) -> str:
        return f"{self.boot}-{self.seq}"

    def missed(self, since: str | None, accounts: frozenset[str] | None) -> bool:
        """True when a page rendered at event ``since`` is behind for ``accounts``."""
        if not since:
            return False
        boot, _, number = since.partition("-")
        if boot != self.boot or not number.isdigit():
            return True
        seen = int(number)
        if seen >= self.seq:
            return False
        if self._history and seen < self._history[0][0] - 1:
            return True  # older than what the history remembers
        return any(
            seq > seen and (account is None or accounts is None or account in accounts)
            for seq, account in self._history
        )

    def catch_up_event(self) -> LiveEvent:
        return self._event("change", None, ALL_PARTS, numbered=False)

    def mode_event(self) -> LiveEvent:
        payload = json.dumps({"mode": self.mode, "description": self.description})
        return LiveEvent(self.current_id(), "mode", data=payload)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Begin following changes (idempotent; needs a running event loop)."""
        if self._tasks or self.closed:
            return
        self._tasks.append(asyncio.create_task(self._flush_loop(), name="dashboard-live-flush"))
        if self.configured_mode == "cache":
            self._tasks.append(asyncio.create_task(self._cache_loop(), name="dashboard-live-cache"))
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="dashboard-live-poll"))

    async def aclose(self) -> None:
        """Stop following and end every open event stream."""
        self.closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        closing = LiveEvent(self.current_id(), "closed")
        for listener in list(self.listeners):
            with contextlib.suppress(asyncio.QueueFull):
                listener.queue.put_nowait(closing)

    def listen(self, accounts: Iterable[str] | None) -> Listener:
        self.start()
        return Listener(self, None if accounts is None else frozenset(accounts))

    # ------------------------------------------------------------------ publishing

    def _event(
        self, kind: str, account: str | None, parts: Iterable[str], *, numbered: bool = True
    ) -> LiveEvent:
        if numbered:
            self.seq += 1
            self._history.append((self.seq, account))
        ordered = sorted(parts)
        data = json.dumps({"account": account, "parts": ordered})
        return LiveEvent(self.current_id(), kind, account, frozenset(ordered), data)

    def publish(self, account: str | None, parts: Iterable[str]) -> None:
        """Queue a change of ``account`` (None: all); bursts are merged before delivery."""
        self._pending.setdefault(account, set()).update(parts)
        self._wake.set()

    def _broadcast(self, event: LiveEvent) -> None:
        for listener in list(self.listeners):
            if listener.wants(event.account):
                listener.deliver(event)

    async def _flush_loop(self) -> None:
        while True:
            raise_if_cancelling()  # one swallowed below (``_closing``) still ends the loop
            await self._wake.wait()
            await asyncio.sleep(_COALESCE_SECONDS)
            self._wake.clear()
            pending, self._pending = self._pending, {}
            for account, parts in pending.items():
                self._broadcast(self._event("change", account, parts))

    def _set_mode(self, mode: str, note: str = "") -> None:
        if (mode, note) == (self.mode, self._note):
            return
        self.mode, self._note = mode, note
        self._broadcast(self.mode_event())

    # ------------------------------------------------------------------ sources

    async def _cache_loop(self) -> None:
        """Follow the cache's notifications; on a lost subscription, poll until it is back."""
        assert self.cache is not None
        while True:
            raise_if_cancelling()
            try:
                async with self.cache.subscribe(None) as subscription:
                    if self.mode != "cache":
                        self.publish(None, ALL_PARTS)  # whatever the outage hid
                    self._set_mode("cache")
                    async for event in subscription:
                        parts = KIND_PARTS.get(event.kind)
                        if parts:
                            self.publish(event.account or None, parts)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dashboard: cache notifications lost (%s); polling the store", exc)
                self._set_mode("poll", "the cache's notifications are unreachable")
            await asyncio.sleep(_RESUBSCRIBE_SECONDS)

    async def _poll_loop(self) -> None:
        """Compare cheap per-account stamps of the store; in cache mode only the correctness
        tables (the cache announces everything else)."""
        previous: dict[str, summaries.Stamp] = {}
        failing = False
        while True:
            raise_if_cancelling()
            polling_all = self.mode == "poll"
            try:
                names = list(await self.account_names())
                stamps = await summaries.change_stamps(self.store, names)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    log.warning("dashboard: cannot poll the store for changes: %s", exc)
                failing = True
                stamps = previous
            for account, stamp in stamps.items():
                if account not in previous:
                    changed = set(ALL_PARTS) if previous else set()
                else:
                    changed = stamp.changed(previous[account])
                if not polling_all:
                    changed &= {"checks"}
                if changed:
                    self.publish(account, changed)
            previous = stamps
            await asyncio.sleep(self.poll_interval if polling_all else self.checks_interval)

    async def stream(
        self, accounts: frozenset[str] | None, since: str | None, *, keepalive: float = 15.0
    ) -> AsyncIterator[str]:
        """The SSE body for one browser: retry hint, mode, a catch-up if ``since`` is behind,
        then every change for ``accounts`` until the feed closes or the browser leaves."""
        async with self.listen(accounts) as listener:
            yield "retry: 1000\n\n"
            mode = self.mode_event()
            yield sse_message("mode", mode.data, mode.id)
            if self.missed(since, accounts):
                catch_up = self.catch_up_event()
                yield sse_message("change", catch_up.data, catch_up.id)
            while not self.closed:
                event = await listener.next(keepalive)
                if event is None:
                    yield ": keep-alive\n\n"
                    continue
                if event.kind == "closed":
                    return
                yield sse_message(event.kind, event.data, event.id)
