"""``alpacactl sim``: serves the simulator, prints the lines a user pastes, refuses bad options."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from typer.testing import CliRunner

from alpaca_integration.cli.main import app
from alpaca_integration.simulator.config import DEMO_API_KEY, DEMO_SECRET_KEY
from alpaca_integration.testing.processes import stop_process

pytestmark = pytest.mark.e2e


def _drain(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Read every output line into ``lines`` (None at the end): the test waits on the queue with
    a deadline instead of on a readline that may never return, and the pipe never fills up."""
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@contextlib.contextmanager
def _sim_banner(extra: list[str]) -> Iterator[list[str]]:
    """``alpacactl sim --port 0 --clock always-open --seed 5 *extra`` as a subprocess: yields its
    banner lines once printed; stops it with Ctrl-C after, which must exit 0."""
    code = "from alpaca_integration.cli.main import run; run()"
    args = ["sim", "--port", "0", "--clock", "always-open", "--seed", "5", *extra]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    output: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_drain, args=(proc.stdout, output), daemon=True)
    reader.start()
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("TradingStream(") for line in lines):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no banner within 60 s: {lines}"
            try:
                line = output.get(timeout=remaining)
            except queue.Empty:
                continue  # the deadline assertion above reports it
            assert line is not None, f"alpacactl sim exited early: {lines}"
            lines.append(line)
        yield lines
    finally:
        stop_process(proc, signal.SIGINT, timeout=20)
        reader.join(timeout=20)
        proc.stdout.close()
    assert proc.returncode == 0


def _banner_env(lines: list[str]) -> dict[str, str]:
    return dict(
        line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export ")
    )


@contextlib.contextmanager
def _served_sim(extra: list[str]) -> Iterator[str]:
    """The base URL of ``alpacactl sim *extra`` served by a subprocess (see ``_sim_banner``)."""
    with _sim_banner(extra) as lines:
        yield _banner_env(lines)["ALPACA_BASE_URL"]


def test_sim_serves_and_prints_the_environment_lines() -> None:
    """The banner names the URLs and the ALPACA_* and alpaca-py lines; the keys it shows work."""
    with _sim_banner([]) as lines:
        env = _banner_env(lines)
        base_url = env["ALPACA_BASE_URL"]
        assert (env["ALPACA_API_KEY"], env["ALPACA_SECRET_KEY"]) == (DEMO_API_KEY, DEMO_SECRET_KEY)
        assert any(f'url_override="{base_url}"' in line for line in lines)
        stream_url = base_url.replace("http://", "ws://") + "/stream"
        assert any(f'url_override="{stream_url}"' in line for line in lines)
        headers = {"APCA-API-KEY-ID": DEMO_API_KEY, "APCA-API-SECRET-KEY": DEMO_SECRET_KEY}
        answer = httpx.get(f"{base_url}/v2/account", headers=headers, timeout=30)
        assert answer.status_code == 200
        assert answer.json()["cash"] == "100000"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--clock", "sometimes"], "clock must be 'market' or 'always-open'"),
        (["--starting-cash", "lots"], "starting_cash must be a decimal number"),
        (["--error-rate", "3"], "faults.error_rate must be between 0 and 1"),
        (["--stream-mode", "loud"], "faults.stream_mode must be one of"),
        (["--accounts-file", "/nonexistent/accounts.toml"], "does not exist"),
        (["--clock-skew-seconds", "nan"], "faults.clock_skew_seconds must be a finite number"),
        (["--visibility-lag-seconds", "-1"], "faults.visibility_lag_seconds must be a finite"),
        (["--stale-order-in-fill-probability", "2"], "must be between 0 and 1"),
        (["--reorder-probability", "1.5"], "faults.reorder_probability must be between 0 and 1"),
        (["--crypto-pairs", "BTC/EUR"], "crypto_pairs: 'BTC/EUR' is not a USD pair"),
        (["--crypto-fee-delay-seconds", "-5"], "crypto_fee_delay_seconds must be a finite"),
        (["--crypto-pairs", "BTC/USD,E$H/USD"], "crypto_pairs: 'E$H/USD' is not a valid ticker"),
        (["--option-underlyings", "BTC/USD"], "option_underlyings: 'BTC/USD' is a crypto pair"),
        (["--option-underlyings", "ZZZZ"], "option_underlyings: 'ZZZZ' is not a tradable"),
        (["--option-underlyings", "OLDCO"], "option_underlyings: 'OLDCO' is not a tradable"),
        (
            ["--symbols", "AAPL", "--option-underlyings", "SPY"],
            "option_underlyings: 'SPY' is not one of the traded symbols (AAPL)",
        ),
    ],
)
def test_bad_options_exit_2_with_the_reason(args: list[str], fragment: str) -> None:
    """An invalid option stops the command before serving, saying what is wrong."""
    result = CliRunner().invoke(app, ["sim", *args])
    assert result.exit_code == 2
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_accounts_file_banner_does_not_print_secrets(tmp_path: Path) -> None:
    """With an accounts file the banner points at the file instead of printing its secrets."""
    from alpaca_integration.cli.sim import startup_lines

    path = tmp_path / "accounts.toml"
    lines = startup_lines("0.0.0.0", 9000, accounts_file=path)
    text = "\n".join(lines)
    assert "http://127.0.0.1:9000" in text
    assert str(path) in text
    assert DEMO_SECRET_KEY not in text


