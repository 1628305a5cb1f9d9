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

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

import msgspec

from alpaca_integration import models
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
from alpaca_integration.models import Fill, Order
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
    activities: list[models.Activity] = field(default_factory=list)
    positions: list[models.Position] | None = None  # None: leave the stored set alone
    snapshot: models.AccountSnapshot | None = None
    broker_order_ids: set[str] = field(default_factory=set)
    external_ids: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------- the steps


_Item = TypeVar("_Item")


@dataclass
class _Run:
    """One reconciliation: what it reads and writes through, and its report."""

    client: ReconcileClient
    store: ReconcileStore
    report: ReconcileReport
    prefix: str
    apply: RepairWriter | None
    page_size: int

    @property
    def account(self) -> str:
        return self.report.account


async def _pages(source: AsyncIterator[_Item], size: int) -> AsyncIterator[list[_Item]]:
    """``source`` in lists of at most ``size``: the broker's history is read a page at a time."""
    page: list[_Item] = []
    async for item in source:
        page.append(item)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


async def _write(run: _Run, repairs: _Repairs) -> None:
    if not run.report.dry_run:
        await _repair(run.store, run.account, repairs, run.apply)


async def _activities_page(
    run: _Run, page: list[Fill | models.Activity], missing: dict[str, list[Fill]]
) -> None:
    """Fills and non-trade activities of one page the store lacks (activities first: they are
    the broker's exact executions). On a dry run the missing fills are kept (``missing``) for
    the inference, which must count them as explained."""
    joined = join_fees(page)
    order_ids = {fill.order_id for fill in joined.fills}
    stored = await run.store.list_fills(run.account, order_ids=order_ids) if order_ids else []
    findings, fills = diff_fills(stored, joined.fills)
    ids = [activity.id for activity in joined.activities]
    known = {a.id for a in await run.store.list_activities(run.account, ids=ids)} if ids else set()
    activities = [a for a in joined.activities if a.id not in known]
    findings += [
        Finding(
            kind="activity_missing",
            subject=activity.id,
            difference=f"{activity.activity_type} {fmt_value(activity.net_amount)} absent from "
            "the store",
            decision="inserted",
        )
        for activity in activities
    ]
    run.report.findings += findings
    if run.report.dry_run:
        for fill in fills:
            missing.setdefault(fill.order_id, []).append(fill)
    await _write(run, _Repairs(fills=fills, activities=activities))


async def _lineage(run: _Run, orders: Mapping[str, Order]) -> dict[str, Order]:
    """The stored parents and replaced orders the page's orders point at outside the page (a
    replacement belongs to whoever placed the order it replaces), transitively."""
    known = dict(orders)
    context: dict[str, Order] = {}
    wanted = {o.parent_id or "" for o in known.values()} | {
        o.replaces or "" for o in known.values()
    }
    while wanted := {oid for oid in wanted if oid and oid not in known}:
        found = flatten_orders(await run.store.list_orders(run.account, ids=sorted(wanted)))
        found = {oid: order for oid, order in found.items() if oid not in known}
        if not found:
            break
        known.update(found)
        context.update(found)
        wanted = {o.parent_id or "" for o in found.values()} | {
            o.replaces or "" for o in found.values()
        }
    return context


async def _orders_page(
    run: _Run,
    broker: dict[str, Order],
    flags: Mapping[str, bool],
    missing: Mapping[str, list[Fill]],
) -> None:
    """One page of the broker's orders (legs flattened): missing, drifted, flagged wrongly, and
    the executions their fills do not explain."""
    stored = flatten_orders(await run.store.list_orders(run.account, ids=sorted(broker)))
    stored = {oid: order for oid, order in stored.items() if oid in broker}
    context = await _lineage(run, {**stored, **broker})
    findings, to_write, external = diff_orders(
        stored, broker, stored_external=flags, prefix=run.prefix, context=context
    )
    filled = [oid for oid, order in broker.items() if order.filled_qty > 0]
    fills = await run.store.list_fills(run.account, order_ids=filled) if filled else []
    explained = [*fills, *(fill for oid in filled for fill in missing.get(oid, ()))]
    found, inferred = _inferred_fills(broker, explained, at=run.report.started_at)
    run.report.findings += findings + found
    repairs = _Repairs(orders=to_write, fills=inferred, external_ids=external)
    repairs.broker_order_ids = set(broker)
    await _write(run, repairs)


