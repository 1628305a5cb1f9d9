"""``--json`` output never prints NaN, Infinity or an absurd number without a word (issue 11
item 5): a NaN or an infinity is ``null``, and every such value is named on stderr."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from alpaca_integration.cli._output import print_json
from support.storage_builders import make_position


def test_json_output_shows_nan_and_infinity_as_null_and_names_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    positions = [
        make_position("AAPL", "10"),
        make_position("MSFT", "1", market_value=Decimal("NaN"), cost_basis=Decimal("-Infinity")),
        make_position("TSLA", "1", unrealized_pl=Decimal("1e400")),
    ]
    print_json(positions)
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert rows[0]["qty"] == "10"
    assert rows[1]["market_value"] is None
    assert rows[1]["cost_basis"] is None
    assert rows[2]["unrealized_pl"] == "1E+400"
    assert "NaN" not in out
    assert "Infinity" not in out
    assert "[1].market_value = NaN" in err
    assert "[1].cost_basis = -Infinity" in err
    assert "[2].unrealized_pl = 1E+400" in err


def test_json_output_of_sane_numbers_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    print_json([make_position("AAPL", "10")])
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["qty"] == "10"
    assert err == ""
