"""The dashboard served beside a monitor in its event loop (``alpacactl monitor --dashboard``,
``alpacactl demo --dashboard``): a ``monitor.run.Beside`` over an already bound socket."""

from __future__ import annotations

import contextlib
import socket
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alpaca_integration.cache import Cache
    from alpaca_integration.monitor.run import Beside
    from alpaca_integration.monitor.service import AccountStatus
    from alpaca_integration.storage import Store

__all__ = ["served_beside"]


def served_beside(
    sock: socket.socket,
    accounts: Sequence[str],
    *,
    token: str | None,
    say: Callable[[str], None],
) -> Beside:
    """Serve the dashboard for ``accounts`` on ``sock`` while the monitor runs; ``say`` announces
    the URL once the server accepts connections. The socket is closed by the server when served;
    if it never is (the demo finds the market closed), when the callable is dropped."""

    @contextlib.asynccontextmanager
    async def beside(
        store: Store, cache: Cache, statuses: Callable[[], Sequence[AccountStatus]]
    ) -> AsyncIterator[str]:
        from alpaca_integration.dashboard import create_app, health_from_statuses
        from alpaca_integration.dashboard.server import running_dashboard

        app = create_app(
            store, cache, list(accounts), token=token, health=health_from_statuses(statuses)
        )
        async with running_dashboard(app, sock=sock) as served:
            url = served.url.replace("0.0.0.0", "127.0.0.1")
            say(f"dashboard at {url} ({app.state.dashboard.feed.description})")
            yield url

    weakref.finalize(beside, sock.close)
    return beside
