"""alpacactl ledger commands: ``pnl``, ``lots``, ``performance``, ``report``, ``export trades``.

Each brings the stored ledger up to date from the stored fills and activities first (through
``monitor.ledger_jobs``, never ``storage``), then shows it: tables, or ``--json``. Accounts: the
named ones (``--account``), else every account in the store. Bad input is one line and exit 2.

Module-level imports stay light (typer only): the monitor, the ledger, the report and rich are
imported inside the command bodies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer

from alpaca_integration.cli._errors import bad_input, fail

__all__ = ["register"]

export_app = typer.Typer(
    name="export", help="Export the ledger for other tools.", no_args_is_help=True
)

AccountsOption = Annotated[
    list[str] | None,
    typer.Option("--account", "-a", help="Account name(s); default: every account in the store."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
_GROUPS = {"symbol": "symbol", "strategy": "sleeve", "day": "day"}
_ZERO = Decimal(0)


def _ledgers(
    accounts: list[str] | None, since: dt.date | None = None, *, database_url: str | None = None
) -> list[Any]:
    from alpaca_integration.cli._accounts import ledger_methods
    from alpaca_integration.config import load_settings
    from alpaca_integration.ledger.events import NEW_YORK
    from alpaca_integration.monitor.ledger_jobs import stored_ledgers

    start = None if since is None else dt.datetime.combine(since, dt.time(), NEW_YORK)
    settings = load_settings()
    methods = ledger_methods(settings) if database_url is None else {}
    url = database_url or settings.database_url
    found = asyncio.run(stored_ledgers(url, accounts or [], since=start, methods=methods))
    if not found:
        raise fail("the store holds no account yet: run `alpacactl sync` or `alpacactl monitor`")
    return found


def _since(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise bad_input("--since", f"{text!r} is not a date: use YYYY-MM-DD") from None


def _print(value: Any) -> None:
    from alpaca_integration.cli._output import print_json

    print_json(value)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from alpaca_integration.cli._output import _table as table

    table(title, columns, rows)


# --------------------------------------------------------------------------- pnl


def _pnl_rows(ledger: Any, by: str, since: dt.date | None) -> list[dict[str, Any]]:
    if by == "day":
        days: dict[dt.date, list[Decimal]] = {}
        for row in ledger.daily:
            if since is None or row.day >= since:
                sums = days.setdefault(row.day, [_ZERO, _ZERO, _ZERO, _ZERO])
                for i, value in enumerate(
                    (row.realized_gross, row.fees, row.realized_net, row.income)
                ):
                    sums[i] += value
        return [
            {"day": day, "realized_gross": s[0], "fees": s[1], "realized_net": s[2], "income": s[3]}
            for day, s in sorted(days.items())
        ]
    field = _GROUPS[by]
    from alpaca_integration.ledger.rows import day_of
    from alpaca_integration.ledger.views import summarize

    income = [i for i in ledger.income if since is None or day_of(i.at) >= since]

    unrealized: dict[str, Decimal] = {}
    for valued in ledger.valuations():
        if valued.unrealized is not None:
            key = getattr(valued.lot, field)
            unrealized[key] = unrealized.get(key, _ZERO) + valued.unrealized
    rows = []
    for name, summary in summarize(ledger.matches, income, field).items():
        rows.append(
            {
                by: name,
                # Every PnlSummary field, in its order: realized_gross ... losses.
                **msgspec.structs.asdict(summary),
                "unrealized": unrealized.pop(name, _ZERO),
            }
        )
    rows += [{by: name, "unrealized": value} for name, value in sorted(unrealized.items())]
    return rows


def pnl(
    by: Annotated[str, typer.Option("--by", help="Group by symbol, strategy or day.")] = "symbol",
    since: Annotated[
        str | None, typer.Option("--since", help="Only P&L closed from this date (YYYY-MM-DD).")
    ] = None,
    as_json: JsonOption = False,
    account: AccountsOption = None,
) -> None:
    """Realized P&L (gross, fees, net), income and unrealized P&L per symbol, strategy or day."""
    if by not in _GROUPS:
        raise bad_input("--by", f"{by!r}: use symbol, strategy or day")
    start = _since(since)
    for ledger in _ledgers(account, start):
        rows = _pnl_rows(ledger, by, start)
        if as_json:
            _print({"account": ledger.account, "by": by, "rows": rows})
            continue
        columns = list(rows[0]) if rows else [by, "realized_net"]
        _table(
            f"P&L by {by}: {ledger.account}", columns, [[r.get(c) for c in columns] for r in rows]
        )


# --------------------------------------------------------------------------- lots


def lots(
    symbol: Annotated[str | None, typer.Argument(help="Only this symbol.")] = None,
    as_json: JsonOption = False,
    account: AccountsOption = None,
) -> None:
    """Open lots (FIFO order per strategy sleeve) with their cost and unrealized P&L."""
    wanted = None if symbol is None else symbol.strip().upper()
    for ledger in _ledgers(account):
        valued = [v for v in ledger.valuations() if wanted in (None, v.lot.symbol)]
        if as_json:
            _print({"account": ledger.account, "lots": valued})
            continue
        _table(
            f"open lots: {ledger.account}",
            ["symbol", "sleeve", "qty", "unit cost", "cost", "price", "unrealized", "opened"],
            [
                [
                    v.lot.symbol,
                    v.lot.sleeve,
                    v.lot.qty,
                    v.lot.unit_cost,
                    v.lot.cost,
                    v.price,
                    v.unrealized,
                    v.lot.opened_at,
                ]
                for v in valued
            ],
        )


# --------------------------------------------------------------------------- performance


def _fetch_history(accounts: list[str] | None, period: str, *, quiet: bool) -> None:
    """Fetch each account's daily portfolio history from Alpaca and store it."""
    from alpaca_integration.cli._accounts import select_one
    from alpaca_integration.cli._client import run_with_client
    from alpaca_integration.config import load_settings
    from alpaca_integration.monitor.ledger_jobs import save_portfolio_history

    url = load_settings().database_url
    names: list[str | None] = [*accounts] if accounts else [None]
    for name in names:
        _, config = select_one(name)
        history = run_with_client(
            name, lambda client: client.get_portfolio_history(period=period, timeframe="1D")
        )
        saved = asyncio.run(save_portfolio_history(url, config.name, history))
        if not quiet:
            typer.echo(f"portfolio history: {saved} day(s) stored for {config.name}")


