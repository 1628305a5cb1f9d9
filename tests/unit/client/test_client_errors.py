"""Alpaca error bodies become the right error classes, and no error carries the secret."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from client_fakes import KEY_ID, SECRET, FakeVenue, json_response

from alpaca_integration.alpaca.client import AlpacaClient, RetryPolicy, error_from_response
from alpaca_integration.errors import (
    AlpacaIntegrationError,
    ApiError,
    AuthError,
    ConfigError,
    DuplicateClientOrderIdError,
    ForbiddenError,
    InsufficientBuyingPowerError,
    InsufficientQtyError,
    NotFoundError,
    OrderOutcomeUnknownError,
    RateLimitedError,
    RequestRejectedError,
    RequestTimeoutError,
    ServerError,
    ShortingNotAllowedError,
    SubPennyError,
    TransportError,
)
from alpaca_integration.models import OrderRequest, OrderSide

# (status, body as Alpaca sends it, expected class)
ALPACA_ERRORS: list[tuple[int, bytes, type[ApiError]]] = [
    (401, b'{"code": 40110000, "message": "unauthorized"}', AuthError),
    (401, b'{"message": "unauthorized."}', AuthError),
    (
        403,
        b'{"code": 40310000, "message": "insufficient buying power", "buying_power": "1200.5",'
        b' "cost_basis": "18750"}',
        InsufficientBuyingPowerError,
    ),
    (
        403,
        b'{"code": 40310000, "message": "insufficient qty available for order (requested: 10,'
        b' available: 4)", "available": "4", "existing_qty": "4", "held_for_orders": "0",'
        b' "symbol": "AAPL"}',
        InsufficientQtyError,
    ),
    (
        403,
        b'{"code": 40310000, "message": "account is not allowed to short"}',
        ShortingNotAllowedError,
    ),
    (403, b'{"code": 40310000, "message": "asset GME is not shortable"}', ShortingNotAllowedError),
    (403, b'{"code": 40310000, "message": "trading is blocked for this account"}', ForbiddenError),
    (404, b'{"code": 40410000, "message": "order not found"}', NotFoundError),
    (404, b'{"code": 40410000, "message": "position does not exist"}', NotFoundError),
    (
        422,
        b'{"code": 40010001, "message": "client_order_id must be unique"}',
        DuplicateClientOrderIdError,
    ),
    (422, b'{"code": 40010001, "message": "qty must be > 0"}', RequestRejectedError),
    (
        422,
        b'{"code": 42210000, "message": "invalid limit_price 187.555. sub-penny increment does not'
        b' fulfill minimum pricing criteria"}',
        SubPennyError,
    ),
    (422, b'{"code": 42210000, "message": "asset \\"ZZZZ\\" not found"}', RequestRejectedError),
    (
        422,
        b'{"code": 42210000, "message": "bracket orders must be entry orders"}',
        RequestRejectedError,
    ),
    (
        422,
        b'{"code": 42210000, "message": "potential wash trade detected. use complex orders"}',
        RequestRejectedError,
    ),
    (429, b"Too Many Requests", RateLimitedError),
    (500, b'{"code": 50010000, "message": "internal server error occurred"}', ServerError),
    (503, b"<html>Service Unavailable</html>", ServerError),
]


@pytest.mark.parametrize(("status", "body", "expected"), ALPACA_ERRORS)
def test_each_alpaca_error_body_maps_to_its_class(
    status: int, body: bytes, expected: type[ApiError]
) -> None:
    """Status + code + extra fields choose the class; the venue's words are kept on it."""
    error = error_from_response(status, body, method="POST", path="/v2/orders")
    assert type(error) is expected
    assert error.status == status
    assert error.method == "POST"
    assert error.path == "/v2/orders"


def test_extra_fields_are_kept_for_the_caller() -> None:
    """InsufficientBuyingPowerError exposes Alpaca's buying_power and cost_basis."""
    error = error_from_response(
        403,
        b'{"code": 40310000, "message": "insufficient buying power", "buying_power": "10",'
        b' "cost_basis": "20"}',
    )
    assert error.code == 40310000
    assert error.extra == {"buying_power": "10", "cost_basis": "20"}


def test_buying_power_field_wins_over_message_text() -> None:
    """A 403 carrying buying_power is a buying-power error even if its text mentions shorts."""
    error = error_from_response(
        403,
        b'{"code": 40310000, "message": "insufficient buying power to short", "buying_power": "0"}',
    )
    assert type(error) is InsufficientBuyingPowerError


def test_rate_limited_error_carries_the_reset_time() -> None:
    """A 429's X-RateLimit-Reset is on the error as reset_at."""
    error = error_from_response(
        429, b"Too Many Requests", headers={"X-Ratelimit-Reset": "1750000100"}
    )
    assert isinstance(error, RateLimitedError)
    assert error.reset_at == 1_750_000_100.0


