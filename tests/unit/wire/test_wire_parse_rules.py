"""The parse rules that hold for every shape: strict statuses, tolerant fields, exact numbers,
truncated timestamps, clear ParseErrors, and error bodies that never break the caller."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_payloads import OBSERVED_AT, load_json, payload, utc

from alpaca_integration.alpaca.parse import (
    parse_account,
    parse_bulk_orders,
    parse_calendar,
    parse_clock,
    parse_error,
    parse_order,
    parse_orders,
    parse_portfolio_history,
    parse_position,
)
from alpaca_integration.errors import ParseError
from alpaca_integration.models import OrderClass

D = Decimal


def _order(**changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = load_json("http_get_v2_orders_by_client_order_id.json")
    order.update(changes)
    return order


def _dumps(document: Any) -> bytes:
    return json.dumps(document).encode()


# --------------------------------------------------------------------------- strictness


def test_unknown_order_status_is_a_parse_error_naming_it() -> None:
    """An order status Alpaca adds later is surfaced, never guessed."""
    with pytest.raises(ParseError, match="unknown order status 'pending_review'") as caught:
        parse_order(_dumps(_order(status="pending_review")))
    assert caught.value.shape == "order"
    assert caught.value.value == "pending_review"


def test_unknown_status_inside_a_page_or_a_leg_is_a_parse_error() -> None:
    """Strictness holds for every order of a page and for nested legs."""
    page = load_json("http_get_v2_orders.json")
    page[7]["legs"][1]["status"] = "parked"
    with pytest.raises(ParseError, match="'parked'"):
        parse_orders(_dumps(page))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_in_force", "gtd"),
        ("order_class", "bracket_plus"),
        ("side", "short"),
        ("type", "pegged"),
        ("position_intent", "roll"),
    ],
)
def test_unknown_order_enum_values_are_parse_errors(field: str, value: str) -> None:
    """Unknown time in force, class, side, type or intent: ParseError naming field and value."""
    with pytest.raises(ParseError, match=rf"order\.{field}: unknown .* {value!r}") as caught:
        parse_order(_dumps(_order(**{field: value, "order_type": value})))
    assert caught.value.value == value


def test_missing_status_is_a_parse_error() -> None:
    """An order without a status cannot be mapped."""
    order = _order()
    del order["status"]
    with pytest.raises(ParseError, match="status None"):
        parse_order(_dumps(order))


def test_missing_created_at_is_a_parse_error() -> None:
    """created_at is the one timestamp every order must have."""
    with pytest.raises(ParseError, match="created_at is missing"):
        parse_order(_dumps(_order(created_at=None)))


# --------------------------------------------------------------------------- tolerance


def test_missing_optional_fields_are_tolerated() -> None:
    """A minimal order (only identity, status, timing) parses with absent fields as None/0."""
    minimal = {
        "id": "11111111-2222-4333-8444-555555555555",
        "client_order_id": "ai-min",
        "created_at": "2024-03-15T13:30:00Z",
        "symbol": "AAPL",
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "status": "new",
        "qty": "1",
    }
    order = parse_order(_dumps(minimal))
    assert order.filled_qty == D("0")
    assert order.order_class is OrderClass.SIMPLE
    assert (order.updated_at, order.limit_price, order.asset_id, order.legs) == (
        None,
        None,
        None,
        (),
    )
    assert order.last_event_at == utc(2024, 3, 15, 13, 30)


def test_unknown_fields_are_ignored_everywhere() -> None:
    """Fields the schema does not list (source, subtag, new nested objects) change nothing."""
    plain = parse_order(_dumps(_order()))
    noisy = parse_order(_dumps(_order(source="access_key", subtag="x", novel={"a": [1, 2]})))
    assert noisy.id == plain.id
    assert noisy.filled_avg_price == plain.filled_avg_price


def test_absent_order_class_and_empty_order_class_mean_simple() -> None:
    """order_class missing, null or "" is a simple order."""
    order = _order()
    del order["order_class"]
    for body in (order, _order(order_class=None), _order(order_class="")):
        assert parse_order(_dumps(body)).order_class is OrderClass.SIMPLE


def test_account_without_deprecated_day_trading_fields() -> None:
    """daytrade_count, pattern_day_trader and daytrading_buying_power may disappear (sunset)."""
    account = load_json("http_get_v2_account.json")
    for name in ("daytrade_count", "pattern_day_trader", "daytrading_buying_power"):
        del account[name]
    snapshot = parse_account(_dumps(account), OBSERVED_AT)
    assert (snapshot.daytrade_count, snapshot.pattern_day_trader) == (0, False)
    assert snapshot.daytrading_buying_power == D("0")
    assert snapshot.cash == D("81472.81")


def test_account_daytrade_count_sent_as_text() -> None:
    """A counter sent as a string still becomes an int."""
    account = {**load_json("http_get_v2_account.json"), "daytrade_count": "3"}
    assert parse_account(_dumps(account), OBSERVED_AT).daytrade_count == 3


def test_body_may_be_text() -> None:
    """Every parser accepts str as well as bytes."""
    text = payload("http_get_v2_clock.json").decode()
    assert parse_clock(text) == parse_clock(payload("http_get_v2_clock.json"))


def test_observed_at_in_another_zone_is_stored_as_utc() -> None:
    """observed_at passed with an offset is converted to UTC; a naive one is refused."""
    new_york = dt.timezone(dt.timedelta(hours=-4))
    snapshot = parse_account(
        payload("http_get_v2_account.json"), dt.datetime(2024, 3, 15, 10, 0, tzinfo=new_york)
    )
    assert snapshot.observed_at == OBSERVED_AT
    assert snapshot.observed_at.tzinfo is dt.UTC
    with pytest.raises(ParseError, match="timezone-aware"):
        parse_account(payload("http_get_v2_account.json"), dt.datetime(2024, 3, 15, 14, 0))


# --------------------------------------------------------------------------- numbers and times


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("0.1", "0.1"),
        ("187.50", "187.50"),
        ("1e-7", "1E-7"),
        ("12345678901234567890.123456789", "12345678901234567890.123456789"),
        ("-0.02", "-0.02"),
        ("100", "100"),
    ],
)
def test_json_numbers_become_exact_decimals(literal: str, expected: str) -> None:
    """A price sent as a JSON number keeps its exact decimal text (never rounded by a float)."""
    body = json.dumps(_order(limit_price="@@")).replace('"@@"', literal)
    assert str(parse_order(body).limit_price) == expected


# No per-example deadline: a busy CI machine can stall any example past hypothesis's 200 ms.
@settings(deadline=None, max_examples=100)
@given(
    moment=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    nanos=st.integers(min_value=0, max_value=999),
    offset_minutes=st.sampled_from([0, -240, -300, 330]),
)
def test_timestamps_truncate_nanoseconds_and_convert_offsets(
    moment: dt.datetime, nanos: int, offset_minutes: int
) -> None:
    """Any RFC 3339 time with nanoseconds and any offset parses to the same instant in UTC,
    truncated (never rounded) to the microsecond."""
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    local = moment.astimezone(zone)
    offset = "Z" if offset_minutes == 0 else local.strftime("%z")
    if offset != "Z":
        offset = f"{offset[:3]}:{offset[3:]}"
    text = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}{nanos:03d}" + offset
    order = parse_order(_dumps(_order(created_at=text)))
    assert order.created_at == moment
    assert order.created_at.tzinfo is dt.UTC


@pytest.mark.parametrize("value", ["yesterday", "2024-03-15T13:30:00", "2024-13-01T00:00:00Z"])
def test_bad_timestamps_are_parse_errors_naming_the_field(value: str) -> None:
    """A timestamp that is not RFC 3339 with an offset fails with the field's name."""
    with pytest.raises(ParseError, match=r"order\.updated_at"):
        parse_order(_dumps(_order(updated_at=value)))


