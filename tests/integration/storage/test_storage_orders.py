"""Orders in the store: idempotent and monotonic upserts, legs, replace chains, ownership."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from alpaca_integration import models
from alpaca_integration.errors import StorageError
from alpaca_integration.models import Order, OrderStatus
from alpaca_integration.storage import Store
from support.storage_builders import T0, at, make_bracket_leg, make_order


def _bracket() -> tuple[Order, Order, Order]:
    entry_id, tp_id, sl_id = "br-entry", "br-tp", "br-sl"
    take_profit = make_bracket_leg(tp_id, entry_id, client_order_id="venue-tp")
    stop_loss = make_bracket_leg(sl_id, entry_id, stop=True, client_order_id="venue-sl")
    entry = make_order(
        id=entry_id,
        client_order_id="ai-bracket",
        order_class=models.OrderClass.BRACKET,
        legs=(take_profit, stop_loss),
    )
    return entry, take_profit, stop_loss


async def test_applying_the_same_orders_twice_changes_nothing(store: Store) -> None:
    """A page applied twice: the second apply reports 0 rows and leaves the rows as they were."""
    page = [make_order(id="o-1"), make_order(id="o-2", client_order_id="ai-o-2")]
    first = await store.apply("default", orders=page)
    before = await store.dump("default")
    second = await store.apply("default", orders=page)
    assert (first.orders, second.orders) == (2, 0)
    assert second.order_ids == ()
    assert await store.dump("default") == before


async def test_an_older_update_never_overwrites_a_newer_one(store: Store) -> None:
    """A stale 'new' arriving after 'filled' is ignored; the newer update applied later wins."""
    filled = make_order(
        status=OrderStatus.FILLED,
        filled_qty=Decimal(10),
        filled_avg_price=Decimal("187.2"),
        updated_at=at(30),
        filled_at=at(30),
    )
    stale = make_order(status=OrderStatus.NEW, updated_at=at(1))
    assert (await store.apply("default", orders=[filled])).orders == 1
    assert (await store.apply("default", orders=[stale])).orders == 0
    stored = await store.get_order("default", "o-1")
    assert stored is not None
    assert (stored.status, stored.filled_qty) == (OrderStatus.FILLED, Decimal(10))


async def test_equal_timestamps_fall_back_to_status_progress_then_filled_qty(store: Store) -> None:
    """With one updated_at, the further status wins, then the larger filled quantity."""
    partial = make_order(
        status=OrderStatus.PARTIALLY_FILLED, filled_qty=Decimal(4), updated_at=at(9)
    )
    more = make_order(status=OrderStatus.PARTIALLY_FILLED, filled_qty=Decimal(7), updated_at=at(9))
    pending = make_order(status=OrderStatus.PENDING_CANCEL, filled_qty=Decimal(7), updated_at=at(9))
    await store.apply("default", orders=[more])
    assert (await store.apply("default", orders=[partial])).orders == 0
    assert (await store.apply("default", orders=[pending])).orders == 0
    await store.apply("default", orders=[partial])
    stored = await store.get_order("default", "o-1")
    assert stored is not None
    assert (stored.status, stored.filled_qty) == (OrderStatus.PARTIALLY_FILLED, Decimal(7))
    done = make_order(status=OrderStatus.FILLED, filled_qty=Decimal(10), updated_at=at(9))
    assert (await store.apply("default", orders=[done])).orders == 1


async def test_within_one_batch_the_newest_copy_of_an_order_wins(store: Store) -> None:
    """Two versions of one order in one apply store the newer, whatever their order."""
    old = make_order(status=OrderStatus.NEW, updated_at=at(1))
    new = make_order(status=OrderStatus.CANCELED, updated_at=at(20), canceled_at=at(20))
    result = await store.apply("default", orders=[new, old])
    assert result.orders == 1
    stored = await store.get_order("default", "o-1")
    assert stored is not None
    assert stored.status is OrderStatus.CANCELED


async def test_every_order_field_round_trips_exactly(store: Store) -> None:
    """A trailing stop with every optional field set reads back equal, raw payload included."""
    order = make_order(
        id="trail-1",
        client_order_id="ai-trail",
        symbol="BTC/USD",
        asset_class=models.AssetClass.CRYPTO,
        side=models.OrderSide.SELL,
        type=models.OrderType.TRAILING_STOP,
        time_in_force=models.TimeInForce.GTC,
        status=OrderStatus.PARTIALLY_FILLED,
        qty=Decimal("0.123456789"),
        notional=None,
        filled_qty=Decimal("0.000000001"),
        filled_avg_price=Decimal("64123.123456789012"),
        limit_price=None,
        stop_price=Decimal("63000.5"),
        trail_price=None,
        trail_percent=Decimal("1.75"),
        hwm=Decimal("64150.25"),
        extended_hours=True,
        position_intent=models.PositionIntent.SELL_TO_CLOSE,
        ratio_qty=Decimal(1),
        created_at=T0.replace(microsecond=123456),
        updated_at=at(3.5),
        submitted_at=at(0.25),
        filled_at=at(3),
        expired_at=None,
        expires_at=at(86400),
        canceled_at=None,
        failed_at=None,
        replaced_at=None,
        raw=b'{"id":"trail-1","hwm":"64150.25","unknown_field":[1,2,3]}',
    )
    await store.apply("default", orders=[order])
    assert await store.get_order("default", "trail-1") == order


async def test_bracket_legs_are_stored_with_their_parent_and_read_back_nested(store: Store) -> None:
    """A bracket with two held legs: rows with parent_id, nested on read, open while held."""
    entry, take_profit, stop_loss = _bracket()
    result = await store.apply("default", orders=[entry])
    assert result.orders == 3
    stored = await store.order_with_legs("default", "br-entry")
    assert stored is not None
    assert {leg.id for leg in stored.legs} == {"br-tp", "br-sl"}
    assert all(leg.parent_id == "br-entry" for leg in stored.legs)
    # Legs come back ordered by creation time, then id.
    assert stored == msgspec.structs.replace(entry, legs=(stop_loss, take_profit))
    top = await store.list_orders("default", top_level=True)
    assert [o.id for o in top] == ["br-entry"]
    legs = await store.list_orders("default", parent_id="br-entry")
    assert sorted(o.id for o in legs) == ["br-sl", "br-tp"]
    assert {o.id for o in await store.open_orders("default")} == {"br-entry", "br-tp", "br-sl"}


async def test_legs_without_parent_id_get_their_parents_id(store: Store) -> None:
    """A nested leg whose payload lacks parent_id is stored pointing at the order that holds it."""
    leg = make_order(id="leg-x", client_order_id="venue-leg", status=OrderStatus.HELD)
    entry = make_order(
        id="root-x", client_order_id="ai-root", order_class=models.OrderClass.OTO, legs=(leg,)
    )
    await store.apply("default", orders=[entry])
    stored_leg = await store.get_order("default", "leg-x")
    assert stored_leg is not None
    assert stored_leg.parent_id == "root-x"


async def test_replace_chain_is_found_from_any_member(store: Store) -> None:
    """o1 -> o2 -> o3: the chain is the same from each order, original first."""
    o1 = make_order(
        id="r-1",
        client_order_id="ai-r1",
        status=OrderStatus.REPLACED,
        replaced_by="r-2",
        updated_at=at(10),
    )
    o2 = make_order(
        id="r-2",
        client_order_id="ai-r2",
        replaces="r-1",
        status=OrderStatus.REPLACED,
        replaced_by="r-3",
        created_at=at(10),
        updated_at=at(20),
    )
    o3 = make_order(
        id="r-3", client_order_id="ai-r3", replaces="r-2", created_at=at(20), updated_at=at(21)
    )
    await store.apply("default", orders=[o3, o1, o2])
    for member in ("r-1", "r-2", "r-3"):
        chain = await store.replace_chain("default", member)
        assert [o.id for o in chain] == ["r-1", "r-2", "r-3"], member
    assert await store.replace_chain("default", "unknown") == []


async def test_replace_chain_follows_replaces_links_alone(store: Store) -> None:
    """When the old orders' replaced_by is not known yet, the new orders' replaces still link."""
    o1 = make_order(id="q-1", client_order_id="ai-q1", status=OrderStatus.PENDING_REPLACE)
    o2 = make_order(
        id="q-2", client_order_id="ai-q2", replaces="q-1", created_at=at(5), updated_at=at(6)
    )
    await store.apply("default", orders=[o1, o2])
    assert [o.id for o in await store.replace_chain("default", "q-1")] == ["q-1", "q-2"]


async def test_lookup_by_client_order_id(store: Store) -> None:
    """The idempotency key finds the order (with legs); an unknown key finds nothing."""
    entry, _tp, _sl = _bracket()
    await store.apply("default", orders=[entry])
    found = await store.get_order_by_client_order_id("default", "ai-bracket")
    assert found is not None
    assert found.id == "br-entry"
    assert len(found.legs) == 2
    assert await store.get_order_by_client_order_id("default", "ai-nope") is None


async def test_list_orders_filters(store: Store) -> None:
    """Status, symbol, side and creation-time filters select the matching orders."""
    await store.apply(
        "default",
        orders=[
            make_order(id="a", client_order_id="ai-a", created_at=at(1)),
            make_order(
                id="b",
                client_order_id="ai-b",
                symbol="MSFT",
                side=models.OrderSide.SELL,
                created_at=at(2),
            ),
            make_order(
                id="c",
                client_order_id="ai-c",
                status=OrderStatus.CANCELED,
                created_at=at(3),
                updated_at=at(4),
            ),
        ],
    )

    async def ids(**filters: object) -> list[str]:
        return [o.id for o in await store.list_orders("default", **filters)]  # type: ignore[arg-type]

    assert await ids() == ["a", "b", "c"]
    assert await ids(status="open") == ["a", "b"]
    assert await ids(status="closed") == ["c"]
    assert await ids(symbols=["MSFT"]) == ["b"]
    assert await ids(side="sell") == ["b"]
    assert await ids(created_after=at(1)) == ["b", "c"]
    assert await ids(newest_first=True, limit=1) == ["c"]
    assert await ids(statuses=[OrderStatus.CANCELED]) == ["c"]


async def test_orders_of_other_accounts_stay_apart(store: Store) -> None:
    """The same order id under two accounts is two rows; each account sees its own."""
    await store.apply("main", orders=[make_order(status=OrderStatus.NEW)])
    await store.apply("hedge", orders=[make_order(status=OrderStatus.CANCELED, updated_at=at(9))])
    main = await store.get_order("main", "o-1")
    hedge = await store.get_order("hedge", "o-1")
    assert main is not None
    assert hedge is not None
    assert (main.status, hedge.status) == (OrderStatus.NEW, OrderStatus.CANCELED)
    assert await store.list_accounts() == ["hedge", "main"]


async def test_orders_not_placed_by_the_integration_are_marked_external(store: Store) -> None:
    """ai- client ids are ours, legs follow their root, a replacement follows what it replaces."""
    entry, _tp, _sl = _bracket()
    manual = make_order(id="m-1", client_order_id="dashboard-123")
    original = make_order(
        id="p-1", client_order_id="ai-p1", status=OrderStatus.REPLACED, replaced_by="p-2"
    )
    await store.apply("default", orders=[entry, manual, original])
    replacement = make_order(
        id="p-2",
        client_order_id="7f0c-venue-generated",
        replaces="p-1",
        created_at=at(3),
        updated_at=at(4),
    )
    # A second replace arrives in one page with a manual order's replacement.
    again = make_order(id="p-3", client_order_id="venue-3", replaces="p-2", created_at=at(5))
    manual_again = make_order(id="m-2", client_order_id="venue-m2", replaces="m-1")
    await store.apply("default", orders=[replacement])
    await store.apply("default", orders=[again, manual_again])
    flags = await store.external_flags("default")
    assert flags == {
        "br-entry": False,
        "br-tp": False,
        "br-sl": False,
        "m-1": True,
        "m-2": True,
        "p-1": False,
        "p-2": False,
        "p-3": False,
    }
    assert [o.id for o in await store.list_orders("default", external=True)] == ["m-1", "m-2"]
    assert await store.mark_external("default", ["m-1", "p-1"]) == 1
    assert await store.mark_external("default", ["m-1", "p-1"]) == 0
    assert (await store.external_flags("default"))["p-1"] is True


async def test_bad_input_is_refused_with_a_clear_error(store: Store) -> None:
    """Naive datetimes and float amounts are refused naming the fix; nothing is written."""
    naive = make_order(updated_at=dt.datetime(2026, 3, 2, 14, 31))
    with pytest.raises(StorageError, match="timezone-aware"):
        await store.apply("default", orders=[naive])
    floaty = msgspec.structs.replace(make_order(), limit_price=187.25)  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="Decimal"):
        await store.apply("default", orders=[floaty])
    with pytest.raises(StorageError, match="account"):
        await store.apply("", orders=[make_order()])
    assert await store.list_orders("default") == []


async def test_list_orders_by_ids_returns_just_those_orders(store: Store) -> None:
    """ids= narrows the listing to the given orders (unknown ids ignored; an empty list is [])."""
    await store.apply(
        "default",
        orders=[make_order(id=f"n-{i}", client_order_id=f"ai-n-{i}") for i in range(4)],
    )
    listed = await store.list_orders("default", ids=["n-2", "n-0", "missing", "n-2"])
    assert [o.id for o in listed] == ["n-0", "n-2"]
    assert await store.list_orders("default", ids=[]) == []
