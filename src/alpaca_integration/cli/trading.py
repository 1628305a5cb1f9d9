"""alpacactl read commands: ``account``, ``positions``, ``orders``, ``activities``, ``clock``,
``calendar``, ``assets`` (the order and position commands are in ``cli.orders``).

Each command reads the broker with a client for the chosen account (``--account``, from
``ALPACA_ACCOUNTS_FILE`` or the ``ALPACA_*`` environment; ``cli._client``), prints Rich tables by
default and the models as JSON with ``--json``.

Module-level imports stay light (typer and the standard library): the client, httpx and rich are
imported inside the command bodies so that ``alpacactl --help`` stays fast. This module must not
import storage, sync, flows or the simulator.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from alpaca_integration.cli import orders as order_commands
from alpaca_integration.cli._client import (
    AccountOption,
    JsonOption,
    day_option,
    first,
    read,
    symbol_list,
    when_option,
)
from alpaca_integration.cli._errors import bad_input

__all__ = ["register"]


def account(as_json: JsonOption = False, account: AccountOption = None) -> None:
    """Show the account: cash, equity, buying power, flags."""
    read(account, as_json, "account", lambda client: client.get_account())


def positions(as_json: JsonOption = False, account: AccountOption = None) -> None:
    """List open positions (shorts have negative qty)."""
    read(account, as_json, "positions", lambda client: client.list_positions())


def orders(
    status: Annotated[str, typer.Option(help="open, closed or all.")] = "open",
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols, e.g. AAPL,MSFT.")
    ] = None,
    side: Annotated[str | None, typer.Option(help="buy or sell.")] = None,
    after: Annotated[
        str | None, typer.Option(help="Submitted after this time (ISO 8601, UTC if no offset).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Submitted before this time (ISO 8601).")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, help="How many orders at most (pages past 500).")
    ] = 50,
    nested: Annotated[
        bool, typer.Option("--nested", help="Show bracket/OCO/OTO legs under their parent.")
    ] = False,
    direction: Annotated[str, typer.Option(help="desc (newest first) or asc.")] = "desc",
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """List orders with Alpaca's filters; more than 500 are paged for you."""
    if status not in ("open", "closed", "all"):
        raise bad_input("--status", "must be open, closed or all")
    if direction not in ("asc", "desc"):
        raise bad_input("--direction", "must be asc or desc")
    if side is not None and side not in ("buy", "sell"):
        raise bad_input("--side", "must be buy or sell")
    after_at, until_at = when_option(after, "--after"), when_option(until, "--until")
    listing: dict[str, Any] = {
        "status": status,
        "after": after_at,
        "until": until_at,
        "direction": direction,
        "nested": nested or None,
        "symbols": symbol_list(symbols),
        "side": side,
        "page_size": min(limit, 500),
    }
    read(
        account,
        as_json,
        f"orders ({status})",
        lambda client: first(client.iter_orders(**listing), limit),
    )


def activities(
    types: Annotated[
        str | None, typer.Option("--type", help="Activity types, e.g. FILL or FILL,FEE,DIV.")
    ] = None,
    date: Annotated[str | None, typer.Option(help="Only this date (YYYY-MM-DD).")] = None,
    after: Annotated[str | None, typer.Option(help="After this time (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Until this time (ISO 8601).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many at most (pages past 100).")] = 100,
    direction: Annotated[str, typer.Option(help="desc (newest first) or asc.")] = "desc",
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """List account activities: fills, fees, dividends, transfers ..."""
    if direction not in ("asc", "desc"):
        raise bad_input("--direction", "must be asc or desc")
    listing: dict[str, Any] = {
        "activity_types": symbol_list(types),
        "date": day_option(date, "--date"),
        "after": when_option(after, "--after"),
        "until": when_option(until, "--until"),
        "direction": direction,
        "page_size": min(limit, 100),
    }
    read(
        account,
        as_json,
        "activities",
        lambda client: first(client.iter_activities(**listing), limit),
    )


def clock(as_json: JsonOption = False, account: AccountOption = None) -> None:
    """Is the market open, and when does it next open and close."""
    read(account, as_json, "clock", lambda client: client.get_clock())


def calendar(
    start: Annotated[str | None, typer.Option(help="First date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last date (YYYY-MM-DD).")] = None,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Trading days with their open and close times (UTC)."""
    first, last = day_option(start, "--start"), day_option(end, "--end")
    read(account, as_json, "calendar", lambda client: client.get_calendar(first, last))


def assets(
    symbol: Annotated[str | None, typer.Argument(help="One symbol or asset id to show.")] = None,
    status: Annotated[str | None, typer.Option(help="active or inactive.")] = None,
    asset_class: Annotated[
        str | None, typer.Option("--class", help="us_equity, us_option, crypto.")
    ] = None,
    exchange: Annotated[str | None, typer.Option(help="e.g. NASDAQ, NYSE.")] = None,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """List tradable assets, or show one."""
    if symbol is not None:
        read(account, as_json, "assets", lambda client: client.get_asset(symbol))
        return
    read(
        account,
        as_json,
        "assets",
        lambda client: client.list_assets(
            status=status, asset_class=asset_class, exchange=exchange
        ),
    )


def register(app: typer.Typer) -> None:
    """Add the read commands, and the order and position groups, to the root app."""
    for command in (account, positions, orders, activities, clock, calendar, assets):
        app.command(command.__name__)(command)
    order_commands.register(app)
