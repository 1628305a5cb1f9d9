"""Options on the simulated venue: the chains, the contracts endpoints, exercise and expiry.

``build_chain`` lists the contracts of each configured underlying when the venue starts: strikes
around its price (seven, a step apart) for the expiries of the coming days (today if a weekday,
the next two Fridays and the third Friday of next month), calls and puts, American style,
multiplier 100. Their premiums come from the underlying's walk (``market.option_value``).

``OptionsDesk`` answers ``GET /v2/options/contracts[/{symbol_or_id}]`` (Alpaca's filters,
``page_token`` paging), ``POST /v2/positions/{symbol_or_contract_id}/exercise`` (at once, every
available contract) and ``/do-not-exercise``, and runs expiry at 16:00 New York on the expiry
day: in-the-money (by a cent or more) long positions are exercised (``OPEXC``) unless marked
do-not-exercise, short ones assigned (``OPASN``), each with the ``OPTRD`` activity of the shares
bought or sold at the strike; the rest expire (``OPEXP``). Open orders on an expiring contract
expire with it (their trade_updates ``expired`` events).

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

from alpaca_integration.simulator.accounting import Accounting
from alpaca_integration.simulator.clock import NEW_YORK, TradingCalendar
from alpaca_integration.simulator.market import AssetSpec, Market, asset_id_for
from alpaca_integration.simulator.matching import MatchingEngine
from alpaca_integration.simulator.state import Account
from alpaca_integration.simulator.tape import Tape
from alpaca_integration.simulator.wire import (
    VenueError,
    fmt,
    forbidden,
    invalid,
    not_found,
    parse_bool,
    parse_decimal,
    parse_int,
    ts,
    unprocessable,
)

__all__ = ["CONTRACT_SIZE", "OptionsDesk", "build_chain", "expiry_instant"]

CONTRACT_SIZE = Decimal(100)
_STRIKES_EACH_SIDE = 3
_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_CODE_SHORT = 40310001


def _expiries(now: dt.datetime) -> list[dt.date]:
    """Today (a weekday, before 16:00 New York), the next two Fridays after today and the third
    Friday of next month."""
    today = now.astimezone(NEW_YORK).date()
    days = {today} if today.weekday() < 5 and now < expiry_instant(today) else set()
    friday = today + dt.timedelta(days=(4 - today.weekday()) % 7 or 7)
    days.update({friday, friday + dt.timedelta(days=7)})
    first = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    days.add(first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14))
    return sorted(days)


def _strikes(price: Decimal) -> list[Decimal]:
    step = Decimal(5) if price >= 100 else Decimal("2.5") if price >= 25 else Decimal(1)
    middle = (price / step).to_integral_value() * step
    strikes = [middle + step * k for k in range(-_STRIKES_EACH_SIDE, _STRIKES_EACH_SIDE + 1)]
    return [strike for strike in strikes if strike > 0]


def build_chain(
    underlyings: list[AssetSpec], prices: dict[str, Decimal], now: dt.datetime
) -> dict[str, AssetSpec]:
    """The option contracts of ``underlyings`` (see the module docstring), by OCC symbol."""
    chain: dict[str, AssetSpec] = {}
    for underlying in underlyings:
        price = prices[underlying.symbol]
        for expiry in _expiries(now):
            for strike in _strikes(price):
                for right in ("C", "P"):
                    symbol = f"{underlying.symbol}{expiry:%y%m%d}{right}{int(strike * 1000):08d}"
                    kind = "Call" if right == "C" else "Put"
                    chain[symbol] = AssetSpec(
                        symbol,
                        f"{underlying.symbol} {expiry:%b} {expiry.day} {expiry.year} "
                        f"{fmt(strike)} {kind}",
                        "",
                        _CENT,
                        fractionable=False,
                        marginable=False,
                        easy_to_borrow=True,
                        asset_class="us_option",
                        multiplier=CONTRACT_SIZE,
                        underlying=underlying.symbol,
                        strike=strike,
                        expiry=expiry,
                        right=right,
                    )
    return chain


def expiry_instant(day: dt.date) -> dt.datetime:
    """When contracts expiring on ``day`` stop trading and are settled: 16:00 New York."""
    return dt.datetime.combine(day, dt.time(16), NEW_YORK).astimezone(dt.UTC)


class OptionsDesk:
    """Contracts, exercise instructions and expiry. See the module docstring."""

    def __init__(
        self,
        contracts: dict[str, AssetSpec],
        *,
        assets: dict[str, AssetSpec],
        engine: MatchingEngine,
    ) -> None:
        self.contracts = contracts
        self.by_id = {spec.id: spec for spec in contracts.values()}
        self.assets = assets
        self.engine = engine
        self.market: Market = engine.market
        self.calendar: TradingCalendar = engine.calendar
        self.tape: Tape = engine.tape
        self.accounting: Accounting = engine.accounting
        self.expired: set[dt.date] = set()
        # The expiry instants still to come, soonest last (``due`` runs on every request).
        days = {spec.expiry for spec in contracts.values() if spec.expiry is not None}
        self._pending = sorted(((expiry_instant(day), day) for day in days), reverse=True)

    # ------------------------------------------------------------------ contracts

    def find(self, symbol_or_id: str) -> AssetSpec | None:
        return self.contracts.get(symbol_or_id.upper()) or self.by_id.get(symbol_or_id.lower())

    def _contract_json(self, spec: AssetSpec, *, deliverables: bool) -> dict[str, Any]:
        assert spec.expiry is not None
        assert spec.strike is not None
        assert spec.underlying
        active = spec.expiry not in self.expired
        close_date = self.tape.stamp().astimezone(NEW_YORK).date()
        out: dict[str, Any] = {
            "id": spec.id,
            "symbol": spec.symbol,
            "name": spec.name,
            "status": "active" if active else "inactive",
            "tradable": active,
            "expiration_date": spec.expiry.isoformat(),
            "root_symbol": spec.underlying,
            "underlying_symbol": spec.underlying,
            "underlying_asset_id": asset_id_for(spec.underlying),
            "type": "call" if spec.right == "C" else "put",
            "style": "american",
            "strike_price": fmt(spec.strike),
            "multiplier": fmt(spec.multiplier),
            "size": fmt(CONTRACT_SIZE),
            "open_interest": "0",
            "open_interest_date": close_date.isoformat(),
            "close_price": fmt(self.market.lastday[spec.symbol]),
            "close_price_date": close_date.isoformat(),
        }
        if deliverables:
            out["deliverables"] = [
                {
                    "type": "equity",
                    "symbol": spec.underlying,
                    "asset_id": asset_id_for(spec.underlying),
                    "amount": fmt(CONTRACT_SIZE),
                    "allocation_percentage": "100",
                    "settlement_type": "T+1",
                    "settlement_method": "CCC",
                    "delayed_settlement": False,
                }
            ]
        return out

    def contract(self, symbol_or_id: str) -> dict[str, Any]:
        """GET /v2/options/contracts/{symbol_or_id}."""
        spec = self.find(symbol_or_id)
        if spec is None:
            raise not_found(f"option contract {symbol_or_id} not found")
        return self._contract_json(spec, deliverables=True)

    def list_contracts(self, params: dict[str, str]) -> dict[str, Any]:
        """GET /v2/options/contracts: Alpaca's filters; by default active contracts expiring
        by the coming weekend; ``limit`` (100, at most 10000) per page, ``page_token`` on."""
        matches = [spec for spec in self._sorted() if self._selected(spec, params)]
        limit = parse_int(params.get("limit"), "limit", default=100)
        if not 1 <= limit <= 10_000:
            raise invalid("limit must be between 1 and 10000")
        start = _page_offset(params.get("page_token"))
        page = matches[start : start + limit]
        more = start + limit < len(matches)
        deliverables = parse_bool(params.get("show_deliverables") or "false", "show_deliverables")
        return {
            "option_contracts": [self._contract_json(s, deliverables=deliverables) for s in page],
            "next_page_token": _page_token(start + limit) if more else None,
        }

    def _sorted(self) -> list[AssetSpec]:
        return sorted(
            self.contracts.values(),
            key=lambda s: (s.underlying or "", s.expiry, s.right, s.strike),
        )

    def _selected(self, spec: AssetSpec, params: dict[str, str]) -> bool:
        assert spec.expiry is not None
        assert spec.strike is not None
        underlyings = params.get("underlying_symbols")
        if underlyings and spec.underlying not in underlyings.upper().split(","):
            return False
        if params.get("root_symbol") and spec.underlying != params["root_symbol"].upper():
            return False
        status = params.get("status") or "active"
        if status not in ("active", "inactive"):
            raise invalid("status must be active or inactive")
        if (status == "active") == (spec.expiry in self.expired):
            return False
        kind = params.get("type")
        if kind and kind[:1].upper() != spec.right:
            return False
        if params.get("style") and params["style"] != "american":
            return False
        return self._in_dates(spec.expiry, params) and self._in_strikes(spec.strike, params)

    def _in_dates(self, expiry: dt.date, params: dict[str, str]) -> bool:
        exact = _date(params, "expiration_date")
        if exact is not None:
            return expiry == exact
        low = _date(params, "expiration_date_gte")
        high = _date(params, "expiration_date_lte")
        if high is None and low is None:
            today = self.tape.stamp().astimezone(NEW_YORK).date()
            high = today + dt.timedelta(days=6 - today.weekday())  # the coming Sunday
        return (low is None or expiry >= low) and (high is None or expiry <= high)

    @staticmethod
    def _in_strikes(strike: Decimal, params: dict[str, str]) -> bool:
        low = params.get("strike_price_gte")
        high = params.get("strike_price_lte")
        if low and strike < parse_decimal(low, "strike_price_gte"):
            return False
        return not (high and strike > parse_decimal(high, "strike_price_lte"))

    # ------------------------------------------------------------------ instructions

    def _held(self, account: Account, symbol_or_id: str, verb: str) -> tuple[AssetSpec, Decimal]:
        """The contract and the long quantity available for an instruction (or the refusal)."""
        spec = self.find(symbol_or_id)
        if spec is None:
            raise unprocessable("invalid symbol")
        position = account.positions.get(spec.symbol)
        if position is None:
            raise forbidden("no available position for the specified contract")
        if position.qty < 0:
            raise VenueError(403, _CODE_SHORT, f"cannot {verb} short position")
        available = position.qty - account.held.get(spec.symbol, _ZERO)
        if available <= 0:
            raise forbidden("no available position for the specified contract")
        return spec, available

    def exercise(self, account: Account, symbol_or_id: str) -> None:
        """POST /v2/positions/{symbol_or_contract_id}/exercise: every available contract, now."""
        spec, available = self._held(account, symbol_or_id, "exercise")
        now = self.tape.stamp()
        local = now.astimezone(NEW_YORK)
        if not self.calendar.always_open and local.time() >= dt.time(16):
            raise unprocessable(
                "exercise requests between the market close and midnight are rejected; "
                "send it again after midnight New York time"
            )
        account.option_instructions.pop(spec.symbol, None)
        self._settle(account, spec, available, "OPEXC", now)

    def do_not_exercise(self, account: Account, symbol_or_id: str) -> None:
        """POST .../do-not-exercise: the long position is left to expire, even in the money."""
        spec, _ = self._held(account, symbol_or_id, "submit DNE for")
        account.option_instructions[spec.symbol] = "do_not_exercise"

    # ------------------------------------------------------------------ expiry

    def due(self, after: dt.datetime, until: dt.datetime) -> list[tuple[dt.datetime, dt.date]]:
        """The expiry instants in (after, until], with their day (each handed out once)."""
        out: list[tuple[dt.datetime, dt.date]] = []
        while self._pending and self._pending[-1][0] <= until:
            at, day = self._pending.pop()
            if at > after:
                out.append((at, day))
        return out

    def expire(self, day: dt.date, accounts: list[Account]) -> None:
        """Settle every position in the contracts expiring on ``day`` (see the module
        docstring); their open orders expire first."""
        symbols = {s for s, spec in self.contracts.items() if spec.expiry == day}
        for symbol in symbols:
            for order in list(self.engine.book.get(symbol, {}).values()):
                self.engine.finish(order, "expired", self.tape.stamp())
        for order in list(self.engine.waiting.values()):
            if order.symbol in symbols:
                self.engine.finish(order, "expired", self.tape.stamp())
        self.expired.add(day)
        for account in accounts:
            for symbol in sorted(symbols & set(account.positions)):
                self._expire_position(account, self.contracts[symbol])

    def _expire_position(self, account: Account, spec: AssetSpec) -> None:
        assert spec.underlying is not None
        assert spec.strike is not None
        qty = account.positions[spec.symbol].qty
        price = self.market.price(spec.underlying)
        money = price - spec.strike if spec.right == "C" else spec.strike - price
        instruction = account.option_instructions.pop(spec.symbol, None)
        at = self.tape.stamp()
        if money < _CENT or (qty > 0 and instruction == "do_not_exercise"):
            self._close(account, spec, qty, "OPEXP", at, _ZERO, self.tape.new_id())
            return
        self._settle(account, spec, qty, "OPEXC" if qty > 0 else "OPASN", at)

    def _settle(
        self, account: Account, spec: AssetSpec, qty: Decimal, kind: str, at: dt.datetime
    ) -> None:
        """Exercise (``qty`` > 0) or assignment (< 0): the contracts go, the underlying's
        shares come or go at the strike (OPTRD), both activities in one group."""
        assert spec.underlying is not None
        assert spec.strike is not None
        group = self.tape.new_id()
        position = account.positions[spec.symbol]
        self._close(account, spec, qty, kind, at, position.avg_entry_price, group)
        shares = qty * spec.multiplier * (1 if spec.right == "C" else -1)
        underlying = self.assets[spec.underlying]
        self.accounting.book_shares(account, underlying, shares, spec.strike, at)
        self.accounting.record_activity(
            account,
            at,
            {
                **_nta("OPTRD", at, group),
                "symbol": spec.underlying,
                "qty": fmt(shares),
                "price": fmt(spec.strike),
                "net_amount": fmt(-shares * spec.strike),
                "description": f"Option Trade: {spec.symbol} {kind}",
            },
        )

    def _close(
        self,
        account: Account,
        spec: AssetSpec,
        qty: Decimal,
        kind: str,
        at: dt.datetime,
        price: Decimal,
        group: str,
    ) -> None:
        """The contracts leave the account (at ``price``: zero for an expiry, their cost for an
        exercise or assignment) with the OPEXC/OPASN/OPEXP activity."""
        self.accounting.book_shares(account, spec, -qty, price, at, cash=False)
        description = {"OPEXC": "Option Exercise", "OPASN": "Option Assignment"}
        self.accounting.record_activity(
            account,
            at,
            {
                **_nta(kind, at, group),
                "symbol": spec.symbol,
                "qty": fmt(-qty),
                "net_amount": "0",
                "description": description.get(kind, "Option Expiry"),
            },
        )


def _nta(kind: str, at: dt.datetime, group: str) -> dict[str, Any]:
    day = at.astimezone(NEW_YORK).date().isoformat()
    return {
        "activity_type": kind,
        "date": day,
        "system_date": day,
        "transaction_time": ts(at),
        "group_id": group,
        "status": "executed",
    }


def _date(params: dict[str, str], name: str) -> dt.date | None:
    text = params.get(name)
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise invalid(f"{name} must be a date YYYY-MM-DD, got {text!r}") from None


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"contracts:{offset}".encode()).decode()


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "contracts" and offset.isdigit():
            return int(offset)
    except (ValueError, UnicodeDecodeError):
        pass
    raise invalid("page_token is not one this venue handed out; start again without it")
