"""Fuzz (bounded): hostile order pages through the page splitter never crash it, every bad item is
quarantined with its own bytes, every good item is kept."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings

from alpaca_integration.alpaca.parse import parse_order
from alpaca_integration.quality import split_page
from support.hostile_payloads import order_pages

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order_pages())
def test_hostile_pages_split_exactly(page: list[tuple[bytes, bool, str | None]]) -> None:
    """Each item ends up kept or quarantined exactly once, as its construction says."""
    body = b"[" + b",".join(raw for raw, _, _ in page) + b"]"
    split = split_page(body, parse_order, kind="order", now=NOW)
    expected_good = [key for _, good, key in page if good]
    assert [order.id for order in split.good] == expected_good
    bad = [(raw, key) for raw, good, key in page if not good]
    assert len(split.quarantined) == len(bad)
    for record, (raw, key) in zip(split.quarantined, bad, strict=True):
        assert record.raw == raw
        assert record.reason
        if key is not None:
            assert record.record_key == key


@settings(max_examples=50, deadline=None)
@given(order_pages())
def test_truncated_body_is_quarantined_whole(page: list[tuple[bytes, bool, str | None]]) -> None:
    """A body cut mid-way is one quarantined page record, never an exception."""
    body = b"[" + b",".join(raw for raw, _, _ in page) + b"]"
    cut = body[: max(1, len(body) // 2)]
    split = split_page(cut, parse_order, kind="order", now=NOW)
    assert split.good == []
    assert [(q.record_kind, q.raw) for q in split.quarantined] == [("order_page", cut)]
