"""Record validation before storage: what sync runs on every record before ``Store.apply``.

``validate_order``/``validate_fill``/``validate_activity``/``validate_position``/
``validate_snapshot``/``validate_trade_update`` return the list of what is wrong with one record
(empty = good); none of them raises. :func:`split_page` takes a raw JSON list body and a per-item
parse function and returns the good models and the quarantined items (each with its own raw bytes
and the reason), so one bad item (an unknown order status, a negative price) never blocks the good
ones beside it; :func:`screen` does the same for models already parsed (stream events). The sync
engine persists the quarantined records and applies the good ones.

It lives in ``sync`` because sync needs it and sync must not import ``checks``; the quality rules
over the store (``checks.quality``) build on it, never the other way round.

Imports ``models`` and ``order_fields`` only: never the store, the client, ``checks``, the
simulator, the flows or the CLI.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

from alpaca_integration.alpaca.paging import split_items
from alpaca_integration.errors import ParseError
from alpaca_integration.models import (
    AccountSnapshot,
    Activity,
    Fill,
    Order,
    OrderClass,
    OrderStatus,
    Position,
    PositionSide,
    TradeUpdate,
)
from alpaca_integration.order_fields import ORDER_TIME_FIELDS

__all__ = [
    "AHEAD_OF_CLOCK",
    "DEFAULT_MAX_SKEW",
    "MAX_MAGNITUDE",
    "PageSplit",
    "Quarantined",
    "Record",
    "record_key",
    "record_kind",
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

DEFAULT_MAX_SKEW = dt.timedelta(seconds=60)
# The words of a "too far in the future" issue: such a record is refused for now only (the host's
# clock is behind the venue's), so ``Quarantined.deferred`` tells sync not to checkpoint past it.
AHEAD_OF_CLOCK = "is ahead of this host's clock"

Record = Order | Fill | Activity | Position | AccountSnapshot | TradeUpdate
T = TypeVar("T")


# --------------------------------------------------------------------------- field checks


# Beyond any real price, quantity or balance, and beyond the 12 integer digits the store keeps:
# such a number is a corrupt or hostile payload, not data.
MAX_MAGNITUDE = Decimal("1e12")


def _finite(value: Decimal) -> bool:
    # NaN and Infinity parse as Decimals and make ordered comparisons raise: test them first.
    return value.is_finite() and abs(value) < MAX_MAGNITUDE


def _check_positive(issues: list[str], name: str, value: Decimal | None, *, required: bool) -> None:
    if value is None:
        if required:
            issues.append(f"{name} is missing")
        return
    if not _finite(value):
        issues.append(f"{name} is not a finite number below 1e12 ({value})")
    elif value <= 0:
        issues.append(f"{name} must be positive, got {value}")


def _check_non_negative(issues: list[str], name: str, value: Decimal | None) -> None:
    if value is None:
        return
    if not _finite(value):
        issues.append(f"{name} is not a finite number below 1e12 ({value})")
    elif value < 0:
        issues.append(f"{name} must not be negative, got {value}")


def _check_finite(issues: list[str], name: str, value: Decimal | None) -> None:
    if value is not None and not _finite(value):
        issues.append(f"{name} is not a finite number below 1e12 ({value})")


def _check_text(issues: list[str], name: str, value: str | None) -> None:
    if value is None or not value.strip():
        issues.append(f"{name} is missing or empty")


def _check_time(
    issues: list[str],
    name: str,
    value: dt.datetime | None,
    now: dt.datetime,
    max_skew: dt.timedelta,
    *,
    required: bool = False,
) -> None:
    if value is None:
        if required:
            issues.append(f"{name} is missing")
        return
    if value.tzinfo is None or value.utcoffset() is None:
        issues.append(f"{name} has no timezone")
        return
    if value > now + max_skew:
        # Never the current time in the reason: the same record refused again is the same row.
        issues.append(
            f"{name} {value.isoformat()} {AHEAD_OF_CLOCK} (skew allowed "
            f"{max_skew.total_seconds():g}s)"
        )


def _guard(check: Callable[[], list[str]]) -> list[str]:
    # Validation must never be the thing that crashes a sync: an unexpected error is a finding.
    try:
        return check()
    except Exception as exc:  # any failure inside a check means the record is not trustworthy
        return [f"validation failed: {type(exc).__name__}: {exc}"]


def _require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("validation needs a timezone-aware 'now' (UTC)")


def _check_fill_state(issues: list[str], order: Order) -> None:
    """The order's status agrees with its filled quantity and average price."""
    filled = order.filled_qty
    qty = order.qty
    if _finite(filled) and qty is not None and _finite(qty):
        if filled > qty:
            issues.append(f"filled_qty {filled} exceeds qty {qty}")
        if order.status is OrderStatus.FILLED and filled != qty:
            issues.append(f"status filled but filled_qty {filled} != qty {qty}")
    if _finite(filled):
        if order.status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED) and filled <= 0:
            issues.append(f"status {order.status.value} but filled_qty is {filled}")
        if filled > 0 and order.filled_avg_price is None:
            issues.append(f"filled_qty {filled} but no filled_avg_price")


