"""alpacactl for options and crypto end to end over a real socket (a venue of canned answers:
the simulator does not serve contracts yet): the option chain, option, multi-leg and crypto
orders, exercise, crypto symbols in position and order commands; bad input is one line, exit 2,
and nothing is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.canned_venue import CannedVenue, canned_venue
from support.cli_runs import cli, one_error_line, typed, user_env
from support.option_requests import CALL, CALL_HIGH

pytestmark = pytest.mark.e2e
DATA = Path(__file__).resolve().parents[1] / "data"


def data(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.fixture
def venue() -> Iterator[CannedVenue]:
    with canned_venue() as served:
        yield served


@pytest.fixture
def env(venue: CannedVenue, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    return user_env(venue.base_url, "PKTESTKEY0001", "not-a-real-secret")


def test_the_option_chain_lists_an_underlyings_contracts(
    venue: CannedVenue, env: dict[str, Any]
) -> None:
    """`options chain AAPL --expiry --type call` asks for exactly that and shows each contract;
    --json prints the contracts with exact strikes."""
    venue.answer("GET", "/v2/options/contracts", 200, data("http_get_v2_options_contracts.json"))
    table = cli(env, "options", "chain", "aapl", "--expiry", "2025-06-20", "--type", "call")
    assert "AAPL250620C00100000" in table
    assert "option chain AAPL" in table
    query = venue.requests("GET")[0].query
    assert {k: query[k] for k in ("underlying_symbols", "expiration_date", "type", "status")} == {
        "underlying_symbols": "AAPL",
        "expiration_date": "2025-06-20",
        "type": "call",
        "status": "active",
    }
    contracts = json.loads(cli(env, "options", "chain", "AAPL", "--json"))
    assert (contracts[0]["symbol"], contracts[0]["strike"]) == ("AAPL250620C00100000", "100")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["options", "chain", "AAPL", "--type", "straddle"], "--type"),
        (["options", "chain", "AAPL", "--expiry", "2025-13-01"], "--expiry"),
        (["options", "chain", "BTC/USD"], "UNDERLYING"),
        (["order", "submit", "AAPL251332C00195000", "buy", "--qty", "1"], "not a date"),
        (["order", "submit", CALL, "buy", "--qty", "1.5"], "whole contracts"),
        (["order", "submit", CALL, "buy", "--qty", "1", "--extended-hours"], "extended"),
        (["order", "submit", CALL, "buy", "--qty", "1", "--tif", "gtc"], "day"),
        (["order", "submit", "BTC/USD", "buy", "--qty", "0.01", "--tif", "day"], "gtc"),
        (["order", "submit", "--leg", f"{CALL}:buy:1", "--qty", "1"], "2 to 4 legs, got 1"),
        (["order", "submit", "--leg", f"{CALL}:buy", "--leg", f"{CALL_HIGH}:sell:1"], "--leg"),
        (["order", "submit", "--leg", f"{CALL}:hold:1", "--leg", f"{CALL_HIGH}:sell:1"], "--leg"),
        (["order", "submit", "--leg", f"{CALL}:buy:1", "--leg", f"{CALL_HIGH}:sell:1"], "--qty"),
        (
            ["order", "submit", "AAPL", "buy", "--leg", f"{CALL}:buy:1", "--leg", f"{CALL}:sell:1"],
            "--leg",
        ),
        (["order", "submit", "--qty", "1"], "SYMBOL and SIDE"),
        (["position", "exercise", "AAPL"], "SYMBOL"),
    ],
)
def test_bad_option_and_crypto_input_is_one_line_exit_2_and_nothing_is_sent(
    venue: CannedVenue, env: dict[str, Any], args: list[str], named: str
) -> None:
    """Every refusal names what is wrong in one `error:` line, exit 2; the venue hears nothing."""
    assert named in one_error_line(cli(env, *args, code=2))
    assert venue.seen == []


def test_an_option_contract_order_goes_out_in_whole_contracts(
    venue: CannedVenue, env: dict[str, Any]
) -> None:
    """`order submit CONTRACT buy --qty 2 --type limit --limit-price 4.05` posts it for the day."""
    venue.answer("POST", "/v2/orders", 200, data("http_post_v2_orders_option.json"))
    cli(env, *typed(f"order submit {CALL} buy --qty 2 --type limit --limit-price 4.05"))
    (posted,) = venue.requests("POST")
    assert {k: posted.body[k] for k in ("symbol", "qty", "time_in_force", "limit_price")} == {
        "symbol": CALL,
        "qty": "2",
        "time_in_force": "day",
        "limit_price": "4.05",
    }


def test_a_credit_spread_is_submitted_with_its_legs(
    venue: CannedVenue, env: dict[str, Any]
) -> None:
    """Two --leg options and a negative net price make one mleg order; the answer shows the
    parent and its legs."""
    venue.answer("POST", "/v2/orders", 200, data("http_post_v2_orders_mleg.json"))
    output = cli(
        env,
        "order",
        "submit",
        "--leg",
        f"{CALL_HIGH}:sell:1:sell_to_open",
        "--leg",
        f"{CALL}:buy:1",
        "--qty",
        "2",
        "--type",
        "limit",
        "--limit-price",
        "-1.25",
    )
    (posted,) = venue.requests("POST")
    assert posted.body["order_class"] == "mleg"
    assert posted.body["limit_price"] == "-1.25"
    assert posted.body["legs"] == [
        {"symbol": CALL_HIGH, "ratio_qty": "1", "side": "sell", "position_intent": "sell_to_open"},
        {"symbol": CALL, "ratio_qty": "1", "side": "buy"},
    ]
    assert CALL in output


def test_crypto_orders_default_to_gtc_and_positions_take_the_pair(
    venue: CannedVenue, env: dict[str, Any]
) -> None:
    """BTC/USD buys for gtc by default; `position close BTC/USD` closes BTCUSD; `orders --symbols
    BTC/USD` filters by the pair."""
    crypto = data("http_post_v2_orders_crypto.json")
    venue.answer("POST", "/v2/orders", 200, crypto)
    venue.answer("DELETE", "/v2/positions/BTCUSD", 200, crypto)
    venue.answer("GET", "/v2/orders", 200, [crypto])
    cli(env, "order", "submit", "btc/usd", "buy", "--qty", "0.0015")
    (posted,) = venue.requests("POST")
    assert (posted.body["symbol"], posted.body["time_in_force"]) == ("BTC/USD", "gtc")
    cli(env, "position", "close", "BTC/USD", "--qty", "0.001")
    assert venue.requests("DELETE")[0].path == "/v2/positions/BTCUSD"
    assert "ETH/USD" in cli(env, "orders", "--symbols", "BTC/USD,ETH/USD")
    assert venue.requests("GET")[-1].query["symbols"] == "BTC/USD,ETH/USD"


def test_position_exercise_and_do_not_exercise(venue: CannedVenue, env: dict[str, Any]) -> None:
    """`position exercise` reads the held contracts and posts the exercise once;
    `--do-not-exercise` posts the instruction instead; --json shows what was established."""
    position = {**data("http_get_v2_positions_options_crypto.json")[0], "symbol": CALL}
    venue.answer("GET", f"/v2/positions/{CALL}", 200, position)
    venue.answer("GET", "/v2/account", 200, data("http_get_v2_account.json"))
    venue.answer("POST", f"/v2/positions/{CALL}/exercise", 200)
    venue.answer("POST", f"/v2/positions/{CALL}/do-not-exercise", 200)
    result = json.loads(cli(env, "position", "exercise", CALL, "--json"))
    assert result == {
        "symbol": CALL,
        "instruction": "exercise",
        "contracts": "2",
        "established": "answer",
    }
    assert "do-not-exercise" in cli(env, "position", "exercise", CALL, "--do-not-exercise")
    assert [r.path for r in venue.requests("POST")] == [
        f"/v2/positions/{CALL}/exercise",
        f"/v2/positions/{CALL}/do-not-exercise",
    ]


def test_an_exercise_with_options_trading_disabled_is_refused_exit_3(
    venue: CannedVenue, env: dict[str, Any]
) -> None:
    """Options level 0: `position exercise` says why in one line, exit 3 (refused by a check),
    and posts nothing."""
    position = {**data("http_get_v2_positions_options_crypto.json")[0], "symbol": CALL}
    venue.answer("GET", f"/v2/positions/{CALL}", 200, position)
    disabled = {**data("http_get_v2_account.json"), "options_trading_level": 0}
    venue.answer("GET", "/v2/account", 200, disabled)
    line = one_error_line(cli(env, "position", "exercise", CALL, code=3))
    assert "options trading is disabled for this account (options level 0)" in line
    assert venue.requests("POST") == []


def test_an_exercise_of_no_position_is_one_line_exit_1(
    venue: CannedVenue, env: dict[str, Any]
) -> None:
    """No position in the contract: the venue's 404, one line, exit 1, no exercise posted."""
    line = one_error_line(cli(env, "position", "exercise", CALL, code=1))
    assert "NotFoundError" in line
    assert venue.requests("POST") == []
