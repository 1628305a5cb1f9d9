"""Commands that act for one account refuse to guess when several are configured."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from alpaca_integration.cli.main import app

RUNNER = CliRunner()


def _two_accounts(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[accounts.main]\napi_key = "PKMAIN"\nsecret_key = "S1"\nbase_url = "http://127.0.0.1:9"\n'
        "[accounts.main.risk]\nhalted = true\n\n"
        '[accounts.research]\napi_key = "PKRES"\nsecret_key = "S2"\n'
        'base_url = "http://127.0.0.1:9"\n',
        encoding="utf-8",
    )
    return {
        "ALPACA_ACCOUNTS_FILE": str(path),
        "ALPACA_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
    }


def test_risk_check_without_account_refuses_to_pick_one(tmp_path: Path) -> None:
    """`risk check` with two accounts and no --account names them and exits non-zero."""
    result = RUNNER.invoke(
        app, ["risk", "check", "AAPL", "--side", "buy", "--qty", "1"], env=_two_accounts(tmp_path)
    )
    assert result.exit_code != 0
    assert "main" in result.output
    assert "research" in result.output
    assert "--account" in result.output


def test_risk_check_with_account_uses_that_accounts_limits(tmp_path: Path) -> None:
    """`risk check --account main` applies main's halt switch; research has none and passes."""
    env = _two_accounts(tmp_path)
    args = ["risk", "check", "AAPL", "--side", "buy", "--qty", "1", "--limit-price", "10"]
    halted = RUNNER.invoke(app, [*args, "--account", "main"], env=env)
    assert halted.exit_code != 0
    assert "halted" in halted.output
    free = RUNNER.invoke(app, [*args, "--account", "research"], env=env)
    assert free.exit_code == 0, free.output
