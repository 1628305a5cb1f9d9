"""Ledger jobs for the monitor and the CLI: bring the stored ledger up to date, read it back.

``refresh_ledgers`` runs ``ledger.updater.LedgerUpdater`` for each account (``rebuild`` replaces
every ledger row from scratch); ``save_portfolio_history`` stores Alpaca's equity series (the
performance figures' days without a snapshot); ``stored_ledgers`` refreshes and then reads each account's
``StoredLedger`` (what ``alpacactl pnl/lots/performance/report/export`` show). The monitor's
periodic cycle calls ``update_account_ledger`` after each account sync, with one updater per
account kept for the life of the process (so later updates are incremental).

Imports config, the ledger and ``monitor.runtime``; never the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from alpaca_integration.ledger.records import MatchingMethod
from alpaca_integration.ledger.stored import StoredLedger, load_stored_ledger
from alpaca_integration.ledger.updater import LedgerUpdate, LedgerUpdater
from alpaca_integration.models import PortfolioHistory
from alpaca_integration.monitor.runtime import opened_store

if TYPE_CHECKING:
    from alpaca_integration.storage import Store


__all__ = [
    "refresh_ledgers",
    "save_portfolio_history",
    "stored_ledgers",
    "update_account_ledger",
]

log = logging.getLogger(__name__)


async def update_account_ledger(
    store: Store, account: str, updaters: dict[str, LedgerUpdater], *, method: str = "fifo"
) -> LedgerUpdate | None:
    """One account's ledger brought up to date; a failure is logged, never raised (the ledger
    is derived: the next cycle, or a rebuild, repairs it)."""
    updater = updaters.get(account)
    if updater is None:
        updater = updaters[account] = LedgerUpdater(store, account, method=MatchingMethod(method))
    try:
        return await updater.update()
    except Exception:
        updaters.pop(account, None)
        log.exception("ledger update failed for account %s", account)
        return None


def _updater(store: Store, name: str, methods: Mapping[str, str]) -> LedgerUpdater:
    return LedgerUpdater(store, name, method=MatchingMethod(methods.get(name, "fifo")))


async def refresh_ledgers(
    database_url: str,
    accounts: Sequence[str] = (),
    *,
    rebuild: bool = False,
    methods: Mapping[str, str] | None = None,
) -> list[LedgerUpdate]:
    """Each named account's ledger (none named: every account in the store) up to date;
    ``methods`` maps account names to their matching method (default FIFO)."""
    async with opened_store(database_url) as store:
        names = list(accounts) or list(await store.list_accounts())
        reports = []
        for name in names:
            updater = _updater(store, name, methods or {})
            reports.append(await (updater.rebuild() if rebuild else updater.update()))
        return reports


async def stored_ledgers(
    database_url: str,
    accounts: Sequence[str] = (),
    *,
    since: Any = None,
    methods: Mapping[str, str] | None = None,
) -> list[StoredLedger]:
    """Refresh (see ``refresh_ledgers``), then read each account's stored ledger."""
    async with opened_store(database_url) as store:
        names = list(accounts) or list(await store.list_accounts())
        out = []
        for name in names:
            await _updater(store, name, methods or {}).update()
            out.append(await load_stored_ledger(store, name, since=since))
        return out


async def save_portfolio_history(database_url: str, account: str, history: PortfolioHistory) -> int:
    """Store a portfolio history fetched from Alpaca (``alpacactl performance --fetch-history``);
    returns the number of points written (fetching a period again replaces its points)."""
    async with opened_store(database_url) as store:
        return int(await store.save_portfolio_history(account, history))
