"""Keeping the store and the cache equal to the broker: REST syncs, stream events, gaps.

``SyncEngine`` (engine.py) is the one ingestion path; ``StreamIngestor`` (stream.py) feeds it
trade_updates; ``join`` holds the pure helpers (fee join, positions from fills); ``validation``
what is refused before storage. (``compare`` is a re-export: the store-vs-venue comparer moved
to ``alpaca_integration.testing.compare``.) Never imports the checks, the CLI, Prefect or the
simulator.
"""

from __future__ import annotations

from alpaca_integration.sync import engine as _engine
from alpaca_integration.sync.engine import *  # noqa: F403  (SyncEngine, SyncReport, the feeds)
from alpaca_integration.sync.stream import StreamIngestor

__all__ = [*_engine.__all__, "StreamIngestor"]
