"""alpacactl trading commands: ``account``, ``positions``, ``orders``, ``activities``, ``clock``,
``calendar``, ``assets``, ``order submit|get|replace|cancel``, ``position close``.

Each command builds an ``AlpacaClient`` for the chosen account (``--account``, from
``ALPACA_ACCOUNTS_FILE`` or the ``ALPACA_*`` environment), prints Rich tables by default and the
models as JSON with ``--json``. Orders placed or replaced here pass the account's pre-trade risk
check (``[accounts.NAME.risk]``, installed by ``client_for_account``; a replace is checked
as the order it would become). ``position close`` is not checked, not even when the account is
halted: closing only reduces risk, and it is what a halted account needs to do.
Errors print one line on stderr and exit non-zero (2 for configuration, 1 for the rest).

Module-level imports stay light (typer and the standard library): the client, httpx, rich and the
risk module are imported inside the command bodies so that ``alpacactl --help`` stays fast. This
module must not import storage, sync, flows or the simulator.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from alpaca_integration.alpaca.client import AlpacaClient
    from alpaca_integration.config import AccountConfig

__all__ = ["order_app", "position_app", "register"]

_T = TypeVar("_T")

order_app = typer.Typer(
    name="order", help="Place, inspect, replace and cancel orders.", no_args_is_help=True
)
position_app = typer.Typer(name="position", help="Close positions.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the models as JSON (for scripts).")]
AccountOption = Annotated[
    str | None,
    typer.Option(
        "--account",
        "-a",
        help="Account name from ALPACA_ACCOUNTS_FILE (default: the only or 'default' account).",
    ),
]


# --------------------------------------------------------------------------- plumbing


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=code)


def _account(name: str | None) -> tuple[AccountConfig, str | None]:
    """The chosen account and the Redis URL for its shared rate budget."""
    from alpaca_integration.config import load_accounts, load_settings

    settings = load_settings()
    accounts = load_accounts(settings)
    if name is None:
        if len(accounts) == 1:
            return next(iter(accounts.values())), settings.redis_url
        if "default" in accounts:
            return accounts["default"], settings.redis_url
        raise _fail(
            f"several accounts are configured ({', '.join(accounts)}): choose one with --account",
            code=2,
        )
    if name not in accounts:
        raise _fail(
            f"unknown account {name!r}; configured: {', '.join(accounts)}. Fix: pass one of them "
            "to --account",
            code=2,
        )
    return accounts[name], settings.redis_url


def _run(account: str | None, action: Callable[[AlpacaClient, AccountConfig], Awaitable[_T]]) -> _T:
    """Run ``action`` with a client for the account; typed errors become one line + exit code."""
    from alpaca_integration.checks.risk import client_for_account
    from alpaca_integration.errors import (
        AlpacaIntegrationError,
        ConfigError,
        OrderValidationError,
    )

    try:
        config, redis_url = _account(account)

        async def main() -> _T:
            async with client_for_account(config, redis_url=redis_url) as client:
                return await action(client, config)

        return asyncio.run(main())
    except ConfigError as exc:
        raise _fail(str(exc), code=2) from None
    except OrderValidationError as exc:
        raise _fail(f"invalid order: {exc}", code=2) from None
    except AlpacaIntegrationError as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from None
    except ValueError as exc:
        raise _fail(str(exc), code=2) from None


def _show(value: Any, as_json: bool, title: str | None = None) -> None:
    from alpaca_integration.cli._output import render

    render(value, as_json=as_json, title=title)


def _decimal(text: str | None, option: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise typer.BadParameter(
            f"{text!r} is not a number (e.g. 187.25)", param_hint=option
        ) from None
    if not value.is_finite():
        raise typer.BadParameter(f"{text!r} is not a finite number", param_hint=option)
    return value


def _when(text: str | None, option: str) -> dt.datetime | None:
    """ISO 8601 date or datetime; without an offset it is read as UTC."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 time (e.g. 2025-06-02 or 2025-06-02T14:30:00Z)",
            param_hint=option,
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _day(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date like 2025-06-02", param_hint=option
        ) from None


