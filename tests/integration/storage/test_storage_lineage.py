"""Order lineage in the store: parent_id, replaces and ownership survive reports that lack them."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from alpaca_integration.models import Order, OrderClass, OrderStatus
from alpaca_integration.storage import Store
from support.storage_builders import at, make_bracket_leg, make_order


def _bracket(leg_status: OrderStatus = OrderStatus.HELD, second: float = 1) -> Order:
    """An integration bracket (ai- client id) whose stop-loss leg has a venue client id."""
    stop_loss = _leg_event(leg_status, second, parent_id="entry")
    return make_order(
        id="entry",
        client_order_id="ai-entry",
        order_class=OrderClass.BRACKET,
        updated_at=at(second),
        legs=(stop_loss,),
    )


def _leg_event(status: OrderStatus, second: float, **overrides: object) -> Order:
    """The stop-loss leg as its own stream event reports it: no parent, no nesting (unless
    ``overrides`` say otherwise)."""
    fields = {"client_order_id": "venue-sl", "status": status, "updated_at": at(second)}
    return make_bracket_leg("sl", stop=True, **{"parent_id": None, **fields, **overrides})


async def _leg(store: Store) -> Order:
    stored = await store.get_order("default", "sl", with_legs=False)
    assert stored is not None
    return stored


async def test_a_newer_report_without_parent_keeps_the_stored_parent(store: Store) -> None:
    """A leg's own newer event (no parent) advances its state but keeps parent_id and owner."""
    await store.apply("default", orders=[_bracket()])
    result = await store.apply("default", orders=[_leg_event(OrderStatus.NEW, 5)], source="stream")
    assert result.order_ids == ("sl",)
    leg = await _leg(store)
    assert (leg.status, leg.parent_id) == (OrderStatus.NEW, "entry")
    assert (await store.external_flags("default"))["sl"] is False
    root = await store.get_order("default", "entry")
    assert root is not None
    assert [one.id for one in root.legs] == ["sl"]


async def test_an_older_report_fills_in_a_missing_parent_without_rolling_back(
    store: Store,
) -> None:
    """The leg's newer event first, the parent's older nested report after: the parent and the
    root's ownership are filled in, the newer state stays, and a replay changes nothing."""
    await store.apply("default", orders=[_leg_event(OrderStatus.FILLED, 9)], source="stream")
    assert (await _leg(store)).parent_id is None
    assert (await store.external_flags("default"))["sl"] is True  # venue client id, root unknown
    result = await store.apply("default", orders=[_bracket(OrderStatus.HELD, 1)])
    assert set(result.order_ids) == {"entry", "sl"}
    leg = await _leg(store)
    assert (leg.status, leg.parent_id, leg.updated_at) == (OrderStatus.FILLED, "entry", at(9))
    assert (await store.external_flags("default"))["sl"] is False
    again = await store.apply("default", orders=[_bracket(OrderStatus.HELD, 1)])
    assert again.orders == 0


@pytest.mark.parametrize("nested_first", [True, False])
async def test_both_reports_in_one_batch_end_as_when_applied_apart(
    store: Store, nested_first: bool
) -> None:
    """The nested (older) and the leg's own (newer) report in one apply, in either order: the
    newer state with the parent and the root's ownership."""
    reports = [_bracket(OrderStatus.HELD, 1), _leg_event(OrderStatus.CANCELED, 7)]
    if not nested_first:
        reports.reverse()
    await store.apply("default", orders=reports)
    leg = await _leg(store)
    assert (leg.status, leg.parent_id) == (OrderStatus.CANCELED, "entry")
    assert (await store.external_flags("default"))["sl"] is False


async def test_replaces_and_replaced_by_are_kept_once_known(store: Store) -> None:
    """A newer report lacking the replace links keeps them; an older one carrying them fills
    them in."""
    original = make_order(id="p-1", client_order_id="ai-p1", replaced_by="p-2", updated_at=at(2))
    await store.apply("default", orders=[original])
    newer = msgspec.structs.replace(
        original, replaced_by=None, status=OrderStatus.REPLACED, updated_at=at(4)
    )
    await store.apply("default", orders=[newer], source="stream")
    stored = await store.get_order("default", "p-1")
    assert stored is not None
    assert (stored.status, stored.replaced_by) == (OrderStatus.REPLACED, "p-2")
    replacement = make_order(id="p-2", client_order_id="ai-p2", updated_at=at(6))
    await store.apply("default", orders=[replacement])
    older = msgspec.structs.replace(replacement, replaces="p-1", updated_at=at(3))
    assert (await store.apply("default", orders=[older])).order_ids == ("p-2",)
    stored = await store.get_order("default", "p-2")
    assert stored is not None
    assert (stored.replaces, stored.updated_at) == ("p-1", at(6))
    assert await store.replace_chain("default", "p-1") == [
        await store.get_order("default", "p-1"),
        stored,
    ]


@pytest.mark.parametrize("flag", [True, False])
async def test_a_flag_set_by_reconciliation_survives_later_upserts(
    store: Store, flag: bool
) -> None:
    """mark_external (what reconciliation calls) decides; newer reports of the order, which
    would classify it the other way by its client id, do not undo it."""
    client_order_id = "ai-r1" if flag else "dashboard-r1"
    order = make_order(id="r-1", client_order_id=client_order_id, updated_at=at(1))
    await store.apply("default", orders=[order])
    assert await store.mark_external("default", ["r-1"], flag) == 1
    newer = msgspec.structs.replace(
        order, status=OrderStatus.FILLED, filled_qty=Decimal(10), updated_at=at(8)
    )
    result = await store.apply("default", orders=[newer], source="stream")
    assert result.order_ids == ("r-1",)
    assert (await store.external_flags("default"))["r-1"] is flag
    stored = await store.get_order("default", "r-1")
    assert stored is not None
    assert stored.status is OrderStatus.FILLED


async def test_a_replacement_stored_before_its_original_is_recognised_later(
    store: Store,
) -> None:
    """A venue-named replacement first stored as external becomes ours at its next report once
    the order it replaces (ours) is stored."""
    replacement = make_order(
        id="q-2", client_order_id="venue-q2", replaces="q-1", created_at=at(3), updated_at=at(3)
    )
    await store.apply("default", orders=[replacement])
    assert (await store.external_flags("default"))["q-2"] is True
    original = make_order(
        id="q-1", client_order_id="ai-q1", status=OrderStatus.REPLACED, replaced_by="q-2"
    )
    await store.apply("default", orders=[original])
    newer = msgspec.structs.replace(replacement, status=OrderStatus.CANCELED, updated_at=at(5))
    result = await store.apply("default", orders=[newer])
    assert result.order_ids == ("q-2",)
    assert (await store.external_flags("default"))["q-2"] is False


async def test_a_large_page_follows_the_same_lineage_rules(store: Store) -> None:
    """A 150-order page (PostgreSQL's staged COPY path, not the small-batch VALUES one) fills in
    a missing parent without rolling the leg back, like a single event does."""
    await store.apply("default", orders=[_leg_event(OrderStatus.FILLED, 9)], source="stream")
    fillers = [
        make_order(id=f"f-{i}", client_order_id=f"ai-f-{i}", created_at=at(i)) for i in range(149)
    ]
    result = await store.apply("default", orders=[_bracket(OrderStatus.HELD, 1), *fillers])
    assert result.orders == 151
    leg = await _leg(store)
    assert (leg.status, leg.parent_id) == (OrderStatus.FILLED, "entry")
    assert (await store.external_flags("default"))["sl"] is False
