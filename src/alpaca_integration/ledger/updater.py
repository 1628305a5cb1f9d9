"""Keeps the stored ledger of one account up to date: ``LedgerUpdater.update()`` after each sync.

The first update of a process replays the account's stored events into an in-memory ``Ledger``
(about 10 us a fill) and writes what the stored rows lack: matches after the stored count, the
stored matches a later event changed (a crypto fee posted after its sell), every open lot,
income, the days those touched. Later updates read only the fills and activities from
the checkpoint on (the newest event time applied), apply them and write the change. Whenever the
incremental path cannot be trusted it rebuilds (``rebuild()``: every ledger row of the account
replaced in one transaction, identical to what the incremental path writes):

* an event older than one applied (``LedgerOrderError``: a late fill);
* the store holds more fills or activities than the ledger was given (an older one arrived after
  the checkpoint moved past it);
* the stored rows disagree with the replay (another method, a different match count).

Every write is one ``Store.write_ledger`` call (one transaction, idempotent). Returns per day are
recomputed from the stored account snapshots and cash-flow activities when a snapshot is newer.

Imports the pure ledger and, for the write's shape, ``storage.ledger_rows``; the store itself is
passed in (the monitor opens it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from alpaca_integration.ledger.ledger import Ledger, LedgerEvent, LedgerOrderError
from alpaca_integration.ledger.records import LedgerChanges, Match, MatchingMethod
from alpaca_integration.ledger.returns import cash_flows, daily_equity, daily_returns
from alpaca_integration.ledger.rows import (
    day_of,
    income_row,
    lot_rows,
    match_from_row,
    match_row,
    returns_rows,
)
from alpaca_integration.ledger.sleeves import SleeveConvention
from alpaca_integration.models import Activity, Fill, Order
from alpaca_integration.storage.ledger_rows import LedgerWrite

if TYPE_CHECKING:
    from alpaca_integration.storage import Store

__all__ = ["LedgerUpdate", "LedgerUpdater"]

_ZERO = Decimal(0)
_FLOW_TYPES = ("CSD", "CSW", "JNLC", "JNLS", "ACATC", "ACATS")
# Orders are fetched for the fills' sleeves: an order, then its parent or replaced order, up to
# this many generations (a replace chain longer than this books to the order's own sleeve).
_ANCESTRY = 8


class LedgerUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """What one update did: events applied, matches written, whether it rebuilt and why."""

    account: str
    applied: int
    matches: int
    rebuilt: bool
    reason: str = ""


class LedgerUpdater:
    """The stored ledger of ``account``, brought up to date from the store's events."""

    def __init__(
        self,
        store: Store,
        account: str,
        *,
        method: MatchingMethod = MatchingMethod.FIFO,
        sleeves: SleeveConvention | None = None,
    ) -> None:
        self.store = store
        self.account = account
        self.method = method
        self.sleeves = sleeves or SleeveConvention()
        self._ledger: Ledger | None = None
        self._fills: set[str] = set()
        self._activities: set[str] = set()
        self._orders: set[str] = set()
        self._matches = 0
        self._checkpoint: dt.datetime | None = None
        self._snapshot_at: object = None  # the newest snapshot and the stored history last used
        # Daily P&L per (New York day, sleeve, symbol): realized gross, fees, income, matches.
        self._daily: dict[tuple[dt.date, str, str], list[Any]] = {}

    def _fresh(self) -> Ledger:
        self._fills, self._activities, self._orders = set(), set(), set()
        self._daily = {}
        self._matches, self._checkpoint, self._snapshot_at = 0, None, None
        self._ledger = Ledger(
            self.account, method=self.method, sleeves=self.sleeves, keep_matches=False
        )
        return self._ledger

    # ------------------------------------------------------------------ entry points

    async def update(self) -> LedgerUpdate:
        """Apply what is new since the checkpoint and write it (or rebuild, see the module)."""
        counts = await self.store.ledger_source_counts(self.account)
        if self._ledger is None:
            return await self._resume()
        fills = await self.store.list_fills(self.account, since=self._checkpoint)
        since = None if self._checkpoint is None else day_of(self._checkpoint)
        activities = await self.store.list_activities(
            self.account, since=since and since - dt.timedelta(days=1)
        )
        fills = [f for f in fills if f.fill_id not in self._fills]
        activities = [a for a in activities if a.id not in self._activities]
        orders = await self._orders_of(fills)
        try:
            changes = self._apply(self._ledger, orders, fills, activities)
        except LedgerOrderError:
            return await self.rebuild("an event older than the checkpoint arrived")
        if len(self._fills) < counts[0] or len(self._activities) < counts[1]:
            return await self.rebuild("the store holds events older than the checkpoint")
        await self._write(self._ledger, changes, replace=False)
        return LedgerUpdate(
            account=self.account,
            applied=changes.applied,
            matches=len(changes.matches),
            rebuilt=False,
        )

    async def rebuild(self, reason: str = "asked") -> LedgerUpdate:
        """Replay every stored event into a fresh ledger and replace the account's rows."""
        ledger = self._fresh()
        changes = self._apply(ledger, *await self._everything())
        await self._write(ledger, changes, replace=True)
        return LedgerUpdate(
            account=self.account,
            applied=changes.applied,
            matches=len(changes.matches),
            rebuilt=True,
            reason=reason,
        )

    async def _resume(self) -> LedgerUpdate:
        """First update of this process: replay, then write only what the stored rows lack."""
        state = await self.store.ledger_state(self.account)
        if state is None or state["method"] != self.method.value:
            return await self.rebuild("no stored ledger" if state is None else "method changed")
        ledger = self._fresh()
        orders, fills, activities = await self._everything()
        changes = self._apply(ledger, orders, fills, activities)
        stored = int(state["matches"])
        checkpoint = state["checkpoint"]
        before = (
            len(self._fills)
            if checkpoint is None
            else len([fill for fill in fills if fill.timestamp <= checkpoint])
        )
        if stored > len(changes.matches) or before != int(state["fills"]):
            return await self.rebuild("the stored ledger is not a prefix of the replay")
        every_day = await self._tally(changes)
        new = changes.matches[stored:]
        # A stored match an event changed since it was written (a CFEE posted after the sell it
        # charges adds to that match's close fee) is rewritten with the replay's version.
        rows = await self.store.ledger_matches(self.account)
        changed = tuple(
            (seq, match)
            for seq, (row, match) in enumerate(zip(rows, changes.matches, strict=False))
            if match_from_row(self.account, row) != match
        )
        every_book = frozenset((lot.sleeve, lot.symbol) for lot in ledger.open_lots())
        stored_books = {
            (r["sleeve"], r["symbol"]) for r in await self.store.ledger_lots(self.account)
        }
        delta = LedgerChanges(
            matches=new,
            income=changes.income,
            books=every_book | stored_books,
            applied=changes.applied,
            updated_matches=changed,
        )
        await self._write(ledger, delta, replace=False, first=stored, days=every_day)
        return LedgerUpdate(
            account=self.account, applied=changes.applied, matches=len(new), rebuilt=False
        )

    # ------------------------------------------------------------------ reading events

    async def _everything(self) -> tuple[list[Order], list[Fill], list[Activity]]:
        orders = await self.store.list_orders(self.account)
        fills = await self.store.list_fills(self.account)
        activities = await self.store.list_activities(self.account)
        return orders, fills, activities

    async def _orders_of(self, fills: Sequence[Fill]) -> list[Order]:
        """The new fills' orders and their parents / replaced orders (ancestors first)."""
        wanted = {fill.order_id for fill in fills} - self._orders
        generations: list[list[Order]] = []
        for _ in range(_ANCESTRY):
            if not wanted:
                break
            found = await self.store.list_orders(self.account, ids=sorted(wanted))
            generations.append(found)
            self._orders |= wanted
            wanted = {o for order in found for o in (order.parent_id, order.replaces) if o}
            wanted -= self._orders
        return [order for generation in reversed(generations) for order in generation]

    def _apply(
        self,
        ledger: Ledger,
        orders: Iterable[Order],
        fills: Sequence[Fill],
        activities: Sequence[Activity],
    ) -> LedgerChanges:
        orders = list(orders)
        events: list[LedgerEvent] = [*orders, *fills, *activities]
        changes = ledger.apply(events)
        self._orders.update(order.id for order in orders)
        self._fills.update(fill.fill_id for fill in fills)
        self._activities.update(activity.id for activity in activities)
        times = [f.timestamp for f in fills] + [
            a.transaction_time for a in activities if a.transaction_time
        ]
        if times:
            newest = max(times)
            self._checkpoint = newest if self._checkpoint is None else max(newest, self._checkpoint)
        return changes

    # ------------------------------------------------------------------ writing

    async def _tally(self, changes: LedgerChanges) -> set[tuple[dt.date, str, str]]:
        """Add the changes to the daily P&L kept here; the keys they touched. A match changed
        by a later crypto fee replaces its stored version (read back for the difference)."""
        touched: set[tuple[dt.date, str, str]] = set()

        def add(match: Match, sign: int) -> None:
            key = (day_of(match.closed_at), match.sleeve, match.symbol)
            sums = self._daily.setdefault(key, [_ZERO, _ZERO, _ZERO, 0])
            sums[0] += sign * match.gross
            sums[1] += sign * match.fees
            sums[3] += sign
            touched.add(key)

        for match in changes.matches:
            add(match, 1)
        if changes.updated_matches:
            seqs = [seq for seq, _ in changes.updated_matches]
            for row in await self.store.ledger_matches_at(self.account, seqs):
                add(match_from_row(self.account, row), -1)
            for _, match in changes.updated_matches:
                add(match, 1)
        for item in changes.income:
            key = (day_of(item.at), item.sleeve, item.symbol or "")
            self._daily.setdefault(key, [_ZERO, _ZERO, _ZERO, 0])[2] += item.amount
            touched.add(key)
        return touched

    def _daily_rows(self, keys: Iterable[tuple[dt.date, str, str]]) -> list[dict[str, Any]]:
        rows = []
        for key in sorted(keys):
            gross, fees, income, count = self._daily[key]
            rows.append(
                {
                    "day": key[0],
                    "sleeve": key[1],
                    "symbol": key[2],
                    "realized_gross": gross,
                    "fees": fees,
                    "realized_net": gross - fees,
                    "income": income,
                    "matches": count,
                }
            )
        return rows

    async def _write(
        self,
        ledger: Ledger,
        changes: LedgerChanges,
        *,
        replace: bool,
        first: int | None = None,
        days: set[tuple[dt.date, str, str]] | None = None,
    ) -> None:
        """Write ``changes`` (``days``: daily keys already tallied, else tallied here)."""
        touched = await self._tally(changes) if days is None else days
        start = self._matches if first is None else first
        matches = [match_row(start + i, m) for i, m in enumerate(changes.matches)]
        matches += [match_row(seq, m) for seq, m in changes.updated_matches]
        self._matches = start + len(changes.matches)
        lots = [
            lot
            for sleeve, symbol in sorted(changes.books)
            for lot in ledger.open_lots(symbol=symbol, sleeve=sleeve)
        ]
        write = LedgerWrite(
            matches=matches,
            books=sorted(changes.books),
            lots=lot_rows(lots),
            income=[income_row(item) for item in changes.income],
            daily=self._daily_rows(touched),
            returns=await self._returns(force=replace),
            state={
                "method": self.method.value,
                "fills": len(self._fills),
                "activities": len(self._activities),
                "matches": self._matches,
                "checkpoint": self._checkpoint,
                **({"rebuilt_at": dt.datetime.now(dt.UTC)} if replace else {}),
            },
            replace=replace,
        )
        await self.store.write_ledger(self.account, write)

    async def _returns(self, *, force: bool) -> list[dict[str, Any]] | None:
        """The returns series when a newer snapshot or another portfolio history was stored (or
        ``force``), else None; the history gives the equity of the days without a snapshot."""
        latest = await self.store.latest_snapshot(self.account)
        history = await self.store.portfolio_history(self.account)
        newest = (
            latest.observed_at if latest is not None else None,
            None if history is None else (history.timestamps, history.equity),
        )
        if not force and newest == self._snapshot_at:
            return None
        self._snapshot_at = newest
        snapshots = await self.store.list_snapshots(self.account)
        flows = cash_flows(
            await self.store.list_activities(self.account, activity_types=_FLOW_TYPES)
        )
        return returns_rows(daily_returns(daily_equity(snapshots, history), flows))
