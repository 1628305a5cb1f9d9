"""The activities event stream (SSE) against the simulator, on real PostgreSQL.

The promise under test: with the stream dropped again and again, events duplicated and replayed
from ``since_id`` after every reconnect, the store's activities end equal to the venue's: every
FILL exactly once (merged with the other sources by execution, never counted twice) with its
fee, every non-trade activity once under its REST id, nothing missing. Also: what the simulator
sends validates against Alpaca's ``ActivityEventV2`` schema, and the monitor with the stream on
beside trade_updates keeps store == venue.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from alpaca_integration.alpaca.client import AlpacaClient, RetryPolicy
from alpaca_integration.alpaca.parse_events import SseDecoder, SseEvent, parse_activity_event
from alpaca_integration.config import AccountConfig
from alpaca_integration.models import Activity, Fill, OrderRequest, OrderSide
from alpaca_integration.monitor.service import MonitorService
from alpaca_integration.simulator.events import encode_event_id
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from alpaca_integration.storage import Store
from alpaca_integration.sync.activity_stream import (
    FEED_ACTIVITY_EVENTS,
    ActivityStreamIngestor,
    default_activity_stream_factory,
)
from alpaca_integration.sync.engine import SyncEngine
from alpaca_integration.testing.compare import compare_with_venue, store_view
from alpaca_integration.testing.sessions import random_session

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ACCOUNT = "default"
FAST_RETRY = RetryPolicy(base_delay=0.02, max_delay=0.2, max_elapsed=20.0)
FAST_SSE = {"initial_backoff": 0.05, "max_backoff": 0.5, "read_timeout": 30.0}
DEADLINE = 90.0


@pytest.fixture
def busy_sim(simulator_factory: Callable[..., SimulatorHandle]) -> SimulatorHandle:
    return simulator_factory(rate_limit=0, liquidity_cap=Decimal(10), volatility=0.0)


def _client(sim: SimulatorHandle) -> AlpacaClient:
    return AlpacaClient(
        SIM_API_KEY, SIM_SECRET_KEY, sim.base_url, rate_limit=None, retry=FAST_RETRY
    )


async def _set_price(sim: SimulatorHandle) -> Any:
    async def set_price(symbol: str, price: Decimal) -> None:
        await sim.aset_price(symbol, price)

    return set_price


def _venue_activities(venue: dict[str, Any]) -> tuple[dict[Any, Any], dict[str, Any]]:
    """The venue's FILLs by (order_id, cum_qty) with their fee, and its other activities by id."""
    activities = venue["activities"]
    fees: Counter[tuple[str, str]] = Counter()
    for a in activities:
        if a["activity_type"] == "FEE" and a.get("order_id"):
            fees[(a["order_id"], a["transaction_time"])] += -Decimal(a["net_amount"])  # type: ignore[assignment]
    fills = {
        (a["order_id"], Decimal(a["cum_qty"])): (
            Decimal(a["qty"]),
            Decimal(a["price"]),
            Decimal(fees.get((a["order_id"], a["transaction_time"]), 0)),
        )
        for a in activities
        if a["activity_type"] == "FILL"
    }
    others = {a["id"]: Decimal(a["net_amount"]) for a in activities if a["activity_type"] != "FILL"}
    return fills, others


async def _store_activities(store: Store) -> tuple[list[Any], dict[str, Any]]:
    dump = await store.dump(ACCOUNT)
    fills = [
        ((f["order_id"], Decimal(f["cum_qty"])), (f["qty"], f["price"], f["fee"]))
        for f in dump["fills"]
    ]
    others = {key: a["net_amount"] for key, a in dump["activities"].items()}
    return fills, others


async def _activity_differences(store: Store, sim: SimulatorHandle) -> list[str]:
    venue_fills, venue_others = _venue_activities(await asyncio.to_thread(sim.dump, SIM_API_KEY))
    stored_fills, stored_others = await _store_activities(store)
    out = []
    twice = [key for key, n in Counter(k for k, _ in stored_fills).items() if n > 1]
    if twice:
        out.append(f"fills stored twice: {twice[:3]}")
    stored = dict(stored_fills)
    if missing := set(venue_fills) - set(stored):
        out.append(f"{len(missing)} fills missing, e.g. {sorted(missing)[:2]}")
    if extra := set(stored) - set(venue_fills):
        out.append(f"{len(extra)} fills the venue does not have: {sorted(extra)[:2]}")
    out += [
        f"fill {key}: store {stored[key]} != venue {value}"
        for key, value in venue_fills.items()
        if key in stored and tuple(map(Decimal, stored[key])) != value
    ][:3]
    if venue_others != {k: Decimal(v) for k, v in stored_others.items()}:
        missing_ids = set(venue_others) - set(stored_others)
        extra_ids = set(stored_others) - set(venue_others)
        out.append(f"activities: {len(missing_ids)} missing, {len(extra_ids)} extra or differing")
    return out


async def _eventually(check: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if not result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.5)


