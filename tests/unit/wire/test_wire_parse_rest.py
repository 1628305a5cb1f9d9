"""REST payload files parse to exact values, field by field, one shape after another."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import msgspec
from wire_payloads import OBSERVED_AT, load_json, payload, utc

from alpaca_integration import models
from alpaca_integration.alpaca.parse import (
    parse_account,
    parse_account_configuration,
    parse_activities,
    parse_asset,
    parse_assets,
    parse_bulk_orders,
    parse_bulk_positions,
    parse_calendar,
    parse_clock,
    parse_order,
    parse_orders,
    parse_portfolio_history,
    parse_position,
    parse_positions,
    parse_watchlist,
    parse_watchlists,
)
from alpaca_integration.models import OrderClass, OrderSide, OrderStatus, OrderType

D = Decimal
AAPL_ID = "fe1871e7-b4df-5d46-a129-bc0f6e59cd60"


# --------------------------------------------------------------------------- account


def test_account_parses_every_figure_exactly() -> None:
    """GET /v2/account: every money field is the exact Decimal sent, flags and times mapped."""
    account = parse_account(payload("http_get_v2_account.json"), OBSERVED_AT)
    assert account.account_id == "de09b621-646c-542e-a70e-81601d2391df"
    assert account.account_number == "PA3XKQ1Z7Y2W"
    assert account.status == "ACTIVE"
    assert account.currency == "USD"
    assert account.cash == D("81472.81")
    assert account.equity == D("100246.99")
    assert account.last_equity == D("100012.37")
    assert account.buying_power == D("361247.9")
    assert account.regt_buying_power == D("180623.95")
    assert account.daytrading_buying_power == D("361247.9")
    assert account.non_marginable_buying_power == D("90311.97")
    assert account.long_market_value == D("22802.43")
    assert account.short_market_value == D("-4028.25")
    assert account.portfolio_value == D("100246.99")
    assert account.initial_margin == D("13415.34")
    assert account.maintenance_margin == D("8853.21")
    assert account.last_maintenance_margin == D("8911.04")
    assert account.multiplier == D("4")
    assert account.sma == D("100012.37")
    assert account.daytrade_count == 1
    assert account.accrued_fees == D("0.02")
    assert account.pattern_day_trader is False
    assert account.trading_blocked is False
    assert account.transfers_blocked is False
    assert account.account_blocked is False
    assert account.shorting_enabled is True
    assert account.trade_suspended_by_user is False
    assert account.created_at == utc(2024, 3, 11, 14, 7, 9, 417318)
    assert account.observed_at == OBSERVED_AT
    assert account.raw == payload("http_get_v2_account.json")


def test_account_numbers_sent_as_json_numbers_become_exact_decimals() -> None:
    """Money sent as JSON numbers keeps its exact digits (81472.810 stays 81472.810)."""
    account = parse_account(payload("http_get_v2_account_numbers.json"), OBSERVED_AT)
    assert str(account.cash) == "81472.810"
    assert account.equity == D("100246.99")
    assert account.buying_power == D("361247.9")
    assert account.short_market_value == D("-4028.25")
    assert account.multiplier == D("4")
    assert account.accrued_fees == D("0.02")


def test_account_configuration_parses() -> None:
    """GET /v2/account/configurations maps each setting."""
    config = parse_account_configuration(payload("http_get_v2_account_configurations.json"))
    assert config.dtbp_check == "entry"
    assert config.trade_confirm_email == "all"
    assert config.suspend_trade is False
    assert config.no_shorting is False
    assert config.fractional_trading is True
    assert config.max_margin_multiplier == "4"
    assert config.pdt_check == "entry"
    assert config.max_options_trading_level == 2


# --------------------------------------------------------------------------- positions


def test_positions_long_short_and_fractional() -> None:
    """GET /v2/positions: shorts have negative qty, fractional qty is exact, order kept."""
    long_aapl, short_tsla, fractional_spy = parse_positions(
        payload("http_get_v2_positions.json"), OBSERVED_AT
    )
    assert long_aapl.symbol == "AAPL"
    assert long_aapl.asset_id == AAPL_ID
    assert long_aapl.asset_class is models.AssetClass.US_EQUITY
    assert long_aapl.exchange == "NASDAQ"
    assert long_aapl.side is models.PositionSide.LONG
    assert long_aapl.qty == D("100")
    assert long_aapl.qty_available == D("100")
    assert long_aapl.avg_entry_price == D("172.3456")
    assert long_aapl.market_value == D("18742")
    assert long_aapl.cost_basis == D("17234.56")
    assert long_aapl.unrealized_pl == D("1507.44")
    assert long_aapl.unrealized_plpc == D("0.0874662282346308")
    assert long_aapl.unrealized_intraday_pl == D("-85")
    assert long_aapl.unrealized_intraday_plpc == D("-0.0045149525215825")
    assert long_aapl.current_price == D("187.42")
    assert long_aapl.lastday_price == D("188.27")
    assert long_aapl.change_today == D("-0.0045147925851169")
    assert long_aapl.observed_at == OBSERVED_AT

    assert short_tsla.side is models.PositionSide.SHORT
    assert short_tsla.qty == D("-25")
    assert short_tsla.qty_available == D("-25")
    assert short_tsla.market_value == D("-4028.25")
    assert short_tsla.cost_basis == D("-4089.25")

    assert fractional_spy.qty == D("0.481623")
    assert fractional_spy.exchange == "ARCA"
    assert fractional_spy.market_value == D("250.0034834")


def test_position_raw_is_the_items_own_bytes() -> None:
    """Each position of a list keeps exactly its own JSON object as raw."""
    positions = parse_positions(payload("http_get_v2_positions.json"), OBSERVED_AT)
    assert [json.loads(p.raw) for p in positions] == load_json("http_get_v2_positions.json")


def test_single_short_position() -> None:
    """GET /v2/positions/{symbol} of a short: negative qty, side short."""
    position = parse_position(payload("http_get_v2_positions_symbol.json"), OBSERVED_AT)
    assert (position.symbol, position.side, position.qty) == (
        "TSLA",
        models.PositionSide.SHORT,
        D("-25"),
    )


def test_short_position_sent_with_positive_qty_is_made_negative() -> None:
    """A short whose qty arrives unsigned still ends up negative (the model's promise)."""
    body = json.dumps({**load_json("http_get_v2_positions_symbol.json"), "qty": "25"})
    assert parse_position(body, OBSERVED_AT).qty == D("-25")


# --------------------------------------------------------------------------- orders


def test_orders_page_keeps_payload_order_and_maps_each_type_and_class() -> None:
    """GET /v2/orders: 15 orders in payload order, every type and class recognised."""
    orders = parse_orders(payload("http_get_v2_orders.json"))
    assert [(o.symbol, o.type, o.order_class, o.status) for o in orders] == [
        ("AAPL", OrderType.MARKET, OrderClass.SIMPLE, OrderStatus.FILLED),
        ("MSFT", OrderType.LIMIT, OrderClass.SIMPLE, OrderStatus.NEW),
        ("TSLA", OrderType.STOP, OrderClass.SIMPLE, OrderStatus.ACCEPTED),
        ("NVDA", OrderType.STOP_LIMIT, OrderClass.SIMPLE, OrderStatus.CANCELED),
        ("AAPL", OrderType.TRAILING_STOP, OrderClass.SIMPLE, OrderStatus.NEW),
        ("TSLA", OrderType.TRAILING_STOP, OrderClass.SIMPLE, OrderStatus.NEW),
        ("SPY", OrderType.MARKET, OrderClass.SIMPLE, OrderStatus.FILLED),
        ("AMD", OrderType.LIMIT, OrderClass.BRACKET, OrderStatus.FILLED),
        ("INTC", OrderType.LIMIT, OrderClass.OCO, OrderStatus.NEW),
        ("PLTR", OrderType.MARKET, OrderClass.OTO, OrderStatus.ACCEPTED),
        ("", OrderType.LIMIT, OrderClass.MLEG, OrderStatus.NEW),
        ("AAPL", OrderType.LIMIT, OrderClass.SIMPLE, OrderStatus.REPLACED),
        ("AAPL", OrderType.LIMIT, OrderClass.SIMPLE, OrderStatus.NEW),
        ("AAPL", OrderType.LIMIT, OrderClass.SIMPLE, OrderStatus.CANCELED),
        ("MSFT", OrderType.MARKET, OrderClass.SIMPLE, OrderStatus.EXPIRED),
    ]


def test_filled_market_order_every_field() -> None:
    """A filled market order: ids, Decimals, enums and nanosecond timestamps truncated to UTC."""
    order = parse_orders(payload("http_get_v2_orders.json"))[0]
    assert order.id == "c18797e9-86cf-5009-8803-a49c4d1703c5"
    assert order.client_order_id == "ai-b4dfd58c42eb5faeaf78b18cbe48bce4"
    assert order.symbol == "AAPL"
    assert order.asset_id == AAPL_ID
    assert order.asset_class is models.AssetClass.US_EQUITY
    assert order.side is OrderSide.BUY
    assert order.type is OrderType.MARKET
    assert order.time_in_force is models.TimeInForce.DAY
    assert order.order_class is OrderClass.SIMPLE
    assert order.status is OrderStatus.FILLED
    assert order.qty == D("10")
    assert order.notional is None
    assert order.filled_qty == D("10")
    assert order.filled_avg_price == D("187.42")
    assert order.limit_price is None
    assert order.stop_price is None
    assert order.trail_price is None
    assert order.trail_percent is None
    assert order.hwm is None
    assert order.extended_hours is False
    assert order.position_intent is models.PositionIntent.BUY_TO_OPEN
    assert order.ratio_qty is None
    assert order.created_at == utc(2024, 3, 15, 13, 30, 0, 123456)
    assert order.updated_at == utc(2024, 3, 15, 13, 30, 1, 460000)
    assert order.submitted_at == utc(2024, 3, 15, 13, 30, 0, 130000)
    assert order.filled_at == utc(2024, 3, 15, 13, 30, 1, 456789)
    assert order.expires_at == utc(2024, 3, 15, 20, 0)
    assert order.expired_at is None
    assert order.canceled_at is None
    assert order.failed_at is None
    assert order.replaced_at is None
    assert order.replaced_by is None
    assert order.replaces is None
    assert order.parent_id is None
    assert order.legs == ()


def test_empty_order_class_offset_expiry_and_unknown_fields() -> None:
    """order_class "" is simple; a -04:00 expiry becomes UTC; unknown fields are ignored."""
    order = parse_orders(payload("http_get_v2_orders.json"))[1]
    assert order.order_class is OrderClass.SIMPLE
    assert order.expires_at == utc(2024, 6, 13, 20, 0)
    assert order.time_in_force is models.TimeInForce.GTC
    assert order.limit_price == D("425.50")
    assert order.side is OrderSide.SELL
    assert order.position_intent is models.PositionIntent.SELL_TO_CLOSE


def test_trailing_stops_keep_trail_hwm_and_derived_stop() -> None:
    """Trailing stops: trail_percent or trail_price, the venue's hwm and derived stop_price."""
    orders = parse_orders(payload("http_get_v2_orders.json"))
    by_percent, by_price = orders[4], orders[5]
    assert (by_percent.trail_percent, by_percent.trail_price) == (D("1.5"), None)
    assert (by_percent.hwm, by_percent.stop_price) == (D("189.77"), D("186.92"))
    assert (by_price.trail_price, by_price.trail_percent) == (D("2.50"), None)
    assert (by_price.hwm, by_price.stop_price) == (D("161.12"), D("163.62"))


def test_notional_order_has_no_qty_and_a_fractional_fill() -> None:
    """A notional order: notional set, qty None, fractional filled_qty exact."""
    order = parse_orders(payload("http_get_v2_orders.json"))[6]
    assert (order.notional, order.qty) == (D("250"), None)
    assert order.filled_qty == D("0.481623")
    assert order.filled_at == utc(2024, 3, 15, 13, 31, 5, 500000)


def test_bracket_legs_are_nested_with_parent_id_and_a_held_leg() -> None:
    """A bracket's legs are nested orders pointing to the parent; the stop leg is held."""
    bracket = parse_orders(payload("http_get_v2_orders.json"))[7]
    take_profit, stop_loss = bracket.legs
    assert bracket.id == "e790dc98-5aa7-597c-9098-70da0592d641"
    assert take_profit.id == "d909aa63-d755-5c49-8b1c-8a70054b1858"
    assert stop_loss.id == "4ee4b9c1-2d35-5337-a5de-cb6cf10135ca"
    assert take_profit.parent_id == stop_loss.parent_id == bracket.id
    assert (take_profit.type, take_profit.status, take_profit.limit_price) == (
        OrderType.LIMIT,
        OrderStatus.NEW,
        D("190.00"),
    )
    assert (stop_loss.type, stop_loss.status, stop_loss.stop_price) == (
        OrderType.STOP,
        OrderStatus.HELD,
        D("172.00"),
    )
    assert take_profit.side is stop_loss.side is OrderSide.SELL
    assert [o.id for o in bracket.flatten()] == [bracket.id, take_profit.id, stop_loss.id]
    assert json.loads(stop_loss.raw) == load_json("http_get_v2_orders.json")[7]["legs"][1]


def test_oco_and_oto_orders_carry_their_single_leg() -> None:
    """OCO (exit pair) and OTO (entry + one exit) nest their held leg."""
    orders = parse_orders(payload("http_get_v2_orders.json"))
    oco, oto = orders[8], orders[9]
    assert [(leg.type, leg.status, leg.stop_price) for leg in oco.legs] == [
        (OrderType.STOP, OrderStatus.HELD, D("41.00"))
    ]
    assert [(leg.type, leg.status, leg.parent_id) for leg in oto.legs] == [
        (OrderType.STOP, OrderStatus.HELD, oto.id)
    ]


def test_mleg_parent_blanks_become_absent_and_legs_carry_ratios() -> None:
    """An mleg parent's empty symbol/side/asset fields map to absent; legs keep ratio_qty."""
    mleg = parse_orders(payload("http_get_v2_orders.json"))[10]
    assert mleg.symbol == ""
    assert mleg.side is None
    assert mleg.asset_id is None
    assert mleg.asset_class is models.AssetClass.UNKNOWN
    assert mleg.position_intent is None
    assert mleg.limit_price == D("1.25")
    long_call, short_call = mleg.legs
    assert (long_call.symbol, long_call.side, long_call.position_intent) == (
        "AAPL250620C00200000",
        OrderSide.BUY,
        models.PositionIntent.BUY_TO_OPEN,
    )
    assert (short_call.symbol, short_call.side, short_call.position_intent) == (
        "AAPL250620C00210000",
        OrderSide.SELL,
        models.PositionIntent.SELL_TO_OPEN,
    )
    assert long_call.asset_class is models.AssetClass.US_OPTION
    assert long_call.type is None
    assert long_call.ratio_qty == short_call.ratio_qty == D("1")
    assert long_call.parent_id == mleg.id


def test_replaced_order_and_its_replacement_point_at_each_other() -> None:
    """replaced_by on the old order and replaces on the new one link the pair."""
    orders = parse_orders(payload("http_get_v2_orders.json"))
    old, new = orders[11], orders[12]
    assert old.replaced_by == new.id
    assert new.replaces == old.id
    assert old.replaced_at == utc(2024, 3, 15, 14, 10, 0, 111111)
    assert old.is_terminal
    assert not new.is_terminal


def test_each_order_keeps_its_own_raw_bytes() -> None:
    """raw of every order in a page is the verbatim JSON object of that order."""
    body = payload("http_get_v2_orders.json")
    orders = parse_orders(body)
    assert [json.loads(o.raw) for o in orders] == load_json("http_get_v2_orders.json")
    assert all(o.raw in body for o in orders)


def test_single_order_endpoints_parse() -> None:
    """GET by id, by client id, POST, PATCH and closing-position answers are single orders."""
    assert (
        parse_order(payload("http_get_v2_orders_order_id.json")).order_class is OrderClass.BRACKET
    )
    by_client_id = parse_order(payload("http_get_v2_orders_by_client_order_id.json"))
    assert by_client_id.id == "c18797e9-86cf-5009-8803-a49c4d1703c5"
    submitted = parse_order(payload("http_post_v2_orders.json"))
    assert submitted.status is OrderStatus.PENDING_NEW
    assert submitted.client_order_id == "ai-2c1f0d3e9b8a4f7e8d6c5b4a39281706"
    assert submitted.updated_at is None
    assert submitted.last_event_at == utc(2024, 3, 15, 13, 45, 0)
    replacement = parse_order(payload("http_patch_v2_orders_order_id.json"))
    assert replacement.replaces == "dba49079-b6ce-566a-97b1-3d5d2c46e722"
    closing = parse_order(payload("http_delete_v2_positions_symbol.json"))
    assert (closing.side, closing.qty, closing.status) == (
        OrderSide.SELL,
        D("100"),
        OrderStatus.PENDING_NEW,
    )


# --------------------------------------------------------------------------- activities


def test_activities_fills_and_non_trade_in_payload_order() -> None:
    """FILL activities become Fills (REST source, id as fill_id); FEE/DIV/CSD stay Activities."""
    activities = parse_activities(payload("http_get_v2_account_activities.json"))
    assert [type(a).__name__ for a in activities] == [
        "Fill",
        "Fill",
        "Fill",
        "Activity",
        "Activity",
        "Activity",
    ]
    partial = activities[0]
    assert isinstance(partial, models.Fill)
    assert (
        partial.fill_id
        == partial.activity_id
        == ("20240315093012345::0c6c1d2e-4f5a-4b6c-8d7e-9f0a1b2c3d4e")
    )
    assert partial.execution_id is None
    assert partial.order_id == "c18797e9-86cf-5009-8803-a49c4d1703c5"
    assert partial.symbol == "AAPL"
    assert partial.side is OrderSide.BUY
    assert partial.qty == D("4")
    assert partial.price == D("187.41")
    assert partial.timestamp == utc(2024, 3, 15, 13, 30, 12, 345678)
    assert partial.fill_type is models.FillType.PARTIAL_FILL
    assert partial.leaves_qty == D("6")
    assert partial.cum_qty == D("4")
    assert partial.fee == D("0")
    assert partial.source is models.DataSource.REST


def test_short_sale_fill_with_offset_timestamp() -> None:
    """A sell_short FILL is a sell; its -04:00 transaction time becomes UTC."""
    short_sale = parse_activities(payload("http_get_v2_account_activities.json"))[2]
    assert isinstance(short_sale, models.Fill)
    assert short_sale.side is OrderSide.SELL
    assert short_sale.fill_type is models.FillType.FILL
    assert short_sale.timestamp == utc(2024, 3, 15, 13, 45, 0, 0)
    assert (short_sale.qty, short_sale.price) == (D("25"), D("163.57"))


def test_fee_and_dividend_activities() -> None:
    """FEE and DIV activities keep amount, date, symbol and per-share figures."""
    _, _, _, fee, dividend, deposit = parse_activities(
        payload("http_get_v2_account_activities.json")
    )
    assert isinstance(fee, models.Activity)
    assert fee.activity_type == "FEE"
    assert fee.activity_subtype == "REG"
    assert fee.date == dt.date(2024, 3, 15)
    assert fee.transaction_time == utc(2024, 3, 15, 22, 5, 11, 870284)
    assert fee.net_amount == D("-0.02")
    assert fee.symbol == "TSLA"
    assert fee.qty == D("25")
    assert fee.per_share_amount is None
    assert fee.status == "executed"
    assert fee.description == "REG/TAF fee for 25 shares of TSLA sold on 2024-03-15"
    assert isinstance(dividend, models.Activity)
    assert dividend.activity_type == "DIV"
    assert dividend.date == dt.date(2024, 3, 14)
    assert dividend.net_amount == D("24")
    assert dividend.per_share_amount == D("0.24")
    assert dividend.qty == D("100")
    assert dividend.transaction_time is None
    assert isinstance(deposit, models.Activity)
    assert (deposit.activity_type, deposit.net_amount) == ("CSD", D("100000"))


# --------------------------------------------------------------------------- market data


def test_clock_offsets_become_utc_and_nanoseconds_truncate() -> None:
    """GET /v2/clock: -04:00 times are converted to UTC, .123456789 truncates to .123456."""
    clock = parse_clock(payload("http_get_v2_clock.json"))
    assert clock.timestamp == utc(2024, 3, 15, 14, 15, 30, 123456)
    assert clock.is_open is True
    assert clock.next_open == utc(2024, 3, 18, 13, 30)
    assert clock.next_close == utc(2024, 3, 15, 20, 0)
    assert clock.timestamp.tzinfo is dt.UTC


def test_calendar_sessions_in_utc_across_dst_and_early_close() -> None:
    """GET /v2/calendar: New York session times become UTC on both sides of DST."""
    winter, summer, early_close = parse_calendar(payload("http_get_v2_calendar.json"))
    assert winter.date == dt.date(2024, 3, 8)
    assert (winter.open, winter.close) == (utc(2024, 3, 8, 14, 30), utc(2024, 3, 8, 21, 0))
    assert (winter.session_open, winter.session_close) == (
        utc(2024, 3, 8, 9, 0),
        utc(2024, 3, 9, 1, 0),
    )
    assert winter.settlement_date == dt.date(2024, 3, 12)
    assert (summer.open, summer.close) == (utc(2024, 3, 11, 13, 30), utc(2024, 3, 11, 20, 0))
    assert early_close.close == utc(2024, 11, 29, 18, 0)
    assert early_close.session_close == utc(2024, 11, 29, 22, 0)


def test_assets_list_and_single_asset() -> None:
    """GET /v2/assets: class, exchange, flags, attributes; crypto increments exact."""
    aapl, msft, delisted, bitcoin = parse_assets(payload("http_get_v2_assets.json"))
    assert aapl.id == AAPL_ID
    assert aapl.symbol == "AAPL"
    assert aapl.name == "Apple Inc. Common Stock"
    assert aapl.asset_class is models.AssetClass.US_EQUITY
    assert aapl.exchange == "NASDAQ"
    assert aapl.status == "active"
    assert (aapl.tradable, aapl.marginable, aapl.shortable) == (True, True, True)
    assert (aapl.easy_to_borrow, aapl.fractionable) == (True, True)
    assert aapl.maintenance_margin_requirement == D("30")
    assert aapl.attributes == ("fractional_eh_enabled", "has_options")
    assert msft.attributes == ("has_options",)
    assert (delisted.status, delisted.tradable, delisted.attributes) == ("inactive", False, ())
    assert bitcoin.asset_class is models.AssetClass.CRYPTO
    assert bitcoin.exchange == "CRYPTO"
    assert bitcoin.min_order_size == D("0.000047976")
    assert bitcoin.min_trade_increment == D("0.000000001")
    assert bitcoin.price_increment == D("1")
    single = parse_asset(payload("http_get_v2_assets_symbol.json"))
    assert single == msgspec.structs.replace(aapl, raw=payload("http_get_v2_assets_symbol.json"))


def test_watchlists_with_and_without_assets() -> None:
    """Watchlists list without assets; a single watchlist nests full assets."""
    tech, later = parse_watchlists(payload("http_get_v2_watchlists.json"))
    assert tech.id == "c8f0005b-e264-5ff2-87ea-e476491c9faa"
    assert tech.account_id == "de09b621-646c-542e-a70e-81601d2391df"
    assert tech.name == "Tech"
    assert tech.created_at == utc(2024, 3, 12, 15, 0, 0, 123456)
    assert tech.updated_at == utc(2024, 3, 14, 18, 30, 0, 654321)
    assert tech.assets == ()
    assert later.name == "Later"
    detailed = parse_watchlist(payload("http_get_v2_watchlists_watchlist_id.json"))
    assert [a.symbol for a in detailed.assets] == ["AAPL", "MSFT"]
    assert detailed.assets[0].raw in payload("http_get_v2_watchlists_watchlist_id.json")


def test_portfolio_history_numbers_and_nulls() -> None:
    """Portfolio history: epoch seconds to UTC, JSON numbers to exact Decimals, null kept."""
    history = parse_portfolio_history(payload("http_get_v2_account_portfolio_history.json"))
    assert history.timestamps == (
        utc(2024, 3, 11, 4, 0),
        utc(2024, 3, 12, 4, 0),
        utc(2024, 3, 13, 4, 0),
        utc(2024, 3, 14, 4, 0),
        utc(2024, 3, 15, 4, 0),
    )
    assert history.equity == (None, D("100000"), D("100412.37"), D("100012.37"), D("100246.99"))
    assert history.profit_loss == (None, D("0"), D("412.37"), D("-400"), D("234.62"))
    assert history.profit_loss_pct[2] == D("0.0041237")
    assert history.base_value == D("100000")
    assert history.timeframe == "1D"


# --------------------------------------------------------------------------- 207 answers


def test_cancel_all_answer_with_order_bodies_and_a_failure() -> None:
    """DELETE /v2/orders 207: per-order status, the canceled order when sent, the error else."""
    canceled, bodiless, failed = parse_bulk_orders(payload("http_delete_v2_orders.json"))
    assert canceled.key == "5c587d7d-2a68-5f0a-ae21-639b2606088c"
    assert canceled.ok
    assert canceled.status == 200
    assert canceled.order is not None
    assert canceled.order.status is OrderStatus.PENDING_CANCEL
    assert (bodiless.key, bodiless.ok, bodiless.order) == (
        "c732397a-9d72-5f87-9007-05b176d8b4e1",
        True,
        None,
    )
    assert not failed.ok
    assert (failed.status, failed.error_code, failed.error_message) == (
        500,
        50010000,
        "internal server error occurred",
    )
    assert failed.order is None


def test_close_all_answer_gives_closing_orders_and_refusals() -> None:
    """DELETE /v2/positions 207: the closing order per symbol, or the refusal's code/message."""
    closed, refused = parse_bulk_positions(payload("http_delete_v2_positions.json"))
    assert closed.key == "AAPL"
    assert closed.order is not None
    assert closed.order.id == "b1c2af70-3cf0-5076-87a8-8a2a20dbf213"
    assert (closed.order.side, closed.order.qty) == (OrderSide.SELL, D("100"))
    assert refused.key == "TSLA"
    assert (refused.status, refused.error_code) == (403, 40310000)
    assert refused.error_message == (
        "insufficient qty available for order (requested: 25, available: 0)"
    )
    assert json.loads(refused.raw)["symbol"] == "TSLA"
