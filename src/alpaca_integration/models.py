"""Provider-neutral domain models: what the rest of the product reads and stores.

Every model is a frozen ``msgspec.Struct``: immutable, cheap to build, hashable where its fields
are. Money, prices and quantities are ``Decimal`` (never float); every datetime is timezone-aware
UTC. Each model built from a venue payload keeps that payload verbatim in ``raw`` (JSON bytes) for
audit; ``raw_json()`` decodes it.

Status-like enums are strict (an unknown order status is a parse error upstream). Descriptive enums
(asset class, trade event kind) carry an ``UNKNOWN`` member so a new venue value never loses data.

Instruments carry their asset class and ``multiplier`` (units of value per unit of quantity: 100
for a standard option contract, 1 for equities and crypto) on orders, fills and positions; an
option's notional is qty x price x multiplier. Option contracts and the v3 market clock and
calendar live in ``reference_models`` and are re-exported here; what a symbol says about its
instrument (OCC symbols, multipliers, crypto pairs) is in ``instruments``.

This module knows nothing of Alpaca's wire format and imports only ``model_base`` and
``reference_models`` from the package.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import msgspec

from alpaca_integration.model_base import OpenStrEnum, VenueModel
from alpaca_integration.reference_models import (
    Market,
    MarketCalendar,
    MarketClock,
    MarketDay,
    MarketPhase,
    OptionContract,
    OptionDeliverable,
    OptionStyle,
    OptionType,
)

__all__ = [
    "CLIENT_ORDER_ID_PREFIX",
    "INTEGRATION_PREFIX",
    "POSITION_VALUE_FIELDS",
    "TERMINAL_ORDER_STATUSES",
    "Account",
    "AccountConfiguration",
    "AccountSnapshot",
    "Activity",
    "Asset",
    "AssetClass",
    "BulkResult",
    "CalendarDay",
    "Clock",
    "DataSource",
    "Fill",
    "FillType",
    "Market",
    "MarketCalendar",
    "MarketClock",
    "MarketDay",
    "MarketPhase",
    "MultiLegOrderRequest",
    "OptionContract",
    "OptionDeliverable",
    "OptionLegRequest",
    "OptionStyle",
    "OptionType",
    "Order",
    "OrderClass",
    "OrderIntent",
    "OrderRequest",
    "OrderSide",
    "OrderStatus",
    "OrderType",
    "PortfolioHistory",
    "Position",
    "PositionIntent",
    "PositionSide",
    "ReplaceRequest",
    "StopLoss",
    "TakeProfit",
    "TimeInForce",
    "TradeEventKind",
    "TradeUpdate",
    "Watchlist",
    "new_client_order_id",
    "order_status_rank",
]


# Every model built from a venue payload keeps it in ``raw`` (``model_base``).
_Model = VenueModel

_ONE = Decimal(1)


# --------------------------------------------------------------------------- enums


class OrderSide(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(enum.StrEnum):
    DAY = "day"
    GTC = "gtc"
    OPG = "opg"
    CLS = "cls"
    IOC = "ioc"
    FOK = "fok"


class OrderClass(enum.StrEnum):
    SIMPLE = "simple"
    BRACKET = "bracket"
    OCO = "oco"
    OTO = "oto"
    MLEG = "mleg"


class OrderStatus(enum.StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    ACCEPTED = "accepted"
    PENDING_NEW = "pending_new"
    ACCEPTED_FOR_BIDDING = "accepted_for_bidding"
    STOPPED = "stopped"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    CALCULATED = "calculated"
    HELD = "held"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_ORDER_STATUSES

    @property
    def is_open(self) -> bool:
        return self not in TERMINAL_ORDER_STATUSES


TERMINAL_ORDER_STATUSES: frozenset[OrderStatus] = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.EXPIRED,
        OrderStatus.REPLACED,
        OrderStatus.REJECTED,
    }
)

# How far along its life an order is; used to keep updates monotonic when two updates carry the
# same updated_at. Terminal statuses outrank everything; held < pending < working < partial.
_STATUS_RANK: dict[OrderStatus, int] = {
    OrderStatus.HELD: 0,
    OrderStatus.PENDING_NEW: 1,
    OrderStatus.ACCEPTED: 2,
    OrderStatus.ACCEPTED_FOR_BIDDING: 2,
    OrderStatus.NEW: 3,
    OrderStatus.SUSPENDED: 3,
    OrderStatus.CALCULATED: 3,
    OrderStatus.STOPPED: 3,
    OrderStatus.PENDING_REPLACE: 4,
    OrderStatus.PENDING_CANCEL: 4,
    OrderStatus.PARTIALLY_FILLED: 5,
    OrderStatus.DONE_FOR_DAY: 6,
    OrderStatus.FILLED: 9,
    OrderStatus.CANCELED: 9,
    OrderStatus.EXPIRED: 9,
    OrderStatus.REPLACED: 9,
    OrderStatus.REJECTED: 9,
}


def order_status_rank(status: OrderStatus) -> int:
    """Progress rank of a status: a later update never moves an order to a lower rank."""
    return _STATUS_RANK[status]


class PositionSide(enum.StrEnum):
    LONG = "long"
    SHORT = "short"


class PositionIntent(enum.StrEnum):
    BUY_TO_OPEN = "buy_to_open"
    BUY_TO_CLOSE = "buy_to_close"
    SELL_TO_OPEN = "sell_to_open"
    SELL_TO_CLOSE = "sell_to_close"


class AssetClass(OpenStrEnum):
    US_EQUITY = "us_equity"
    US_OPTION = "us_option"
    CRYPTO = "crypto"
    UNKNOWN = "unknown"


class TradeEventKind(OpenStrEnum):
    NEW = "new"
    FILL = "fill"
    PARTIAL_FILL = "partial_fill"
    CANCELED = "canceled"
    EXPIRED = "expired"
    DONE_FOR_DAY = "done_for_day"
    REPLACED = "replaced"
    REJECTED = "rejected"
    PENDING_NEW = "pending_new"
    STOPPED = "stopped"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    CALCULATED = "calculated"
    SUSPENDED = "suspended"
    ORDER_REPLACE_REJECTED = "order_replace_rejected"
    ORDER_CANCEL_REJECTED = "order_cancel_rejected"
    ACCEPTED = "accepted"
    RESTATED = "restated"
    HELD = "held"
    UNKNOWN = "unknown"

    @property
    def is_fill(self) -> bool:
        return self in (TradeEventKind.FILL, TradeEventKind.PARTIAL_FILL)


class FillType(enum.StrEnum):
    FILL = "fill"
    PARTIAL_FILL = "partial_fill"


class DataSource(enum.StrEnum):
    """Where a stored record came from."""

    REST = "rest"
    STREAM = "stream"
    RECONCILE = "reconcile"


# --------------------------------------------------------------------------- account


class AccountSnapshot(_Model, frozen=True, kw_only=True):
    """The account's figures as observed at ``observed_at``."""

    account_id: str
    account_number: str
    status: str
    currency: str
    cash: Decimal
    equity: Decimal
    last_equity: Decimal
    buying_power: Decimal
    regt_buying_power: Decimal
    daytrading_buying_power: Decimal
    non_marginable_buying_power: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    portfolio_value: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    last_maintenance_margin: Decimal
    multiplier: Decimal
    sma: Decimal
    daytrade_count: int
    accrued_fees: Decimal
    pattern_day_trader: bool
    trading_blocked: bool
    transfers_blocked: bool
    account_blocked: bool
    shorting_enabled: bool
    trade_suspended_by_user: bool
    created_at: dt.datetime | None
    observed_at: dt.datetime
    # Options and crypto figures (None when the venue does not state them). The trading level is
    # the effective one: the approved level, capped by the account's own configuration.
    options_buying_power: Decimal | None = None
    options_approved_level: int | None = None
    options_trading_level: int | None = None
    crypto_status: str | None = None

    @property
    def options_level(self) -> int | None:
        """The options level in force (0 disabled, 1 covered calls and cash-secured puts, 2
        long calls and puts, 3 spreads): the trading level, else the approved one."""
        if self.options_trading_level is not None:
            return self.options_trading_level
        return self.options_approved_level


