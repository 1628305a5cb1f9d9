"""Data quality: validation before storage, quarantine, and quality rules over the store.

Two halves:

* **Validation before storage** lives in :mod:`alpaca_integration.sync.validation` (sync runs it
  on every record and must not import the checks); its names are re-exported here.
* **Quality rules over the store** (:func:`run_rules`, ``alpacactl dq``): SQL over the storage
  tables, one :class:`QualityResult` row per finding, written to ``quality_results``.

This module imports ``models`` and ``sync.validation``; it never imports the client, the
simulator, the flows or the CLI.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec

from alpaca_integration.models import AccountSnapshot, Fill, Order, OrderStatus, Position
from alpaca_integration.sync.validation import (
    DEFAULT_MAX_SKEW,
    MAX_MAGNITUDE,
    PageSplit,
    Quarantined,
    Record,
    record_key,
    record_kind,
    screen,
    split_page,
    validate_activity,
    validate_fill,
    validate_order,
    validate_position,
    validate_record,
    validate_snapshot,
    validate_trade_update,
)

__all__ = [
    "DEFAULT_MAX_SKEW",
    "MAX_MAGNITUDE",
    "RULES",
    "SEVERITY_ERROR",
    "SEVERITY_WARNING",
    "PageSplit",
    "QualityResult",
    "Quarantined",
    "Record",
    "StoreState",
    "evaluate_rules",
    "load_state",
    "record_key",
    "record_kind",
    "run_rules",
    "screen",
    "split_page",
    "validate_activity",
    "validate_fill",
    "validate_order",
    "validate_position",
    "validate_record",
    "validate_snapshot",
    "validate_trade_update",
]

_ZERO = Decimal(0)


def _require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("validation needs a timezone-aware 'now' (UTC)")


# --------------------------------------------------------------------------- quality rules

SEVERITY_ERROR = "error"
SEVERITY_WARNING = "warning"


class QualityResult(msgspec.Struct, frozen=True, kw_only=True):
    """One finding of a quality rule (a row of ``quality_results``)."""

    rule: str
    account: str
    subject: str
    severity: str
    detail: str
    created_at: dt.datetime
    run_id: str = ""

    def as_row(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "rule": self.rule,
            "account": self.account,
            "subject": self.subject,
            "severity": self.severity,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
        }


class StoreState(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules read of one account: every stored order (legs flattened), fill, current
    position and the latest account snapshot, plus whether the fill history is complete (a full
    activities backfill has run: the ``activities`` checkpoint exists)."""

    account: str
    orders: tuple[Order, ...] = ()
    fills: tuple[Fill, ...] = ()
    positions: tuple[Position, ...] = ()
    snapshot: AccountSnapshot | None = None
    fill_history_complete: bool = False


