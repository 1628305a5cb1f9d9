"""The ledger updater over a real store: incremental updates leave exactly the rows a rebuild
from scratch writes, whatever the batching and however late an older fill arrives."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from alpaca_integration.ledger import Ledger
from alpaca_integration.ledger.rows import match_from_row
from alpaca_integration.ledger.updater import LedgerUpdater
from alpaca_integration.models import Fill
from alpaca_integration.storage import Store
from support.ledger_fills import ledger_fill
from support.storage_builders import at, make_activity, make_snapshot

_accounts = itertools.count()


async def _rows(store: Store, account: str) -> dict[str, Any]:
    state = await store.ledger_state(account)
    assert state is not None
    return {
        "matches": await store.ledger_matches(account),
        "lots": await store.ledger_lots(account),
        "income": await store.ledger_income(account),
        "daily": await store.ledger_daily_pnl(account),
        "returns": await store.ledger_returns(account),
        "state": {k: state[k] for k in ("method", "fills", "activities", "matches", "checkpoint")},
    }


@st.composite
def _fill_batches(draw: st.DrawFn) -> list[list[Fill]]:
    count = draw(st.integers(1, 10))
    fills = []
    seconds = 0
    for n in range(count):
        seconds += draw(st.integers(0, 3)) * 3600
        fills.append(
            ledger_fill(
                n,
                draw(st.sampled_from(["buy", "sell"])),
                draw(st.integers(1, 5)),
                draw(st.sampled_from(["10", "10.25", "11.5", "9.99"])),
                seconds,
                symbol=draw(st.sampled_from(["AAPL", "MSFT"])),
                fee=draw(st.sampled_from(["0", "0.01", "0.333"])),
                coid=draw(st.sampled_from(["ai-o", "ai-momo-1", "manual"])) + f"-{n}",
            )
        )
    # Deliver in random batches and a random order: a later batch may hold an older fill.
    order = draw(st.permutations(fills))
    cuts = sorted(draw(st.lists(st.integers(1, count), max_size=4)))
    bounds = [0, *cuts, count]
    return [list(order[a:b]) for a, b in itertools.pairwise(bounds) if a < b]


@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=_fill_batches())
async def test_incremental_updates_write_the_rows_a_rebuild_writes(
    store: Store, batches: list[list[Fill]]
) -> None:
    """After every batch the updater brings the rows up to date; at the end they equal a rebuild
    from scratch, a fresh process resuming changes nothing, and the matches are the pure
    ledger's over the same fills."""
    account = f"prop-{next(_accounts)}"
    updater = LedgerUpdater(store, account)
    for batch in batches:
        await store.apply(account, fills=batch)
        await updater.update()
    incremental = await _rows(store, account)
    assert (await LedgerUpdater(store, account).update()).matches == 0
    assert await _rows(store, account) == incremental
    await LedgerUpdater(store, account).rebuild()
    assert await _rows(store, account) == incremental
    gross = sum((row["gross"] for row in incremental["matches"]), Decimal(0))
    assert sum((row["realized_gross"] for row in incremental["daily"]), Decimal(0)) == gross
    assert sum(row["matches"] for row in incremental["daily"]) == len(incremental["matches"])
    every_fill = [fill for batch in batches for fill in batch]
    pure = Ledger.rebuild(every_fill, account=account)
    assert [match_from_row(account, row) for row in incremental["matches"]] == list(pure.matches())


async def test_a_late_older_fill_makes_the_update_rebuild(store: Store) -> None:
    """A fill older than the checkpoint stored after it moved: the update notices (the store
    holds more fills than it applied) and rebuilds; FIFO then closes the older lot."""
    updater = LedgerUpdater(store, "default")
    await store.apply("default", fills=[ledger_fill(1, "buy", 5, "10", 0)])
    assert (await updater.update()).reason == "no stored ledger"
    await store.apply("default", fills=[ledger_fill(3, "sell", 5, "12", 60)])
    assert not (await updater.update()).rebuilt
    await store.apply("default", fills=[ledger_fill(2, "buy", 5, "11", 30)])
    report = await updater.update()
    assert report.rebuilt
    assert "older" in report.reason
    (match,) = await store.ledger_matches("default")
    assert (match["open_fill_id"], match["gross"]) == ("x-1", Decimal(10))
    (lot,) = await store.ledger_lots("default")
    assert (lot["open_fill_id"], lot["cost"]) == ("x-2", Decimal(55))


async def test_returns_and_income_are_written_from_snapshots_and_activities(store: Store) -> None:
    """Equity per day from the snapshots, the deposit counted as a flow (not a return), and a
    dividend booked as income on the day's P&L row."""
    account = "default"
    days = [dt.timedelta(days=d) for d in range(3)]
    for day, equity in zip(days, ["1000", "1100", "2100"], strict=True):
        await store.apply(
            account, snapshot=make_snapshot(equity=Decimal(equity), observed_at=at(3600) + day)
        )
    deposit = make_activity(
        id="dep-1",
        activity_type="CSD",
        activity_subtype=None,
        symbol=None,
        net_amount=Decimal(1000),
        date=(at(3600) + days[2]).date(),
    )
    await store.apply(account, activities=[make_activity(), deposit])
    await LedgerUpdater(store, account).update()
    returns = await store.ledger_returns(account)
    assert [r["daily_return"] for r in returns] == [Decimal("0.1"), Decimal(0)]
    assert [r["flow"] for r in returns] == [Decimal(0), Decimal(1000)]
    assert returns[-1]["cumulative_return"] == Decimal("0.1")
    (daily,) = await store.ledger_daily_pnl(account)
    assert daily["income"] == make_activity().net_amount


async def test_a_crypto_fee_posted_after_its_sell_reaches_the_stored_match(store: Store) -> None:
    """Alpaca posts a CFEE at the end of the day, after the sell it charges was stored and
    matched. A new process's first update (``alpacactl pnl``, a restarted monitor) rewrites
    that stored match with the fee as its close fee, as a rebuild would (it kept 0 before)."""
    buy = ledger_fill(1, "buy", 1, "40000", 0, symbol="BTC/USD")
    sell = ledger_fill(2, "sell", 1, "41000", 60, symbol="BTC/USD")
    await store.apply("default", fills=[buy, sell])
    await LedgerUpdater(store, "default").update()
    [before] = await store.ledger_matches("default")
    assert before["close_fee"] == 0
    fee = make_activity(
        id="20260303000000000::cfee-2",
        activity_type="CFEE",
        activity_subtype=None,
        date=at(0).date(),
        transaction_time=at(12 * 3600),
        net_amount=Decimal("-102.5"),
        qty=None,
        per_share_amount=None,
        price=Decimal("41000"),
        symbol="BTCUSD",
        order_id="o-2",
    )
    await store.apply("default", activities=[fee])
    assert not (await LedgerUpdater(store, "default").update()).rebuilt
    [after] = await store.ledger_matches("default")
    assert after["close_fee"] == Decimal("102.5")
    resumed = await _rows(store, "default")
    await LedgerUpdater(store, "default").rebuild()
    assert await _rows(store, "default") == resumed
