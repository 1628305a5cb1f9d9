"""The sync engine and the monitor against the simulator, on real PostgreSQL (and Redis).

The promise under test: after a busy session of every order type and class, with faults injected
(stream drops and silences, duplicated and late events, 5xx, 429s, unknown-outcome submits), the
store equals the simulator's dump: every order with its final status, every fill exactly once with
its fee, positions and cash.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from alpaca_integration.alpaca.client import AlpacaClient, RetryPolicy
from alpaca_integration.config import AccountConfig
from alpaca_integration.models import OrderRequest, OrderSide, TimeInForce
from alpaca_integration.monitor.service import MonitorService
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.sync.engine import SyncEngine
from alpaca_integration.testing.compare import compare_with_venue, store_view
from alpaca_integration.testing.sessions import random_session
from support.order_requests import limit_buy
from support.sim_runs import sim_account

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ACCOUNT = "default"
FAST_STREAM = {
    "initial_backoff": 0.2,
    "max_backoff": 1.0,
    "unclean_drop_wait": 0.3,
    "ping_interval": 1.0,
    "ping_timeout": 2.0,
}


@pytest.fixture
def busy_sim(simulator_factory: Callable[..., SimulatorHandle]) -> SimulatorHandle:
    """A venue with no rate limit and a small liquidity cap, so large orders fill in parts."""
    return simulator_factory(rate_limit=0, liquidity_cap=Decimal(10), volatility=0.0)


# Injected faults make the client retry: keep its backoff short so the session stays quick.
FAST_RETRY = RetryPolicy(base_delay=0.02, max_delay=0.2, max_elapsed=20.0)


def _client(sim: SimulatorHandle) -> AlpacaClient:
    return AlpacaClient(
        SIM_API_KEY, SIM_SECRET_KEY, sim.base_url, rate_limit=None, retry=FAST_RETRY
    )


def _account(sim: SimulatorHandle) -> AccountConfig:
    return sim_account(sim, ACCOUNT)


async def _differences(store: Store, sim: SimulatorHandle) -> list[str]:
    venue = await asyncio.to_thread(sim.dump, SIM_API_KEY)
    return compare_with_venue(await store_view(store, ACCOUNT), venue)


async def _eventually_equal(store: Store, sim: SimulatorHandle, timeout: float = 20.0) -> list[str]:
    """The differences once they are gone, or the last ones seen when ``timeout`` runs out."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        differences = await _differences(store, sim)
        if not differences or asyncio.get_running_loop().time() > deadline:
            return differences
        await asyncio.sleep(0.5)


async def _set_price(sim: SimulatorHandle) -> Any:
    async def set_price(symbol: str, price: Decimal) -> None:
        await sim.aset_price(symbol, price)

    return set_price


async def test_first_sync_copies_everything_and_a_replay_changes_nothing(
    busy_sim: SimulatorHandle, store: Store
) -> None:
    """A first sync stores every order, leg, fill (with fees) and position; a second changes 0 rows."""
    async with _client(busy_sim) as client:
        stats = await random_session(
            client, await _set_price(busy_sim), n_orders=80, rng=random.Random(5)
        )
        await client.cancel_all_orders()
        engine = SyncEngine(ACCOUNT, client, store)
        first = await engine.sync_all()
        second = await engine.sync_all()
    assert stats.submitted > 30
    assert first.orders_changed >= stats.submitted
    assert await _differences(store, busy_sim) == []
    assert second.rows_changed == 0
    dump = await store.dump(ACCOUNT)
    sells = [f for f in dump["fills"] if f["side"] == "sell"]
    assert sells, "the session sold something"
    assert all(f["fee"] > 0 for f in sells), "every sell execution carries its regulatory fee"
    assert any(o["parent_id"] for o in dump["orders"].values()), "bracket/OCO legs are stored"


