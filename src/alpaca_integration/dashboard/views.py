"""What each region of each page shows: one async loader per region, reading the store.

A page is a list of regions (``PAGES``); each region has a template (``regions/<name>.html``),
a loader here, and the parts of the live feed that make the browser fetch it again
(``live.ALL_PARTS``). The page route renders every region of the page; the fragment route renders
one, with the same query string, so a live update shows exactly what a reload would.

Imports the dashboard's ``queries``, ``summaries`` and ``performance`` and the package's ``models``; never the
client, the cache, the sync engine or the CLI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from alpaca_integration.dashboard import queries, summaries
from alpaca_integration.dashboard.performance import PerformanceProvider, PnL, line_chart
from alpaca_integration.models import OrderSide, OrderStatus

if TYPE_CHECKING:
    from alpaca_integration.storage import Store

__all__ = [
    "PAGES",
    "REGIONS",
    "AccountHealth",
    "BadRequest",
    "HealthSource",
    "Page",
    "Region",
    "View",
    "health_from_statuses",
]

PAGE_SIZE = 50


class BadRequest(ValueError):
    """A query the page cannot answer (an unknown filter value, a damaged page link)."""


@dataclass(frozen=True)
class AccountHealth:
    """What the monitor knows of one account's feeds (``health`` callable of ``create_app``)."""

    connected: bool | None = None
    last_sync_at: dt.datetime | None = None
    lag_seconds: float | None = None
    events: int | None = None
    events_per_second: float | None = None
    gaps: int | None = None
    last_error: str | None = None


HealthSource = Callable[[str], AccountHealth | None]
_HEALTH_FIELDS = tuple(health_field.name for health_field in fields(AccountHealth))


def health_from_statuses(statuses: Callable[[], Sequence[Any]]) -> HealthSource:
    """A ``health`` callable from the monitor's ``MonitorService.statuses`` (anything returning
    objects with ``name``, ``connected``, ``last_sync_at``, ``lag_seconds``, ``events``,
    ``events_per_second``, ``gaps`` and ``last_error``)."""

    def health(account: str) -> AccountHealth | None:
        for status in statuses():
            if status.name == account:
                # Each AccountHealth field, read from the status attribute of the same name.
                return AccountHealth(**{name: getattr(status, name) for name in _HEALTH_FIELDS})
        return None

    return health


@dataclass
class View:
    """One request's inputs: the accounts shown, the query string, the sources."""

    store: Store
    accounts: list[str]  # the accounts this view shows
    account: str | None  # the one chosen, or None for all
    query: Mapping[str, str]
    performance: PerformanceProvider
    health: HealthSource | None = None
    path_id: str | None = None  # the order id of the order page
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def param(self, name: str) -> str | None:
        value = self.query.get(name, "").strip()
        return value or None


Loader = Callable[[View], Awaitable[dict[str, Any]]]


def _cursor(view: View, name: str, *, with_qty: bool = False) -> queries.Cursor | None:
    text = view.param(name)
    if text is None:
        return None
    try:
        return queries.Cursor.decode(text, with_qty=with_qty)
    except ValueError:
        raise BadRequest(
            f"the {name!r} page link is damaged; start again from the first page"
        ) from None


def _date(view: View, name: str) -> dt.date | None:
    text = view.param(name)
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} must be a date like 2026-03-02, got {text!r}") from None


# --------------------------------------------------------------------------- overview


async def _exposure(view: View, account: str, positions: Sequence[Any]) -> dict[str, Any]:
    recorded = await view.store.latest_exposure(account)
    if recorded is not None:
        return {"gross": recorded.gross, "net": recorded.net, "at": recorded.at, "source": "risk"}
    values = [p.market_value for p in positions if p.market_value is not None]
    return {
        "gross": sum((abs(v) for v in values), Decimal(0)),
        "net": sum(values, Decimal(0)),
        "at": max((p.observed_at for p in positions), default=None),
        "source": "positions",
    }


