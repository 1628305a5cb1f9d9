"""Rendering for the trading commands: Rich tables for people, JSON for scripts.

JSON output is the models themselves (``msgspec`` builtins): decimals as strings, datetimes as ISO
8601 in UTC, enums as their values; the venue's verbatim ``raw`` payload is left out.

Imported only inside command bodies (it pulls in rich and msgspec); it imports ``models`` from the
package and nothing that does I/O.
"""

from __future__ import annotations

import datetime as dt
import enum
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any

import msgspec

from alpaca_integration.models import (
    AccountSnapshot,
    Activity,
    Asset,
    BulkResult,
    CalendarDay,
    Clock,
    Fill,
    OptionContract,
    Order,
    Position,
)

__all__ = ["print_json", "render", "render_contracts", "to_jsonable"]


# Beyond any real price, quantity or balance (the store refuses such a number: sync.validation).
_ABSURD = Decimal("1e12")


def _clean(value: Any, path: str, absurd: list[str]) -> Any:
    """Builtins without ``raw``; a decimal as its string, except a NaN or an infinity, which is
    ``null`` (it is no number a script can use). Every NaN, infinity or absurd magnitude is
    named in ``absurd`` (``path = value``)."""
    if isinstance(value, dict):
        return {
            k: _clean(v, f"{path}.{k}" if path else k, absurd)
            for k, v in value.items()
            if k != "raw"
        }
    if isinstance(value, list):
        return [_clean(item, f"{path}[{i}]", absurd) for i, item in enumerate(value)]
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value) >= _ABSURD:
            absurd.append(f"{path} = {value}")
        return str(value) if value.is_finite() else None
    return value


def to_jsonable(value: Any, absurd: list[str] | None = None) -> Any:
    """Models (or lists of them) as JSON-ready builtins without ``raw`` (see ``_clean``)."""
    builtins = msgspec.to_builtins(value, builtin_types=(Decimal,))
    return _clean(builtins, "", [] if absurd is None else absurd)


def print_json(value: Any) -> None:
    """Print models as indented JSON on stdout; a NaN or an infinity is ``null``, and each one
    (or an absurd magnitude) is named in one warning line on stderr, never printed silently."""
    absurd: list[str] = []
    text = msgspec.json.format(msgspec.json.encode(to_jsonable(value, absurd)), indent=2)
    print(text.decode())
    if absurd:
        shown = ", ".join(absurd[:5]) + (f" and {len(absurd) - 5} more" if len(absurd) > 5 else "")
        print(
            f"warning: the venue sent numbers that are not finite or beyond 1e12 ({shown}); "
            "NaN and infinities are shown as null",
            file=sys.stderr,
        )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


def _table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    count = 0
    for row in rows:
        table.add_row(*(_cell(value) for value in row))
        count += 1
    Console().print(table)
    if count == 0:
        Console().print("(none)")


def _fields(title: str, item: Any) -> None:
    data = {f: getattr(item, f) for f in item.__struct_fields__ if f != "raw"}
    _table(title, ["field", "value"], list(data.items()))


def _orders(orders: Sequence[Order], title: str = "orders") -> None:
    rows = []
    for order in orders:
        for leg in order.flatten():
            rows.append(
                (
                    ("  └ " if leg.parent_id else "") + leg.id,
                    leg.client_order_id,
                    leg.symbol,
                    leg.side,
                    leg.type,
                    leg.order_class,
                    leg.qty if leg.qty is not None else f"${leg.notional}",
                    leg.filled_qty,
                    leg.limit_price,
                    leg.stop_price,
                    leg.time_in_force,
                    leg.status,
                    leg.submitted_at,
                )
            )
    _table(
        title,
        [
            "id",
            "client_order_id",
            "symbol",
            "side",
            "type",
            "class",
            "qty",
            "filled",
            "limit",
            "stop",
            "tif",
            "status",
            "submitted_at",
        ],
        rows,
    )