# The account snapshot is what users call "the account".
Account = AccountSnapshot


class AccountConfiguration(_Model, frozen=True, kw_only=True):
    dtbp_check: str | None = None
    trade_confirm_email: str | None = None
    suspend_trade: bool = False
    no_shorting: bool = False
    fractional_trading: bool = True
    max_margin_multiplier: str | None = None
    pdt_check: str | None = None
    max_options_trading_level: int | None = None


# A position's optional valuation fields (the venue's marks), named as Alpaca names them: one list
# for the parser, the table and the codec.
POSITION_VALUE_FIELDS = (
    "unrealized_pl",
    "unrealized_plpc",
    "unrealized_intraday_pl",
    "unrealized_intraday_plpc",
    "current_price",
    "lastday_price",
    "change_today",
)


class Position(_Model, frozen=True, kw_only=True):
    """An open position. ``qty`` is signed: shorts are negative. Value fields keep the venue's sign.
    Prices are per unit of the underlying (an option's premium per share): ``market_value`` is
    qty x current_price x ``multiplier``."""

    symbol: str
    asset_id: str | None
    asset_class: AssetClass
    exchange: str | None
    side: PositionSide
    qty: Decimal
    qty_available: Decimal | None
    avg_entry_price: Decimal
    market_value: Decimal | None
    cost_basis: Decimal
    unrealized_pl: Decimal | None
    unrealized_plpc: Decimal | None
    unrealized_intraday_pl: Decimal | None
    unrealized_intraday_plpc: Decimal | None
    current_price: Decimal | None
    lastday_price: Decimal | None
    change_today: Decimal | None
    observed_at: dt.datetime
    multiplier: Decimal = _ONE


