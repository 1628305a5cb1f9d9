"""Alpaca's rules for what an order may do given the account: the shape of bracket, OCO and OTO
orders against the position, wash trades, and the position and buying-power limits.

``OrderRules.check_class`` applies the order-class rules (a bracket or OTO is an entry with its
exits beyond the base price; an OCO is an exit), ``check_wash_trade`` refuses an order that could
fill against one's own opposite order, and ``check_exposure`` the held-quantity, shorting and
buying-power rules (403 with Alpaca's extra fields). Nothing here changes the venue's state.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

from alpaca_integration.simulator.accounting import Accounting
from alpaca_integration.simulator.asset_classes import crypto_short_refusal
from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.market import AssetSpec, Market, price_tick
from alpaca_integration.simulator.state import Account, Order, money
from alpaca_integration.simulator.validation import LIMIT_TYPES, OrderIntent
from alpaca_integration.simulator.wire import fmt, forbidden, invalid, unprocessable

__all__ = ["OrderRules"]

_ZERO = Decimal(0)
_NINE_PLACES = Decimal("1E-9")
_CENT = Decimal("0.01")


def _check_base_distance(intent: OrderIntent, base: Decimal) -> None:
    """A bracket/OTO entry's exits must be at least a tick beyond its base price."""
    buy = intent.is_buy
    tick = price_tick(base)
    detail = f"{fmt(tick)} (base_price {fmt(base)})"
    if intent.take_profit is not None:
        if buy and intent.take_profit < base + tick:
            raise unprocessable(f"take_profit.limit_price must be >= base_price + {detail}")
        if not buy and intent.take_profit > base - tick:
            raise unprocessable(f"take_profit.limit_price must be <= base_price - {detail}")
    if intent.stop_loss_stop is not None:
        if buy and intent.stop_loss_stop > base - tick:
            raise unprocessable(f"stop_loss.stop_price must be <= base_price - {detail}")
        if not buy and intent.stop_loss_stop < base + tick:
            raise unprocessable(f"stop_loss.stop_price must be >= base_price + {detail}")


def _check_oco(intent: OrderIntent, closing: bool) -> None:
    if intent.type != "limit":
        raise unprocessable("oco orders must be limit orders (the take-profit)")
    if intent.take_profit is None or intent.stop_loss_stop is None:
        raise invalid("oco orders require take_profit.limit_price and stop_loss.stop_price")
    if intent.limit_price is None:
        intent.limit_price = intent.take_profit
    if not closing:
        raise unprocessable("oco orders must be exit orders: there is no position to exit")
    buy = intent.is_buy
    inverted = (
        intent.take_profit >= intent.stop_loss_stop
        if buy
        else intent.take_profit <= intent.stop_loss_stop
    )
    if inverted:
        raise unprocessable(
            f"take_profit.limit_price must be {'below' if buy else 'above'} stop_loss.stop_price"
        )