def test_venue_fault_options_reach_the_config() -> None:
    """The clock-skew, visibility-lag, stale-snapshot and reorder options set those faults
    (a negative skew included)."""
    from alpaca_integration.cli.sim import build_config

    config = build_config(
        clock_skew_seconds=-30.0,
        visibility_lag_seconds=2.5,
        stale_order_in_fill_probability=0.25,
        reorder_probability=0.5,
        latency_ms=None,
    )
    faults = config.faults
    assert (faults.clock_skew_seconds, faults.visibility_lag_seconds) == (-30.0, 2.5)
    assert (faults.stale_order_in_fill_probability, faults.reorder_probability) == (0.25, 0.5)
    assert faults.latency_ms == 0.0


def test_the_crypto_fee_delay_reaches_the_config() -> None:
    """`--crypto-fee-delay-seconds 0` posts CFEE with the fill; unset keeps Alpaca's day end."""
    from alpaca_integration.cli.sim import build_config

    assert build_config(crypto_fee_delay_seconds=0.0).crypto_fee_delay_seconds == 0.0
    assert build_config(crypto_fee_delay_seconds=None).crypto_fee_delay_seconds is None


def test_sim_serves_the_option_underlyings_and_crypto_pairs_it_is_given() -> None:
    """`alpacactl sim --option-underlyings SPY --crypto-pairs ETH/USD,SOL/USD` (a subprocess):
    the venue lists option contracts on SPY only and exactly those crypto pairs, and trades
    one of them."""
    args = ["--option-underlyings", "spy", "--crypto-pairs", "ETH/USD, sol/usd"]
    with _served_sim(args) as base_url:
        headers = {"APCA-API-KEY-ID": DEMO_API_KEY, "APCA-API-SECRET-KEY": DEMO_SECRET_KEY}
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
            crypto = http.get("/v2/assets", params={"asset_class": "crypto"}).json()
            assert sorted(asset["symbol"] for asset in crypto) == ["ETH/USD", "SOL/USD"]
            far = (dt.date.today() + dt.timedelta(days=90)).isoformat()
            query = {"underlying_symbols": "SPY,AAPL", "limit": 1000, "expiration_date_lte": far}
            contracts = http.get("/v2/options/contracts", params=query).json()["option_contracts"]
            assert contracts
            assert {c["underlying_symbol"] for c in contracts} == {"SPY"}
            order = http.post(
                "/v2/orders",
                json={
                    "symbol": "SOL/USD",
                    "qty": "1.5",
                    "side": "buy",
                    "type": "market",
                    "time_in_force": "gtc",
                },
            )
            assert order.status_code == 200, order.text
            refused = http.post(
                "/v2/orders",
                json={
                    "symbol": "BTC/USD",
                    "qty": "1",
                    "side": "buy",
                    "type": "market",
                    "time_in_force": "gtc",
                },
            )
            assert refused.status_code == 422


def test_empty_lists_turn_options_and_crypto_off() -> None:
    """`--option-underlyings '' --crypto-pairs ''`: no contracts and no crypto pairs at all."""
    from alpaca_integration.cli.sim import build_config
    from alpaca_integration.simulator.testing import running_simulator

    config = build_config(option_underlyings=(), crypto_pairs=(), clock="always-open")
    assert (config.option_underlyings, config.crypto_pairs) == ((), ())
    with running_simulator(config.replace(rate_limit=0)) as handle:
        headers = {"APCA-API-KEY-ID": DEMO_API_KEY, "APCA-API-SECRET-KEY": DEMO_SECRET_KEY}
        with httpx.Client(base_url=handle.base_url, headers=headers, timeout=30) as http:
            assert http.get("/v2/assets", params={"asset_class": "crypto"}).json() == []
            far = (dt.date.today() + dt.timedelta(days=90)).isoformat()
            query = {"underlying_symbols": "AAPL", "expiration_date_lte": far}
            page = http.get("/v2/options/contracts", params=query)
            assert page.json()["option_contracts"] == []


def test_no_activity_events_answers_404_on_the_activities_stream() -> None:
    """`alpacactl sim --no-activity-events` (a subprocess) serves a venue without the beta
    activities event stream (404 there, so a client falls back to REST paging);
    `--activity-events-drop-rate` reaches the fault."""
    from alpaca_integration.cli.sim import build_config

    assert build_config(activity_events_drop_rate=0.5).faults.activity_events_drop_rate == 0.5
    with _served_sim(["--no-activity-events"]) as base_url:
        headers = {"APCA-API-KEY-ID": DEMO_API_KEY, "APCA-API-SECRET-KEY": DEMO_SECRET_KEY}
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
            assert http.get("/v2beta1/events/activities").status_code == 404
            assert http.get("/v2/account").status_code == 200
