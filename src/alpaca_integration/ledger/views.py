"""Read-side helpers of the ledger: summaries, valuations and pending actions, as frozen rows.

Imports only ``ledger.corporate``, ``ledger.events`` and ``ledger.records``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from alpaca_integration.ledger.corporate import Carry
from alpaca_integration.ledger.events import Leg
from alpaca_integration.ledger.records import (
    Income,
    Lot,
    LotValuation,
    Match,
    PendingAction,
    PnlSummary,
)

__all__ = ["pending_actions", "summarize", "value_lot"]

_ZERO = Decimal(0)


def value_lot(lot: Lot, price: Decimal | None) -> LotValuation:
    if price is None:
        return LotValuation(lot=lot, price=None, market_value=None, unrealized=None)
    value = price * lot.qty * lot.multiplier
    return LotValuation(lot=lot, price=price, market_value=value, unrealized=value - lot.cost)


def summarize(matches: Iterable[Match], income: Iterable[Income], by: str) -> dict[str, PnlSummary]:
    """Realized P&L and income grouped by ``symbol`` or ``sleeve``."""
    if by not in ("symbol", "sleeve"):
        raise ValueError(f"summary by {by!r}: use 'symbol' or 'sleeve'")
    groups: dict[str, list[Decimal]] = {}
    for match in matches:
        row = groups.setdefault(getattr(match, by), [_ZERO] * 7)
        net = match.net
        row[0] += match.gross
        row[1] += match.open_fee + match.close_fee
        row[2] += net
        row[4] += 1
        row[5] += net > 0
        row[6] += net < 0
    for item in income:
        groups.setdefault(getattr(item, by) or "", [_ZERO] * 7)[3] += item.amount
    return {
        name: PnlSummary(
            realized_gross=row[0],
            fees=row[1],
            realized_net=row[2],
            income=row[3],
            matches=int(row[4]),
            wins=int(row[5]),
            losses=int(row[6]),
        )
        for name, row in sorted(groups.items())
    }


def pending_actions(
    groups: Mapping[str, list[Leg]], carries: Mapping[str, Carry]
) -> list[PendingAction]:
    waiting = [
        PendingAction(
            group=key,
            activity_type=legs[0].activity_type,
            activity_ids=tuple(leg.activity_id for leg in legs),
            detached_qty=_ZERO,
            detached_cost=_ZERO,
        )
        for key, legs in sorted(groups.items())
    ]
    waiting += [
        PendingAction(
            group=key,
            activity_type="OPTRD",
            activity_ids=(),
            detached_qty=sum(carry.contracts.values(), _ZERO),
            detached_cost=sum(carry.cost.values(), _ZERO),
        )
        for key, carry in sorted(carries.items())
    ]
    return waiting