def test_auth_error_says_how_to_fix_it() -> None:
    """A 401 names the settings to check."""
    error = error_from_response(401, b'{"code": 40110000, "message": "unauthorized"}')
    assert "ALPACA_API_KEY" in str(error)


def _all_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(vars(exc))


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("peer closed connection"),
    ],
)
async def test_transport_errors_never_carry_the_secret(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue, failure: Exception
) -> None:
    """Neither the message, the repr, nor the chained traceback shows the secret key."""
    venue.script = [failure]
    async with make_client(retry=RetryPolicy(max_attempts=1)) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_clock()
    assert SECRET not in _all_text(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    if isinstance(failure, httpx.TimeoutException):
        assert isinstance(caught.value, RequestTimeoutError)


async def test_api_errors_never_carry_the_secret(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """An ApiError names method and path, never the request headers."""
    venue.script = [
        json_response(
            403, {"code": 40310000, "message": "insufficient buying power", "buying_power": "0"}
        )
    ]
    async with make_client() as client:
        with pytest.raises(InsufficientBuyingPowerError) as caught:
            await client.get_account()
    assert "/v2/account" in str(caught.value)
    assert SECRET not in _all_text(caught.value)


async def test_client_repr_hides_the_secret(make_client: Callable[..., AlpacaClient]) -> None:
    """repr(client) shows the base URL and a key-id tail only."""
    async with make_client() as client:
        text = repr(client) + str(client)
    assert SECRET not in text
    assert KEY_ID not in text


DATA = Path(__file__).resolve().parents[2] / "data"
# The project's recorded error payloads (tests/data/http_error_<status>_<what>.*) -> class.
RECORDED: dict[str, type[ApiError]] = {
    "http_error_401_message_only.json": AuthError,
    "http_error_401_unauthorized.json": AuthError,
    "http_error_403_insufficient_buying_power.json": InsufficientBuyingPowerError,
    "http_error_403_insufficient_qty.json": InsufficientQtyError,
    "http_error_403_shorting_not_allowed.json": ShortingNotAllowedError,
    "http_error_404_order_not_found.json": NotFoundError,
    "http_error_404_position_not_found.json": NotFoundError,
    "http_error_422_bracket_entry.json": RequestRejectedError,
    "http_error_422_client_order_id_unique.json": DuplicateClientOrderIdError,
    "http_error_422_invalid_symbol.json": RequestRejectedError,
    "http_error_422_qty_notional.json": RequestRejectedError,
    "http_error_422_sub_penny.json": SubPennyError,
    "http_error_422_wash_trade.json": RequestRejectedError,
    "http_error_429_rate_limit.json": RateLimitedError,
    "http_error_429_too_many_requests.txt": RateLimitedError,
    "http_error_500_internal.json": ServerError,
}


def test_every_recorded_error_payload_is_mapped() -> None:
    """Each error body recorded in tests/data becomes its class."""
    files = {p.name for p in DATA.glob("http_error_*")}
    assert set(RECORDED) <= files
    for name, expected in RECORDED.items():
        status = int(name.split("_")[2])
        error = error_from_response(status, (DATA / name).read_bytes())
        assert type(error) is expected, name


# --------------------------------------------------------------------------- issue 11 item 11


def test_a_secret_that_cannot_be_a_header_is_refused_when_the_client_is_built() -> None:
    """A secret (or key id) with CR/LF is a ConfigError at construction, naming the setting and
    never showing the value."""
    injected = SECRET + "\r\nX-Injected: 1"
    with pytest.raises(ConfigError) as caught:
        AlpacaClient(KEY_ID, injected, "https://paper.example.test")
    assert caught.value.setting == "ALPACA_SECRET_KEY"
    assert SECRET not in _all_text(caught.value)
    with pytest.raises(ConfigError) as caught:
        AlpacaClient(KEY_ID + "\n", SECRET, "https://paper.example.test")
    assert caught.value.setting == "ALPACA_API_KEY"


async def test_a_header_error_never_shows_the_secret_nor_claims_an_unknown_outcome(
    make_client: Callable[..., AlpacaClient], venue: FakeVenue
) -> None:
    """httpx's "Illegal header value b'<secret>'" never reaches our message; and a submit that
    could not even be sent is refused as it is (nothing sent), not reported as an order whose
    outcome is unknown, and not tried again."""

    def refuse_headers(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError(f"Illegal header value b'{SECRET}\\r\\nX-Injected: 1'")

    venue.fallback = refuse_headers
    order = OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(1))
    async with make_client() as client:
        with pytest.raises(AlpacaIntegrationError) as read:
            await client.get_clock()
        with pytest.raises(AlpacaIntegrationError) as placed:
            await client.submit_order(order)
    for caught in (read, placed):
        assert SECRET not in _all_text(caught.value)
        assert "Injected" not in _all_text(caught.value)
    assert not isinstance(placed.value, OrderOutcomeUnknownError)
    assert [r.method for r in venue.requests] == ["GET", "POST"]
