"""The cache interface (``Cache``) and what its implementations share.

What the cache holds for each account, under ``{prefix}:{account}:`` (prefix ``alpaca`` unless
configured):

==================  ======  ====================================================================
key                 type    content
==================  ======  ====================================================================
``account``         string  the latest account snapshot (JSON)
``positions``       hash    symbol -> position (JSON)
``open_orders``     hash    order id -> order (JSON); legs are entries of their own
``meta``            hash    part (``account``, ``positions``, ``open_orders``) -> when it was
                            last written in full (RFC 3339); a part missing here is unknown
==================  ======  ====================================================================

Every key of an account expires ``ttl`` seconds after the account's last write (default one
hour), so a cache nobody updates empties instead of going stale. Every change is announced on
the channel ``{prefix}:{account}:events`` as JSON ``{"kind", "account", "ids", "at", ...}``
(kinds: ``account``, ``positions``, ``open_orders``, ``orders``, ``rebuilt``, and whatever
``publish`` is given). Models are JSON as msgspec writes them (decimals as strings, times in RFC
3339) without their raw venue payload.

Writes never raise and never wait longer than the implementation's short timeout: they return
False when the cache could not take them and mark the parts they touched stale; the next full
write of a part, or ``rebuild`` (see ``cache.rebuild.rebuild_from_store``), makes it fresh again.

Imports ``models`` and ``errors`` from the package; never the store, the client or the CLI.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from alpaca_integration._closing import AsyncClosing
from alpaca_integration.models import AccountSnapshot, Order, Position

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_TTL",
    "PARTS",
    "Cache",
    "CacheEvent",
    "CacheKeys",
    "Change",
    "Subscription",
    "decode_event",
    "encode_event",
]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "alpaca"
DEFAULT_TTL = 3600.0
PARTS = ("account", "positions", "open_orders")

_encoder = msgspec.json.Encoder(decimal_format="string")
_snapshot_decoder = msgspec.json.Decoder(AccountSnapshot)
_position_decoder = msgspec.json.Decoder(Position)
_order_decoder = msgspec.json.Decoder(Order)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not value or value != value.strip() or " " in value:
        raise ValueError(f"{what} must be non-empty text without spaces, got {value!r}")
    return value


class _Key:
    """One key of ``CacheKeys``: ``<prefix>:<account>:<part>``."""

    def __init__(self, part: str) -> None:
        self.part = part

    def __get__(self, keys: CacheKeys, owner: type[CacheKeys] | None = None) -> str:
        return f"{keys.prefix}:{keys.account}:{self.part}"


@dataclass(frozen=True)
class CacheKeys:
    """The key names of one account."""

    prefix: str
    account: str

    snapshot = _Key("account")
    positions = _Key("positions")
    open_orders = _Key("open_orders")
    meta = _Key("meta")
    events = _Key("events")

    @property
    def data_keys(self) -> tuple[str, str, str, str]:
        return (self.snapshot, self.positions, self.open_orders, self.meta)


class CacheEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One change notification: its kind, the account, the ids it concerns (order ids,
    symbols), when it was published, and any further keys of the message in ``data``."""

    kind: str
    account: str
    ids: tuple[str, ...] = ()
    at: dt.datetime
    data: dict[str, Any] = msgspec.field(default_factory=dict)


def encode_event(event: CacheEvent) -> bytes:
    message: dict[str, Any] = dict(event.data)
    message.update(
        kind=event.kind, account=event.account, ids=list(event.ids), at=event.at.isoformat()
    )
    return _encoder.encode(message)


def decode_event(payload: bytes | str) -> CacheEvent:
    """A channel message back into a ``CacheEvent`` (unknown keys kept in ``data``)."""
    message = msgspec.json.decode(payload)
    if not isinstance(message, dict) or "kind" not in message:
        raise ValueError("a cache event is a JSON object with a 'kind'")
    kind = str(message.pop("kind"))
    account = str(message.pop("account", ""))
    ids = tuple(str(i) for i in message.pop("ids", ()) or ())
    at_text = message.pop("at", None)
    at = dt.datetime.fromisoformat(at_text) if isinstance(at_text, str) else _utcnow()
    return CacheEvent(kind=kind, account=account, ids=ids, at=at, data=message)


