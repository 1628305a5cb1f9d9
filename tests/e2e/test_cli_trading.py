"""The trading commands of alpacactl end to end against the simulator (Typer's CliRunner, the
ALPACA_* environment pointing at it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alpaca_integration.cli.main import app
from alpaca_integration.simulator.testing import (
    SIM_API_KEY,
    SIM_SECRET_KEY,
    SimulatorHandle,
)
from support.cli_runs import RUNNER, cli, cli_json, typed, user_env
from support.sim_runs import priced_simulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def sim() -> Iterator[SimulatorHandle]:
    with priced_simulator(5) as handle:
        yield handle


@pytest.fixture
def env(sim: SimulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The environment a user would export, pointing at the simulator (no .env file around)."""
    monkeypatch.chdir(tmp_path)
    return user_env(sim.base_url, SIM_API_KEY, SIM_SECRET_KEY)


def wait_status(env: dict[str, Any], order_id: str, status: str) -> dict[str, Any]:
    for _ in range(100):
        order: dict[str, Any] = cli_json(env, "order", "get", order_id)
        if order["status"] == status:
            return order
        time.sleep(0.03)
    raise AssertionError(f"order {order_id} never reached {status}")


def test_without_keys_it_says_how_to_set_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ALPACA_API_KEY: one clear message naming the variables and the simulator, exit 2."""
    monkeypatch.chdir(tmp_path)
    result = RUNNER.invoke(
        app, ["account"], env={"ALPACA_API_KEY": None, "ALPACA_SECRET_KEY": None}
    )
    assert result.exit_code == 2
    assert "ALPACA_API_KEY" in result.output
    assert "alpacactl sim" in result.output


def test_account_clock_and_assets(env: dict[str, Any]) -> None:
    """Read commands print tables by default and the models as JSON with --json."""
    assert "buying_power" in cli(env, "account")
    account = cli_json(env, "account")
    assert account["cash"] == "100000"  # decimals as strings
    assert "raw" not in account
    clock = cli_json(env, "clock")
    assert clock["is_open"] is True
    assert clock["timestamp"].endswith("Z")
    assets = cli_json(env, "assets", "--status", "active")
    assert "AAPL" in {a["symbol"] for a in assets}
    assert cli_json(env, "assets", "AAPL")["symbol"] == "AAPL"
    assert "AAPL" in cli(env, "assets")


def test_calendar(env: dict[str, Any]) -> None:
    """calendar --start/--end lists the trading days in the range."""
    days = cli_json(env, "calendar", "--start", "2025-06-02", "--end", "2025-06-06")
    assert [d["date"] for d in days] == [f"2025-06-0{i}" for i in range(2, 7)]


def test_market_order_fill_position_and_activity(env: dict[str, Any]) -> None:
    """order submit -> filled -> positions and activities show it; close the position."""
    placed = cli_json(
        env, "order", "submit", "AAPL", "buy", "--qty", "10", "--client-order-id", "cli-1"
    )
    assert placed["client_order_id"] == "cli-1"
    wait_status(env, placed["id"], "filled")
    assert cli_json(env, "order", "get", "cli-1", "--client-id")["id"] == placed["id"]
    positions = cli_json(env, "positions")
    assert [(p["symbol"], p["qty"]) for p in positions] == [("AAPL", "10")]
    assert "AAPL" in cli(env, "positions")
    fills = cli_json(env, "activities", "--type", "FILL")
    assert [f["order_id"] for f in fills] == [placed["id"]]
    closing = cli_json(env, "position", "close", "AAPL", "--qty", "4")
    assert closing["side"] == "sell"
    assert closing["qty"] == "4"
    wait_status(env, closing["id"], "filled")
    results = cli_json(env, "position", "close", "--all", "--yes")
    assert [r["key"] for r in results] == ["AAPL"]


def test_limit_order_replace_and_cancel(env: dict[str, Any]) -> None:
    """A resting limit order is replaced (new id) and the replacement cancelled."""
    placed = cli_json(
        env, *typed("order submit AAPL buy --qty 5 --type limit --limit-price 50 --tif gtc")
    )
    wait_status(env, placed["id"], "new")
    replacement = cli_json(
        env, "order", "replace", placed["id"], "--qty", "3", "--limit-price", "51"
    )
    assert replacement["replaces"] == placed["id"]
    assert replacement["limit_price"] == "51"
    assert "cancel requested" in cli(env, "order", "cancel", replacement["id"])
    wait_status(env, replacement["id"], "canceled")


def test_every_order_type_and_class(env: dict[str, Any]) -> None:
    """stop, stop_limit, trailing stop (price and percent), bracket, OTO and OCO are accepted."""
    cli_json(env, "order", "submit", "AAPL", "buy", "--qty", "20")
    orders = [
        ["--type", "stop", "--stop-price", "150"],
        ["--type", "stop_limit", "--stop-price", "150", "--limit-price", "151"],
        ["--type", "trailing_stop", "--trail-price", "5"],
        ["--type", "trailing_stop", "--trail-percent", "2.5"],
    ]
    for extra in orders:
        placed = cli_json(
            env, "order", "submit", "AAPL", "buy", "--qty", "1", "--tif", "gtc", *extra
        )
        assert placed["type"] == extra[1]
    bracket = cli_json(
        env,
        *typed(
            "order submit AAPL buy --qty 2 --type limit --limit-price 90 --take-profit 120 --stop-loss 80 --stop-loss-limit 79 --tif gtc"
        ),
    )
    assert bracket["order_class"] == "bracket"
    oto = cli_json(
        env,
        *typed(
            "order submit AAPL buy --qty 2 --type limit --limit-price 90 --stop-loss 80 --tif gtc"
        ),
    )
    assert oto["order_class"] == "oto"
    oco = cli_json(
        env,
        *typed(
            "order submit AAPL sell --qty 5 --type limit --order-class oco --take-profit 130 --stop-loss 70 --tif gtc"
        ),
    )
    assert oco["order_class"] == "oco"
    nested = cli_json(
        env, "orders", "--status", "all", "--nested", "--symbols", "AAPL", "--limit", "100"
    )
    by_id = {o["id"]: o for o in nested}
    assert len(by_id[bracket["id"]]["legs"]) == 2
    table = cli(env, "orders", "--status", "open", "--nested")
    assert "└" in table
    results = cli_json(env, "order", "cancel", "--all", "--yes")
    assert bracket["id"] in {r["key"] for r in results}


def test_order_filters(env: dict[str, Any]) -> None:
    """--side, --symbols, --limit and --after narrow the listing."""
    for symbol, side in (("AAPL", "buy"), ("MSFT", "buy"), ("AAPL", "buy")):
        cli_json(
            env,
            "order",
            "submit",
            symbol,
            side,
            "--qty",
            "1",
            "--type",
            "limit",
            "--limit-price",
            "1",
            "--tif",
            "gtc",
        )
    assert len(cli_json(env, "orders", "--symbols", "AAPL")) == 2
    assert len(cli_json(env, "orders", "--side", "sell")) == 0
    assert len(cli_json(env, "orders", "--limit", "1")) == 1
    assert cli_json(env, "orders", "--after", "2100-01-01") == []


def test_errors_print_one_line_and_exit_non_zero(env: dict[str, Any]) -> None:
    """An unknown order is one 'error:' line and exit 1; a bad number is a usage error."""
    result = RUNNER.invoke(app, ["order", "get", "00000000-0000-0000-0000-000000000000"], env=env)
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: NotFoundError")
    assert len(result.output.strip().splitlines()) == 1
    assert SIM_SECRET_KEY not in result.output
    bad = RUNNER.invoke(app, ["order", "submit", "AAPL", "buy", "--qty", "ten"], env=env)
    assert bad.exit_code == 2
    assert "not a number" in bad.output
    invalid = RUNNER.invoke(
        app,
        [
            "order",
            "submit",
            "AAPL",
            "buy",
            "--qty",
            "1",
            "--type",
            "limit",
            "--limit-price",
            "100.555",
        ],
        env=env,
    )
    assert invalid.exit_code == 2
    assert "limit_price" in invalid.output


def test_orders_pass_the_pre_trade_risk_check(
    env: dict[str, Any], sim: SimulatorHandle, tmp_path: Path
) -> None:
    """A halted account (risk limits in the accounts file) refuses the order before sending it
    (exit 3: refused by a check)."""
    halted_env = _accounts_env(env, sim, tmp_path, "halted = true")
    result = RUNNER.invoke(app, ["order", "submit", "AAPL", "buy", "--qty", "1"], env=halted_env)
    assert result.exit_code == 3  # refused by a check
    assert "RiskLimitError" in result.output
    assert cli_json(halted_env, "account", "--account", "main")["cash"] == "100000"
    assert sim.dump(SIM_API_KEY)["orders"] == []
    unknown = RUNNER.invoke(app, ["account", "--account", "nope"], env=halted_env)
    assert unknown.exit_code == 2
    assert "main" in unknown.output


def _accounts_env(env: dict[str, Any], sim: SimulatorHandle, tmp_path: Path, risk: str) -> Any:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f"""
[accounts.main]
api_key = "{SIM_API_KEY}"
secret_key = "{SIM_SECRET_KEY}"
base_url = "{sim.base_url}"

