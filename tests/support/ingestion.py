"""A REST page taken in the way production does it, for the ingestion fuzzers: the client's page
splitter (``paging.split_page_items``), then the sync engine's screen (``quality.screen``) over the
parsed orders, legs as rows of their own."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import msgspec

from alpaca_integration.alpaca.paging import BadItem, split_page_items
from alpaca_integration.models import Order
from alpaca_integration.quality import screen

__all__ = ["IngestedPage", "Refused", "ingest_order_page"]


@dataclass(frozen=True)
class Refused:
    """One quarantined record, in the shape the store's ``insert_quarantine`` takes."""

    record_kind: str
    record_key: str | None
    reason: str
    raw: bytes
    source: str = "rest"


@dataclass(frozen=True)
class IngestedPage:
    """The orders to store (legs flattened) and the records to quarantine."""

    good: list[Order]
    quarantined: list[Refused]


def ingest_order_page(body: bytes, now: dt.datetime) -> IngestedPage:
    """Split an orders page as the client does (``ParseError`` when it is not a JSON list), then
    screen the parsed orders as the sync engine does."""
    entries = split_page_items(body, "order")
    refused = [
        Refused(entry.kind, entry.key, entry.reason, entry.raw)
        for entry in entries
        if isinstance(entry, BadItem)
    ]
    rows = [
        msgspec.structs.replace(one, legs=())
        for entry in entries
        if isinstance(entry, Order)
        for one in entry.flatten()
    ]
    screened = screen(rows, now, source="rest")
    refused += [
        Refused(q.record_kind, q.record_key, q.reason, q.raw, q.source)
        for q in screened.quarantined
    ]
    return IngestedPage(good=screened.good, quarantined=refused)
