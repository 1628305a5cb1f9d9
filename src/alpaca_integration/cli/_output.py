"""Rendering for the trading commands: Rich tables for people, JSON for scripts.

JSON output is the models themselves (``msgspec`` builtins): decimals as strings, datetimes as ISO
8601 in UTC, enums as their values; the venue's verbatim ``raw`` payload is left out.

Imported only inside command bodies (it pulls in rich and msgspec); it imports ``models`` from the
package and nothing that does I/O.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from decimal import Decimal
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
    Order,
    Position,
)

__all__ = ["print_json", "render", "to_jsonable"]


def _strip_raw(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip_raw(item) for key, item in value.items() if key != "raw"}
    if isinstance(value, list):
        return [_strip_raw(item) for item in value]
    return value


def _enc_hook(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise NotImplementedError(type(value).__name__)


def to_jsonable(value: Any) -> Any:
    """Models (or lists of them) as JSON-ready builtins without ``raw``."""
    builtins = msgspec.to_builtins(value, enc_hook=_enc_hook)
    return _strip_raw(builtins)


def print_json(value: Any) -> None:
    """Print models as indented JSON on stdout."""
    text = msgspec.json.format(msgspec.json.encode(to_jsonable(value)), indent=2)
    print(text.decode())


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


def render(value: Any, *, as_json: bool, title: str | None = None) -> None:
    """Print a model or a list of models, as JSON or as a table chosen by its type."""
    if as_json:
        print_json(value)
        return
    items = value if isinstance(value, list) else None
    sample = items[0] if items else value
    if isinstance(value, AccountSnapshot | Clock):
        _fields(title or type(value).__name__.lower(), value)
    elif isinstance(value, Order):
        _orders([value], title or "order")
    elif isinstance(value, Asset) and items is None:
        _fields(title or "asset", value)
    elif items is not None and (not items or isinstance(sample, Order)):
        _orders(items, title or "orders")
    elif isinstance(sample, Position):
        _table(
            title or "positions",
            ["symbol", "side", "qty", "avg entry", "price", "market value", "unrealized P/L"],
            [
                (
                    p.symbol,
                    p.side,
                    p.qty,
                    p.avg_entry_price,
                    p.current_price,
                    p.market_value,
                    p.unrealized_pl,
                )
                for p in items or [value]
            ],
        )
    elif isinstance(sample, Fill | Activity):
        rows: list[tuple[Any, ...]] = []
        for item in items or [value]:
            if isinstance(item, Fill):
                rows.append(
                    (
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
                )
            else:
                rows.append(
                    (
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
                )
        _table(
            title or "activities",
            ["id", "type", "time", "symbol", "side", "qty", "price", "net amount", "order_id"],
            rows,
        )
    elif isinstance(sample, CalendarDay):
        _table(
            title or "calendar",
            ["date", "open", "close"],
            [(d.date, d.open, d.close) for d in items or [value]],
        )
    elif isinstance(sample, Asset):
        _table(
            title or "assets",
            [
                "symbol",
                "name",
                "class",
                "exchange",
                "status",
                "tradable",
                "shortable",
                "fractionable",
            ],
            [
                (
                    a.symbol,
                    a.name,
                    a.asset_class,
                    a.exchange,
                    a.status,
                    a.tradable,
                    a.shortable,
                    a.fractionable,
                )
                for a in items or [value]
            ],
        )
    elif isinstance(sample, BulkResult):
        _table(
            title or "results",
            ["id / symbol", "status", "order", "order status", "error"],
            [
                (
                    r.key,
                    r.status,
                    r.order.id if r.order else None,
                    r.order.status if r.order else None,
                    r.error_message,
                )
                for r in items or [value]
            ],
        )
    else:
        print_json(value)
