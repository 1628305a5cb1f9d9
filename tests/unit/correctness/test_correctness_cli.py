"""alpacactl risk/dq/reconcile: limits shown from the accounts file, bad limits named, refusals
exit non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alpaca_integration.cli.main import app

RUNNER = CliRunner()


def _accounts(tmp_path: Path, risk: str) -> dict[str, str]:
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[accounts.main]\napi_key = "PKTEST"\nsecret_key = "SECRET-NEVER-SHOWN"\n'
        'base_url = "http://127.0.0.1:9"\n\n[accounts.main.risk]\n' + risk,
        encoding="utf-8",
    )
    return {
        "ALPACA_ACCOUNTS_FILE": str(path),
        "ALPACA_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
    }


def test_risk_show_lists_limits(tmp_path: Path) -> None:
    """`risk show` prints every configured limit and per-symbol override."""
    env = _accounts(
        tmp_path,
        'max_order_notional = "25000"\nallowed_symbols = ["spy", "AAPL"]\n'
        '[accounts.main.risk.symbols.AAPL]\nmax_position_qty = "200"\n',
    )
    result = RUNNER.invoke(app, ["risk", "show", "--no-exposure"], env=env)
    assert result.exit_code == 0, result.output
    assert "max_order_notional" in result.output
    assert "25000" in result.output
    assert "AAPL, SPY" in result.output
    assert "symbols.AAPL.max_position_qty" in result.output
    assert "SECRET-NEVER-SHOWN" not in result.output


def test_risk_show_bad_limit_names_the_key(tmp_path: Path) -> None:
    """A typo in the risk table exits 2 (configuration) with the key's full name."""
    env = _accounts(tmp_path, 'max_order_notionl = "25000"\n')
    result = RUNNER.invoke(app, ["risk", "show", "--no-exposure"], env=env)
    assert result.exit_code == 2
    assert "accounts.main.risk.max_order_notionl" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--side", "hold", "--qty", "1"], "--side: must be buy or sell"),
        (["--side", "buy"], "exactly one of --qty and --notional"),
        (["--side", "buy", "--qty", "ten"], "--qty: 'ten' is not a number"),
    ],
)
def test_risk_check_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    """`risk check` refuses malformed input with a clear message and exit 2 (bad input)."""
    env = _accounts(tmp_path, 'max_order_qty = "5"\n')
    result = RUNNER.invoke(app, ["risk", "check", "AAPL", *args], env=env)
    assert result.exit_code == 2
    assert message in result.output


def test_correctness_commands_are_registered() -> None:
    """dq, reconcile and risk show up in the root help."""
    result = RUNNER.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("dq", "reconcile", "risk"):
        assert name in result.output
