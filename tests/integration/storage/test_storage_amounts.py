"""Amounts are exact on both databases: compared exactly by the monotonic upserts and sorts, and
stored and read back exactly for every value the validation accepts (|x| < 1e12, rounded half
away from zero beyond 18 decimals)."""

from __future__ import annotations

import functools
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpaca_integration.models import OrderStatus
from alpaca_integration.storage import Store
from alpaca_integration.storage.dialect import Amount, amount_order
from support.storage_builders import make_order, stream_fill

# 18 significant digits: a double cannot tell these apart (its spacing here is ~1.5e-8).
_BEFORE = Decimal("123456789.123456788")
_AFTER = Decimal("123456789.123456789")


async def test_an_order_filling_past_the_15th_digit_moves_forward(store: Store) -> None:
    """At the same instant and status, a larger filled_qty differing only in its last digit wins."""
    fields = {"status": OrderStatus.PARTIALLY_FILLED, "qty": Decimal(200_000_000)}
    await store.apply("default", orders=[make_order(filled_qty=_BEFORE, **fields)])
    result = await store.apply("default", orders=[make_order(filled_qty=_AFTER, **fields)])
    stored = await store.get_order("default", "o-1")
    assert stored is not None
    assert (result.orders, stored.filled_qty) == (1, _AFTER)


async def test_fills_sort_by_their_exact_cumulative_quantity(store: Store) -> None:
    """An order's executions come back in cum_qty order even when they differ by 1e-10 at 1e8
    (equal as doubles, and in the opposite order as text)."""
    first, second = Decimal("99999999.9999999999"), Decimal(100_000_000)
    await store.apply("default", fills=[stream_fill("o-1", "x-2", str(second), "1e-10", "0.01")])
    await store.apply("default", fills=[stream_fill("o-1", "x-1", str(first), str(first), "0.01")])
    assert [f.cum_qty for f in await store.fills_for_order("default", "o-1")] == [first, second]


_SIGNIFICANT_DIGITS = 28


def _amounts() -> st.SearchStrategy[Decimal]:
    """Amounts the columns hold (below 1e20, at most 18 decimals), of up to 28 digits."""
    units = st.integers(-(10**_SIGNIFICANT_DIGITS) + 1, 10**_SIGNIFICANT_DIGITS - 1)
    return st.builds(
        lambda unit, places: Decimal(f"{unit}e-{places}"), units, st.integers(0, 18)
    ).filter(lambda value: abs(value) < 10**20)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pair=st.tuples(_amounts(), _amounts()))
async def test_stored_amounts_compare_in_sql_exactly_as_decimals(
    store: Store, pair: tuple[Decimal, Decimal]
) -> None:
    """The SQL order of two amounts (SQLite: their text key) is the order of the decimals."""
    a, b = pair
    left, right = sa.bindparam("a", a, type_=Amount), sa.bindparam("b", b, type_=Amount)
    key = functools.partial(amount_order, store.dialect)
    query = sa.select(key(left) < key(right), key(left) == key(right), left == right)
    async with store.engine.connect() as connection:
        row = (await connection.execute(query)).one()
    assert tuple(bool(v) for v in row) == (a < b, a == b, a == b)
