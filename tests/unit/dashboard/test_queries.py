"""The dashboard's own SQL (``dashboard.queries``) on SQLite and PostgreSQL: keyset pages that
walk every order and fill exactly once, newest first, with filters, nested legs, several
accounts, and the change stamps the live feed polls."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from alpaca_integration.dashboard import queries, summaries
from alpaca_integration.models import OrderClass, OrderSide, OrderStatus
from alpaca_integration.storage import Store
from support.storage_builders import at, make_order, make_snapshot, stream_fill

ACCOUNT = "default"


def _orders(count: int, *, prefix: str = "o", start: float = 0.0) -> list:
    """``count`` orders a second apart, alternating side and symbol; every third is filled.
    Orders 3 and 4 share a creation instant (the id breaks the tie)."""
    orders = []
    for n in range(count):
        created = at(start + (n if n != 4 else 3))
        filled = n % 3 == 0
        orders.append(
            make_order(
                id=f"{prefix}-{n:04d}",
                client_order_id=f"ai-{prefix}-{n:04d}",
                symbol=("AAPL", "MSFT")[n % 2],
                side=(OrderSide.BUY, OrderSide.SELL)[n % 2],
                status=OrderStatus.FILLED if filled else OrderStatus.NEW,
                filled_qty=Decimal(10) if filled else Decimal(0),
                created_at=created,
                submitted_at=created,
                updated_at=created,
            )
        )
    return orders


async def _walk_orders(store: Store, accounts: list[str], filters: queries.OrderFilters) -> list:
    seen = []
    page = await queries.orders_page(store, accounts, filters, limit=7)
    while True:
        seen.extend(row.order.id for row in page.rows)
        if page.older is None:
            return seen
        page = await queries.orders_page(store, accounts, filters, before=page.older, limit=7)


async def test_order_pages_walk_every_order_once_newest_first(store: Store) -> None:
    """Older-page links visit every top-level order exactly once, newest first, ties included."""
    await store.apply(ACCOUNT, orders=_orders(30))
    expected = [o.id for o in await store.list_orders(ACCOUNT, newest_first=True)]
    assert await _walk_orders(store, [ACCOUNT], queries.OrderFilters()) == expected


async def test_newer_page_links_lead_back_to_the_newest_page(store: Store) -> None:
    """From any page, the newer-page links walk back through the same pages to the first."""
    await store.apply(ACCOUNT, orders=_orders(20))
    first = await queries.orders_page(store, [ACCOUNT], queries.OrderFilters(), limit=7)
    assert first.newer is None
    second = await queries.orders_page(
        store, [ACCOUNT], queries.OrderFilters(), before=first.older, limit=7
    )
    third = await queries.orders_page(
        store, [ACCOUNT], queries.OrderFilters(), before=second.older, limit=7
    )
    assert third.older is None
    assert len(third.rows) == 6
    back = await queries.orders_page(
        store, [ACCOUNT], queries.OrderFilters(), after=third.newer, limit=7
    )
    assert [r.order.id for r in back.rows] == [r.order.id for r in second.rows]
    front = await queries.orders_page(
        store, [ACCOUNT], queries.OrderFilters(), after=back.newer, limit=7
    )
    assert [r.order.id for r in front.rows] == [r.order.id for r in first.rows]
    assert front.newer is None


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        (queries.OrderFilters(status="filled"), lambda o: o.status is OrderStatus.FILLED),
        (queries.OrderFilters(status="open"), lambda o: o.status.is_open),
        (queries.OrderFilters(symbol="MSFT"), lambda o: o.symbol == "MSFT"),
        (
            queries.OrderFilters(side="buy", status="closed"),
            lambda o: o.side is OrderSide.BUY and not o.status.is_open,
        ),
        (
            queries.OrderFilters(created_from=at(0).date(), created_to=at(0).date()),
            lambda o: True,
        ),
        (
            queries.OrderFilters(created_from=at(0).date() + dt.timedelta(days=1)),
            lambda o: False,
        ),
    ],
)
async def test_filters_narrow_the_pages(
    store: Store, filters: queries.OrderFilters, keep: object
) -> None:
    """Status, symbol, side and date filters keep exactly the matching orders."""
    orders = _orders(25)
    await store.apply(ACCOUNT, orders=orders)
    expected = sorted(
        (o for o in orders if keep(o)),  # type: ignore[operator]
        key=lambda o: (o.created_at, o.id),
        reverse=True,
    )
    assert await _walk_orders(store, [ACCOUNT], filters) == [o.id for o in expected]


async def test_legs_are_nested_under_their_parent_not_listed_apart(store: Store) -> None:
    """A bracket's legs come inside its row, not as rows of their own."""
    legs = tuple(
        make_order(
            id=f"leg-{n}",
            client_order_id=f"ai-leg-{n}",
            side=OrderSide.SELL,
            order_class=OrderClass.BRACKET,
            created_at=at(1),
            parent_id="bracket",
        )
        for n in (1, 2)
    )
    bracket = make_order(
        id="bracket", client_order_id="ai-bracket", order_class=OrderClass.BRACKET, legs=legs
    )
    await store.apply(ACCOUNT, orders=[bracket, *_orders(2, start=10)])
    page = await queries.orders_page(store, [ACCOUNT], queries.OrderFilters())
    assert [r.order.id for r in page.rows] == ["o-0001", "o-0000", "bracket"]
    assert [leg.id for leg in page.rows[2].order.legs] == ["leg-1", "leg-2"]


