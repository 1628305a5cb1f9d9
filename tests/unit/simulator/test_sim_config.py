"""Simulator settings, accounts files, the per-key rate limit and the wire helpers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alpaca_integration.errors import ConfigError
from alpaca_integration.simulator.config import FaultConfig, SimConfig, load_accounts_file
from alpaca_integration.simulator.ratelimit import RateLimiter
from alpaca_integration.simulator.wire import VenueError, fmt, parse_decimal, parse_time


def test_defaults_describe_a_usable_venue() -> None:
    """The default venue: seed 0, $100,000 margin accounts, 200 requests/min, market clock."""
    config = SimConfig()
    assert (config.seed, config.starting_cash, config.account_type) == (
        0,
        Decimal(100000),
        "margin",
    )
    assert (config.rate_limit, config.clock, config.faults) == (200, "market", FaultConfig())


def test_values_are_normalized() -> None:
    """Cash and caps become Decimal; symbols are upper-cased and de-duplicated."""
    config = SimConfig(starting_cash="2500.50", liquidity_cap=10, symbols=("aapl", "AAPL", "msft"))
    assert config.starting_cash == Decimal("2500.50")
    assert config.liquidity_cap == Decimal(10)
    assert config.symbols == ("AAPL", "MSFT")


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"clock": "sometimes"}, "clock"),
        ({"account_type": "crypto"}, "account_type"),
        ({"rate_limit": -1}, "rate_limit"),
        ({"starting_cash": "lots"}, "starting_cash"),
        ({"liquidity_cap": 0}, "liquidity_cap"),
        ({"symbols": ()}, "symbols"),
        ({"symbols": ("AA PL",)}, "symbols"),
        ({"start_time": dt.datetime(2024, 1, 1)}, "start_time"),  # naive on purpose
        ({"price_step_seconds": 0}, "price_step_seconds"),
    ],
)
def test_bad_settings_name_the_setting(changes: dict[str, Any], setting: str) -> None:
    """Each invalid value raises ConfigError naming the setting and saying what is expected."""
    with pytest.raises(ConfigError) as info:
        SimConfig(**changes)
    assert info.value.setting == setting
    assert setting in str(info.value)


def test_faults_merge_and_validate() -> None:
    """merged() changes named faults, rejects unknown names (listing the valid ones) and rates > 1."""
    faults = FaultConfig().merged({"error_rate": 0.5, "route_error_rates": {"post /v2/orders": 1}})
    assert faults.error_rate == 0.5
    assert faults.route_error_rates == {"POST /v2/orders": 1.0}
    with pytest.raises(ConfigError, match="valid: latency_ms"):
        FaultConfig().merged({"chaos": True})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        FaultConfig().merged({"lost_answer_rate": 2})
    with pytest.raises(ConfigError, match="stream_mode"):
        FaultConfig().merged({"stream_mode": "loud"})


def test_faults_given_as_a_mapping_in_the_config() -> None:
    """SimConfig(faults={...}) builds a FaultConfig."""
    assert SimConfig(faults={"latency_ms": 5}).faults.latency_ms == 5.0


def test_accounts_file_in_toml_and_json(tmp_path: Path) -> None:
    """An accounts file lists key pairs with optional cash and type, in TOML or JSON."""
    toml = tmp_path / "accounts.toml"
    toml.write_text(
        '[[accounts]]\nkey_id = "K1"\nsecret_key = "S1"\nstarting_cash = "5000"\n'
        '[[accounts]]\nkey_id = "K2"\nsecret_key = "S2"\naccount_type = "cash"\n'
    )
    first, second = load_accounts_file(toml)
    assert (first.key_id, first.starting_cash, second.account_type) == ("K1", Decimal(5000), "cash")
    json_file = tmp_path / "accounts.json"
    json_file.write_text('[{"key_id": "K3", "secret_key": "S3"}]')
    assert load_accounts_file(json_file)[0].key_id == "K3"
    assert "S1" not in repr(first)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[[accounts]]\nsecret_key = 'x'\n", "key_id is missing"),
        ("[[accounts]]\nkey_id = 'x'\n", "secret_key is missing"),
        ("accounts = []\n", "lists no accounts"),
        ("not toml at all [", "could not be parsed"),
        (
            "[[accounts]]\nkey_id='a'\nsecret_key='b'\n[[accounts]]\nkey_id='a'\nsecret_key='c'\n",
            "listed twice",
        ),
    ],
)
def test_bad_accounts_files_say_what_to_fix(tmp_path: Path, content: str, fragment: str) -> None:
    """A malformed accounts file raises ConfigError naming the problem."""
    path = tmp_path / "accounts.toml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=fragment):
        load_accounts_file(path)


def test_missing_accounts_file_names_the_path(tmp_path: Path) -> None:
    """A path that does not exist is reported with the path and the fix."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_accounts_file(tmp_path / "nope.toml")


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_is_a_per_key_minute_window() -> None:
    """200 requests pass with a falling Remaining, the 201st is refused until the window resets."""
    clock = FakeTime()
    limiter = RateLimiter(200, clock=clock)
    budgets = [limiter.check("K") for _ in range(200)]
    assert all(b.allowed for b in budgets)
    assert (budgets[0].remaining, budgets[-1].remaining) == (199, 0)
    refused = limiter.check("K")
    assert (refused.allowed, refused.remaining, refused.reset) == (False, 0, 1060)
    assert limiter.check("OTHER").allowed
    clock.now = 1_060.0
    assert limiter.check("K").allowed
    assert dict(refused.headers())[b"x-ratelimit-reset"] == b"1060"


def test_decimals_render_without_exponents_or_trailing_zeros() -> None:
    """fmt writes 1E-9 as 0.000000001, 150.10 as 150.1, -0 as 0."""
    assert fmt(Decimal("1E-9")) == "0.000000001"
    assert fmt(Decimal("150.10")) == "150.1"
    assert fmt(Decimal("1E+2")) == "100"
    assert fmt(Decimal("-0.00")) == "0"


def test_numbers_arrive_as_strings_or_json_numbers() -> None:
    """parse_decimal reads "1.5", 1.5 and 2 exactly; booleans and words are refused with 422."""
    assert parse_decimal("1.5", "qty") == Decimal("1.5")
    assert parse_decimal(0.1, "qty") == Decimal("0.1")
    assert parse_decimal(2, "qty") == Decimal(2)
    for bad in (True, "ten", None, "NaN"):
        with pytest.raises(VenueError) as info:
            parse_decimal(bad, "qty")
        assert info.value.status == 422


def test_timestamps_with_nanoseconds_and_offsets_parse() -> None:
    """RFC 3339 with 9 fractional digits and an offset, or a bare date, parse to UTC."""
    assert parse_time("2024-03-04T10:00:00.123456789-05:00", "after") == dt.datetime(
        2024, 3, 4, 15, 0, 0, 123456, tzinfo=dt.UTC
    )
    assert parse_time("2024-03-04", "date") == dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
    assert parse_time("2024-03-04T10:00:00 00:00", "after").hour == 10
    assert parse_time("2024-03-04 10:00:00", "after").hour == 10
