"""Reconciliation: compare the store with the broker and repair what the broker proves.

Order of work: orders, then fills, then positions and cash. Every difference found and every
decision taken is a row (``reconciliation_items``) under one run (``reconciliation_runs``); a dry
run writes only those rows and changes nothing else.

What is repaired, and how:

* **Missing order** (at the broker, not in the store): inserted as the broker reports it.
* **Order drift** (status, filled quantity, average price, prices, replace links differ): the
  broker's version is written (the store's upsert is monotonic, and the broker's copy is newer).
* **Order unknown to the broker**: kept, and reported (the broker's word is needed to delete).
* **External orders**: an order is *placed by the integration* when its client_order_id starts
  with :data:`INTEGRATION_PREFIX` (``"ai-"``, what ``models.new_client_order_id`` and so the
  client give every order it submits); a leg belongs to its root order. Every other order (placed
  by alpaca-py, the dashboard, another program) is kept and marked ``external``. A replacement
  order belongs to whoever placed the order it replaces (the store applies the same rule).
* **Missing fill**: a FILL activity the broker lists that the store lacks is inserted (with its
  fee joined). When the activities still do not explain an order's cumulative ``filled_qty``, the
  missing execution is inferred from the cumulative quantity and the average price: quantity =
  broker filled_qty - stored sum, price = (filled_qty x avg price - stored notional) / quantity,
  identity ``(order_id, cum_qty = filled_qty)`` and ``fill_id = "reconcile-<order_id>-<cum_qty>"``,
  so a second run finds the quantity explained and adds nothing.
* **Excess fills** (the store's sum above the broker's filled_qty): reported, never deleted.
* **Positions and cash**: the broker's positions and account snapshot replace the store's.

This module imports ``models``, ``errors`` and ``sync.join`` (the fee join), and reaches the client
and the store only through the methods named in :class:`ReconcileClient` / :class:`ReconcileStore`.
It never imports the CLI, the flows or the simulator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from alpaca_integration.models import (
    INTEGRATION_PREFIX,
    AccountSnapshot,
    Activity,
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
    "ReconcileClient",
    "ReconcileReport",
    "ReconcileStore",
    "diff_fills",
    "diff_orders",
    "diff_positions",
    "external_order_ids",
    "infer_missing_fill",
    "is_integration_order",
    "reconcile",
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


def _fmt(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(getattr(value, "value", value))


def _same(a: object, b: object) -> bool:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b
    return a == b


def _flatten(orders: Iterable[Order]) -> dict[str, Order]:
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


def diff_orders(
    stored: Mapping[str, Order],
    broker: Mapping[str, Order],
    *,
    stored_external: Mapping[str, bool] | None = None,
    prefix: str = INTEGRATION_PREFIX,
) -> tuple[list[Finding], list[Order], set[str]]:
    """Compare orders by id. Returns (findings, orders to write, ids that are external).

    ``stored``/``broker`` map order id to order (legs flattened). ``stored_external`` is the
    store's current external flag per id, when it keeps one; an order whose flag is wrong is
    written again so the flag is corrected.
    """
    findings: list[Finding] = []
    to_write: dict[str, Order] = {}
    external = external_order_ids({**stored, **broker}, prefix) & set(broker)
    for order_id in sorted(broker, key=lambda oid: (broker[oid].created_at, oid)):
        theirs = broker[order_id]
        ours = stored.get(order_id)
        tag = " (external)" if order_id in external else ""
        if ours is None:
            findings.append(
                Finding(
                    kind="order_missing",
                    subject=order_id,
                    difference=f"absent from the store; broker has {theirs.status.value} "
                    f"{_fmt(theirs.filled_qty)}/{_fmt(theirs.qty)} {theirs.symbol}{tag}",
                    decision="inserted",
                    detail=f"client_order_id={theirs.client_order_id}",
                )
            )
            to_write[order_id] = theirs
            continue
        changes = [
            f"{name} {_fmt(getattr(ours, name))} -> {_fmt(getattr(theirs, name))}"
            for name in ORDER_REPAIRABLE_FIELDS
            if not _same(getattr(ours, name), getattr(theirs, name))
        ]
        if changes:
            findings.append(
                Finding(
                    kind="order_drift",
                    subject=order_id,
                    difference="; ".join(changes),
                    decision="updated",
                    detail=f"client_order_id={theirs.client_order_id}{tag}",
                )
            )
            to_write[order_id] = theirs
        if stored_external is not None and stored_external.get(order_id) != (order_id in external):
            findings.append(
                Finding(
                    kind="order_external",
                    subject=order_id,
                    difference=f"external flag {stored_external.get(order_id)} -> "
                    f"{order_id in external}",
                    decision="marked_external" if order_id in external else "marked_ours",
                    detail=f"client_order_id={theirs.client_order_id}",
                )
            )
            to_write[order_id] = theirs
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
    return findings, list(to_write.values()), external


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
                difference=f"execution of {_fmt(fill.qty)} {fill.symbol} @ {_fmt(fill.price)} "
                f"(order {fill.order_id}, cum {_fmt(fill.cum_qty)}) absent from the store",
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
        fill_id=f"reconcile-{order.id}-{_fmt(cum)}",
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
        if mine is None and venue is not None:
            findings.append(
                Finding(
                    kind="position_missing",
                    subject=symbol,
                    difference=f"absent from the store; broker holds {_fmt(venue.qty)}",
                    decision="replaced",
                )
            )
        elif venue is None and mine is not None:
            findings.append(
                Finding(
                    kind="position_unknown_at_broker",
                    subject=symbol,
                    difference=f"store holds {_fmt(mine.qty)}; broker is flat",
                    decision="removed",
                )
            )
        elif mine is not None and venue is not None:
            changes = []
            if mine.qty != venue.qty:
                changes.append(f"qty {_fmt(mine.qty)} -> {_fmt(venue.qty)}")
            if mine.avg_entry_price != venue.avg_entry_price:
                changes.append(
                    f"avg_entry_price {_fmt(mine.avg_entry_price)} -> {_fmt(venue.avg_entry_price)}"
                )
            if changes:
                findings.append(
                    Finding(
                        kind="position_drift",
                        subject=symbol,
                        difference="; ".join(changes),
                        decision="replaced",
                    )
                )
    return findings


# --------------------------------------------------------------------------- orchestration


class ReconcileClient(Protocol):
    """What reconciliation reads from the broker (``AlpacaClient`` has all of it)."""

    async def get_account(self) -> AccountSnapshot: ...

    async def list_positions(self) -> list[Position]: ...

    def iter_orders(self, **filters: Any) -> AsyncIterator[Order]: ...

    def iter_activities(self, **filters: Any) -> AsyncIterator[Fill | Activity]: ...


class ReconcileStore(Protocol):
    """What reconciliation reads and writes in the store (``storage.Store`` has all of it)."""

    async def list_orders(self, account: str, **filters: Any) -> Sequence[Order]: ...

    async def list_fills(self, account: str, **filters: Any) -> Sequence[Fill]: ...

    async def positions(self, account: str) -> Sequence[Position]: ...

    async def latest_snapshot(self, account: str) -> AccountSnapshot | None: ...

    async def apply(self, account: str, **rows: Any) -> Any: ...


class ReconcileReport(msgspec.Struct, kw_only=True):
    """One run: its id, whether it was a dry run, every finding, and counts by kind."""

    run_id: Any
    account: str
    dry_run: bool
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    findings: list[Finding] = msgspec.field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for finding in self.findings:
            out[finding.kind] = out.get(finding.kind, 0) + 1
        return dict(sorted(out.items()))

    @property
    def clean(self) -> bool:
        """True when the store already matched the broker."""
        return not self.findings

    def summary(self) -> str:
        if not self.findings:
            return "no differences"
        parts = [f"{kind}={count}" for kind, count in self.counts.items()]
        return ("dry run: " if self.dry_run else "") + ", ".join(parts)


def _dry(findings: Iterable[Finding]) -> list[Finding]:
    repairs = {
        "inserted",
        "updated",
        "marked_external",
        "marked_ours",
        "replaced",
        "removed",
        "snapshot_recorded",
    }
    return [
        msgspec.structs.replace(f, decision=f"would_{f.decision}") if f.decision in repairs else f
        for f in findings
    ]


async def reconcile(
    client: Any,
    store: Any,
    account: str,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    prefix: str | None = None,
    cash_tolerance: Decimal = Decimal("0.01"),
    use_activities: bool = True,
    apply: Callable[..., Awaitable[Any]] | None = None,
) -> ReconcileReport:
    """Compare ``store`` with the broker behind ``client`` for ``account`` and repair (unless
    ``dry_run``). Every finding is written as a row under a new reconciliation run.

    ``prefix`` defines "placed by the integration"; by default the client's own
    ``client_order_id_prefix`` followed by ``-`` (``"ai-"``). ``use_activities=False`` skips the
    FILL/FEE activities and repairs fills from the orders' cumulative figures alone (for venues or
    keys without the activities endpoint). ``apply`` replaces ``store.apply`` for the repairs
    (the monitor passes its sync engine's ``apply_reconciled``, so repairs take the same write
    path as every other update and reach the cache)."""
    from alpaca_integration.sync.join import join_fees

    started = now or dt.datetime.now(dt.UTC)
    if prefix is None:
        prefix = f"{getattr(client, 'client_order_id_prefix', 'ai')}-"
    run_id = await store.start_reconciliation_run(account, started_at=started, dry_run=dry_run)
    report = ReconcileReport(run_id=run_id, account=account, dry_run=dry_run, started_at=started)

    # --- orders
    broker_orders = _flatten([o async for o in client.iter_orders(status="all", nested=True)])
    stored_orders = _flatten(await store.list_orders(account))
    stored_external = await _external_flags(store, account)
    order_findings, orders_to_write, external_ids = diff_orders(
        stored_orders, broker_orders, stored_external=stored_external, prefix=prefix
    )
    report.findings.extend(order_findings)

    # --- fills (activities first: they are the broker's exact executions)
    activities = (
        [item async for item in client.iter_activities(direction="asc")] if use_activities else []
    )
    joined = join_fees(activities)
    stored_fills = list(await store.list_fills(account))
    fill_findings, fills_to_write = diff_fills(stored_fills, joined.fills)
    report.findings.extend(fill_findings)
    known_activity_ids = await _activity_ids(store, account) if use_activities else set()
    activities_to_write = [a for a in joined.activities if a.id not in known_activity_ids]
    for activity in activities_to_write:
        report.findings.append(
            Finding(
                kind="activity_missing",
                subject=activity.id,
                difference=f"{activity.activity_type} {_fmt(activity.net_amount)} absent from the store",
                decision="inserted",
            )
        )

    fills_by_order: dict[str, list[Fill]] = {}
    for fill in [*stored_fills, *fills_to_write]:
        fills_by_order.setdefault(fill.order_id, []).append(fill)
    inferred: list[Fill] = []
    for order_id in sorted(broker_orders):
        order = broker_orders[order_id]
        existing = fills_by_order.get(order_id, [])
        stored_qty = sum((f.qty for f in existing), _ZERO)
        if stored_qty > order.filled_qty:
            report.findings.append(
                Finding(
                    kind="fill_excess",
                    subject=order_id,
                    difference=f"fills sum to {_fmt(stored_qty)} but the broker's filled_qty is "
                    f"{_fmt(order.filled_qty)}",
                    decision="reported",
                )
            )
            continue
        fill = infer_missing_fill(order, existing, at=started)
        if fill is not None:
            inferred.append(fill)
            report.findings.append(
                Finding(
                    kind="fill_inferred",
                    subject=fill.fill_id,
                    difference=f"order {order_id} filled {_fmt(order.filled_qty)} but fills "
                    f"explain {_fmt(stored_qty)}",
                    decision="inserted",
                    detail=f"inferred {_fmt(fill.qty)} @ {_fmt(fill.price)} from the cumulative "
                    "quantity and average price",
                )
            )

    # --- positions and cash
    broker_positions = list(await client.list_positions())
    broker_account = await client.get_account()
    stored_positions = list(await store.positions(account))
    position_findings = diff_positions(stored_positions, broker_positions)
    report.findings.extend(position_findings)
    snapshot = await store.latest_snapshot(account)
    if snapshot is None or abs(snapshot.cash - broker_account.cash) > cash_tolerance:
        report.findings.append(
            Finding(
                kind="cash_drift",
                subject="cash",
                difference=(
                    "no account snapshot in the store"
                    if snapshot is None
                    else f"cash {_fmt(snapshot.cash)} -> {_fmt(broker_account.cash)}"
                ),
                decision="snapshot_recorded",
            )
        )

    if dry_run:
        report.findings = _dry(report.findings)
    else:
        await (apply or store.apply)(
            account,
            orders=orders_to_write,
            fills=[*fills_to_write, *inferred],
            activities=activities_to_write,
            snapshot=broker_account,
            positions=broker_positions,
            source=DataSource.RECONCILE,
        )
        await _fix_external_flags(store, account, set(broker_orders), external_ids)
    report.finished_at = dt.datetime.now(dt.UTC) if now is None else now
    await store.add_reconciliation_items(run_id, account, report.findings)
    await store.finish_reconciliation_run(
        run_id,
        finished_at=report.finished_at,
        summary={"text": report.summary(), "counts": report.counts},
    )
    return report


async def _external_flags(store: Any, account: str) -> dict[str, bool]:
    flags: dict[str, bool] = await store.external_flags(account)
    return flags


async def _activity_ids(store: Any, account: str) -> set[str]:
    activities = await store.list_activities(account)
    return {a.id for a in activities}


async def _fix_external_flags(
    store: Any, account: str, broker_ids: set[str], external_ids: set[str]
) -> None:
    flags = await _external_flags(store, account)
    should_be_external = sorted(oid for oid in external_ids if flags.get(oid) is False)
    should_be_ours = sorted(oid for oid in broker_ids - external_ids if flags.get(oid) is True)
    if should_be_external:
        await store.mark_external(account, should_be_external, True)
    if should_be_ours:
        await store.mark_external(account, should_be_ours, False)