def _symbols(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    return names or None


# --------------------------------------------------------------------------- read commands


def account(as_json: JsonOption = False, account: AccountOption = None) -> None:
    """Show the account: cash, equity, buying power, flags."""

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        return await client.get_account()

    _show(_run(account, action), as_json, "account")


def positions(as_json: JsonOption = False, account: AccountOption = None) -> None:
    """List open positions (shorts have negative qty)."""

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        return await client.list_positions()

    _show(_run(account, action), as_json, "positions")


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
        raise typer.BadParameter("must be open, closed or all", param_hint="--status")
    if direction not in ("asc", "desc"):
        raise typer.BadParameter("must be asc or desc", param_hint="--direction")
    if side is not None and side not in ("buy", "sell"):
        raise typer.BadParameter("must be buy or sell", param_hint="--side")
    after_at, until_at = _when(after, "--after"), _when(until, "--until")

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        found = []
        async for order in client.iter_orders(
            status=status,  # type: ignore[arg-type]
            after=after_at,
            until=until_at,
            direction=direction,  # type: ignore[arg-type]
            nested=nested or None,
            symbols=_symbols(symbols),
            side=side,
            page_size=min(limit, 500),
        ):
            found.append(order)
            if len(found) >= limit:
                break
        return found

    _show(_run(account, action), as_json, f"orders ({status})")


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
        raise typer.BadParameter("must be asc or desc", param_hint="--direction")
    on_day = _day(date, "--date")
    after_at, until_at = _when(after, "--after"), _when(until, "--until")

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        found = []
        async for item in client.iter_activities(
            activity_types=_symbols(types),
            date=on_day,
            after=after_at,
            until=until_at,
            direction=direction,  # type: ignore[arg-type]
            page_size=min(limit, 100),
        ):
            found.append(item)
            if len(found) >= limit:
                break
        return found

    _show(_run(account, action), as_json, "activities")


def clock(as_json: JsonOption = False, account: AccountOption = None) -> None:
    """Is the market open, and when does it next open and close."""

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        return await client.get_clock()

    _show(_run(account, action), as_json, "clock")


def calendar(
    start: Annotated[str | None, typer.Option(help="First date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option(help="Last date (YYYY-MM-DD).")] = None,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Trading days with their open and close times (UTC)."""
    first, last = _day(start, "--start"), _day(end, "--end")

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        return await client.get_calendar(first, last)

    _show(_run(account, action), as_json, "calendar")


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

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        if symbol is not None:
            return await client.get_asset(symbol)
        return await client.list_assets(status=status, asset_class=asset_class, exchange=exchange)

    _show(_run(account, action), as_json, "assets")


# --------------------------------------------------------------------------- order commands


@order_app.command("submit")
def order_submit(
    symbol: Annotated[str, typer.Argument(help="Symbol, e.g. AAPL.")],
    side: Annotated[str, typer.Argument(help="buy or sell.")],
    qty: Annotated[
        str | None, typer.Option(help="Shares (fractional allowed for market orders).")
    ] = None,
    notional: Annotated[
        str | None, typer.Option(help="Dollar amount instead of --qty (market, day).")
    ] = None,
    order_type: Annotated[
        str, typer.Option("--type", help="market, limit, stop, stop_limit, trailing_stop.")
    ] = "market",
    tif: Annotated[str, typer.Option("--tif", help="day, gtc, opg, cls, ioc, fok.")] = "day",
    limit_price: Annotated[
        str | None, typer.Option(help="Limit price (limit, stop_limit).")
    ] = None,
    stop_price: Annotated[str | None, typer.Option(help="Stop price (stop, stop_limit).")] = None,
    trail_price: Annotated[
        str | None, typer.Option(help="Trailing stop distance in dollars.")
    ] = None,
    trail_percent: Annotated[
        str | None, typer.Option(help="Trailing stop distance in percent.")
    ] = None,
    take_profit: Annotated[
        str | None, typer.Option(help="Take-profit limit price (bracket, oco, oto).")
    ] = None,
    stop_loss: Annotated[
        str | None, typer.Option(help="Stop-loss stop price (bracket, oco, oto).")
    ] = None,
    stop_loss_limit: Annotated[
        str | None, typer.Option(help="Stop-loss limit price (makes it stop-limit).")
    ] = None,
    order_class: Annotated[
        str | None,
        typer.Option(
            help="simple, bracket, oco, oto (default: bracket with both exits, oto with one, else simple)."
        ),
    ] = None,
    extended_hours: Annotated[
        bool, typer.Option("--extended-hours", help="Allow pre/after-market (limit, day/gtc).")
    ] = False,
    client_order_id: Annotated[
        str | None, typer.Option(help="Your idempotency key (default: generated).")
    ] = None,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Place an order (any type and class) after the account's pre-trade risk check."""
    from alpaca_integration.models import (
        OrderClass,
        OrderRequest,
        OrderSide,
        OrderType,
        StopLoss,
        TakeProfit,
        TimeInForce,
    )

    def choice(enum_type: Any, value: str, option: str) -> Any:
        try:
            return enum_type(value.strip().lower())
        except ValueError:
            allowed = ", ".join(member.value for member in enum_type)
            raise typer.BadParameter(
                f"{value!r}: must be one of {allowed}", param_hint=option
            ) from None

    take_profit_price = _decimal(take_profit, "--take-profit")
    stop_loss_price = _decimal(stop_loss, "--stop-loss")
    stop_loss_limit_price = _decimal(stop_loss_limit, "--stop-loss-limit")
    if stop_loss_limit_price is not None and stop_loss_price is None:
        raise typer.BadParameter(
            "needs --stop-loss (the stop price) as well", param_hint="--stop-loss-limit"
        )
    if order_class is None:
        both = take_profit_price is not None and stop_loss_price is not None
        one = take_profit_price is not None or stop_loss_price is not None
        order_class = "bracket" if both else "oto" if one else "simple"
    request = OrderRequest(
        symbol=symbol.strip().upper(),
        side=choice(OrderSide, side, "SIDE"),
        type=choice(OrderType, order_type, "--type"),
        time_in_force=choice(TimeInForce, tif, "--tif"),
        qty=_decimal(qty, "--qty"),
        notional=_decimal(notional, "--notional"),
        limit_price=_decimal(limit_price, "--limit-price"),
        stop_price=_decimal(stop_price, "--stop-price"),
        trail_price=_decimal(trail_price, "--trail-price"),
        trail_percent=_decimal(trail_percent, "--trail-percent"),
        extended_hours=extended_hours,
        client_order_id=client_order_id,
        order_class=choice(OrderClass, order_class, "--order-class"),
        take_profit=TakeProfit(limit_price=take_profit_price)
        if take_profit_price is not None
        else None,
        stop_loss=(
            StopLoss(stop_price=stop_loss_price, limit_price=stop_loss_limit_price)
            if stop_loss_price is not None
            else None
        ),
    )

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        # The account's risk limits are the client's own pre-trade check (client_for_account).
        return await client.submit_order(request)

    _show(_run(account, action), as_json, "order placed")


@order_app.command("get")
def order_get(
    order_id: Annotated[
        str, typer.Argument(help="The order id (or client order id with --client-id).")
    ],
    by_client_id: Annotated[
        bool, typer.Option("--client-id", help="ORDER_ID is a client_order_id.")
    ] = False,
    nested: Annotated[bool, typer.Option("--nested", help="Include legs.")] = True,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Show one order."""

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        if by_client_id:
            return await client.get_order_by_client_order_id(order_id)
        return await client.get_order(order_id, nested=nested)

    _show(_run(account, action), as_json, "order")


@order_app.command("replace")
def order_replace(
    order_id: Annotated[str, typer.Argument(help="The working order to replace.")],
    qty: Annotated[str | None, typer.Option(help="New quantity.")] = None,
    limit_price: Annotated[str | None, typer.Option(help="New limit price.")] = None,
    stop_price: Annotated[str | None, typer.Option(help="New stop price.")] = None,
    trail: Annotated[
        str | None, typer.Option(help="New trail (price or percent, as the order has).")
    ] = None,
    tif: Annotated[str | None, typer.Option("--tif", help="New time in force.")] = None,
    client_order_id: Annotated[
        str | None, typer.Option(help="Client order id of the replacement.")
    ] = None,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Replace a working order (Alpaca creates a new order; the old one becomes 'replaced')
    after the account's pre-trade risk check on the order as it would be."""
    from alpaca_integration.models import ReplaceRequest, TimeInForce

    try:
        time_in_force = TimeInForce(tif.strip().lower()) if tif is not None else None
    except ValueError:
        raise typer.BadParameter(f"{tif!r} is not a time in force", param_hint="--tif") from None
    request = ReplaceRequest(
        qty=_decimal(qty, "--qty"),
        limit_price=_decimal(limit_price, "--limit-price"),
        stop_price=_decimal(stop_price, "--stop-price"),
        trail=_decimal(trail, "--trail"),
        time_in_force=time_in_force,
        client_order_id=client_order_id,
    )

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        # Checked by the client's pre-trade check (the account's risk limits, client_for_account).
        return await client.replace_order(order_id, request)

    _show(_run(account, action), as_json, "replacement order")


@order_app.command("cancel")
def order_cancel(
    order_id: Annotated[
        str | None, typer.Argument(help="The order to cancel (or use --all).")
    ] = None,
    cancel_all: Annotated[bool, typer.Option("--all", help="Cancel every open order.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation with --all.")
    ] = False,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Cancel one order, or all open orders with --all."""
    if (order_id is None) == (not cancel_all):
        raise _fail("give an ORDER_ID or --all (not both)", code=2)
    if cancel_all and not yes:
        typer.confirm("Cancel ALL open orders?", abort=True)

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        if cancel_all:
            return await client.cancel_all_orders()
        assert order_id is not None
        await client.cancel_order(order_id)
        return None

    result = _run(account, action)
    if cancel_all:
        _show(result, as_json, "cancel requests")
    elif as_json:
        _show({"order_id": order_id, "cancel_requested": True}, True)
    else:
        typer.echo(f"cancel requested for order {order_id}")


@position_app.command("close")
def position_close(
    symbol: Annotated[
        str | None, typer.Argument(help="The position to close (or use --all).")
    ] = None,
    close_all: Annotated[bool, typer.Option("--all", help="Close every position.")] = False,
    qty: Annotated[str | None, typer.Option(help="Close only this many shares.")] = None,
    percentage: Annotated[
        str | None, typer.Option(help="Close only this percent of the position.")
    ] = None,
    cancel_orders: Annotated[
        bool, typer.Option("--cancel-orders", help="With --all: cancel open orders first.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask for confirmation with --all.")
    ] = False,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Close one position (fully or partly), or all positions with --all (allowed even when
    the account is halted: closing reduces risk)."""
    if (symbol is None) == (not close_all):
        raise _fail("give a SYMBOL or --all (not both)", code=2)
    if close_all and not yes:
        typer.confirm("Close ALL positions?", abort=True)
    qty_value, percent_value = _decimal(qty, "--qty"), _decimal(percentage, "--percentage")

    async def action(client: AlpacaClient, _: AccountConfig) -> Any:
        if close_all:
            return await client.close_all_positions(cancel_orders=cancel_orders)
        assert symbol is not None
        return await client.close_position(symbol.upper(), qty=qty_value, percentage=percent_value)

    _show(_run(account, action), as_json, "closing orders" if close_all else "closing order")


def register(app: typer.Typer) -> None:
    """Add the trading commands to the root app."""
    for command in (account, positions, orders, activities, clock, calendar, assets):
        app.command(command.__name__)(command)
    app.add_typer(order_app, name="order")
    app.add_typer(position_app, name="position")
