"""Paging over Alpaca's listings: pure functions over a fetch callable, and the page splitter.

* ``walk_orders(fetch, ...)`` walks ``GET /v2/orders`` by moving its time window (``after`` /
  ``until``, both exclusive, comparing submission times) without losing or repeating orders that
  share the instant at a page boundary. ``fetch(after, until, direction, side)`` returns one page.
* ``walk_activities(fetch, ...)`` walks the activities listing by ``page_token`` (the id of the last
  activity seen). ``fetch(page_token)`` returns one page.
* ``walk_option_contracts(fetch, ...)`` walks ``GET /v2/options/contracts`` by the opaque
  ``next_page_token`` each page hands out. ``fetch(page_token)`` returns one page and the next
  token.
* ``split_page_items(body, kind)`` splits one JSON list body item by item: each item becomes its
  model, or a ``BadItem`` (its bytes verbatim and why) when it cannot be parsed. This is the
  splitter production runs (the client's ``on_bad_item`` path); the quality checks screen its good
  items afterwards.

Both walkers yield ``BadItem`` entries in place (the caller hands them to its hook before asking for
the next entry) and move on past them, on the bad item's raw paging time or id.

This module imports ``models``, ``errors``, ``alpaca.parse`` and ``alpaca.requests`` (the page
bounds) from the package; never httpx, the client, or anything doing I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

import msgspec

from alpaca_integration.alpaca import parse
from alpaca_integration.alpaca.parse_options import OptionContractsPage
from alpaca_integration.alpaca.requests import MAX_ACTIVITIES_PAGE, MAX_ORDERS_PAGE
from alpaca_integration.errors import ParseError
from alpaca_integration.models import Activity, Fill, OptionContract, Order

__all__ = [
    "ActivityPageFetch",
    "BadItem",
    "ContractPageFetch",
    "OnBadItem",
    "OrderPageFetch",
    "split_items",
    "split_page_items",
    "walk_activities",
    "walk_option_contracts",
    "walk_orders",
]

# The client's one logger, whichever module of the adapter speaks: users filter on one name.
log = logging.getLogger("alpaca_integration.alpaca.client")

Direction = Literal["asc", "desc"]
_T = TypeVar("_T")
_ONE_MICROSECOND = dt.timedelta(microseconds=1)
# Ids seen within this distance of the boundary are remembered: every later query reaches at most
# two microseconds behind the boundary.
_PAGING_BAND = dt.timedelta(microseconds=3)


@dataclass(frozen=True, slots=True)
class BadItem:
    """One item of a REST page that could not be parsed: its kind, why, and its bytes verbatim.

    ``key`` is the item's ``id`` when its raw JSON has one; ``at`` is the time the venue pages it
    by (an order's ``submitted_at``, else its ``created_at``; an activity's ``transaction_time``)
    when that can be read. The payload is left out of ``repr``.
    """

    kind: Literal["order", "activity", "position"]
    reason: str
    raw: bytes = field(repr=False)
    key: str | None = None
    at: dt.datetime | None = None


OnBadItem = Callable[[BadItem], Awaitable[None] | None]
"""Receives each ``BadItem`` of a page (sync or async); the page's good items are still returned.
It runs before the paging method moves on, so an async hook can persist the item first."""

OrderPageFetch = Callable[
    [dt.datetime | None, dt.datetime | None, Direction, str | None],
    Awaitable[list[Order | BadItem]],
]
"""``fetch(after, until, direction, side)``: one page of orders, in payload order."""

ActivityPageFetch = Callable[[str | None], Awaitable[list[Fill | Activity | BadItem]]]
"""``fetch(page_token)``: one page of activities, in payload order."""

ContractPageFetch = Callable[[str | None], Awaitable[OptionContractsPage]]
"""``fetch(page_token)``: one page of option contracts and the next page's token."""


# --------------------------------------------------------------------------- the page splitter