def _encode_model(model: Any) -> bytes:
    # The raw venue payload stays in the store: the cache holds the figures.
    return _encoder.encode(msgspec.structs.replace(model, raw=b""))


def _flatten(orders: Iterable[Order]) -> list[Order]:
    flat: list[Order] = []
    for order in orders:
        for one in order.flatten():
            flat.append(msgspec.structs.replace(one, legs=()) if one.legs else one)
    return flat


@dataclass
class Change:
    """One atomic change of one account's cached state (what an implementation commits).

    ``snapshot``: new account JSON (``b""`` deletes it; None leaves it). ``positions`` /
    ``open_orders``: full replacements (None leaves them). ``orders_set`` / ``orders_removed``:
    incremental changes of open_orders. ``complete``: parts now written in full (stamped in
    meta). ``invalidate``: parts to mark unknown (they missed a write). ``events``: the
    messages, published in order after the writes.
    """

    account: str
    snapshot: bytes | None = None
    positions: dict[str, bytes] | None = None
    open_orders: dict[str, bytes] | None = None
    orders_set: dict[str, bytes] = field(default_factory=dict)
    orders_removed: list[str] = field(default_factory=list)
    complete: tuple[str, ...] = ()
    invalidate: tuple[str, ...] = ()
    events: list[bytes] = field(default_factory=list)

    @property
    def touches(self) -> set[str]:
        parts: set[str] = set(self.complete)
        if self.orders_set or self.orders_removed:
            parts.add("open_orders")
        return parts


class Subscription(abc.ABC):
    """Change notifications of one account (or all): ``async with cache.subscribe(account) as
    events: async for event in events: ...``."""

    @abc.abstractmethod
    async def __aenter__(self) -> Subscription: ...

    @abc.abstractmethod
    async def __aexit__(self, *exc: object) -> None: ...

    def __aiter__(self) -> AsyncIterator[CacheEvent]:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> CacheEvent: ...

    async def next_event(self, within: float | None = None) -> CacheEvent | None:
        """The next event, or None when none arrives within ``within`` seconds."""
        import asyncio

        try:
            return await asyncio.wait_for(self.__anext__(), within)
        except TimeoutError:
            return None


