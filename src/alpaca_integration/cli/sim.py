"""alpacactl sim: serve the Alpaca-compatible paper-trading simulator with uvicorn.

Only Typer is imported at module level; the simulator (Starlette, uvicorn, pandas for the
calendar) loads inside the command body, so ``alpacactl --help`` stays fast.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import typer

from alpaca_integration.cli._errors import EXIT_USAGE, fail

__all__ = ["build_config", "register", "startup_lines"]


def build_config(**options: Any) -> Any:
    """A ``SimConfig`` from the command's options (``ConfigError`` on a bad value)."""
    from alpaca_integration.simulator.config import FaultConfig, SimConfig

    fault_names = set(FaultConfig.field_names())
    faults = {k: v for k, v in options.items() if k in fault_names and v is not None}
    settings = {k: v for k, v in options.items() if k not in fault_names and v is not None}
    return SimConfig(faults=FaultConfig().merged(faults), **settings)


def _listed(value: str | None) -> tuple[str, ...] | None:
    """A comma list as given on the command line (None: not given; '' lists nothing)."""
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def startup_lines(host: str, port: int, *, accounts_file: Path | None) -> list[str]:
    """What the command prints on start: the URLs and the lines a user pastes."""
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base_url = f"http://{shown_host}:{port}"
    stream_url = f"ws://{shown_host}:{port}/stream"
    from alpaca_integration.simulator.config import DEMO_API_KEY, DEMO_SECRET_KEY

    if accounts_file is None:
        key, secret = DEMO_API_KEY, DEMO_SECRET_KEY
        note = "# any key pair works (each is its own account); for example:"
    else:
        key, secret = "<key_id from the accounts file>", "<its secret_key>"
        note = f"# only the key pairs listed in {accounts_file} are accepted:"
    return [
        f"Alpaca simulator listening on {base_url} (REST {base_url}/v2, stream {stream_url}, "
        f"admin {base_url}/_sim)",
        "",
        note,
        f"export ALPACA_BASE_URL={base_url}",
        f"export ALPACA_API_KEY={key}",
        f"export ALPACA_SECRET_KEY={secret}",
        "",
        "# alpaca-py:",
        f'TradingClient(ALPACA_API_KEY, ALPACA_SECRET_KEY, paper=True, url_override="{base_url}")',
        f'TradingStream(ALPACA_API_KEY, ALPACA_SECRET_KEY, paper=True, url_override="{stream_url}")',
    ]


def _listening_socket(host: str, port: int) -> Any:
    """A TCP socket bound and listening on ``host:port`` (a busy port is bad input, exit 2)."""
    import socket

    # proto=IPPROTO_TCP matters: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP; without it every answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET,
        socket.SOCK_STREAM,
        socket.IPPROTO_TCP,
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise fail(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port", EXIT_USAGE
        ) from None
    # Listening before the banner is printed: a client that reads the URL and connects at
    # once waits in the backlog instead of being refused while uvicorn starts.
    sock.listen(2048)
    return sock


