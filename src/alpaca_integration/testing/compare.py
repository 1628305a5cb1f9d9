"""Compare the store with the venue: the check behind "the store equals the broker".

``compare_with_venue(await store_view(store, account), venue_dump)`` (``venue_dump`` is the
simulator's ``GET /_sim/accounts/{key}/dump``) gives the list of differences, one readable line
each; an empty list means equal on everything the venue states:

* every order (legs included) on every field of ``order_fields.ORDER_COMPARED_FIELDS``: what it
  is (side, type, class, time in force, extended hours), where it stands (status), its amounts
  (quantities, prices, trail), its links (parent, replaces, replaced_by) and every timestamp, as
  instants (``...Z``, ``+00:00`` and a datetime are the same);
* every execution exactly once, keyed ``(order_id, cum_qty)``, with its quantity, price and fee
  (the venue's fee is the sum of the FEE activities of that order at that transaction time);
* every position's signed quantity and average entry price; no position the venue does not have;
* cash.

``normalize_store_dump(dump)`` takes a ``Store.dump``-shaped mapping whose ``orders`` are order
models or field mappings; :func:`store_view` builds it from a store (orders from its models).

It lives in ``testing`` (beside the simulator's testing helpers and the demo) because its other
side is the simulator's dump: sync, which keeps the store, has no business knowing that shape.

Pure but for :func:`store_view` (which reads through the store's ``dump``/``list_orders``).
Imports ``models`` and ``order_fields`` only.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alpaca_integration.models import Order
from alpaca_integration.order_fields import ORDER_COMPARED_FIELDS, order_view

if TYPE_CHECKING:
    from alpaca_integration.storage import Store


__all__ = ["compare_with_venue", "normalize_store_dump", "normalize_venue_dump", "store_view"]


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    # 100 and 100.00000000 are the same amount: compare normalized values.
    return number.normalize() if number else Decimal(0)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(getattr(value, "value", value))
    return text or None


def _order_view(order: Order | Mapping[str, Any], parent_id: str | None) -> dict[str, Any]:
    """Every field the venue states about an order (``ORDER_COMPARED_FIELDS``), normalized; the
    parent is where the order sits in the venue's nesting, or the store's ``parent_id``."""
    view = order_view(order, ORDER_COMPARED_FIELDS)
    view["parent_id"] = parent_id
    return view


def _flatten_venue_orders(
    orders: Iterable[Mapping[str, Any]], parent_id: str | None = None
) -> Iterable[tuple[Mapping[str, Any], str | None]]:
    for order in orders:
        yield order, parent_id
        yield from _flatten_venue_orders(order.get("legs") or (), str(order["id"]))


def normalize_venue_dump(venue: Mapping[str, Any]) -> dict[str, Any]:
    """The simulator's dump in the comparable shape of ``normalize_store_dump``."""
    orders = {
        str(order["id"]): _order_view(order, parent)
        for order, parent in _flatten_venue_orders(venue.get("orders") or ())
    }
    activities = venue.get("activities") or ()
    fees: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for activity in activities:
        if activity.get("activity_type") == "FEE" and activity.get("order_id"):
            key = (str(activity["order_id"]), str(activity.get("transaction_time")))
            fees[key] += -(_dec(activity.get("net_amount")) or Decimal(0))
    fill_source = venue.get("fills")
    if fill_source is None:
        fill_source = [a for a in activities if a.get("activity_type") == "FILL"]
    fills: dict[tuple[str, Decimal | None], dict[str, Any]] = {}
    for fill in fill_source:
        fill_key = (str(fill["order_id"]), _dec(fill.get("cum_qty")))
        fee = fees.get((str(fill["order_id"]), str(fill.get("transaction_time"))), Decimal(0))
        fills[fill_key] = {
            "qty": _dec(fill.get("qty")),
            "price": _dec(fill.get("price")),
            "fee": _dec(fee),
            "side": _text(fill.get("side")),
        }
    positions = {}
    for position in venue.get("positions") or ():
        qty = _dec(position.get("qty")) or Decimal(0)
        if position.get("side") == "short" and qty > 0:
            qty = -qty
        positions[str(position["symbol"])] = {
            "qty": qty,
            "avg_entry_price": _dec(position.get("avg_entry_price")),
        }
    return {
        "orders": orders,
        "fills": fills,
        "positions": positions,
        "cash": _dec(venue.get("cash", (venue.get("account") or {}).get("cash"))),
    }