def _positions(items: Sequence[Position], title: str) -> None:
    columns = ["symbol", "side", "qty", "avg entry", "price", "market value", "unrealized P/L"]
    cells = attrgetter(
        "symbol", "side", "qty", "avg_entry_price", "current_price", "market_value", "unrealized_pl"
    )
    _table(title, columns, map(cells, items))


def _activity_row(item: Fill | Activity) -> tuple[Any, ...]:
    if isinstance(item, Fill):
        return (
            item.activity_id or item.fill_id,
            "FILL",
            item.timestamp,
            item.symbol,
            item.side,
            item.qty,
            item.price,
            None,
            item.order_id,
        )
    return (
        item.id,
        item.activity_type,
        item.transaction_time or item.date,
        item.symbol,
        None,
        item.qty,
        item.price,
        item.net_amount,
        item.order_id,
    )


def _activities(items: Sequence[Fill | Activity], title: str) -> None:
    _table(
        title,
        ["id", "type", "time", "symbol", "side", "qty", "price", "net amount", "order_id"],
        [_activity_row(item) for item in items],
    )


def _calendar(items: Sequence[CalendarDay], title: str) -> None:
    _table(title, ["date", "open", "close"], [(d.date, d.open, d.close) for d in items])


def _assets(items: Sequence[Asset], title: str) -> None:
    columns = ["symbol", "name", "class", "exchange", "status", "tradable", "shortable"]
    cells = attrgetter(
        "symbol",
        "name",
        "asset_class",
        "exchange",
        "status",
        "tradable",
        "shortable",
        "fractionable",
    )
    _table(title, [*columns, "fractionable"], map(cells, items))


def _contracts(items: Sequence[OptionContract], title: str) -> None:
    """An option chain, by expiry, then calls before puts, then strike."""
    ordered = sorted(items, key=lambda c: (c.expiry, c.type.value, c.strike, c.symbol))
    columns = [
        "symbol",
        "expiry",
        "type",
        "strike",
        "style",
        "multiplier",
        "open interest",
        "close",
    ]
    cells = attrgetter(
        "symbol", "expiry", "type", "strike", "style", "multiplier", "open_interest", "close_price"
    )
    _table(title, columns, map(cells, ordered))


def _bulk_results(items: Sequence[BulkResult], title: str) -> None:
    _table(
        title,
        ["id / symbol", "status", "order", "order status", "error"],
        [
            (
                r.key,
                r.status,
                r.order.id if r.order else None,
                r.order.status if r.order else None,
                r.error_message,
            )
            for r in items
        ],
    )


# A list of models is shown by the table of its first item's type (an empty list as orders).
_LIST_TABLES: tuple[tuple[type[Any] | tuple[type[Any], ...], Any, str], ...] = (
    (Order, _orders, "orders"),
    (Position, _positions, "positions"),
    ((Fill, Activity), _activities, "activities"),
    (CalendarDay, _calendar, "calendar"),
    (Asset, _assets, "assets"),
    (OptionContract, _contracts, "option contracts"),
    (BulkResult, _bulk_results, "results"),
)


def render(value: Any, *, as_json: bool, title: str | None = None) -> None:
    """Print a model or a list of models, as JSON or as a table chosen by its type."""
    if as_json:
        print_json(value)
        return
    if isinstance(value, AccountSnapshot | Clock | Asset):
        _fields(title or type(value).__name__.lower(), value)
        return
    items = value if isinstance(value, list) else [value]
    if not items:
        _orders([], title or "orders")
        return
    for kind, show, default_title in _LIST_TABLES:
        if isinstance(items[0], kind):
            show(items, title or default_title)
            return
    if isinstance(value, msgspec.Struct):
        _fields(title or type(value).__name__.lower(), value)
        return
    print_json(value)


def render_contracts(contracts: Sequence[OptionContract], *, as_json: bool, title: str) -> None:
    """An option chain as JSON or as its table (an empty chain still shows the chain's columns)."""
    if as_json:
        print_json(list(contracts))
        return
    _contracts(contracts, title)