# --------------------------------------------------------------------------- orders


class Order(_Model, frozen=True, kw_only=True):
    """An order as the venue last reported it. Legs of bracket/OCO/OTO/mleg orders are in ``legs``
    and point back through ``parent_id``. An mleg parent names no symbol or side: its legs do
    (each with its ``ratio_qty``), and its prices are net prices per unit of the strategy."""

    id: str
    client_order_id: str
    symbol: str
    asset_id: str | None
    asset_class: AssetClass
    side: OrderSide | None
    type: OrderType | None
    time_in_force: TimeInForce
    order_class: OrderClass
    status: OrderStatus
    qty: Decimal | None
    notional: Decimal | None
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    hwm: Decimal | None
    extended_hours: bool
    position_intent: PositionIntent | None = None
    ratio_qty: Decimal | None = None
    multiplier: Decimal = _ONE
    created_at: dt.datetime
    updated_at: dt.datetime | None
    submitted_at: dt.datetime | None
    filled_at: dt.datetime | None
    expired_at: dt.datetime | None
    expires_at: dt.datetime | None = None
    canceled_at: dt.datetime | None
    failed_at: dt.datetime | None
    replaced_at: dt.datetime | None
    replaced_by: str | None
    replaces: str | None
    parent_id: str | None = None
    legs: tuple[Order, ...] = ()

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def last_event_at(self) -> dt.datetime:
        """The newest timestamp the order carries: what monotonic upserts compare."""
        return self.updated_at or self.submitted_at or self.created_at

    def flatten(self) -> tuple[Order, ...]:
        """This order followed by all its legs, depth first (legs keep their parent_id)."""
        out: list[Order] = [self]
        for leg in self.legs:
            out.extend(leg.flatten())
        return tuple(out)


class Fill(_Model, frozen=True, kw_only=True):
    """One execution. ``fill_id`` is the stable key: the stream's execution_id when known, else the
    REST activity id, else a deterministic id derived during reconciliation. Its value is
    qty x price x ``multiplier``."""

    fill_id: str
    execution_id: str | None
    activity_id: str | None
    order_id: str
    client_order_id: str | None = None
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    timestamp: dt.datetime
    fee: Decimal = Decimal(0)
    fill_type: FillType
    leaves_qty: Decimal | None = None
    cum_qty: Decimal | None = None
    position_qty: Decimal | None = None
    source: DataSource
    asset_class: AssetClass = AssetClass.US_EQUITY
    multiplier: Decimal = _ONE


class Activity(_Model, frozen=True, kw_only=True):
    """A non-trade account activity: fees, dividends, transfers, interest, journals ..."""

    id: str
    activity_type: str
    activity_subtype: str | None = None
    date: dt.date | None
    transaction_time: dt.datetime | None = None
    net_amount: Decimal | None
    qty: Decimal | None = None
    per_share_amount: Decimal | None = None
    price: Decimal | None = None
    symbol: str | None = None
    order_id: str | None = None
    description: str | None = None
    status: str | None = None


class TradeUpdate(_Model, frozen=True, kw_only=True):
    """One trade_updates stream event. ``price``/``qty``/``position_qty``/``execution_id`` are only
    set on fill and partial_fill events (``qty`` is that execution's quantity)."""

    event: TradeEventKind
    event_name: str
    order: Order
    timestamp: dt.datetime
    execution_id: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    position_qty: Decimal | None = None


