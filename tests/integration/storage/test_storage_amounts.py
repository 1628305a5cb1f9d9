"""Amounts are exact on both databases: compared exactly by the monotonic upserts and sorts, and
stored and read back exactly for every value the validation accepts (|x| < 1e12, rounded half
away from zero beyond 18 decimals)."""

from __future__ import annotations

import functools
import itertools
from decimal import ROUND_HALF_UP, Context, Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from alpaca_integration.errors import StorageError
from alpaca_integration.models import OrderStatus
from alpaca_integration.storage import Store
from alpaca_integration.storage.dialect import Amount, amount_order
from support.storage_builders import make_order, make_position, rest_fill, stream_fill

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


_SIGNIFICANT_DIGITS = 38


def _amounts() -> st.SearchStrategy[Decimal]:
    """Amounts the columns hold: below 1e20, at most 18 decimals (up to 38 digits)."""
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


# What the validation accepts (quality.MAX_MAGNITUDE): below 1e12, any number of decimals; the
# store keeps 18 of them, rounded half away from zero.
_KEPT = Decimal("1e-18")
_WIDE = Context(prec=80)


@st.composite
def _validated_amounts(draw: st.DrawFn) -> Decimal:
    """Below 1e12, 0 to 24 decimals, either sign: up to 36 digits (30 kept)."""
    whole = draw(st.integers(0, 10**12 - 1))
    places = draw(st.integers(0, 24))
    fraction = draw(st.integers(0, 10**places - 1))
    sign = draw(st.sampled_from(("", "-")))
    return Decimal(f"{sign}{whole}.{fraction:0{places}d}" if places else f"{sign}{whole}")


_accounts = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=_validated_amounts())
@example(value=Decimal("123456789012.123456789012345678"))
@example(value=Decimal("-999999999999.9999999999999999995"))
@example(value=Decimal("0.0000000000000000005"))
async def test_every_amount_the_validation_accepts_reads_back_exactly(
    store: Store, value: Decimal
) -> None:
    """Up to 12 integer digits and any decimals: read back exactly, rounded at 18 decimals."""
    account = f"amounts-{next(_accounts)}"
    position = make_position(
        "AAPL", str(value), avg_entry_price=value, cost_basis=value, market_value=value
    )
    await store.apply(account, positions=[position])
    [stored] = await store.positions(account)
    kept = value.quantize(_KEPT, rounding=ROUND_HALF_UP, context=_WIDE)
    read = (stored.qty, stored.avg_entry_price, stored.cost_basis, stored.market_value)
    assert read == (kept, kept, kept, kept)
    assert stored.qty.as_tuple().exponent >= 0 or stored.qty.as_tuple().digits[-1] != 0


async def test_cum_qtys_differing_in_their_30th_digit_are_two_executions(store: Store) -> None:
    """Two executions whose cum_qty differ only in the 30th significant digit stay two rows."""
    first, second = "123456789012.123456789012345677", "123456789012.123456789012345678"
    fills = [
        stream_fill("o-1", "x-1", first, first, "0.01"),
        stream_fill("o-1", "x-2", second, "0.000000000000000001", "0.01"),
    ]
    assert (await store.apply("default", fills=fills)).fills == 2
    stored = [f.cum_qty for f in await store.fills_for_order("default", "o-1")]
    assert stored == [Decimal(first), Decimal(second)]


async def test_cum_qtys_the_store_keeps_as_one_amount_are_one_execution(store: Store) -> None:
    """Reports whose cum_qty differ only past the 18th decimal are one execution, as stored."""
    stream = stream_fill("o-1", "x-1", "1.0000000000000000001", "1", "10")
    rest = rest_fill("o-1", "a-1", "1.0000000000000000002", "1", "10")
    assert (await store.apply("default", fills=[stream, rest])).fills == 1
    [stored] = await store.fills_for_order("default", "o-1")
    assert (stored.cum_qty, stored.execution_id, stored.activity_id) == (Decimal(1), "x-1", "a-1")


async def test_an_amount_of_more_than_20_integer_digits_is_refused(store: Store) -> None:
    """Both databases refuse what NUMERIC(38, 18) cannot hold, with a StorageError."""
    huge = make_position("AAPL", "1", market_value=Decimal(10**20))
    with pytest.raises(StorageError):
        await store.apply("default", positions=[huge])
    assert await store.positions("default") == []
