"""Pure helpers of the sync engine: joining fees to fills, deriving a position from a fill event,
choosing checkpoints. No I/O, no clock reads: everything here is a function of its arguments.

The fee join rule (documented in docs/monitoring.md):

* A FEE activity belongs to the execution whose FILL activity has the same ``order_id`` and the
  same ``transaction_time`` (the simulator guarantees both; so does Alpaca for per-execution
  regulatory fees when it reports them with an ``order_id``).
* Several FEE activities on one execution add up (``Fill.fee`` is the total, a positive cost);
  a FEE with status ``canceled`` charges nothing.
* A FEE whose FILL is not in the same page is attached later by ``(order_id, transaction_time)``
  (``FeeAttachment``), which the store applies idempotently.
* Fallback: a FEE with no ``order_id`` or no ``transaction_time`` (Alpaca may post regulatory fees
  aggregated, at the end of the day) is kept only as a non-trade activity; the fill's fee stays 0,
  and cash is still right because the activity carries the ``net_amount``.

Imports only ``models`` from the package.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from alpaca_integration.models import (
    Activity,
    Fill,
    Order,
    Position,
    PositionSide,
    TradeUpdate,
)

__all__ = [
    "FeeAttachment",
    "JoinedPage",
    "join_fees",
    "max_submitted_at",
    "position_after_fill",
]

_ZERO = Decimal(0)
# The venue reports avg_entry_price with at most 10 decimals (the spec only says "string";
# recorded Alpaca responses have fewer, and the simulator rounds its averages to 1E-10, half to
# even, as Python's default context does). An average kept to 28 digits would never equal the
# venue's, and reconciliation would report drift on every position the stream derived.
_AVG_ENTRY_QUANTUM = Decimal("1E-10")


@dataclass(frozen=True, slots=True)
class FeeAttachment:
    """A fee to add to an execution stored earlier, found by ``(order_id, transaction_time)``."""

    order_id: str
    transaction_time: dt.datetime
    amount: Decimal


@dataclass(frozen=True, slots=True)
class JoinedPage:
    """One activities page after the fee join."""

    fills: list[Fill]
    activities: list[Activity]
    fee_attachments: list[FeeAttachment]


def _fee_key(activity: Activity) -> tuple[str, dt.datetime] | None:
    if activity.activity_type.upper() != "FEE":
        return None
    if activity.order_id is None or activity.transaction_time is None:
        return None
    return activity.order_id, activity.transaction_time


def join_fees(items: Iterable[Fill | Activity]) -> JoinedPage:
    """Split an activities page into fills (with their fees added) and non-trade activities.

    Every activity stays in ``activities`` (FEE included: it is the cash record). A fee whose fill
    is not on this page becomes a ``FeeAttachment``.
    """
    fills: list[Fill] = []
    activities: list[Activity] = []
    fees: dict[tuple[str, dt.datetime], Decimal] = defaultdict(Decimal)
    for item in items:
        if isinstance(item, Fill):
            fills.append(item)
            continue
        activities.append(item)
        if (item.status or "").lower() == "canceled":
            # A canceled FEE was reversed by the venue: it stays a record, but costs nothing.
            continue
        key = _fee_key(item)
        if key is not None and item.net_amount is not None:
            # net_amount is negative for a charge; Fill.fee is the positive cost.
            fees[key] += -item.net_amount
    joined: list[Fill] = []
    for fill in fills:
        amount = fees.pop((fill.order_id, fill.timestamp), None)
        joined.append(fill if amount is None else msgspec.structs.replace(fill, fee=amount))
    attachments = [
        FeeAttachment(order_id=order_id, transaction_time=at, amount=amount)
        for (order_id, at), amount in fees.items()
    ]
    return JoinedPage(fills=joined, activities=activities, fee_attachments=attachments)


def max_submitted_at(orders: Sequence[Order], current: dt.datetime | None) -> dt.datetime | None:
    """The newest paging time (``submitted_at``, else ``created_at``) among the top-level
    ``orders`` and ``current``.

    Legs are left out on purpose: the venue pages top-level orders by their own time, so a leg
    submitted long after its parent would move the checkpoint past top-level orders not fetched
    yet, and an interrupted sync would then skip them for good.
    """
    best = current
    for order in orders:
        at = order.submitted_at or order.created_at
        if best is None or at > best:
            best = at
    return best


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def position_after_fill(
    previous: Position | None, update: TradeUpdate, observed_at: dt.datetime
) -> tuple[str, Position | None] | None:
    """The position a fill event leaves behind, as ``(symbol, position or None when flat)``.

    ``None`` when the event is not a fill or lacks ``position_qty``. The average entry price
    follows the usual rule: adding to a position averages in the fill's price (rounded to 10
    decimals, as the venue reports it), reducing keeps it, crossing zero restarts at the fill's
    price. When the previous position does not add up with the
    fill (an event was missed), the quantity still comes from the venue's ``position_qty`` and the
    average is a best effort until the next REST account sync replaces it.
    """
    if not update.event.is_fill or update.position_qty is None:
        return None
    if update.price is None or update.qty is None:
        return None
    order = update.order
    symbol = order.symbol
    new_qty = update.position_qty
    if new_qty == 0:
        return symbol, None
    price = update.price
    prev_qty = previous.qty if previous is not None else _ZERO
    prev_avg = previous.avg_entry_price if previous is not None else price
    if _sign(prev_qty) != _sign(new_qty):
        avg = price
    elif abs(new_qty) > abs(prev_qty):
        added = abs(new_qty) - abs(prev_qty)
        total = abs(prev_qty) * prev_avg + added * price
        avg = (total / abs(new_qty)).quantize(_AVG_ENTRY_QUANTUM, rounding=ROUND_HALF_EVEN)
    else:
        avg = prev_avg
    side = PositionSide.LONG if new_qty > 0 else PositionSide.SHORT
    cost_basis = abs(new_qty) * avg
    if side is PositionSide.SHORT:
        cost_basis = -cost_basis
    position = Position(
        symbol=symbol,
        asset_id=order.asset_id if previous is None else previous.asset_id,
        asset_class=order.asset_class,
        exchange=previous.exchange if previous is not None else None,
        side=side,
        qty=new_qty,
        qty_available=None,
        avg_entry_price=avg,
        market_value=new_qty * price,
        cost_basis=cost_basis,
        unrealized_pl=(price - avg) * new_qty,
        unrealized_plpc=None,
        unrealized_intraday_pl=None,
        unrealized_intraday_plpc=None,
        current_price=price,
        lastday_price=previous.lastday_price if previous is not None else None,
        change_today=None,
        observed_at=observed_at,
    )
    return symbol, position
