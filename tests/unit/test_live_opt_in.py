"""The live endpoint needs the account's explicit opt-in on every path that reaches it."""

from __future__ import annotations

from typing import Any

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


@pytest.mark.parametrize(
    "url",
    [
        "https://api.alpaca.markets.",
        "https://API.ALPACA.MARKETS:443",
        "https://trader:pw@api.alpaca.markets",
        "https://api.alpaca.markets\u3002",
    ],
)
def test_the_client_refuses_every_spelling_of_the_live_host(url: str) -> None:
    """AlpacaClient compares normalised hosts: a trailing dot, case, a port or userinfo do not
    get past the live guard."""
    from alpaca_integration.alpaca.client import AlpacaClient

    with pytest.raises(ConfigError) as info:
        AlpacaClient("PK", "secret", url)
    assert info.value.setting == "ALPACA_ALLOW_LIVE"


@pytest.mark.parametrize(
    "url", ["wss://api.alpaca.markets./stream", "wss://API.alpaca.markets:443/stream/"]
)
def test_the_stream_refuses_every_spelling_of_the_live_host(url: str) -> None:
    """TradeUpdatesStream uses the same normalised comparison."""
    from alpaca_integration.alpaca.stream import TradeUpdatesStream

    with pytest.raises(ConfigError):
        TradeUpdatesStream("PK", "secret", url)


async def test_the_monitors_activities_stream_reads_the_venues_clock_from_the_accounts_client() -> (
    None
):
    """The activities stream of a monitored account measures a 429's reset on the clock its
    account client measured (``AlpacaClient.venue_now``), not on this host's."""
    from alpaca_integration.alpaca.client import AlpacaClient

    account = AccountConfig(name="paper", api_key=SecretStr("PK"), secret_key=SecretStr("secret"))
    service = MonitorService([account], store=None, cache=None)
    async with AlpacaClient.from_account(account) as client:
        build = service.activity_stream_factory_for(account, client)
        stream: Any = build(None, _noop, _no_gap, _no_gap)
        assert stream.venue_now == client.venue_now
        assert stream.rate_budget is client.rate_budget
