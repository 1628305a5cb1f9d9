"""alpacactl commands: ``dq`` (quality rules), ``reconcile [--dry-run]``, ``risk show``, ``risk check``.

The store is reached only through ``monitor.jobs`` (never ``storage``). Errors end at the CLI's
one boundary (``cli._errors``); a check that says no (``dq --strict`` with an error finding, a
``risk check`` refusal) exits 3.

Module-level imports stay light (typer only): the monitor, the client and rich are imported inside
the command bodies so that ``alpacactl --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from alpaca_integration.cli._accounts import select, select_one
from alpaca_integration.cli._client import decimal_option
from alpaca_integration.cli._errors import EXIT_REFUSED, bad_input

__all__ = ["register"]

risk_app = typer.Typer(
    name="risk",
    help="Pre-trade risk limits and exposure (limits per account in ALPACA_ACCOUNTS_FILE).",
    no_args_is_help=True,
)


def _account_option(help_text: str) -> Any:
    """The ``--account``/``-a`` option, unset by default (each command says what unset means)."""
    return typer.Option(None, "--account", "-a", help=help_text)


def _limits_for(config: Any) -> Any:
    from alpaca_integration.checks.risk import RiskLimits

    return RiskLimits.from_mapping(config.risk, account=config.name)


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


# --------------------------------------------------------------------------- dq


def _dq_accounts(names: list[str] | None) -> tuple[Any, list[str]]:
    """The settings and the accounts to check; with no keys configured and none named, every
    account in the store (the rules read only the store)."""
    from alpaca_integration.config import load_settings

    settings = load_settings()
    if not names and settings.accounts_file is None and not settings.has_credentials:
        return settings, []
    settings, accounts = select(names)
    return settings, [account.name for account in accounts]


def dq(
    account: list[str] = _account_option("Account name(s); default: every account in the store."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON lines."),
    save: bool = typer.Option(
        True, "--save/--no-save", help="Write the results to quality_results."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 3 when any rule finds an error."),
) -> None:
    """Run the data-quality rules over the store and show what they find."""
    from alpaca_integration.monitor.jobs import run_quality_rules

    settings, names = _dq_accounts(account)
    results = asyncio.run(run_quality_rules(settings, names, save=save))
    if as_json:
        for result in results:
            typer.echo(json.dumps(result.as_row(), default=str))
    elif not results:
        typer.echo("data quality: every rule passed")
    else:
        _table(
            "data quality",
            ["rule", "account", "subject", "severity", "detail", "when"],
            [
                [r.rule, r.account, r.subject, r.severity, r.detail, r.created_at.isoformat()]
                for r in results
            ],
        )
    if strict and any(r.severity == "error" for r in results):
        raise typer.Exit(code=EXIT_REFUSED)


# --------------------------------------------------------------------------- reconcile


def _finding_line(report: Any, finding: Any) -> str:
    row = {
        "run_id": report.run_id,
        "account": report.account,
        "kind": finding.kind,
        "subject": finding.subject,
        "difference": finding.difference,
        "decision": finding.decision,
        "detail": finding.detail,
    }
    return json.dumps(row, default=str)


def reconcile_command(
    account: list[str] = _account_option("Account name(s); default: all."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Record the differences only; repair nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON lines."),
) -> None:
    """Compare the store with the broker (orders, fills, positions, cash) and repair it."""
    from alpaca_integration.monitor.jobs import reconcile_accounts

    settings, accounts = select(account)
    reports = asyncio.run(reconcile_accounts(settings, accounts, dry_run=dry_run))
    for report in reports:
        if as_json:
            for finding in report.findings:
                typer.echo(_finding_line(report, finding))
            continue
        if report.findings:
            _table(
                f"reconciliation {report.account} (run {report.run_id})",
                ["kind", "subject", "difference", "decision"],
                [[f.kind, f.subject, f.difference, f.decision] for f in report.findings],
            )
        typer.echo(f"{report.account}: {report.summary()} (run {report.run_id})")


# --------------------------------------------------------------------------- risk


def _fmt_limit(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, frozenset):
        return ", ".join(sorted(value))
    return str(value)


def _limit_rows(limits: Any) -> list[list[str]]:
    """Every account-wide limit, then each per-symbol override that is set."""
    rows = [
        [name, _fmt_limit(getattr(limits, name))]
        for name in type(limits).model_fields
        if name != "symbols"
    ]
    for symbol, override in sorted(limits.symbols.items()):
        for name in type(override).model_fields:
            value = getattr(override, name)
            if value is not None:
                rows.append([f"symbols.{symbol}.{name}", str(value)])
    return rows


def _show_exposure(settings: Any, config: Any, limits: Any) -> None:
    from alpaca_integration.monitor.jobs import stored_exposure

    try:
        snapshot, breaches = asyncio.run(stored_exposure(settings, config, limits))
    except Exception:  # the limits are still worth showing when the database is not reachable
        typer.echo(f"{config.name}: exposure unavailable (the database could not be opened)")
        return
    typer.echo(
        f"{config.name}: gross {snapshot.gross:.2f}  net {snapshot.net:.2f}  long "
        f"{snapshot.long:.2f}  short {snapshot.short:.2f}"
        + (f"  unpriced: {', '.join(snapshot.unpriced)}" if snapshot.unpriced else "")
    )
    for breach in breaches:
        typer.secho(
            f"  BREACH {breach.limit_name} {breach.subject}: {breach.detail}",
            fg=typer.colors.RED,
        )


@risk_app.command("show")
def risk_show(
    account: list[str] = _account_option("Account name(s); default: all."),
    exposure: bool = typer.Option(
        True, "--exposure/--no-exposure", help="Also show the exposure of the stored positions."
    ),
) -> None:
    """Show each account's risk limits (and current exposure from the store)."""
    settings, accounts = select(account)
    for config in accounts:
        limits = _limits_for(config)
        _table(f"risk limits: {config.name}", ["limit", "value"], _limit_rows(limits))
        if exposure:
            _show_exposure(settings, config, limits)