async def test_incremental_sync_sees_updates_to_old_orders(
    busy_sim: SimulatorHandle, store: Store
) -> None:
    """An order resting since before the checkpoint that fills later is updated by the next sync."""
    await busy_sim.aset_price("AAPL", Decimal("100.00"))
    async with _client(busy_sim) as client:
        resting = await client.submit_order(limit_buy("3", "95.00", time_in_force=TimeInForce.GTC))
        engine = SyncEngine(ACCOUNT, client, store, order_overlap=dt.timedelta(0))
        await engine.sync_all()
        # Many later orders move the checkpoint well past the resting order's submission.
        for _ in range(3):
            await client.submit_order(
                OrderRequest(symbol="MSFT", side=OrderSide.BUY, qty=Decimal(1))
            )
        await engine.sync_all()
        await busy_sim.aset_price("AAPL", Decimal("94.00"))
        await engine.sync_all()
    stored = await store.get_order(ACCOUNT, resting.id)
    assert stored is not None
    assert stored.status.value == "filled"
    assert await _differences(store, busy_sim) == []


@pytest.mark.redis
async def test_monitor_keeps_the_store_equal_under_faults(
    busy_sim: SimulatorHandle, store: Store, redis_url: str, redis_namespace: str
) -> None:
    """Under every fault the store and the cache end equal to the venue, gaps recorded."""
    from alpaca_integration.cache import open_cache

    cache = await open_cache(redis_url, prefix=redis_namespace)
    service = MonitorService(
        [_account(busy_sim)],
        store,
        cache,
        update_interval=2.0,
        silence_timeout=1.0,
        stream_options=FAST_STREAM,
        client_options={"retry": FAST_RETRY},
    )
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.wait_started(), 10)
        set_price = await _set_price(busy_sim)
        rng = random.Random(42)
        async with _client(busy_sim) as client:
            await busy_sim.aset_faults(
                stream_duplicate_rate=0.3,
                stream_late_rate=0.2,
                stream_late_ms=300,
                route_error_rates={"GET /v2/orders": 0.1, "GET /v2/account/activities": 0.1},
                rate_limit_storm_rate=0.01,
                lost_answer_rate=0.05,
            )
            first = await random_session(client, set_price, n_orders=120, rng=rng)
            await busy_sim.aset_faults(stream_mode="drop")
            second = await random_session(client, set_price, n_orders=40, rng=rng)
            await busy_sim.aset_faults(stream_mode="silent")
            third = await random_session(client, set_price, n_orders=40, rng=rng)
            await busy_sim.aset_faults(reset=True)
            await client.cancel_all_orders()
        differences = await _eventually_equal(store, busy_sim)
        statuses = service.statuses()
    finally:
        service.stop()
        await runner
    try:
        cached_orders = await cache.get_open_orders(ACCOUNT)
        cached_positions = await cache.get_positions(ACCOUNT)
    finally:
        await cache.aclose()
    stored_open = await store.open_orders(ACCOUNT)
    assert cached_orders is not None
    assert {o.id: o.status for o in cached_orders} == {o.id: o.status for o in stored_open}
    assert cached_positions is not None
    assert {p.symbol: p.qty for p in cached_positions} == {
        p.symbol: p.qty for p in await store.positions(ACCOUNT)
    }
    assert first.submitted + second.submitted + third.submitted > 80
    assert differences == []
    gaps = await store.list_stream_gaps(ACCOUNT)
    assert gaps, "the drop and the silence were recorded as gaps"
    assert all(g.closed_by == "rest_catch_up" for g in gaps)
    assert statuses[0].events > 0


