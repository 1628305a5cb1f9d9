"""The venue's accounting: cash, positions, fees, activities, buying power and margin.

``Accounting`` books what an execution does to an account (the position, the cash, the part of
the order's reservation or held quantity it uses up), writes the FILL activity and the FEE a
sell pays (both with the execution's ``transaction_time``), and keeps what open orders set
aside: opening orders reserve their cost out of buying power, closing orders hold their
quantity out of the position. ``figures`` derives equity, margin and buying power at the current
prices (the rules are in docs/simulator.md); ``account_json`` and ``position_json`` render them
as Alpaca does.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import ROUND_UP, Decimal
from typing import Any

from alpaca_integration.simulator.clock import NEW_YORK, SimClock
from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.market import AssetSpec, Market
from alpaca_integration.simulator.state import Account, Order, Position, money, position_json
from alpaca_integration.simulator.tape import Tape
from alpaca_integration.simulator.wire import fmt, not_found, ts

__all__ = ["Accounting"]

_ZERO = Decimal(0)
_CENT = Decimal("0.01")
_TEN_PLACES = Decimal("1E-10")
_NINE_PLACES = Decimal("1E-9")
_HALF = Decimal("0.5")
_PDT_EQUITY = Decimal(25_000)


class Accounting:
    """Books executions, fees and set-asides, and derives each account's figures."""

    def __init__(self, config: SimConfig, *, market: Market, clock: SimClock, tape: Tape) -> None:
        self.config = config
        self.market = market
        self.clock = clock
        self.tape = tape
        # The activities event stream: told of every new activity, and of the execution id
        # behind each FILL (its ``ref_id`` there), keyed by the FILL activity's id.
        self.on_activity: Callable[[Account], None] | None = None
        self.execution_ids: dict[str, str] = {}
        # Crypto fees charged but not posted yet: (due, account, CFEE body, USD fee), by due.
        self.pending_fees: list[tuple[dt.datetime, Account, dict[str, Any], Decimal]] = []

    # ------------------------------------------------------------------ set-asides

    def reserve(self, order: Order, unit: Decimal, total: Decimal) -> None:
        """An opening order sets its cost (``unit`` per share) aside from buying power."""
        order.reserve_unit = unit
        order.reserved = total
        order.account.reserved += total

    def take_hold(self, order: Order) -> None:
        """A closing order holds what it has left to fill out of the position."""
        remaining = order.remaining or _ZERO
        if remaining <= 0 or order.hold_qty:
            return
        order.hold_qty = remaining
        order.account.held[order.symbol] = order.account.held.get(order.symbol, _ZERO) + remaining

    def release(self, order: Order) -> None:
        """Give back everything the order still sets aside (it is done or replaced)."""
        account = order.account
        if order.reserved:
            account.reserved -= order.reserved
            order.reserved = _ZERO
        if order.hold_qty:
            account.held[order.symbol] = account.held.get(order.symbol, _ZERO) - order.hold_qty
            order.hold_qty = _ZERO

    # ------------------------------------------------------------------ executions

    def settle(self, order: Order, qty: Decimal, price: Decimal, at: dt.datetime) -> Decimal:
        """Book one execution's position and cash, and use up its share of the set-aside.
        Returns the position quantity after it."""
        account = order.account
        signed = qty if order.is_buy else -qty
        # A crypto buy pays its fee in the coin: the position gets less than the fill.
        held = signed - self._coin_fee(order, qty)
        position_qty = self._apply_position(account, order.asset, held, price, at)
        account.cash -= signed * price * order.asset.multiplier
        if order.reserve_unit:
            release = min(order.reserved, (qty * order.reserve_unit).quantize(_TEN_PLACES))
            order.reserved -= release
            account.reserved -= release
        if order.hold_qty:
            released = min(order.hold_qty, qty)
            order.hold_qty -= released
            account.held[order.symbol] = account.held.get(order.symbol, _ZERO) - released
        return position_qty

    def record_fill(
        self, order: Order, qty: Decimal, price: Decimal, at: dt.datetime, kind: str
    ) -> None:
        """The FILL activity of an execution already applied to ``order``, and a sell's FEE."""
        assert order.target_qty is not None
        leaves = order.target_qty - order.filled_qty
        self.record_activity(
            order.account,
            at,
            {
                "activity_type": "FILL",
                "transaction_time": ts(at),
                "type": kind,
                "price": fmt(price),
                "qty": fmt(qty),
                "side": order.side,
                "symbol": order.symbol,
                "leaves_qty": fmt(max(leaves, _ZERO)),
                "cum_qty": fmt(order.filled_qty),
                "order_id": order.id,
                "order_status": order.status,
            },
        )
        if order.asset.is_crypto:
            self._charge_crypto_fee(order, qty, price, at)
        elif not order.is_buy:
            self._charge_fees(order, qty, price, at)

    def _coin_fee(self, order: Order, qty: Decimal) -> Decimal:
        """The coins a crypto buy's execution of ``qty`` pays as its fee (0 for anything else)."""
        if not (order.asset.is_crypto and order.is_buy):
            return _ZERO
        return (qty * self.config.crypto_fee_rate).quantize(_NINE_PLACES, rounding=ROUND_UP)

    def _charge_crypto_fee(
        self, order: Order, qty: Decimal, price: Decimal, at: dt.datetime
    ) -> None:
        """The CFEE of a crypto execution: in the coin on a buy (already kept out of the
        position by ``settle``), in USD on a sell. Posted (the activity, and a sell's cash) at
        ``crypto_fee_due``: the end of the UTC day unless ``crypto_fee_delay_seconds`` says."""
        body: dict[str, Any] = {
            "activity_type": "CFEE",
            "date": at.astimezone(NEW_YORK).date().isoformat(),
            "symbol": order.symbol.replace("/", ""),
            "price": fmt(price),
            "order_id": order.id,
            "status": "executed",
        }
        fee = _ZERO
        if order.is_buy:
            coins = self._coin_fee(order, qty)
            body.update(qty=fmt(-coins), net_amount="0", currency=order.symbol.split("/")[0])
            body["description"] = "Coin Pair Transaction Fee (Non USD)"
        else:
            fee = (qty * price * self.config.crypto_fee_rate).quantize(_CENT, rounding=ROUND_UP)
            body.update(net_amount=fmt(-fee), currency="USD")
            body["description"] = "Coin Pair Transaction Fee (USD)"
        due = self.crypto_fee_due(at)
        if due <= at:
            self._post_crypto_fee(order.account, body, fee, at)
            return
        self.pending_fees.append((due, order.account, body, fee))
        self.pending_fees.sort(key=lambda pending: pending[0])

    def crypto_fee_due(self, at: dt.datetime) -> dt.datetime:
        """When the fee of an execution at ``at`` posts: ``crypto_fee_delay_seconds`` later, or
        (unset) at the end of its UTC day, as Alpaca posts CFEE activities."""
        delay = self.config.crypto_fee_delay_seconds
        if delay is not None:
            return at + dt.timedelta(seconds=delay)
        day = at.astimezone(dt.UTC).date() + dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(), dt.UTC)

    def fees_due(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """The instants in (``start``, ``end``] at which pending crypto fees post."""
        return sorted({due for due, *_ in self.pending_fees if start < due <= end})

    def post_fees(self, at: dt.datetime) -> None:
        """Post every pending crypto fee due by ``at`` (dated ``at``, the posting instant)."""
        while self.pending_fees and self.pending_fees[0][0] <= at:
            _, account, body, fee = self.pending_fees.pop(0)
            self._post_crypto_fee(account, body, fee, at)

    def _post_crypto_fee(
        self, account: Account, body: dict[str, Any], fee: Decimal, at: dt.datetime
    ) -> None:
        account.cash -= fee
        account.fees_paid += fee
        self.record_activity(account, at, {**body, "transaction_time": ts(at)})

    def _charge_fees(self, order: Order, qty: Decimal, price: Decimal, at: dt.datetime) -> None:
        notional = qty * price * order.asset.multiplier
        sec = notional * self.config.sec_fee_rate
        taf = min(qty * self.config.taf_per_share, self.config.taf_max)
        fee = (sec + taf).quantize(_CENT, rounding=ROUND_UP)
        if fee <= 0:
            return
        account = order.account
        account.cash -= fee
        account.fees_paid += fee
        self.record_activity(
            account,
            at,
            {
                "activity_type": "FEE",
                "activity_sub_type": "REG",
                "date": at.astimezone(NEW_YORK).date().isoformat(),
                "transaction_time": ts(at),
                "net_amount": fmt(-fee),
                "description": (
                    f"Regulatory fees (SEC {fmt(sec.quantize(_TEN_PLACES))}, FINRA TAF "
                    f"{fmt(taf)}) on the sale of {fmt(qty)} {order.symbol} at {fmt(price)}"
                ),
                "symbol": order.symbol,
                "qty": fmt(qty),
                "price": fmt(price),
                "order_id": order.id,
                "status": "executed",
                "currency": "USD",
            },
        )

    def record_activity(self, account: Account, at: dt.datetime, body: dict[str, Any]) -> None:
        activity_id = self.tape.activity_id(at)
        activity = {"id": activity_id, "account_id": account.id, **body}
        account.activity_index[activity_id] = len(account.activities)
        account.activities.append(activity)
        account.activity_times.append(at)
        if self.on_activity is not None:
            self.on_activity(account)

    def note_execution(self, order: Order, execution_id: str) -> None:
        """Tie the execution id the stream reports to the order's latest FILL activity."""
        for activity in reversed(order.account.activities):
            if activity["activity_type"] == "FILL" and activity.get("order_id") == order.id:
                self.execution_ids[activity["id"]] = execution_id
                return

    def split(
        self, account: Account, symbol: str, old_rate: Decimal, new_rate: Decimal, at: dt.datetime
    ) -> bool:
        """A forward (``new_rate`` > ``old_rate``) or reverse split of the account's position:
        quantity times new/old, average price over it (cost kept), booked as Alpaca reports it,
        two ``SPLIT`` legs sharing a group id (the old shares out, the new ones in). False when
        the account does not hold ``symbol``."""
        position = account.positions.get(symbol)
        if position is None or not position.qty:
            return False
        old_qty, old_price = position.qty, position.avg_entry_price
        position.qty = old_qty * new_rate / old_rate
        position.avg_entry_price = (old_price * old_rate / new_rate).quantize(_TEN_PLACES)
        day = at.astimezone(NEW_YORK).date().isoformat()
        for qty, price in ((-old_qty, old_price), (position.qty, position.avg_entry_price)):
            self.record_activity(
                account,
                at,
                {
                    "activity_type": "SPLIT",
                    "activity_sub_type": "FSPLIT" if new_rate > old_rate else "RSPLIT",
                    "date": day,
                    "transaction_time": ts(at),
                    "net_amount": "0",
                    "symbol": symbol,
                    "qty": fmt(qty),
                    "price": fmt(price),
                    "status": "executed",
                    "group_id": f"split-{symbol}-{day}",
                    "old_rate": fmt(old_rate),
                    "new_rate": fmt(new_rate),
                    "description": f"{fmt(new_rate)}:{fmt(old_rate)} split of {symbol}",
                },
            )
        return True

    def book_shares(
        self,
        account: Account,
        asset: AssetSpec,
        signed: Decimal,
        price: Decimal,
        at: dt.datetime,
        *,
        cash: bool = True,
    ) -> Decimal:
        """A position change outside an order (exercise, assignment, expiry): ``signed`` units
        at ``price``, paid for in cash unless ``cash`` is off. Returns the position after it."""
        position_qty = self._apply_position(account, asset, signed, price, at)
        if cash:
            account.cash -= signed * price * asset.multiplier
        return position_qty

    @staticmethod
    def _apply_position(
        account: Account, asset: AssetSpec, signed: Decimal, price: Decimal, at: dt.datetime
    ) -> Decimal:
        symbol = asset.symbol
        position = account.positions.get(symbol)
        if position is None:
            position = account.positions[symbol] = Position(asset, at)
        old = position.qty
        new = old + signed
        if old == 0 or (old > 0) == (signed > 0):
            total = position.avg_entry_price * abs(old) + price * abs(signed)
            position.avg_entry_price = (total / abs(new)).quantize(_TEN_PLACES)
            if old == 0:
                position.opened_at = at
        else:
            closing = min(abs(signed), abs(old))
            direction = 1 if old > 0 else -1
            realized = (price - position.avg_entry_price) * closing * direction * asset.multiplier
            account.realized_pl[symbol] = account.realized_pl.get(symbol, _ZERO) + realized
            if abs(signed) > abs(old):
                position.avg_entry_price = price
                position.opened_at = at
        position.qty = new
        if new == 0:
            del account.positions[symbol]
        return new

    # ------------------------------------------------------------------ figures

    def figures(self, account: Account) -> dict[str, Decimal]:
        """Equity, market values, margin and buying power at the current prices."""
        long_value = short_value = margin_long = margin_short = _ZERO
        for symbol, position in account.positions.items():
            value = position.qty * self.market.price(symbol) * position.asset.multiplier
            rate_long = _HALF if position.asset.marginable else Decimal(1)
            if value >= 0:
                long_value += value
                margin_long += value * rate_long
            else:
                short_value += value
                margin_short += -value * rate_long
        equity = account.cash + long_value + short_value
        margin = account.account_type == "margin"
        maintenance = (
            long_value * Decimal("0.25") - short_value * Decimal("0.30") if margin else long_value
        )
        initial = margin_long + margin_short if margin else long_value
        return {
            "cash": account.cash,
            "long_market_value": long_value,
            "short_market_value": short_value,
            "equity": equity,
            "initial_margin": initial,
            "maintenance_margin": maintenance,
            **self._buying_power(account, equity, initial, maintenance),
        }

    @staticmethod
    def _buying_power(
        account: Account, equity: Decimal, initial: Decimal, maintenance: Decimal
    ) -> dict[str, Decimal]:
        max_multiplier = Decimal(str(account.configuration.get("max_margin_multiplier") or "1"))
        if account.account_type == "cash" or max_multiplier <= 1:
            regt = max(_ZERO, account.cash - account.reserved)
            return {
                "multiplier": Decimal(1),
                "regt_buying_power": regt,
                "daytrading_buying_power": _ZERO,
                "buying_power": regt,
                "non_marginable_buying_power": regt,
            }
        multiplier = Decimal(4) if equity >= _PDT_EQUITY and max_multiplier >= 4 else Decimal(2)
        excess = max(_ZERO, equity - initial)
        regt = max(_ZERO, excess * 2 - account.reserved)
        daytrading = (
            max(_ZERO, (equity - maintenance) * 4 - account.reserved) if multiplier == 4 else _ZERO
        )
        return {
            "multiplier": multiplier,
            "regt_buying_power": regt,
            "daytrading_buying_power": daytrading,
            "buying_power": daytrading if multiplier == 4 else regt,
            "non_marginable_buying_power": max(_ZERO, excess - account.reserved),
        }

    def available_buying_power(self, account: Account, asset: AssetSpec) -> Decimal:
        figures = self.figures(account)
        if not asset.marginable:
            return min(figures["buying_power"], figures["non_marginable_buying_power"])
        return figures["buying_power"]

    def mark_close(self, account: Account, at: dt.datetime) -> None:
        """At the close: the day's last equity and maintenance margin, and an equity sample."""
        figures = self.figures(account)
        account.last_equity = figures["equity"]
        account.last_maintenance_margin = figures["maintenance_margin"]
        account.equity_samples.append((int(at.timestamp()), figures["equity"]))

    # ------------------------------------------------------------------ views

    def account_json(self, account: Account) -> dict[str, Any]:
        """GET /v2/account at the current prices."""
        figures = self.figures(account)
        config = account.configuration
        return {
            "id": account.id,
            "account_number": account.number,
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": money(figures["buying_power"]),
            "regt_buying_power": money(figures["regt_buying_power"]),
            "daytrading_buying_power": money(figures["daytrading_buying_power"]),
            "effective_buying_power": money(figures["buying_power"]),
            "non_marginable_buying_power": money(figures["non_marginable_buying_power"]),
            "options_buying_power": money(figures["non_marginable_buying_power"]),
            "bod_dtbp": "0",
            "cash": fmt(account.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "pending_reg_taf_fees": "0",
            "portfolio_value": fmt(figures["equity"]),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": ts(account.created_at),
            "trade_suspended_by_user": bool(config["suspend_trade"]),
            "multiplier": fmt(figures["multiplier"]),
            "shorting_enabled": account.account_type == "margin" and not config["no_shorting"],
            "equity": fmt(figures["equity"]),
            "last_equity": fmt(account.last_equity),
            "long_market_value": fmt(figures["long_market_value"]),
            "short_market_value": fmt(figures["short_market_value"]),
            "position_market_value": fmt(
                figures["long_market_value"] - figures["short_market_value"]
            ),
            "initial_margin": money(figures["initial_margin"]),
            "maintenance_margin": money(figures["maintenance_margin"]),
            "last_maintenance_margin": money(account.last_maintenance_margin),
            "sma": "0",
            "daytrade_count": 0,
            "balance_asof": self.clock.now().astimezone(NEW_YORK).date().isoformat(),
            "intraday_adjustments": "0",
            "options_approved_level": 3 if account.account_type == "margin" else 2,
            "options_trading_level": int(config["max_options_trading_level"]),
        }

    @staticmethod
    def find_position(account: Account, asset: AssetSpec | None) -> Position:
        position = account.positions.get(asset.symbol) if asset is not None else None
        if position is None:
            raise not_found("position does not exist")
        return position

    def position_json(self, account: Account, position: Position) -> dict[str, Any]:
        symbol = position.symbol
        return position_json(
            position,
            price=self.market.price(symbol),
            lastday=self.market.lastday[symbol],
            held=account.held.get(symbol, _ZERO),
        )

    def positions(self, account: Account) -> list[dict[str, Any]]:
        return [
            self.position_json(account, account.positions[symbol])
            for symbol in sorted(account.positions)
        ]