def _serve(application: Any, sock: Any, log_level: str) -> None:
    """Serve ``application`` on ``sock`` with uvicorn until Ctrl-C."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(
            application,
            log_level=log_level,
            ws="websockets-sansio",
            timeout_graceful_shutdown=3,
            # The app dates every answer from the venue's clock (the clock-skew fault).
            date_header=False,
        )
    )
    # uvicorn re-raises the Ctrl-C it shut down on; stopping is the expected outcome.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])


def register(app: typer.Typer) -> None:
    """Add the ``sim`` command to the root app."""

    @app.command("sim")
    def sim(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
        port: int = typer.Option(8765, help="TCP port to listen on (0 = any free port)."),
        seed: int = typer.Option(0, help="Seed of prices, ids and fault decisions."),
        symbols: str | None = typer.Option(
            None, help="Comma-separated tickers to trade (default: the built-in universe)."
        ),
        option_underlyings: str | None = typer.Option(
            None,
            help="Comma-separated tickers with option chains (e.g. AAPL,SPY; '' = no options; "
            "default: the built-in ones).",
        ),
        crypto_pairs: str | None = typer.Option(
            None,
            help="Comma-separated crypto USD pairs (e.g. BTC/USD,ETH/USD; '' = no crypto; "
            "default: the built-in ones).",
        ),
        crypto_fee_delay_seconds: float | None = typer.Option(
            None,
            help="Seconds after a crypto fill its CFEE posts (default: at the end of the fill's "
            "UTC day, as Alpaca; 0 = with the fill).",
        ),
        starting_cash: str = typer.Option("100000", help="Cash of each new account (USD)."),
        account_type: str = typer.Option("margin", help="margin or cash."),
        rate_limit: int = typer.Option(200, help="Requests per minute per API key; 0 = off."),
        clock: str = typer.Option("market", help="market (XNYS hours) or always-open."),
        accounts_file: Path | None = typer.Option(
            None, help="TOML/JSON list of accepted key pairs; other keys get 401."
        ),
        liquidity_cap: str | None = typer.Option(
            None, help="Most shares one execution fills (larger orders fill in parts)."
        ),
        volatility: float = typer.Option(0.0005, help="Random-walk step volatility."),
        tick_interval: float = typer.Option(0.1, help="Seconds between matching passes."),
        bars_file: Path | None = typer.Option(
            None, help="CSV of bars (timestamp,symbol,close) to replay instead of the walk."
        ),
        no_realtime: bool = typer.Option(
            False, "--no-realtime", help="Freeze simulated time (only the admin API moves it)."
        ),
        latency_ms: float | None = typer.Option(None, help="Fault: added REST latency (ms)."),
        error_rate: float | None = typer.Option(None, help="Fault: 5xx probability per request."),
        rate_limit_storm_rate: float | None = typer.Option(
            None, help="Fault: probability of a 429 regardless of the budget."
        ),
        lost_answer_rate: float | None = typer.Option(
            None, help="Fault: probability an order write happens but its answer is lost."
        ),
        order_reject_rate: float | None = typer.Option(
            None, help="Fault: probability an accepted order is then rejected."
        ),
        stream_mode: str | None = typer.Option(
            None, help="Fault: stream normal, silent (mute) or drop (connections closed)."
        ),
        stream_duplicate_rate: float | None = typer.Option(
            None, help="Fault: probability a stream event is sent twice."
        ),
        stream_late_rate: float | None = typer.Option(
            None, help="Fault: probability a stream event is delayed."
        ),
        reorder_probability: float | None = typer.Option(
            None, help="Fault: probability a stream event is swapped with the account's next one."
        ),
        clock_skew_seconds: float | None = typer.Option(
            None, help="Fault: the venue's clock runs this far from the host's (may be < 0)."
        ),
        visibility_lag_seconds: float | None = typer.Option(
            None, help="Fault: seconds a new order stays invisible to lookups and listings."
        ),
        stale_order_in_fill_probability: float | None = typer.Option(
            None, help="Fault: probability a fill event carries the order before that execution."
        ),
        activity_events_drop_rate: float | None = typer.Option(
            None, help="Fault: probability the activities event stream is cut after an event."
        ),
        activity_events: bool = typer.Option(
            True,
            "--activity-events/--no-activity-events",
            help="Serve the activities event stream (/v2beta1/events/activities, beta at "
            "Alpaca); --no-activity-events answers 404 there, as a venue without it.",
        ),
        log_level: str = typer.Option("warning", help="uvicorn log level."),
    ) -> None:
        """Serve the Alpaca-compatible paper-trading simulator (REST, stream, admin API)."""
        from alpaca_integration.errors import ConfigError

        try:
            config = build_config(
                seed=seed,
                symbols=symbols,
                option_underlyings=_listed(option_underlyings),
                crypto_pairs=_listed(crypto_pairs),
                crypto_fee_delay_seconds=crypto_fee_delay_seconds,
                starting_cash=starting_cash,
                account_type=account_type,
                rate_limit=rate_limit,
                clock=clock,
                accounts_file=accounts_file,
                liquidity_cap=liquidity_cap,
                volatility=volatility,
                tick_interval=tick_interval,
                bars_file=bars_file,
                realtime=not no_realtime,
                latency_ms=latency_ms,
                error_rate=error_rate,
                rate_limit_storm_rate=rate_limit_storm_rate,
                lost_answer_rate=lost_answer_rate,
                order_reject_rate=order_reject_rate,
                stream_mode=stream_mode,
                stream_duplicate_rate=stream_duplicate_rate,
                stream_late_rate=stream_late_rate,
                reorder_probability=reorder_probability,
                clock_skew_seconds=clock_skew_seconds,
                visibility_lag_seconds=visibility_lag_seconds,
                stale_order_in_fill_probability=stale_order_in_fill_probability,
                activity_events_drop_rate=activity_events_drop_rate,
                activity_events=activity_events,
            )
            if config.accounts_file is not None:
                config.resolved_accounts()
            from alpaca_integration.simulator.app import create_app

            application = create_app(config)
        except (ConfigError, ValueError) as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        sock = _listening_socket(host, port)
        for line in startup_lines(
            host, int(sock.getsockname()[1]), accounts_file=config.accounts_file
        ):
            typer.echo(line)
        _serve(application, sock, log_level)
        typer.echo("simulator stopped")
