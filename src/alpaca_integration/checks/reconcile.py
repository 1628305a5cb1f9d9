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

The comparisons are pure (``checks.reconcile_diff``); :func:`reconcile` runs them as named steps
(``_orders_step``, ``_fills_step``, ``_inferred_fills``, ``_positions_and_cash_step``,
``_repair``) and records the run.

Imports ``models``, ``checks.reconcile_diff`` and ``sync.join`` (the fee join), and reaches the
client and the store only through the methods named in :class:`ReconcileClient` /
:class:`ReconcileStore`. It never imports the CLI, the flows or the simulator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from alpaca_integration.checks.reconcile_diff import (
    INTEGRATION_PREFIX,
    Finding,
    diff_fills,
    diff_orders,
    diff_positions,
    external_order_ids,
    flatten_orders,
    fmt_value,
    infer_missing_fill,
    is_integration_order,
)
from alpaca_integration.models import (
    AccountSnapshot,
    Activity,
    DataSource,
    Fill,
    Order,
    Position,
)
from alpaca_integration.storage.records import ApplyResult
from alpaca_integration.sync.join import join_fees
from alpaca_integration.sync.ports import ReconcileClient, ReconcileStore, RepairWriter

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
# Decisions that change the store; a dry run reports them as ``would_<decision>``.
_REPAIRS = frozenset(
    {
        "inserted",
        "updated",
        "marked_external",
        "marked_ours",
        "replaced",
        "removed",
        "snapshot_recorded",
    }
)


class ReconcileReport(msgspec.Struct, kw_only=True):
    """One run: its id, whether it was a dry run, every finding, and counts by kind."""

    run_id: int
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
    return [
        msgspec.structs.replace(f, decision=f"would_{f.decision}") if f.decision in _REPAIRS else f
        for f in findings
    ]


@dataclass
class _Repairs:
    """What one run writes when it is not a dry run."""

    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    activities: list[Activity] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    snapshot: AccountSnapshot | None = None
    broker_order_ids: set[str] = field(default_factory=set)
    external_ids: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------- the steps


async def _orders_step(
    client: ReconcileClient, store: ReconcileStore, account: str, prefix: str, repairs: _Repairs
) -> tuple[list[Finding], dict[str, Order]]:
    """Orders: missing, drifted, unknown to the broker, flagged wrongly. Returns the findings and
    the broker's orders by id (legs flattened)."""
    broker_orders = flatten_orders([o async for o in client.iter_orders(status="all", nested=True)])
    stored_orders = flatten_orders(await store.list_orders(account))
    stored_external: dict[str, bool] = await store.external_flags(account)
    findings, repairs.orders, repairs.external_ids = diff_orders(
        stored_orders, broker_orders, stored_external=stored_external, prefix=prefix
    )
    repairs.broker_order_ids = set(broker_orders)
    return findings, broker_orders


async def _fills_step(
    client: ReconcileClient,
    store: ReconcileStore,
    account: str,
    use_activities: bool,
    repairs: _Repairs,
) -> tuple[list[Finding], list[Fill]]:
    """Fills and non-trade activities the broker lists and the store lacks (activities first:
    they are the broker's exact executions). Returns the findings and the stored fills."""
    activities = (
        [item async for item in client.iter_activities(direction="asc")] if use_activities else []
    )
    joined = join_fees(activities)
    stored_fills = list(await store.list_fills(account))
    findings, repairs.fills = diff_fills(stored_fills, joined.fills)
    known_ids = {a.id for a in await store.list_activities(account)} if use_activities else set()
    repairs.activities = [a for a in joined.activities if a.id not in known_ids]
    findings += [
        Finding(
            kind="activity_missing",
            subject=activity.id,
            difference=f"{activity.activity_type} {fmt_value(activity.net_amount)} absent from "
            "the store",
            decision="inserted",
        )
        for activity in repairs.activities
    ]
    return findings, stored_fills


def _inferred_fills(
    broker_orders: Mapping[str, Order], fills: Iterable[Fill], *, at: dt.datetime
) -> tuple[list[Finding], list[Fill]]:
    """Executions inferred where the fills do not explain an order's ``filled_qty``; fills above
    it are reported (never deleted)."""
    fills_by_order: dict[str, list[Fill]] = {}
    for known in fills:
        fills_by_order.setdefault(known.order_id, []).append(known)
    findings: list[Finding] = []
    inferred: list[Fill] = []
    for order_id in sorted(broker_orders):
        order = broker_orders[order_id]
        existing = fills_by_order.get(order_id, [])
        stored_qty = sum((f.qty for f in existing), _ZERO)
        if stored_qty > order.filled_qty:
            findings.append(
                Finding(
                    kind="fill_excess",
                    subject=order_id,
                    difference=f"fills sum to {fmt_value(stored_qty)} but the broker's filled_qty "
                    f"is {fmt_value(order.filled_qty)}",
                    decision="reported",
                )
            )
            continue
        fill = infer_missing_fill(order, existing, at=at)
        if fill is None:
            continue
        inferred.append(fill)
        findings.append(
            Finding(
                kind="fill_inferred",
                subject=fill.fill_id,
                difference=f"order {order_id} filled {fmt_value(order.filled_qty)} but fills "
                f"explain {fmt_value(stored_qty)}",
                decision="inserted",
                detail=f"inferred {fmt_value(fill.qty)} @ {fmt_value(fill.price)} from the "
                "cumulative quantity and average price",
            )
        )
    return findings, inferred


