"""alpacactl commands: ``monitor``, ``sync``, ``demo``, ``flows serve`` and ``flows deploy``.

Module-level imports stay light (typer, ``config``): the monitor, the client, SQLAlchemy, Prefect
and the simulator are imported inside the command bodies so ``alpacactl --help`` starts fast.
Never imports ``storage``: the store is reached through ``monitor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from alpaca_integration.cli._accounts import select
from alpaca_integration.cli._errors import EXIT_USAGE, fail

__all__ = ["register"]

flows_app = typer.Typer(
    help="Prefect flows: alpaca_account_monitoring and alpaca_order_monitoring.",
    no_args_is_help=True,
)


class _JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _setup_logging(level: str, log_json: bool) -> None:
    """Process-wide logging on stderr; an unknown level is bad input (exit 2), said before
    anything starts."""
    if not isinstance(logging.getLevelName(level.upper()), int):
        raise fail(
            f"--log-level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {level!r}",
            EXIT_USAGE,
        )
    handler = logging.StreamHandler(sys.stderr)
    if log_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "websockets", "uvicorn.access", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _seconds(
    value: float | None, option: str, *, default: float | None, zero_ok: bool
) -> float | None:
    """An option counted in seconds: ``default`` when not given; below zero (or zero, unless
    ``zero_ok``) is bad input, never read as "use the default"."""
    if value is None:
        return default
    if value != value or value < 0 or (value == 0 and not zero_ok):
        bound = "0 or more" if zero_ok else "more than 0"
        raise fail(f"{option} must be {bound} seconds, got {value:g}", EXIT_USAGE)
    return float(value)


def _status_table(rows: list[tuple[str, ...]]) -> Any:
    from rich.table import Table

    from alpaca_integration.monitor.run import STATUS_COLUMNS

    table = Table(title="alpacactl monitor", expand=False)
    for column in STATUS_COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


def _run_monitor(
    accounts: list[Any],
    settings: Any,
    *,
    interval: float,
    stream: bool,
    migrate: bool,
    show_status: bool,
    activities_stream: bool = False,
    duration: float | None,
    reconcile_every: float,
    beside: Any = None,
    lease_ttl: float | None,
    lease_prefix: str,
) -> None:
    from alpaca_integration.monitor.run import run_monitor

    def run(on_status: Any = None) -> None:
        asyncio.run(
            run_monitor(
                accounts,
                settings,
                interval=interval,
                stream=stream,
                migrate=migrate,
                duration=duration,
                reconcile_every=reconcile_every,
                on_status=on_status,
                beside=beside,
                lease_ttl=lease_ttl,
                lease_prefix=lease_prefix,
                activities_stream=activities_stream,
            )
        )

    if not show_status:
        run()
        return
    from rich.live import Live

    with Live(_status_table([]), refresh_per_second=2, transient=False) as live:
        run(lambda rows: live.update(_status_table(rows)))


def monitor(
    account: list[str] = typer.Option(
        None, "--account", "-a", help="Account name(s) from ALPACA_ACCOUNTS_FILE; default: all."
    ),
    interval: float = typer.Option(
        None, help="Seconds between periodic syncs (default ALPACA_UPDATE_INTERVAL)."
    ),
    stream: bool = typer.Option(True, help="Consume the trade_updates stream."),
    activities_stream: bool = typer.Option(
        False,
        "--activities-stream/--no-activities-stream",
        help="Also consume Alpaca's activities event stream (SSE, beta): fees, dividends and "
        "corporate actions in real time, resumed by event id; falls back to REST paging when "
        "the venue does not offer it.",
    ),
    migrate: bool = typer.Option(False, help="Apply database migrations first (PostgreSQL)."),
    status: bool = typer.Option(
        True, "--status-line/--no-status", help="Show the live status line (--no-status hides it)."
    ),
    log_json: bool = typer.Option(False, "--log-json", help="Structured JSON logs on stderr."),
    log_level: str = typer.Option("INFO", help="Log level."),
    duration: float = typer.Option(None, help="Stop after this many seconds (default: run)."),
    reconcile_every: float = typer.Option(
        3600.0, help="Seconds between reconciliations (first one at the first sync); 0 = off."
    ),
    dashboard: bool = typer.Option(
        False, "--dashboard", help="Also serve the live dashboard from this process."
    ),
    dashboard_port: int = typer.Option(
        8766, help="Port of --dashboard on 127.0.0.1 (0: any free port)."
    ),
    shard: bool = typer.Option(
        None,
        "--shard/--no-shard",
        help="Share the accounts with the other monitors through leases in Redis "
        "(default: on when ALPACA_REDIS_URL is set).",
    ),
    lease_ttl: float = typer.Option(
        None, help="Seconds a lease outlives its monitor (default 10); see docs/monitoring.md."
    ),
    lease_prefix: str = typer.Option(
        "alpaca:leases",
        help="Redis key prefix of the leases: the same on every monitor sharing the accounts.",
    ),
    show_leases: bool = typer.Option(
        False, "--status", help="Show which monitor holds which account, then exit."
    ),
) -> None:
    """Keep the store and cache equal to the broker: stream + periodic syncs, until Ctrl-C."""
    settings, accounts = select(account)
    every = _seconds(interval, "--interval", default=settings.update_interval, zero_ok=False)
    stop_after = _seconds(duration, "--duration", default=None, zero_ok=True)
    reconcile = _seconds(reconcile_every, "--reconcile-every", default=None, zero_ok=True)
    beside = _dashboard_beside([a.name for a in accounts], dashboard_port) if dashboard else None
    ttl = _lease_ttl(settings, shard, lease_ttl)
    if show_leases:
        _show_leases(accounts, settings, lease_prefix)
        return
    # Only once the configuration is known good: logging set-up is process-wide.
    _setup_logging(log_level, log_json)
    _run_monitor(
        accounts,
        settings,
        interval=float(every or settings.update_interval),
        stream=stream,
        migrate=migrate,
        show_status=status and sys.stderr.isatty(),
        duration=stop_after,
        reconcile_every=reconcile or 0.0,
        beside=beside,
        lease_ttl=ttl,
        lease_prefix=lease_prefix,
        activities_stream=activities_stream,
    )


def _dashboard_beside(accounts: list[str], port: int) -> Any:
    """``--dashboard``: the dashboard served beside the monitor (``cli.dashboard``)."""
    from alpaca_integration.cli.dashboard import dashboard_beside

    return dashboard_beside(accounts, port)


def _lease_ttl(settings: Any, shard: bool | None, lease_ttl: float | None) -> float | None:
    """The lease TTL when this monitor shares its accounts (``--shard``), else None."""
    from alpaca_integration.monitor.leases import DEFAULT_LEASE_TTL

    ttl = _seconds(lease_ttl, "--lease-ttl", default=DEFAULT_LEASE_TTL, zero_ok=False)
    if shard is None:
        shard = bool(settings.redis_url)
    if shard and not settings.redis_url:
        raise fail(
            "--shard shares the accounts through leases in Redis and ALPACA_REDIS_URL is not "
            "set. Fix: export ALPACA_REDIS_URL=redis://host:6379/0 (the same on every monitor)",
            EXIT_USAGE,
        )
    return ttl if shard else None


def _show_leases(accounts: list[Any], settings: Any, prefix: str) -> None:
    """``monitor --status``: one row per account (holder, epoch, expiry), then the monitors."""
    if not settings.redis_url:
        raise fail(
            "--status reads the monitors' leases in Redis and ALPACA_REDIS_URL is not set. "
            "Fix: export the ALPACA_REDIS_URL the monitors use",
            EXIT_USAGE,
        )
    from alpaca_integration.monitor.run import lease_status

    holders, members = asyncio.run(lease_status(accounts, settings.redis_url, prefix=prefix))
    rows = [
        (
            h.account,
            h.owner or "-",
            str(h.epoch) if h.epoch is not None else "-",
            f"{h.expires_in:.1f}s" if h.expires_in is not None else "free",
        )
        for h in holders
    ]
    from rich.console import Console
    from rich.table import Table

    table = Table(title="account leases", expand=False)
    for column in ("account", "held by", "epoch", "lease expires in"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    typer.echo(f"{len(members)} monitor(s) alive")
    for m in members:
        held = sum(1 for h in holders if h.owner == m.owner)
        typer.echo(f"  {m.owner}  pid {m.pid}  since {m.started_at}  {held} account(s)")


def _run_sync(accounts: list[Any], settings: Any, *, migrate: bool, progress: bool) -> None:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from alpaca_integration.monitor.jobs import sync_history

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} rows"),
        TimeElapsedColumn(),
        disable=not progress,
    ) as bar:

        def progress_for(config: Any) -> Any:
            orders = bar.add_task(f"{config.name}: orders", total=None)
            activities = bar.add_task(f"{config.name}: activities", total=None)

            def on_progress(feed: str, count: int) -> None:
                if feed == "orders":
                    bar.update(orders, completed=count)
                else:
                    bar.advance(activities, count)

            return on_progress

        def on_report(report: Any) -> None:
            typer.echo(
                f"{report.account}: {report.orders_seen} orders read; rows changed: "
                f"orders {report.orders_changed}, fills {report.fills_changed}, "
                f"activities {report.activities_changed}, positions "
                f"{report.positions_changed}; quarantined {report.quarantined}"
            )

        asyncio.run(
            sync_history(
                settings, accounts, migrate=migrate, progress_for=progress_for, on_report=on_report
            )
        )


def sync(
    account: list[str] = typer.Option(None, "--account", "-a", help="Account name(s)."),
    migrate: bool = typer.Option(False, help="Apply database migrations first (PostgreSQL)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    log_level: str = typer.Option("WARNING", help="Log level."),
) -> None:
    """One-shot sync: the full history on the first run, incremental afterwards."""
    settings, accounts = select(account)
    _setup_logging(log_level, False)
    _run_sync(accounts, settings, migrate=migrate, progress=progress)


def demo(
    duration: float = typer.Option(60.0, help="Seconds of monitored trading."),
    db: Path = typer.Option(
        Path("alpaca_demo.db"), help="SQLite file to write (recreated on each run)."
    ),
    seed: int = typer.Option(7, help="Simulator seed."),
    clock: str = typer.Option(
        "always-open",
        help=(
            "Simulator market hours: always-open (same run at any hour) or market (the real "
            "NYSE calendar: outside regular hours orders wait for the open)."
        ),
    ),
    log_level: str = typer.Option("WARNING", help="Log level."),
    dashboard: bool = typer.Option(
        False,
        "--dashboard",
        help="Serve the live dashboard; keep the simulator and the monitor running until Ctrl-C.",
    ),
    dashboard_port: int = typer.Option(
        8766, help="Port of --dashboard on 127.0.0.1 (0: any free port)."
    ),
) -> None:
    """Simulator + scripted trading session + the real monitor, then the store vs the venue."""
    if clock not in ("always-open", "market"):
        raise fail(f"--clock must be always-open or market, got {clock!r}", EXIT_USAGE)
    _seconds(duration, "--duration", default=None, zero_ok=True)
    from alpaca_integration.testing.demo import DEMO_ACCOUNT, run_demo

    beside = _dashboard_beside([DEMO_ACCOUNT], dashboard_port) if dashboard else None
    _setup_logging(log_level, False)
    code = asyncio.run(
        run_demo(duration=duration, db_path=db, seed=seed, clock=clock, beside=beside)
    )
    if db.exists():
        from alpaca_integration.cli.ledger import write_demo_report

        typer.echo(f"report written: {write_demo_report(db)}")
    raise typer.Exit(code=code)


def _need_prefect_api(command: str) -> None:
    import os

    if not os.environ.get("PREFECT_API_URL"):
        raise fail(
            f"{command} talks to a Prefect API and PREFECT_API_URL is not set. "
            "Fix: run `prefect server start` in another terminal, then export "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (see docs/monitoring.md)",
            EXIT_USAGE,
        )


# The options ``flows serve`` and ``flows deploy`` share.
FlowAccountsOption = Annotated[
    list[str] | None, typer.Option("--account", "-a", help="Account name(s).")
]
IntervalOption = Annotated[
    int | None, typer.Option(help="Seconds between runs (default ALPACA_UPDATE_INTERVAL).")
]
HeartbeatOption = Annotated[
    int,
    typer.Option(
        help="Seconds between flow-run heartbeats (>= 30); a run is crashed after 3 missed."
    ),
]


@flows_app.command("serve")
def flows_serve(
    account: FlowAccountsOption = None,
    interval: IntervalOption = None,
    heartbeat: HeartbeatOption = 30,
) -> None:
    """Serve both flows on a schedule, one run per deployment at a time (needs a Prefect
    server: `prefect server start`). Ctrl-C lets the runs in flight finish, then stops."""
    names, every = _flow_schedule(account, interval, heartbeat)
    _need_prefect_api("flows serve")
    from alpaca_integration.flows import serve_flows

    with contextlib.suppress(KeyboardInterrupt):  # Prefect usually handles Ctrl-C itself
        serve_flows(names, interval=every, heartbeat=heartbeat)
    typer.echo("flows serve stopped", err=True)


def _flow_schedule(
    account: list[str] | None, interval: int | None, heartbeat: int
) -> tuple[list[str], int]:
    """The accounts' names and the whole seconds between runs that ``flows serve``/``deploy``
    schedule (``--interval``, default ALPACA_UPDATE_INTERVAL); a ``--heartbeat`` below
    Prefect's floor is refused."""
    settings, accounts = select(account)
    every = _seconds(interval, "--interval", default=settings.update_interval, zero_ok=False)
    if heartbeat < 30:
        raise fail(
            f"--heartbeat must be 30 seconds or more (Prefect's floor), got {heartbeat}", EXIT_USAGE
        )
    return [a.name for a in accounts], max(1, round(every or 1))


