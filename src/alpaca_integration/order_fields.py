"""The order fields every comparer uses, named once.

Reconciliation (store vs broker), the store-vs-venue comparer (store vs the simulator's dump) and
the store's own dump all compare orders field by field. They used to carry four lists that drifted
apart (the venue comparer ignored ``type``, ``time_in_force``, the trail fields and every
timestamp). The groups below are the one list; each comparer picks the groups it promises.

Provider-neutral: imports only ``models``; never a store, the client or the simulator.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from decimal import Decimal

from alpaca_integration.models import Order

__all__ = [
    "ORDER_AMOUNT_FIELDS",
    "ORDER_COMPARED_FIELDS",
    "ORDER_DESCRIPTIVE_FIELDS",
    "ORDER_LINEAGE_FIELDS",
    "ORDER_REPAIRABLE_FIELDS",
    "ORDER_STATE_FIELDS",
    "ORDER_TIME_FIELDS",
    "normalize_order_value",
    "order_view",
]

# What the order is: set at submission, never changes (a replace makes a new order).
ORDER_DESCRIPTIVE_FIELDS: tuple[str, ...] = (
    "client_order_id",
    "symbol",
    "side",
    "type",
    "order_class",
    "time_in_force",
    "extended_hours",
)
# Where the order stands: moves forward as the venue works it.
ORDER_STATE_FIELDS: tuple[str, ...] = ("status",)
# Exact decimal amounts (quantities and prices); compared normalized (100 == 100.00).
ORDER_AMOUNT_FIELDS: tuple[str, ...] = (
    "qty",
    "notional",
    "filled_qty",
    "filled_avg_price",
    "limit_price",
    "stop_price",
    "trail_price",
    "trail_percent",
)
# Links between orders: legs to their parent, replacements to what they replaced.
ORDER_LINEAGE_FIELDS: tuple[str, ...] = ("parent_id", "replaces", "replaced_by")
# The venue's timestamps (UTC instants).
ORDER_TIME_FIELDS: tuple[str, ...] = (
    "created_at",
    "updated_at",
    "submitted_at",
    "filled_at",
    "expired_at",
    "canceled_at",
    "failed_at",
    "replaced_at",
)

# Every field the venue states about an order: what "the store equals the venue" compares.
ORDER_COMPARED_FIELDS: tuple[str, ...] = (
    *ORDER_DESCRIPTIVE_FIELDS,
    *ORDER_STATE_FIELDS,
    *ORDER_AMOUNT_FIELDS,
    *ORDER_LINEAGE_FIELDS,
    *ORDER_TIME_FIELDS,
)

# Fields whose difference reconciliation reports as drift and repairs from the broker's copy.
# Timestamps are left out on purpose: the broker's copy replaces the store's row whole, and a
# time-only difference (a later ``updated_at`` with nothing else changed) is not drift a desk
# acts on.
ORDER_REPAIRABLE_FIELDS: tuple[str, ...] = (
    *ORDER_STATE_FIELDS,
    *ORDER_AMOUNT_FIELDS,
    *ORDER_LINEAGE_FIELDS,
    "client_order_id",
    "symbol",
)

_AMOUNTS = frozenset(ORDER_AMOUNT_FIELDS)
_TIMES = frozenset(ORDER_TIME_FIELDS)


def normalize_order_value(name: str, value: object) -> object:
    """One field's value in comparable form, whatever side it came from (a model, a stored row
    or the venue's JSON): amounts as normalized Decimals, times as UTC datetimes, enums and text
    as their string value, empty strings as None; ``order_class`` defaults to ``simple``."""
    if value is None or value == "":
        return "simple" if name == "order_class" else None
    if name in _AMOUNTS:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        return number.normalize() if number else Decimal(0)
    if name in _TIMES:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if isinstance(value, dt.datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return aware.astimezone(dt.UTC)
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def order_view(
    order: Order | Mapping[str, object], fields: tuple[str, ...] = ORDER_COMPARED_FIELDS
) -> dict[str, object]:
    """``fields`` of an order (a model or a JSON-like mapping), each normalized for comparison."""
    if isinstance(order, Order):
        return {name: normalize_order_value(name, getattr(order, name)) for name in fields}
    return {name: normalize_order_value(name, order.get(name)) for name in fields}
