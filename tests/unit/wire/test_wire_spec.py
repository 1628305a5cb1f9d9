"""The payload files and the request bodies we build, checked against Alpaca's OpenAPI spec.

Where the spec disagrees with what Alpaca really sends, the disagreement is listed in
``KNOWN_DEVIATIONS`` with its reason, per file and per JSON path; the check stays strict
everywhere else, and a listed deviation that stops occurring fails the test too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from wire_payloads import DATA_DIR, SchemaErrors, load_json

from alpaca_integration import models
from alpaca_integration.alpaca.requests import build_order_body, build_replace_body
from alpaca_integration.models import OrderClass, OrderRequest, OrderSide, OrderType, TimeInForce

# payload file -> (method, path, status) of the response it is
HTTP_RESPONSES: dict[str, tuple[str, str, str]] = {
    "http_get_v2_account.json": ("get", "/v2/account", "200"),
    "http_get_v2_account_numbers.json": ("get", "/v2/account", "200"),
    "http_get_v2_account_configurations.json": ("get", "/v2/account/configurations", "200"),
    "http_get_v2_account_activities.json": ("get", "/v2/account/activities", "200"),
    "http_get_v2_account_portfolio_history.json": (
        "get",
        "/v2/account/portfolio/history",
        "200",
    ),
    "http_get_v2_assets.json": ("get", "/v2/assets", "200"),
    "http_get_v2_assets_symbol.json": ("get", "/v2/assets/{symbol_or_asset_id}", "200"),
    "http_get_v2_calendar.json": ("get", "/v2/calendar", "200"),
    "http_get_v2_clock.json": ("get", "/v2/clock", "200"),
    "http_get_v2_orders.json": ("get", "/v2/orders", "200"),
    "http_get_v2_orders_order_id.json": ("get", "/v2/orders/{order_id}", "200"),
    "http_get_v2_orders_by_client_order_id.json": ("get", "/v2/orders:by_client_order_id", "200"),
    "http_post_v2_orders.json": ("post", "/v2/orders", "200"),
    "http_patch_v2_orders_order_id.json": ("patch", "/v2/orders/{order_id}", "200"),
    "http_delete_v2_orders.json": ("delete", "/v2/orders", "207"),
    "http_delete_v2_positions.json": ("delete", "/v2/positions", "207"),
    "http_delete_v2_positions_symbol.json": ("delete", "/v2/positions/{symbol_or_asset_id}", "200"),
    "http_get_v2_positions.json": ("get", "/v2/positions", "200"),
    "http_get_v2_positions_symbol.json": ("get", "/v2/positions/{symbol_or_asset_id}", "200"),
    "http_get_v2_watchlists.json": ("get", "/v2/watchlists", "200"),
    "http_get_v2_watchlists_watchlist_id.json": ("get", "/v2/watchlists/{watchlist_id}", "200"),
    "http_get_v2_positions_options_crypto.json": ("get", "/v2/positions", "200"),
    "http_get_v2_options_contracts.json": ("get", "/v2/options/contracts", "200"),
    "http_get_v2_options_contracts_symbol_or_id.json": (
        "get",
        "/v2/options/contracts/{symbol_or_id}",
        "200",
    ),
    "http_get_v3_clock.json": ("get", "/v3/clock", "200"),
    "http_get_v3_calendar_market.json": ("get", "/v3/calendar/{market}", "200"),
    "http_post_v2_orders_mleg.json": ("post", "/v2/orders", "200"),
    "http_post_v2_orders_option.json": ("post", "/v2/orders", "200"),
    "http_post_v2_orders_crypto.json": ("post", "/v2/orders", "200"),
}

_JSON_NUMBERS = (
    "Older API versions and some clients send money fields as JSON numbers (NOTES.md: treat "
    "both as Decimal); the spec types them as strings"
)
_MLEG_PARENT = (
    "An mleg order's parent names no single asset: Alpaca sends symbol, side, asset_id, "
    "asset_class and position_intent as empty strings, which the spec's enums and formats refuse"
)

_MLEG_PARENT_FIELDS = (
    ("symbol", "minLength"),
    ("side", "enum"),
    ("asset_id", "format"),
    ("asset_class", "enum"),
)

# file -> {(json path, schema keyword): why reality differs from the spec}
KNOWN_DEVIATIONS: dict[str, dict[tuple[tuple[str | int, ...], str], str]] = {
    "http_get_v2_account_numbers.json": {
        ((field,), "type"): _JSON_NUMBERS
        for field in (
            "cash",
            "equity",
            "last_equity",
            "buying_power",
            "regt_buying_power",
            "portfolio_value",
            "long_market_value",
            "short_market_value",
            "multiplier",
            "accrued_fees",
        )
    },
    "http_get_v2_account_portfolio_history.json": {
        ((series, 0), "type"): (
            "Periods before the account had any equity are null in every series; the spec's "
            "items are non-nullable numbers"
        )
        for series in ("equity", "profit_loss", "profit_loss_pct")
    },
    "http_get_v2_assets.json": {
        ((3, "exchange"), "enum"): (
            "Crypto assets are listed on exchange CRYPTO, missing from the spec's Exchange enum"
        ),
    },
    "http_get_v2_orders.json": {
        ((10, "symbol"), "minLength"): _MLEG_PARENT,
        ((10, "side"), "enum"): _MLEG_PARENT,
        ((10, "asset_id"), "format"): _MLEG_PARENT,
        ((10, "asset_class"), "enum"): _MLEG_PARENT,
        ((10, "position_intent"), "enum"): _MLEG_PARENT,
        ((10, "legs", 0), "required"): (
            "Legs of an mleg order carry no type (the parent's limit applies to the whole "
            "strategy); the spec's OrderLeg requires type"
        ),
        ((10, "legs", 1), "required"): "Same as legs[0]: mleg legs carry no type",
    },
    "http_get_v2_positions_options_crypto.json": {
        ((1, "exchange"), "enum"): (
            "Crypto positions are held on exchange CRYPTO, missing from the spec's exchange enum"
        ),
    },
    "http_post_v2_orders_mleg.json": {
        **{((field,), keyword): _MLEG_PARENT for field, keyword in _MLEG_PARENT_FIELDS},
        **{
            (("legs", n, "type"), "enum"): (
                "Legs of an mleg order carry an empty type (the parent's limit applies to the "
                "whole strategy), which the spec's OrderType enum refuses"
            )
            for n in (0, 1)
        },
    },
    "http_delete_v2_positions.json": {
        ((1, "body"), "required"): (
            "A failed close carries an error body ({code, message, available, ...}) in place "
            "of the order; the spec types every body as an Order"
        ),
    },
    "http_error_401_message_only.json": {
        ((), "required"): "Some 401 answers carry only a message, no code (NOTES.md)",
    },
}


def _response_schema(spec: dict[str, Any], method: str, path: str, status: str) -> Any:
    response = spec["paths"][path][method]["responses"][status]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return response["content"]["application/json"]["schema"]


def test_every_http_payload_file_is_checked_against_the_spec() -> None:
    """No http_* payload escapes validation: each is mapped to a response or is an error body."""
    files = {path.name for path in DATA_DIR.glob("http_*.json")}
    unchecked = {name for name in files if not name.startswith("http_error_")} - set(HTTP_RESPONSES)
    assert unchecked == set()
    assert files, "no payload files found"


@pytest.mark.parametrize("name", sorted(HTTP_RESPONSES))
def test_http_payload_matches_the_spec_response_schema(
    name: str, trading_spec: dict[str, Any], schema_errors: SchemaErrors
) -> None:
    """Each HTTP payload file satisfies its response schema, except the documented deviations."""
    schema = _response_schema(trading_spec, *HTTP_RESPONSES[name])
    found = schema_errors(schema, load_json(name))
    assert found == set(KNOWN_DEVIATIONS.get(name, {}))


@pytest.mark.parametrize("name", sorted(path.name for path in DATA_DIR.glob("http_error_*.json")))
def test_error_payload_matches_the_spec_error_schema(
    name: str, schema_errors: SchemaErrors
) -> None:
    """Each error body satisfies the spec's Error schema (code + message), deviations aside."""
    found = schema_errors({"$ref": "#/components/schemas/Error"}, load_json(name))
    assert found == set(KNOWN_DEVIATIONS.get(name, {}))


