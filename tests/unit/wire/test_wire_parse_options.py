"""Option contracts, the v3 clock and calendar, and option/crypto orders, positions and fills
parsed from recorded-style payloads: exact values, asset classes and multipliers."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from wire_payloads import OBSERVED_AT, payload, utc

from alpaca_integration.alpaca.parse import (
    fill_from_trade_update,
    parse_account,
    parse_activities,
    parse_market_calendar,
    parse_market_clocks,
    parse_option_contract,
    parse_option_contracts_page,
    parse_order,
    parse_positions,
    parse_trade_update,
)
from alpaca_integration.errors import ParseError
from alpaca_integration.models import (
    AssetClass,
    Fill,
    MarketPhase,
    OptionStyle,
    OptionType,
    OrderClass,
    OrderSide,
    PositionIntent,
)

D = Decimal


def test_a_contracts_page_reads_every_contract_and_the_next_token() -> None:
    """The listing's contracts come with their terms, deliverables and the next page token."""
    contracts, token = parse_option_contracts_page(payload("http_get_v2_options_contracts.json"))
    assert token == "MTAwMA=="
    call, adjusted = contracts
    assert (call.symbol, call.underlying, call.expiry, call.type, call.style) == (
        "AAPL250620C00100000",
        "AAPL",
        dt.date(2025, 6, 20),
        OptionType.CALL,
        OptionStyle.AMERICAN,
    )
    assert (call.strike, call.multiplier, call.size, call.open_interest, call.close_price) == (
        D(100),
        D(100),
        D(100),
        D(237),
        D("96.38"),
    )
    assert call.deliverables[0].amount == D(100)
    assert (adjusted.root, adjusted.underlying, adjusted.multiplier, adjusted.tradable) == (
        "SPGI1",
        "SPGI",
        D(103),
        False,
    )
    assert adjusted.close_price is None
    assert [d.type for d in adjusted.deliverables] == ["equity", "cash"]
    assert adjusted.deliverables[1].delayed_settlement is True


def test_one_contract_keeps_its_payload_and_a_last_page_has_no_token() -> None:
    """A single contract parses with raw kept; an empty or null token ends the listing."""
    contract = parse_option_contract(payload("http_get_v2_options_contracts_symbol_or_id.json"))
    assert (contract.type, contract.status, contract.close_price_date) == (
        OptionType.PUT,
        "inactive",
        dt.date(2024, 12, 12),
    )
    assert contract.raw_json()["symbol"] == "AAPL241213P00250000"
    for token in ('""', "null"):
        page = parse_option_contracts_page(
            f'{{"option_contracts": [], "next_page_token": {token}}}'
        )
        assert page == ([], None)


def test_a_contract_of_unknown_type_is_refused_and_an_unknown_style_kept() -> None:
    """A type that is neither call nor put cannot be valued: ParseError; a new style is UNKNOWN."""
    body = json.loads(payload("http_get_v2_options_contracts_symbol_or_id.json"))
    with pytest.raises(ParseError, match="binary"):
        parse_option_contract(json.dumps({**body, "type": "binary"}))
    assert parse_option_contract(json.dumps({**body, "style": "bermudan"})).style is (
        OptionStyle.UNKNOWN
    )


def test_the_v3_clock_reads_one_clock_per_market_in_utc() -> None:
    """Each market's clock: phase, phase end and next open/close as UTC instants."""
    nyse, opra = parse_market_clocks(payload("http_get_v3_clock.json"))
    assert (nyse.market.acronym, nyse.market.mic, nyse.phase, nyse.is_open) == (
        "NYSE",
        "XNYS",
        MarketPhase.CORE,
        True,
    )
    assert nyse.timestamp == dt.datetime(2025, 6, 2, 14, 0, 0, 512304, tzinfo=dt.UTC)
    assert nyse.next_market_close == utc(2025, 6, 2, 20, 0)
    assert opra.phase_until == utc(2025, 6, 2, 20, 15)
    assert opra.market.mic is None


