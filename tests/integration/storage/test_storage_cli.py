"""`alpacactl db upgrade | current | downgrade` against real databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alpaca_integration.cli.main import app
from alpaca_integration.storage import head_revision

runner = CliRunner()


def _db(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["db", *args])
    return result.exit_code, result.output


@pytest.mark.postgres
def test_db_upgrade_current_and_downgrade_on_postgres(postgres_url: str) -> None:
    """upgrade creates the schema, current reports it, downgrade --yes removes it."""
    code, out = _db("current", "--url", postgres_url)
    assert code == 0
    assert "no schema yet" in out
    code, out = _db("upgrade", "--url", postgres_url)
    assert (code, f"to {head_revision()}" in out) == (0, True)
    code, out = _db("upgrade", "--url", postgres_url)
    assert (code, "already at" in out) == (0, True)
    code, out = _db("current", "--url", postgres_url)
    assert (code, "up to date" in out) == (0, True)
    code, out = _db("downgrade", "base", "--url", postgres_url)
    assert code == 2
    assert "--yes" in out
    code, out = _db("downgrade", "base", "--url", postgres_url, "--yes")
    assert (code, "to base" in out) == (0, True)


def test_db_commands_read_the_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --url, ALPACA_DATABASE_URL is used."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ALPACA_DATABASE_URL", url)
    code, out = _db("upgrade")
    assert code == 0
    assert str(tmp_path / "cli.db") in out


def test_db_errors_are_one_line_without_a_traceback(tmp_path: Path) -> None:
    """A bad URL or an unknown revision exits 2 (bad input) with a message saying what to do."""
    code, out = _db("current", "--url", "mysql://root@localhost/x")
    assert code == 2
    assert "unsupported database" in out
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    code, out = _db("upgrade", "--url", url, "--revision", "nope")
    assert code == 2
    assert "Known revisions" in out
    assert "Traceback" not in out
