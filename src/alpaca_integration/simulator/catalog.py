"""The venue's reference data: assets (by symbol or id), each account's watchlists, and the
trading calendar as ``GET /v2/calendar`` lists it.

Watchlists belong to an account and are found by id or by name (``/v2/watchlists:by_name``);
their names are unique per account and their symbols must be assets the venue trades.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

from typing import Any

from alpaca_integration.simulator.clock import NEW_YORK, xnys_sessions
from alpaca_integration.simulator.market import AssetSpec
from alpaca_integration.simulator.state import Account, asset_json
from alpaca_integration.simulator.tape import Tape
from alpaca_integration.simulator.wire import (
    bad_request,
    invalid,
    not_found,
    parse_time,
    require_object,
    ts,
    unprocessable,
)

__all__ = ["Catalog", "calendar_days"]

Watchlist = dict[str, Any]


class Catalog:
    """Assets and watchlists. ``resolve`` finds an asset by symbol or asset id."""

    def __init__(self, assets: dict[str, AssetSpec], *, tape: Tape) -> None:
        self.assets = assets
        self.assets_by_id = {spec.id: spec for spec in assets.values()}
        self.tape = tape

    def resolve(self, symbol_or_id: str) -> AssetSpec | None:
        """By symbol (a crypto pair also without its slash, ``BTCUSD``) or by asset id."""
        symbol = symbol_or_id.upper()
        spec = self.assets.get(symbol)
        if spec is None:
            spec = self.assets_by_id.get(symbol_or_id.lower())
        if spec is None and symbol.endswith("USD") and "/" not in symbol:
            spec = self.assets.get(f"{symbol[:-3]}/USD")
        return spec

    # ------------------------------------------------------------------ assets

    def asset_list(self, params: dict[str, str]) -> list[dict[str, Any]]:
        status = params.get("status")
        asset_class = params.get("asset_class")
        exchange = params.get("exchange")
        out = []
        for spec in self.assets.values():
            if status and spec.status != status:
                continue
            if spec.asset_class != (asset_class or "us_equity") or spec.is_option:
                continue
            if exchange and spec.exchange != exchange:
                continue
            out.append(asset_json(spec))
        return out

    def asset(self, symbol_or_id: str) -> dict[str, Any]:
        spec = self.resolve(symbol_or_id)
        if spec is None:
            raise not_found(f"asset not found for {symbol_or_id}")
        return asset_json(spec)

    # ------------------------------------------------------------------ watchlists

    def find_watchlist(
        self, account: Account, watchlist_id: str | None, name: str | None = None
    ) -> Watchlist:
        """By id when one is given, else by name (404 when there is none)."""
        if watchlist_id is not None:
            watchlist = account.watchlists.get(watchlist_id.lower())
            if watchlist is None:
                raise not_found("watchlist not found")
            return watchlist
        if not name:
            raise invalid("name is required")
        for watchlist in account.watchlists.values():
            if watchlist["name"] == name:
                return watchlist
        raise not_found("watchlist not found")

    def watchlist_json(self, watchlist: Watchlist, *, with_assets: bool = True) -> dict[str, Any]:
        out = {k: v for k, v in watchlist.items() if k != "symbols"}
        if with_assets:
            out["assets"] = [asset_json(self.assets[s]) for s in watchlist["symbols"]]
        return out

    def _symbols(self, symbols: Any) -> list[str]:
        if symbols is None:
            return []
        if not isinstance(symbols, list):
            raise invalid("symbols must be a list of tickers")
        out: list[str] = []
        for symbol in symbols:
            if symbol is None:
                continue
            spec = self.resolve(str(symbol))
            if spec is None:
                raise unprocessable(f'asset "{symbol}" not found')
            if spec.symbol not in out:
                out.append(spec.symbol)
        return out

    @staticmethod
    def _check_name_free(account: Account, name: str, watchlist: Watchlist | None) -> None:
        if any(w["name"] == name and w is not watchlist for w in account.watchlists.values()):
            raise unprocessable(f"a watchlist named {name!r} already exists")

    def watchlists(self, account: Account) -> list[dict[str, Any]]:
        return [self.watchlist_json(w, with_assets=False) for w in account.watchlists.values()]

    def create_watchlist(self, account: Account, body: Any) -> dict[str, Any]:
        body = require_object(body)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise invalid("name is required: a string of 1 to 64 characters")
        self._check_name_free(account, name, None)
        at = ts(self.tape.stamp())
        watchlist: Watchlist = {
            "id": self.tape.new_id(),
            "account_id": account.id,
            "name": name,
            "created_at": at,
            "updated_at": at,
            "symbols": self._symbols(body.get("symbols")),
        }
        account.watchlists[watchlist["id"]] = watchlist
        return self.watchlist_json(watchlist)

    def update_watchlist(
        self, account: Account, watchlist_id: str | None, body: Any, name: str | None = None
    ) -> dict[str, Any]:
        body = require_object(body)
        watchlist = self.find_watchlist(account, watchlist_id, name)
        new_name = body.get("name")
        if new_name is not None:
            if not isinstance(new_name, str) or not new_name.strip() or len(new_name) > 64:
                raise invalid("name must be a string of 1 to 64 characters")
            self._check_name_free(account, new_name, watchlist)
            watchlist["name"] = new_name
        if "symbols" in body:
            watchlist["symbols"] = self._symbols(body.get("symbols"))
        watchlist["updated_at"] = ts(self.tape.stamp())
        return self.watchlist_json(watchlist)

    def add_to_watchlist(
        self, account: Account, watchlist_id: str | None, body: Any, name: str | None = None
    ) -> dict[str, Any]:
        watchlist = self.find_watchlist(account, watchlist_id, name)
        symbol = body.get("symbol") if isinstance(body, dict) else None
        if not isinstance(symbol, str) or not symbol:
            raise invalid("symbol is required")
        spec = self.resolve(symbol)
        if spec is None:
            raise unprocessable(f'asset "{symbol}" not found')
        if spec.symbol in watchlist["symbols"]:
            raise unprocessable(f"{spec.symbol} is already in the watchlist")
        watchlist["symbols"].append(spec.symbol)
        watchlist["updated_at"] = ts(self.tape.stamp())
        return self.watchlist_json(watchlist)

    def remove_from_watchlist(
        self, account: Account, watchlist_id: str, symbol: str
    ) -> dict[str, Any]:
        watchlist = self.find_watchlist(account, watchlist_id)
        spec = self.resolve(symbol)
        if spec is None or spec.symbol not in watchlist["symbols"]:
            raise not_found(f"{symbol} is not in the watchlist")
        watchlist["symbols"].remove(spec.symbol)
        watchlist["updated_at"] = ts(self.tape.stamp())
        return self.watchlist_json(watchlist)

    def delete_watchlist(
        self, account: Account, watchlist_id: str | None, name: str | None = None
    ) -> None:
        watchlist = self.find_watchlist(account, watchlist_id, name)
        del account.watchlists[watchlist["id"]]


def calendar_days(params: dict[str, str]) -> list[dict[str, Any]]:
    """GET /v2/calendar: XNYS days (1990-2030) by trading or settlement date."""
    date_type = (params.get("date_type") or "TRADING").upper()
    if date_type not in ("TRADING", "SETTLEMENT"):
        raise bad_request("date_type must be TRADING or SETTLEMENT")
    days = xnys_sessions()
    start = parse_time(params["start"], "start").date() if params.get("start") else None
    end = parse_time(params["end"], "end").date() if params.get("end") else None
    by_settlement = date_type == "SETTLEMENT"
    out = []
    for index, day in enumerate(days):
        settlement = days[index + 1].date if index + 1 < len(days) else day.date
        key = settlement if by_settlement else day.date
        if (start is not None and key < start) or (end is not None and key > end):
            continue
        out.append(
            {
                "date": day.date.isoformat(),
                "open": day.open.astimezone(NEW_YORK).strftime("%H:%M"),
                "close": day.close.astimezone(NEW_YORK).strftime("%H:%M"),
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": settlement.isoformat(),
            }
        )
    return out
