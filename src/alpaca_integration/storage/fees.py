"""Fees, counted once: an execution's ``fee`` is the sum of its stored FEE activities.

A fill's ``fee`` (a positive cost) is the sum of the stored FEE activities with the same
``order_id`` and ``transaction_time`` (canceled ones excluded, status compared
case-insensitively), recomputed whenever a FEE activity or the fill arrives; without such
activities it is the fee the fill carried. So replaying pages, splitting them differently or
attaching a fee again never double counts. ``FeeWrites`` is the part of ``Store`` that does it
(inside ``apply``'s transaction, and ``attach_fee`` on its own).

Imports ``errors`` and the ``storage`` modules it names; never the client, the cache or the sync
engine.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from alpaca_integration.storage.base import (
    StoreBase,
    aware,
    check_account,
    chunks,
    fee_activities,
    utcnow,
)
from alpaca_integration.storage.tables import activities, fills

__all__ = ["FeeKey", "FeeWrites"]

# An execution as FEE activities name it: (order_id, transaction_time).
FeeKey = tuple[str, dt.datetime]

_CANCELED = "canceled"
_ZERO = Decimal(0)


class FeeWrites(StoreBase):
    """Recomputes executions' fees from the stored FEE activities."""

    async def attach_fee(
        self,
        account: str,
        order_id: str,
        transaction_time: dt.datetime,
        amount: Decimal,
    ) -> bool:
        """Account for a fee of the execution of ``order_id`` at ``transaction_time``.

        The execution's fee becomes the sum of the stored FEE activities with that order id and
        time (``amount`` is used only when no such activity is stored), so calling this again, or
        after the activities were applied, never double counts. Returns False when no fill of
        that order at that time is stored yet (call again after the fill arrives).
        """
        account = check_account(account)
        aware(transaction_time, "fee transaction_time")
        now = utcnow()
        async with self._write("attach a fee") as connection:
            found = await connection.execute(
                sa.select(sa.literal(1))
                .where(
                    fills.c.account == account,
                    fills.c.order_id == order_id,
                    fills.c.timestamp == transaction_time,
                )
                .limit(1)
            )
            if found.first() is None:
                return False
            await self._recompute_fees(
                connection, account, {(order_id, transaction_time)}, now, fallback=amount
            )
            return True

    async def _recompute_fees(
        self,
        connection: AsyncConnection,
        account: str,
        keys: set[FeeKey],
        now: dt.datetime,
        fallback: Decimal | None = None,
    ) -> int:
        """Set each touched execution's fee to the sum of its stored, non-canceled FEE
        activities; returns the fills whose fee changed.

        A key whose FEE activities are all canceled goes back to ``fallback`` (0 when None):
        the broker withdrew the charge. A key with no FEE activity stored at all keeps its fee
        unless a ``fallback`` is given, as that fee came from elsewhere (the fill itself).
        """
        if not keys:
            return 0
        totals, withdrawn = await self._fee_totals(connection, account, keys)
        for key in keys:
            if fallback is not None:
                totals.setdefault(key, fallback)
            elif key in withdrawn:
                totals.setdefault(key, _ZERO)
        wanted = {key: total for key, total in totals.items() if key in keys}
        if not wanted:
            return 0
        first_fill = await self._first_fills(connection, account, wanted)
        updates = [
            {"key_order": key[0], "key_cum": cum_qty, "new_fee": wanted[key], "now": now}
            for key, (cum_qty, fee) in first_fill.items()
            if fee != wanted[key]
        ]
        if updates:
            await connection.execute(
                sa.update(fills)
                .where(
                    fills.c.account == account,
                    fills.c.order_id == sa.bindparam("key_order"),
                    fills.c.cum_qty == sa.bindparam("key_cum"),
                )
                .values(fee=sa.bindparam("new_fee"), ingested_at=sa.bindparam("now")),
                updates,
            )
        return len(updates)

    async def _fee_totals(
        self, connection: AsyncConnection, account: str, keys: set[FeeKey]
    ) -> tuple[dict[FeeKey, Decimal], set[FeeKey]]:
        """The non-canceled FEE total of every execution of the orders in ``keys``, and the
        executions that have canceled FEEs."""
        totals: dict[FeeKey, Decimal] = {}
        withdrawn: set[FeeKey] = set()
        for chunk in chunks(sorted({order_id for order_id, _ in keys})):
            result = await connection.execute(
                sa.select(
                    activities.c.order_id,
                    activities.c.transaction_time,
                    activities.c.net_amount,
                    activities.c.status,
                ).where(fee_activities(account), activities.c.order_id.in_(chunk))
            )
            for order_id, at, net_amount, status in result.all():
                key = (str(order_id), at)
                # Same test as base.fee_rows, which the lock's has_fees probe uses.
                if (status or "").lower() == _CANCELED:
                    withdrawn.add(key)
                    continue
                # net_amount is negative for a charge; the fill's fee is the positive cost.
                totals[key] = totals.get(key, _ZERO) - net_amount
        return totals, withdrawn

    async def _first_fills(
        self, connection: AsyncConnection, account: str, wanted: dict[FeeKey, Decimal]
    ) -> dict[FeeKey, tuple[Decimal, Decimal]]:
        """The execution each fee goes to, as ``key -> (cum_qty, fee stored)``: two executions
        at the same instant give the fee to the first (lowest cum_qty)."""
        first_fill: dict[FeeKey, tuple[Decimal, Decimal]] = {}
        for chunk in chunks(sorted({order_id for order_id, _ in wanted})):
            result = await connection.execute(
                sa.select(fills.c.order_id, fills.c.timestamp, fills.c.cum_qty, fills.c.fee).where(
                    fills.c.account == account, fills.c.order_id.in_(chunk)
                )
            )
            for order_id, timestamp, cum_qty, fee in result.all():
                key = (str(order_id), timestamp)
                if key not in wanted:
                    continue
                known = first_fill.get(key)
                if known is None or cum_qty < known[0]:
                    first_fill[key] = (cum_qty, fee)
        return first_fill