class OrderRules:
    """The account-level checks an order request passes before the venue accepts it."""

    def __init__(self, config: SimConfig, *, market: Market, accounting: Accounting) -> None:
        self.config = config
        self.market = market
        self.accounting = accounting

    def check_class(self, account: Account, intent: OrderIntent) -> None:
        """Bracket and OTO orders are entries with exits beyond the base price; an OCO is an
        exit whose take-profit is the order itself (its limit price defaults to it)."""
        order_class = intent.order_class
        if order_class in ("", "simple"):
            return
        position = account.positions.get(intent.asset.symbol)
        held_qty = position.qty if position is not None else _ZERO
        closing = (intent.side == "sell" and held_qty > 0) or (
            intent.side == "buy" and held_qty < 0
        )
        if intent.qty is None:
            raise unprocessable(f"{order_class} orders need qty (notional is not allowed)")
        if intent.time_in_force not in ("day", "gtc"):
            raise unprocessable(f"{order_class} orders must be day or gtc")
        if order_class == "oco":
            _check_oco(intent, closing)
            return
        if intent.type not in ("market", "limit"):
            raise unprocessable(f"{order_class} orders must be market or limit orders")
        if closing:
            raise unprocessable(f"{order_class} orders must be entry orders")
        if order_class == "bracket":
            if intent.take_profit is None or intent.stop_loss_stop is None:
                raise invalid(
                    "bracket orders require take_profit.limit_price and stop_loss.stop_price"
                )
        elif (intent.take_profit is None) == (intent.stop_loss_stop is None):
            raise invalid("oto orders require exactly one of take_profit or stop_loss")
        _check_base_distance(intent, intent.limit_price or self.market.price(intent.asset.symbol))

    @staticmethod
    def check_not_suspended(account: Account) -> None:
        if account.configuration.get("suspend_trade"):
            raise forbidden(
                "trading is suspended on this account (configuration suspend_trade); PATCH "
                "/v2/account/configurations to resume"
            )

    def _reference_price(self, intent: OrderIntent) -> Decimal:
        symbol = intent.asset.symbol
        if intent.type in LIMIT_TYPES and intent.limit_price is not None:
            return intent.limit_price
        if intent.type == "stop" and intent.stop_price is not None:
            return max(intent.stop_price, self.market.price(symbol))
        return self.market.price(symbol)

    def check_exposure(
        self,
        account: Account,
        intent: OrderIntent,
        *,
        credit: Decimal = _ZERO,
        hold_credit: Decimal = _ZERO,
    ) -> tuple[bool, Decimal, Decimal]:
        """Position and buying-power rules. Returns (closing, reserve_unit, reserve_total);
        ``credit``/``hold_credit`` are what an order being replaced frees."""
        self.check_not_suspended(account)
        position = account.positions.get(intent.asset.symbol)
        position_qty = position.qty if position is not None else _ZERO
        buy = intent.is_buy
        if (not buy and position_qty > 0) or (buy and position_qty < 0):
            self._check_closing_qty(account, intent, position_qty, hold_credit)
            return True, _ZERO, _ZERO
        if not buy:
            self._check_short(account, intent, position_qty)
        if intent.notional is not None:
            unit = _ZERO
            total = intent.notional
        else:
            assert intent.qty is not None
            unit = self._reference_price(intent) * intent.asset.multiplier
            total = intent.qty * unit
        self.check_buying_power(account, intent.asset, total, credit)
        return False, unit, total

    def check_buying_power(
        self, account: Account, asset: AssetSpec, total: Decimal, credit: Decimal = _ZERO
    ) -> None:
        """An opening cost of ``total`` must fit the buying power (plus what ``credit`` frees)."""
        available_bp = self.accounting.available_buying_power(account, asset) + credit
        if total > available_bp:
            raise forbidden(
                "insufficient buying power",
                buying_power=money(max(available_bp, _ZERO)),
                cost_basis=fmt(total.quantize(_CENT, rounding=ROUND_UP)),
            )

    def _check_closing_qty(
        self, account: Account, intent: OrderIntent, position_qty: Decimal, hold_credit: Decimal
    ) -> None:
        """A closing order may not exceed what open closing orders do not already hold."""
        symbol = intent.asset.symbol
        held = account.held.get(symbol, _ZERO) - hold_credit
        qty = intent.qty
        if qty is None:
            assert intent.notional is not None
            qty = (intent.notional / self.market.price(symbol)).quantize(_NINE_PLACES)
        available = abs(position_qty) - held
        if qty > available:
            raise forbidden(
                f"insufficient qty available for order (requested: {fmt(qty)}, available: "
                f"{fmt(available)})",
                available=fmt(available),
                existing_qty=fmt(abs(position_qty)),
                held_for_orders=fmt(held),
                symbol=symbol,
            )

    def _check_short(self, account: Account, intent: OrderIntent, position_qty: Decimal) -> None:
        if intent.asset.is_crypto:
            qty = intent.qty
            if qty is None:
                assert intent.notional is not None
                price = self.market.price(intent.asset.symbol)
                qty = (intent.notional / price).quantize(_NINE_PLACES)
            raise crypto_short_refusal(intent.asset, qty, max(position_qty, _ZERO))
        if account.account_type != "margin" or account.configuration.get("no_shorting"):
            raise forbidden("account is not allowed to short")
        if not intent.asset.shortable or not intent.asset.easy_to_borrow:
            raise forbidden(f"asset {intent.asset.symbol} is not shortable")
        if intent.qty is None or intent.qty % 1:
            raise forbidden("fractional orders cannot be sold short: use whole shares")

    def check_wash_trade(self, account: Account, intent: OrderIntent) -> None:
        """Refuse a market/limit order that could fill against one's own opposite order."""
        if not self.config.wash_trade_check or intent.type not in ("market", "limit"):
            return
        for other in account.open_orders.values():
            if _could_cross(other, intent):
                raise unprocessable(
                    f"potential wash trade detected: open {other.side} order {other.id} on "
                    f"{other.symbol} could fill against this one. use complex orders (bracket/"
                    "oco) or cancel the other order first",
                    existing_order_id=other.id,
                    reject_reason="potential wash trade detected. use complex orders",
                )


def _could_cross(other: Order, intent: OrderIntent) -> bool:
    """Could the open simple market/limit order ``other`` fill against ``intent``?"""
    if (
        other.symbol != intent.asset.symbol
        or other.side == intent.side
        or other.status not in ("new", "partially_filled", "accepted")
        or other.leg_role is not None
        or other.order_class == "oco"
        or other.type not in ("market", "limit")
    ):
        return False
    if other.type == "market" or intent.type == "market":
        return True
    assert other.limit_price is not None
    assert intent.limit_price is not None
    if intent.is_buy:
        return other.limit_price <= intent.limit_price
    return other.limit_price >= intent.limit_price
