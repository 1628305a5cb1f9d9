"""Quality rules over one account's stored state: pure functions, one finding per broken rule.

:func:`evaluate_rules` runs every rule over a :class:`StoreState` and returns
:class:`QualityResult` rows; each rule is a named step below (``_fills_without_order``,
``_position_mismatches``, ...) so a reader finds a rule by its name. ``checks.quality`` loads the
state from the store and writes the results.

Imports ``models``, ``instruments`` and the pure ledger's corporate-action reading (how a leg of
a split or merger changes a position) only: no I/O, never the store, the client, sync, the flows
or the CLI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_UP, Decimal
from typing import NamedTuple

import msgspec

from alpaca_integration.instruments import (
    CRYPTO_MAX_FEE_RATE,
    CRYPTO_QTY_STEP,
    is_crypto_symbol,
    position_key,
)
from alpaca_integration.ledger.corporate import leg_symbol
from alpaca_integration.ledger.events import Role, leg_of, role_of
from alpaca_integration.models import (
    AccountSnapshot,
    Activity,
    Fill,
    Order,
    OrderStatus,
    Position,
)

__all__ = [
    "RULES",
    "SEVERITY_ERROR",
    "SEVERITY_WARNING",
    "QualityResult",
    "StoreState",
    "evaluate_rules",
]

SEVERITY_ERROR = "error"
SEVERITY_WARNING = "warning"

_ZERO = Decimal(0)

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

# How many legs each multi-leg class must have under its entry.
_EXPECTED_LEGS = {"bracket": 2, "oco": 1, "oto": 1}
_DEAD = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED})


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
    activities: tuple[Activity, ...] = ()


class _Issue(NamedTuple):
    rule: str
    subject: str
    severity: str
    detail: str


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


# --------------------------------------------------------------------------- the rules


def _fills_without_order(
    orders: Mapping[str, Order], fills_by_order: Mapping[str, list[Fill]]
) -> list[_Issue]:
    issues = []
    for order_id in sorted(set(fills_by_order) - set(orders)):
        fills = fills_by_order[order_id]
        fill_ids = ", ".join(sorted(f.fill_id for f in fills))
        issues.append(
            _Issue(
                "fill_without_order",
                order_id,
                SEVERITY_ERROR,
                f"{len(fills)} fill(s) ({fill_ids}) reference order {order_id}, which is not in "
                "the store",
            )
        )
    return issues


def _fill_qty_mismatches(
    orders: Mapping[str, Order], fills_by_order: Mapping[str, list[Fill]]
) -> list[_Issue]:
    issues = []
    for order_id in sorted(orders):
        order = orders[order_id]
        if order.order_class.value == "mleg" and order.parent_id is None:
            continue  # a multi-leg order executes on its legs; its filled_qty counts units
        fills = fills_by_order.get(order_id, [])
        total = sum((f.qty for f in fills), _ZERO)
        if total != order.filled_qty:
            issues.append(
                _Issue(
                    "order_fill_qty_mismatch",
                    order_id,
                    SEVERITY_ERROR,
                    f"filled_qty {_num(order.filled_qty)} but its {len(fills)} fill(s) sum to "
                    f"{_num(total)}",
                )
            )
    return issues


# Activities that change a position without a fill, their ``qty`` signed as the change: an
# option exercised (OPEXC), assigned (OPASN) or expired (OPEXP), the underlying's shares it
# delivers (OPTRD), and a crypto fee paid in the coin (CFEE with a negative qty).
_POSITION_ACTIVITIES = frozenset({"OPEXC", "OPASN", "OPEXP", "OPTRD", "CFEE"})
# Corporate actions and share transfers, read as the ledger reads them: each leg's signed ``qty``
# is the change to one symbol's position (a 2:1 split of 10 shares: -10 and +20).
_CORPORATE_ROLES = frozenset({Role.REORG_LEG, Role.SPIN, Role.STOCK_DIVIDEND, Role.TRANSFER})


def _add_corporate_actions(signed: dict[str, Decimal], activities: Iterable[Activity]) -> None:
    """Add the legs of corporate actions (splits, name changes, mergers, spin-offs, stock
    dividends) and share transfers to ``signed``, on the symbol the ledger's corporate-action
    code books each leg to; a canceled activity changes nothing (as in the ledger)."""
    legs = [
        leg_of(activity)
        for activity in activities
        if activity.qty
        and (activity.status or "").lower() != "canceled"
        and role_of(activity) in _CORPORATE_ROLES
    ]
    before = dict(signed)  # a removal leg is told by the old symbol's position before the action
    for leg in legs:
        symbol = leg_symbol(leg, lambda old: before.get(position_key(old), _ZERO))
        if symbol is not None:
            key = position_key(symbol)
            signed[key] = signed.get(key, _ZERO) + leg.qty


def _unposted_coin_fees(
    fills: Iterable[Fill], activities: Sequence[Activity]
) -> dict[str, Decimal]:
    """The most coins, per pair, that crypto buys may have paid in fees whose ``CFEE`` has not
    posted yet. Alpaca takes a buy's fee out of the position at the fill but posts the CFEE at
    the end of the day: until then the position is short of its fills by up to the highest fee
    rate. A fill counts as posted when a CFEE of its order dated at or after it is stored."""
    posted: dict[str, list[dt.datetime | None]] = {}
    for activity in activities:
        if activity.activity_type.upper() == "CFEE" and activity.order_id:
            posted.setdefault(activity.order_id, []).append(activity.transaction_time)
    pending: dict[str, Decimal] = {}
    for fill in fills:
        if fill.side.value != "buy" or not is_crypto_symbol(fill.symbol):
            continue
        times = posted.get(fill.order_id, [])
        if any(at is None or at >= fill.timestamp for at in times):
            continue
        most = (fill.qty * CRYPTO_MAX_FEE_RATE).quantize(CRYPTO_QTY_STEP, rounding=ROUND_UP)
        key = position_key(fill.symbol)
        pending[key] = pending.get(key, _ZERO) + most
    return pending


def _position_mismatches(
    fills: Iterable[Fill], positions: Iterable[Position], activities: Sequence[Activity] = ()
) -> list[_Issue]:
    """With complete fill history the sum of all fills equals the sum since the position was
    last flat, so the position must equal the signed sum of the symbol's fills, of the
    activities that move positions and of corporate-action legs (a split's legs take the old
    quantity away and put the new one in); a pair's ``BTC/USD`` fills meet its ``BTCUSD``
    position."""
    fills = list(fills)
    unposted = _unposted_coin_fees(fills, activities)
    signed: dict[str, Decimal] = {}
    for fill in fills:
        delta = fill.qty if fill.side.value == "buy" else -fill.qty
        key = position_key(fill.symbol)
        signed[key] = signed.get(key, _ZERO) + delta
    for activity in activities:
        if activity.activity_type.upper() in _POSITION_ACTIVITIES and activity.symbol:
            key = position_key(activity.symbol)
            signed[key] = signed.get(key, _ZERO) + (activity.qty or _ZERO)
    _add_corporate_actions(signed, activities)
    held = {position_key(p.symbol): p.qty for p in positions}
    issues = []
    for symbol in sorted(set(signed) | set(held)):
        position = held.get(symbol, _ZERO)
        from_fills = signed.get(symbol, _ZERO)
        if _ZERO < from_fills - position <= unposted.get(symbol, _ZERO):
            continue  # coin fees taken at the fill, their CFEE not posted yet
        if position != from_fills:
            issues.append(
                _Issue(
                    "position_fill_mismatch",
                    symbol,
                    SEVERITY_ERROR,
                    f"position {_num(position)} but the signed sum of fills (and of the "
                    f"activities that move positions) is {_num(from_fills)}",
                )
            )
    return issues


def _snapshot_issues(
    snapshot: AccountSnapshot | None,
    *,
    now: dt.datetime,
    update_interval: dt.timedelta,
    equity_tolerance: Decimal,
) -> list[_Issue]:
    if snapshot is None:
        return [
            _Issue(
                "stale_snapshot", "account", SEVERITY_WARNING, "no account snapshot in the store"
            )
        ]
    issues = []
    expected = snapshot.cash + snapshot.long_market_value - abs(snapshot.short_market_value)
    if abs(snapshot.equity - expected) > equity_tolerance:
        issues.append(
            _Issue(
                "equity_mismatch",
                "account",
                SEVERITY_ERROR,
                f"equity {_num(snapshot.equity)} but cash {_num(snapshot.cash)} + long "
                f"{_num(snapshot.long_market_value)} - short "
                f"{_num(abs(snapshot.short_market_value))} = {_num(expected)} (tolerance "
                f"{_num(equity_tolerance)})",
            )
        )
    if snapshot.multiplier == 1 and snapshot.cash < 0:
        issues.append(
            _Issue(
                "negative_cash_on_cash_account",
                "account",
                SEVERITY_ERROR,
                f"cash {_num(snapshot.cash)} on a cash account (multiplier 1)",
            )
        )
    age = now - snapshot.observed_at
    if age > 3 * update_interval:
        issues.append(
            _Issue(
                "stale_snapshot",
                "account",
                SEVERITY_WARNING,
                f"latest snapshot is {age.total_seconds():.0f}s old, more than three update "
                f"intervals ({3 * update_interval.total_seconds():.0f}s)",
            )
        )
    return issues


def _orphaned_legs(orders: Mapping[str, Order]) -> tuple[list[_Issue], dict[str, list[Order]]]:
    """Legs whose parent is not stored, and the stored legs grouped by their parent."""
    issues = []
    legs_by_parent: dict[str, list[Order]] = {}
    for order in orders.values():
        if order.parent_id is None:
            continue
        if order.parent_id in orders:
            legs_by_parent.setdefault(order.parent_id, []).append(order)
            continue
        issues.append(
            _Issue(
                "orphaned_leg",
                order.id,
                SEVERITY_ERROR,
                f"leg of parent {order.parent_id}, which is not in the store",
            )
        )
    return issues, legs_by_parent


def _unbalanced_legs(parent: Order, legs: Sequence[Order]) -> list[_Issue]:
    """A multi-leg entry with the wrong number of legs, two filled exits, or legs still open
    under an entry that died unfilled."""
    order_class = parent.order_class.value
    want = _EXPECTED_LEGS[order_class]
    details = []
    if len(legs) != want:
        details.append(f"{order_class} order with {len(legs)} leg(s), expected {want}")
    exits = legs if order_class == "bracket" else [parent, *legs]
    filled_exits = sorted(o.id for o in exits if o.status is OrderStatus.FILLED)
    if order_class != "oto" and len(filled_exits) > 1:
        details.append(
            f"both exits filled ({', '.join(filled_exits)}): one should have been canceled"
        )
    if order_class in ("bracket", "oto") and parent.status in _DEAD and parent.filled_qty == 0:
        still_open = sorted(o.id for o in legs if o.status.is_open)
        if still_open:
            details.append(
                f"entry {parent.status.value} unfilled but leg(s) {', '.join(still_open)} "
                "are still open"
            )
    return [_Issue("unbalanced_legs", parent.id, SEVERITY_ERROR, detail) for detail in details]


def _leg_issues(orders: Mapping[str, Order]) -> list[_Issue]:
    issues, legs_by_parent = _orphaned_legs(orders)
    for order_id in sorted(orders):
        parent = orders[order_id]
        if parent.order_class.value in _EXPECTED_LEGS and parent.parent_id is None:
            issues.extend(_unbalanced_legs(parent, legs_by_parent.get(order_id, [])))
    return issues


def _duplicate_client_order_ids(orders: Mapping[str, Order]) -> list[_Issue]:
    by_client_id: dict[str, list[str]] = {}
    for order in orders.values():
        if order.client_order_id:
            by_client_id.setdefault(order.client_order_id, []).append(order.id)
    return [
        _Issue(
            "duplicate_client_order_id",
            client_order_id,
            SEVERITY_ERROR,
            f"client_order_id used by {len(ids)} orders: {', '.join(sorted(ids))}",
        )
        for client_order_id, ids in sorted(by_client_id.items())
        if len(ids) > 1
    ]


# --------------------------------------------------------------------------- all of them


def _index(state: StoreState) -> tuple[dict[str, Order], dict[str, list[Fill]]]:
    """Every stored order by id (legs flattened) and the fills of each order."""
    orders = {one.id: one for order in state.orders for one in order.flatten()}
    fills_by_order: dict[str, list[Fill]] = {}
    for fill in state.fills:
        fills_by_order.setdefault(fill.order_id, []).append(fill)
    return orders, fills_by_order


def evaluate_rules(
    state: StoreState,
    *,
    now: dt.datetime,
    update_interval: dt.timedelta = dt.timedelta(seconds=60),
    equity_tolerance: Decimal = Decimal("0.01"),
) -> list[QualityResult]:
    """Every rule over one account's stored state; pure. The rules, by name:

    * ``fill_without_order``: a fill whose order is not in the store.
    * ``order_fill_qty_mismatch``: an order's filled_qty differs from the sum of its fills (an
      mleg parent executes on its legs and is not checked).
    * ``position_fill_mismatch``: a position differs from the signed sum of the symbol's fills
      and position-moving activities (OPEXC, OPASN, OPEXP, OPTRD, a CFEE in the coin), pairs
      matched without their slash; a pair short of its fills by no more than the highest fee
      rate on the buys whose CFEE has not posted yet is not a finding (Alpaca takes the coins at
      the fill and posts the CFEE at the end of the day) (checked only when the fill history is complete; with
      complete history the sum of all fills equals the sum since the position was last flat).
    * ``equity_mismatch``: equity differs from cash + long market value - |short market value|
      by more than ``equity_tolerance``.
    * ``negative_cash_on_cash_account``: cash below zero on a cash account (multiplier 1).
    * ``stale_snapshot``: no snapshot, or the latest older than three update intervals.
    * ``orphaned_leg``: a leg whose parent order is not in the store.
    * ``unbalanced_legs``: a bracket without exactly two legs, an OCO/OTO without exactly one,
      both exits of one bracket/OCO filled, or legs still open under an entry that died unfilled.
    * ``duplicate_client_order_id``: one client_order_id on several orders.
    """
    if now.tzinfo is None:
        raise ValueError("the quality rules need a timezone-aware 'now' (UTC)")
    orders, fills_by_order = _index(state)
    issues = [
        *_fills_without_order(orders, fills_by_order),
        *_fill_qty_mismatches(orders, fills_by_order),
        *(
            _position_mismatches(state.fills, state.positions, state.activities)
            if state.fill_history_complete
            else []
        ),
        *_snapshot_issues(
            state.snapshot,
            now=now,
            update_interval=update_interval,
            equity_tolerance=equity_tolerance,
        ),
        *_leg_issues(orders),
        *_duplicate_client_order_ids(orders),
    ]
    # An issue's rule, subject, severity and detail, for this account, now.
    return [
        QualityResult(**issue._asdict(), account=state.account, created_at=now) for issue in issues
    ]
