"""Whose orders the store says they are: legs handed in as rows of their own (the sync detaches
them from their parent, parent first) belong to whoever placed the parent, not to the venue's
client_order_id they carry."""

from __future__ import annotations

from alpaca_integration.models import INTEGRATION_PREFIX, OrderClass
from alpaca_integration.storage import Store
from support.correctness_factories import make_order


async def test_detached_legs_take_their_parents_ownership(store: Store) -> None:
    ours = make_order(
        id="p1", client_order_id=f"{INTEGRATION_PREFIX}x", order_class=OrderClass.MLEG
    )
    theirs = make_order(id="p2", client_order_id="placed-elsewhere", order_class=OrderClass.BRACKET)
    legs = [
        make_order(id=f"{parent.id}-leg", client_order_id=f"venue-{parent.id}", parent_id=parent.id)
        for parent in (ours, theirs)
    ]
    await store.apply("acct", orders=[ours, legs[0], theirs, legs[1]])
    assert await store.external_flags("acct") == {
        "p1": False,
        "p1-leg": False,
        "p2": True,
        "p2-leg": True,
    }