class BulkResult(_Model, frozen=True, kw_only=True):
    """One entry of a 207 answer (cancel all orders / close all positions)."""

    key: str
    status: int
    order: Order | None = None
    error_code: int | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# --------------------------------------------------------------------------- market / reference


class Clock(_Model, frozen=True, kw_only=True):
    timestamp: dt.datetime
    is_open: bool
    next_open: dt.datetime
    next_close: dt.datetime


class CalendarDay(_Model, frozen=True, kw_only=True):
    date: dt.date
    open: dt.datetime
    close: dt.datetime
    session_open: dt.datetime | None = None
    session_close: dt.datetime | None = None
    settlement_date: dt.date | None = None


class Asset(_Model, frozen=True, kw_only=True):
    id: str
    symbol: str
    name: str | None
    asset_class: AssetClass
    exchange: str | None
    status: str
    tradable: bool
    marginable: bool
    shortable: bool
    easy_to_borrow: bool
    fractionable: bool
    maintenance_margin_requirement: Decimal | None = None
    min_order_size: Decimal | None = None
    min_trade_increment: Decimal | None = None
    price_increment: Decimal | None = None
    attributes: tuple[str, ...] = ()


class Watchlist(_Model, frozen=True, kw_only=True):
    id: str
    account_id: str | None
    name: str
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    assets: tuple[Asset, ...] = ()


class PortfolioHistory(_Model, frozen=True, kw_only=True):
    timestamps: tuple[dt.datetime, ...]
    equity: tuple[Decimal | None, ...]
    profit_loss: tuple[Decimal | None, ...]
    profit_loss_pct: tuple[Decimal | None, ...]
    base_value: Decimal | None
    timeframe: str


# --------------------------------------------------------------------------- order intents


CLIENT_ORDER_ID_PREFIX = "ai"
"""What this integration's client_order_ids start with (then ``-``): it is how the store and
reconciliation tell orders the integration placed from orders placed elsewhere."""

INTEGRATION_PREFIX = f"{CLIENT_ORDER_ID_PREFIX}-"


def new_client_order_id(prefix: str = CLIENT_ORDER_ID_PREFIX) -> str:
    """A fresh client_order_id: set before the first attempt, it is the order's idempotency key."""
    return f"{prefix}-{uuid.uuid4().hex}"


class TakeProfit(msgspec.Struct, frozen=True, kw_only=True):
    limit_price: Decimal


class StopLoss(msgspec.Struct, frozen=True, kw_only=True):
    stop_price: Decimal
    limit_price: Decimal | None = None


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What the user wants to place. Exactly one of ``qty``/``notional``. ``client_order_id`` is
    filled in by the client before the first attempt when left empty."""

    symbol: str
    side: OrderSide
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    client_order_id: str | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    take_profit: TakeProfit | None = None
    stop_loss: StopLoss | None = None
    position_intent: PositionIntent | None = None

    def with_client_order_id(self, client_order_id: str) -> OrderRequest:
        return msgspec.structs.replace(self, client_order_id=client_order_id)


class OptionLegRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One leg of a multi-leg option order: ``ratio_qty`` contracts of ``symbol`` per unit of the
    strategy, bought or sold (``side``) to open or close (``position_intent``); give at least one
    of the two."""

    symbol: str
    ratio_qty: Decimal = _ONE
    side: OrderSide | None = None
    position_intent: PositionIntent | None = None


class MultiLegOrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A multi-leg (``mleg``) option order: 2 to 4 legs traded as one, ``qty`` units of the
    strategy (each leg trades qty x ratio_qty contracts). A limit order's ``limit_price`` is the
    net price per unit: positive for a debit (paid), negative for a credit (received).
    ``client_order_id`` is filled in by the client before the first attempt when left empty."""

    legs: tuple[OptionLegRequest, ...]
    qty: Decimal
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    client_order_id: str | None = None

    @property
    def order_class(self) -> OrderClass:
        return OrderClass.MLEG

    @property
    def symbol(self) -> str:
        """Empty, as on the venue's mleg parent: the legs name the contracts."""
        return ""

    def with_client_order_id(self, client_order_id: str) -> MultiLegOrderRequest:
        return msgspec.structs.replace(self, client_order_id=client_order_id)


OrderIntent = OrderRequest | MultiLegOrderRequest
"""What ``submit_order`` places: a single-instrument order or a multi-leg option order."""


class ReplaceRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Changes to a working order (PATCH). Fields left None keep their current value."""

    qty: Decimal | None = None
    time_in_force: TimeInForce | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    client_order_id: str | None = None
