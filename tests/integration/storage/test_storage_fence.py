"""The fencing epoch (``ApplyBatch.fence``): a monitor whose account was taken over by a newer
lease holder cannot write it any more, on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest

from alpaca_integration.errors import FencedWriteError
from alpaca_integration.models import OrderStatus
from alpaca_integration.storage import Store
from alpaca_integration.storage.records import FENCE_FEED
from support.storage_builders import at, make_order


async def test_a_stale_epoch_writes_nothing_once_a_newer_one_wrote(store: Store) -> None:
    old_owner, new_owner = 3, 4
    await store.apply("acct", orders=[make_order(id="o-1")], fence=old_owner)
    await store.apply(
        "acct", orders=[make_order(id="o-2")], checkpoints={"stream": "x"}, fence=new_owner
    )

    with pytest.raises(FencedWriteError, match="epoch 4"):
        await store.apply(
            "acct",
            orders=[make_order(id="o-3")],
            checkpoints={"stream": "stale"},
            fence=old_owner,
        )

    assert await store.get_order("acct", "o-3") is None
    assert await store.get_checkpoint("acct", "stream") == "x"
    assert int(await store.get_checkpoint("acct", FENCE_FEED) or 0) == new_owner


async def test_the_owner_keeps_writing_and_epochs_compare_as_numbers(store: Store) -> None:
    # 9 then 10: as text "10" < "9", so the stored epoch must compare as a number.
    await store.apply("acct", orders=[make_order(id="o-1")], fence=9)
    result = await store.apply(
        "acct",
        orders=[
            make_order(id="o-1", updated_at=at(5), status=OrderStatus.CANCELED, canceled_at=at(5))
        ],
        fence=10,
    )
    await store.apply("acct", orders=[make_order(id="o-2")], fence=10)

    assert result.orders == 1
    with pytest.raises(FencedWriteError):
        await store.apply("acct", orders=[make_order(id="o-4")], fence=9)


async def test_writes_without_a_fence_and_other_accounts_are_not_fenced(store: Store) -> None:
    await store.apply("acct", orders=[make_order(id="o-1")], fence=5)

    await store.apply("acct", orders=[make_order(id="o-2")])
    await store.apply("other", orders=[make_order(id="o-3")], fence=1)

    assert await store.get_order("acct", "o-2") is not None
    assert await store.get_order("other", "o-3") is not None
