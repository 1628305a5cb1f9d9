"""Data quality: validation before storage, quarantine, and quality rules over the store.

Two halves:

* **Validation before storage.** ``validate_order``/``validate_fill``/``validate_activity``/
  ``validate_position``/``validate_snapshot``/``validate_trade_update`` return the list of what is
  wrong with one record (empty = good); none of them raises. :func:`split_page` takes a raw JSON
  list body and a per-item parse function and returns the good models and the quarantined items
  (each with its own raw bytes and the reason), so one bad item (an unknown order status, a
  negative price) never blocks the good ones beside it; :func:`screen` does the same for models
  already parsed (stream events). The sync engine persists the quarantined records with
  :func:`quarantine_records` and applies the good ones.
* **Quality rules over the store** (:func:`run_rules`, ``alpacactl dq``): SQL over the storage
  tables, one :class:`QualityResult` row per finding, written to ``quality_results``.

This module imports ``models``, ``errors`` and (lazily, inside the rule functions) ``storage``; it
never imports the client, the simulator, the flows or the CLI.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec

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

__all__ = [
    "DEFAULT_MAX_SKEW",
    "MAX_MAGNITUDE",
    "RULES",
    "SEVERITY_ERROR",
    "SEVERITY_WARNING",
    "PageSplit",
    "QualityResult",
    "Quarantined",
    "Record",
    "StoreState",
    "evaluate_rules",
    "load_state",
    "record_key",
    "record_kind",
    "run_rules",
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

# Clocks drift: a venue timestamp a little ahead of ours is normal, one minutes ahead is not.
DEFAULT_MAX_SKEW = dt.timedelta(seconds=60)

_ZERO = Decimal(0)

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
        issues.append(
            f"{name} {value.isoformat()} is in the future (now {now.isoformat()}, skew allowed "
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


# --------------------------------------------------------------------------- validators


def validate_order(
    order: Order, now: dt.datetime, *, max_skew: dt.timedelta = DEFAULT_MAX_SKEW
) -> list[str]:
    """What is wrong with an order (and its legs); empty when it may be stored."""
    _require_aware(now)

    def check() -> list[str]:
        issues: list[str] = []
        _check_text(issues, "id", order.id)
        _check_text(issues, "client_order_id", order.client_order_id)
        if not (order.order_class is OrderClass.MLEG and order.legs):
            # A multi-leg options order names its symbols on the legs only.
            _check_text(issues, "symbol", order.symbol)
        if order.qty is None and order.notional is None and order.parent_id is None:
            issues.append("neither qty nor notional is set")
        _check_positive(issues, "qty", order.qty, required=False)
        _check_positive(issues, "notional", order.notional, required=False)
        _check_non_negative(issues, "filled_qty", order.filled_qty)
        for name in ("limit_price", "stop_price", "trail_price", "trail_percent", "hwm"):
            _check_positive(issues, name, getattr(order, name), required=False)
        _check_positive(issues, "filled_avg_price", order.filled_avg_price, required=False)
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
        for name in (
            "created_at",
            "updated_at",
            "submitted_at",
            "filled_at",
            "canceled_at",
            "expired_at",
            "failed_at",
            "replaced_at",
        ):
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
            issues.append(f"date {activity.date.isoformat()} is in the future")
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
    """Parse and validate a JSON list body item by item.

    ``parse_item(raw_item_bytes)`` returns a model (or a sequence of models, e.g. an activity
    parser). An item whose parse raises (``ParseError`` for an unknown status, or anything else) or
    whose model fails validation is quarantined with its own raw bytes and the reason; the others
    are returned in payload order. A body that is not a JSON list becomes one quarantined record of
    ``kind`` ``{kind}_page``. Never raises for bad input.
    """
    _require_aware(now)
    raw_body = body.encode() if isinstance(body, str) else bytes(body)
    try:
        items = msgspec.json.decode(raw_body, type=list[msgspec.Raw])
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError) as exc:
        return PageSplit(
            good=[],
            quarantined=[
                Quarantined(
                    record_kind=f"{kind}_page",
                    record_key=_digest_key(raw_body),
                    reason=f"body is not a JSON list: {exc}",
                    raw=raw_body,
                    source=source,
                )
            ],
        )
    good: list[T] = []
    quarantined: list[Quarantined] = []
    for item in items:
        raw_item = bytes(item)
        try:
            parsed = parse_item(raw_item)
        except Exception as exc:  # one item's failure of any kind must not sink the page
            quarantined.append(
                Quarantined(
                    record_kind=kind,
                    record_key=_key_for(None, raw_item),
                    reason=f"could not be parsed: {type(exc).__name__}: {exc}",
                    raw=raw_item,
                    source=source,
                )
            )
            continue
        models: Sequence[T] = (
            parsed if isinstance(parsed, list | tuple) else [parsed]  # type: ignore[list-item]
        )
        for model in models:
            if validate is not None:
                issues = _guard(lambda m=model: validate(m, now))  # type: ignore[misc]
            else:
                issues = validate_record(model, now, max_skew=max_skew)  # type: ignore[arg-type]
            if issues:
                quarantined.append(
                    Quarantined(
                        record_kind=record_kind(model),  # type: ignore[arg-type]
                        record_key=_key_for(model, raw_item),  # type: ignore[arg-type]
                        reason=_reason(issues),
                        raw=raw_item,
                        source=source,
                    )
                )
            else:
                good.append(model)
    return PageSplit(good=good, quarantined=quarantined)


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
    good: list[T] = []
    quarantined: list[Quarantined] = []
    for record in records:
        issues = validate_record(record, now, max_skew=max_skew)  # type: ignore[arg-type]
        if issues:
            raw = getattr(record, "raw", b"") or b""
            quarantined.append(
                Quarantined(
                    record_kind=record_kind(record),  # type: ignore[arg-type]
                    record_key=_key_for(record, raw),  # type: ignore[arg-type]
                    reason=_reason(issues),
                    raw=raw,
                    source=source,
                )
            )
        else:
            good.append(record)
    return PageSplit(good=good, quarantined=quarantined)


# --------------------------------------------------------------------------- quality rules

SEVERITY_ERROR = "error"
SEVERITY_WARNING = "warning"


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


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def evaluate_rules(
    state: StoreState,
    *,
    now: dt.datetime,
    update_interval: dt.timedelta = dt.timedelta(seconds=60),
    equity_tolerance: Decimal = Decimal("0.01"),
) -> list[QualityResult]:
    """Every rule over one account's stored state; pure. The rules, by name:

    * ``fill_without_order``: a fill whose order is not in the store.
    * ``order_fill_qty_mismatch``: an order's filled_qty differs from the sum of its fills.
    * ``position_fill_mismatch``: a position differs from the signed sum of the symbol's fills
      (checked only when the fill history is complete; with complete history the sum of all
      fills equals the sum since the position was last flat).
    * ``equity_mismatch``: equity differs from cash + long market value - |short market value|
      by more than ``equity_tolerance``.
    * ``negative_cash_on_cash_account``: cash below zero on a cash account (multiplier 1).
    * ``stale_snapshot``: no snapshot, or the latest older than three update intervals.
    * ``orphaned_leg``: a leg whose parent order is not in the store.
    * ``unbalanced_legs``: a bracket without exactly two legs, an OCO/OTO without exactly one,
      both exits of one bracket/OCO filled, or legs still open under an entry that died unfilled.
    * ``duplicate_client_order_id``: one client_order_id on several orders.
    """
    _require_aware(now)
    account = state.account
    out: list[QualityResult] = []

    def add(rule: str, subject: str, severity: str, detail: str) -> None:
        out.append(
            QualityResult(
                rule=rule,
                account=account,
                subject=subject,
                severity=severity,
                detail=detail,
                created_at=now,
            )
        )

    orders: dict[str, Order] = {}
    for order in state.orders:
        for one in order.flatten():
            orders[one.id] = one
    fills_by_order: dict[str, list[Fill]] = {}
    for fill in state.fills:
        fills_by_order.setdefault(fill.order_id, []).append(fill)

    for order_id in sorted(set(fills_by_order) - set(orders)):
        fills = fills_by_order[order_id]
        add(
            "fill_without_order",
            order_id,
            SEVERITY_ERROR,
            f"{len(fills)} fill(s) ({', '.join(sorted(f.fill_id for f in fills))}) reference order "
            f"{order_id}, which is not in the store",
        )

    for order_id in sorted(orders):
        order = orders[order_id]
        fills = fills_by_order.get(order_id, [])
        total = sum((f.qty for f in fills), _ZERO)
        if total != order.filled_qty:
            add(
                "order_fill_qty_mismatch",
                order_id,
                SEVERITY_ERROR,
                f"filled_qty {_num(order.filled_qty)} but its {len(fills)} fill(s) sum to "
                f"{_num(total)}",
            )

    if state.fill_history_complete:
        signed: dict[str, Decimal] = {}
        for fill in state.fills:
            delta = fill.qty if fill.side.value == "buy" else -fill.qty
            signed[fill.symbol] = signed.get(fill.symbol, _ZERO) + delta
        held = {p.symbol: p.qty for p in state.positions}
        for symbol in sorted(set(signed) | set(held)):
            position = held.get(symbol, _ZERO)
            from_fills = signed.get(symbol, _ZERO)
            if position != from_fills:
                add(
                    "position_fill_mismatch",
                    symbol,
                    SEVERITY_ERROR,
                    f"position {_num(position)} but the signed sum of fills is {_num(from_fills)}",
                )

    snapshot = state.snapshot
    if snapshot is None:
        add("stale_snapshot", "account", SEVERITY_WARNING, "no account snapshot in the store")
    else:
        expected = snapshot.cash + snapshot.long_market_value - abs(snapshot.short_market_value)
        if abs(snapshot.equity - expected) > equity_tolerance:
            add(
                "equity_mismatch",
                "account",
                SEVERITY_ERROR,
                f"equity {_num(snapshot.equity)} but cash {_num(snapshot.cash)} + long "
                f"{_num(snapshot.long_market_value)} - short "
                f"{_num(abs(snapshot.short_market_value))} = {_num(expected)} (tolerance "
                f"{_num(equity_tolerance)})",
            )
        if snapshot.multiplier == 1 and snapshot.cash < 0:
            add(
                "negative_cash_on_cash_account",
                "account",
                SEVERITY_ERROR,
                f"cash {_num(snapshot.cash)} on a cash account (multiplier 1)",
            )
        age = now - snapshot.observed_at
        if age > 3 * update_interval:
            add(
                "stale_snapshot",
                "account",
                SEVERITY_WARNING,
                f"latest snapshot is {age.total_seconds():.0f}s old, more than three update "
                f"intervals ({3 * update_interval.total_seconds():.0f}s)",
            )

    legs_by_parent: dict[str, list[Order]] = {}
    for order in orders.values():
        if order.parent_id is None:
            continue
        if order.parent_id not in orders:
            add(
                "orphaned_leg",
                order.id,
                SEVERITY_ERROR,
                f"leg of parent {order.parent_id}, which is not in the store",
            )
        else:
            legs_by_parent.setdefault(order.parent_id, []).append(order)
    expected_legs = {"bracket": 2, "oco": 1, "oto": 1}
    dead = {OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
    for order_id in sorted(orders):
        parent = orders[order_id]
        want = expected_legs.get(parent.order_class.value)
        if want is None or parent.parent_id is not None:
            continue
        legs = legs_by_parent.get(order_id, [])
        if len(legs) != want:
            add(
                "unbalanced_legs",
                order_id,
                SEVERITY_ERROR,
                f"{parent.order_class.value} order with {len(legs)} leg(s), expected {want}",
            )
        exits = legs if parent.order_class.value == "bracket" else [parent, *legs]
        filled_exits = [o.id for o in exits if o.status is OrderStatus.FILLED]
        if parent.order_class.value != "oto" and len(filled_exits) > 1:
            add(
                "unbalanced_legs",
                order_id,
                SEVERITY_ERROR,
                f"both exits filled ({', '.join(sorted(filled_exits))}): one should have been "
                "canceled",
            )
        if (
            parent.order_class.value in ("bracket", "oto")
            and parent.status in dead
            and parent.filled_qty == 0
        ):
            still_open = sorted(o.id for o in legs if o.status.is_open)
            if still_open:
                add(
                    "unbalanced_legs",
                    order_id,
                    SEVERITY_ERROR,
                    f"entry {parent.status.value} unfilled but leg(s) {', '.join(still_open)} "
                    "are still open",
                )

    by_client_id: dict[str, list[str]] = {}
    for order in orders.values():
        if order.client_order_id:
            by_client_id.setdefault(order.client_order_id, []).append(order.id)
    for client_order_id in sorted(by_client_id):
        ids = by_client_id[client_order_id]
        if len(ids) > 1:
            add(
                "duplicate_client_order_id",
                client_order_id,
                SEVERITY_ERROR,
                f"client_order_id used by {len(ids)} orders: {', '.join(sorted(ids))}",
            )
    return out


async def load_state(store: Any, account: str) -> StoreState:
    """Read what the rules need of one account from the store."""
    orders = tuple(await store.list_orders(account))
    fills = tuple(await store.list_fills(account))
    positions = tuple(await store.positions(account))
    snapshot = await store.latest_snapshot(account)
    checkpoint = await store.get_checkpoint(account, "activities")
    return StoreState(
        account=account,
        orders=orders,
        fills=fills,
        positions=positions,
        snapshot=snapshot,
        fill_history_complete=checkpoint is not None,
    )


async def run_rules(
    store: Any,
    account: str,
    *,
    now: dt.datetime,
    update_interval: dt.timedelta = dt.timedelta(seconds=60),
    equity_tolerance: Decimal = Decimal("0.01"),
    save: bool = True,
) -> list[QualityResult]:
    """Run every rule over one account's stored state; write the results to ``quality_results``
    under one run id (unless ``save`` is false) and return them (the flows log them)."""
    state = await load_state(store, account)
    results = evaluate_rules(
        state, now=now, update_interval=update_interval, equity_tolerance=equity_tolerance
    )
    run_id = f"dq-{account}-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
    results = [msgspec.structs.replace(r, run_id=run_id) for r in results]
    if save and results:
        await store.insert_quality_results(results)
    return results
