"""Serve the dashboard with uvicorn in the current event loop (the CLI, a test, a benchmark, or
the monitor's own process).

    async with running_dashboard(app, port=0) as served:
        print(served.url)            # http://127.0.0.1:<port>/

Stopping closes the live feed first, so open event streams end at once instead of holding the
server's graceful shutdown, then lets uvicorn finish the requests in flight.

Imports the dashboard's app module for typing only; never the client, the sync engine or the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

__all__ = ["ServedDashboard", "bind_socket", "running_dashboard", "serve_until_stopped"]


class _DashboardServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, board: Any, *, handle_signals: bool) -> None:
        super().__init__(config)
        self.board = board
        self.handle_signals = handle_signals

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM stop the server cleanly (exit status 0); nothing is re-raised."""
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.board is not None:
            await self.board.aclose()  # ends the event streams: nothing left to wait for
        await super().shutdown(sockets)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (``port`` 0: a free one). IPv6 literals (``::``) bind IPv6."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio disables Nagle only on sockets declared TCP (else ~40 ms stalls).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _server(app: Any, *, handle_signals: bool, log_level: str) -> _DashboardServer:
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )
    return _DashboardServer(
        config, getattr(app.state, "dashboard", None), handle_signals=handle_signals
    )


@dataclass(frozen=True)
class ServedDashboard:
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Until the server accepts connections (uvicorn offers only a flag); what stopped it, if
    it stopped first."""
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the dashboard server stopped before it started")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running_dashboard(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    sock: socket.socket | None = None,
) -> AsyncIterator[ServedDashboard]:
    """Serve ``app`` on ``host:port`` (0: a free port) until the block exits; on ``sock``
    instead when given (bound by the caller, e.g. to report a taken port before starting
    anything; closed here)."""
    if sock is None:
        sock = bind_socket(host, port)
    else:
        host = str(sock.getsockname()[0])
    server = _server(app, handle_signals=False, log_level=log_level)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="dashboard-server")
    try:
        await _started(server, task)
        yield ServedDashboard(host, int(sock.getsockname()[1]))
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()


async def serve_until_stopped(
    app: Any,
    sock: socket.socket,
    *,
    on_started: Callable[[], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve on ``sock`` until SIGINT/SIGTERM (the CLI); ``on_started`` runs once the server
    accepts connections."""
    server = _server(app, handle_signals=True, log_level=log_level)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="dashboard-server")
    await _started(server, task)
    if on_started is not None:
        on_started()
    await task
