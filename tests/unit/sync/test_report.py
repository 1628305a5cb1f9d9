"""SyncReport: counters add up on merge, rows_changed counts changed rows, counts() names them."""

from __future__ import annotations

import datetime as dt

from alpaca_integration.sync.report import SYNC_COUNTS, SyncReport


def _report(start: int) -> SyncReport:
    report = SyncReport(account="paper")
    for offset, name in enumerate(SYNC_COUNTS):
        setattr(report, name, start + offset)
    return report


def test_merge_adds_every_counter_and_keeps_the_newest_finish() -> None:
    finished = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)
    other = _report(10)
    other.finished_at = finished
    merged = _report(1).merge(other)
    assert merged.counts() == {name: 11 + 2 * i for i, name in enumerate(SYNC_COUNTS)}
    assert merged.finished_at == finished
    assert merged.merge(SyncReport(account="paper")).finished_at == finished


def test_rows_changed_counts_changed_rows_not_seen_orders_or_quarantine() -> None:
    report = SyncReport(
        account="paper",
        orders_seen=100,
        orders_changed=1,
        fills_changed=2,
        activities_changed=3,
        positions_changed=4,
        fees_attached=5,
        quarantined=50,
    )
    assert report.rows_changed == 15


def test_counts_lists_the_counters_in_summary_order() -> None:
    report = SyncReport(account="paper", orders_seen=3, quarantined=1)
    assert tuple(report.counts()) == SYNC_COUNTS
    assert set(SYNC_COUNTS) == {
        name for name, value in vars(report).items() if isinstance(value, int)
    }
    assert report.counts()["orders_seen"] == 3
    assert report.counts()["quarantined"] == 1
