"""alpacactl dashboard: serve the live dashboard over the store (read-only).

    alpacactl dashboard [--host 127.0.0.1] [--port 8766] [--account NAME ...]

Binds 127.0.0.1 by default. Any other address (``0.0.0.0``, a LAN address) needs
``ALPACA_DASHBOARD_TOKEN`` (at least 16 characters); without it the command refuses with one line
and exit status 2. It reads ``ALPACA_DATABASE_URL`` and ``ALPACA_REDIS_URL`` and needs no API key.

``dashboard_beside(accounts, port)`` is what ``alpacactl monitor --dashboard`` and ``alpacactl
demo --dashboard`` serve beside the monitor, in its event loop, over its store and cache (live
updates straight from the monitor's own cache, its stream and sync status on the overview).

Only Typer is imported at module level; Starlette, uvicorn and the store load inside the command.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from alpaca_integration.monitor.run import Beside

__all__ = ["TOKEN_ENV", "bind_refusal", "dashboard_beside", "register"]

TOKEN_ENV = "ALPACA_DASHBOARD_TOKEN"  # noqa: S105 (the variable's name, not a token)


def bind_refusal(host: str, token: str | None) -> str | None:
    """Why the dashboard must not start on ``host`` with ``token`` (None: it may)."""
    from alpaca_integration.dashboard.security import MIN_TOKEN_LENGTH, is_local_host

    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        return (
            f"{TOKEN_ENV} is shorter than {MIN_TOKEN_LENGTH} characters; use a long random "
            "value, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`"
        )
    if token is None and not is_local_host(host):
        return (
            f"refusing to serve the dashboard on {host} without a token: set {TOKEN_ENV} "
            "(16+ random characters), or bind 127.0.0.1"
        )
    return None


def _refuse(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


async def _serve(
    settings: Any, host: str, port: int, accounts: list[str], token: str | None, live: str
) -> None:
    from alpaca_integration.dashboard import create_app
    from alpaca_integration.dashboard.server import bind_socket, serve_until_stopped
    from alpaca_integration.service import close_store_and_cache, open_store_and_cache

    # Bind before opening anything: a taken port is reported at once.
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        _refuse(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        return
    store, cache = await open_store_and_cache(settings.database_url, settings.redis_url)
    try:
        if accounts:
            known = await store.list_accounts()
            unknown = [name for name in accounts if name not in known]
            if unknown:
                typer.secho(
                    f"warning: the store holds no data for {', '.join(unknown)} yet "
                    f"(it holds: {', '.join(known) or 'nothing'})",
                    fg=typer.colors.YELLOW,
                    err=True,
                )
        app = create_app(store, cache, accounts or None, token=token, live=live)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        url = f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"
        if port == 0:
            bound = sock.getsockname()[1]
            url = url.replace(":0/", f":{bound}/")
        description = app.state.dashboard.feed.description

        def announce() -> None:
            typer.echo(f"dashboard at {url} ({description})")
            if token is not None:
                typer.echo(f"a token is required ({TOKEN_ENV}): log in at {url}login")
            sys.stdout.flush()

        await serve_until_stopped(app, sock, on_started=announce)
    finally:
        sock.close()
        await close_store_and_cache(store, cache)


def dashboard(
    host: str = typer.Option(
        "127.0.0.1", help=f"Address to bind; anything but 127.0.0.1/::1 needs {TOKEN_ENV}."
    ),
    port: int = typer.Option(8766, help="Port to listen on (0: any free port)."),
    account: list[str] = typer.Option(
        None, "--account", "-a", help="Account(s) to show; default: every account in the store."
    ),
    live: str = typer.Option(
        "auto",
        help=(
            "Where live updates come from: auto (the Redis cache's notifications when "
            "ALPACA_REDIS_URL is set, else polling the store), cache or poll."
        ),
    ),
) -> None:
    """Serve the live dashboard (read-only): accounts, positions, orders, fills, P&L, checks."""
    from alpaca_integration.dashboard import LIVE_MODES
    from alpaca_integration.errors import AlpacaIntegrationError, ConfigError

    token = os.environ.get(TOKEN_ENV) or None
    refusal = bind_refusal(host, token)
    if refusal is not None:
        _refuse(refusal)
    if live not in LIVE_MODES:
        _refuse(f"--live must be one of {', '.join(LIVE_MODES)}, not {live!r}")
    from alpaca_integration.cli._accounts import configured_names
    from alpaca_integration.config import load_settings

    try:
        settings = load_settings()
        # The dashboard uses no keys and no broker URL, only the store: with an accounts file
        # (read, and a broken one refused, as every command reads it) its names are the default
        # set shown; without one, every account in the store.
        names = list(account or []) or configured_names(settings)
    except ConfigError as exc:
        _refuse(str(exc))
        return
    try:
        asyncio.run(_serve(settings, host, port, names, token, live))
    except AlpacaIntegrationError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None


def dashboard_beside(
    accounts: Sequence[str],
    port: int,
    *,
    host: str = "127.0.0.1",
    say: Callable[[str], None] | None = None,
) -> Beside:
    """The dashboard for ``accounts`` served beside a monitor (``monitor.run.Beside``): called
    with its store, cache and ``statuses``. Checks the token and binds ``host:port`` at once,
    so a refusal or a taken port is one line (exit 2) before anything starts; ``say`` (default:
    print and flush) announces the URL once the server accepts connections."""
    from alpaca_integration.dashboard.server import bind_socket

    token = os.environ.get(TOKEN_ENV) or None
    refusal = bind_refusal(host, token)
    if refusal is not None:
        _refuse(refusal)
    if not 0 <= port <= 65535:
        _refuse(f"--dashboard-port must be 0 to 65535, got {port}")
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        _refuse(
            f"--dashboard-port: cannot listen on {host}:{port}: {exc.strerror or exc} "
            "(choose another port, or 0 for any free one)"
        )
        raise  # unreachable: _refuse raises

    def announce(line: str) -> None:
        typer.echo(line)
        sys.stdout.flush()

    from alpaca_integration.dashboard.beside import served_beside

    return served_beside(sock, accounts, token=token, say=say or announce)


def register(app: typer.Typer) -> None:
    """Add the ``dashboard`` command to the root app."""
    app.command()(dashboard)