class Cache(AsyncClosing):
    """Latest account snapshot, positions and open orders per account, with change events.

    Writes return True when the cache took them, False when it could not (the parts they touched
    are then stale until rewritten in full or rebuilt); they never raise for a cache outage.
    Reads return None when the part is not known (never written, expired, lost or stale).
    """

    def __init__(self, *, prefix: str = DEFAULT_PREFIX, ttl: float = DEFAULT_TTL) -> None:
        self.prefix = _check_name("the cache prefix", prefix)
        if ttl <= 0:
            raise ValueError(f"the cache ttl must be > 0 seconds, got {ttl}")
        self.ttl = float(ttl)
        self._stale: dict[str, set[str]] = {}

    def keys(self, account: str) -> CacheKeys:
        """The key and channel names of ``account``."""
        return CacheKeys(self.prefix, _check_name("the account", account))

    # ------------------------------------------------------------------ writes

    async def set_account(self, account: str, snapshot: AccountSnapshot | None) -> bool:
        """Replace the cached account snapshot (None clears it)."""
        change = Change(
            account,
            snapshot=b"" if snapshot is None else _encode_model(snapshot),
            complete=("account",),
        )
        return await self._submit(change, ("account", ()))

    async def set_positions(self, account: str, positions: Iterable[Position]) -> bool:
        """Replace the cached positions with this full set."""
        entries = {p.symbol: _encode_model(p) for p in positions}
        change = Change(account, positions=entries, complete=("positions",))
        return await self._submit(change, ("positions", sorted(entries)))

    async def set_open_orders(self, account: str, orders: Iterable[Order]) -> bool:
        """Replace the cached open orders with this full set (legs flattened)."""
        entries = {o.id: _encode_model(o) for o in _flatten(orders) if o.status.is_open}
        change = Change(account, open_orders=entries, complete=("open_orders",))
        return await self._submit(change, ("open_orders", sorted(entries)))

    async def update_orders(self, account: str, orders: Iterable[Order]) -> bool:
        """Apply order updates: open ones are added or replaced, terminal ones removed."""
        flat = _flatten(orders)
        change = Change(
            account,
            orders_set={o.id: _encode_model(o) for o in flat if o.status.is_open},
            orders_removed=[o.id for o in flat if not o.status.is_open],
        )
        return await self._submit(change, ("orders", [o.id for o in flat]))

    async def rebuild(
        self,
        account: str,
        *,
        snapshot: AccountSnapshot | None,
        positions: Sequence[Position],
        open_orders: Sequence[Order],
    ) -> bool:
        """Rewrite every part of ``account`` at once (what ``rebuild_from_store`` calls)."""
        change = Change(
            account,
            snapshot=b"" if snapshot is None else _encode_model(snapshot),
            positions={p.symbol: _encode_model(p) for p in positions},
            open_orders={o.id: _encode_model(o) for o in _flatten(open_orders) if o.status.is_open},
            complete=PARTS,
        )
        return await self._submit(change, ("rebuilt", ()))

    async def mirror(
        self,
        account: str,
        *,
        snapshot: AccountSnapshot | None = None,
        positions: Iterable[Position] | None = None,
        orders: Iterable[Order] = (),
        fill_ids: Sequence[str] = (),
    ) -> bool:
        """What one commit of the sync changed, as ONE atomic write (one round trip to Redis):
        ``set_account(snapshot)`` when a snapshot is given, ``set_positions(positions)`` when a
        set is given, ``update_orders(orders)``, and a ``fills`` announcement of ``fill_ids``;
        each part publishes the event its own method would, in that order."""
        change = Change(account)
        events: list[tuple[str, Sequence[str]]] = []
        complete: list[str] = []
        if snapshot is not None:
            change.snapshot = _encode_model(snapshot)
            complete.append("account")
            events.append(("account", ()))
        if positions is not None:
            change.positions = {p.symbol: _encode_model(p) for p in positions}
            complete.append("positions")
            events.append(("positions", sorted(change.positions)))
        flat = _flatten(orders)
        if flat:
            change.orders_set = {o.id: _encode_model(o) for o in flat if o.status.is_open}
            change.orders_removed = [o.id for o in flat if not o.status.is_open]
            events.append(("orders", [o.id for o in flat]))
        if fill_ids:
            events.append(("fills", list(fill_ids)))
        if not events:
            return True
        change.complete = tuple(complete)
        return await self._submit(change, *events)

    async def publish(self, account: str, message: Mapping[str, Any] | CacheEvent) -> bool:
        """Announce something on the account's channel (a mapping needs a ``kind``)."""
        self.keys(account)
        if isinstance(message, CacheEvent):
            event = message
        else:
            data = dict(message)
            if "kind" not in data:
                raise ValueError("a published message needs a 'kind'")
            kind = str(data.pop("kind"))
            ids = tuple(str(i) for i in data.pop("ids", ()) or ())
            data.pop("account", None)
            data.pop("at", None)
            event = CacheEvent(kind=kind, account=account, ids=ids, at=_utcnow(), data=data)
        return await self._send(account, encode_event(event))

    async def _submit(self, change: Change, *events: tuple[str, Sequence[str]]) -> bool:
        """Commit ``change`` and publish one event per (kind, ids) of ``events``."""
        keys = self.keys(change.account)
        stale = self._stale.get(change.account, set())
        change.invalidate = tuple(sorted(stale - set(change.complete)))
        at = _utcnow()
        change.events = [
            encode_event(CacheEvent(kind=kind, account=change.account, ids=tuple(ids), at=at))
            for kind, ids in events
        ]
        try:
            ok = await self._commit(keys, change)
        except asyncio.CancelledError:
            await self._forget_cancelled(keys, change)
            raise
        except Exception:  # an implementation bug must not fail a sync either
            log.exception("cache write for %s failed", change.account)
            ok = False
        if ok:
            remaining = stale - set(change.complete)
            if remaining:
                self._stale[change.account] = remaining
            else:
                self._stale.pop(change.account, None)
        else:
            self._stale.setdefault(change.account, set()).update(change.touches)
        return ok

    async def _forget_cancelled(self, keys: CacheKeys, change: Change) -> None:
        """``change`` was cancelled mid-write (a stop out of patience): it may or may not have
        landed. The parts it touched are stale from now on, here and, within the
        implementation's timeout, in the cache itself, so the account's next monitor or any
        other reader rebuilds them instead of trusting them."""
        touched = change.touches
        if not touched:
            return
        self._stale.setdefault(change.account, set()).update(touched)
        forget = Change(change.account, invalidate=tuple(sorted(touched)))
        # Shielded: cancelled again while it waits, the mark still goes out.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(self._commit(keys, forget))

    # ------------------------------------------------------------------ reads

    async def get_account(self, account: str) -> AccountSnapshot | None:
        """The cached account snapshot (None: unknown)."""
        state = await self._read(self.keys(account), "account")
        if state is None or not state:
            return None
        return _snapshot_decoder.decode(state[""])

    async def get_positions(self, account: str) -> list[Position] | None:
        """The cached positions by symbol (None: unknown; [] : known to be flat)."""
        state = await self._read(self.keys(account), "positions")
        if state is None:
            return None
        return [_position_decoder.decode(state[symbol]) for symbol in sorted(state)]

    async def get_open_orders(self, account: str) -> list[Order] | None:
        """The cached open orders, oldest first (None: unknown)."""
        state = await self._read(self.keys(account), "open_orders")
        if state is None:
            return None
        orders = [_order_decoder.decode(value) for value in state.values()]
        return sorted(orders, key=lambda o: (o.created_at, o.id))

    # ------------------------------------------------------------------ health

    def is_stale(self, account: str) -> bool:
        """True when a write for ``account`` was lost since its last full write or rebuild."""
        return bool(self._stale.get(account))

    async def needs_rebuild(self, account: str) -> bool:
        """True when some part of ``account`` is stale, unknown, lost (a restarted server) or
        expired: then ``rebuild_from_store`` should run."""
        if self.is_stale(account):
            return True
        complete = await self._complete_parts(self.keys(account))
        return complete is None or not set(PARTS) <= complete

    # ------------------------------------------------------------------ implementation

    @abc.abstractmethod
    async def _commit(self, keys: CacheKeys, change: Change) -> bool:
        """Apply ``change`` atomically, refresh the TTLs, publish ``change.events``."""

    @abc.abstractmethod
    async def _read(self, keys: CacheKeys, part: str) -> dict[str, bytes] | None:
        """``part``'s content (``{"": value}`` for the snapshot, ``{}`` for known-empty) or
        None when the part is unknown."""

    @abc.abstractmethod
    async def _complete_parts(self, keys: CacheKeys) -> set[str] | None:
        """The parts stamped complete in meta (None: the cache cannot be asked)."""

    @abc.abstractmethod
    async def _send(self, account: str, payload: bytes) -> bool:
        """Publish ``payload`` on the account's channel."""

    @abc.abstractmethod
    def subscribe(self, account: str | None = None) -> Subscription:
        """Change events of ``account`` (None: every account under this prefix)."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the cache answers now."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections (idempotent)."""
