"""``Store``: broker state and correctness results in PostgreSQL or SQLite, as ONE class.

``Store`` is assembled from the parts of the store, each a mixin of ``base.StoreBase`` (the
engine, transactions, error translation) and each in a module a reader can hold:

* ``writes.Writes``: ``apply_batch`` / ``apply`` (one transaction per page or event) and
  ``mark_external``; with ``holdings.HoldingWrites`` (snapshot, positions, ``set_position``) and
  ``fees.FeeWrites`` (fees counted once, ``attach_fee``);
* ``account_reads.AccountReads`` over ``order_reads.OrderReads``: every read, and ``dump``;
* ``results.ResultRows``: the checks' rows (stream gaps, quality, quarantine, reconciliation,
  exposure, risk breaches);
* ``ledger_rows.LedgerRows``: the ledger's rows (lots, matches, income, daily P&L, returns).

Mixins rather than composition: each public method is written once, in its own part, with its
own signature; composition would repeat every signature in a delegating facade (the very
repetition this layout removes), and each part type-checks against the shell alone.

Imports the ``storage`` parts; never the client, the cache, the sync engine, the CLI or Prefect.
"""

from __future__ import annotations

from alpaca_integration.storage.account_reads import AccountReads
from alpaca_integration.storage.ledger_rows import LedgerRows
from alpaca_integration.storage.results import ResultRows
from alpaca_integration.storage.writes import Writes

__all__ = ["Store"]


class Store(Writes, AccountReads, ResultRows, LedgerRows):
    """Broker state and correctness results in PostgreSQL or SQLite.

    Open with ``await Store.open(url)`` (SQLite is migrated on first use; PostgreSQL only with
    ``migrate=True`` or ``alpacactl db upgrade``); close with ``await store.aclose()`` or use
    ``async with``. Every method takes the configured account name first. See docs/storage.md.
    """