def normalize_store_dump(dump: Mapping[str, Any]) -> dict[str, Any]:
    """``Store.dump(account)`` in the comparable shape (keeps ``account`` for display)."""
    orders = {
        str(order_id): _order_view(
            order,
            order.parent_id if isinstance(order, Order) else order.get("parent_id"),
        )
        for order_id, order in (dump.get("orders") or {}).items()
    }
    fills: dict[tuple[str, Decimal | None], dict[str, Any]] = {}
    duplicates: list[tuple[str, Decimal | None]] = []
    for fill in dump.get("fills") or ():
        key = (str(fill["order_id"]), _dec(fill.get("cum_qty")))
        if key in fills:
            duplicates.append(key)
        fills[key] = {
            "qty": _dec(fill.get("qty")),
            "price": _dec(fill.get("price")),
            "fee": _dec(fill.get("fee")),
            "side": _text(fill.get("side")),
        }
    positions = {
        str(symbol): {
            "qty": _dec(position.get("qty")),
            "avg_entry_price": _dec(position.get("avg_entry_price")),
        }
        for symbol, position in (dump.get("positions") or {}).items()
        if _dec(position.get("qty"))
    }
    return {
        "account": dict(dump.get("account") or {}),
        "orders": orders,
        "fills": fills,
        "fill_rows": list(dump.get("fills") or ()),
        "duplicate_fills": duplicates,
        "positions": positions,
        "cash": _dec(dump.get("cash")),
    }


def _show(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return str(value)


def _diff_maps(
    what: str, store: Mapping[Any, Mapping[str, Any]], venue: Mapping[Any, Mapping[str, Any]]
) -> list[str]:
    out: list[str] = []
    for key in sorted(set(venue) - set(store), key=str):
        out.append(f"{what} {_show(key)}: at the venue, missing from the store")
    for key in sorted(set(store) - set(venue), key=str):
        out.append(f"{what} {_show(key)}: in the store, unknown to the venue")
    for key in sorted(set(store) & set(venue), key=str):
        mine, theirs = store[key], venue[key]
        for name in theirs:
            if mine.get(name) != theirs[name]:
                out.append(
                    f"{what} {_show(key)}: {name} is {_show(mine.get(name))} in the store, "
                    f"{_show(theirs[name])} at the venue"
                )
    return out


async def store_view(store: Store, account: str) -> dict[str, Any]:
    """The store's side of the comparison: ``Store.dump`` (its order rows carry every field the
    venue states, ``order_fields.ORDER_COMPARED_FIELDS``) in the comparable shape."""
    return normalize_store_dump(await store.dump(account))


def compare_with_venue(store_view: Mapping[str, Any], venue_dump: Mapping[str, Any]) -> list[str]:
    """Every difference between the store (``normalize_store_dump``) and the venue's dump."""
    if "fill_rows" not in store_view:
        store_view = normalize_store_dump(store_view)
    venue = normalize_venue_dump(venue_dump)
    out = [
        f"fill {_show(key)}: stored more than once" for key in store_view.get("duplicate_fills", ())
    ]
    out += _diff_maps("order", store_view["orders"], venue["orders"])
    out += _diff_maps("fill", store_view["fills"], venue["fills"])
    out += _diff_maps("position", store_view["positions"], venue["positions"])
    if store_view.get("cash") != venue["cash"]:
        out.append(f"cash is {store_view.get('cash')} in the store, {venue['cash']} at the venue")
    return out
