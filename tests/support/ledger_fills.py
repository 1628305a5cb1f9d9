"""Fills and a small stored session for the stored-ledger tests (CLI, report, browser)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from alpaca_integration.models import Fill, OrderSide
from support.storage_builders import at, make_activity, make_fill, make_position, make_snapshot

__all__ = ["DAY", "DIVIDEND", "ledger_fill", "store_ledger_session"]


def ledger_fill(n: int, side: str, qty: int, price: str, seconds: int, **kw: Any) -> Fill:
    """Execution ``x-<n>`` of order ``o-<n>``: ``qty`` at ``price``, ``seconds`` after T0;
    ``coid`` sets the client_order_id (the strategy tag), ``fee`` the fee."""
    return make_fill(
        fill_id=f"x-{n}",
        execution_id=f"x-{n}",
        order_id=f"o-{n}",
        client_order_id=kw.pop("coid", f"ai-o{n}"),
        side=OrderSide(side),
        qty=Decimal(qty),
        cum_qty=Decimal(qty),
        price=Decimal(price),
        timestamp=at(seconds),
        fee=Decimal(kw.pop("fee", "0")),
        **kw,
    )


DAY = 24 * 3600
# Paid on the second day, while 20 AAPL are held (a date-only action counts from the day's start).
DIVIDEND = make_activity(symbol="AAPL", date=at(DAY).date())


async def store_ledger_session(url: str, *, with_checks: bool = False) -> None:
    """A small stored session in ``default``: AAPL bought 10 @ 100 (fee 1) and 10 @ 110, 15
    sold @ 120 (fee 0.5) the next day; MSFT 4 @ 50 bought by strategy ``momo`` and held; an AAPL
    dividend; equity 10000, 10100, 10050 on three days. ``with_checks`` adds an exposure
    measurement, a quality run and a reconciliation run (everything the report shows)."""
    from alpaca_integration.checks.exposure import measure_exposure
    from alpaca_integration.checks.quality import run_rules
    from alpaca_integration.storage import Store

    positions = [make_position("AAPL", "5"), make_position("MSFT", "4")]
    async with await Store.open(url, migrate=True) as store:
        await store.apply(
            "default",
            fills=[
                ledger_fill(1, "buy", 10, "100", 0, fee="1"),
                ledger_fill(2, "buy", 10, "110", 60),
                ledger_fill(3, "sell", 15, "120", DAY, fee="0.5"),
                ledger_fill(4, "buy", 4, "50", DAY + 60, symbol="MSFT", coid="ai-momo-4"),
            ],
            activities=[DIVIDEND],
            positions=positions,
        )
        for day, equity in enumerate(["10000", "10100", "10050"]):
            snapshot = make_snapshot(equity=Decimal(equity), observed_at=at(3600 + day * DAY))
            await store.apply("default", snapshot=snapshot)
        if not with_checks:
            return
        for day in range(3):
            when = at(3600 + day * DAY)
            await store.insert_exposure_snapshot(
                measure_exposure(positions, account="default", at=when)
            )
        await run_rules(store, "default", now=at(3 * DAY))
        run = await store.start_reconciliation_run("default", dry_run=True, started_at=at(3 * DAY))
        await store.finish_reconciliation_run(run, finished_at=at(3 * DAY + 5), summary={"ok": 4})