async def load_summary(view: View) -> dict[str, Any]:
    rows = []
    for account in view.accounts:
        positions = await view.store.positions(account)
        snapshot = await view.store.latest_snapshot(account)
        pnl: PnL = await view.performance.pnl(account)
        open_orders = await view.store.list_orders(account, status="open", top_level=True)
        rows.append(
            {
                "account": account,
                "snapshot": snapshot,
                "pnl": pnl,
                "exposure": await _exposure(view, account, positions),
                "positions": len(positions),
                "open_orders": len(open_orders),
            }
        )
    return {"accounts": rows}


async def load_health(view: View) -> dict[str, Any]:
    rows = []
    for account in view.accounts:
        checkpoints = await view.store.checkpoints(account)
        syncs = [c.updated_at for feed, c in checkpoints.items() if feed != "stream"]
        stream = checkpoints.get("stream")
        last_event_at = _parse_time(stream.value) if stream is not None else None
        gaps = await summaries.newest(view.store, "gaps", account, limit=1)
        rows.append(
            {
                "account": account,
                "monitor": view.health(account) if view.health is not None else None,
                "last_sync_at": max(syncs, default=None),
                "last_event_at": last_event_at,
                "event_applied_at": stream.updated_at if stream is not None else None,
                "checkpoints": sorted(checkpoints.values(), key=lambda c: c.feed),
                "open_gaps": len(await view.store.list_stream_gaps(account, open_only=True)),
                "last_gap": gaps[0] if gaps else None,
            }
        )
    return {"accounts": rows, "now": view.now}