async def test_the_activities_stream_dropped_duplicated_and_replayed_misses_nothing_and_counts_nothing_twice(
    busy_sim: SimulatorHandle, store: Store
) -> None:
    async with _client(busy_sim) as client:
        engine = SyncEngine(ACCOUNT, client, store)
        factory = default_activity_stream_factory(
            SIM_API_KEY, SIM_SECRET_KEY, busy_sim.base_url, **FAST_SSE
        )
        ingestor = ActivityStreamIngestor(engine, factory, replay_settle=1.0)
        runner = asyncio.create_task(ingestor.run())
        try:
            assert await _eventually(lambda: _not(ingestor.connected), 60) is False
            set_price = await _set_price(busy_sim)
            rng = random.Random(15)
            await busy_sim.aset_faults(stream_duplicate_rate=0.3, activity_events_drop_rate=0.15)
            first = await random_session(client, set_price, n_orders=60, rng=rng)
            # A hard outage: every connection refused for a while, then one more cut.
            await busy_sim.aset_faults(stream_mode="drop")
            second = await random_session(client, set_price, n_orders=20, rng=rng)
            await busy_sim.aset_faults(stream_mode="normal")
            await asyncio.to_thread(busy_sim._call, "POST", "/stream/drop")
            third = await random_session(client, set_price, n_orders=20, rng=rng)
            await busy_sim.aset_faults(reset=True)
            await client.cancel_all_orders()
            differences = await _eventually(lambda: _activity_differences(store, busy_sim))
            # The last reconnect's gap is recorded once its replay has settled.
            await _eventually(lambda: _not(ingestor.gaps_recorded > 0), 60)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
    assert first.submitted + second.submitted + third.submitted > 40
    assert differences == []
    stream = ingestor._stream
    assert stream is not None
    # The faults bit: many reconnects, each resumed from the last id, events seen twice.
    assert stream.connects > 3  # type: ignore[attr-defined]
    booked = len((await asyncio.to_thread(busy_sim.dump, SIM_API_KEY))["activities"])
    assert stream.events_received > booked  # type: ignore[attr-defined]
    # Only the very first connect (no id known yet) read REST; the rest came by replay.
    assert ingestor.catch_ups == 1
    checkpoint = await store.get_checkpoint(ACCOUNT, FEED_ACTIVITY_EVENTS)
    assert checkpoint == stream.last_event_id  # type: ignore[attr-defined]
    gaps = [g for g in await store.list_stream_gaps(ACCOUNT) if g.reason.startswith("activities")]
    assert gaps, "the drops were recorded as gaps"
    assert {g.closed_by for g in gaps} == {"since_id_replay"}
    dump = await store.dump(ACCOUNT)
    assert any(f["side"] == "sell" and f["fee"] > 0 for f in dump["fills"])


async def _not(value: bool) -> bool:
    return not value


def test_what_the_simulator_streams_is_alpacas_activity_event(
    busy_sim: SimulatorHandle, trading_spec_path: Path
) -> None:
    spec = json.loads(trading_spec_path.read_text(encoding="utf-8"))

    def validator(name: str) -> OAS30Validator:
        schema = {**spec["components"]["schemas"][name], "components": spec["components"]}
        return OAS30Validator(schema, format_checker=oas30_format_checker)

    # ActivityEventV2's details are a oneOf of 36 permissive shapes (a FEE's details match
    # several), so the envelope and each kind's details are checked against their own schema.
    envelope = validator("ActivityEventV2CommonFields")
    details = {"FILL": validator("ActivityV2DetailTRD"), "FEE": validator("FEEActivityV2")}
    headers = {"APCA-API-KEY-ID": SIM_API_KEY, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}
    with httpx.Client(base_url=busy_sim.base_url, headers=headers, timeout=30) as http:
        busy_sim.set_price("AAPL", "190.00")
        for side, qty in (("buy", "3"), ("sell", "1")):
            order = {"symbol": "AAPL", "qty": qty, "side": side, "type": "market"}
            order["time_in_force"] = "day"
            assert http.post("/v2/orders", json=order).status_code == 200
        busy_sim.split("AAPL", 2)
        expected = len(busy_sim.dump(SIM_API_KEY)["activities"])
        until_id = encode_event_id(dt.datetime.now(dt.UTC), expected - 1)
        params = {"since_id": "0" * 26, "until_id": until_id}
        with http.stream("GET", "/v2beta1/events/activities", params=params) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        assert len(data) == expected
        kinds = set()
        for payload in data:
            event = json.loads(payload)
            envelope.validate(event)
            if event["activity_type"] in details:
                details[event["activity_type"]].validate(event["details"])
            kinds.add(event["activity_type"])
        assert {"FILL", "FEE", "SPLIT"} <= kinds
        bad = http.get("/v2beta1/events/activities", params={"since_id": "nope"})
        assert bad.status_code == 400


