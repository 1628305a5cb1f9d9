"""What every endpoint group shares: the transport, the time of an answer, bad-item delivery.

This module imports ``instruments`` and ``alpaca.{paging,transport}`` from the package; never
risk, storage or sync.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from collections.abc import Iterable
from typing import TypeVar

from alpaca_integration.alpaca.paging import BadItem, OnBadItem
from alpaca_integration.alpaca.transport import RestTransport, path_part
from alpaca_integration.instruments import is_crypto_symbol, plain_symbol

__all__ = ["EndpointGroup", "hand_over", "keep_good", "symbol_path_part"]

# The client's one logger, whichever module of the adapter speaks: users filter on one name.
log = logging.getLogger("alpaca_integration.alpaca.client")

_Good = TypeVar("_Good")


class EndpointGroup:
    """The base of every endpoint group: ``AlpacaClient`` sets ``_transport``."""

    _transport: RestTransport

    def _now(self) -> dt.datetime:
        """This host's time, as the stamp of an answer that carries none (an account snapshot)."""
        return dt.datetime.fromtimestamp(self._transport.clock(), dt.UTC)


def symbol_path_part(symbol_or_id: str, what: str) -> str:
    """A symbol (or id) as a path segment of the asset and position endpoints: a USD crypto pair
    in the venue's old spelling (``BTC/USD`` -> ``BTCUSD``), as its spec asks there; a coin pair
    (``BTC/USDT``) keeps its slash, escaped."""
    text = symbol_or_id.strip()
    if is_crypto_symbol(text) and text.upper().endswith("/USD"):
        text = plain_symbol(text)
    return path_part(text, what)


async def hand_over(on_bad_item: OnBadItem, item: BadItem) -> None:
    """Log ``item`` and give it to the hook (awaited when the hook is async)."""
    log.warning("%s %s skipped: %s", item.kind, item.key or "(no id)", item.reason)
    outcome = on_bad_item(item)
    if inspect.isawaitable(outcome):
        await outcome


async def keep_good(entries: Iterable[_Good | BadItem], on_bad_item: OnBadItem) -> list[_Good]:
    """The good entries of a split page, in order; each bad one handed to the hook on the way."""
    good: list[_Good] = []
    for entry in entries:
        if isinstance(entry, BadItem):
            await hand_over(on_bad_item, entry)
        else:
            good.append(entry)
    return good