def _parse_time(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


async def load_equity(view: View) -> dict[str, Any]:
    series = []
    for account in view.accounts:
        curve = await summaries.equity_curve(view.store, account, limit=500)
        if curve:
            series.append((account, [p.at for p in curve], [p.equity for p in curve]))
    figure = line_chart(series, y_title="equity") if series else None
    return {"figure": figure}


async def load_recent(view: View) -> dict[str, Any]:
    fills = await queries.fills_page(view.store, view.accounts, queries.FillFilters(), limit=10)
    orders = await queries.orders_page(
        view.store, view.accounts, queries.OrderFilters(status="open"), limit=10
    )
    return {"fills": fills.rows, "orders": orders.rows}


async def load_alerts(view: View) -> dict[str, Any]:
    rows = []
    for account in view.accounts:
        breaches = await summaries.newest(view.store, "breaches", account, limit=1)
        runs = await view.store.list_reconciliation_runs(account, limit=1)
        rows.append(
            {
                "account": account,
                "counts": await summaries.check_counts(view.store, account),
                "last_breach": breaches[0] if breaches else None,
                "last_run": runs[0] if runs else None,
            }
        )
    return {"accounts": rows}


# --------------------------------------------------------------------------- lists


async def load_positions(view: View) -> dict[str, Any]:
    rows = []
    lots: list[dict[str, Any]] = []
    with_ledger = False
    for account in view.accounts:
        ledger = await view.performance.position_ledger(account)
        with_ledger = with_ledger or ledger is not None
        for position in await view.store.positions(account):
            held = ledger.get(position.symbol) if ledger is not None else None
            rows.append({"account": account, "position": position, "ledger": held})
            price = position.current_price
            for lot in held.lots if held is not None else ():
                unrealized = lot.unrealized(price) if price is not None else None
                lots.append(
                    {"account": account, "lot": lot, "price": price, "unrealized": unrealized}
                )
    return {"rows": rows, "with_ledger": with_ledger, "lots": lots}


def order_filters(view: View) -> queries.OrderFilters:
    symbol = view.param("symbol")
    try:
        return queries.OrderFilters(
            status=view.param("status"),
            symbol=symbol.upper() if symbol else None,
            side=view.param("side"),
            created_from=_date(view, "from"),
            created_to=_date(view, "to"),
        )
    except ValueError as exc:
        if isinstance(exc, BadRequest):
            raise
        raise BadRequest(f"unknown filter value: {exc}") from None


async def load_orders(view: View) -> dict[str, Any]:
    filters = order_filters(view)
    page = await queries.orders_page(
        view.store,
        view.accounts,
        filters,
        before=_cursor(view, "before"),
        after=_cursor(view, "after"),
        limit=PAGE_SIZE,
    )
    return {
        "page": page,
        "filters": filters,
        "statuses": [s.value for s in OrderStatus],
        "sides": [s.value for s in OrderSide],
    }


async def load_fills(view: View) -> dict[str, Any]:
    symbol = view.param("symbol")
    try:
        filters = queries.FillFilters(
            symbol=symbol.upper() if symbol else None,
            side=view.param("side"),
            order_id=view.param("order"),
        )
    except ValueError as exc:
        raise BadRequest(f"unknown filter value: {exc}") from None
    page = await queries.fills_page(
        view.store,
        view.accounts,
        filters,
        before=_cursor(view, "before", with_qty=True),
        after=_cursor(view, "after", with_qty=True),
        limit=PAGE_SIZE,
    )
    return {"page": page, "filters": filters, "sides": [s.value for s in OrderSide]}


async def load_order(view: View) -> dict[str, Any]:
    """One order with its legs, its replace chain and its fills (found in any shown account)."""
    order_id = view.path_id or ""
    for account in view.accounts:
        order = await view.store.get_order(account, order_id)
        if order is None:
            continue
        chain = await view.store.replace_chain(account, order_id)
        parent = None
        if order.parent_id:
            parent = await view.store.get_order(account, order.parent_id, with_legs=False)
        fills = await view.store.fills_for_order(account, order_id)
        for leg in order.legs:
            fills.extend(await view.store.fills_for_order(account, leg.id))
        return {
            "account": account,
            "order": order,
            "parent": parent,
            "chain": chain if len(chain) > 1 else [],
            "fills": fills,
        }
    return {"account": None, "order": None, "parent": None, "chain": [], "fills": []}


async def load_checks(view: View) -> dict[str, Any]:
    rows = []
    for account in view.accounts:
        runs = await view.store.list_reconciliation_runs(account, limit=10)
        items = {run.id: await view.store.list_reconciliation_items(run.id) for run in runs}
        rows.append(
            {
                "account": account,
                "counts": await summaries.check_counts(view.store, account),
                "quality": await summaries.newest(view.store, "quality", account),
                "quarantine": await summaries.newest(view.store, "quarantine", account),
                "gaps": await summaries.newest(view.store, "gaps", account),
                "breaches": await summaries.newest(view.store, "breaches", account),
                "exposure": await view.store.latest_exposure(account),
                "runs": runs,
                "items": items,
            }
        )
    return {"accounts": rows}


async def load_performance(view: View) -> dict[str, Any]:
    rows = []
    for account in view.accounts:
        rows.append(
            {
                "account": account,
                "pnl": await view.performance.pnl(account),
                "report": await view.performance.report(account),
            }
        )
    return {"accounts": rows}


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class Region:
    name: str
    loader: Loader
    parts: frozenset[str]  # live parts that make the browser fetch it again


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    path: str
    regions: tuple[str, ...]
    charts: bool = False  # loads plotly
    in_menu: bool = True


def _region(name: str, loader: Loader, *parts: str) -> Region:
    return Region(name, loader, frozenset(parts))


REGIONS: dict[str, Region] = {
    region.name: region
    for region in (
        _region("summary", load_summary, "account", "positions", "orders"),
        _region("health", load_health, "account", "positions", "orders", "fills", "checks"),
        _region("equity", load_equity, "account"),
        _region("recent", load_recent, "orders", "fills"),
        _region("alerts", load_alerts, "checks"),
        _region("positions", load_positions, "positions", "account", "fills"),
        _region("orders", load_orders, "orders"),
        _region("fills", load_fills, "fills"),
        _region("order", load_order, "orders", "fills"),
        _region("checks", load_checks, "checks"),
        _region("performance", load_performance, "account", "fills"),
    )
}

PAGES: dict[str, Page] = {
    page.name: page
    for page in (
        Page(
            "overview", "Overview", "/", ("summary", "health", "equity", "alerts", "recent"), True
        ),
        Page("positions", "Positions", "/positions", ("positions",)),
        Page("orders", "Orders", "/orders", ("orders",)),
        Page("fills", "Fills", "/fills", ("fills",)),
        Page("checks", "Checks", "/checks", ("checks",)),
        Page("performance", "Performance", "/performance", ("performance",), True),
        Page("order", "Order", "/orders/{order_id}", ("order",), in_menu=False),
    )
}
