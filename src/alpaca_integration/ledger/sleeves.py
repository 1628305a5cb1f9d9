"""Which strategy (sleeve) an order belongs to, read from its ``client_order_id``.

The convention extends the integration's own: every order it places has a client_order_id that
starts with ``ai-`` (``models.INTEGRATION_PREFIX``; the store and reconciliation use that prefix to
tell the integration's orders from external ones). A strategy-tagged order reads
``ai-<strategy>-<unique part>``, which is exactly what ``models.new_client_order_id(prefix)`` makes
from ``prefix = strategy_prefix("momentum")`` (``"ai-momentum"``), so such orders still count as the
integration's. A plain ``ai-<hex>`` id, an id with a UUID after the prefix, or any id placed
elsewhere books to the default sleeve.

Imports only ``models`` from the package.
"""

from __future__ import annotations

import re

import msgspec

from alpaca_integration.models import INTEGRATION_PREFIX

__all__ = ["DEFAULT_SLEEVE", "SleeveConvention", "strategy_from_client_order_id", "strategy_prefix"]

DEFAULT_SLEEVE = "default"
"""Where every order without a strategy tag books its lots."""

# A strategy name: a letter, then letters, digits, "_" or "." (no "-": it separates the parts).
_STRATEGY = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,39}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def strategy_from_client_order_id(
    client_order_id: str | None,
    prefix: str = INTEGRATION_PREFIX,
    default: str = DEFAULT_SLEEVE,
) -> str:
    """The strategy named in ``<prefix><strategy>-<rest>``, else ``default``.

    ``rest`` must be non-empty; an id whose part after the prefix is a UUID (``ai-1b4e28ba-...``)
    is not read as a strategy, nor is a name that breaks the strategy rule (a letter first).
    """
    if not client_order_id or not client_order_id.startswith(prefix):
        return default
    tail = client_order_id[len(prefix) :]
    if _UUID.fullmatch(tail):
        return default
    strategy, separator, rest = tail.partition("-")
    if not separator or not rest or _STRATEGY.fullmatch(strategy) is None:
        return default
    return strategy


def strategy_prefix(strategy: str, prefix: str = INTEGRATION_PREFIX) -> str:
    """The ``new_client_order_id`` prefix that tags orders with ``strategy`` (``ai-momentum``).

    Raises ``ValueError`` for a name the parse would not read back.
    """
    if _STRATEGY.fullmatch(strategy) is None:
        raise ValueError(
            f"strategy {strategy!r}: use a letter, then letters, digits, '_' or '.' (max 40)"
        )
    return f"{prefix}{strategy}"


class SleeveConvention(msgspec.Struct, frozen=True, kw_only=True):
    """The configurable part of the convention: the prefix and the default sleeve's name."""

    prefix: str = INTEGRATION_PREFIX
    default_sleeve: str = DEFAULT_SLEEVE

    def sleeve_of(self, client_order_id: str | None) -> str:
        return strategy_from_client_order_id(client_order_id, self.prefix, self.default_sleeve)
