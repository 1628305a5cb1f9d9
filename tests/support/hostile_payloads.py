"""Hypothesis strategies for order pages mixing valid items with malformed and hostile ones.

Each generated item is ``(raw_bytes, expected_good, key)``: whether ingestion must keep it, and the
order id it carries (None when it has none)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

__all__ = ["BASE_ORDERS", "order_pages"]

_DATA = Path(__file__).resolve().parents[1] / "data" / "http_get_v2_orders.json"
BASE_ORDERS: list[dict[str, Any]] = [
    order for order in json.loads(_DATA.read_text()) if order.get("order_class") != "mleg"
]

# field -> hostile values that make the item bad (parse error or failed validation)
_BAD_VALUES: dict[str, list[Any]] = {
    "status": ["teleported", "", None, 7, "FILLED!"],
    "qty": ["-5", "0", "NaN", "Infinity", "abc", "1e99999999999", [], {"$gt": 1}],
    "limit_price": ["-1", "0", "sNaN"],
    "created_at": ["2999-01-01T00:00:00Z", "yesterday", "", None, 12],
    "side": ["sideways", 3],
    "id": ["", None],
    "time_in_force": ["forever"],
    "filled_avg_price": ["-187.42", "NaN"],
}
# mutations that keep an item valid (ignored extras, numbers as JSON numbers, odd but legal text)
_HARMLESS: list[tuple[str, Any]] = [
    ("x_unknown_field", {"nested": ["deep", 1]}),
    ("source", "'; drop table orders; --"),
    ("subtag", "\u202e\u0000evil\ud7ff"),
    ("client_order_id", "ai-" + "x" * 120),
]


def _valid(index: int, unique: int) -> dict[str, Any]:
    order = copy.deepcopy(BASE_ORDERS[index % len(BASE_ORDERS)])
    order["id"] = f"fuzz-{unique}"
    for n, leg in enumerate(order.get("legs") or []):
        leg["id"] = f"fuzz-{unique}-leg{n}"
    return order


@st.composite
def _item(draw: st.DrawFn, unique: int) -> tuple[bytes, bool, str | None]:
    order = _valid(draw(st.integers(0, 100)), unique)
    kind = draw(st.sampled_from(["good", "harmless", "bad_field", "not_an_object", "garbage"]))
    if kind == "good":
        return json.dumps(order).encode(), True, order["id"]
    if kind == "harmless":
        name, value = draw(st.sampled_from(_HARMLESS))
        order[name] = value
        if name == "client_order_id":
            return json.dumps(order).encode(), True, order["id"]
        return json.dumps(order).encode(), True, order["id"]
    if kind == "bad_field":
        name = draw(st.sampled_from(sorted(_BAD_VALUES)))
        order[name] = draw(st.sampled_from(_BAD_VALUES[name]))
        if name == "filled_avg_price" and order.get("filled_qty") in ("0", None):
            order["filled_qty"] = order.get("qty") or "1"
            order["status"] = "filled"
        key = order["id"] if isinstance(order.get("id"), str) and order["id"] else None
        return json.dumps(order).encode(), False, key
    if kind == "not_an_object":
        value = draw(st.sampled_from([1, "order", None, [], [1, 2], True, 1.5e308]))
        return json.dumps(value).encode(), False, None
    # garbage inside valid JSON: deeply nested lists
    depth = draw(st.integers(1, 50))
    return ("[" * depth + "]" * depth).encode(), False, None


@st.composite
def order_pages(draw: st.DrawFn) -> list[tuple[bytes, bool, str | None]]:
    """A page of 0..12 items, each valid or hostile, with unique order ids."""
    size = draw(st.integers(0, 12))
    base = draw(st.integers(0, 10**6)) * 100
    return [draw(_item(base + n)) for n in range(size)]
