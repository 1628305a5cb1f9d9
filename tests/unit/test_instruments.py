"""What a symbol says about its instrument: OCC symbols parsed and formatted in one place, the
multiplier, the asset class and crypto precision."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alpaca_integration.instruments import (
    CONTRACT_MULTIPLIER,
    asset_class_of_symbol,
    contract_multiplier,
    crypto_qty,
    default_multiplier,
    format_occ_symbol,
    instrument_multiplier,
    looks_like_option_symbol,
    occ_symbol_problem,
    parse_occ_symbol,
    position_key,
)
from alpaca_integration.models import AssetClass, OptionType

D = Decimal

roots = st.from_regex(r"[A-Z][A-Z0-9.]{0,5}", fullmatch=True)
expiries = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))
strikes = st.integers(min_value=1, max_value=99_999_999).map(lambda n: D(n).scaleb(-3))
types = st.sampled_from(list(OptionType))


@given(root=roots, expiry=expiries, option_type=types, strike=strikes)
def test_occ_symbols_round_trip_through_format_and_parse(
    root: str, expiry: dt.date, option_type: OptionType, strike: Decimal
) -> None:
    """Any contract formats to a symbol that parses back to the same root, expiry, type and
    strike, and formatting the parsed parts gives the very same symbol."""
    symbol = format_occ_symbol(root, expiry, option_type, strike)
    parsed = parse_occ_symbol(symbol)
    assert parsed is not None
    assert (parsed.root, parsed.expiry, parsed.option_type, parsed.strike) == (
        root,
        expiry,
        option_type,
        strike,
    )
    assert format_occ_symbol(parsed.root, parsed.expiry, parsed.option_type, parsed.strike) == (
        symbol
    )
    assert occ_symbol_problem(symbol) is None
    assert asset_class_of_symbol(symbol) is AssetClass.US_OPTION


@given(text=st.text(alphabet="ABCPXZ0123456789./", max_size=24))
def test_parse_accepts_exactly_what_format_writes(text: str) -> None:
    """Whatever parses is written back unchanged by the formatter: there is one spelling."""
    parsed = parse_occ_symbol(text)
    if parsed is not None:
        assert format_occ_symbol(parsed.root, parsed.expiry, parsed.right, parsed.strike) == text
    else:
        assert occ_symbol_problem(text) is not None


def test_a_standard_symbol_reads_as_its_contract() -> None:
    """AAPL250620C00150000 is the AAPL 150 call expiring 2025-06-20 (root AAPL, a call)."""
    option = parse_occ_symbol("AAPL250620C00150000")
    assert option is not None
    assert (option.underlying, option.expiry, option.option_type, option.strike) == (
        "AAPL",
        dt.date(2025, 6, 20),
        OptionType.CALL,
        D(150),
    )
    assert (option.root, option.is_call) == ("AAPL", True)


@pytest.mark.parametrize(
    ("symbol", "reason"),
    [
        ("AAPL251332C00150000", "expiry 251332 is not a date"),
        ("AAPL250620X00150000", "does not have that shape"),
        ("AAPL250620C0015000", "does not have that shape"),
        ("aapl250620c00150000", "lower-case"),
        ("AAPL250620C00000000", "strike is zero"),
        ("TOOLONGROOT250620C00150000", "does not have that shape"),
    ],
)
def test_a_malformed_option_symbol_is_explained(symbol: str, reason: str) -> None:
    """A malformed OCC symbol is not parsed, and the problem names what is wrong with it."""
    assert parse_occ_symbol(symbol) is None
    problem = occ_symbol_problem(symbol)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize(
    ("root", "expiry", "strike", "named"),
    [
        ("AAPL", dt.date(2025, 6, 20), D("150.0005"), "strike"),
        ("AAPL", dt.date(2025, 6, 20), D(100_000), "strike"),
        ("AAPL", dt.date(2025, 6, 20), D(0), "strike"),
        ("AAPLXYZ", dt.date(2025, 6, 20), D(150), "root"),
        ("AAPL", dt.date(2100, 1, 1), D(150), "expiry"),
    ],
)
def test_formatting_refuses_what_an_occ_symbol_cannot_hold(
    root: str, expiry: dt.date, strike: Decimal, named: str
) -> None:
    """A strike past 3 decimals or 99999.999, a 7-letter root or a year past 2099 is refused,
    naming the part."""
    with pytest.raises(ValueError, match=named):
        format_occ_symbol(root, expiry, "put", strike)


def test_symbols_name_their_asset_class_and_multiplier() -> None:
    """Options are 100 per contract, equities and crypto pairs 1; an asset id names no class."""
    assert asset_class_of_symbol("BTC/USD") is AssetClass.CRYPTO
    assert asset_class_of_symbol("AAPL") is AssetClass.US_EQUITY
    assert asset_class_of_symbol("b0b6dd9d-8b9b-48a9-ba46-b9d54906e415") is AssetClass.UNKNOWN
    assert default_multiplier(AssetClass.US_OPTION) == CONTRACT_MULTIPLIER == D(100)
    assert default_multiplier(AssetClass.CRYPTO) == default_multiplier(AssetClass.US_EQUITY) == 1
    assert instrument_multiplier(AssetClass.UNKNOWN, "SPY250620P00500000") == D(100)
    assert instrument_multiplier(AssetClass.US_EQUITY, "SPY250620P00500000") == D(1)
    assert contract_multiplier("SPY250620P00500000", {"SPY250620P00500000": D(10)}) == D(10)


def test_only_symbols_with_six_digits_in_a_row_are_meant_as_options() -> None:
    """Tickers, pairs and asset ids are not option attempts; a near-OCC symbol is."""
    assert looks_like_option_symbol("AAPL251332C00150000")
    assert not looks_like_option_symbol("BRK.B")
    assert not looks_like_option_symbol("BTC/USD")
    assert not looks_like_option_symbol("12345678-1234-1234-1234-123456789012")


def test_crypto_quantities_keep_nine_decimals_cut_toward_zero() -> None:
    """0.1234567899 BTC is kept as 0.123456789 (never rounded up past what is held)."""
    assert crypto_qty(D("0.1234567899")) == D("0.123456789")
    assert crypto_qty(D("-0.1234567899")) == D("-0.123456789")
    assert position_key(" btc/usd ") == position_key("BTCUSD") == "BTCUSD"
