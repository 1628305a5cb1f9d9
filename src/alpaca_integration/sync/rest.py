"""The REST syncs (``RestSyncs``): orders since their checkpoint and the open refresh, fills and
activities with fees joined, the account snapshot and positions. Each page goes through the
one write path (``writer.EngineCore._commit``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from alpaca_integration.errors import NotFoundError
from alpaca_integration.models import (
    Activity,
    Fill,
    Order,
)
from alpaca_integration.sync.join import (
    FeeAttachment,
    join_fees,
    max_submitted_at,
)
from alpaca_integration.sync.refusals import CheckpointHold, refused_kind
from alpaca_integration.sync.report import (
    FEED_ACCOUNT,
    FEED_ACTIVITIES,
    FEED_ORDERS,
    SyncReport,
    activity_id_of,
    parse_time,
    read_ahead,
)
from alpaca_integration.sync.validation import Quarantined
from alpaca_integration.sync.writer import EngineCore

if TYPE_CHECKING:
    from alpaca_integration.alpaca.paging import BadItem

__all__ = ["RestSyncs"]

log = logging.getLogger("alpaca_integration.sync.engine")


class RestSyncs(EngineCore):
    """The REST syncs over the engine's write path."""

    async def sync_account(self) -> SyncReport:
        """Account snapshot and the full set of positions (3 requests at most)."""
        report = SyncReport(self.account)
        hook = self._quarantine_hook(report)
        bad_positions: list[BadItem] = []

        async def on_bad_position(item: BadItem) -> None:
            bad_positions.append(item)
            await hook(item)

        for _ in range(2):
            fills_before = self._fills_applied
            bad_positions.clear()
            snapshot = await self.client.get_account()
            positions = await self.client.list_positions(on_bad_item=on_bad_position)
            if self._fills_applied == fills_before:
                break
            # A fill landed while we were reading: the positions may predate it; read again.
        observed = snapshot.observed_at.isoformat()
        await self._commit(
            report,
            snapshot=snapshot,
            # A full set without the refused position would close it: keep the stored set.
            positions=None if bad_positions else positions,
            checkpoints=lambda refused: (
                {} if refused_kind(refused, "account") else {FEED_ACCOUNT: observed}
            ),
        )
        await self._rebuild_cache_if_needed()
        report.finished_at = self.now()
        return report

    async def _apply_order_batch(
        self,
        report: SyncReport,
        batch: list[Order],
        newest: dt.datetime | None,
        hold: CheckpointHold,
    ) -> None:
        await self._commit(
            report, orders=batch, checkpoints=lambda refused: hold.orders(newest, refused)
        )
        report.orders_seen += len(batch)
        if self.on_progress is not None:
            self.on_progress(FEED_ORDERS, report.orders_seen)

    async def sync_orders(self) -> SyncReport:
        """Orders since the checkpoint (everything on the first run), then the open refresh."""
        report = SyncReport(self.account)
        checkpoint = parse_time(await self.store.get_checkpoint(self.account, FEED_ORDERS))
        after = checkpoint - self.order_overlap if checkpoint is not None else None
        newest = checkpoint
        seen: set[str] = set()
        batch: list[Order] = []
        hold = CheckpointHold()
        orders = self.client.iter_orders(
            status="all",
            nested=True,
            direction="asc",
            after=after,
            on_bad_item=self._quarantine_hook(report),
        )
        async for order in read_ahead(orders, self.batch_size):
            if order.parent_id is not None:
                continue  # nested=true: a leg also arrives inside its parent
            batch.append(order)
            seen.update(o.id for o in order.flatten())
            if len(batch) >= self.batch_size:
                newest = max_submitted_at(batch, newest)
                await self._apply_order_batch(report, batch, newest, hold)
                batch = []
        if batch:
            newest = max_submitted_at(batch, newest)
            await self._apply_order_batch(report, batch, newest, hold)
        await self._refresh_open_orders(report, seen)
        report.finished_at = self.now()
        self.last_sync_at = report.finished_at
        return report

    async def _refresh_open_orders(self, report: SyncReport, seen: set[str]) -> None:
        stale: list[Order] = [
            o for o in await self.store.open_orders(self.account) if o.id not in seen
        ]
        if not stale:
            return
        batch: list[Order] = []
        on_bad_item = self._quarantine_hook(report)
        if len({o.parent_id or o.id for o in stale}) > 1:
            async for order in self.client.iter_orders(
                status="open", nested=True, on_bad_item=on_bad_item
            ):
                if order.parent_id is not None:
                    continue
                batch.append(order)
                seen.update(o.id for o in order.flatten())
        roots = sorted({o.parent_id or o.id for o in stale if o.id not in seen})
        for root in roots:
            try:
                fetched = await self.client.get_order(root, nested=True, on_bad_item=on_bad_item)
            except NotFoundError:
                log.warning("order %s is open in the store but unknown to the broker", root)
                continue
            if fetched is None:
                continue  # quarantined by the hook; the store keeps its last good copy
            batch.append(fetched)
            seen.update(o.id for o in fetched.flatten())
        if batch:
            await self._apply_order_batch(report, batch, None, CheckpointHold())

    async def sync_activities(self) -> SyncReport:
        """Fills and non-trade activities after the checkpoint, oldest first, fees joined.

        The checkpoint never moves past a FEE whose fill has not been seen yet: such a fee is
        carried to the next page (where its FILL usually is) and the checkpoint stays put until it
        is joined, so a crash between pages cannot lose a fee. A fee still unmatched when the
        venue has nothing more to list has no FILL to join (Alpaca's aggregated fees): it stays a
        non-trade activity and the checkpoint moves on.
        """
        report = SyncReport(self.account)
        checkpoint = await self.store.get_checkpoint(self.account, FEED_ACTIVITIES)
        carried: list[Activity] = []
        page: list[Fill | Activity] = []
        last_id: str | None = None
        hold = CheckpointHold()
        items = self.client.iter_activities(
            direction="asc",
            page_token=checkpoint or None,
            on_bad_item=self._quarantine_hook(report),
        )
        async for item in read_ahead(items, self.batch_size):
            page.append(item)
            if len(page) >= self.batch_size:
                carried = await self._apply_activity_page(report, page, carried, hold)
                last_id = activity_id_of(page[-1])
                page = []
        if page:
            carried = await self._apply_activity_page(report, page, carried, hold)
            last_id = activity_id_of(page[-1])
        if carried and last_id and not hold.held:
            log.info(
                "%d FEE activities have no FILL to join (kept as activities only)", len(carried)
            )
            await self._commit(report, checkpoints={FEED_ACTIVITIES: last_id})
        report.finished_at = self.now()
        return report

    async def _apply_activity_page(
        self,
        report: SyncReport,
        page: list[Fill | Activity],
        carried: list[Activity],
        hold: CheckpointHold,
    ) -> list[Activity]:
        """Apply one page; returns the FEE activities still waiting for their fill.

        The page's rows go first: storing a FEE activity makes the store recompute the fee of its
        execution when that fill is stored already (an earlier page, or the stream), and
        ``ApplyResult.fees`` counts only fees that actually changed, so a replay reports 0. Then
        ``attach_fee`` tells, for each fee whose FILL was not in this page, whether that fill is
        stored; the checkpoint moves only once none is missing (in the same transaction as the
        page when no fee had to be looked up, else in a second one: a crash in between replays
        the page, which changes nothing). A record refused for a time ahead of this host's clock
        holds the checkpoint before it (``CheckpointHold``).
        """
        joined = join_fees([*carried, *page])
        attachments = joined.fee_attachments
        marks: dict[str, str] = {}

        def checkpoints(refused: Sequence[Quarantined]) -> dict[str, str]:
            marks.update(hold.activities(page, refused))
            return {} if attachments else marks

        await self._commit(
            report, fills=joined.fills, activities=joined.activities, checkpoints=checkpoints
        )
        unresolved: set[tuple[str, dt.datetime]] = set()
        for fee in attachments:

            async def attach(fee: FeeAttachment = fee) -> bool:
                return await self.store.attach_fee(
                    self.account, fee.order_id, fee.transaction_time, fee.amount
                )

            # True only says the fill is stored: the fee itself was set by the commit above.
            if not await self._shielded(attach):
                unresolved.add((fee.order_id, fee.transaction_time))
        still_carried = [
            a
            for a in joined.activities
            if a.activity_type.upper() == "FEE" and (a.order_id, a.transaction_time) in unresolved
        ]
        if attachments and marks and not still_carried:
            await self._commit(report, checkpoints=marks)
        if self.on_progress is not None:
            self.on_progress(FEED_ACTIVITIES, len(page))
        return still_carried

    async def sync_all(self) -> SyncReport:
        """Orders, activities, then account and positions: a full catch-up."""
        report = await self.sync_orders()
        report.merge(await self.sync_activities())
        report.merge(await self.sync_account())
        self.last_sync_at = self.now()
        return report