RULES = (
    "fill_without_order",
    "order_fill_qty_mismatch",
    "position_fill_mismatch",
    "equity_mismatch",
    "negative_cash_on_cash_account",
    "stale_snapshot",
    "orphaned_leg",
    "unbalanced_legs",
    "duplicate_client_order_id",
)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def evaluate_rules(
    state: StoreState,
    *,
    now: dt.datetime,
    update_interval: dt.timedelta = dt.timedelta(seconds=60),
    equity_tolerance: Decimal = Decimal("0.01"),
) -> list[QualityResult]:
    """Every rule over one account's stored state; pure. The rules, by name:

    * ``fill_without_order``: a fill whose order is not in the store.
    * ``order_fill_qty_mismatch``: an order's filled_qty differs from the sum of its fills.
    * ``position_fill_mismatch``: a position differs from the signed sum of the symbol's fills
      (checked only when the fill history is complete; with complete history the sum of all
      fills equals the sum since the position was last flat).
    * ``equity_mismatch``: equity differs from cash + long market value - |short market value|
      by more than ``equity_tolerance``.
    * ``negative_cash_on_cash_account``: cash below zero on a cash account (multiplier 1).
    * ``stale_snapshot``: no snapshot, or the latest older than three update intervals.
    * ``orphaned_leg``: a leg whose parent order is not in the store.
    * ``unbalanced_legs``: a bracket without exactly two legs, an OCO/OTO without exactly one,
      both exits of one bracket/OCO filled, or legs still open under an entry that died unfilled.
    * ``duplicate_client_order_id``: one client_order_id on several orders.
    """
    _require_aware(now)
    account = state.account
    out: list[QualityResult] = []

    def add(rule: str, subject: str, severity: str, detail: str) -> None:
        out.append(
            QualityResult(
                rule=rule,
                account=account,
                subject=subject,
                severity=severity,
                detail=detail,
                created_at=now,
            )
        )

    orders: dict[str, Order] = {}
    for order in state.orders:
        for one in order.flatten():
            orders[one.id] = one
    fills_by_order: dict[str, list[Fill]] = {}
    for fill in state.fills:
        fills_by_order.setdefault(fill.order_id, []).append(fill)

    for order_id in sorted(set(fills_by_order) - set(orders)):
        fills = fills_by_order[order_id]
        add(
            "fill_without_order",
            order_id,
            SEVERITY_ERROR,
            f"{len(fills)} fill(s) ({', '.join(sorted(f.fill_id for f in fills))}) reference order "
            f"{order_id}, which is not in the store",
        )

    for order_id in sorted(orders):
        order = orders[order_id]
        fills = fills_by_order.get(order_id, [])
        total = sum((f.qty for f in fills), _ZERO)
        if total != order.filled_qty:
            add(
                "order_fill_qty_mismatch",
                order_id,
                SEVERITY_ERROR,
                f"filled_qty {_num(order.filled_qty)} but its {len(fills)} fill(s) sum to "
                f"{_num(total)}",
            )

    if state.fill_history_complete:
        signed: dict[str, Decimal] = {}
        for fill in state.fills:
            delta = fill.qty if fill.side.value == "buy" else -fill.qty
            signed[fill.symbol] = signed.get(fill.symbol, _ZERO) + delta
        held = {p.symbol: p.qty for p in state.positions}
        for symbol in sorted(set(signed) | set(held)):
            position = held.get(symbol, _ZERO)
            from_fills = signed.get(symbol, _ZERO)
            if position != from_fills:
                add(
                    "position_fill_mismatch",
                    symbol,
                    SEVERITY_ERROR,
                    f"position {_num(position)} but the signed sum of fills is {_num(from_fills)}",
                )

    snapshot = state.snapshot
    if snapshot is None:
        add("stale_snapshot", "account", SEVERITY_WARNING, "no account snapshot in the store")
    else:
        expected = snapshot.cash + snapshot.long_market_value - abs(snapshot.short_market_value)
        if abs(snapshot.equity - expected) > equity_tolerance:
            add(
                "equity_mismatch",
                "account",
                SEVERITY_ERROR,
                f"equity {_num(snapshot.equity)} but cash {_num(snapshot.cash)} + long "
                f"{_num(snapshot.long_market_value)} - short "
                f"{_num(abs(snapshot.short_market_value))} = {_num(expected)} (tolerance "
                f"{_num(equity_tolerance)})",
            )
        if snapshot.multiplier == 1 and snapshot.cash < 0:
            add(
                "negative_cash_on_cash_account",
                "account",
                SEVERITY_ERROR,
                f"cash {_num(snapshot.cash)} on a cash account (multiplier 1)",
            )
        age = now - snapshot.observed_at
        if age > 3 * update_interval:
            add(
                "stale_snapshot",
                "account",
                SEVERITY_WARNING,
                f"latest snapshot is {age.total_seconds():.0f}s old, more than three update "
                f"intervals ({3 * update_interval.total_seconds():.0f}s)",
            )

    legs_by_parent: dict[str, list[Order]] = {}
    for order in orders.values():
        if order.parent_id is None:
            continue
        if order.parent_id not in orders:
            add(
                "orphaned_leg",
                order.id,
                SEVERITY_ERROR,
                f"leg of parent {order.parent_id}, which is not in the store",
            )
        else:
            legs_by_parent.setdefault(order.parent_id, []).append(order)
    expected_legs = {"bracket": 2, "oco": 1, "oto": 1}
    dead = {OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
    for order_id in sorted(orders):
        parent = orders[order_id]
        want = expected_legs.get(parent.order_class.value)
        if want is None or parent.parent_id is not None:
            continue
        legs = legs_by_parent.get(order_id, [])
        if len(legs) != want:
            add(
                "unbalanced_legs",
                order_id,
                SEVERITY_ERROR,
                f"{parent.order_class.value} order with {len(legs)} leg(s), expected {want}",
            )
        exits = legs if parent.order_class.value == "bracket" else [parent, *legs]
        filled_exits = [o.id for o in exits if o.status is OrderStatus.FILLED]
        if parent.order_class.value != "oto" and len(filled_exits) > 1:
            add(
                "unbalanced_legs",
                order_id,
                SEVERITY_ERROR,
                f"both exits filled ({', '.join(sorted(filled_exits))}): one should have been "
                "canceled",
            )
        if (
            parent.order_class.value in ("bracket", "oto")
            and parent.status in dead
            and parent.filled_qty == 0
        ):
            still_open = sorted(o.id for o in legs if o.status.is_open)
            if still_open:
                add(
                    "unbalanced_legs",
                    order_id,
                    SEVERITY_ERROR,
                    f"entry {parent.status.value} unfilled but leg(s) {', '.join(still_open)} "
                    "are still open",
                )

    by_client_id: dict[str, list[str]] = {}
    for order in orders.values():
        if order.client_order_id:
            by_client_id.setdefault(order.client_order_id, []).append(order.id)
    for client_order_id in sorted(by_client_id):
        ids = by_client_id[client_order_id]
        if len(ids) > 1:
            add(
                "duplicate_client_order_id",
                client_order_id,
                SEVERITY_ERROR,
                f"client_order_id used by {len(ids)} orders: {', '.join(sorted(ids))}",
            )
    return out


async def load_state(store: Any, account: str) -> StoreState:
    """Read what the rules need of one account from the store."""
    orders = tuple(await store.list_orders(account))
    fills = tuple(await store.list_fills(account))
    positions = tuple(await store.positions(account))
    snapshot = await store.latest_snapshot(account)
    checkpoint = await store.get_checkpoint(account, "activities")
    return StoreState(
        account=account,
        orders=orders,
        fills=fills,
        positions=positions,
        snapshot=snapshot,
        fill_history_complete=checkpoint is not None,
    )


async def run_rules(
    store: Any,
    account: str,
    *,
    now: dt.datetime,
    update_interval: dt.timedelta = dt.timedelta(seconds=60),
    equity_tolerance: Decimal = Decimal("0.01"),
    save: bool = True,
) -> list[QualityResult]:
    """Run every rule over one account's stored state; write the results to ``quality_results``
    under one run id (unless ``save`` is false) and return them (the flows log them)."""
    state = await load_state(store, account)
    results = evaluate_rules(
        state, now=now, update_interval=update_interval, equity_tolerance=equity_tolerance
    )
    run_id = f"dq-{account}-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
    results = [msgspec.structs.replace(r, run_id=run_id) for r in results]
    if save and results:
        await store.insert_quality_results(results)
    return results
