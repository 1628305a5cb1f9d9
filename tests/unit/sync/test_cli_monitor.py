"""alpacactl monitor/sync/flows: configuration errors are clear; help stays light."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from alpaca_integration.cli.main import app

runner = CliRunner()


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """An environment with no Alpaca keys and no .env file in reach."""
    for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "ALPACA_ACCOUNTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))


@pytest.mark.usefixtures("no_keys")
@pytest.mark.parametrize("command", [["monitor"], ["sync"], ["flows", "serve"]])
def test_missing_keys_give_one_clear_error(command: list[str]) -> None:
    """Without keys the command exits 2 (configuration) naming ALPACA_API_KEY and pointing at the
    demo/simulator."""
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert "ALPACA_API_KEY" in result.output
    assert "alpacactl demo" in result.output


def test_unknown_account_name_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """--account with a name not configured says which names exist."""
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("ALPACA_API_KEY", "PKTESTKEY")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "not-a-real-secret")
    monkeypatch.delenv("ALPACA_ACCOUNTS_FILE", raising=False)
    result = runner.invoke(app, ["sync", "--account", "nope"])
    assert result.exit_code == 2
    assert "unknown account(s) nope" in result.output
    assert "default" in result.output
    assert "not-a-real-secret" not in result.output


@pytest.fixture
def one_key(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("ALPACA_API_KEY", "PKTESTKEY")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "not-a-real-secret")
    for name in ("ALPACA_ACCOUNTS_FILE", "ALPACA_REDIS_URL", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("one_key")
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["flows", "deploy"], "prefect server start"),
        (["flows", "status"], "PREFECT_API_URL"),
        (["flows", "deploy", "--heartbeat", "10"], "--heartbeat must be 30 seconds or more"),
        (["monitor", "--shard"], "ALPACA_REDIS_URL"),
        (["monitor", "--status"], "ALPACA_REDIS_URL"),
        (["monitor", "--lease-ttl", "0"], "--lease-ttl must be more than 0"),
    ],
)
def test_work_pool_and_shard_commands_say_what_is_missing(args: list[str], says: str) -> None:
    """Without a Prefect API or Redis (or with a bad bound): one line with the fix, exit 2."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "Traceback" not in result.output


def test_flows_serve_without_a_prefect_api_says_how_to_start_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """`flows serve` with keys but no PREFECT_API_URL explains `prefect server start` (exit 2:
    a missing setting)."""
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("ALPACA_API_KEY", "PKTESTKEY")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "not-a-real-secret")
    monkeypatch.delenv("ALPACA_ACCOUNTS_FILE", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    result = runner.invoke(app, ["flows", "serve"])
    assert result.exit_code == 2
    assert "prefect server start" in result.output
    assert "PREFECT_API_URL" in result.output
