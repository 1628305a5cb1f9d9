"""The demo compares the store with the venue only once the venue has stopped moving by itself."""

from __future__ import annotations

from typing import Any

from alpaca_integration.testing.demo import _until_venue_quiet


class SlowFillingVenue:
    """A venue whose market order fills in parts, one part every third read: two reads in a row
    see the same state while the order is still working (a busy machine between price steps)."""

    def __init__(self) -> None:
        self.reads = 0

    def dump(self, key_id: str) -> dict[str, Any]:
        self.reads += 1
        filled = min(300, 100 * (1 + self.reads // 3))
        status = "filled" if filled == 300 else "partially_filled"
        order = {"id": "tsla", "type": "market", "status": status, "filled_qty": str(filled)}
        resting = {"id": "spy", "type": "limit", "status": "new", "filled_qty": "0"}
        return {"orders": [order, resting]}


async def test_the_wait_lasts_until_the_market_order_is_done() -> None:
    venue = SlowFillingVenue()
    await _until_venue_quiet(venue, "KEY", bound=20.0)
    final = venue.dump("KEY")["orders"][0]
    assert final["status"] == "filled"
    assert final["filled_qty"] == "300"


async def test_a_resting_limit_order_does_not_hold_the_wait() -> None:
    class Resting:
        def dump(self, key_id: str) -> dict[str, Any]:
            return {"orders": [{"id": "spy", "type": "limit", "status": "new", "filled_qty": "0"}]}

    await _until_venue_quiet(Resting(), "KEY", bound=20.0)  # returns after one quiet interval