def _check_request(
    symbol: str,
    side: str,
    qty: str | None,
    notional: str | None,
    limit_price: str | None,
    stop_price: str | None,
) -> Any:
    """The order ``risk check`` asks about; its type follows from the prices given."""
    from alpaca_integration.models import OrderRequest, OrderSide, OrderType

    if side.lower() not in ("buy", "sell"):
        raise bad_input("--side", f"must be buy or sell, got {side!r}")
    if (qty is None) == (notional is None):
        raise bad_input("--qty/--notional", "give exactly one of --qty and --notional")
    price = decimal_option(limit_price, "--limit-price")
    stop = decimal_option(stop_price, "--stop-price")
    types = {
        (True, True): OrderType.STOP_LIMIT,
        (True, False): OrderType.LIMIT,
        (False, True): OrderType.STOP,
        (False, False): OrderType.MARKET,
    }
    return OrderRequest(
        symbol=symbol.upper(),
        side=OrderSide(side.lower()),
        type=types[(price is not None, stop is not None)],
        qty=decimal_option(qty, "--qty"),
        notional=decimal_option(notional, "--notional"),
        limit_price=price,
        stop_price=stop,
    )


@risk_app.command("check")
def risk_check(
    symbol: str = typer.Argument(..., help="Symbol, e.g. AAPL."),
    side: str = typer.Option(..., "--side", help="buy or sell."),
    qty: str = typer.Option(None, "--qty", help="Quantity (shares)."),
    notional: str = typer.Option(None, "--notional", help="Dollar amount instead of --qty."),
    limit_price: str = typer.Option(None, "--limit-price", help="Limit price (values the order)."),
    stop_price: str = typer.Option(None, "--stop-price", help="Stop price."),
    account: str = _account_option("Account name; required when several are configured."),
    from_broker: bool = typer.Option(
        False, "--from-broker", help="Read positions/open orders from the broker, not the store."
    ),
) -> None:
    """Would this order pass the account's pre-trade limits? Sends nothing (exit 3: refused)."""
    from alpaca_integration.errors import RiskLimitError
    from alpaca_integration.monitor.jobs import check_order_against

    # The same rule as `order submit`: a risk answer for the wrong account is worse than none.
    settings, config = select_one(account)
    limits = _limits_for(config)
    request = _check_request(symbol, side, qty, notional, limit_price, stop_price)
    try:
        asyncio.run(check_order_against(settings, config, limits, request, from_broker=from_broker))
    except RiskLimitError as exc:
        typer.secho(f"REFUSED ({exc.limit}): {exc}", fg=typer.colors.RED)
        raise typer.Exit(code=EXIT_REFUSED) from None
    typer.secho(f"OK: the order passes {config.name}'s risk limits", fg=typer.colors.GREEN)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("dq")(dq)
    app.command("reconcile")(reconcile_command)
    app.add_typer(risk_app, name="risk")