async def _unknown_orders(run: _Run, order_ids: set[str]) -> None:
    """Stored orders the broker did not list (kept: only the broker may prove them gone)."""
    ids = sorted(order_ids)
    for start in range(0, len(ids), run.page_size):
        chunk = ids[start : start + run.page_size]
        stored = flatten_orders(await run.store.list_orders(run.account, ids=chunk))
        stored = {oid: order for oid, order in stored.items() if oid in order_ids}
        findings, _, _ = diff_orders(stored, {}, prefix=run.prefix)
        run.report.findings += findings


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


async def _positions_and_cash(run: _Run, cash_tolerance: Decimal) -> None:
    """Positions that differ, and cash beyond ``cash_tolerance``; the broker's copies replace
    the store's."""
    positions = list(await run.client.list_positions())
    snapshot = await run.client.get_account()
    findings = diff_positions(list(await run.store.positions(run.account)), positions)
    stored = await run.store.latest_snapshot(run.account)
    if stored is None or abs(stored.cash - snapshot.cash) > cash_tolerance:
        findings.append(
            Finding(
                kind="cash_drift",
                subject="cash",
                difference=(
                    "no account snapshot in the store"
                    if stored is None
                    else f"cash {fmt_value(stored.cash)} -> {fmt_value(snapshot.cash)}"
                ),
                decision="snapshot_recorded",
            )
        )
    run.report.findings += findings
    await _write(run, _Repairs(positions=positions, snapshot=snapshot))


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
        source=models.DataSource.RECONCILE,
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


async def _compare_and_repair(run: _Run, cash_tolerance: Decimal, use_activities: bool) -> None:
    """The steps in order, a page of the broker's history at a time (the store is read by the
    page's ids, the repairs of a page are written before the next is read): activities and
    fills, orders and the executions they imply, stored orders the broker did not list,
    positions and cash."""
    flags = await run.store.external_flags(run.account)
    missing: dict[str, list[Fill]] = {}
    if use_activities:
        activities = run.client.iter_activities(direction="asc")
        async for page in _pages(activities, run.page_size):
            await _activities_page(run, page, missing)
    broker_ids: set[str] = set()
    async for roots in _pages(run.client.iter_orders(status="all", nested=True), run.page_size):
        broker = flatten_orders(roots)
        broker_ids.update(broker)
        await _orders_page(run, broker, flags, missing)
    await _unknown_orders(run, set(flags) - broker_ids)
    await _positions_and_cash(run, cash_tolerance)
    if run.report.dry_run:
        run.report.findings = _dry(run.report.findings)


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
    exclusive: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    page_size: int = 500,
) -> ReconcileReport:
    """Compare ``store`` with the broker behind ``client`` for ``account`` and repair (unless
    ``dry_run``). Every finding is written as a row under a new reconciliation run.

    ``prefix`` defines "placed by the integration"; by default the client's own
    ``client_order_id_prefix`` followed by ``-`` (``"ai-"``). ``use_activities=False`` skips the
    FILL/FEE activities and repairs fills from the orders' cumulative figures alone (for venues or
    keys without the activities endpoint). ``apply`` replaces ``store.apply`` for the repairs
    (the monitor passes its sync engine's ``apply_reconciled``, so repairs take the same write
    path as every other update and reach the cache). ``exclusive`` is held from the first read
    to the last repair (the monitor passes its engine's ``exclusive``: the stream's writes wait,
    so the store read is the store repaired). The broker's history is read ``page_size`` records at
    a time and each page compared with the store's rows of the same ids: memory is bounded by a
    page, not the account's history (ids of the broker's orders are kept for the last step)."""
    started = now or dt.datetime.now(dt.UTC)
    if prefix is None:
        prefix = f"{getattr(client, 'client_order_id_prefix', 'ai')}-"
    run_id = await store.start_reconciliation_run(account, started_at=started, dry_run=dry_run)
    report = ReconcileReport(run_id=run_id, account=account, dry_run=dry_run, started_at=started)

    run = _Run(client, store, report, prefix, apply, page_size)
    async with exclusive() if exclusive is not None else contextlib.nullcontext():
        await _compare_and_repair(run, cash_tolerance, use_activities)
    report.finished_at = dt.datetime.now(dt.UTC) if now is None else now
    await _record(store, report)
    return report
