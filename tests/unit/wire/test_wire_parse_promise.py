"""parse.py's promise (issue 11 item 16): what Alpaca's spec allows parses, and anything else is
a ``ParseError``, never a raw ``ValueError``, ``OverflowError`` or ``InvalidOperation``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_payloads import OBSERVED_AT, load_json

from alpaca_integration.alpaca.parse import (
    parse_account,
    parse_activities,
    parse_calendar,
    parse_clock,
    parse_market_calendar,
    parse_market_clocks,
    parse_option_contract,
    parse_order,
    parse_portfolio_history,
    parse_position,
    parse_trade_update,
)
from alpaca_integration.errors import ParseError
from support.wire_json import portfolio_history_json

D = Decimal


def test_an_account_with_only_the_required_fields_parses() -> None:
    """The spec requires only id and status: such an account parses, its figures zero."""
    account = parse_account(b'{"id": "acc-1", "status": "ONBOARDING"}', OBSERVED_AT)
    assert (account.account_id, account.status) == ("acc-1", "ONBOARDING")
    assert account.cash == D(0)
    assert account.equity == D(0)
    assert account.portfolio_value == D(0)


def test_an_account_without_equity_derives_it_as_alpaca_defines_it() -> None:
    """Without equity, portfolio_value stands in (Alpaca's older name for it); without both,
    equity is cash + long_market_value + short_market_value (short values are negative)."""
    from_portfolio = parse_account(
        b'{"id": "a", "status": "ACTIVE", "cash": "100", "portfolio_value": "250.5"}', OBSERVED_AT
    )
    assert from_portfolio.equity == D("250.5")
    derived = parse_account(
        b'{"id": "a", "status": "ACTIVE", "cash": "100", "long_market_value": "60.25",'
        b' "short_market_value": "-10"}',
        OBSERVED_AT,
    )
    assert derived.equity == D("150.25")
    assert derived.portfolio_value == D("150.25")


def test_a_portfolio_history_in_milliseconds_is_a_parse_error() -> None:
    """Timestamps in milliseconds (not the spec's UNIX seconds) raise ParseError naming the
    field, not a raw ValueError ('year is out of range')."""
    milliseconds = [1_717_000_000_000, 1_717_000_060_000]
    body = json.dumps(portfolio_history_json(timestamp=milliseconds, timeframe="1Min")).encode()
    with pytest.raises(ParseError) as info:
        parse_portfolio_history(body)
    assert "timestamp" in str(info.value)


# --------------------------------------------------------------------------- any value, any field

HOSTILE_VALUES: list[Any] = [
    None,
    "",
    "NaN",
    "sNaN",
    "-Infinity",
    "1e999999",
    "-1e999999",
    1e308,
    -(10**40),
    10**40,
    "9" * 5000,
    [],
    {},
    True,
    "2024-13-45T99:99:99Z",
    "\u0000",
]


def _account(raw: bytes) -> object:
    return parse_account(raw, OBSERVED_AT)


def _position(raw: bytes) -> object:
    return parse_position(raw, OBSERVED_AT)


def _one_activity(raw: bytes) -> object:
    return parse_activities(b"[" + raw + b"]")


def _one_day(raw: bytes) -> object:
    return parse_calendar(b"[" + raw + b"]")


def _one_market_clock(raw: bytes) -> object:
    return parse_market_clocks(b'{"clocks": [' + raw + b"]}")


def _one_market_day(raw: bytes) -> object:
    market = b'{"acronym": "NYSE", "name": "New York Stock Exchange", "timezone": "UTC"}'
    return parse_market_calendar(b'{"market": ' + market + b', "calendar": [' + raw + b"]}")


PARSERS: dict[str, tuple[Callable[[bytes], object], dict[str, Any]]] = {
    "account": (_account, load_json("http_get_v2_account.json")),
    "position": (_position, load_json("http_get_v2_positions_symbol.json")),
    "order": (parse_order, load_json("http_get_v2_orders_order_id.json")),
    "activity": (_one_activity, load_json("http_get_v2_account_activities.json")[0]),
    "clock": (parse_clock, load_json("http_get_v2_clock.json")),
    "calendar day": (_one_day, load_json("http_get_v2_calendar.json")[0]),
    "portfolio history": (
        parse_portfolio_history,
        load_json("http_get_v2_account_portfolio_history.json"),
    ),
    "trade update": (parse_trade_update, load_json("ws_trade_updates_fill.json")["data"]),
    "option contract": (
        parse_option_contract,
        load_json("http_get_v2_options_contracts.json")["option_contracts"][0],
    ),
    "market clocks": (
        _one_market_clock,
        load_json("http_get_v3_clock.json")["clocks"][0],
    ),
    "market calendar day": (
        _one_market_day,
        load_json("http_get_v3_calendar_market.json")["calendar"][0],
    ),
}


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(PARSERS)))
    document = dict(PARSERS[name][1])
    for field in draw(st.lists(st.sampled_from(sorted(document)), min_size=1, max_size=3)):
        value = draw(st.sampled_from(HOSTILE_VALUES))
        if isinstance(document[field], list) and draw(st.booleans()):
            value = [value] * max(1, len(document[field]))
        document[field] = value
    return name, json.dumps(document).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated())
def test_any_hostile_field_value_gives_a_model_or_a_parse_error(case: tuple[str, bytes]) -> None:
    """Whatever value lands in whatever field, a parser returns a model or raises ParseError."""
    name, body = case
    parser = PARSERS[name][0]
    with contextlib.suppress(ParseError):
        parser(body)
