"""Fuzz (bounded): hostile order pages through what production runs (the client's page splitter,
``paging.split_page_items``, then the sync engine's screen, ``quality.screen``) never crash it,
every bad item is quarantined with its own bytes, every good item is kept."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings

from alpaca_integration.alpaca.paging import split_page_items
from alpaca_integration.errors import ParseError
from support.hostile_payloads import order_pages
from support.ingestion import ingest_order_page

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order_pages())
def test_hostile_pages_split_exactly(page: list[tuple[bytes, bool, str | None]]) -> None:
    """Each item ends up kept or quarantined exactly once, as its construction says."""
    body = b"[" + b",".join(raw for raw, _, _ in page) + b"]"
    ingested = ingest_order_page(body, NOW)
    kept = ingested.good
    quarantined = [(record.raw, record.record_key) for record in ingested.quarantined]
    assert [order.id for order in kept if order.parent_id is None] == [
        key for _, good, key in page if good
    ]
    for raw, good, key in page:
        if good:  # a good order's legs are kept too, each as a row of its own
            legs = json.loads(raw).get("legs") or []
            assert sorted(o.id for o in kept if o.parent_id == key) == sorted(
                leg["id"] for leg in legs
            )
    bad = [(raw, key) for raw, good, key in page if not good]
    assert len(quarantined) == len(bad)
    assert sorted(raw for raw, _ in quarantined) == sorted(raw for raw, _ in bad)
    for raw, key in bad:
        if key is not None:
            assert (raw, key) in quarantined


@settings(max_examples=50, deadline=None)
@given(order_pages())
def test_truncated_body_refuses_the_page(page: list[tuple[bytes, bool, str | None]]) -> None:
    """A body cut mid-way is not a list: the whole page is refused with ParseError (there is
    nothing to keep and nothing to page on), never another exception."""
    body = b"[" + b",".join(raw for raw, _, _ in page) + b"]"
    cut = body[: max(1, len(body) // 2)]
    with pytest.raises(ParseError):
        split_page_items(cut, "order")
