"""Pre-trade rules of option and crypto orders: the account's options level and options buying
power, the ``max_contracts`` limit, and crypto's no-shorting and cash-only buying power.

* **Options level** (Alpaca's, from the account's ``options_trading_level``, else its approved
  level): 0 refuses every option order; closing a position needs level 1; selling a covered call
  or a cash-secured put needs 1; buying a call or a put needs 2; a multi-leg order needs 3. A
  call sold to open must be covered by the underlying's shares (multiplier x contracts, after
  the short calls already held); an uncovered call is refused (Alpaca offers no naked calls).
* **Options buying power**: an opening buy costs qty x premium x multiplier; a cash-secured put
  strike x multiplier x qty; a multi-leg debit its net price x qty x multiplier. Refused when
  that exceeds ``options_buying_power``.
* **max_contracts** (an account risk limit): the contracts one order trades (a multi-leg order's
  qty x each leg's ratio, summed).
* **Crypto**: a sell may not take the position below zero (counting open sells): crypto cannot
  be sold short; a buy may not cost more than the non-marginable buying power.

Figures the check was not given (no account read, no price known for a market order) are left
to the venue, which applies the same rules. Imports ``models``, ``instruments`` and
``checks.risk_state``; no I/O.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from alpaca_integration.checks.risk_state import RiskState, pending, refusal, underlying_key
from alpaca_integration.instruments import CONTRACT_MULTIPLIER, parse_occ_symbol
from alpaca_integration.models import (
    MultiLegOrderRequest,
    OrderRequest,
    OrderSide,
    PositionIntent,
)

__all__ = [
    "OptionAction",
    "check_crypto_order",
    "check_max_contracts",
    "check_multi_leg_options",
    "check_option_order",
    "option_action",
]

_ZERO = Decimal(0)
LEVEL_CLOSE = 1
LEVEL_COVERED = 1
LEVEL_LONG = 2
LEVEL_SPREADS = 3


class OptionAction(NamedTuple):
    """What a single-leg option order does: opens or closes, and the level that needs."""

    opens: bool
    level: int
    what: str


def option_action(request: OrderRequest, state: RiskState) -> OptionAction:
    """Whether ``request`` opens or closes a position (its intent, else the position it meets)
    and the options level that needs."""
    intent = request.position_intent
    held = state.position(request.symbol)
    if intent is not None:
        opens = intent in (PositionIntent.BUY_TO_OPEN, PositionIntent.SELL_TO_OPEN)
    elif request.side is OrderSide.BUY:
        opens = held >= 0
    else:
        opens = held <= 0
    option = parse_occ_symbol(request.symbol.strip().upper())
    kind = "call" if option is not None and option.is_call else "put"
    if not opens:
        return OptionAction(False, LEVEL_CLOSE, f"closing a {kind} position")
    if request.side is OrderSide.BUY:
        return OptionAction(True, LEVEL_LONG, f"buying a {kind}")
    covered = "covered call" if kind == "call" else "cash-secured put"
    return OptionAction(True, LEVEL_COVERED, f"selling a {covered}")


def _check_level(need: int, what: str, state: RiskState, account: str | None) -> None:
    figures = state.account
    level = None if figures is None else figures.options_level
    if level is None or level >= need:
        return
    if level <= 0:
        reason = "options trading is disabled for this account (options level 0)"
    else:
        reason = f"{what} needs options level {need}, the account has level {level}"
    raise refusal(
        "options_level",
        f"{reason}. Fix: ask the broker for a higher options level, or trade within it",
        account,
    )


def _check_options_cost(
    cost: Decimal | None, what: str, state: RiskState, account: str | None
) -> None:
    figures = state.account
    power = None if figures is None else figures.options_buying_power
    if cost is None or power is None or cost <= power:
        return
    raise refusal(
        "options_buying_power",
        f"{what} costs {cost:.2f} and the options buying power is {power:.2f}. Fix: reduce the "
        "order or free buying power",
        account,
    )


def _check_covered_call(
    request: OrderRequest, qty: Decimal, state: RiskState, account: str | None
) -> None:
    """A call sold to open needs the underlying's shares behind every short call."""
    option = parse_occ_symbol(request.symbol.strip().upper())
    if option is None or not option.is_call:
        return
    multiplier = state.multiplier(request.symbol)
    shares = state.position(option.underlying)
    short_calls = _ZERO
    underlying = underlying_key(request.symbol)
    for symbol, held in state.positions.items():
        other = parse_occ_symbol(symbol)
        if other is None or not other.is_call or held >= 0:
            continue
        if underlying_key(symbol) == underlying:
            short_calls += -held * state.multiplier(symbol)
    needed = short_calls + qty * multiplier
    if shares >= needed:
        return
    raise refusal(
        "options_level",
        f"selling {qty} {request.symbol} to open needs {needed} {option.underlying} shares to "
        f"cover every short call, the account holds {shares}; uncovered calls are not "
        "offered. Fix: hold the shares first, or sell fewer calls",
        account,
    )