# --------------------------------------------------------------------------- malformed payloads


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not valid JSON"),
        (b"<html>502 Bad Gateway</html>", "not valid JSON"),
        (b'{"id": "x"', "not valid JSON"),
        (b"[]", "does not have Alpaca's order shape"),
        (json.dumps(_order(qty=True)).encode(), r"\$\.qty"),
        (json.dumps(_order(qty="lots")).encode(), r"\$\.qty"),
    ],
)
def test_malformed_order_bodies_raise_parse_error(body: bytes, message: str) -> None:
    """Broken JSON, wrong shapes and wrong field types raise ParseError saying what is wrong."""
    with pytest.raises(ParseError, match=message) as caught:
        parse_order(body)
    assert caught.value.shape == "order"


def test_a_list_endpoint_given_an_object_is_a_parse_error() -> None:
    """parse_orders on a single order object says a list was expected."""
    with pytest.raises(ParseError, match="list of orders"):
        parse_orders(payload("http_post_v2_orders.json"))


def test_long_position_with_negative_qty_is_a_parse_error() -> None:
    """A position cannot be long with a negative quantity."""
    position = {**load_json("http_get_v2_positions.json")[0], "qty": "-5"}
    with pytest.raises(ParseError, match="side is long but qty is -5"):
        parse_position(_dumps(position), OBSERVED_AT)


