"""alpacactl order commands: ``order submit|get|replace|cancel``, ``position close``.

Orders placed or replaced here pass the account's pre-trade risk check (``[accounts.NAME.risk]``,
installed by ``client_for_account``; a replace is checked as the order it would become).
``position close`` is not checked, not even when the account is halted: closing only reduces
risk, and it is what a halted account needs to do.

Module-level imports stay light (typer and the standard library): the client, httpx, rich and the
checks are imported inside the command bodies so that ``alpacactl --help`` stays fast. This module
must not import storage, sync, flows or the simulator.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from alpaca_integration.cli._client import (
    AccountOption,
    JsonOption,
    decimal_option,
    read,
    run_with_client,
    show,
)
from alpaca_integration.cli._errors import EXIT_USAGE, bad_input, fail

__all__ = ["order_app", "position_app", "register"]

order_app = typer.Typer(
    name="order", help="Place, inspect, replace and cancel orders.", no_args_is_help=True
)
position_app = typer.Typer(name="position", help="Close positions.", no_args_is_help=True)


def _choice(enum_type: Any, value: str, option: str) -> Any:
    """``value`` as a member of ``enum_type``, or a usage error listing the allowed values."""
    try:
        return enum_type(value.strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in enum_type)
        raise bad_input(option, f"{value!r}: must be one of {allowed}") from None


def _order_class(name: str) -> Any:
    from alpaca_integration.models import OrderClass

    return _choice(OrderClass, name, "--order-class")


def _exits(
    take_profit: str | None, stop_loss: str | None, stop_loss_limit: str | None
) -> tuple[Any, Any, str]:
    """The take-profit and stop-loss legs from their options, and the order class they imply
    when none is given (bracket with both, oto with one, else simple)."""
    from alpaca_integration.models import StopLoss, TakeProfit

    take_profit_price = decimal_option(take_profit, "--take-profit")
    stop_loss_price = decimal_option(stop_loss, "--stop-loss")
    stop_loss_limit_price = decimal_option(stop_loss_limit, "--stop-loss-limit")
    if stop_loss_limit_price is not None and stop_loss_price is None:
        raise bad_input("--stop-loss-limit", "needs --stop-loss (the stop price) as well")
    take_profit_leg = (
        TakeProfit(limit_price=take_profit_price) if take_profit_price is not None else None
    )
    stop_loss_leg = (
        StopLoss(stop_price=stop_loss_price, limit_price=stop_loss_limit_price)
        if stop_loss_price is not None
        else None
    )
    legs = sum(leg is not None for leg in (take_profit_leg, stop_loss_leg))
    return take_profit_leg, stop_loss_leg, ("simple", "oto", "bracket")[legs]


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
    from alpaca_integration.models import OrderRequest, OrderSide, OrderType, TimeInForce

    take_profit_leg, stop_loss_leg, default_class = _exits(take_profit, stop_loss, stop_loss_limit)
    request = OrderRequest(
        symbol=symbol.strip().upper(),
        side=_choice(OrderSide, side, "SIDE"),
        type=_choice(OrderType, order_type, "--type"),
        time_in_force=_choice(TimeInForce, tif, "--tif"),
        qty=decimal_option(qty, "--qty"),
        notional=decimal_option(notional, "--notional"),
        limit_price=decimal_option(limit_price, "--limit-price"),
        stop_price=decimal_option(stop_price, "--stop-price"),
        trail_price=decimal_option(trail_price, "--trail-price"),
        trail_percent=decimal_option(trail_percent, "--trail-percent"),
        extended_hours=extended_hours,
        client_order_id=client_order_id,
        order_class=_order_class(order_class or default_class),
        take_profit=take_profit_leg,
        stop_loss=stop_loss_leg,
    )
    # The account's risk limits are the client's own pre-trade check (client_for_account).
    read(account, as_json, "order placed", lambda client: client.submit_order(request))


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

    if by_client_id:
        read(account, as_json, "order", lambda c: c.get_order_by_client_order_id(order_id))
    else:
        read(account, as_json, "order", lambda c: c.get_order(order_id, nested=nested))


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
        raise bad_input("--tif", f"{tif!r} is not a time in force") from None
    request = ReplaceRequest(
        qty=decimal_option(qty, "--qty"),
        limit_price=decimal_option(limit_price, "--limit-price"),
        stop_price=decimal_option(stop_price, "--stop-price"),
        trail=decimal_option(trail, "--trail"),
        time_in_force=time_in_force,
        client_order_id=client_order_id,
    )

    # Checked by the client's pre-trade check (the account's risk limits, client_for_account).
    read(account, as_json, "replacement order", lambda c: c.replace_order(order_id, request))


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
        raise fail("give an ORDER_ID or --all (not both)", EXIT_USAGE)
    if order_id is None:
        if not yes:
            typer.confirm("Cancel ALL open orders?", abort=True)
        read(account, as_json, "cancel requests", lambda c: c.cancel_all_orders())
        return
    run_with_client(account, lambda c: c.cancel_order(order_id))
    if as_json:
        show({"order_id": order_id, "cancel_requested": True}, True)
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
        raise fail("give a SYMBOL or --all (not both)", EXIT_USAGE)
    if close_all and not yes:
        typer.confirm("Close ALL positions?", abort=True)
    qty_value, percent_value = (
        decimal_option(qty, "--qty"),
        decimal_option(percentage, "--percentage"),
    )

    if symbol is None:
        read(
            account,
            as_json,
            "closing orders",
            lambda c: c.close_all_positions(cancel_orders=cancel_orders),
        )
        return
    upper = symbol.upper()
    read(
        account,
        as_json,
        "closing order",
        lambda c: c.close_position(upper, qty=qty_value, percentage=percent_value),
    )


def register(app: typer.Typer) -> None:
    """Add the order and position groups to the root app."""
    app.add_typer(order_app, name="order")
    app.add_typer(position_app, name="position")