# --------------------------------------------------------------------------- validators


# The sync validates a stream event's order twice in one batch, with the same ``now``: once in
# ``screen`` over the batch's orders, once in ``validate_trade_update`` over its events. An
# ``Order`` is frozen (its legs a tuple of frozen orders), so the answer for the same object, the
# same ``now`` and skew is the same: the last few answers are kept by identity (the entry holds
# the order, so its id cannot be reused while it is there).
_ORDER_ANSWERS: dict[int, tuple[Order, dt.datetime, dt.timedelta, tuple[str, ...]]] = {}
_ORDER_ANSWERS_KEPT = 512


def validate_order(
    order: Order, now: dt.datetime, *, max_skew: dt.timedelta = DEFAULT_MAX_SKEW
) -> list[str]:
    """What is wrong with an order (and its legs); empty when it may be stored."""
    _require_aware(now)
    if type(order) is not Order:
        return _order_issues(order, now, max_skew)
    known = _ORDER_ANSWERS.get(id(order))
    if known is not None and known[0] is order and known[1] == now and known[2] == max_skew:
        return list(known[3])
    issues = _order_issues(order, now, max_skew)
    if len(_ORDER_ANSWERS) >= _ORDER_ANSWERS_KEPT:
        _ORDER_ANSWERS.clear()
    _ORDER_ANSWERS[id(order)] = (order, now, max_skew, tuple(issues))
    return issues


def _order_issues(order: Order, now: dt.datetime, max_skew: dt.timedelta) -> list[str]:
    def check() -> list[str]:
        issues: list[str] = []
        _check_text(issues, "id", order.id)
        _check_text(issues, "client_order_id", order.client_order_id)
        if order.parent_id is not None:
            _check_text(issues, "parent_id", order.parent_id)
        if not (order.order_class is OrderClass.MLEG and order.parent_id is None):
            # A multi-leg options order names its symbols on the legs only (the sync screens
            # it with its legs detached, so its legs cannot be what says it is a parent).
            _check_text(issues, "symbol", order.symbol)
        if order.qty is None and order.notional is None and order.parent_id is None:
            issues.append("neither qty nor notional is set")
        _check_positive(issues, "qty", order.qty, required=False)
        _check_positive(issues, "notional", order.notional, required=False)
        _check_non_negative(issues, "filled_qty", order.filled_qty)
        for name in ("limit_price", "stop_price", "trail_price", "trail_percent", "hwm"):
            _check_positive(issues, name, getattr(order, name), required=False)
        _check_positive(issues, "filled_avg_price", order.filled_avg_price, required=False)
        _check_fill_state(issues, order)
        for name in ORDER_TIME_FIELDS:
            _check_time(
                issues, name, getattr(order, name), now, max_skew, required=name == "created_at"
            )
        for leg in order.legs:
            issues.extend(
                f"leg {leg.id or '?'}: {issue}"
                for issue in validate_order(leg, now, max_skew=max_skew)
            )
        return issues

    return _guard(check)