@pytest.mark.parametrize(
    "name", sorted(path.name for path in DATA_DIR.glob("ws_trade_updates_*.json"))
)
def test_stream_order_matches_the_spec_order_schema(name: str, schema_errors: SchemaErrors) -> None:
    """The order inside each trade_updates event has the same shape as a REST order."""
    order = load_json(name)["data"]["order"]
    assert schema_errors({"$ref": "#/components/schemas/Order"}, order) == set()


# --------------------------------------------------------------------------- request bodies

D = Decimal
ORDER_INTENTS: dict[str, models.OrderIntent] = {
    "market qty": OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=D("10")),
    "market notional": OrderRequest(symbol="SPY", side=OrderSide.BUY, notional=D("250.50")),
    "market fractional qty": OrderRequest(symbol="SPY", side=OrderSide.SELL, qty=D("0.481623")),
    "limit gtc extended hours": OrderRequest(
        symbol="MSFT",
        side=OrderSide.SELL,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        qty=D("5"),
        limit_price=D("425.50"),
        extended_hours=True,
        client_order_id="ai-limit-1",
        position_intent=models.PositionIntent.SELL_TO_CLOSE,
    ),
    "limit sub-dollar": OrderRequest(
        symbol="SNDL",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        qty=D("1000"),
        limit_price=D("0.4321"),
    ),
    "stop": OrderRequest(
        symbol="TSLA", side=OrderSide.SELL, type=OrderType.STOP, qty=D("25"), stop_price=D("160")
    ),
    "stop limit": OrderRequest(
        symbol="NVDA",
        side=OrderSide.BUY,
        type=OrderType.STOP_LIMIT,
        time_in_force=TimeInForce.GTC,
        qty=D("3"),
        stop_price=D("905.00"),
        limit_price=D("910.25"),
    ),
    "trailing stop price": OrderRequest(
        symbol="TSLA",
        side=OrderSide.BUY,
        type=OrderType.TRAILING_STOP,
        qty=D("25"),
        trail_price=D("2.50"),
    ),
    "trailing stop percent": OrderRequest(
        symbol="AAPL",
        side=OrderSide.SELL,
        type=OrderType.TRAILING_STOP,
        time_in_force=TimeInForce.GTC,
        qty=D("10"),
        trail_percent=D("1.5"),
    ),
    "market opg": OrderRequest(
        symbol="MSFT", side=OrderSide.BUY, qty=D("1"), time_in_force=TimeInForce.OPG
    ),
    "market cls": OrderRequest(
        symbol="MSFT", side=OrderSide.SELL, qty=D("1"), time_in_force=TimeInForce.CLS
    ),
    "limit ioc": OrderRequest(
        symbol="AAPL",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.IOC,
        qty=D("10"),
        limit_price=D("187.45"),
    ),
    "limit fok": OrderRequest(
        symbol="AAPL",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.FOK,
        qty=D("10"),
        limit_price=D("187.45"),
    ),
    "bracket buy limit": OrderRequest(
        symbol="AMD",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        qty=D("20"),
        limit_price=D("178.40"),
        order_class=OrderClass.BRACKET,
        take_profit=models.TakeProfit(limit_price=D("190")),
        stop_loss=models.StopLoss(stop_price=D("172"), limit_price=D("171.50")),
    ),
    "bracket sell market": OrderRequest(
        symbol="AMD",
        side=OrderSide.SELL,
        qty=D("20"),
        order_class=OrderClass.BRACKET,
        take_profit=models.TakeProfit(limit_price=D("170")),
        stop_loss=models.StopLoss(stop_price=D("185")),
    ),
    "oco sell": OrderRequest(
        symbol="INTC",
        side=OrderSide.SELL,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        qty=D("50"),
        order_class=OrderClass.OCO,
        take_profit=models.TakeProfit(limit_price=D("46.50")),
        stop_loss=models.StopLoss(stop_price=D("41")),
    ),
    "oto stop loss": OrderRequest(
        symbol="PLTR",
        side=OrderSide.BUY,
        qty=D("100"),
        order_class=OrderClass.OTO,
        stop_loss=models.StopLoss(stop_price=D("22.10")),
    ),
    "oto take profit": OrderRequest(
        symbol="PLTR",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        qty=D("100"),
        limit_price=D("24"),
        order_class=OrderClass.OTO,
        take_profit=models.TakeProfit(limit_price=D("26")),
    ),
    "option limit": OrderRequest(
        symbol="AAPL250620C00195000",
        side=OrderSide.BUY,
        type=OrderType.LIMIT,
        qty=D("2"),
        limit_price=D("4.05"),
        position_intent=models.PositionIntent.BUY_TO_OPEN,
    ),
    "crypto notional gtc": OrderRequest(
        symbol="BTC/USD", side=OrderSide.BUY, time_in_force=TimeInForce.GTC, notional=D("250")
    ),
    "crypto limit ioc": OrderRequest(
        symbol="ETH/USD",
        side=OrderSide.SELL,
        type=OrderType.LIMIT,
        time_in_force=TimeInForce.IOC,
        qty=D("0.012345678"),
        limit_price=D("2450.55"),
    ),
    "mleg call spread": models.MultiLegOrderRequest(
        legs=(
            models.OptionLegRequest(
                symbol="AAPL250620C00195000",
                side=OrderSide.BUY,
                position_intent=models.PositionIntent.BUY_TO_OPEN,
            ),
            models.OptionLegRequest(
                symbol="AAPL250620C00205000", position_intent=models.PositionIntent.SELL_TO_OPEN
            ),
        ),
        qty=D("3"),
        type=OrderType.LIMIT,
        limit_price=D("3.50"),
        client_order_id="ai-mleg-1",
    ),
    "mleg iron condor credit": models.MultiLegOrderRequest(
        legs=tuple(
            models.OptionLegRequest(symbol=symbol, side=side)
            for symbol, side in (
                ("SPY250620P00480000", OrderSide.BUY),
                ("SPY250620P00490000", OrderSide.SELL),
                ("SPY250620C00520000", OrderSide.SELL),
                ("SPY250620C00530000", OrderSide.BUY),
            )
        ),
        qty=D("1"),
        type=OrderType.LIMIT,
        limit_price=D("-2.15"),
    ),
}