def test_the_v3_calendar_reads_sessions_including_an_early_close() -> None:
    """A market's days with every session as a UTC instant (July 3 closes at 13:00 New York)."""
    calendar = parse_market_calendar(payload("http_get_v3_calendar_market.json"))
    early, regular = calendar.days
    assert calendar.market.acronym == "NYSE"
    assert (early.date, early.core_end, early.settlement_date) == (
        dt.date(2025, 7, 3),
        utc(2025, 7, 3, 17, 0),
        dt.date(2025, 7, 7),
    )
    assert (regular.pre_start, regular.post_end, regular.lunch_start) == (
        utc(2025, 7, 7, 8, 0),
        utc(2025, 7, 8, 0, 0),
        None,
    )


def test_an_mleg_order_is_a_parent_with_option_legs_worth_100_per_contract() -> None:
    """The mleg parent carries the net price and the legs' multiplier; legs keep ratio and intent."""
    order = parse_order(payload("http_post_v2_orders_mleg.json"))
    assert (order.order_class, order.symbol, order.side, order.limit_price) == (
        OrderClass.MLEG,
        "",
        None,
        D("3.50"),
    )
    assert order.multiplier == D(100)
    long_leg, short_leg = order.legs
    assert (long_leg.asset_class, long_leg.multiplier, long_leg.ratio_qty) == (
        AssetClass.US_OPTION,
        D(100),
        D(1),
    )
    assert (short_leg.side, short_leg.position_intent) == (
        OrderSide.SELL,
        PositionIntent.SELL_TO_OPEN,
    )


def test_option_and_crypto_orders_carry_their_class_and_multiplier() -> None:
    """A single-leg option order is worth 100 per contract; a crypto order 1 per coin."""
    option = parse_order(payload("http_post_v2_orders_option.json"))
    crypto = parse_order(payload("http_post_v2_orders_crypto.json"))
    assert (option.asset_class, option.multiplier) == (AssetClass.US_OPTION, D(100))
    assert (crypto.asset_class, crypto.multiplier, crypto.symbol, crypto.qty) == (
        AssetClass.CRYPTO,
        D(1),
        "ETH/USD",
        D("0.0125"),
    )


def test_option_and_crypto_positions_carry_their_multiplier() -> None:
    """An option position's value is qty x price x 100; a crypto position's qty keeps 9 decimals."""
    option, crypto = parse_positions(
        payload("http_get_v2_positions_options_crypto.json"), OBSERVED_AT
    )
    assert (option.asset_class, option.multiplier) == (AssetClass.US_OPTION, D(100))
    assert option.current_price is not None
    assert option.qty * option.current_price * option.multiplier == option.market_value
    assert (crypto.asset_class, crypto.multiplier, crypto.qty) == (
        AssetClass.CRYPTO,
        D(1),
        D("0.012468828"),
    )


def test_the_account_states_its_options_level_and_buying_power() -> None:
    """options_buying_power, the approved and effective levels and crypto_status are read."""
    account = parse_account(payload("http_get_v2_account.json"), OBSERVED_AT)
    assert (account.options_approved_level, account.options_trading_level) == (2, 2)
    assert account.options_buying_power == D("90311.97")
    assert account.crypto_status == "ACTIVE"


def test_fills_name_their_instrument_from_rest_and_from_the_stream() -> None:
    """An option FILL activity is a us_option fill worth 100 per contract; a stream fill takes
    its order's class and multiplier."""
    activity = {
        "id": "20250602143000000::8e1d",
        "activity_type": "FILL",
        "transaction_time": "2025-06-02T14:30:00Z",
        "type": "fill",
        "price": "4.05",
        "qty": "2",
        "side": "buy",
        "symbol": "AAPL250620C00195000",
        "order_id": "o-1",
    }
    (fill,) = parse_activities(json.dumps([activity]))
    assert isinstance(fill, Fill)
    assert (fill.asset_class, fill.multiplier) == (AssetClass.US_OPTION, D(100))
    order = json.loads(payload("http_post_v2_orders_crypto.json"))
    update = parse_trade_update(
        json.dumps(
            {
                "event": "fill",
                "order": {**order, "status": "filled", "filled_qty": "0.0125"},
                "timestamp": "2025-06-01T03:12:45Z",
                "execution_id": "x-1",
                "price": "2450.5",
                "qty": "0.0125",
                "position_qty": "0.0125",
            }
        )
    )
    stream_fill = fill_from_trade_update(update)
    assert stream_fill is not None
    assert (stream_fill.asset_class, stream_fill.multiplier) == (AssetClass.CRYPTO, D(1))