def validate_fill(
    fill: Fill, now: dt.datetime, *, max_skew: dt.timedelta = DEFAULT_MAX_SKEW
) -> list[str]:
    """What is wrong with one execution; empty when it may be stored."""
    _require_aware(now)

    def check() -> list[str]:
        issues: list[str] = []
        _check_text(issues, "fill_id", fill.fill_id)
        _check_text(issues, "order_id", fill.order_id)
        _check_text(issues, "symbol", fill.symbol)
        _check_positive(issues, "qty", fill.qty, required=True)
        _check_positive(issues, "price", fill.price, required=True)
        _check_finite(issues, "fee", fill.fee)
        _check_non_negative(issues, "leaves_qty", fill.leaves_qty)
        _check_positive(issues, "cum_qty", fill.cum_qty, required=False)
        _check_finite(issues, "position_qty", fill.position_qty)
        if (
            fill.cum_qty is not None
            and _finite(fill.cum_qty)
            and _finite(fill.qty)
            and fill.cum_qty < fill.qty
        ):
            issues.append(f"cum_qty {fill.cum_qty} is below this execution's qty {fill.qty}")
        _check_time(issues, "timestamp", fill.timestamp, now, max_skew, required=True)
        return issues

    return _guard(check)


def validate_activity(
    activity: Activity, now: dt.datetime, *, max_skew: dt.timedelta = DEFAULT_MAX_SKEW
) -> list[str]:
    """What is wrong with a non-trade activity; empty when it may be stored."""
    _require_aware(now)

    def check() -> list[str]:
        issues: list[str] = []
        _check_text(issues, "id", activity.id)
        _check_text(issues, "activity_type", activity.activity_type)
        for name in ("net_amount", "qty", "per_share_amount", "price"):
            _check_finite(issues, name, getattr(activity, name))
        _check_time(issues, "transaction_time", activity.transaction_time, now, max_skew)
        if activity.date is not None and activity.date > (now + max_skew).date() + dt.timedelta(
            days=1
        ):
            # A day of slack: activity dates are the venue's local (New York) date.
            issues.append(f"date {activity.date.isoformat()} {AHEAD_OF_CLOCK}")
        return issues

    return _guard(check)


def validate_position(
    position: Position, now: dt.datetime, *, max_skew: dt.timedelta = DEFAULT_MAX_SKEW
) -> list[str]:
    """What is wrong with a position; empty when it may be stored."""
    _require_aware(now)

    def check() -> list[str]:
        issues: list[str] = []
        _check_text(issues, "symbol", position.symbol)
        _check_finite(issues, "qty", position.qty)
        if _finite(position.qty):
            if position.side is PositionSide.LONG and position.qty < 0:
                issues.append(f"side long but qty {position.qty} is negative")
            if position.side is PositionSide.SHORT and position.qty > 0:
                issues.append(f"side short but qty {position.qty} is positive")
        _check_positive(issues, "avg_entry_price", position.avg_entry_price, required=True)
        _check_positive(issues, "current_price", position.current_price, required=False)
        _check_positive(issues, "lastday_price", position.lastday_price, required=False)
        for name in ("market_value", "cost_basis", "unrealized_pl", "qty_available"):
            _check_finite(issues, name, getattr(position, name))
        _check_time(issues, "observed_at", position.observed_at, now, max_skew, required=True)
        return issues

    return _guard(check)


def validate_snapshot(
    snapshot: AccountSnapshot, now: dt.datetime, *, max_skew: dt.timedelta = DEFAULT_MAX_SKEW
) -> list[str]:
    """What is wrong with an account snapshot; empty when it may be stored."""
    _require_aware(now)

    def check() -> list[str]:
        issues: list[str] = []
        _check_text(issues, "account_id", snapshot.account_id)
        _check_text(issues, "currency", snapshot.currency)
        for name in (
            "cash",
            "equity",
            "last_equity",
            "portfolio_value",
            "short_market_value",
            "sma",
            "accrued_fees",
        ):
            _check_finite(issues, name, getattr(snapshot, name))
        for name in (
            "buying_power",
            "regt_buying_power",
            "daytrading_buying_power",
            "non_marginable_buying_power",
            "long_market_value",
            "initial_margin",
            "maintenance_margin",
            "last_maintenance_margin",
        ):
            _check_non_negative(issues, name, getattr(snapshot, name))
        _check_positive(issues, "multiplier", snapshot.multiplier, required=True)
        if snapshot.daytrade_count < 0:
            issues.append(f"daytrade_count must not be negative, got {snapshot.daytrade_count}")
        _check_time(issues, "observed_at", snapshot.observed_at, now, max_skew, required=True)
        _check_time(issues, "created_at", snapshot.created_at, now, max_skew)
        return issues

    return _guard(check)


