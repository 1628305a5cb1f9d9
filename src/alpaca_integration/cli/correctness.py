"""alpacactl commands: ``dq`` (quality rules), ``reconcile [--dry-run]``, ``risk show``, ``risk check``.

Module-level imports stay light (typer only): the store, the client and rich are imported inside
the command bodies so that ``alpacactl --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal, InvalidOperation
from typing import Any

import typer

__all__ = ["register"]

risk_app = typer.Typer(
    name="risk",
    help="Pre-trade risk limits and exposure (limits per account in ALPACA_ACCOUNTS_FILE).",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def _settings_and_accounts(
    names: list[str] | None, *, need_keys: bool = True
) -> tuple[Any, list[Any]]:
    from alpaca_integration.config import load_accounts, load_settings
    from alpaca_integration.errors import ConfigError

    try:
        settings = load_settings()
        accounts = load_accounts(settings)
    except ConfigError as exc:
        if need_keys:
            raise _fail(str(exc)) from None
        settings = load_settings()
        return settings, []
    if names:
        unknown = [name for name in names if name not in accounts]
        if unknown:
            raise _fail(
                f"unknown account(s) {', '.join(unknown)}; configured: {', '.join(accounts)}. "
                "Fix: pass one of the configured names to --account"
            )
        return settings, [accounts[name] for name in names]
    return settings, list(accounts.values())


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


def _dec(text: str | None, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _fail(f"{name} must be a number such as 10 or 12.5, got {text!r}") from None
    if not value.is_finite():
        raise _fail(f"{name} must be a finite number, got {text!r}")
    return value


# --------------------------------------------------------------------------- dq


def dq(
    account: list[str] = typer.Option(
        None, "--account", "-a", help="Account name(s); default: every account in the store."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON lines."),
    save: bool = typer.Option(
        True, "--save/--no-save", help="Write the results to quality_results."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any rule finds an error."),
) -> None:
    """Run the data-quality rules over the store and show what they find."""
    settings, accounts = _settings_and_accounts(account, need_keys=False)
    from alpaca_integration.monitor.jobs import run_quality_rules

    results = asyncio.run(run_quality_rules(settings, [a.name for a in accounts], save=save))
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
        raise typer.Exit(code=1)


# --------------------------------------------------------------------------- reconcile


def reconcile_command(
    account: list[str] = typer.Option(
        None, "--account", "-a", help="Account name(s); default: all."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Record the differences only; repair nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON lines."),
) -> None:
    """Compare the store with the broker (orders, fills, positions, cash) and repair it."""
    from alpaca_integration.errors import AlpacaIntegrationError
    from alpaca_integration.monitor.jobs import reconcile_accounts

    settings, accounts = _settings_and_accounts(account)
    try:
        reports = asyncio.run(reconcile_accounts(settings, accounts, dry_run=dry_run))
    except AlpacaIntegrationError as exc:
        raise _fail(str(exc)) from None
    for report in reports:
        if as_json:
            for finding in report.findings:
                typer.echo(
                    json.dumps(
                        {
                            "run_id": report.run_id,
                            "account": report.account,
                            "kind": finding.kind,
                            "subject": finding.subject,
                            "difference": finding.difference,
                            "decision": finding.decision,
                            "detail": finding.detail,
                        },
                        default=str,
                    )
                )
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


def _exposure(settings: Any, config: Any, limits: Any) -> tuple[Any, list[Any]] | None:
    from alpaca_integration.monitor.jobs import stored_exposure

    try:
        return asyncio.run(stored_exposure(settings, config, limits))
    except Exception:  # the limits are still worth showing when the database is not reachable
        return None


@risk_app.command("show")
def risk_show(
    account: list[str] = typer.Option(
        None, "--account", "-a", help="Account name(s); default: all."
    ),
    exposure: bool = typer.Option(
        True, "--exposure/--no-exposure", help="Also show the exposure of the stored positions."
    ),
) -> None:
    """Show each account's risk limits (and current exposure from the store)."""
    from alpaca_integration.errors import ConfigError

    settings, accounts = _settings_and_accounts(account)
    for config in accounts:
        try:
            limits = _limits_for(config)
        except ConfigError as exc:
            raise _fail(str(exc)) from None
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
        _table(f"risk limits: {config.name}", ["limit", "value"], rows)
        if not exposure:
            continue
        measured = _exposure(settings, config, limits)
        if measured is None:
            typer.echo(f"{config.name}: exposure unavailable (the database could not be opened)")
            continue
        snapshot, breaches = measured
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


@risk_app.command("check")
def risk_check(
    symbol: str = typer.Argument(..., help="Symbol, e.g. AAPL."),
    side: str = typer.Option(..., "--side", help="buy or sell."),
    qty: str = typer.Option(None, "--qty", help="Quantity (shares)."),
    notional: str = typer.Option(None, "--notional", help="Dollar amount instead of --qty."),
    limit_price: str = typer.Option(None, "--limit-price", help="Limit price (values the order)."),
    stop_price: str = typer.Option(None, "--stop-price", help="Stop price."),
    account: str = typer.Option(
        None, "--account", "-a", help="Account name; required when several are configured."
    ),
    from_broker: bool = typer.Option(
        False, "--from-broker", help="Read positions/open orders from the broker, not the store."
    ),
) -> None:
    """Would this order pass the account's pre-trade limits? Sends nothing."""
    from alpaca_integration.errors import AlpacaIntegrationError, ConfigError, RiskLimitError
    from alpaca_integration.models import OrderRequest, OrderSide, OrderType
    from alpaca_integration.monitor.jobs import check_order_against

    settings, accounts = _settings_and_accounts([account] if account else None)
    if len(accounts) > 1:
        # The same rule as `order submit`: a risk answer for the wrong account is worse than none.
        raise _fail(
            f"several accounts are configured ({', '.join(a.name for a in accounts)}): "
            "choose one with --account"
        )
    config = accounts[0]
    try:
        limits = _limits_for(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if side.lower() not in ("buy", "sell"):
        raise _fail(f"--side must be buy or sell, got {side!r}")
    if (qty is None) == (notional is None):
        raise _fail("give exactly one of --qty and --notional")
    price = _dec(limit_price, "--limit-price")
    stop = _dec(stop_price, "--stop-price")
    order_type = (
        OrderType.STOP_LIMIT
        if price is not None and stop is not None
        else OrderType.LIMIT
        if price is not None
        else OrderType.STOP
        if stop is not None
        else OrderType.MARKET
    )
    request = OrderRequest(
        symbol=symbol.upper(),
        side=OrderSide(side.lower()),
        type=order_type,
        qty=_dec(qty, "--qty"),
        notional=_dec(notional, "--notional"),
        limit_price=price,
        stop_price=stop,
    )
    try:
        asyncio.run(check_order_against(settings, config, limits, request, from_broker=from_broker))
    except RiskLimitError as exc:
        typer.secho(f"REFUSED ({exc.limit}): {exc}", fg=typer.colors.RED)
        raise typer.Exit(code=1) from None
    except AlpacaIntegrationError as exc:
        raise _fail(str(exc)) from None
    typer.secho(f"OK: the order passes {config.name}'s risk limits", fg=typer.colors.GREEN)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.command("dq")(dq)
    app.command("reconcile")(reconcile_command)
    app.add_typer(risk_app, name="risk")
