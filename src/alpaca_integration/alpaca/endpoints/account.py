"""Account endpoints: the account, its configuration, activities, portfolio history, positions.

This module imports ``models``, ``errors`` and ``alpaca.*`` from the package; never risk (or any
check), storage or sync.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from alpaca_integration.alpaca import parse
from alpaca_integration.alpaca.endpoints.base import (
    EndpointGroup,
    hand_over,
    keep_good,
    symbol_path_part,
)
from alpaca_integration.alpaca.paging import (
    BadItem,
    OnBadItem,
    bad_item,
    split_items,
    split_page_items,
    walk_activities,
)
from alpaca_integration.alpaca.ratelimit import Lane
from alpaca_integration.alpaca.requests import (
    MAX_ACTIVITIES_PAGE,
    activities_query,
    close_position_query,
)
from alpaca_integration.alpaca.transport import RETRY_WHEN_NOT_ACTED, names, path_part
from alpaca_integration.errors import (
    OrderOutcomeUnknownError,
    RequestNotSentError,
    ServerError,
    TransportError,
)
from alpaca_integration.models import (
    AccountConfiguration,
    AccountSnapshot,
    Activity,
    BulkResult,
    Fill,
    Order,
    PortfolioHistory,
    Position,
)

__all__ = ["ACCOUNT_CONFIGURATION_KEYS", "AccountEndpoints"]

ACCOUNT_CONFIGURATION_KEYS = frozenset(
    {
        "dtbp_check",
        "trade_confirm_email",
        "suspend_trade",
        "no_shorting",
        "fractional_trading",
        "max_margin_multiplier",
        "pdt_check",
        "max_options_trading_level",
    }
)


def _position_path(symbol_or_asset_id: str) -> str:
    """``/v2/positions/{symbol}`` (a USD crypto pair without its slash, as positions spell it)."""
    return f"/v2/positions/{symbol_path_part(symbol_or_asset_id, 'symbol_or_asset_id')}"


def _activities_path(activity_type: str | None) -> str:
    if activity_type is None:
        return "/v2/account/activities"
    return f"/v2/account/activities/{path_part(activity_type.upper(), 'activity_type')}"


class AccountEndpoints(EndpointGroup):
    """``/v2/account...`` and ``/v2/positions...``."""

    async def get_account(self) -> AccountSnapshot:
        """``GET /v2/account``: the account's figures, stamped with the time of the answer."""
        body = await self._transport.get("/v2/account")
        return parse.parse_account(body, self._now())

    async def get_account_configurations(self) -> AccountConfiguration:
        """``GET /v2/account/configurations``."""
        body = await self._transport.get("/v2/account/configurations")
        return parse.parse_account_configuration(body)

    async def update_account_configurations(self, **changes: Any) -> AccountConfiguration:
        """``PATCH /v2/account/configurations`` with only the given settings changed."""
        unknown = sorted(set(changes) - ACCOUNT_CONFIGURATION_KEYS)
        if unknown:
            raise ValueError(
                f"unknown account configuration(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(sorted(ACCOUNT_CONFIGURATION_KEYS))}"
            )
        if not changes:
            raise ValueError("nothing to change: pass at least one configuration keyword")
        response = await self._transport.call(
            "PATCH", "/v2/account/configurations", json_body=changes
        )
        return parse.parse_account_configuration(response.content)

    # ------------------------------------------------------------------ activities

    async def get_activities(
        self,
        *,
        activity_types: Iterable[str] | None = None,
        date: dt.date | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        on_bad_item: OnBadItem | None = None,
    ) -> list[Fill | Activity]:
        """One page of ``GET /v2/account/activities`` (FILLs as ``Fill``, the rest ``Activity``).

        With ``on_bad_item`` an unparseable item goes to the hook and the rest are returned;
        without it, it raises ``ParseError``."""
        query = activities_query(
            activity_types=names(activity_types),
            date=date,
            after=after,
            until=until,
            direction=direction,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._activities_page(_activities_path(None), query, on_bad_item)

    async def get_activities_by_type(
        self,
        activity_type: str,
        *,
        date: dt.date | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        on_bad_item: OnBadItem | None = None,
    ) -> list[Fill | Activity]:
        """One page of ``GET /v2/account/activities/{activity_type}`` (e.g. ``FILL``, ``FEE``);
        ``on_bad_item`` as in ``get_activities``."""
        query = activities_query(
            date=date,
            after=after,
            until=until,
            direction=direction,
            page_size=page_size,
            page_token=page_token,
        )
        return await self._activities_page(_activities_path(activity_type), query, on_bad_item)

    async def _activities_page(
        self, path: str, query: Mapping[str, Any], on_bad_item: OnBadItem | None
    ) -> list[Fill | Activity]:
        body = await self._transport.get(path, query)
        if on_bad_item is None:
            return parse.parse_activities(body)
        return await keep_good(split_page_items(body, "activity"), on_bad_item)

    async def iter_activities(
        self,
        *,
        activity_types: Iterable[str] | None = None,
        activity_type: str | None = None,
        date: dt.date | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: Literal["asc", "desc"] = "desc",
        page_size: int = MAX_ACTIVITIES_PAGE,
        page_token: str | None = None,
        on_bad_item: OnBadItem | None = None,
    ) -> AsyncIterator[Fill | Activity]:
        """Every matching activity, page after page (``page_token`` = the last id seen).

        ``activity_type`` uses the by-type endpoint; ``activity_types`` filters the general one.
        Only one page is held in memory at a time. With ``on_bad_item`` an unparseable activity
        goes to the hook (before the next item is yielded) and paging continues from its id,
        which is read from its raw JSON; without it, it raises ``ParseError``.
        """
        path = _activities_path(activity_type)
        types = None if activity_type is not None else names(activity_types)

        async def fetch(token: str | None) -> list[Fill | Activity | BadItem]:
            query = activities_query(
                activity_types=types,
                date=date,
                after=after,
                until=until,
                direction=direction,
                page_size=page_size,
                page_token=token,
            )
            body = await self._transport.get(path, query)
            if on_bad_item is None:
                return list(parse.parse_activities(body))
            return split_page_items(body, "activity")

        async for entry in walk_activities(fetch, page_size=page_size, page_token=page_token):
            if isinstance(entry, BadItem):
                assert on_bad_item is not None
                await hand_over(on_bad_item, entry)
            else:
                yield entry

    async def get_portfolio_history(
        self,
        *,
        period: str | None = None,
        timeframe: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        extended_hours: bool | None = None,
        intraday_reporting: str | None = None,
        pnl_reset: str | None = None,
    ) -> PortfolioHistory:
        """``GET /v2/account/portfolio/history``."""
        params = {
            "period": period,
            "timeframe": timeframe,
            "start": start,
            "end": end,
            "extended_hours": extended_hours,
            "intraday_reporting": intraday_reporting,
            "pnl_reset": pnl_reset,
        }
        body = await self._transport.get("/v2/account/portfolio/history", params)
        return parse.parse_portfolio_history(body)

    # ------------------------------------------------------------------ positions

    async def list_positions(self, *, on_bad_item: OnBadItem | None = None) -> list[Position]:
        """``GET /v2/positions``: every open position (shorts have negative qty)."""
        body = await self._transport.get("/v2/positions")
        if on_bad_item is None:
            return parse.parse_positions(body, self._now())
        now = self._now()
        items = split_items(body, lambda raw: parse.parse_position(raw, now), shape="positions")
        return await keep_good(
            [p if isinstance(p, Position) else bad_item("position", raw, p) for raw, p in items],
            on_bad_item,
        )

    async def get_position(self, symbol_or_asset_id: str) -> Position:
        """``GET /v2/positions/{symbol}`` (``NotFoundError`` when flat)."""
        path = _position_path(symbol_or_asset_id)
        body = await self._transport.get(path)
        return parse.parse_position(body, self._now())

    async def close_all_positions(self, *, cancel_orders: bool = False) -> list[BulkResult]:
        """``DELETE /v2/positions``: one closing order per position (207).

        Resent only after a 429 (the venue did not act). After an unclear failure (timeout,
        dropped connection, 5xx) the venue may already have placed closing orders, and a resend
        with ``cancel_orders=True`` would cancel them and place them again: it raises
        ``OrderOutcomeUnknownError`` instead, for you to check the positions and open orders."""
        try:
            response = await self._transport.call(
                "DELETE",
                "/v2/positions",
                params={"cancel_orders": cancel_orders},
                lane=Lane.ORDER,
                retry_on=RETRY_WHEN_NOT_ACTED,
            )
        except RequestNotSentError:
            raise  # nothing reached the venue: nothing to check
        except (ServerError, TransportError) as exc:
            raise OrderOutcomeUnknownError(
                f"close all positions: outcome unknown after {exc}. The venue may already have "
                "placed closing orders: check the positions and open orders (alpacactl positions, "
                "alpacactl orders) before trying again",
                client_order_id="",
            ) from None
        return parse.parse_bulk_positions(response.content) if response.content.strip() else []

    async def close_position(
        self,
        symbol_or_asset_id: str,
        *,
        qty: Decimal | None = None,
        percentage: Decimal | None = None,
    ) -> Order:
        """``DELETE /v2/positions/{symbol}``: the closing order. Resent only after a 429: after
        an unclear failure a resend could close twice, so the error is raised for you to check
        the positions. ``OrderValidationError`` (nothing sent) for a size out of bounds."""
        query = close_position_query(qty, percentage)
        path = _position_path(symbol_or_asset_id)
        response = await self._transport.call(
            "DELETE",
            path,
            params=query,
            lane=Lane.ORDER,
            retry_on=RETRY_WHEN_NOT_ACTED,
        )
        return parse.parse_order(response.content)