def validate_trade_update(
    update: TradeUpdate, now: dt.datetime, *, max_skew: dt.timedelta = DEFAULT_MAX_SKEW
) -> list[str]:
    """What is wrong with a stream event: its order, and on fills the execution's fields."""
    _require_aware(now)

    def check() -> list[str]:
        issues = [
            f"order: {issue}" for issue in validate_order(update.order, now, max_skew=max_skew)
        ]
        _check_time(issues, "timestamp", update.timestamp, now, max_skew, required=True)
        if update.event.is_fill:
            _check_text(issues, "execution_id", update.execution_id)
            _check_positive(issues, "qty", update.qty, required=True)
            _check_positive(issues, "price", update.price, required=True)
            _check_finite(issues, "position_qty", update.position_qty)
        return issues

    return _guard(check)


def validate_record(
    record: Record, now: dt.datetime, *, max_skew: dt.timedelta = DEFAULT_MAX_SKEW
) -> list[str]:
    """Dispatch to the validator for the record's type."""
    if isinstance(record, Order):
        return validate_order(record, now, max_skew=max_skew)
    if isinstance(record, Fill):
        return validate_fill(record, now, max_skew=max_skew)
    if isinstance(record, Activity):
        return validate_activity(record, now, max_skew=max_skew)
    if isinstance(record, Position):
        return validate_position(record, now, max_skew=max_skew)
    if isinstance(record, AccountSnapshot):
        return validate_snapshot(record, now, max_skew=max_skew)
    if isinstance(record, TradeUpdate):
        return validate_trade_update(record, now, max_skew=max_skew)
    return [f"unknown record type {type(record).__name__}"]


# --------------------------------------------------------------------------- quarantine


class Quarantined(msgspec.Struct, frozen=True, kw_only=True):
    """A record that was not stored: its kind, its key, why, and its raw payload verbatim (a row of
    ``quarantine``). The key is the record's id when one could be read, else ``sha256:`` and the
    start of the payload's digest, so a page replayed twice quarantines each bad item once."""

    record_kind: str
    record_key: str
    reason: str
    raw: bytes
    source: str
    # Refused only for times ahead of this host's clock: it may be accepted later, so a feed's
    # checkpoint must not move past it.
    deferred: bool = False


