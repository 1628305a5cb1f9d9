"""What every broker command of ``alpacactl`` shares: the chosen account and its client, the
answer shown as a table or JSON, and the option parsers (numbers, times, dates, symbol lists).

Imported by ``cli.trading`` and ``cli.orders`` inside nothing heavy: the client, httpx, rich and
the checks load inside the functions, so ``alpacactl --help`` stays fast. Never imports storage,
sync, the flows or the simulator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from alpaca_integration.cli._errors import bad_input

if TYPE_CHECKING:
    from alpaca_integration.alpaca.client import AlpacaClient

__all__ = [
    "AccountOption",
    "JsonOption",
    "day_option",
    "decimal_option",
    "first",
    "read",
    "run_with_client",
    "show",
    "symbol_list",
    "when_option",
]

_T = TypeVar("_T")

JsonOption = Annotated[bool, typer.Option("--json", help="Print the models as JSON (for scripts).")]
AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account",
        "-a",
        help="Account name from ALPACA_ACCOUNTS_FILE (default: the only or 'default' account).",
    ),
]


def run_with_client(account: str | None, call: Callable[[AlpacaClient], Awaitable[_T]]) -> _T:
    """``call`` with a client for the chosen account (its risk limits installed); errors reach
    the CLI's one error boundary (``cli._errors``), except a ``ValueError`` the client raises for
    a bad argument, which is bad input (exit 2) like the rest."""
    from alpaca_integration.checks.risk import client_for_account
    from alpaca_integration.cli._accounts import select_one
    from alpaca_integration.cli._errors import EXIT_USAGE, fail
    from alpaca_integration.errors import AlpacaIntegrationError

    settings, config = select_one(account)

    async def main() -> _T:
        async with client_for_account(config, redis_url=settings.redis_url) as client:
            return await call(client)

    try:
        return asyncio.run(main())
    except ValueError as exc:
        if isinstance(exc, AlpacaIntegrationError):
            raise
        raise fail(str(exc), EXIT_USAGE) from None


def show(value: Any, as_json: bool, title: str | None = None) -> None:
    from alpaca_integration.cli._output import render

    render(value, as_json=as_json, title=title)


def read(
    account: str | None,
    as_json: bool,
    title: str,
    call: Callable[[AlpacaClient], Awaitable[Any]],
) -> None:
    """The shape of every command: ``call`` with the account's client, then the answer shown."""
    show(run_with_client(account, call), as_json, title)


async def first(items: AsyncIterator[_T], limit: int) -> list[_T]:
    """At most ``limit`` items of a paged listing (the pages past them are never requested)."""
    found: list[_T] = []
    async for item in items:
        found.append(item)
        if len(found) >= limit:
            break
    return found


def decimal_option(text: str | None, option: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise bad_input(option, f"{text!r} is not a number (e.g. 187.25)") from None
    if not value.is_finite():
        raise bad_input(option, f"{text!r} is not a finite number")
    return value


def when_option(text: str | None, option: str) -> dt.datetime | None:
    """ISO 8601 date or datetime; without an offset it is read as UTC."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise bad_input(
            option, f"{text!r} is not an ISO 8601 time (e.g. 2025-06-02 or 2025-06-02T14:30:00Z)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def day_option(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise bad_input(option, f"{text!r} is not a date like 2025-06-02") from None


def symbol_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    return names or None
