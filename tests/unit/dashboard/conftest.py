"""Fixtures of the dashboard's unit tests: a real store (SQLite file, and PostgreSQL for the
queries that differ by dialect), filled through ``Store.apply``, and an HTTP client that calls
the app in process from a chosen client address."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

# A fresh store on SQLite and on PostgreSQL, as the storage tests have it.
from integration.storage.conftest import database_url, store

__all__ = ["ClientFactory", "database_url", "store"]


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def http() -> AsyncIterator[ClientFactory]:
    """``http(app, client="127.0.0.1", host="127.0.0.1:8766")``: an httpx client calling
    ``app`` in process as if from ``client`` and addressed to ``host``; the apps' live feeds
    are stopped afterwards."""
    opened: list[httpx.AsyncClient] = []
    apps: list[Any] = []

    def make(
        app: Any, client: str = "127.0.0.1", host: str = "127.0.0.1:8766"
    ) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(client, 50000))
        session = httpx.AsyncClient(transport=transport, base_url=f"http://{host}")
        opened.append(session)
        apps.append(app)
        return session

    yield make
    for session in opened:
        await session.aclose()
    for app in apps:  # no lifespan in process: stop the live feed a page started
        await app.state.dashboard.aclose()