_RAW_LIST: msgspec.json.Decoder[list[msgspec.Raw]] = msgspec.json.Decoder(list[msgspec.Raw])
_ANY_JSON: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_PAGING_FIELDS: dict[str, tuple[str, ...]] = {
    "order": ("submitted_at", "created_at"),
    "activity": ("transaction_time", "created_at"),
    "position": (),
}
_SHAPES = {"order": "orders", "activity": "activities", "position": "positions"}


def _raw_items(body: bytes, shape: str) -> list[bytes]:
    """A page body split into its items' raw bytes; ``ParseError`` when it is not a JSON list
    (there is no item to keep and nothing to page on)."""
    try:
        return [bytes(item) for item in _RAW_LIST.decode(body)]
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        raise ParseError(
            f"list of {shape}: the page is not a JSON list ({exc}); payload starts "
            f"{body[:200].decode('utf-8', errors='replace')!r}",
            shape=f"list of {shape}",
        ) from None


def _aware_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp.astimezone(dt.UTC) if stamp.tzinfo is not None else None


def bad_item(kind: Literal["order", "activity", "position"], raw: bytes, exc: Exception) -> BadItem:
    """The ``BadItem`` for ``raw``, with whatever id and paging time its JSON still offers."""
    # Worded like quality.split_page's, so a quarantine row reads the same whoever split the page.
    reason = f"could not be parsed: {type(exc).__name__}: {exc}"
    try:
        fields = _ANY_JSON.decode(raw)
    except (msgspec.DecodeError, RecursionError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        return BadItem(kind=kind, reason=reason, raw=raw)
    key = fields.get("symbol" if kind == "position" else "id")
    at = None
    for name in _PAGING_FIELDS[kind]:
        at = _aware_time(fields.get(name))
        if at is not None:
            break
    return BadItem(
        kind=kind,
        reason=reason,
        raw=raw,
        key=key[:256] if isinstance(key, str) and key else None,
        at=at,
    )


def _one_activity(raw: bytes) -> Fill | Activity:
    return parse.parse_activities(b"[" + raw + b"]")[0]


@overload
def split_page_items(body: bytes, kind: Literal["order"]) -> list[Order | BadItem]: ...


@overload
def split_page_items(body: bytes, kind: Literal["activity"]) -> list[Fill | Activity | BadItem]: ...


def split_page_items(
    body: bytes, kind: Literal["order", "activity"]
) -> list[Order | BadItem] | list[Fill | Activity | BadItem]:
    """A page (``GET /v2/orders`` or an activities listing) item by item, in payload order: each
    item its model, or a ``BadItem`` when it cannot be parsed (an order's legs stay inside it).
    ``ParseError`` when the body is not a JSON list."""
    if kind == "order":
        return [
            parsed if not isinstance(parsed, Exception) else bad_item("order", raw, parsed)
            for raw, parsed in split_items(body, parse.parse_order, shape=_SHAPES[kind])
        ]
    return [
        parsed if not isinstance(parsed, Exception) else bad_item("activity", raw, parsed)
        for raw, parsed in split_items(body, _one_activity, shape=_SHAPES[kind])
    ]


def split_items(
    body: bytes, parse_item: Callable[[bytes], _T], *, shape: str
) -> list[tuple[bytes, _T | Exception]]:
    """The one page splitter: a JSON list body, item by item, as ``(raw bytes, parsed model or the
    exception its parse raised)``. One item's failure of any kind never sinks the page.
    ``ParseError`` when the body is not a JSON list (``shape`` names what it should have held)."""
    items: list[tuple[bytes, _T | Exception]] = []
    for raw in _raw_items(body, shape):
        try:
            items.append((raw, parse_item(raw)))
        except Exception as exc:  # one item's failure of any kind must not sink the page
            items.append((raw, exc))
    return items


# --------------------------------------------------------------------------- orders


def _paging_time(entry: Order | BadItem) -> dt.datetime | None:
    if isinstance(entry, Order):
        return entry.submitted_at or entry.created_at
    return entry.at


def _digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


@dataclass
class _SeenOrders:
    """What one listing already yielded near its moving boundary, so a re-read skips it.

    ``recent`` holds ids whose time lies within ``_PAGING_BAND`` of the current boundary, or beyond
    it in the paging direction (possible only when a page's last item had no readable time).
    ``untimed`` holds bad items without a readable time (rare), for the whole listing.
    """

    recent: dict[str, dt.datetime] = field(default_factory=dict)
    untimed: set[str] = field(default_factory=set)

    def first_sight(self, entry: Order | BadItem) -> bool:
        """Remember ``entry``; False when it was seen before in this listing."""
        key = entry.id if isinstance(entry, Order) else entry.key or _digest(entry.raw)
        if key in self.recent or key in self.untimed:
            return False
        at = _paging_time(entry)
        if at is None:
            self.untimed.add(key)
        else:
            self.recent[key] = at
        return True

    def forget_behind(self, instant: dt.datetime, descending: bool) -> None:
        """Drop ids that no later query can return again (memory: the ids at the boundary)."""
        if descending:
            self.recent = {k: at for k, at in self.recent.items() if at <= instant + _PAGING_BAND}
        else:
            self.recent = {k: at for k, at in self.recent.items() if at >= instant - _PAGING_BAND}


def _boundary(page: list[Order | BadItem]) -> dt.datetime:
    """The paging time of the page's last item that has one; ``ParseError`` when none has."""
    for entry in reversed(page):
        at = _paging_time(entry)
        if at is not None:
            return at
    raise ParseError(
        f"a full page of {len(page)} orders has no readable submitted_at or created_at, so the "
        "listing cannot move past it (every item went to on_bad_item); report the payload to the "
        "maintainers",
        shape="list of orders",
    )


def _all_at(page: list[Order | BadItem], instant: dt.datetime) -> bool:
    """True when every item of the page lies within a microsecond of ``instant``."""
    return all(
        at is not None and abs(at - instant) <= _ONE_MICROSECOND for at in map(_paging_time, page)
    )


async def _drain_instant(
    fetch: OrderPageFetch,
    instant: dt.datetime,
    side: str | None,
    page_size: int,
    seen: _SeenOrders,
) -> AsyncIterator[Order | BadItem]:
    """Read one instant per side and in both orders: a whole page of one instant cannot be paged
    by time. Warns when even that cannot list them all (the API's residual limit)."""
    overflow = False
    # Exclusive bounds one microsecond either side: every venue time that truncates to
    # ``instant`` (and nothing of the microseconds further out, which would crowd the page).
    low, high = instant - _ONE_MICROSECOND, instant + _ONE_MICROSECOND
    for order_side in [side] if side is not None else ["buy", "sell"]:
        for order_direction in ("asc", "desc"):
            part = await fetch(low, high, order_direction, order_side)
            overflow = overflow or len(part) >= page_size
            for entry in part:
                if seen.first_sight(entry):
                    yield entry
    if overflow:
        log.warning(
            "more than %d orders share submitted_at %s: the API cannot page within one instant, "
            "so some of them may be missing from this listing",
            page_size,
            instant.isoformat(),
        )


async def walk_orders(
    fetch: OrderPageFetch,
    *,
    after: dt.datetime | None = None,
    until: dt.datetime | None = None,
    direction: Direction = "desc",
    side: str | None = None,
    page_size: int = MAX_ORDERS_PAGE,
) -> AsyncIterator[Order | BadItem]:
    """Every order in the window, each exactly once, across any number of pages.

    When a full page ends with orders at one instant, the next window includes that instant again
    (the bound moves one microsecond past it) and the ids already seen there are skipped. When a
    whole page shares one instant, it is re-read per side and in both orders, then the window moves
    strictly past it. Residual limit: when one side has more than ``page_size`` orders in two
    adjacent microseconds (the instant and the sub-microsecond tail of the one before), some of them
    may be missed (a warning is logged); nothing is ever yielded twice. A ``BadItem`` moves the window on its
    raw time; a full page with no readable time at all raises ``ParseError``.
    """
    if not 1 <= page_size <= MAX_ORDERS_PAGE:
        raise ValueError(f"page_size must be 1..{MAX_ORDERS_PAGE}, got {page_size}")
    descending = direction == "desc"
    lower, upper = after, until
    seen = _SeenOrders()
    drained_at: dt.datetime | None = None
    while True:
        page = await fetch(lower, upper, direction, side)
        fresh = [entry for entry in page if seen.first_sight(entry)]
        for entry in fresh:
            yield entry
        if len(page) < page_size:
            return
        instant = _boundary(page)
        seen.forget_behind(instant, descending)
        if fresh and not _all_at(page, instant):
            # The usual case: re-include the boundary instant, skip what was seen there.
            if descending:
                upper = instant + _ONE_MICROSECOND
            else:
                lower = instant - _ONE_MICROSECOND
            continue
        # The page is one instant (or brought nothing new): read that instant other ways.
        async for entry in _drain_instant(fetch, instant, side, page_size, seen):
            yield entry
        # Move strictly past the instant. On a second stall at the same instant (venue times
        # finer than a microsecond, all of them seen), the bound must step a whole microsecond,
        # and an exclusive bound there would skip what sits exactly on the next microsecond: read
        # that next microsecond whole first (per side, both orders), then step.
        step = _ONE_MICROSECOND if drained_at == instant else dt.timedelta(0)
        drained_at = instant
        if step:
            following = instant - step if descending else instant + step
            async for entry in _drain_instant(fetch, following, side, page_size, seen):
                yield entry
        if descending:
            upper = instant - step
        else:
            lower = instant + step


# --------------------------------------------------------------------------- activities


def _activity_key(entry: Fill | Activity | BadItem) -> str | None:
    if isinstance(entry, Fill):
        return entry.activity_id or None
    if isinstance(entry, Activity):
        return entry.id or None
    return entry.key


async def walk_activities(
    fetch: ActivityPageFetch,
    *,
    page_size: int = MAX_ACTIVITIES_PAGE,
    page_token: str | None = None,
) -> AsyncIterator[Fill | Activity | BadItem]:
    """Every activity, page after page (``page_token`` = the last id seen); stops on a short page
    or when the venue repeats a token. A ``BadItem``'s id (from its raw JSON) is a token too; when
    a page's last item has none, paging continues from the last readable id and skips the items
    it already returned."""
    if not 1 <= page_size <= MAX_ACTIVITIES_PAGE:
        raise ValueError(f"page_size must be 1..{MAX_ACTIVITIES_PAGE}, got {page_size}")
    token = page_token
    # When a page's last item had no readable id, the next page starts from an earlier one and
    # repeats a few items: the previous page's ids, to skip those.
    previous: set[str] = set()
    while True:
        page = await fetch(token)
        ids = [_activity_key(entry) for entry in page]
        for entry, key in zip(page, ids, strict=True):
            if key is None or key not in previous:
                yield entry
        if len(page) < page_size:
            return
        next_token = next((key for key in reversed(ids) if key), None)
        if not next_token or next_token == token:
            log.warning("activities paging made no progress at token %r; stopping", token)
            return
        previous = {key for key in ids if key} if ids[-1] is None else set()
        token = next_token


# --------------------------------------------------------------------------- option contracts


async def walk_option_contracts(
    fetch: ContractPageFetch, *, page_token: str | None = None
) -> AsyncIterator[OptionContract]:
    """Every contract of the listing, page after page, following each page's
    ``next_page_token`` until a page has none. A token the walk has already followed ends it
    with a warning (a venue handing the same token out again would loop forever); a contract a
    page repeats from an earlier page is not yielded twice."""
    token = page_token
    followed: set[str | None] = {token}
    seen: set[str] = set()
    while True:
        contracts, next_token = await fetch(token)
        for contract in contracts:
            if contract.id not in seen:
                seen.add(contract.id)
                yield contract
        if next_token is None:
            return
        if next_token in followed:
            log.warning("option contracts paging: token %r came back; stopping", next_token)
            return
        followed.add(next_token)
        token = next_token
