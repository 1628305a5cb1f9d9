"""The simulated broker: every account of the venue and the rooms that move them.

``Broker`` is the venue's one entry point, composed of rooms it wires together:

* ``accounts.AccountBook``: who gets in (``authenticate``) and each account's configuration;
* ``validation`` and ``exposure.OrderRules``: Alpaca's rules for order requests (their fields;
  what the account may afford or sell);
* ``orders.OrderDesk``: accepting, replacing, canceling, finding and listing orders (``mleg``
  spreads through its ``mleg.MlegDesk``);
* ``options.OptionsDesk``: the option chains, exercise, do-not-exercise and expiry (16:00 New
  York on the expiry day, run by ``sync`` like a session boundary);
* ``matching.MatchingEngine``: the book, executions, triggers, held legs, OCO/bracket;
* ``accounting.Accounting``: cash, positions, fees, activities, buying power;
* ``history``: activities queries and portfolio history;
* ``catalog.Catalog``: assets and watchlists;
* ``tape.Tape``: the ids and timestamps handed out and the trade_updates events emitted.

It is driven by three kinds of calls, all on one thread (the server's event loop), so no call
ever sees another half done:

* requests (``submit_order``, ``replace_order``, ``cancel_order``, ``list_orders``, ...) that
  answer Alpaca's JSON or raise ``VenueError`` with Alpaca's status, code and message;
* ``sync()``, which brings the venue to the clock's now: phase boundaries (pre-market, open,
  close, after-hours end) with their auctions and expiries, then price moves and the matching of
  the symbols whose price changed (matching is incremental: only those symbols' working orders);
* admin calls (``set_price``, ``dump``).

Every state change emits a trade_updates event (``sink(key_id, message)``) whose order snapshot is
taken at that moment. A fill's event timestamp is its FILL activity's ``transaction_time``, which
is also the ``transaction_time`` of the FEE activity a sell pays; the event's ``order.filled_qty``
is the activity's ``cum_qty``.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from alpaca_integration.errors import ConfigError
from alpaca_integration.simulator import history
from alpaca_integration.simulator.accounting import Accounting
from alpaca_integration.simulator.accounts import AccountBook, update_configuration
from alpaca_integration.simulator.asset_classes import (
    DEFAULT_CRYPTO_PAIRS,
    DEFAULT_OPTION_UNDERLYINGS,
    crypto_assets,
)
from alpaca_integration.simulator.catalog import Catalog
from alpaca_integration.simulator.clock import (
    Boundary,
    Phase,
    SimClock,
    TradingCalendar,
)
from alpaca_integration.simulator.config import FaultConfig, SimConfig
from alpaca_integration.simulator.exposure import OrderRules
from alpaca_integration.simulator.history import ACTIVITY_TYPES
from alpaca_integration.simulator.market import AssetSpec, Market
from alpaca_integration.simulator.matching import MatchingEngine
from alpaca_integration.simulator.options import OptionsDesk, build_chain
from alpaca_integration.simulator.orders import OrderDesk
from alpaca_integration.simulator.state import Account, Order, Position, order_json
from alpaca_integration.simulator.tape import EventSink, Tape
from alpaca_integration.simulator.validation import close_qty
from alpaca_integration.simulator.wire import (
    VenueError,
    fmt,
    invalid,
    not_found,
    parse_bool,
    unprocessable,
)

__all__ = ["ACTIVITY_TYPES", "Broker", "EventSink"]


def _add_instruments(
    config: SimConfig, assets: dict[str, AssetSpec], market: Market, now: dt.datetime
) -> dict[str, AssetSpec]:
    """Add the crypto pairs and the option chains to ``assets`` (and their prices to
    ``market``); the option contracts, by symbol."""
    pairs = config.crypto_pairs if config.crypto_pairs is not None else DEFAULT_CRYPTO_PAIRS
    crypto = crypto_assets(pairs, config.seed)
    market.add_walks(crypto)
    assets.update(crypto)
    wanted = config.option_underlyings
    names = wanted if wanted is not None else DEFAULT_OPTION_UNDERLYINGS
    for name in wanted or ():
        if name not in assets or not assets[name].tradable:
            raise ConfigError(
                f"option_underlyings: {name!r} is not a tradable symbol of the simulator. Fix: "
                "list it in symbols (or pick a tradable one)",
                setting="option_underlyings",
            )
    underlyings = [assets[name] for name in names if name in assets and assets[name].tradable]
    chain = build_chain(underlyings, market.prices(), now)
    market.add_options(chain)
    assets.update(chain)
    return chain


class Broker:
    """Every account of the venue and the rules that move them. See the module docstring."""

    def __init__(
        self,
        config: SimConfig,
        *,
        clock: SimClock,
        calendar: TradingCalendar,
        market: Market,
        assets: dict[str, AssetSpec],
        sink: EventSink | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.calendar = calendar
        self.market = market
        contracts = _add_instruments(config, assets, market, clock.now())
        self.tape = Tape(clock, seed=config.seed, sink=sink)
        self.catalog = Catalog(assets, tape=self.tape)
        self.assets = assets
        self.assets_by_id = self.catalog.assets_by_id
        self.account_book = AccountBook(config, tape=self.tape, clock=clock)
        self.accounts: dict[str, Account] = self.account_book.accounts
        self.accounting = Accounting(config, market=market, clock=clock, tape=self.tape)
        self.rules = OrderRules(config, market=market, accounting=self.accounting)
        self._synced = clock.now()
        self.engine = MatchingEngine(
            config,
            symbols=assets,
            market=market,
            calendar=calendar,
            tape=self.tape,
            accounting=self.accounting,
            phase=calendar.phase(self._synced),
        )
        self.desk = OrderDesk(
            config,
            clock=clock,
            tape=self.tape,
            market=market,
            rules=self.rules,
            engine=self.engine,
            accounting=self.accounting,
            resolve_asset=self._order_asset,
        )
        self.options = OptionsDesk(contracts, assets=assets, engine=self.engine)
        self._sample_minute = -1

    # ------------------------------------------------------------------ wiring

    @property
    def sink(self) -> EventSink | None:
        """Where events go (the stream hub's ``publish``); settable after construction."""
        return self.tape.sink

    @sink.setter
    def sink(self, sink: EventSink | None) -> None:
        self.tape.sink = sink

    @property
    def order_reject_rate(self) -> float:
        """Fault: the probability an accepted order is then rejected."""
        return self.desk.order_reject_rate

    @order_reject_rate.setter
    def order_reject_rate(self, rate: float) -> None:
        self.desk.order_reject_rate = rate

    def apply_faults(self, faults: FaultConfig) -> None:
        """The broker's faults: rejected orders, the visibility lag, stale fill snapshots."""
        self.desk.order_reject_rate = faults.order_reject_rate
        self.desk.visibility_lag_seconds = faults.visibility_lag_seconds
        self.engine.stale_fill_probability = faults.stale_order_in_fill_probability

    @property
    def phase(self) -> Phase:
        return self.engine.phase

    def authenticate(self, key_id: str | None, secret_key: str | None) -> Account:
        """The account of this key pair, created on first use (or 401 with Alpaca's body)."""
        return self.account_book.authenticate(key_id, secret_key)

    # ------------------------------------------------------------------ time and matching

    def sync(self) -> None:
        """Bring the venue to the clock's now: boundaries, price moves, matching."""
        now = self.clock.now()
        if now <= self._synced:
            return
        # Session boundaries, then at 16:00 New York on an expiry day the options expiry.
        steps: list[tuple[dt.datetime, int, Boundary | dt.date | None]] = [
            (boundary.at, 0, boundary) for boundary in self.calendar.boundaries(self._synced, now)
        ]
        steps += [(at, 1, day) for at, day in self.options.due(self._synced, now)]
        # Crypto fees post after their day (Accounting.crypto_fee_due).
        steps += [(at, 2, None) for at in self.accounting.fees_due(self._synced, now)]
        for at, _, step in sorted(steps, key=lambda item: item[:2]):
            self.market.advance(at)
            self.tape.processing_at = at
            try:
                if isinstance(step, Boundary):
                    self._on_boundary(step)
                elif step is None:
                    self.accounting.post_fees(at)
                else:
                    self.options.expire(step, list(self.accounts.values()))
            finally:
                self.tape.processing_at = None
        changed = self.market.advance(now)
        self._synced = now
        self.engine.phase = self.calendar.phase(now)
        for symbol in changed:
            self.engine.match_symbol(symbol)
        minute = int(now.timestamp()) // 60
        if minute != self._sample_minute:
            self._sample_minute = minute
            for account in self.accounts.values():
                equity = self.accounting.figures(account)["equity"]
                account.equity_samples.append((minute * 60, equity))

    def _on_boundary(self, boundary: Boundary) -> None:
        self.engine.phase = self.calendar.phase(boundary.at)
        self.engine.run_boundary(boundary.kind)
        if boundary.kind == "close":
            self.market.mark_close()
            for account in self.accounts.values():
                self.accounting.mark_close(account, boundary.at)

    def tick(self) -> None:
        """Run matching over every symbol once (the background ticker calls ``sync``)."""
        self.sync()
        self.engine.match_all()

    def set_price(self, symbol: str, price: Decimal) -> Decimal:
        self.sync()
        if symbol not in self.assets:
            raise not_found(f"unknown symbol {symbol!r}")
        if price <= 0:
            raise invalid("price must be > 0")
        pinned = self.market.set_price(symbol, price)
        self.engine.match_symbol(symbol)
        for contract in self.market.reprice_options():
            self.engine.match_symbol(contract)
        return pinned

    def split(self, symbol: str, old_rate: Decimal, new_rate: Decimal) -> dict[str, Any]:
        """A split of ``symbol`` now (admin): every holder's position adjusted with its SPLIT
        activity legs (``Accounting.split``) and the price pinned at old/new of itself. Refused
        while an order on the symbol is open (cancel it first). The legs carry the instant as
        ``transaction_time`` besides Alpaca's ``date``: a split in the middle of a session
        applies after the trades before it (a date alone means the start of the day)."""
        self.sync()
        if symbol not in self.assets:
            raise not_found(f"unknown symbol {symbol!r}")
        if old_rate <= 0 or new_rate <= 0:
            raise invalid("old_rate and new_rate must be > 0")
        for account in self.accounts.values():
            if any(order.symbol == symbol for order in account.open_orders.values()):
                raise invalid(f"an order on {symbol} is open: cancel it before the split")
        at = self.clock.now()
        held = [
            account.key_id
            for account in self.accounts.values()
            if self.accounting.split(account, symbol, old_rate, new_rate, at)
        ]
        price = self.market.set_price(symbol, self.market.price(symbol) * old_rate / new_rate)
        return {"symbol": symbol, "price": str(price), "accounts": held}

    def release_price(self, symbol: str) -> None:
        if symbol not in self.assets:
            raise not_found(f"unknown symbol {symbol!r}")
        self.market.release(symbol, self.clock.now())

    # ------------------------------------------------------------------ account

    def account_json(self, account: Account) -> dict[str, Any]:
        self.sync()
        return self.accounting.account_json(account)

    def configuration(self, account: Account) -> dict[str, Any]:
        return dict(account.configuration)

    def update_configuration(self, account: Account, body: Any) -> dict[str, Any]:
        return update_configuration(account, body)

    def activities(
        self, account: Account, params: dict[str, str], activity_type: str | None = None
    ) -> list[dict[str, Any]]:
        """GET /v2/account/activities[/{type}] with Alpaca's filters and page_token paging."""
        self.sync()
        return history.activities(account, params, activity_type)

    def portfolio_history(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        """GET /v2/account/portfolio/history from the equity sampled once a simulated minute."""
        self.sync()
        equity = self.accounting.figures(account)["equity"]
        return history.portfolio_history(account, params, now=self.clock.now(), equity=equity)

    # ------------------------------------------------------------------ orders

    def submit_order(self, account: Account, body: Any) -> dict[str, Any]:
        """POST /v2/orders: validate, accept, answer the accepted snapshot, then match."""
        self.sync()
        return self.desk.submit(account, body)

    def get_order(self, account: Account, order_id: str) -> Order:
        self.sync()
        return self.desk.get_order(account, order_id)

    def order_by_client_id(self, account: Account, client_order_id: str | None) -> Order:
        self.sync()
        return self.desk.order_by_client_id(account, client_order_id)

    def list_orders(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /v2/orders with Alpaca's filters and paging (see docs/simulator.md)."""
        self.sync()
        return self.desk.list_orders(account, params)

    def replace_order(self, account: Account, order_id: str, body: Any) -> dict[str, Any]:
        """PATCH /v2/orders/{id}: a new order replaces the old one (see docs/simulator.md)."""
        self.sync()
        return self.desk.replace(account, order_id, body)

    def cancel_order(self, account: Account, order_id: str) -> None:
        """DELETE /v2/orders/{id}: pending_cancel, then canceled (legs and peers follow)."""
        self.sync()
        self.desk.cancel(account, order_id)

    def cancel_all(self, account: Account) -> list[dict[str, Any]]:
        """DELETE /v2/orders: one {id, status, body} entry per order canceled (HTTP 207)."""
        self.sync()
        return self.desk.cancel_all(account)

    # ------------------------------------------------------------------ positions

    def _position(self, account: Account, symbol_or_id: str) -> Position:
        return self.accounting.find_position(account, self.catalog.resolve(symbol_or_id))

    def position_json(self, account: Account, position: Position) -> dict[str, Any]:
        return self.accounting.position_json(account, position)

    def positions(self, account: Account) -> list[dict[str, Any]]:
        self.sync()
        return self.accounting.positions(account)

    def get_position(self, account: Account, symbol_or_id: str) -> dict[str, Any]:
        self.sync()
        return self.position_json(account, self._position(account, symbol_or_id))

    def close_position(
        self, account: Account, symbol_or_id: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """DELETE /v2/positions/{symbol}: a market order for all, ``qty`` or ``percentage``."""
        self.sync()
        position = self._position(account, symbol_or_id)
        body = {
            "symbol": position.symbol,
            "qty": fmt(close_qty(position, params)),
            "side": "sell" if position.qty > 0 else "buy",
            "type": "market",
            "time_in_force": "gtc" if position.asset.is_crypto else "day",
        }
        return self.submit_order(account, body)

    def close_all(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        """DELETE /v2/positions: one {symbol, status, body} entry per position (HTTP 207)."""
        self.sync()
        if parse_bool(params.get("cancel_orders") or "false", "cancel_orders"):
            self.cancel_all(account)
        results: list[dict[str, Any]] = []
        for symbol in sorted(account.positions):
            try:
                body = self.close_position(account, symbol, {})
            except VenueError as exc:
                results.append({"symbol": symbol, "status": exc.status, "body": exc.body()})
            else:
                results.append({"symbol": symbol, "status": 200, "body": body})
        return results

    # ------------------------------------------------------------------ options

    def _order_asset(self, symbol_or_id: str) -> AssetSpec | None:
        """The asset an order names; an expired option contract is refused."""
        spec = self.catalog.resolve(symbol_or_id)
        if spec is not None and spec.is_option and spec.expiry in self.options.expired:
            raise unprocessable(f"option contract {spec.symbol} has expired: it cannot be traded")
        return spec

    def option_contracts(self, params: dict[str, str]) -> dict[str, Any]:
        self.sync()
        return self.options.list_contracts(params)

    def option_contract(self, symbol_or_id: str) -> dict[str, Any]:
        self.sync()
        return self.options.contract(symbol_or_id)

    def exercise(self, account: Account, symbol_or_id: str) -> None:
        """POST /v2/positions/{symbol_or_contract_id}/exercise."""
        self.sync()
        self.options.exercise(account, symbol_or_id)

    def do_not_exercise(self, account: Account, symbol_or_id: str) -> None:
        """POST /v2/positions/{symbol_or_contract_id}/do-not-exercise."""
        self.sync()
        self.options.do_not_exercise(account, symbol_or_id)

    # ------------------------------------------------------------------ assets and watchlists

    def asset_list(self, params: dict[str, str]) -> list[dict[str, Any]]:
        return self.catalog.asset_list(params)

    def asset(self, symbol_or_id: str) -> dict[str, Any]:
        return self.catalog.asset(symbol_or_id)

    def watchlist_json(
        self, watchlist: dict[str, Any], *, with_assets: bool = True
    ) -> dict[str, Any]:
        return self.catalog.watchlist_json(watchlist, with_assets=with_assets)

    def watchlists(self, account: Account) -> list[dict[str, Any]]:
        return self.catalog.watchlists(account)

    def create_watchlist(self, account: Account, body: Any) -> dict[str, Any]:
        return self.catalog.create_watchlist(account, body)

    def get_watchlist(
        self, account: Account, watchlist_id: str | None, name: str | None = None
    ) -> dict[str, Any]:
        return self.watchlist_json(self.catalog.find_watchlist(account, watchlist_id, name))

    def update_watchlist(
        self, account: Account, watchlist_id: str | None, body: Any, name: str | None = None
    ) -> dict[str, Any]:
        return self.catalog.update_watchlist(account, watchlist_id, body, name)

    def add_to_watchlist(
        self, account: Account, watchlist_id: str | None, body: Any, name: str | None = None
    ) -> dict[str, Any]:
        return self.catalog.add_to_watchlist(account, watchlist_id, body, name)

    def remove_from_watchlist(
        self, account: Account, watchlist_id: str, symbol: str
    ) -> dict[str, Any]:
        return self.catalog.remove_from_watchlist(account, watchlist_id, symbol)

    def delete_watchlist(
        self, account: Account, watchlist_id: str | None, name: str | None = None
    ) -> None:
        self.catalog.delete_watchlist(account, watchlist_id, name)

    # ------------------------------------------------------------------ admin views

    def dump(self, key_id: str) -> dict[str, Any]:
        """Everything about one account, for tests and reconciliation (admin only)."""
        self.sync()
        account = self.accounts.get(key_id) or self.account_book.blank(key_id)
        figures = self.accounting.figures(account)
        return {
            "key_id": account.key_id,
            "account": self.account_json(account),
            "account_type": account.account_type,
            "starting_cash": fmt(account.starting_cash),
            "cash": fmt(account.cash),
            "equity": fmt(figures["equity"]),
            "long_market_value": fmt(figures["long_market_value"]),
            "short_market_value": fmt(figures["short_market_value"]),
            "buying_power": fmt(figures["buying_power"]),
            "reserved_buying_power": fmt(account.reserved),
            "fees_paid": fmt(account.fees_paid),
            "realized_pl": {s: fmt(v) for s, v in sorted(account.realized_pl.items())},
            "positions": self.positions(account),
            "orders": [
                order_json(order, nested=True)
                for order in account.orders_seq
                if order.parent is None or order not in order.parent.legs
            ],
            "fills": [a for a in account.activities if a["activity_type"] == "FILL"],
            "activities": list(account.activities),
            "watchlists": [self.watchlist_json(w) for w in account.watchlists.values()],
            "configuration": dict(account.configuration),
            "event_count": account.event_count,
        }

    def events(self, key_id: str, since: int = 0) -> dict[str, Any]:
        """The account's most recent trade_updates events (bounded by ``event_log_size``)."""
        account = self.account_book.existing(key_id)
        events = list(account.events)
        first = account.event_count - len(events)
        start = max(since - first, 0)
        return {"first_seq": first, "next_seq": account.event_count, "events": events[start:]}
