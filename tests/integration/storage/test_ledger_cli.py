"""`alpacactl pnl | lots | performance | report | export trades` over a stored session (SQLite)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alpaca_integration.cli.main import app
from support.ledger_fills import DIVIDEND, store_ledger_session

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("ALPACA_DATABASE_URL", url)
    asyncio.run(store_ledger_session(url))
    return url


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _json(*args: str) -> dict[str, object]:
    code, out = _run(*args, "--json")
    assert code == 0, out
    return dict(json.loads(out))


def test_pnl_by_symbol_strategy_and_day(database: str) -> None:
    """FIFO: the sale closes 10 @ 100 and 5 @ 110: gross 200 + 50, fees 1 + 0.5; the dividend is
    AAPL's income; the open lots are valued at the positions' price (190)."""
    rows = {r["symbol"]: r for r in _json("pnl")["rows"]}  # type: ignore[union-attr]
    assert Decimal(rows["AAPL"]["realized_gross"]) == Decimal("250")
    assert Decimal(rows["AAPL"]["fees"]) == Decimal("1.5")
    assert Decimal(rows["AAPL"]["realized_net"]) == Decimal("248.5")
    assert Decimal(rows["AAPL"]["income"]) == DIVIDEND.net_amount
    assert Decimal(rows["AAPL"]["unrealized"]) == Decimal("400")  # 5 * (190 - 110)
    assert Decimal(rows["MSFT"]["unrealized"]) == Decimal("560")  # 4 * (190 - 50)
    strategies = {r["strategy"]: r for r in _json("pnl", "--by", "strategy")["rows"]}  # type: ignore[union-attr]
    assert Decimal(strategies["momo"]["unrealized"]) == Decimal(560)
    assert Decimal(strategies["default"]["realized_net"]) == Decimal("248.5")
    days = _json("pnl", "--by", "day")["rows"]
    assert [Decimal(d["realized_net"]) for d in days] == [Decimal("248.5")]  # type: ignore[index]
    later = _json("pnl", "--by", "day", "--since", "2030-01-01")["rows"]
    assert later == []


def test_lots_and_performance(database: str) -> None:
    lots = _json("lots", "AAPL")["lots"]
    assert [(Decimal(v["lot"]["qty"]), Decimal(v["lot"]["cost"])) for v in lots] == [(5, 550)]  # type: ignore[index]
    figures = _json("performance")["performance"]
    assert figures["days"] == 2  # type: ignore[index]  # two daily returns from three days
    assert figures["time_weighted_return"] == pytest.approx(0.005)  # type: ignore[index]
    assert figures["win_rate"] == 1.0  # type: ignore[index]
    code, out = _run("lots")
    assert code == 0
    assert "MSFT" in out
    assert "momo" in out


def test_export_trades_for_portfolio_performance_and_ghostfolio(database: str) -> None:
    code, out = _run("export", "trades", "--format", "csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["Type"] for r in rows] == ["Buy", "Buy", "Dividend", "Sell", "Buy"]
    assert (rows[0]["Shares"], rows[0]["Value"], rows[0]["Fees"]) == ("10", "1001", "1")
    assert (rows[3]["Value"], rows[3]["Ticker Symbol"]) == ("1799.5", "AAPL")
    code, out = _run("export", "trades", "--for", "ghostfolio")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["Action"] for r in rows] == ["buy", "buy", "dividend", "sell", "buy"]
    assert (rows[3]["Price"], rows[3]["Quantity"], rows[3]["Fee"]) == ("120", "15", "0.5")


def test_report_is_one_self_contained_file(database: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, text = _run("report", "--out", str(out))
    assert code == 0, text
    assert str(out) in text
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", page)  # plotly's JS is inline
    assert page.count('class="chart"') == 7


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["pnl", "--by", "month"], "--by"),
        (["pnl", "--since", "yesterday"], "YYYY-MM-DD"),
        (["export", "trades", "--format", "xml"], "only csv"),
        (["export", "trades", "--for", "excel"], "ghostfolio"),
        (["report", "--out", "/nonexistent/dir/r.html"], "existing directory"),
        (["order", "submit", "AAPL", "buy", "--qty", "1", "--strategy", "9bad"], "--strategy"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(database: str, args: list[str], needle: str) -> None:
    code, out = _run(*args)
    assert code == 2, out
    assert needle in out
    assert "Traceback" not in out


def test_an_accounts_files_ledger_method_is_how_lots_are_matched(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ledger_method = "lifo"``: the sale of 15 closes 10 @ 110 and 5 @ 100 (gross 100 + 100),
    where the stored FIFO ledger closed 10 @ 100 and 5 @ 110 (it is rebuilt for the new method);
    a bad method is refused naming the setting."""
    fifo = {r["symbol"]: r for r in _json("pnl")["rows"]}  # type: ignore[union-attr]
    assert Decimal(fifo["AAPL"]["realized_gross"]) == Decimal(250)
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[accounts.default]\napi_key = "PK1"\nsecret_key = "S1"\nledger_method = "lifo"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("ALPACA_ACCOUNTS_FILE", str(accounts))
    rows = {r["symbol"]: r for r in _json("pnl")["rows"]}  # type: ignore[union-attr]
    assert Decimal(rows["AAPL"]["realized_gross"]) == Decimal(200)
    lots = _json("lots", "AAPL")["lots"]
    assert [Decimal(v["lot"]["cost"]) for v in lots] == [Decimal(500)]  # type: ignore[index]
    accounts.write_text(accounts.read_text().replace('"lifo"', '"newest"'), encoding="utf-8")
    code, out = _run("pnl")
    assert code == 2, out
    assert "ledger_method" in out