async def test_a_stream_gap_is_caught_up_by_rest_on_reconnect(
    busy_sim: SimulatorHandle, store: Store
) -> None:
    """Fills made while the stream is down reach the store by the reconnect's catch-up alone."""
    service = MonitorService(
        [_account(busy_sim)],
        store,
        None,
        update_interval=3600.0,  # no periodic sync: only the stream and its catch-ups
        silence_timeout=3600.0,
        stream_options=FAST_STREAM,
    )
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.wait_started(), 10)
        await asyncio.sleep(0.5)
        await busy_sim.aset_faults(stream_mode="drop")
        await asyncio.to_thread(busy_sim.drop_streams)
        async with _client(busy_sim) as client:
            placed = [
                await client.submit_order(
                    OrderRequest(symbol="SPY", side=OrderSide.BUY, qty=Decimal(2))
                )
                for _ in range(3)
            ]
        await busy_sim.aset_faults(stream_mode="normal")
        differences = await _eventually_equal(store, busy_sim)
    finally:
        service.stop()
        await runner
    assert differences == []
    for order in placed:
        assert await store.get_order(ACCOUNT, order.id) is not None
    gaps = await store.list_stream_gaps(ACCOUNT)
    assert any(g.rows_recovered > 0 and g.closed_by == "rest_catch_up" for g in gaps)


async def test_one_monitor_keeps_several_accounts_apart(
    busy_sim: SimulatorHandle, store: Store
) -> None:
    """One monitor, two accounts: each equals its own venue account, through its own client."""
    second_key, second_secret = "PKSECONDACCOUNT00002", "second-account-secret-000000000002"
    accounts = [
        _account(busy_sim),
        AccountConfig(
            name="second",
            api_key=second_key,
            secret_key=second_secret,
            base_url=busy_sim.base_url,
            rate_limit=100_000,
        ),
    ]
    service = MonitorService(accounts, store, None, update_interval=1.0, stream_options=FAST_STREAM)
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.wait_started(), 10)
        set_price = await _set_price(busy_sim)
        async with _client(busy_sim) as first:
            await random_session(first, set_price, n_orders=20, rng=random.Random(1))
        async with AlpacaClient(
            second_key, second_secret, busy_sim.base_url, rate_limit=None
        ) as second:
            await random_session(second, set_price, n_orders=20, rng=random.Random(2))
        first_differences = await _eventually_equal(store, busy_sim)
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            venue = await asyncio.to_thread(busy_sim.dump, second_key)
            second_differences = compare_with_venue(await store_view(store, "second"), venue)
            if not second_differences or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.5)
        clients = {id(engine.client) for engine in service.engines}
    finally:
        service.stop()
        await runner
    assert first_differences == []
    assert second_differences == []
    assert len(clients) == 2
    first_ids = set((await store.dump(ACCOUNT))["orders"])
    second_ids = set((await store.dump("second"))["orders"])
    assert first_ids
    assert second_ids
    assert not first_ids & second_ids


async def test_two_monitors_on_one_key_say_that_they_kick_each_other_off(
    busy_sim: SimulatorHandle, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Two monitors streaming the same account: the venue keeps one connection per key, so each
    keeps closing the other's stream; both say so in a WARNING naming the likely cause, and the
    status line shows it."""
    caplog.set_level(logging.WARNING, logger="alpaca_integration")
    monitors = [
        MonitorService(
            [_account(busy_sim)],
            store,
            None,
            update_interval=3600.0,
            silence_timeout=3600.0,
            stream_options=FAST_STREAM,
        )
        for _ in range(2)
    ]
    runners = [asyncio.create_task(monitor.run()) for monitor in monitors]
    try:
        for monitor in monitors:
            await asyncio.wait_for(monitor.wait_started(), 10)
        deadline = asyncio.get_running_loop().time() + 30
        warned: list[str] = []
        while len(warned) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            warned = [r.getMessage() for r in caplog.records if "same API key" in r.getMessage()]
        shown = [status.stream_warning for monitor in monitors for status in monitor.statuses()]
    finally:
        for monitor in monitors:
            monitor.stop()
        await asyncio.gather(*runners)
    assert len(warned) >= 2, [r.getMessage() for r in caplog.records]
    assert "another monitor" in warned[0]
    assert ACCOUNT in warned[0]
    assert any(warning and "same API key" in warning for warning in shown), shown
