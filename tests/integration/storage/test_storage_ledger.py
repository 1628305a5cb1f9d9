"""The ledger's tables: rows written by ``write_ledger`` read back exactly, idempotently, on
PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from alpaca_integration.storage import LedgerWrite, Store
from support.storage_builders import at

DAY = dt.date(2026, 3, 2)


def _match(seq: int, gross: str, *, symbol: str = "AAPL", fee: str = "0.01") -> dict[str, Any]:
    return {
        "seq": seq,
        "sleeve": "default",
        "symbol": symbol,
        "open_fill_id": f"f-{seq}-open",
        "close_fill_id": f"f-{seq}-close",
        "qty": Decimal("0.333333333"),
        "open_price": Decimal("187.123456789"),
        "close_price": Decimal("190"),
        "multiplier": Decimal(1),
        "gross": Decimal(gross),
        "open_fee": Decimal(fee),
        "close_fee": Decimal("0.000000001"),
        "opened_at": at(0),
        "closed_at": at(60 * (seq + 1)),
        "kind": "trade",
    }


def _lot(seq: int, qty: str, *, sleeve: str = "default", symbol: str = "AAPL") -> dict[str, Any]:
    return {
        "sleeve": sleeve,
        "symbol": symbol,
        "seq": seq,
        "open_fill_id": f"lot-{seq}",
        "qty": Decimal(qty),
        "cost": Decimal(qty) * Decimal("187.5"),
        "fee": Decimal("0.005"),
        "multiplier": Decimal(1),
        "opened_at": at(seq),
    }


def _daily(gross: str, *, day: dt.date = DAY) -> dict[str, Any]:
    return {
        "day": day,
        "sleeve": "default",
        "symbol": "AAPL",
        "realized_gross": Decimal(gross),
        "fees": Decimal("0.020000002"),
        "realized_net": Decimal(gross) - Decimal("0.020000002"),
        "income": Decimal("1.23"),
        "matches": 2,
    }


def _write(**fields: Any) -> LedgerWrite:
    state = {"method": "fifo", "fills": 4, "activities": 1, "matches": 2, "checkpoint": at(120)}
    return LedgerWrite(state=state, **fields)


async def test_ledger_rows_round_trip_exactly_and_a_rewrite_changes_nothing(store: Store) -> None:
    """Matches, lots, income, daily P&L and returns come back with every digit; writing the
    same update again leaves the same rows (idempotent)."""
    income = {
        "activity_id": "div-1",
        "sleeve": "default",
        "symbol": "AAPL",
        "activity_type": "DIV",
        "kind": "dividend",
        "amount": Decimal("1.23"),
        "at": at(90),
    }
    returns = [
        {
            "day": DAY,
            "equity": Decimal("100000.01"),
            "flow": Decimal(0),
            "daily_return": Decimal("0.000123456789"),
            "cumulative_return": Decimal("0.000123456789"),
        }
    ]
    write = _write(
        matches=[_match(0, "0.95"), _match(1, "-2.000000000123")],
        books=[("default", "AAPL")],
        lots=[_lot(0, "5"), _lot(1, "-0.5")],
        income=[income],
        daily=[_daily("-1.050000000123")],
        returns=returns,
    )
    for _ in range(2):
        await store.write_ledger("default", write)
        matches = await store.ledger_matches("default")
        assert [m["gross"] for m in matches] == [Decimal("0.95"), Decimal("-2.000000000123")]
        assert matches[0]["open_price"] == Decimal("187.123456789")
        assert matches[0]["closed_at"] == at(60)
        lots = await store.ledger_lots("default")
        assert [(lot["seq"], lot["qty"]) for lot in lots] == [(0, Decimal(5)), (1, Decimal("-0.5"))]
        assert (await store.ledger_income("default"))[0]["amount"] == Decimal("1.23")
        (daily,) = await store.ledger_daily_pnl("default")
        assert daily == _daily("-1.050000000123")
        assert await store.ledger_matches_at("default", [1, 7]) == [matches[1]]
        assert (await store.ledger_returns("default")) == returns
        state = await store.ledger_state("default")
        assert state is not None
        assert (state["matches"], state["checkpoint"]) == (2, at(120))


async def test_a_book_rewrite_replaces_only_that_books_lots(store: Store) -> None:
    await store.write_ledger(
        "default",
        _write(
            books=[("default", "AAPL"), ("momo", "MSFT")],
            lots=[_lot(0, "5"), _lot(0, "3", sleeve="momo", symbol="MSFT")],
        ),
    )
    await store.write_ledger("default", _write(books=[("default", "AAPL")], lots=[_lot(0, "2")]))
    lots = await store.ledger_lots("default")
    assert [(lot["symbol"], lot["qty"]) for lot in lots] == [
        ("AAPL", Decimal(2)),
        ("MSFT", Decimal(3)),
    ]
    assert await store.ledger_lots("default", "MSFT") == [lots[1]]


async def test_a_days_row_is_replaced_by_its_new_totals(store: Store) -> None:
    await store.write_ledger(
        "default", _write(daily=[_daily("5"), _daily("1", day=DAY.replace(day=3))])
    )
    await store.write_ledger("default", _write(daily=[_daily("8")]))
    assert [r["realized_gross"] for r in await store.ledger_daily_pnl("default")] == [8, 1]
    assert [
        r["day"].day for r in await store.ledger_daily_pnl("default", since=DAY.replace(day=3))
    ] == [3]


async def test_replace_removes_every_ledger_row_of_that_account_only(store: Store) -> None:
    await store.write_ledger(
        "default", _write(matches=[_match(0, "1"), _match(1, "2")], daily=[_daily("3")])
    )
    await store.write_ledger("other", _write(matches=[_match(0, "7")]))
    await store.write_ledger("default", _write(matches=[_match(0, "3")], replace=True))
    assert [m["gross"] for m in await store.ledger_matches("default")] == [Decimal(3)]
    assert [m["gross"] for m in await store.ledger_matches("other")] == [Decimal(7)]
    assert await store.ledger_daily_pnl("default") == []
    assert await store.ledger_source_counts("default") == (0, 0)
