"""The simulated broker's mutable state: accounts, orders, positions, and their wire views.

These are plain slotted classes mutated only by ``broker.Broker`` (on the event loop, never
concurrently). The ``*_json`` functions render them exactly as Alpaca's REST answers and
trade_updates events do: decimals as strings, RFC 3339 times, legs nested on request.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import collections
import datetime as dt
from decimal import ROUND_DOWN, Decimal
from typing import Any

from alpaca_integration.simulator.market import AssetSpec
from alpaca_integration.simulator.wire import fmt, fmt_or_none, ts, ts_or_none

__all__ = [
    "OPEN_STATUSES_EXCLUDED",
    "TERMINAL",
    "Account",
    "Order",
    "Position",
    "asset_json",
    "money",
    "order_json",
    "position_json",
]

TERMINAL = frozenset({"filled", "canceled", "expired", "replaced", "rejected"})
# Not listed under status=open (Alpaca hides legs waiting for their entry).
OPEN_STATUSES_EXCLUDED = frozenset({"held"})

_CENT = Decimal("0.01")
_TEN_PLACES = Decimal("1E-10")
_ZERO = Decimal(0)


class Order:
    """One order as the venue tracks it. ``legs`` are exit orders of a bracket/OTO entry (or the
    stop-loss of an OCO); ``peer`` links the two members of a one-cancels-other pair."""

    __slots__ = (
        "account",
        "armed",
        "asset",
        "canceled_at",
        "client_order_id",
        "created_at",
        "expired_at",
        "extended_hours",
        "failed_at",
        "filled_at",
        "filled_notional",
        "filled_qty",
        "hold_qty",
        "hwm",
        "id",
        "leg_role",
        "legs",
        "limit_price",
        "notional",
        "order_class",
        "parent",
        "peer",
        "position_intent",
        "qty",
        "ratio_qty",
        "replaced_at",
        "replaced_by",
        "replaces",
        "reserve_unit",
        "reserved",
        "side",
        "status",
        "stop_price",
        "submitted_at",
        "symbol",
        "target_qty",
        "time_in_force",
        "trail_percent",
        "trail_price",
        "triggered",
        "type",
        "updated_at",
        "visible_at",
    )

    def __init__(
        self,
        *,
        id: str,
        client_order_id: str,
        account: Account,
        asset: AssetSpec,
        side: str,
        type: str,
        time_in_force: str,
        order_class: str,
        qty: Decimal | None,
        notional: Decimal | None,
        limit_price: Decimal | None,
        stop_price: Decimal | None,
        trail_price: Decimal | None,
        trail_percent: Decimal | None,
        extended_hours: bool,
        position_intent: str,
        at: dt.datetime,
    ) -> None:
        self.id = id
        self.client_order_id = client_order_id
        self.account = account
        self.asset = asset
        self.symbol = asset.symbol
        self.side = side
        self.type = type
        self.time_in_force = time_in_force
        self.order_class = order_class
        self.qty = qty
        self.notional = notional
        self.target_qty: Decimal | None = qty
        self.limit_price = limit_price
        self.stop_price = stop_price
        self.trail_price = trail_price
        self.trail_percent = trail_percent
        self.hwm: Decimal | None = None
        self.extended_hours = extended_hours
        self.position_intent = position_intent
        self.status = "pending_new"
        self.filled_qty = _ZERO
        self.filled_notional = _ZERO
        self.created_at = at
        self.updated_at = at
        self.submitted_at = at
        self.filled_at: dt.datetime | None = None
        self.expired_at: dt.datetime | None = None
        self.canceled_at: dt.datetime | None = None
        self.failed_at: dt.datetime | None = None
        self.replaced_at: dt.datetime | None = None
        self.replaced_by: str | None = None
        self.replaces: str | None = None
        self.parent: Order | None = None
        self.legs: list[Order] = []
        self.peer: Order | None = None
        self.leg_role: str | None = None
        self.armed = False
        self.triggered = False
        # An mleg leg's contracts per unit of its parent's strategy (None elsewhere).
        self.ratio_qty: Decimal | None = None
        self.hold_qty = _ZERO
        self.reserved = _ZERO
        self.reserve_unit = _ZERO
        # Set under the visibility-lag fault: lookups and listings ignore the order until then.
        self.visible_at: dt.datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def remaining(self) -> Decimal | None:
        """Quantity still to fill; None for a notional order before its first execution."""
        if self.target_qty is None:
            return None
        return self.target_qty - self.filled_qty

    @property
    def is_buy(self) -> bool:
        return self.side == "buy"

    @property
    def filled_avg_price(self) -> Decimal | None:
        if not self.filled_qty:
            return None
        return (self.filled_notional / self.filled_qty).quantize(_TEN_PLACES)


class Position:
    """A signed position: ``qty`` < 0 is short. ``avg_entry_price`` stays put when the position
    shrinks; realized P&L accrues on the account."""

    __slots__ = ("asset", "avg_entry_price", "opened_at", "qty", "symbol")

    def __init__(self, asset: AssetSpec, at: dt.datetime) -> None:
        self.asset = asset
        self.symbol = asset.symbol
        self.qty = _ZERO
        self.avg_entry_price = _ZERO
        self.opened_at = at


class Account:
    """One API key pair's account."""

    __slots__ = (
        "account_type",
        "activities",
        "activity_index",
        "activity_times",
        "by_client_id",
        "cash",
        "configuration",
        "created_at",
        "equity_samples",
        "event_count",
        "events",
        "fees_paid",
        "held",
        "id",
        "key_id",
        "last_equity",
        "last_maintenance_margin",
        "number",
        "open_orders",
        "option_instructions",
        "order_times",
        "orders",
        "orders_seq",
        "positions",
        "realized_pl",
        "reserved",
        "secret_key",
        "starting_cash",
        "watchlists",
    )

    def __init__(
        self,
        *,
        key_id: str,
        secret_key: str,
        account_id: str,
        number: str,
        account_type: str,
        starting_cash: Decimal,
        at: dt.datetime,
        event_log_size: int,
    ) -> None:
        self.key_id = key_id
        self.secret_key = secret_key
        self.id = account_id
        self.number = number
        self.account_type = account_type
        self.starting_cash = starting_cash
        self.cash = starting_cash
        self.created_at = at
        self.positions: dict[str, Position] = {}
        self.orders: dict[str, Order] = {}
        self.orders_seq: list[Order] = []
        self.order_times: list[dt.datetime] = []
        self.by_client_id: dict[str, Order] = {}
        self.open_orders: dict[str, Order] = {}
        self.activities: list[dict[str, Any]] = []
        self.activity_times: list[dt.datetime] = []
        self.activity_index: dict[str, int] = {}
        self.reserved = _ZERO
        self.held: dict[str, Decimal] = {}
        self.realized_pl: dict[str, Decimal] = {}
        self.fees_paid = _ZERO
        self.last_equity = starting_cash
        self.last_maintenance_margin = _ZERO
        self.equity_samples: collections.deque[tuple[int, Decimal]] = collections.deque(
            maxlen=20_000
        )
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=event_log_size)
        self.event_count = 0
        self.watchlists: dict[str, dict[str, Any]] = {}
        # Contract symbol -> "do_not_exercise" (POST /v2/positions/{symbol}/do-not-exercise).
        self.option_instructions: dict[str, str] = {}
        margin = account_type == "margin"
        self.configuration: dict[str, Any] = {
            "dtbp_check": "entry",
            "trade_confirm_email": "all",
            "suspend_trade": False,
            "no_shorting": not margin,
            "fractional_trading": True,
            "max_margin_multiplier": "4" if margin else "1",
            "pdt_check": "entry",
            "ptp_no_exception_entry": False,
            "max_options_trading_level": 3 if margin else 2,
            "disable_overnight_trading": False,
        }