class PageSplit(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """The outcome of screening a page: the models to store and the items to quarantine."""

    good: list[T]
    quarantined: list[Quarantined]


def record_kind(record: Record) -> str:
    """The ``record_kind`` a model is quarantined under."""
    return {
        Order: "order",
        Fill: "fill",
        Activity: "activity",
        Position: "position",
        AccountSnapshot: "account",
        TradeUpdate: "trade_update",
    }.get(type(record), type(record).__name__.lower())


def record_key(record: Record) -> str | None:
    """The record's natural key (order id, fill id, symbol, ...), for the quarantine row."""
    if isinstance(record, Order | Activity):
        return record.id or None
    if isinstance(record, Fill):
        return record.fill_id or None
    if isinstance(record, Position):
        return record.symbol or None
    if isinstance(record, AccountSnapshot):
        return record.account_id or None
    if isinstance(record, TradeUpdate):
        return record.execution_id or record.order.id or None
    return None


_KEY_FIELDS = ("id", "fill_id", "execution_id", "client_order_id", "symbol", "account_number")


def _key_from_raw(raw: bytes) -> str | None:
    try:
        decoded = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None
    if isinstance(decoded, dict):
        if isinstance(decoded.get("order"), dict) and "event" in decoded:
            decoded = decoded["order"]
        for name in _KEY_FIELDS:
            value = decoded.get(name)
            if isinstance(value, str) and value:
                return value[:256]
    return None


def _digest_key(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:32]


def _key_for(record: Record | None, raw: bytes) -> str:
    key = record_key(record) if record is not None else None
    return key or _key_from_raw(raw) or _digest_key(raw)


def _reason(issues: Sequence[str]) -> str:
    return "; ".join(issues)


def _sort(model: T, issues: list[str], raw: bytes, source: str, split: PageSplit[T]) -> None:
    """Keep ``model`` when it has no issue, else quarantine it with ``raw`` and the reason."""
    if not issues:
        split.good.append(model)
        return
    split.quarantined.append(
        Quarantined(
            record_kind=record_kind(model),  # type: ignore[arg-type]
            record_key=_key_for(model, raw),  # type: ignore[arg-type]
            reason=_reason(issues),
            raw=raw,
            source=source,
            deferred=all(AHEAD_OF_CLOCK in issue for issue in issues),
        )
    )


def split_page(
    body: bytes | str,
    parse_item: Callable[[bytes], T | Sequence[T]],
    *,
    kind: str,
    now: dt.datetime,
    source: str = "rest",
    max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
    validate: Callable[[T, dt.datetime], list[str]] | None = None,
) -> PageSplit[T]:
    """Parse and validate a JSON list body item by item, through the client's page splitter
    (``alpaca.paging.split_items``: the one splitter production runs) and then ``screen``'s checks.

    ``parse_item(raw_item_bytes)`` returns a model (or a sequence of models, e.g. an activity
    parser). An item whose parse raises (``ParseError`` for an unknown status, or anything else) or
    whose model fails validation is quarantined with its own raw bytes and the reason; the others
    are returned in payload order. A body that is not a JSON list becomes one quarantined record of
    ``kind`` ``{kind}_page``. Never raises for bad input.
    """
    _require_aware(now)
    raw_body = body.encode() if isinstance(body, str) else bytes(body)
    split: PageSplit[T] = PageSplit(good=[], quarantined=[])
    try:
        items = split_items(raw_body, parse_item, shape=kind)
    except ParseError as exc:
        page = Quarantined(
            record_kind=f"{kind}_page",
            record_key=_digest_key(raw_body),
            reason=f"body is not a JSON list: {exc}",
            raw=raw_body,
            source=source,
        )
        return PageSplit(good=[], quarantined=[page])

    def check(model: T) -> list[str]:
        if validate is not None:
            return _guard(lambda: validate(model, now))
        return validate_record(model, now, max_skew=max_skew)  # type: ignore[arg-type]

    for raw_item, parsed in items:
        if isinstance(parsed, Exception):
            reason = f"could not be parsed: {type(parsed).__name__}: {parsed}"
            split.quarantined.append(
                Quarantined(
                    record_kind=kind,
                    record_key=_key_for(None, raw_item),
                    reason=reason,
                    raw=raw_item,
                    source=source,
                )
            )
            continue
        models: Sequence[T] = (
            parsed if isinstance(parsed, list | tuple) else [parsed]  # type: ignore[list-item]
        )
        for model in models:
            _sort(model, check(model), raw_item, source, split)
    return split


def screen(
    records: Iterable[T],
    now: dt.datetime,
    *,
    source: str = "stream",
    max_skew: dt.timedelta = DEFAULT_MAX_SKEW,
) -> PageSplit[T]:
    """Validate models already parsed (stream events, snapshots): good ones kept in order, bad ones
    quarantined with their ``raw`` payload."""
    _require_aware(now)
    split: PageSplit[T] = PageSplit(good=[], quarantined=[])
    # Orders come flattened, a parent before its legs: a leg whose parent was refused goes with
    # it (the parent's quarantine row holds the leg's bytes too), so no leg is ever stored
    # pointing at a parent the store does not have.
    refused_orders: set[str] = set()
    for record in records:
        if isinstance(record, Order) and record.parent_id in refused_orders:
            refused_orders.add(record.id)
            continue
        issues = validate_record(record, now, max_skew=max_skew)  # type: ignore[arg-type]
        if issues and isinstance(record, Order):
            refused_orders.add(record.id)
        _sort(record, issues, getattr(record, "raw", b"") or b"", source, split)
    return split
