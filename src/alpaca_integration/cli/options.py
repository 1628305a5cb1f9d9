"""alpacactl option commands: ``options chain UNDERLYING [--expiry DATE] [--type call|put]``.

The chain is read through the account's client (``GET /v2/options/contracts``, every page up to
``--limit``) and shown by expiry, calls before puts, then strike; ``--json`` prints the contracts.
Without ``--expiry`` the venue lists the active contracts expiring by the next weekend.

Like every command module it keeps ``alpacactl --help`` fast (the client, httpx and rich load
inside the command) and reaches the venue only through ``cli._client``; never storage, sync,
flows or the simulator.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from alpaca_integration.cli._client import (
    AccountOption,
    JsonOption,
    day_option,
    first,
    run_with_client,
)
from alpaca_integration.cli._errors import bad_input

__all__ = ["options_app", "register"]

options_app = typer.Typer(
    name="options", help="Option contracts: chains for an underlying.", no_args_is_help=True
)


def _underlying(text: str) -> str:
    """An equity ticker to read the chain of; a contract or a crypto pair is bad input."""
    from alpaca_integration.instruments import is_crypto_symbol, looks_like_option_symbol

    symbol = text.strip().upper()
    if not symbol or is_crypto_symbol(symbol) or looks_like_option_symbol(symbol):
        raise bad_input(
            "UNDERLYING", f"{text!r} is not an underlying: give a stock ticker such as AAPL"
        )
    return symbol


@options_app.command("chain")
def chain(
    underlying: Annotated[str, typer.Argument(help="The underlying's ticker, e.g. AAPL.")],
    expiry: Annotated[
        str | None, typer.Option(help="Only contracts expiring on this date (YYYY-MM-DD).")
    ] = None,
    option_type: Annotated[str | None, typer.Option("--type", help="call or put.")] = None,
    status: Annotated[str, typer.Option(help="active or inactive.")] = "active",
    limit: Annotated[int, typer.Option(min=1, help="How many contracts at most.")] = 1000,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """List the option contracts of an underlying (the venue's default: active contracts
    expiring by the next weekend)."""
    from alpaca_integration.cli._output import render_contracts

    symbol = _underlying(underlying)
    if option_type is not None and option_type.strip().lower() not in ("call", "put"):
        raise bad_input("--type", f"{option_type!r}: must be call or put")
    if status not in ("active", "inactive"):
        raise bad_input("--status", f"{status!r}: must be active or inactive")
    listing: dict[str, Any] = {
        "underlying_symbols": [symbol],
        "expiration_date": day_option(expiry, "--expiry"),
        "type": None if option_type is None else option_type.strip().lower(),
        "status": status,
        "page_size": min(limit, 10_000),
    }
    contracts = run_with_client(
        account, lambda client: first(client.iter_option_contracts(**listing), limit)
    )
    render_contracts(contracts, as_json=as_json, title=f"option chain {symbol}")


def register(app: typer.Typer) -> None:
    """Add the options group to the root app."""
    app.add_typer(options_app, name="options")