async def _positions_and_cash_step(
    client: ReconcileClient,
    store: ReconcileStore,
    account: str,
    cash_tolerance: Decimal,
    repairs: _Repairs,
) -> list[Finding]:
    """Positions that differ, and cash beyond ``cash_tolerance``; the broker's copies replace
    the store's."""
    repairs.positions = list(await client.list_positions())
    repairs.snapshot = await client.get_account()
    findings = diff_positions(list(await store.positions(account)), repairs.positions)
    snapshot = await store.latest_snapshot(account)
    broker_cash = repairs.snapshot.cash
    if snapshot is None or abs(snapshot.cash - broker_cash) > cash_tolerance:
        findings.append(
            Finding(
                kind="cash_drift",
                subject="cash",
                difference=(
                    "no account snapshot in the store"
                    if snapshot is None
                    else f"cash {fmt_value(snapshot.cash)} -> {fmt_value(broker_cash)}"
                ),
                decision="snapshot_recorded",
            )
        )
    return findings


async def _repair(
    store: ReconcileStore, account: str, repairs: _Repairs, apply: RepairWriter | None
) -> ApplyResult:
    """Write the broker's copies through one apply (the engine's when given), then fix the
    external flags the apply does not set."""
    write: RepairWriter = apply or store.apply
    result = await write(
        account,
        orders=repairs.orders,
        fills=repairs.fills,
        activities=repairs.activities,
        snapshot=repairs.snapshot,
        positions=repairs.positions,
        source=DataSource.RECONCILE,
    )
    flags: dict[str, bool] = await store.external_flags(account)
    external = repairs.external_ids
    should_be_external = sorted(oid for oid in external if flags.get(oid) is False)
    should_be_ours = sorted(
        oid for oid in repairs.broker_order_ids - external if flags.get(oid) is True
    )
    if should_be_external:
        await store.mark_external(account, should_be_external, True)
    if should_be_ours:
        await store.mark_external(account, should_be_ours, False)
    return result


async def _record(store: ReconcileStore, report: ReconcileReport) -> None:
    await store.add_reconciliation_items(report.run_id, report.account, report.findings)
    await store.finish_reconciliation_run(
        report.run_id,
        finished_at=report.finished_at,
        summary={"text": report.summary(), "counts": report.counts},
    )


# --------------------------------------------------------------------------- the run


async def reconcile(
    client: ReconcileClient,
    store: ReconcileStore,
    account: str,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    prefix: str | None = None,
    cash_tolerance: Decimal = Decimal("0.01"),
    use_activities: bool = True,
    apply: RepairWriter | None = None,
) -> ReconcileReport:
    """Compare ``store`` with the broker behind ``client`` for ``account`` and repair (unless
    ``dry_run``). Every finding is written as a row under a new reconciliation run.

    ``prefix`` defines "placed by the integration"; by default the client's own
    ``client_order_id_prefix`` followed by ``-`` (``"ai-"``). ``use_activities=False`` skips the
    FILL/FEE activities and repairs fills from the orders' cumulative figures alone (for venues or
    keys without the activities endpoint). ``apply`` replaces ``store.apply`` for the repairs
    (the monitor passes its sync engine's ``apply_reconciled``, so repairs take the same write
    path as every other update and reach the cache)."""
    started = now or dt.datetime.now(dt.UTC)
    if prefix is None:
        prefix = f"{getattr(client, 'client_order_id_prefix', 'ai')}-"
    run_id = await store.start_reconciliation_run(account, started_at=started, dry_run=dry_run)
    report = ReconcileReport(run_id=run_id, account=account, dry_run=dry_run, started_at=started)
    repairs = _Repairs()

    found, broker_orders = await _orders_step(client, store, account, prefix, repairs)
    report.findings += found
    found, stored_fills = await _fills_step(client, store, account, use_activities, repairs)
    report.findings += found
    found, inferred = _inferred_fills(broker_orders, [*stored_fills, *repairs.fills], at=started)
    report.findings += found
    repairs.fills += inferred
    report.findings += await _positions_and_cash_step(
        client, store, account, cash_tolerance, repairs
    )

    if dry_run:
        report.findings = _dry(report.findings)
    else:
        await _repair(store, account, repairs, apply)
    report.finished_at = dt.datetime.now(dt.UTC) if now is None else now
    await _record(store, report)
    return report
