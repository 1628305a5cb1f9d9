"""The correctness tables: stream gaps, quality results, quarantine, reconciliation, risk."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest

from alpaca_integration.checks.exposure import ExposureSnapshot, RiskBreach
from alpaca_integration.errors import StorageError
from alpaca_integration.storage import Store
from support.storage_builders import at


@dataclass(frozen=True)
class _Finding:
    kind: str
    subject: str
    difference: str
    decision: str
    detail: str = ""


@dataclass(frozen=True)
class _QualityResult:
    run_id: str
    rule: str
    account: str
    subject: str
    severity: str
    detail: str
    created_at: dt.datetime | None = None


async def test_stream_gaps_are_recorded_and_closed(store: Store) -> None:
    """A gap opens with its start and reason, and closes with its end, closer and recovery."""
    gap_id = await store.insert_stream_gap("default", gap_from=at(0), reason="disconnect")
    closed_id = await store.insert_stream_gap(
        "default",
        gap_from=at(100),
        gap_to=at(130),
        reason="silence",
        closed_by="rest_catchup",
        rows_recovered=4,
    )
    assert [g.id for g in await store.list_stream_gaps("default", open_only=True)] == [gap_id]
    await store.close_stream_gap(gap_id, gap_to=at(20), closed_by="rest_catchup", rows_recovered=2)
    gaps = await store.list_stream_gaps("default")
    assert [(g.id, g.gap_to, g.closed_by, g.rows_recovered) for g in gaps] == [
        (gap_id, at(20), "rest_catchup", 2),
        (closed_id, at(130), "rest_catchup", 4),
    ]
    with pytest.raises(StorageError, match="no stream gap"):
        await store.close_stream_gap(987654, gap_to=at(1), closed_by="x")


async def test_quality_results_are_rows_per_run(store: Store) -> None:
    """Findings of one run are written and read back by run, rule and severity."""
    results = [
        _QualityResult("dq-1", "fill_without_order", "default", "o-9", "error", "no order o-9"),
        _QualityResult("dq-1", "stale_snapshot", "default", "account", "warning", "old"),
    ]
    assert await store.insert_quality_results(results) == 2
    assert await store.insert_quality_results([]) == 0
    rows = await store.list_quality_results("default", run_id="dq-1")
    assert [(r.rule, r.subject, r.detail) for r in rows] == [
        ("fill_without_order", "o-9", "no order o-9"),
        ("stale_snapshot", "account", "old"),
    ]
    assert [r.rule for r in await store.list_quality_results("default", severity="error")] == [
        "fill_without_order"
    ]


async def test_a_quality_result_keeps_the_time_it_was_found(store: Store) -> None:
    """A result's own created_at is stored; one without it is stamped with the write time."""
    found = _QualityResult("dq-2", "stale_snapshot", "default", "account", "warning", "old", at(7))
    assert await store.insert_quality_results([found]) == 1
    [row] = await store.list_quality_results("default", run_id="dq-2")
    assert row.created_at == at(7)


async def test_quarantine_keeps_raw_bytes_verbatim_once(store: Store) -> None:
    """Any bytes (even invalid UTF-8) are kept as given; the same record twice is one row."""
    raw = b'{"id": "bad", "status": "exploded"}\xff\x00'
    bad_order = {"record_kind": "order", "record_key": "bad", "reason": "unknown status"}
    first = await store.insert_quarantine("default", **bad_order, raw=raw, source="rest")
    again = await store.insert_quarantine("default", **bad_order, raw=raw, source="rest")
    keyless = await store.insert_quarantine(
        "default",
        record_kind="order_page",
        record_key=None,
        reason="not a list",
        raw=b"{}",
        source="rest",
    )
    assert (first, again, keyless) == (True, False, True)
    rows = await store.list_quarantine("default")
    assert next((r.record_key, r.raw) for r in rows) == ("bad", raw)
    assert rows[1].record_key.startswith("sha256:")


async def test_a_reconciliation_run_with_its_items(store: Store) -> None:
    """A run opens, gets one item per finding, and closes with its summary."""
    run_id = await store.start_reconciliation_run("default", dry_run=True, started_at=at(0))
    findings = [
        _Finding("order_missing", "o-7", "absent from the store", "would_inserted"),
        _Finding("cash_drift", "cash", "cash 1 -> 2", "would_snapshot_recorded", "tolerance 0.01"),
    ]
    assert await store.add_reconciliation_items(run_id, "default", findings) == 2
    await store.finish_reconciliation_run(run_id, finished_at=at(3), summary="dry run: 2 findings")
    [run] = await store.list_reconciliation_runs("default")
    assert (run.id, run.dry_run, run.finished_at, run.summary) == (
        run_id,
        True,
        at(3),
        "dry run: 2 findings",
    )
    items = await store.list_reconciliation_items(run_id)
    assert [(i.kind, i.subject, i.decision, i.detail) for i in items] == [
        ("order_missing", "o-7", "would_inserted", ""),
        ("cash_drift", "cash", "would_snapshot_recorded", "tolerance 0.01"),
    ]


async def test_exposure_snapshots_and_risk_breaches(store: Store) -> None:
    """Exposure keeps exact decimals per symbol; breaches keep value and limit."""
    exposure = ExposureSnapshot(
        account="default",
        at=at(0),
        gross=Decimal("1100.50"),
        net=Decimal("-200.25"),
        long=Decimal("450.125"),
        short=Decimal("650.375"),
        per_symbol={"AAPL": Decimal("450.125"), "TSLA": Decimal("-650.375")},
        quantities={"AAPL": Decimal("2.5"), "TSLA": Decimal(-3)},
        unpriced=("XYZ",),
    )
    assert await store.insert_exposure_snapshot(exposure) is True
    assert await store.insert_exposure_snapshot(exposure) is False
    latest = await store.latest_exposure("default")
    assert latest is not None
    assert (latest.gross, latest.net, latest.per_symbol, latest.quantities, latest.unpriced) == (
        Decimal("1100.5"),
        Decimal("-200.25"),
        exposure.per_symbol,
        exposure.quantities,
        ("XYZ",),
    )
    breach = RiskBreach(
        account="default",
        at=at(0),
        limit_name="max_gross_exposure",
        subject="account",
        value=Decimal("1100.5"),
        limit=Decimal(1000),
        detail="over",
    )
    assert await store.insert_risk_breaches([breach]) == 1
    [row] = await store.list_risk_breaches("default")
    assert (row.limit_name, row.value, row.limit, row.detail) == (
        "max_gross_exposure",
        Decimal("1100.5"),
        Decimal(1000),
        "over",
    )
