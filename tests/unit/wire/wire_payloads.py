"""Access to the payload files in tests/data for the wire tests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["DATA_DIR", "OBSERVED_AT", "SchemaErrors", "load_json", "payload", "utc"]

# (schema, document) -> {(json path, schema keyword)} of every violation
SchemaErrors = Callable[[dict[str, Any], Any], set[tuple[tuple[str | int, ...], str]]]

DATA_DIR = Path(__file__).resolve().parents[2] / "data"

# When the tests pretend to have fetched account/position snapshots.
OBSERVED_AT = dt.datetime(2024, 3, 15, 14, 0, tzinfo=dt.UTC)


def payload(name: str) -> bytes:
    """The verbatim bytes of tests/data/<name>."""
    return (DATA_DIR / name).read_bytes()


def load_json(name: str) -> Any:
    """tests/data/<name> decoded with the standard library (an independent reader)."""
    return json.loads(payload(name))


def utc(*parts: int) -> dt.datetime:
    """A UTC datetime from its parts, for expected values."""
    return dt.datetime(*parts, tzinfo=dt.UTC)
