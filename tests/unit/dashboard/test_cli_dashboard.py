"""``alpacactl dashboard``'s refusals: a non-local bind without a token, or with a short one,
stops at once with one line and exit status 2, before anything is opened."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from alpaca_integration.cli.dashboard import bind_refusal
from alpaca_integration.cli.main import app


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "dashboard.lan"])
def test_a_non_local_bind_without_a_token_is_refused(
    host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 2 and one line naming ALPACA_DASHBOARD_TOKEN; nothing is served."""
    monkeypatch.delenv("ALPACA_DASHBOARD_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["dashboard", "--host", host, "--port", "0"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "ALPACA_DASHBOARD_TOKEN" in lines[0]
    assert host in lines[0]


def test_a_short_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token under 16 characters is refused like a missing one."""
    monkeypatch.setenv("ALPACA_DASHBOARD_TOKEN", "short")
    result = CliRunner().invoke(app, ["dashboard", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "shorter than 16" in result.output


def test_local_binds_need_no_token_and_any_bind_may_have_one() -> None:
    """Loopback addresses are served without a token; a long token opens any address."""
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert bind_refusal(host, None) is None
    assert bind_refusal("0.0.0.0", "a-long-enough-token-123") is None
    assert bind_refusal("0.0.0.0", None) is not None


def test_the_live_option_takes_only_the_known_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--live`` is auto, cache or poll; anything else stops with exit status 2."""
    monkeypatch.delenv("ALPACA_DASHBOARD_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["dashboard", "--live", "sometimes"])
    assert result.exit_code == 2
    assert "auto, cache, poll" in result.output
