"""Reconciliation's comparisons: pure functions from the store's and the broker's records to
:class:`Finding` rows and the records to write. ``checks.reconcile`` runs them against a live
client and store; see its docstring for what is repaired and how.

* :func:`diff_orders`: missing orders, drift in the repairable fields
  (``order_fields.ORDER_REPAIRABLE_FIELDS``), orders unknown to the broker, external flags.
* :func:`diff_fills`: broker FILL activities the store lacks.
* :func:`infer_missing_fill`: the execution that explains an order's cumulative ``filled_qty``.
* :func:`diff_positions`: positions missing, extra or different in quantity or average price.
* :func:`external_order_ids` / :func:`is_integration_order`: which orders this integration placed
  (client_order_id prefix ``"ai-"``; a leg belongs to its root; a replacement to what it replaced).

Imports ``models`` and ``order_fields`` only: no I/O, never the store, the client, sync, the flows
or the CLI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import msgspec

from alpaca_integration.models import (
    INTEGRATION_PREFIX,
    DataSource,
    Fill,
    FillType,
    Order,
    Position,
)
from alpaca_integration.order_fields import ORDER_REPAIRABLE_FIELDS

__all__ = [
    "INTEGRATION_PREFIX",
    "Finding",
    "diff_fills",
    "diff_orders",
    "diff_positions",
    "external_order_ids",
    "flatten_orders",
    "fmt_value",
    "infer_missing_fill",
    "is_integration_order",
]


_ZERO = Decimal(0)
# Inferred prices keep more decimals than any venue price so the stored notional stays exact
# enough for the next comparison; sub-penny residue is expected from an average.
_PRICE_QUANTUM = Decimal("0.000000001")


def is_integration_order(client_order_id: str | None, prefix: str = INTEGRATION_PREFIX) -> bool:
    """True when the order was placed by this integration (its client_order_id has the prefix)."""
    return bool(client_order_id) and str(client_order_id).startswith(prefix)


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One difference and the decision taken (a row of ``reconciliation_items``).

    ``kind``: order_missing, order_drift, order_unknown_at_broker, order_external, fill_missing,
    fill_inferred, fill_excess, position_missing, position_drift, position_unknown_at_broker,
    cash_drift. ``decision``: inserted, updated, marked_external, kept, replaced, removed,
    snapshot_recorded, reported; a dry run prefixes ``would_`` to every repair.
    """

    kind: str
    subject: str
    difference: str
    decision: str
    detail: str = ""


def fmt_value(value: object) -> str:
    """A value as a finding shows it: amounts without trailing zeros, enums by value."""
    if value is None:
        return "none"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(getattr(value, "value", value))


def flatten_orders(orders: Iterable[Order]) -> dict[str, Order]:
    """Every order and leg by id."""
    flat: dict[str, Order] = {}
    for order in orders:
        for one in order.flatten():
            flat[one.id] = one
    return flat


def external_order_ids(orders: Mapping[str, Order], prefix: str = INTEGRATION_PREFIX) -> set[str]:
    """The ids of orders not placed by the integration (the store applies the same rule): a root
    order is ours when its client_order_id has the prefix; a leg belongs to its root; a
    replacement belongs to whoever placed the order it replaces."""

    def ours(order_id: str, seen: frozenset[str]) -> bool:
        order = orders[order_id]
        if order.parent_id and order.parent_id in orders and order.parent_id not in seen:
            return ours(order.parent_id, seen | {order.parent_id})
        if is_integration_order(order.client_order_id, prefix):
            return True
        replaced = order.replaces
        if replaced and replaced in orders and replaced not in seen:
            return ours(replaced, seen | {replaced})
        return False

    return {oid for oid in orders if not ours(oid, frozenset({oid}))}


def _order_drift(ours: Order, theirs: Order) -> list[str]:
    """``field ours -> theirs`` for every repairable field that differs."""
    return [
        f"{name} {fmt_value(getattr(ours, name))} -> {fmt_value(getattr(theirs, name))}"
        for name in ORDER_REPAIRABLE_FIELDS
        if getattr(ours, name) != getattr(theirs, name)
    ]


def _drift(
    kind: str, subject: str, changes: Sequence[str], decision: str, detail: str = ""
) -> list[Finding]:
    """One drift finding listing ``changes`` ("field old -> new"), or none when nothing changed."""
    if not changes:
        return []
    return [
        Finding(
            kind=kind,
            subject=subject,
            difference="; ".join(changes),
            decision=decision,
            detail=detail,
        )
    ]


def _order_findings(
    order_id: str,
    ours: Order | None,
    theirs: Order,
    *,
    external: bool,
    flag: bool | None,
    check_flag: bool,
) -> list[Finding]:
    """What differs for one order the broker lists: absent, drifted, or flagged wrongly as
    external (``flag`` is the store's flag, compared only when ``check_flag``)."""
    detail = f"client_order_id={theirs.client_order_id}"
    tag = " (external)" if external else ""
    if ours is None:
        return [
            Finding(
                kind="order_missing",
                subject=order_id,
                difference=f"absent from the store; broker has {theirs.status.value} "
                f"{fmt_value(theirs.filled_qty)}/{fmt_value(theirs.qty)} {theirs.symbol}{tag}",
                decision="inserted",
                detail=detail,
            )
        ]
    findings = _drift("order_drift", order_id, _order_drift(ours, theirs), "updated", detail + tag)
    if check_flag and flag != external:
        findings.append(
            Finding(
                kind="order_external",
                subject=order_id,
                difference=f"external flag {flag} -> {external}",
                decision="marked_external" if external else "marked_ours",
                detail=detail,
            )
        )
    return findings