async def _monitored_session(
    sim: SimulatorHandle, store: Store, *, seed: int, n_orders: int, faults: dict[str, Any]
) -> tuple[list[str], Any]:
    """A monitor with the activities stream on over a session with ``faults``: the differences
    between the store and the venue once settled (or at the deadline), and the status line."""
    account = AccountConfig(
        name=ACCOUNT,
        api_key=SIM_API_KEY,
        secret_key=SIM_SECRET_KEY,
        base_url=sim.base_url,
        rate_limit=100_000,
    )
    service = MonitorService(
        [account],
        store,
        None,
        update_interval=2.0,
        silence_timeout=1.0,
        stream_options={"initial_backoff": 0.2, "max_backoff": 1.0, "unclean_drop_wait": 0.3},
        client_options={"retry": FAST_RETRY},
        activities_stream=True,
        activities_stream_options=FAST_SSE,
        reconcile_every=None,
    )
    runner = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.wait_started(), 60)
        async with _client(sim) as client:
            await sim.aset_faults(**faults)
            stats = await random_session(
                client, await _set_price(sim), n_orders=n_orders, rng=random.Random(seed)
            )
            await sim.aset_faults(reset=True)
            await client.cancel_all_orders()
        assert stats.submitted > n_orders // 3

        async def differences() -> list[str]:
            venue = await asyncio.to_thread(sim.dump, SIM_API_KEY)
            found = compare_with_venue(await store_view(store, ACCOUNT), venue)
            return found + await _activity_differences(store, sim)

        found = await _eventually(differences)
        return found, service.statuses()[0]
    finally:
        service.stop()
        await runner


async def test_the_monitor_with_the_activities_stream_keeps_the_store_equal_to_the_venue(
    busy_sim: SimulatorHandle, store: Store
) -> None:
    """trade_updates, the activities stream and REST paging together: every execution once."""
    faults = {"stream_duplicate_rate": 0.3, "activity_events_drop_rate": 0.1}
    found, status = await _monitored_session(busy_sim, store, seed=16, n_orders=60, faults=faults)
    assert found == []
    assert status.activities_stream == "connected"


async def test_a_venue_without_the_activities_stream_falls_back_to_rest_paging_with_one_line(
    simulator_factory: Callable[..., SimulatorHandle],
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = simulator_factory(rate_limit=0, volatility=0.0, activity_events=False)
    caplog.set_level(logging.WARNING, logger="alpaca_integration")
    found, status = await _monitored_session(sim, store, seed=17, n_orders=20, faults={})
    assert found == []
    assert status.activities_stream == "unavailable"
    lines = [r.getMessage() for r in caplog.records if "activities event stream" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "HTTP 404" in lines[0]
    assert "falling back to REST paging" in lines[0]


async def test_options_events_carry_the_ids_rest_paging_stores(
    options_day: SimulatorHandle,
) -> None:
    """Exercise, assignment, expiry and option trades: every non-trade event parses to the REST
    activity id the venue lists, every FILL event to a venue FILL (order, cum_qty)."""
    sim = options_day
    call_190, call_195, call_200 = (
        "AAPL240304C00190000",
        "AAPL240304C00195000",
        "AAPL240304C00200000",
    )
    for symbol, price in (
        ("AAPL", "190.00"),
        (call_190, "4.00"),
        (call_200, "1.00"),
        (call_195, "2.00"),
    ):
        await sim.aset_price(symbol, price)
    async with _client(sim) as client:
        for symbol, side in (
            (call_190, OrderSide.BUY),
            (call_200, OrderSide.BUY),
            (call_195, OrderSide.SELL),
        ):
            await client.submit_order(OrderRequest(symbol=symbol, side=side, qty=Decimal(1)))
        await sim.aset_price("AAPL", "197.00")
        await client.exercise_position(call_190)
        await sim.aadvance_clock(6 * 3600 + 1)
    venue = await asyncio.to_thread(sim.dump, SIM_API_KEY)
    count = len(venue["activities"])
    headers = {"APCA-API-KEY-ID": SIM_API_KEY, "APCA-API-SECRET-KEY": SIM_SECRET_KEY}
    params = {"since_id": "0" * 26, "until_id": encode_event_id(dt.datetime.now(dt.UTC), count - 1)}
    decoder = SseDecoder()
    async with (
        httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=30) as http,
        http.stream("GET", "/v2beta1/events/activities", params=params) as response,
    ):
        frames = [m async for chunk in response.aiter_bytes() for m in decoder.feed(chunk)]
    items = [parse_activity_event(f.data).item for f in frames if isinstance(f, SseEvent)]
    assert len(items) == count
    venue_others = {a["id"] for a in venue["activities"] if a["activity_type"] != "FILL"}
    assert {i.id for i in items if isinstance(i, Activity)} == venue_others
    assert {"OPASN", "OPEXC", "OPEXP", "OPTRD"} <= {
        i.activity_type for i in items if isinstance(i, Activity)
    }
    venue_fills = {
        (a["order_id"], Decimal(a["cum_qty"]))
        for a in venue["activities"]
        if a["activity_type"] == "FILL"
    }
    assert {(i.order_id, i.cum_qty) for i in items if isinstance(i, Fill)} == venue_fills