async def test_several_accounts_are_merged_newest_first(store: Store) -> None:
    """All accounts' orders interleave by creation time, each row naming its account."""
    await store.apply("main", orders=_orders(9, prefix="m"))
    await store.apply("hedge", orders=_orders(9, prefix="h", start=0.5))
    seen = await _walk_orders(store, ["main", "hedge"], queries.OrderFilters())
    assert len(seen) == 18
    page = await queries.orders_page(store, ["main", "hedge"], queries.OrderFilters(), limit=4)
    assert [(r.account, r.order.id) for r in page.rows] == [
        ("hedge", "h-0008"),
        ("main", "m-0008"),
        ("hedge", "h-0007"),
        ("main", "m-0007"),
    ]


async def test_fill_pages_walk_every_execution_once_with_its_order(store: Store) -> None:
    """Fills newest first (same-instant executions too), each with its order's type and class."""
    orders = _orders(6)
    fills = [
        stream_fill(o.id, f"x-{o.id}-{k}", str(k * 5), "5", "190.1", timestamp=at(100 + n // 2))
        for n, o in enumerate(orders)
        for k in (1, 2)
    ]
    await store.apply(ACCOUNT, orders=orders, fills=fills)
    seen: list[str] = []
    page = await queries.fills_page(store, [ACCOUNT], queries.FillFilters(), limit=5)
    while True:
        seen.extend(row.fill.fill_id for row in page.rows)
        assert all(row.order_type == "limit" for row in page.rows)
        if page.older is None:
            break
        page = await queries.fills_page(
            store, [ACCOUNT], queries.FillFilters(), before=page.older, limit=5
        )
    stored = await store.list_fills(ACCOUNT)
    assert sorted(seen) == sorted(f.fill_id for f in stored)
    keys = {f.fill_id: (f.timestamp, f.order_id, f.cum_qty) for f in stored}
    assert [keys[fill_id] for fill_id in seen] == sorted(keys.values(), reverse=True)


def test_a_damaged_page_cursor_is_refused() -> None:
    """A cursor that is not one this module wrote (no offset, garbage) is a ValueError."""
    good = queries.Cursor(at(1), "o-1", Decimal("2.5"))
    assert queries.Cursor.decode(good.encode(), with_qty=True) == good
    for text in ("nonsense", "2026-03-02T14:30:00~o-1", "2026-03-02T14:30:00+00:00~", "x~y~z"):
        with pytest.raises(ValueError, match="page cursor"):
            queries.Cursor.decode(text)
    with pytest.raises(ValueError, match="page cursor"):
        queries.Cursor.decode("2026-03-02T14:30:00+00:00~o-1~NaN", with_qty=True)


async def test_change_stamps_move_with_each_kind_of_write(store: Store) -> None:
    """A new order moves the orders part, a fill the fills part, a snapshot the account part,
    a risk breach the checks part; reading twice with no write moves nothing."""
    await store.apply(ACCOUNT, orders=_orders(3))

    async def stamp() -> summaries.Stamp:
        return (await summaries.change_stamps(store, [ACCOUNT]))[ACCOUNT]

    before = await stamp()
    assert (await stamp()).changed(before) == set()
    await store.apply(ACCOUNT, orders=_orders(4)[3:])
    after_order = await stamp()
    assert "orders" in after_order.changed(before)
    await store.apply(ACCOUNT, fills=[stream_fill("o-0000", "x-new", "10", "10", "190")])
    after_fill = await stamp()
    assert "fills" in after_fill.changed(after_order)
    await store.apply(ACCOUNT, snapshot=make_snapshot(observed_at=at(500)))
    after_snapshot = await stamp()
    assert "account" in after_snapshot.changed(after_fill)

    class Breach:
        account = ACCOUNT
        at = at(600)
        limit_name = "max_position_qty"
        subject = "AAPL"
        value = Decimal(20)
        limit = Decimal(10)
        detail = "position 20 beyond 10"

    await store.insert_risk_breaches([Breach()])
    assert (await stamp()).changed(after_snapshot) == {"checks"}