def _request_schema(spec: dict[str, Any], method: str, path: str) -> Any:
    return spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def test_order_intents_cover_every_type_time_in_force_and_class() -> None:
    """The round-trip intents exercise each order type, time in force and supported class."""
    intents = ORDER_INTENTS.values()
    assert {req.type for req in intents} == set(OrderType)
    assert {req.time_in_force for req in intents} == set(TimeInForce)
    assert {req.order_class for req in intents} == set(OrderClass)


@pytest.mark.parametrize("intent", sorted(ORDER_INTENTS))
def test_order_body_is_accepted_by_the_spec_request_schema(
    intent: str, trading_spec: dict[str, Any], schema_errors: SchemaErrors
) -> None:
    """Every order intent builds a POST /v2/orders body the spec's request schema accepts."""
    body = build_order_body(ORDER_INTENTS[intent])
    schema = _request_schema(trading_spec, "post", "/v2/orders")
    assert schema_errors(schema, body) == set()


@pytest.mark.parametrize(
    "replace",
    [
        models.ReplaceRequest(qty=D("15")),
        models.ReplaceRequest(limit_price=D("186.00"), time_in_force=TimeInForce.GTC),
        models.ReplaceRequest(stop_price=D("0.5123"), client_order_id="ai-replace-2"),
        models.ReplaceRequest(trail=D("1.25")),
    ],
    ids=["qty", "limit+tif", "stop+client id", "trail"],
)
def test_replace_body_is_accepted_by_the_spec_request_schema(
    replace: models.ReplaceRequest, trading_spec: dict[str, Any], schema_errors: SchemaErrors
) -> None:
    """Every replace intent builds a PATCH /v2/orders/{id} body the spec accepts."""
    body = build_replace_body(replace)
    schema = _request_schema(trading_spec, "patch", "/v2/orders/{order_id}")
    assert schema_errors(schema, body) == set()


def test_spec_check_rejects_a_body_with_a_float_price(
    trading_spec: dict[str, Any], schema_errors: SchemaErrors
) -> None:
    """The round-trip check can fail: a price sent as a JSON number breaks the request schema."""
    body = build_order_body(ORDER_INTENTS["limit ioc"])
    body["limit_price"] = 187.45
    schema = _request_schema(trading_spec, "post", "/v2/orders")
    assert (("limit_price",), "type") in schema_errors(schema, body)
