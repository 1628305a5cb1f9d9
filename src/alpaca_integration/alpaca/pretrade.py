"""The pre-trade hook the client runs before placing or replacing an order.

The client knows no risk policy: a check is injected (``PreTradeCheck``), built from an account's
limits by ``checks.risk.make_pre_trade_check`` and installed by ``client_for_account``. A check
refuses by raising (usually ``RiskLimitError``) before any request is sent.

This module imports only ``models`` and ``alpaca.requests`` from the package; never risk (or any
check), httpx, storage or sync.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from alpaca_integration.alpaca.requests import replaced_order_request
from alpaca_integration.models import Order, OrderRequest, ReplaceRequest

if TYPE_CHECKING:
    from alpaca_integration.alpaca.client import AlpacaClient

__all__ = ["PreTradeCheck", "PreTradeCheckFactory", "ReplaceAwareCheck", "run_replace_check"]

PreTradeCheck = Callable[[OrderRequest], Awaitable[None]]
"""An async callable run before any request of ``submit_order`` and ``replace_order``; it refuses
by raising (e.g. ``RiskLimitError``). The client knows no risk policy: the check is injected
(``checks.risk.make_pre_trade_check`` builds one from an account's limits;
``client_for_account`` installs it). For a replace, a check that is also a
``ReplaceAwareCheck`` gets ``check_replace(old_order, replace_request)`` (so it can release the old
order's quantity); any other check is called with the order as it would be after the replace
(``requests.replaced_order_request``)."""

PreTradeCheckFactory = Callable[["AlpacaClient"], PreTradeCheck]
"""Builds a client's pre-trade check once the client exists (a check may read the broker through
the client it guards)."""


@runtime_checkable
class ReplaceAwareCheck(Protocol):
    """A pre-trade check that values a replace itself (old order released, new one counted)."""

    async def check_replace(self, old: Order, change: ReplaceRequest) -> None: ...


async def run_replace_check(check: PreTradeCheck, old: Order, change: ReplaceRequest) -> None:
    """Check a replace of ``old``: ``check_replace`` when the check has it, else the check on the
    order as it would be after the replace."""
    if isinstance(check, ReplaceAwareCheck):
        await check.check_replace(old, change)
        return
    await check(replaced_order_request(old, change))