def performance(
    as_json: JsonOption = False,
    account: AccountsOption = None,
    fetch_history: Annotated[
        bool,
        typer.Option(
            "--fetch-history",
            help="First fetch Alpaca's daily portfolio history and store it: it gives the "
            "equity of the days without an account snapshot.",
        ),
    ] = False,
    period: Annotated[
        str, typer.Option("--period", help="How far back --fetch-history goes (1W, 3M, 1A ...).")
    ] = "1A",
) -> None:
    """Returns and statistics: TWR, MWR, Sharpe, Sortino, max drawdown, win rate, fees ..."""
    if fetch_history:
        _fetch_history(account, period, quiet=as_json)
    for ledger in _ledgers(account):
        figures = ledger.performance()
        if as_json:
            _print({"account": ledger.account, "performance": figures})
            continue
        _table(
            f"performance: {ledger.account}",
            ["figure", "value"],
            [[name, getattr(figures, name)] for name in figures.__struct_fields__],
        )


# --------------------------------------------------------------------------- report


def report(
    out: Annotated[Path, typer.Option("--out", help="Where to write the HTML file.")] = Path(
        "report.html"
    ),
    account: AccountsOption = None,
) -> None:
    """One self-contained HTML report (charts work offline): equity, drawdown, monthly returns,
    P&L by symbol and strategy, fees, exposure, data quality and reconciliation."""
    from alpaca_integration.report import write_report

    if out.is_dir() or not out.parent.is_dir():
        raise bad_input("--out", f"{out}: give a file in an existing directory")
    path = write_report(_ledgers(account), out)
    typer.echo(f"report written: {path}")


def write_demo_report(db_path: Path) -> Path:
    """The report of the demo's SQLite file, written next to it (``alpacactl demo`` ends here)."""
    from alpaca_integration.report import write_report

    ledgers = _ledgers(None, database_url=f"sqlite:///{db_path}")
    return write_report(ledgers, db_path.with_name(f"{db_path.stem}_report.html"))


# --------------------------------------------------------------------------- export


@export_app.command("trades")
def export_trades(
    fmt: Annotated[str, typer.Option("--format", help="csv (the only format).")] = "csv",
    tool: Annotated[
        str, typer.Option("--for", help="portfolio-performance or ghostfolio (their columns).")
    ] = "portfolio-performance",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file instead of stdout.")
    ] = None,
    account: AccountsOption = None,
) -> None:
    """Every fill, dividend and fee as CSV rows Portfolio Performance and Ghostfolio import."""
    from alpaca_integration.report.export import PROFILES, trades_csv

    if fmt.lower() != "csv":
        raise bad_input("--format", f"{fmt!r}: only csv is supported")
    if tool not in PROFILES:
        raise bad_input("--for", f"{tool!r}: use {' or '.join(PROFILES)}")
    text = trades_csv(_ledgers(account), tool)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"trades written: {out}")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("pnl")(pnl)
    app.command("lots")(lots)
    app.command("performance")(performance)
    app.command("report")(report)
    app.add_typer(export_app, name="export")