[accounts.main.risk]
{risk}
""",
        encoding="utf-8",
    )
    return {**env, "ALPACA_ACCOUNTS_FILE": str(accounts)}


def test_order_replace_passes_the_pre_trade_risk_check(
    env: dict[str, Any], sim: SimulatorHandle, tmp_path: Path
) -> None:
    """A replace raising qty past max_order_qty is refused unsent; one within it goes through."""
    limited = _accounts_env(env, sim, tmp_path, 'max_order_qty = "5"')
    placed = cli_json(
        limited, "order", "submit", "AAPL", "buy", "--qty", "5", "--type", "limit",
        "--limit-price", "50", "--tif", "gtc",
    )  # fmt: skip
    wait_status(limited, placed["id"], "new")
    result = RUNNER.invoke(app, ["order", "replace", placed["id"], "--qty", "8"], env=limited)
    assert result.exit_code == 3  # refused by a check
    assert "RiskLimitError" in result.output
    assert "max_order_qty" in result.output
    assert cli_json(limited, "order", "get", placed["id"])["status"] == "new"
    replacement = cli_json(limited, "order", "replace", placed["id"], "--qty", "4")
    assert replacement["replaces"] == placed["id"]
    assert replacement["qty"] == "4"


def test_position_close_is_allowed_while_halted(
    env: dict[str, Any], sim: SimulatorHandle, tmp_path: Path
) -> None:
    """Closing reduces risk: a halted account refuses new orders but may close its positions."""
    placed = cli_json(env, "order", "submit", "AAPL", "buy", "--qty", "3")
    wait_status(env, placed["id"], "filled")
    halted = _accounts_env(env, sim, tmp_path, "halted = true")
    refused = RUNNER.invoke(app, ["order", "submit", "AAPL", "buy", "--qty", "1"], env=halted)
    assert refused.exit_code == 3
    assert "halted" in refused.output
    closing = cli_json(halted, "position", "close", "AAPL")
    assert (closing["side"], closing["qty"]) == ("sell", "3")


def test_order_submit_with_a_strategy_tags_the_client_order_id(env: dict[str, Any]) -> None:
    """--strategy momo: the order's client_order_id is ai-momo-<hex> (its lots book to the
    momo sleeve); a given id that names another strategy is refused, nothing sent."""
    submit = ["order", "submit", "AAPL", "buy", "--qty", "1", "--strategy", "momo"]
    placed = cli_json(env, *submit)
    assert placed["client_order_id"].startswith("ai-momo-")
    tagged = cli_json(env, *submit, "--client-order-id", "ai-momo-own-1")
    assert tagged["client_order_id"] == "ai-momo-own-1"
    result = RUNNER.invoke(app, [*submit, "--client-order-id", "cli-2"], env=env)
    assert result.exit_code == 2
    assert "does not name strategy" in result.output
    assert len(cli_json(env, "orders", "--status", "all")) == 2
