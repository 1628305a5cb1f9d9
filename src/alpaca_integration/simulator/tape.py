"""The venue's tape: the ids and timestamps it hands out and the trade_updates events it emits.

Every room of the broker (order desk, matching, accounting, catalog) draws its ids and times
here. Ids come from one generator seeded with the venue's seed, so the same requests in the same
order get the same order, execution, activity and watchlist ids. A timestamp is the clock's now,
or, while the broker catches up with a session boundary (``processing_at``), that boundary's
time, so an auction fill at the open carries the open's time even if the clock has moved on.

``emit`` renders an event with its order snapshot taken at that moment (or a given, older one:
the stale-snapshot fault), logs it on the account and hands it to the sink (the stream hub).

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from typing import Any

from alpaca_integration.simulator.clock import NEW_YORK, SimClock
from alpaca_integration.simulator.state import Order, order_json
from alpaca_integration.simulator.wire import ts

__all__ = ["EventSink", "Tape"]

EventSink = Callable[[str, dict[str, Any]], None]


class Tape:
    """Ids, timestamps and events of one venue. See the module docstring."""

    def __init__(self, clock: SimClock, *, seed: int, sink: EventSink | None = None) -> None:
        self.clock = clock
        self.sink = sink
        self.processing_at: dt.datetime | None = None
        self._ids = random.Random(f"{seed}:ids")

    def stamp(self) -> dt.datetime:
        """Now, or the boundary being caught up with; strictly later than any stamp before."""
        if self.processing_at is not None:
            return self.clock.stamp_at(self.processing_at)
        return self.clock.stamp()

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def activity_id(self, at: dt.datetime) -> str:
        """Alpaca's activity id: ``<YYYYMMDDhhmmssmmm New York>::<uuid>``."""
        local = at.astimezone(NEW_YORK)
        prefix = local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"
        return f"{prefix}::{uuid.UUID(int=self._ids.getrandbits(128), version=4)}"

    def emit(
        self,
        order: Order,
        event: str,
        at: dt.datetime,
        *,
        snapshot: dict[str, Any] | None = None,
        **fill: str,
    ) -> None:
        """One trade_updates event about ``order``; ``fill`` adds an execution's fields."""
        account = order.account
        data: dict[str, Any] = {
            "event": event,
            "order": order_json(order, nested=True) if snapshot is None else snapshot,
            "timestamp": ts(at),
        }
        data.update(fill)
        message = {"stream": "trade_updates", "data": data}
        account.event_count += 1
        if account.events.maxlen:
            account.events.append(message)
        if self.sink is not None:
            self.sink(account.key_id, message)
