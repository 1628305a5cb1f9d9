"""Reference endpoints: assets, the market clock and calendar (v2, and v3 per market), watchlists.

A USD crypto pair in a path is spelled the venue's old way (``BTC/USD`` -> ``BTCUSD``), as its
spec asks for assets; coin pairs keep their slash, escaped (``endpoints.base.symbol_path_part``).

This module imports ``models`` and ``alpaca.*`` from the package; never risk, storage or sync.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from alpaca_integration.alpaca import parse
from alpaca_integration.alpaca.endpoints.base import EndpointGroup, symbol_path_part
from alpaca_integration.alpaca.queries import (
    market_calendar_query,
    market_clock_query,
    market_name,
)
from alpaca_integration.alpaca.transport import names, path_part
from alpaca_integration.models import (
    Asset,
    CalendarDay,
    Clock,
    MarketCalendar,
    MarketClock,
    Watchlist,
)

__all__ = ["ReferenceEndpoints"]


def _watchlist_path(watchlist_id: str) -> str:
    return f"/v2/watchlists/{path_part(watchlist_id, 'watchlist_id')}"


class ReferenceEndpoints(EndpointGroup):
    """``/v2/assets``, ``/v2/clock``, ``/v2/calendar`` and ``/v2/watchlists...``."""

    async def list_assets(
        self,
        *,
        status: str | None = None,
        asset_class: str | None = None,
        exchange: str | None = None,
        attributes: Iterable[str] | None = None,
    ) -> list[Asset]:
        """``GET /v2/assets``."""
        params = {
            "status": status,
            "asset_class": asset_class,
            "exchange": exchange,
            "attributes": names(attributes),
        }
        return parse.parse_assets(await self._transport.get("/v2/assets", params))

    async def get_asset(self, symbol_or_asset_id: str) -> Asset:
        """``GET /v2/assets/{symbol_or_asset_id}`` (``NotFoundError`` when unknown)."""
        path = f"/v2/assets/{symbol_path_part(symbol_or_asset_id, 'symbol_or_asset_id')}"
        return parse.parse_asset(await self._transport.get(path))

    async def get_clock(self) -> Clock:
        """``GET /v2/clock``; its ``timestamp`` (the venue's time to the microsecond) also
        refines the client's clock-skew estimate."""
        market_clock = parse.parse_clock(await self._transport.get("/v2/clock"))
        received_at = self._transport.clock()
        venue_time = market_clock.timestamp.timestamp()
        self._transport.venue_clock.observe(venue_time, received_at, precise=True)
        return market_clock

    async def get_calendar(
        self, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[CalendarDay]:
        """``GET /v2/calendar`` between ``start`` and ``end`` (inclusive dates)."""
        body = await self._transport.get("/v2/calendar", {"start": start, "end": end})
        return parse.parse_calendar(body)

    async def get_market_clocks(
        self, markets: Iterable[str] | str | None = None, *, at: dt.datetime | None = None
    ) -> list[MarketClock]:
        """``GET /v3/clock``: one clock per market (``NYSE``, ``OPRA`` ...; the venue's default
        set when None), read now or ``at`` another instant."""
        query = market_clock_query(markets=markets, time=at)
        return parse.parse_market_clocks(await self._transport.get("/v3/clock", query))

    async def get_market_calendar(
        self,
        market: str = "NYSE",
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        utc_times: bool = False,
    ) -> MarketCalendar:
        """``GET /v3/calendar/{market}``: the market's days between ``start`` and ``end``
        (inclusive; the venue's default is a week from today), sessions as UTC instants
        (``utc_times`` asks the venue to write them in UTC too)."""
        query = market_calendar_query(start=start, end=end, timezone="UTC" if utc_times else None)
        body = await self._transport.get(f"/v3/calendar/{market_name(market)}", query)
        return parse.parse_market_calendar(body)

    # ------------------------------------------------------------------ watchlists

    async def list_watchlists(self) -> list[Watchlist]:
        """``GET /v2/watchlists``."""
        return parse.parse_watchlists(await self._transport.get("/v2/watchlists"))

    async def create_watchlist(self, name: str, symbols: Iterable[str] = ()) -> Watchlist:
        """``POST /v2/watchlists``."""
        if not name.strip():
            raise ValueError("a watchlist needs a non-empty name")
        response = await self._transport.call(
            "POST", "/v2/watchlists", json_body={"name": name, "symbols": names(symbols) or []}
        )
        return parse.parse_watchlist(response.content)

    async def get_watchlist(self, watchlist_id: str) -> Watchlist:
        """``GET /v2/watchlists/{id}``."""
        return parse.parse_watchlist(await self._transport.get(_watchlist_path(watchlist_id)))

    async def update_watchlist(
        self, watchlist_id: str, *, name: str, symbols: Iterable[str] | None = None
    ) -> Watchlist:
        """``PUT /v2/watchlists/{id}``: new name and (if given) the full list of symbols."""
        body: dict[str, Any] = {"name": name}
        if symbols is not None:
            body["symbols"] = names(symbols)
        response = await self._transport.call("PUT", _watchlist_path(watchlist_id), json_body=body)
        return parse.parse_watchlist(response.content)

    async def add_to_watchlist(self, watchlist_id: str, symbol: str) -> Watchlist:
        """``POST /v2/watchlists/{id}``: add one symbol."""
        response = await self._transport.call(
            "POST", _watchlist_path(watchlist_id), json_body={"symbol": symbol}
        )
        return parse.parse_watchlist(response.content)

    async def remove_from_watchlist(self, watchlist_id: str, symbol: str) -> Watchlist:
        """``DELETE /v2/watchlists/{id}/{symbol}``: the updated watchlist."""
        path = f"{_watchlist_path(watchlist_id)}/{path_part(symbol, 'symbol')}"
        return parse.parse_watchlist((await self._transport.call("DELETE", path)).content)

    async def delete_watchlist(self, watchlist_id: str) -> None:
        """``DELETE /v2/watchlists/{id}``."""
        await self._transport.call("DELETE", _watchlist_path(watchlist_id))