def test_portfolio_history_series_must_align() -> None:
    """Series shorter than the timestamps are refused rather than silently misaligned."""
    history = load_json("http_get_v2_account_portfolio_history.json")
    history["equity"] = history["equity"][:-1]
    with pytest.raises(ParseError, match="equity has 4 values for 5 timestamps"):
        parse_portfolio_history(_dumps(history))


def test_calendar_time_must_be_a_time_of_day() -> None:
    """A calendar open time that is not HH:MM is a ParseError naming the day and field."""
    days = load_json("http_get_v2_calendar.json")
    days[0]["open"] = "9.30am"
    with pytest.raises(ParseError, match=r"calendar 2024-03-08\.open"):
        parse_calendar(_dumps(days))


def test_bulk_entry_without_its_key_is_a_parse_error() -> None:
    """A 207 entry with no id cannot be attributed to an order."""
    with pytest.raises(ParseError, match="no 'id'"):
        parse_bulk_orders(b'[{"status": 200}]')


def test_bulk_order_status_strictness_applies_to_bodies() -> None:
    """The order inside a successful 207 entry is parsed as strictly as any order."""
    entries = load_json("http_delete_v2_orders.json")
    entries[0]["body"]["status"] = "cancel_queued"
    with pytest.raises(ParseError, match="cancel_queued"):
        parse_bulk_orders(_dumps(entries))
    assert parse_bulk_orders(b'[{"id": "a", "status": 200, "body": null}]')[0].order is None


# --------------------------------------------------------------------------- error bodies


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("http_error_401_unauthorized.json", 40110000, "request is not authorized"),
        ("http_error_401_message_only.json", None, "unauthorized."),
        ("http_error_403_insufficient_buying_power.json", 40310000, "insufficient buying power"),
        ("http_error_403_shorting_not_allowed.json", 40310000, "account is not allowed to short"),
        ("http_error_404_position_not_found.json", 40410000, "position does not exist"),
        ("http_error_422_client_order_id_unique.json", 40010001, "client_order_id must be unique"),
        ("http_error_422_bracket_entry.json", 42210000, "bracket orders must be entry orders"),
        ("http_error_429_too_many_requests.txt", None, "Too Many Requests"),
        ("http_error_500_internal.json", 50010000, "internal server error occurred"),
    ],
)
def test_error_bodies_give_code_and_message(name: str, code: int | None, message: str) -> None:
    """Each Alpaca error body maps to (code, message); plain-text bodies to (None, text)."""
    assert parse_error(payload(name))[:2] == (code, message)


def test_error_extras_keep_their_exact_values() -> None:
    """Keys beyond code/message (available, held_for_orders ...) are returned as extra."""
    _, _, extra = parse_error(payload("http_error_403_insufficient_qty.json"))
    assert extra == {
        "available": "100",
        "existing_qty": "100",
        "held_for_orders": "0",
        "symbol": "AAPL",
        "related_orders": [],
    }
    _, _, numeric = parse_error(b'{"code": 40310000, "message": "m", "buying_power": 1523.17}')
    assert numeric == {"buying_power": D("1523.17")}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", (None, "", {})),
        (b"  Too Many Requests\r\n", (None, "Too Many Requests", {})),
        (b'["a"]', (None, '["a"]', {})),
        (b'{"error": "bad gateway"}', (None, "bad gateway", {})),
        (b'{"code": "42210000", "message": "m"}', (42210000, "m", {})),
        (b'{"code": 40010001.0, "message": "m"}', (40010001, "m", {})),
        (b'{"code": "E_RATE", "message": "m"}', (None, "m", {"code": "E_RATE"})),
        (b'{"code": true}', (None, "", {"code": True})),
    ],
)
def test_odd_error_bodies_are_tolerated(body: bytes, expected: tuple[Any, ...]) -> None:
    """Empty, non-object, text-coded and message-less bodies still give a usable triple."""
    assert parse_error(body) == expected


def test_long_text_error_bodies_are_truncated() -> None:
    """An HTML error page is cut to a readable length."""
    _, message, _ = parse_error(b"<html>" + b"x" * 5000)
    assert len(message) == 503
    assert message.endswith("...")


@settings(deadline=None, max_examples=200)
@given(st.binary(max_size=300))
def test_parse_error_never_raises(body: bytes) -> None:
    """Whatever the venue answers, parse_error returns (int | None, str, dict)."""
    code, message, extra = parse_error(body)
    assert code is None or isinstance(code, int)
    assert isinstance(message, str)
    assert isinstance(extra, dict)
