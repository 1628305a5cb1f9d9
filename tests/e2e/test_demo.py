"""`alpacactl demo`: the main job on a fresh machine, with nothing configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_runs_with_no_configuration_and_ends_equal(tmp_path: Path) -> None:
    """Nothing configured: tables, "store equals the simulator", the SQLite path, exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    db = tmp_path / "demo.db"
    alpacactl = str(Path(sys.executable).parent / "alpacactl")
    result = subprocess.run(
        # always-open: with real NYSE hours the run would change with the time of day.
        [alpacactl, "demo", "--duration", "10", "--db", str(db), "--clock", "always-open"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for table in ("Account", "Positions", "Orders", "Fills"):
        assert table in out
    assert "store equals the simulator's state" in out
    assert str(db) in out
    assert db.is_file()
    for kind in ("market", "limit", "stop", "trailing_stop", "bracket", "oco"):
        assert kind in out
    assert "replaced" in out
    assert "canceled" in out
    assert "api.alpaca.markets" not in out
    assert "clock: always-open" in out
    report = tmp_path / "demo_report.html"
    assert f"report written: {report}" in out
    assert 'data-chart="equity"' in report.read_text(encoding="utf-8")


def test_demo_refuses_an_unknown_clock(tmp_path: Path) -> None:
    """`--clock` other than always-open/market: exit 2 with an error naming the valid choices."""
    alpacactl = str(Path(sys.executable).parent / "alpacactl")
    result = subprocess.run(
        [alpacactl, "demo", "--clock", "weekends", "--db", str(tmp_path / "x.db")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "always-open or market" in result.stderr
    assert not (tmp_path / "x.db").exists()