@flows_app.command("deploy")
def flows_deploy(
    account: FlowAccountsOption = None,
    pool: str = typer.Option("alpaca", help="Work pool (created as a process pool if missing)."),
    interval: IntervalOption = None,
    heartbeat: HeartbeatOption = 30,
) -> None:
    """Create or update one deployment per (flow, account) on a work pool, one run at a time;
    then start `prefect worker start --pool POOL` on every machine that should run them."""
    names, every = _flow_schedule(account, interval, heartbeat)
    if not pool.strip():
        raise fail("--pool must name a work pool, e.g. alpaca", EXIT_USAGE)
    _need_prefect_api("flows deploy")
    from alpaca_integration.flows.deploy import deploy_flows

    created, names = asyncio.run(
        deploy_flows(names, pool=pool, interval=every, heartbeat=heartbeat)
    )
    if created:
        typer.echo(f"created the process work pool {pool!r}")
    for name in names:
        typer.echo(f"deployed {name} on {pool!r} every {max(1, round(every or 1))}s, one at a time")
    typer.echo(
        f"next: prefect worker start --pool {pool}   (on every machine that should run them)"
    )


@flows_app.command("status")
def flows_status(
    runs: int = typer.Option(3, help="Newest runs shown per deployment."),
) -> None:
    """The flows' deployments (pool, interval, concurrency) with their newest runs."""
    _need_prefect_api("flows status")
    from rich.console import Console
    from rich.table import Table

    from alpaca_integration.flows.deploy import flow_status

    table = Table(title="alpaca flows", expand=False)
    for column in ("deployment", "pool", "every", "concurrency", "newest runs"):
        table.add_column(column)
    for d in asyncio.run(flow_status(last_runs=max(1, runs))):
        recent = ", ".join(f"{r.state}@{r.start:%H:%M:%S}" if r.start else r.state for r in d.runs)
        every = f"{d.interval:g}s" if d.interval is not None else "-"
        table.add_row(d.name, d.pool or "-", every, d.concurrency, recent or "-")
    Console(width=200).print(table)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command()(monitor)
    app.command()(sync)
    app.command()(demo)
    app.add_typer(flows_app, name="flows")
