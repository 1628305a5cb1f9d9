"""Alpaca's JSON shapes as msgspec Structs: the wire format, field names verbatim.

These Structs are what response bytes are decoded into before ``parse`` maps them to the
provider-neutral models. They follow the venue, not the domain:

* Money, prices and quantities are ``Decimal``. msgspec decodes a JSON string *or* a JSON number
  into a ``Decimal`` straight from its text, so ``"100.10"`` and ``100.10`` both give exactly
  ``Decimal("100.10")``; no value ever passes through a float.
* Timestamps are kept as ``str``: msgspec's own datetime decoding *rounds* nanoseconds to the
  nearest microsecond (``.9999995`` becomes the next second), while this project truncates them;
  ``parse`` does the conversion.
* Enum-like fields (status, side, type ...) are ``str`` so that an unknown value reaches ``parse``,
  which decides between a strict error (order status) and an ``UNKNOWN`` fallback (asset class).
* Unknown fields are ignored (msgspec's default); fields Alpaca may omit have defaults.
* Lists of objects whose models keep their own payload are ``list[msgspec.Raw]``: each item's
  verbatim bytes become its model's ``raw``.

This module imports nothing from the package and knows nothing of the domain models.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

__all__ = [
    "WireAccount",
    "WireAccountConfiguration",
    "WireActivity",
    "WireAsset",
    "WireBulkItem",
    "WireCalendarDay",
    "WireClock",
    "WireMarket",
    "WireMarketCalendar",
    "WireMarketClock",
    "WireMarketClocks",
    "WireMarketDay",
    "WireOptionContract",
    "WireOptionContractsPage",
    "WireOptionDeliverable",
    "WireOrder",
    "WirePortfolioHistory",
    "WirePosition",
    "WireStreamAuthorization",
    "WireStreamEnvelope",
    "WireStreamListening",
    "WireTradeUpdate",
    "WireWatchlist",
]


class _Wire(msgspec.Struct, kw_only=True):
    """Base of every wire Struct: keyword-only, unknown fields ignored."""


class WireAccount(_Wire, kw_only=True):
    id: str
    account_number: str = ""
    status: str
    crypto_status: str | None = None
    currency: str = "USD"
    # The spec requires only id and status: every figure may be absent (parse derives equity).
    cash: Decimal | None = None
    equity: Decimal | None = None
    last_equity: Decimal | None = None
    buying_power: Decimal | None = None
    regt_buying_power: Decimal | None = None
    daytrading_buying_power: Decimal | None = None
    non_marginable_buying_power: Decimal | None = None
    options_buying_power: Decimal | None = None
    options_approved_level: int | None = None
    options_trading_level: int | None = None
    long_market_value: Decimal | None = None
    short_market_value: Decimal | None = None
    portfolio_value: Decimal | None = None
    initial_margin: Decimal | None = None
    maintenance_margin: Decimal | None = None
    last_maintenance_margin: Decimal | None = None
    multiplier: Decimal | None = None
    sma: Decimal | None = None
    daytrade_count: int | str | None = None
    accrued_fees: Decimal | None = None
    pattern_day_trader: bool = False
    trading_blocked: bool = False
    transfers_blocked: bool = False
    account_blocked: bool = False
    shorting_enabled: bool = False
    trade_suspended_by_user: bool = False
    created_at: str | None = None


class WireAccountConfiguration(_Wire, kw_only=True):
    dtbp_check: str | None = None
    trade_confirm_email: str | None = None
    suspend_trade: bool = False
    no_shorting: bool = False
    fractional_trading: bool = True
    max_margin_multiplier: Decimal | None = None
    pdt_check: str | None = None
    max_options_trading_level: int | None = None


class WirePosition(_Wire, kw_only=True):
    asset_id: str | None = None
    symbol: str
    exchange: str | None = None
    asset_class: str | None = None
    side: str | None = None
    qty: Decimal
    qty_available: Decimal | None = None
    avg_entry_price: Decimal
    market_value: Decimal | None = None
    cost_basis: Decimal
    unrealized_pl: Decimal | None = None
    unrealized_plpc: Decimal | None = None
    unrealized_intraday_pl: Decimal | None = None
    unrealized_intraday_plpc: Decimal | None = None
    current_price: Decimal | None = None
    lastday_price: Decimal | None = None
    change_today: Decimal | None = None


class WireOrder(_Wire, kw_only=True):
    id: str
    client_order_id: str = ""
    created_at: str | None = None
    updated_at: str | None = None
    submitted_at: str | None = None
    filled_at: str | None = None
    expired_at: str | None = None
    expires_at: str | None = None
    canceled_at: str | None = None
    failed_at: str | None = None
    replaced_at: str | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    asset_id: str | None = None
    symbol: str | None = None
    asset_class: str | None = None
    notional: Decimal | None = None
    qty: Decimal | None = None
    filled_qty: Decimal | None = None
    filled_avg_price: Decimal | None = None
    order_class: str | None = None
    order_type: str | None = None
    type: str | None = None
    side: str | None = None
    position_intent: str | None = None
    time_in_force: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    status: str | None = None
    extended_hours: bool | None = None
    legs: list[msgspec.Raw] | None = None
    trail_percent: Decimal | None = None
    trail_price: Decimal | None = None
    hwm: Decimal | None = None
    ratio_qty: Decimal | None = None


class WireActivity(_Wire, kw_only=True):
    """Both trade (FILL) and non-trade activities: one Struct, fields of either kind optional."""

    id: str
    activity_type: str
    # trade activities
    transaction_time: str | None = None
    type: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    side: str | None = None
    symbol: str | None = None
    leaves_qty: Decimal | None = None
    cum_qty: Decimal | None = None
    order_id: str | None = None
    order_status: str | None = None
    # non-trade activities
    activity_sub_type: str | None = None
    date: str | None = None
    created_at: str | None = None
    net_amount: Decimal | None = None
    per_share_amount: Decimal | None = None
    description: str | None = None
    status: str | None = None


class WireClock(_Wire, kw_only=True):
    timestamp: str
    is_open: bool
    next_open: str
    next_close: str


class WireMarket(_Wire, kw_only=True):
    acronym: str = ""
    name: str = ""
    timezone: str = ""
    mic: str | None = None
    bic: str | None = None


class WireMarketClock(_Wire, kw_only=True):
    """One entry of ``GET /v3/clock``'s ``clocks``."""

    market: WireMarket
    timestamp: str
    is_market_day: bool
    next_market_open: str
    next_market_close: str
    phase: str = ""
    phase_until: str | None = None


