"""Correctness against a real PostgreSQL store: quarantine rows, quality rule rows, exposure and
breach rows, the pre-trade hook reading the store, and hostile pages through ingestion (fuzz)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

from alpaca_integration.checks.quality import run_rules
from alpaca_integration.checks.risk import RiskLimits, make_pre_trade_check, record_exposure
from alpaca_integration.errors import RiskLimitError
from alpaca_integration.models import OrderRequest, OrderSide
from alpaca_integration.monitor.runtime import opened_store
from alpaca_integration.storage.repository import Store
from support import correctness_factories as factories
from support.hostile_payloads import order_pages
from support.ingestion import ingest_order_page

pytestmark = pytest.mark.postgres


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[Any]:
    """A migrated PostgreSQL store of the test's own database."""
    async with opened_store(postgres_url, migrate=True) as opened:
        yield opened


async def _ingest(store: Any, account: str, body: bytes) -> Any:
    """What production does with a page: split, screen, quarantine the bad, apply the good."""
    split = ingest_order_page(body, factories.NOW)
    for record in split.quarantined:
        # Refused holds exactly the keyword arguments insert_quarantine takes.
        await store.insert_quarantine(account, **dataclasses.asdict(record))
    await store.apply(account, orders=split.good)
    return split


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(page=order_pages())
def test_hostile_pages_store_the_good_and_quarantine_the_bad(
    postgres_url: str, page: list[tuple[bytes, bool, str | None]]
) -> None:
    """Malformed and hostile items never crash ingestion: good orders stored, bad ones quarantined."""
    account = f"fuzz-{uuid.uuid4().hex[:8]}"
    body = b"[" + b",".join(raw for raw, _, _ in page) + b"]"

    async def scenario() -> None:
        store = await Store.open(postgres_url, migrate=True)
        try:
            split = await _ingest(store, account, body)
            stored = {order.id for order in await store.list_orders(account) if not order.parent_id}
            assert stored == {key for _, good, key in page if good}
            quarantined = await store.list_quarantine(account)
            bad = [raw for raw, good, _ in page if not good]
            assert len(split.quarantined) == len(bad)
            # identical bad payloads (same key, same reason) are kept once
            assert sorted(q.raw for q in quarantined) == sorted(set(bad))
            # a replay of the same page changes nothing and quarantines nothing twice
            await _ingest(store, account, body)
            assert len(await store.list_quarantine(account)) == len(quarantined)
        finally:
            await store.aclose()

    asyncio.run(scenario())


async def test_quality_rules_write_rows(store: Any) -> None:
    """dq over a drifted store returns the findings and writes them as quality_results rows."""
    filled = factories.make_filled_order()
    half = factories.make_fill(
        fill_id="f1", execution_id="x1", order_id="o1", qty=Decimal(4), cum_qty=Decimal(4)
    )
    stray = factories.make_fill(
        fill_id="f9", execution_id="x9", order_id="ghost", qty=Decimal(1), cum_qty=Decimal(1)
    )
    await store.apply(
        "main",
        orders=[filled],
        fills=[half, stray],
        snapshot=factories.make_snapshot(),
        positions=[],
    )
    results = await run_rules(store, "main", now=factories.NOW)
    found = {(r.rule, r.subject) for r in results}
    assert ("order_fill_qty_mismatch", "o1") in found
    assert ("fill_without_order", "ghost") in found
    rows = await store.list_quality_results("main")
    assert {(r.rule, r.subject) for r in rows} == found
    assert len({r.run_id for r in rows}) == 1


async def test_clean_store_writes_no_quality_rows(store: Any) -> None:
    """A consistent store passes every rule and writes nothing."""
    filled = factories.make_filled_order()
    await store.apply(
        "main",
        orders=[filled],
        fills=[factories.make_fill(order_id="o1")],
        snapshot=factories.make_snapshot(),
        positions=[factories.make_position()],
        checkpoints={"activities": "x"},
    )
    assert await run_rules(store, "main", now=factories.NOW) == []
    assert await store.list_quality_results("main") == []


async def test_a_stored_split_raises_no_position_finding(store: Any) -> None:
    """10 AAPL bought, then a 2:1 split stored as Alpaca posts it (two SPLIT legs, -10 and +20,
    one group): dq finds the venue's 20 shares consistent; 21 shares is still a finding."""
    day = (factories.NOW + dt.timedelta(days=1)).date()
    legs = [
        factories.make_activity(
            id=f"split-{qty}",
            activity_type="SPLIT",
            activity_subtype="FSPLIT",
            date=day,
            transaction_time=None,
            net_amount=Decimal(0),
            order_id=None,
            qty=Decimal(qty),
            price=Decimal(price),
            raw=msgspec.json.encode({"group_id": "g1", "old_rate": "1", "new_rate": "2"}),
        )
        for qty, price in (("-10", "100"), ("20", "50"))
    ]
    await store.apply(
        "main",
        orders=[factories.make_filled_order()],
        fills=[factories.make_fill(order_id="o1")],
        activities=legs,
        snapshot=factories.make_snapshot(),
        positions=[factories.make_position(qty=Decimal(20))],
        positions_at=factories.NOW,
        checkpoints={"activities": "x"},
    )
    assert await run_rules(store, "main", now=factories.NOW, save=False) == []
    later = factories.NOW + dt.timedelta(days=2)
    await store.apply(
        "main", positions=[factories.make_position(qty=Decimal(21))], positions_at=later
    )
    found = await run_rules(store, "main", now=factories.NOW, save=False)
    assert [(r.rule, r.subject) for r in found] == [("position_fill_mismatch", "AAPL")]


async def test_exposure_and_breaches_are_rows(store: Any) -> None:
    """record_exposure writes one exposure snapshot and a row per breach."""
    positions = [factories.make_position(qty=Decimal(10), market_value=Decimal(1100))]
    limits = RiskLimits(max_gross_exposure=Decimal(1000))
    snapshot, breaches = await record_exposure(store, "main", positions, limits, at=factories.NOW)
    assert snapshot.gross == Decimal(1100)
    assert [b.limit_name for b in breaches] == ["max_gross_exposure"]
    exposures = await store.list_exposure_snapshots("main")
    assert [(e.gross, e.net) for e in exposures] == [(Decimal(1100), Decimal(1100))]
    rows = await store.list_risk_breaches("main")
    assert [(r.limit_name, r.value, r.limit) for r in rows] == [
        ("max_gross_exposure", Decimal(1100), Decimal(1000))
    ]


async def test_pre_trade_check_reads_the_store(store: Any) -> None:
    """The hook built on the store counts stored positions and open orders."""
    await store.apply(
        "main",
        orders=[factories.make_order(id="b1", client_order_id="ai-b1", qty=Decimal(5))],
        positions=[factories.make_position(qty=Decimal(10), current_price=Decimal(110))],
        snapshot=factories.make_snapshot(),
    )
    check = make_pre_trade_check(store, RiskLimits(max_position_qty=Decimal(20)), account="main")
    await check(OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(5)))
    with pytest.raises(RiskLimitError) as info:
        await check(OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(6)))
    assert info.value.limit == "max_position_qty"
    assert "position would reach 21" in str(info.value)
