"""Order endpoints: listing (one page, every page), lookups, placing and replacing at most once,
cancelling.

Placing and replacing run the at-most-once protocol of ``alpaca.placement`` over this module's
``_OrderAttempts`` seam; listings walk pages with ``alpaca.paging``. This module imports
``models``, ``errors`` and ``alpaca.*`` from the package; never risk (or any check), storage or
sync.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal, overload

import msgspec

from alpaca_integration.alpaca import parse
from alpaca_integration.alpaca.endpoints.base import EndpointGroup, hand_over, keep_good
from alpaca_integration.alpaca.paging import (
    BadItem,
    OnBadItem,
    bad_item,
    split_page_items,
    walk_orders,
)
from alpaca_integration.alpaca.placement import (
    PlacementPolicy,
    accepted_order,
    look_within_bound,
    place_at_most_once,
)
from alpaca_integration.alpaca.pretrade import OrderLock, PreTradeCheck, run_replace_check
from alpaca_integration.alpaca.ratelimit import Lane
from alpaca_integration.alpaca.requests import (
    MAX_ORDERS_PAGE,
    build_order_body,
    build_replace_body,
    orders_query,
    replace_needs_order,
)
from alpaca_integration.alpaca.transport import RestTransport, names, path_part, utc_text
from alpaca_integration.errors import (
    AlpacaIntegrationError,
    NotFoundError,
    OrderOutcomeUnknownError,
)
from alpaca_integration.models import (
    BulkResult,
    Order,
    OrderIntent,
    OrderStatus,
    ReplaceRequest,
    new_client_order_id,
)

__all__ = ["OrderEndpoints"]

# The client's one logger, whichever module of the adapter speaks: users filter on one name.
log = logging.getLogger("alpaca_integration.alpaca.client")

Resolver = Callable[[AlpacaIntegrationError], Awaitable[Order | None]]


@dataclass(frozen=True, slots=True)
class _OrderAttempts:
    """The placement seam over HTTP: one order-creating request, and how to resolve it."""

    transport: RestTransport
    method: str
    path: str
    content: bytes
    client_order_id: str
    resolver: Resolver

    async def send(self) -> Order:
        response = await self.transport.attempt(
            self.method, self.path, content=self.content, lane=Lane.ORDER
        )
        return accepted_order(response.content, self.client_order_id)

    async def resolve(self, cause: AlpacaIntegrationError) -> Order | None:
        return await self.resolver(cause)


def _order_path(order_id: str) -> str:
    return f"/v2/orders/{path_part(order_id, 'order_id')}"


class OrderEndpoints(EndpointGroup):
    """``/v2/orders...``. ``AlpacaClient`` sets ``pre_trade_check`` and the id prefix."""

    pre_trade_check: PreTradeCheck | None
    client_order_id_prefix: str
    order_visibility_wait: float

    def _order_lock(self) -> OrderLock:
        raise NotImplementedError  # AlpacaClient provides the key's lock

    # ------------------------------------------------------------------ reads

    async def list_orders(
        self,
        *,
        status: Literal["open", "closed", "all"] | None = None,
        limit: int | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] | None = None,
        nested: bool | None = None,
        symbols: Iterable[str] | None = None,
        side: str | None = None,
        on_bad_item: OnBadItem | None = None,
    ) -> list[Order]:
        """One page of ``GET /v2/orders`` (venue defaults: open orders, 50, newest first).

        With ``on_bad_item`` an unparseable order (e.g. an unknown status) goes to the hook and
        the rest are returned; without it, it raises ``ParseError``."""
        query = self._orders_query(status, limit, after, until, direction, nested, symbols, side)
        body = await self._transport.get("/v2/orders", query)
        if on_bad_item is None:
            return parse.parse_orders(body)
        return await keep_good(split_page_items(body, "order"), on_bad_item)

    @staticmethod
    def _orders_query(
        status: Literal["open", "closed", "all"] | None,
        limit: int | None,
        after: dt.datetime | None,
        until: dt.datetime | None,
        direction: Literal["asc", "desc"] | None,
        nested: bool | None,
        symbols: Iterable[str] | None,
        side: str | None,
    ) -> dict[str, str]:
        if limit is not None and not 1 <= limit <= MAX_ORDERS_PAGE:
            raise ValueError(f"limit must be 1..{MAX_ORDERS_PAGE}, got {limit}")
        query = orders_query(
            status=status,
            limit=limit,
            after=after,
            until=until,
            direction=direction,
            nested=nested,
            symbols=names(symbols),
            side=side,
        )
        # Spelled out to the microsecond whatever the query builder does: paging relies on it.
        if after is not None:
            query["after"] = utc_text(after, "after")
        if until is not None:
            query["until"] = utc_text(until, "until")
        return query

    async def iter_orders(
        self,
        *,
        status: Literal["open", "closed", "all"] = "all",
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] = "desc",
        nested: bool | None = None,
        symbols: Iterable[str] | None = None,
        side: str | None = None,
        page_size: int = MAX_ORDERS_PAGE,
        on_bad_item: OnBadItem | None = None,
    ) -> AsyncIterator[Order]:
        """Every order matching the filters, across any number of pages, each exactly once.

        Pages by moving the time window (``after``/``until`` are exclusive and compare submission
        times); orders sharing an instant at a page boundary are neither lost nor repeated (see
        ``paging.walk_orders`` for how, and its one residual limit). Memory: one page plus the ids
        at the boundary.

        With ``on_bad_item`` an unparseable order goes to the hook (once per listing) and the
        window moves on its raw ``submitted_at`` (else ``created_at``); when neither can be read,
        on the last readable time of the page. Without the hook it raises ``ParseError``.
        """
        symbol_list = names(symbols)

        async def fetch(
            low: dt.datetime | None,
            high: dt.datetime | None,
            order_direction: Literal["asc", "desc"],
            order_side: str | None,
        ) -> list[Order | BadItem]:
            query = self._orders_query(
                status, page_size, low, high, order_direction, nested, symbol_list, order_side
            )
            body = await self._transport.get("/v2/orders", query)
            if on_bad_item is None:
                return list(parse.parse_orders(body))
            return split_page_items(body, "order")

        walk = walk_orders(
            fetch, after=after, until=until, direction=direction, side=side, page_size=page_size
        )
        async for entry in walk:
            if isinstance(entry, BadItem):
                assert on_bad_item is not None
                await hand_over(on_bad_item, entry)
            else:
                yield entry

    @overload
    async def get_order(
        self,
        order_id: str,
        *,
        nested: bool | None = None,
        lane: Lane = Lane.READ,
        on_bad_item: None = None,
    ) -> Order: ...

    @overload
    async def get_order(
        self,
        order_id: str,
        *,
        nested: bool | None = None,
        lane: Lane = Lane.READ,
        on_bad_item: OnBadItem,
    ) -> Order | None: ...

    async def get_order(
        self,
        order_id: str,
        *,
        nested: bool | None = None,
        lane: Lane = Lane.READ,
        on_bad_item: OnBadItem | None = None,
    ) -> Order | None:
        """``GET /v2/orders/{order_id}`` (``NotFoundError`` when unknown). With ``on_bad_item``
        an unparseable answer goes to the hook and None is returned; without it, ``ParseError``."""
        response = await self._transport.call(
            "GET", _order_path(order_id), params={"nested": nested}, lane=lane
        )
        if on_bad_item is None:
            return parse.parse_order(response.content)
        try:
            return parse.parse_order(response.content)
        except Exception as exc:  # the hook is promised every failure, not only ParseError
            await hand_over(on_bad_item, bad_item("order", bytes(response.content), exc))
            return None

    async def get_order_by_client_order_id(
        self, client_order_id: str, *, lane: Lane = Lane.READ
    ) -> Order:
        """``GET /v2/orders:by_client_order_id`` (``NotFoundError`` when the venue has none).
        The order path passes ``lane=Lane.ORDER``: resolving an order is part of placing it."""
        if not client_order_id:
            raise ValueError("client_order_id must not be empty")
        response = await self._transport.call(
            "GET",
            "/v2/orders:by_client_order_id",
            params={"client_order_id": client_order_id},
            lane=lane,
        )
        return parse.parse_order(response.content)

    # ------------------------------------------------------------------ writes

    def _new_id(self, given: str | None) -> str:
        return given or new_client_order_id(self.client_order_id_prefix)

    def _policy(self) -> PlacementPolicy:
        transport = self._transport
        return PlacementPolicy.from_retry(
            transport.retry,
            transport.rng,
            transport.sleep,
            transport.clock,
            visibility_wait=self.order_visibility_wait,
        )

    async def _place(
        self, method: str, path: str, content: bytes, cid: str, resolver: Resolver
    ) -> Order:
        attempts = _OrderAttempts(self._transport, method, path, content, cid, resolver)
        return await place_at_most_once(attempts, cid, self._policy(), what=f"{method} {path}")

    async def _checked_place(
        self,
        check: Callable[[], Awaitable[None]] | None,
        place: Callable[[], Awaitable[Order]],
    ) -> Order:
        """Run ``check`` then ``place`` as one step under the key's order lock, and hold the lock
        until the venue shows the new order, so the next check counts it. No check, no lock."""
        if check is None:
            return await place()
        async with self._order_lock().hold():
            await check()
            order = await place()
            await self._until_visible(order.client_order_id)
            return order

    async def _until_visible(self, client_order_id: str) -> None:
        """Wait (at most ``order_visibility_wait``) until the venue shows this order."""

        async def lookup() -> Order | None:
            try:
                return await self.get_order_by_client_order_id(client_order_id, lane=Lane.ORDER)
            except NotFoundError:
                return None

        try:
            shown = await look_within_bound(lookup, self._policy())
        except AlpacaIntegrationError as exc:  # the order is placed: a failed look is not fatal
            shown, reason = None, f"the lookup failed ({type(exc).__name__})"
        else:
            reason = f"not shown within {self.order_visibility_wait:g} s"
        if shown is None:
            log.warning(
                "order %s: %s; the next pre-trade check may not count it yet",
                client_order_id,
                reason,
            )

    async def submit_order(
        self, request: OrderIntent, *, pre_trade_check: PreTradeCheck | None = None
    ) -> Order:
        """``POST /v2/orders``, placed at most once (``alpaca.placement``).

        ``request`` is an ``OrderRequest`` (one equity, option contract or crypto pair) or a
        ``MultiLegOrderRequest`` (an ``mleg`` option strategy; the answer is its parent order,
        legs nested). Sets ``client_order_id`` (``models.new_client_order_id``) when empty,
        validates the order against its asset class's rules (``OrderValidationError``), runs
        ``pre_trade_check`` (this argument, else the client's) before any request, then submits
        on the order lane. An unclear outcome (timeout, dropped
        connection, 5xx) is resolved by looking the order up by its client_order_id; it is resent
        (same id) only when the venue verifiably does not have it. ``OrderOutcomeUnknownError``
        when that cannot be established; other venue refusals raise their typed ``ApiError``.
        """
        client_order_id = self._new_id(request.client_order_id)
        if request.client_order_id != client_order_id:
            request = request.with_client_order_id(client_order_id)
        content = msgspec.json.encode(build_order_body(request))
        check = pre_trade_check or self.pre_trade_check

        async def resolve(cause: AlpacaIntegrationError) -> Order | None:
            return await self._lookup_after_unknown(client_order_id, cause)

        return await self._checked_place(
            None if check is None else lambda: check(request),
            lambda: self._place("POST", "/v2/orders", content, client_order_id, resolve),
        )

    async def _lookup_after_unknown(
        self, client_order_id: str, cause: AlpacaIntegrationError
    ) -> Order | None:
        """The order with this id, None if the venue verifiably has none; if the lookup itself
        fails, ``OrderOutcomeUnknownError``."""
        try:
            return await self.get_order_by_client_order_id(client_order_id, lane=Lane.ORDER)
        except NotFoundError:
            return None
        except AlpacaIntegrationError as exc:
            raise OrderOutcomeUnknownError(
                f"order {client_order_id}: the submit got no clear answer ({cause}) and the "
                f"lookup by client_order_id failed too ({exc}). The order may exist: look it up "
                "later with get_order_by_client_order_id; never resend it under a new id",
                client_order_id=client_order_id,
            ) from None

    async def replace_order(
        self,
        order_id: str,
        request: ReplaceRequest,
        *,
        pre_trade_check: PreTradeCheck | None = None,
    ) -> Order:
        """``PATCH /v2/orders/{order_id}``: the replacement order (a new id), at most once.

        The replacement carries its own client_order_id (set when empty). When a pre-trade check
        applies (this argument, else the client's), the old order is fetched and the check runs on
        the order as it would be after the replace, before the PATCH is sent (see
        ``PreTradeCheck``); a refusal sends nothing. After an unknown outcome the replacement is
        looked up by that id, then the old order is fetched: when its ``replaced_by`` is set the
        new order is returned; when it is still working and not replaced, the same PATCH is
        resent. ``OrderOutcomeUnknownError`` when it cannot be told (e.g. the old order stays
        ``pending_replace``). Note a 200 does not mean the replace won: if the old order filled
        first, the outcome arrives on the stream.

        The change is held to the rules of the order it replaces (an option's day only and whole
        contracts, a crypto pair's gtc/ioc, an mleg order's signed net price); the old order is
        fetched first when those rules decide (``requests.replace_needs_order``) or a check runs.
        An mleg order is replaced (and cancelled) through its parent's id.
        """
        client_order_id = self._new_id(request.client_order_id)
        if request.client_order_id != client_order_id:
            request = msgspec.structs.replace(request, client_order_id=client_order_id)
        known: Order | None = None
        if replace_needs_order(request):
            known = await self.get_order(order_id, nested=True, lane=Lane.ORDER)
        content = msgspec.json.encode(build_replace_body(request, known))
        path = _order_path(order_id)
        check = pre_trade_check or self.pre_trade_check

        async def check_replace() -> None:
            assert check is not None
            old = known or await self.get_order(order_id, nested=True, lane=Lane.ORDER)
            await run_replace_check(check, old, request)

        async def resolve(cause: AlpacaIntegrationError) -> Order | None:
            found = await self._lookup_after_unknown(client_order_id, cause)
            if found is not None:
                return found
            return await self._replacement_of(order_id, client_order_id, cause)

        return await self._checked_place(
            None if check is None else check_replace,
            lambda: self._place("PATCH", path, content, client_order_id, resolve),
        )

    async def _replacement_of(
        self, order_id: str, client_order_id: str, cause: AlpacaIntegrationError
    ) -> Order | None:
        """After an unclear replace: the new order through the old one's ``replaced_by``; None
        when the old order is still working and not replaced (the PATCH may be resent)."""
        try:
            old = await self.get_order(order_id, lane=Lane.ORDER)
            if old.replaced_by:
                return await self.get_order(old.replaced_by, lane=Lane.ORDER)
        except AlpacaIntegrationError as exc:
            raise OrderOutcomeUnknownError(
                f"replace of {order_id} (new client_order_id {client_order_id}): outcome "
                f"unknown after {cause}; fetching the old order failed ({exc})",
                client_order_id=client_order_id,
            ) from None
        if old.status in (OrderStatus.PENDING_REPLACE, OrderStatus.REPLACED):
            raise OrderOutcomeUnknownError(
                f"replace of {order_id}: the old order is {old.status} and its replacement "
                f"({client_order_id}) is not visible yet; look it up later",
                client_order_id=client_order_id,
            )
        return None

    async def cancel_order(self, order_id: str) -> None:
        """``DELETE /v2/orders/{order_id}`` (order lane, retried: a cancel is idempotent)."""
        await self._transport.call("DELETE", _order_path(order_id), lane=Lane.ORDER)

    async def cancel_all_orders(self) -> list[BulkResult]:
        """``DELETE /v2/orders``: one result per open order (207 Multi-Status)."""
        response = await self._transport.call("DELETE", "/v2/orders", lane=Lane.ORDER)
        return parse.parse_bulk_orders(response.content) if response.content.strip() else []