def asset_json(asset: AssetSpec) -> dict[str, Any]:
    return {
        "id": asset.id,
        "class": asset.asset_class,
        "exchange": asset.exchange,
        "symbol": asset.symbol,
        "name": asset.name,
        "status": asset.status,
        "tradable": asset.tradable,
        "marginable": asset.marginable,
        "maintenance_margin_requirement": 30 if asset.marginable else 100,
        "margin_requirement_long": "50" if asset.marginable else "100",
        "margin_requirement_short": "50" if asset.marginable else "100",
        "shortable": asset.shortable,
        "easy_to_borrow": asset.easy_to_borrow,
        "borrow_status": "easy_to_borrow" if asset.easy_to_borrow else "hard_to_borrow",
        "fractionable": asset.fractionable,
        "min_order_size": "0.000000001" if asset.fractionable else "1",
        "min_trade_increment": "0.000000001" if asset.fractionable else "1",
        "price_increment": "0.01" if asset.price >= 1 else "0.0001",
        "attributes": ["fractional_eh_enabled"] if asset.fractionable else [],
    }


def order_json(order: Order, *, nested: bool) -> dict[str, Any]:
    """The order as Alpaca renders it; ``nested`` puts the legs inside (else ``legs`` is null)."""
    legs: list[dict[str, Any]] | None = None
    mleg_parent = order.order_class == "mleg" and order.ratio_qty is None
    if (nested or mleg_parent) and order.legs:
        legs = [order_json(leg, nested=True) for leg in order.legs]
    out = {
        "id": order.id,
        "client_order_id": order.client_order_id,
        "created_at": ts(order.created_at),
        "updated_at": ts(order.updated_at),
        "submitted_at": ts(order.submitted_at),
        "filled_at": ts_or_none(order.filled_at),
        "expired_at": ts_or_none(order.expired_at),
        "canceled_at": ts_or_none(order.canceled_at),
        "failed_at": ts_or_none(order.failed_at),
        "replaced_at": ts_or_none(order.replaced_at),
        "replaced_by": order.replaced_by,
        "replaces": order.replaces,
        "asset_id": order.asset.id,
        "symbol": order.symbol,
        "asset_class": order.asset.asset_class,
        "notional": fmt_or_none(order.notional),
        "qty": fmt_or_none(order.qty),
        "filled_qty": fmt(order.filled_qty),
        "filled_avg_price": fmt_or_none(order.filled_avg_price),
        "order_class": order.order_class,
        "order_type": order.type,
        "type": order.type,
        "side": order.side,
        "position_intent": order.position_intent,
        "time_in_force": order.time_in_force,
        "limit_price": fmt_or_none(order.limit_price),
        "stop_price": fmt_or_none(order.stop_price),
        "status": order.status,
        "extended_hours": order.extended_hours,
        "legs": legs,
        "trail_percent": fmt_or_none(order.trail_percent),
        "trail_price": fmt_or_none(order.trail_price),
        "hwm": fmt_or_none(order.hwm),
        "subtag": None,
        "source": None,
    }
    if order.ratio_qty is not None:
        out["ratio_qty"] = fmt(order.ratio_qty)
    elif mleg_parent:
        # Alpaca answers "" for these on an mleg parent (which its schema refuses): left out.
        for key in ("symbol", "side", "asset_id", "asset_class", "position_intent"):
            del out[key]
    return out


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal:
    if not denominator:
        return _ZERO
    return (numerator / denominator).quantize(_TEN_PLACES)


