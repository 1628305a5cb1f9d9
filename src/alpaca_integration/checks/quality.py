"""Data quality: the rules over the store, their runner, and the validation they build on.

* **Validation before storage** (``validate_*``, :func:`split_page`, :func:`screen`,
  :class:`Quarantined`) lives in :mod:`alpaca_integration.sync.validation`, because sync runs it
  on every record and sync must not import the checks; it is re-exported here so one module
  names everything about data quality.
* **Quality rules over the store** (``alpacactl dq``, the account flow): :func:`load_state` reads
  one account's stored state, :func:`evaluate_rules` (``checks.quality_rules``, pure) finds what
  is wrong, :func:`run_rules` writes each finding as a ``quality_results`` row under one run id.

Imports ``models``, ``checks.quality_rules`` and ``sync.validation``; the store is reached only
through the methods :func:`load_state` names. Never the client, the simulator, the flows or the CLI.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from alpaca_integration.checks import quality_rules as _rules
from alpaca_integration.checks.quality_rules import *  # noqa: F403  (the rules this module runs)
from alpaca_integration.checks.quality_rules import QualityResult, StoreState, evaluate_rules
from alpaca_integration.sync import validation as _validation
from alpaca_integration.sync.ports import QualityStore
from alpaca_integration.sync.validation import *  # noqa: F403  (validation belongs here too)

__all__ = [*_rules.__all__, "load_state", "run_rules", *_validation.__all__]


async def load_state(store: QualityStore, account: str) -> StoreState:
    """Read what the rules need of one account from the store."""
    orders = tuple(await store.list_orders(account))
    fills = tuple(await store.list_fills(account))
    positions = tuple(await store.positions(account))
    snapshot = await store.latest_snapshot(account)
    checkpoint = await store.get_checkpoint(account, "activities")
    return StoreState(
        account=account,
        orders=orders,
        fills=fills,
        positions=positions,
        snapshot=snapshot,
        fill_history_complete=checkpoint is not None,
        activities=tuple(await store.list_activities(account)),
    )


async def run_rules(
    store: QualityStore,
    account: str,
    *,
    now: dt.datetime,
    update_interval: dt.timedelta = dt.timedelta(seconds=60),
    equity_tolerance: Decimal = Decimal("0.01"),
    save: bool = True,
) -> list[QualityResult]:
    """Run every rule over one account's stored state; write the results to ``quality_results``
    under one run id (unless ``save`` is false) and return them (the flows log them)."""
    state = await load_state(store, account)
    results = evaluate_rules(
        state, now=now, update_interval=update_interval, equity_tolerance=equity_tolerance
    )
    run_id = f"dq-{account}-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
    results = [msgspec.structs.replace(r, run_id=run_id) for r in results]
    if save and results:
        await store.insert_quality_results(results)
    return results