def check_option_order(
    request: OrderRequest,
    qty: Decimal,
    price: Decimal | None,
    state: RiskState,
    account: str | None,
) -> None:
    """The options level, covered calls and options buying power of a single-leg option order
    of ``qty`` contracts valued at ``price`` per share (None: unknown)."""
    action = option_action(request, state)
    _check_level(action.level, action.what, state, account)
    if not action.opens:
        return
    multiplier = state.multiplier(request.symbol)
    if request.side is OrderSide.BUY:
        cost = None if price is None else qty * price * multiplier
        _check_options_cost(cost, f"buying {qty} {request.symbol}", state, account)
        return
    _check_covered_call(request, qty, state, account)
    option = parse_occ_symbol(request.symbol.strip().upper())
    if option is not None and not option.is_call:
        cost = option.strike * multiplier * qty
        _check_options_cost(cost, f"securing {qty} {request.symbol} with cash", state, account)


def check_multi_leg_options(
    request: MultiLegOrderRequest, state: RiskState, account: str | None
) -> None:
    """A multi-leg order needs options level 3, and its net debit the options buying power."""
    _check_level(LEVEL_SPREADS, "a multi-leg (spread) order", state, account)
    if request.limit_price is None or request.limit_price <= 0:
        return  # a credit (or an unknown market price): its margin is the venue's to judge
    legs = [leg.symbol for leg in request.legs]
    multiplier = max((state.multiplier(symbol) for symbol in legs), default=CONTRACT_MULTIPLIER)
    debit = request.limit_price * request.qty * multiplier
    _check_options_cost(debit, f"the spread's net debit of {request.qty}", state, account)


def check_max_contracts(contracts: Decimal, limit: int | None, account: str | None) -> None:
    """``max_contracts``: the option contracts one order trades."""
    if limit is not None and contracts > limit:
        raise refusal(
            "max_contracts",
            f"the order trades {contracts} option contracts, beyond the limit {limit}. Fix: "
            "split the order or raise max_contracts",
            account,
        )


def check_crypto_order(
    request: OrderRequest,
    qty: Decimal | None,
    price: Decimal | None,
    state: RiskState,
    account: str | None,
) -> None:
    """Crypto is never short and never bought on margin."""
    symbol = request.symbol.strip().upper()
    if request.side is OrderSide.SELL:
        held = state.position(symbol) - pending(state, symbol, OrderSide.SELL)
        if qty is not None and held - qty < 0:
            raise refusal(
                "crypto_shorting",
                f"selling {qty} {symbol} would take the position to {held - qty} (counting open "
                "sells); crypto cannot be sold short. Fix: sell at most the quantity held and "
                "not already being sold",
                account,
            )
        return
    figures = state.account
    power = None if figures is None else figures.crypto_buying_power
    if request.notional is not None:
        cost: Decimal | None = request.notional
    else:
        cost = None if qty is None or price is None else qty * price
    if power is not None and cost is not None and cost > power:
        raise refusal(
            "crypto_buying_power",
            f"buying {symbol} costs {cost:.2f} and crypto is bought with cash only: the "
            f"non-marginable buying power is {power:.2f}. Fix: reduce the order",
            account,
        )