def diff_orders(
    stored: Mapping[str, Order],
    broker: Mapping[str, Order],
    *,
    stored_external: Mapping[str, bool] | None = None,
    prefix: str = INTEGRATION_PREFIX,
    context: Mapping[str, Order] | None = None,
) -> tuple[list[Finding], list[Order], set[str]]:
    """Compare orders by id. Returns (findings, orders to write, ids that are external).

    ``stored``/``broker`` map order id to order (legs flattened). ``stored_external`` is the
    store's current external flag per id, when it keeps one; an order whose flag is wrong is
    written again so the flag is corrected. ``context``: other orders (stored parents and
    replaced orders outside this page) that decide ownership, never compared themselves.
    """
    findings: list[Finding] = []
    to_write: list[Order] = []
    external = external_order_ids({**(context or {}), **stored, **broker}, prefix) & set(broker)
    for order_id in sorted(broker, key=lambda oid: (broker[oid].created_at, oid)):
        found = _order_findings(
            order_id,
            stored.get(order_id),
            broker[order_id],
            external=order_id in external,
            flag=(stored_external or {}).get(order_id),
            check_flag=stored_external is not None,
        )
        if found:
            findings.extend(found)
            to_write.append(broker[order_id])
    for order_id in sorted(set(stored) - set(broker)):
        ours = stored[order_id]
        findings.append(
            Finding(
                kind="order_unknown_at_broker",
                subject=order_id,
                difference=f"in the store ({ours.status.value}) but not listed by the broker",
                decision="kept",
                detail=f"client_order_id={ours.client_order_id}",
            )
        )
    return findings, to_write, external


def _fill_identity(fill: Fill) -> tuple[str, Decimal | None]:
    return fill.order_id, fill.cum_qty


def diff_fills(stored: Sequence[Fill], broker: Sequence[Fill]) -> tuple[list[Finding], list[Fill]]:
    """Broker FILL activities the store lacks (matched on activity id, else on the execution's
    identity ``(order_id, cum_qty)``, else on execution id). Returns (findings, fills to write)."""
    by_activity = {f.activity_id for f in stored if f.activity_id}
    by_identity = {_fill_identity(f) for f in stored if f.cum_qty is not None}
    by_fill_id = {f.fill_id for f in stored}
    findings: list[Finding] = []
    missing: list[Fill] = []
    for fill in broker:
        if fill.activity_id and fill.activity_id in by_activity:
            continue
        if fill.cum_qty is not None and _fill_identity(fill) in by_identity:
            continue
        if fill.fill_id in by_fill_id:
            continue
        findings.append(
            Finding(
                kind="fill_missing",
                subject=fill.fill_id,
                difference=f"execution of {fmt_value(fill.qty)} {fill.symbol} @ {fmt_value(fill.price)} "
                f"(order {fill.order_id}, cum {fmt_value(fill.cum_qty)}) absent from the store",
                decision="inserted",
                detail=f"order_id={fill.order_id}",
            )
        )
        missing.append(fill)
    return findings, missing


def infer_missing_fill(order: Order, fills: Sequence[Fill], *, at: dt.datetime) -> Fill | None:
    """The execution the store lacks, inferred from the order's cumulative quantity and average
    price, or None when the fills already explain ``filled_qty`` (or cannot be inferred)."""
    if order.filled_qty <= 0 or order.filled_avg_price is None or order.side is None:
        return None
    stored_qty = sum((f.qty for f in fills), _ZERO)
    missing = order.filled_qty - stored_qty
    if missing <= 0:
        return None
    stored_notional = sum((f.qty * f.price for f in fills), _ZERO)
    price = ((order.filled_qty * order.filled_avg_price - stored_notional) / missing).quantize(
        _PRICE_QUANTUM
    )
    if price <= 0:
        # The stored fills' prices disagree with the broker's average: the best proof left is the
        # average itself.
        price = order.filled_avg_price
    cum = order.filled_qty
    complete = order.qty is not None and cum >= order.qty
    return Fill(
        fill_id=f"reconcile-{order.id}-{fmt_value(cum)}",
        execution_id=None,
        activity_id=None,
        order_id=order.id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        qty=missing,
        price=price,
        timestamp=order.filled_at or order.updated_at or at,
        fill_type=FillType.FILL if complete else FillType.PARTIAL_FILL,
        cum_qty=cum,
        leaves_qty=(order.qty - cum) if order.qty is not None else None,
        source=DataSource.RECONCILE,
    )


def diff_positions(stored: Sequence[Position], broker: Sequence[Position]) -> list[Finding]:
    """Positions that differ in quantity or average price, are missing, or are extra."""
    ours = {p.symbol: p for p in stored if p.qty != 0}
    theirs = {p.symbol: p for p in broker if p.qty != 0}
    findings: list[Finding] = []
    for symbol in sorted(set(ours) | set(theirs)):
        mine, venue = ours.get(symbol), theirs.get(symbol)
        if mine is not None and venue is not None:
            changes = []
            if mine.qty != venue.qty:
                changes.append(f"qty {fmt_value(mine.qty)} -> {fmt_value(venue.qty)}")
            if mine.avg_entry_price != venue.avg_entry_price:
                changes.append(
                    f"avg_entry_price {fmt_value(mine.avg_entry_price)} -> {fmt_value(venue.avg_entry_price)}"
                )
            findings.extend(_drift("position_drift", symbol, changes, "replaced"))
            continue
        if venue is not None:
            kind, decision = "position_missing", "replaced"
            difference = f"absent from the store; broker holds {fmt_value(venue.qty)}"
        elif mine is not None:
            kind, decision = "position_unknown_at_broker", "removed"
            difference = f"store holds {fmt_value(mine.qty)}; broker is flat"
        else:
            continue
        findings.append(
            Finding(kind=kind, subject=symbol, difference=difference, decision=decision)
        )
    return findings