class WireMarketClocks(_Wire, kw_only=True):
    clocks: list[msgspec.Raw]


class WireMarketDay(_Wire, kw_only=True):
    """One day of ``GET /v3/calendar/{market}`` (times RFC 3339 with the market's offset)."""

    date: str
    core_start: str
    core_end: str
    pre_start: str | None = None
    pre_end: str | None = None
    post_start: str | None = None
    post_end: str | None = None
    lunch_start: str | None = None
    lunch_end: str | None = None
    settlement_date: str | None = None


class WireMarketCalendar(_Wire, kw_only=True):
    market: WireMarket
    calendar: list[msgspec.Raw] | None = None


class WireCalendarDay(_Wire, kw_only=True):
    date: str
    open: str
    close: str
    session_open: str | None = None
    session_close: str | None = None
    settlement_date: str | None = None


class WireAsset(_Wire, kw_only=True):
    id: str
    asset_class: str = msgspec.field(name="class", default="")
    exchange: str | None = None
    symbol: str
    name: str | None = None
    status: str = ""
    tradable: bool = False
    marginable: bool = False
    shortable: bool = False
    easy_to_borrow: bool = False
    fractionable: bool = False
    maintenance_margin_requirement: Decimal | None = None
    min_order_size: Decimal | None = None
    min_trade_increment: Decimal | None = None
    price_increment: Decimal | None = None
    attributes: list[str] | None = None


class WireOptionDeliverable(_Wire, kw_only=True):
    type: str = ""
    symbol: str = ""
    asset_id: str | None = None
    amount: Decimal | None = None
    allocation_percentage: Decimal | None = None
    settlement_type: str | None = None
    settlement_method: str | None = None
    delayed_settlement: bool = False


class WireOptionContract(_Wire, kw_only=True):
    """``GET /v2/options/contracts[/{symbol_or_id}]``: one contract."""

    id: str
    symbol: str
    name: str | None = None
    status: str = ""
    tradable: bool = False
    expiration_date: str
    root_symbol: str | None = None
    underlying_symbol: str
    underlying_asset_id: str | None = None
    type: str
    style: str = ""
    strike_price: Decimal
    multiplier: Decimal | None = None
    size: Decimal | None = None
    open_interest: Decimal | None = None
    open_interest_date: str | None = None
    close_price: Decimal | None = None
    close_price_date: str | None = None
    deliverables: list[WireOptionDeliverable] | None = None


class WireOptionContractsPage(_Wire, kw_only=True):
    option_contracts: list[msgspec.Raw]
    next_page_token: str | None = None


class WireWatchlist(_Wire, kw_only=True):
    id: str
    account_id: str | None = None
    name: str
    created_at: str | None = None
    updated_at: str | None = None
    assets: list[msgspec.Raw] | None = None


class WirePortfolioHistory(_Wire, kw_only=True):
    timestamp: list[int] | None = None
    equity: list[Decimal | None] | None = None
    profit_loss: list[Decimal | None] | None = None
    profit_loss_pct: list[Decimal | None] | None = None
    base_value: Decimal | None = None
    timeframe: str = ""


class WireBulkItem(_Wire, kw_only=True):
    """One entry of a 207 answer: ``id`` (orders) or ``symbol`` (positions), status, body."""

    id: str | None = None
    symbol: str | None = None
    status: int
    # Raw cannot be in a union; an absent body is the empty Raw, a JSON null is b"null".
    body: msgspec.Raw = msgspec.Raw(b"")


class WireTradeUpdate(_Wire, kw_only=True):
    event: str
    order: msgspec.Raw
    timestamp: str | None = None
    execution_id: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    position_qty: Decimal | None = None


class WireStreamEnvelope(_Wire, kw_only=True):
    stream: str = ""
    data: msgspec.Raw = msgspec.Raw(b"")


class WireStreamAuthorization(_Wire, kw_only=True):
    status: str = ""
    action: str = ""


class WireStreamListening(_Wire, kw_only=True):
    streams: list[str] = msgspec.field(default_factory=list)
