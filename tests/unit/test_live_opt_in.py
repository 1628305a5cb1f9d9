"""The live endpoint needs the account's explicit opt-in on every path that reaches it."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from alpaca_integration.config import LIVE_BASE_URL, AccountConfig
from alpaca_integration.errors import ConfigError
from alpaca_integration.service import MonitorService
from alpaca_integration.sync.stream import default_stream_factory


async def _noop() -> None:
    return None


async def _no_gap(*_: object) -> None:
    return None


def test_stream_factory_refuses_the_live_stream_without_the_opt_in() -> None:
    """Building a live trade_updates stream without allow_live raises ConfigError."""
    build = default_stream_factory("PK", "secret", "wss://api.alpaca.markets/stream")
    with pytest.raises(ConfigError):
        build(_noop, _no_gap)


def test_monitor_builds_an_opted_in_live_accounts_stream() -> None:
    """An account that opted in (allow_live = true) gets its live stream from the monitor."""
    account = AccountConfig(
        name="live",
        api_key=SecretStr("PK"),
        secret_key=SecretStr("secret"),
        base_url=LIVE_BASE_URL,
        allow_live=True,
    )
    service = MonitorService([account], store=None, cache=None)
    factory = service.stream_factory_for(account)
    stream = factory(_noop, _no_gap)
    assert stream is not None