def position_json(
    position: Position, *, price: Decimal, lastday: Decimal, held: Decimal
) -> dict[str, Any]:
    qty = position.qty
    asset = position.asset
    units = qty * asset.multiplier
    market_value = units * price
    cost_basis = units * position.avg_entry_price
    unrealized = market_value - cost_basis
    # Intraday P&L measures from the previous close, or from the entry for a position opened
    # since then (approximation: the whole position is treated as opened at one time).
    intraday_base = units * lastday
    intraday = market_value - intraday_base
    available = qty - held if qty > 0 else qty + held
    return {
        "asset_id": asset.id,
        # Crypto positions spell the pair without its slash (BTCUSD).
        "symbol": position.symbol.replace("/", ""),
        "exchange": asset.exchange if asset.asset_class == "us_equity" else "",
        "asset_class": asset.asset_class,
        "asset_marginable": position.asset.marginable,
        "qty": fmt(qty),
        "qty_available": fmt(available),
        "avg_entry_price": fmt(position.avg_entry_price),
        "side": "long" if qty > 0 else "short",
        "market_value": fmt(market_value),
        "cost_basis": fmt(cost_basis),
        "unrealized_pl": fmt(unrealized),
        "unrealized_plpc": fmt(_ratio(unrealized, abs(cost_basis))),
        "unrealized_intraday_pl": fmt(intraday),
        "unrealized_intraday_plpc": fmt(_ratio(intraday, abs(intraday_base))),
        "current_price": fmt(price),
        "lastday_price": fmt(lastday),
        "change_today": fmt(_ratio(price - lastday, lastday)),
    }


def money(value: Decimal) -> str:
    """A derived money figure (margin, buying power), cut to the cent."""
    return fmt(value.quantize(_CENT, rounding=ROUND_DOWN))
