"""alpacactl order commands: ``order submit|get|replace|cancel``, ``position close|exercise``.

``order submit`` places one instrument (a stock, an option contract by its OCC symbol, a crypto
pair such as ``BTC/USD``), or a multi-leg option order given as ``--leg SYMBOL:SIDE:RATIO[:INTENT]``
(repeated, 2 to 4 times). Orders placed or replaced here pass the account's pre-trade risk check
(``[accounts.NAME.risk]``, installed by ``client_for_account``; a replace is checked as the order
it would become). ``position close`` is not checked, not even when the account is halted: closing
only reduces risk, and it is what a halted account needs to do. ``position exercise`` exercises a
held option contract (or, with ``--do-not-exercise``, keeps it from being exercised at expiry).

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

__all__ = ["order_app", "parse_leg", "position_app", "register"]

order_app = typer.Typer(
    name="order", help="Place, inspect, replace and cancel orders.", no_args_is_help=True
)
position_app = typer.Typer(
    name="position", help="Close positions; exercise option contracts.", no_args_is_help=True
)


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


def parse_leg(text: str) -> Any:
    """One ``--leg SYMBOL:SIDE:RATIO[:INTENT]`` as an ``OptionLegRequest`` (bad input: exit 2)."""
    from alpaca_integration.models import OptionLegRequest, OrderSide, PositionIntent

    parts = [part.strip() for part in text.split(":")]
    if len(parts) not in (3, 4) or not all(parts):
        raise bad_input(
            "--leg",
            f"{text!r}: write SYMBOL:SIDE:RATIO[:INTENT], e.g. AAPL250620C00195000:buy:1 or "
            "AAPL250620C00205000:sell:1:sell_to_open",
        )
    ratio = decimal_option(parts[2], "--leg")
    if ratio is None:  # cannot happen: the part is not empty
        raise bad_input("--leg", f"{text!r}: RATIO is missing")
    return OptionLegRequest(
        symbol=parts[0].upper(),
        side=_choice(OrderSide, parts[1], "--leg"),
        ratio_qty=ratio,
        position_intent=_choice(PositionIntent, parts[3], "--leg") if len(parts) == 4 else None,
    )


def _default_tif(symbol: str | None) -> str:
    """gtc for a crypto pair (crypto takes gtc or ioc), day for everything else."""
    return "gtc" if symbol is not None and "/" in symbol else "day"


def _multi_leg(
    legs: list[str], symbol: str | None, side: str | None, order_class: str | None, **order: Any
) -> Any:
    """The ``MultiLegOrderRequest`` of ``--leg`` options; SYMBOL, SIDE and non-mleg classes are
    bad input beside legs."""
    from alpaca_integration.models import MultiLegOrderRequest

    if symbol is not None or side is not None:
        raise bad_input("--leg", "a multi-leg order names its contracts in --leg, not SYMBOL SIDE")
    if order_class is not None and order_class.strip().lower() != "mleg":
        raise bad_input("--order-class", f"{order_class!r}: orders with --leg are mleg orders")
    parsed = tuple(parse_leg(leg) for leg in legs)
    qty = order.pop("qty")
    if qty is None:
        raise bad_input("--qty", "a multi-leg order needs --qty (units of the strategy)")
    return MultiLegOrderRequest(legs=parsed, qty=qty, **order)


# --------------------------------------------------------------------------- order commands


@order_app.command("submit")
def order_submit(
    symbol: Annotated[
        str | None,
        typer.Argument(help="Symbol: AAPL, an option contract (AAPL250620C00195000), BTC/USD."),
    ] = None,
    side: Annotated[str | None, typer.Argument(help="buy or sell.")] = None,
    qty: Annotated[
        str | None,
        typer.Option(help="Shares, contracts or coins (fractional shares for market orders)."),
    ] = None,
    notional: Annotated[
        str | None,
        typer.Option(help="Dollar amount instead of --qty (market; day, gtc/ioc for crypto)."),
    ] = None,
    order_type: Annotated[
        str, typer.Option("--type", help="market, limit, stop, stop_limit, trailing_stop.")
    ] = "market",
    tif: Annotated[
        str | None,
        typer.Option(
            "--tif", help="day, gtc, opg, cls, ioc, fok (default: gtc for crypto, else day)."
        ),
    ] = None,
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
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="Book the order's lots to this strategy's sleeve (client_order_id "
            "ai-<strategy>-<hex>; see docs/ledger.md).",
        ),
    ] = None,
    leg: Annotated[
        list[str] | None,
        typer.Option(
            "--leg",
            help="A multi-leg option order's leg, SYMBOL:SIDE:RATIO[:INTENT] (repeat 2-4 times; "
            "--limit-price is then the net price, negative for a credit).",
        ),
    ] = None,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Place an order (any type and class; a stock, an option contract, a crypto pair, or a
    multi-leg option order with --leg) after the account's pre-trade risk check."""
    from alpaca_integration.models import OrderRequest, OrderSide, OrderType, TimeInForce

    name = None if symbol is None else symbol.strip().upper()
    client_order_id = _strategy_id(strategy, client_order_id)
    time_in_force = _choice(TimeInForce, tif or _default_tif(name), "--tif")
    if leg:
        request = _multi_leg(
            leg,
            symbol,
            side,
            order_class,
            qty=decimal_option(qty, "--qty"),
            type=_choice(OrderType, order_type, "--type"),
            time_in_force=time_in_force,
            limit_price=decimal_option(limit_price, "--limit-price"),
            client_order_id=client_order_id,
        )
        read(account, as_json, "order placed", lambda client: client.submit_order(request))
        return
    if name is None or side is None:
        raise fail("give SYMBOL and SIDE, or the legs of a multi-leg order with --leg", EXIT_USAGE)
    take_profit_leg, stop_loss_leg, default_class = _exits(take_profit, stop_loss, stop_loss_limit)
    single = OrderRequest(
        symbol=name,
        side=_choice(OrderSide, side, "SIDE"),
        type=_choice(OrderType, order_type, "--type"),
        time_in_force=time_in_force,
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
    read(account, as_json, "order placed", lambda client: client.submit_order(single))


def _strategy_id(strategy: str | None, client_order_id: str | None) -> str | None:
    """The client_order_id that tags the order with ``strategy`` (one is made when none given;
    a given one must carry the tag)."""
    if strategy is None:
        return client_order_id
    from alpaca_integration.ledger.sleeves import strategy_from_client_order_id, strategy_prefix
    from alpaca_integration.models import new_client_order_id

    try:
        prefix = strategy_prefix(strategy)
    except ValueError as exc:
        raise bad_input("--strategy", str(exc)) from None
    if client_order_id is None:
        return new_client_order_id(prefix)
    if strategy_from_client_order_id(client_order_id) != strategy:
        raise bad_input(
            "--client-order-id",
            f"{client_order_id!r} does not name strategy {strategy!r}: start it with "
            f"'{prefix}-', or leave it out",
        )
    return client_order_id


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


@position_app.command("exercise")
def position_exercise(
    symbol: Annotated[
        str, typer.Argument(help="The held option contract, e.g. AAPL250620C00195000.")
    ],
    do_not_exercise: Annotated[
        bool,
        typer.Option(
            "--do-not-exercise",
            help="Keep an in-the-money contract from being exercised at expiry.",
        ),
    ] = False,
    as_json: JsonOption = False,
    account: AccountOption = None,
) -> None:
    """Exercise every available contract of a long option position now (or, with
    --do-not-exercise, instruct the broker not to exercise it at expiry). Sent at most once; an
    unclear answer is looked up (exit 1 when it cannot be)."""
    from alpaca_integration.instruments import occ_symbol_problem

    contract = symbol.strip().upper()
    problem = occ_symbol_problem(contract)
    if problem is not None:
        raise bad_input("SYMBOL", problem)
    if do_not_exercise:
        read(account, as_json, "do-not-exercise", lambda c: c.do_not_exercise(contract))
    else:
        read(account, as_json, "exercise", lambda c: c.exercise_position(contract))


def register(app: typer.Typer) -> None:
    """Add the order and position groups to the root app."""
    app.add_typer(order_app, name="order")
    app.add_typer(position_app, name="position")
