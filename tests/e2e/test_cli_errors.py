"""alpacactl's one rule for endings: every command, given a bad setting, says so in one line with
exit code 2 (no traceback); a service that cannot be reached is one line with exit code 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from alpaca_integration.cli.main import app
from support.cli_runs import one_error_line

RUNNER = CliRunner()

# The arguments each command needs to get as far as reading its settings. A command added to
# alpacactl without an entry here fails test_every_command_is_covered.
ARGS: dict[str, list[str]] = {
    "account": [],
    "positions": [],
    "orders": [],
    "activities": [],
    "clock": [],
    "calendar": [],
    "assets": [],
    "order submit": ["AAPL", "buy", "--qty", "1"],
    "order get": ["some-order-id"],
    "order replace": ["some-order-id", "--qty", "2"],
    "order cancel": ["some-order-id"],
    "position close": ["AAPL"],
    "position exercise": ["AAPL250620C00195000"],
    "options chain": ["AAPL"],
    "monitor": ["--no-status", "--duration", "1"],
    "sync": ["--no-progress"],
    "flows serve": [],
    "flows deploy": [],
    "db upgrade": [],
    "db current": [],
    "db downgrade": ["base", "--yes"],
    "dq": [],
    "reconcile": [],
    "risk show": [],
    "risk check": ["AAPL", "--side", "buy", "--qty", "1"],
    "dashboard": ["--port", "0"],
    "pnl": [],
    "lots": [],
    "performance": [],
    "report": ["--out", "report.html"],
    "export trades": ["--format", "csv"],
}
# Commands that read no ALPACA_* setting at all: nothing to get wrong.
NO_SETTINGS = {"version", "sim", "demo", "flows status"}
# Commands that read only the settings (the database URL), not the accounts and their keys: the
# ledger's read-outs report the accounts the store holds.
SETTINGS_ONLY = {
    "db upgrade",
    "db current",
    "db downgrade",
    "pnl",
    "lots",
    "performance",
    "report",
    "export trades",
}
# Commands that read the accounts file's names but use no key or broker URL (read-only pages).
NO_KEYS = {"dashboard"}
ACCOUNTS_FILE_ERRORS = {"accounts file is a directory", "accounts file not UTF-8"}


def _command_paths() -> list[str]:
    def walk(command: object, prefix: str) -> list[str]:
        children = getattr(command, "commands", None)
        if not children:
            return [prefix]
        return [
            path for name, child in children.items() for path in walk(child, f"{prefix} {name}")
        ]

    return sorted(path.strip() for path in walk(typer.main.get_command(app), ""))


def _run(tmp_path: Path, command: str, env: dict[str, str | None]) -> tuple[int, str]:
    base: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith(("ALPACA_", "PREFECT_API"))
    }
    base.update(
        ALPACA_API_KEY="PKTESTKEY",
        ALPACA_SECRET_KEY="not-a-real-secret",
        ALPACA_DATABASE_URL=f"sqlite:///{tmp_path / 'store.db'}",
        PREFECT_API_URL="http://127.0.0.1:9/api",
    )
    base.update(env)
    result = RUNNER.invoke(app, [*command.split(), *ARGS[command]], env=base)
    return result.exit_code, result.output


def test_every_command_is_covered() -> None:
    """Every alpacactl command is either exercised below or reads no setting at all."""
    assert set(_command_paths()) == set(ARGS) | NO_SETTINGS


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no .env file in reach."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


SETTINGS_ERRORS = {
    "update interval 0": ({"ALPACA_UPDATE_INTERVAL": "0"}, "ALPACA_UPDATE_INTERVAL"),
    "unknown database kind": ({"ALPACA_DATABASE_URL": "mysql://x@h/db"}, "ALPACA_DATABASE_URL"),
}


@pytest.mark.parametrize("setting", sorted(SETTINGS_ERRORS))
@pytest.mark.parametrize("command", sorted(ARGS))
def test_a_bad_setting_is_one_line_and_exit_2(in_tmp: Path, command: str, setting: str) -> None:
    """An invalid ALPACA_* setting: exit 2 and one `error:` line naming it, for every command."""
    env, name = SETTINGS_ERRORS[setting]
    code, output = _run(in_tmp, command, env)
    assert name in one_error_line(output)
    assert code == 2, output


def _account_errors(tmp_path: Path) -> dict[str, tuple[dict[str, str | None], str]]:
    not_utf8 = tmp_path / "latin1.toml"
    not_utf8.write_bytes(
        '[accounts.main]\napi_key = "caf\xe9"\nsecret_key = "s"\n'.encode("latin-1")
    )
    return {
        "accounts file is a directory": (
            {"ALPACA_ACCOUNTS_FILE": str(tmp_path)},
            "ALPACA_ACCOUNTS_FILE",
        ),
        "accounts file not UTF-8": (
            {"ALPACA_ACCOUNTS_FILE": str(not_utf8)},
            "ALPACA_ACCOUNTS_FILE",
        ),
        "secret not ASCII": ({"ALPACA_SECRET_KEY": "s\u00e9cret"}, "ALPACA_SECRET_KEY"),
        "base URL port out of range": (
            {"ALPACA_BASE_URL": "http://127.0.0.1:99999"},
            "ALPACA_BASE_URL",
        ),
    }


ACCOUNT_ERRORS = [
    "accounts file is a directory",
    "accounts file not UTF-8",
    "secret not ASCII",
    "base URL port out of range",
]


@pytest.mark.parametrize(
    ("command", "mistake"),
    [
        (command, mistake)
        for command in sorted(set(ARGS) - SETTINGS_ONLY)
        for mistake in ACCOUNT_ERRORS
        # A command that uses no key or broker URL has only the accounts file to refuse.
        if command not in NO_KEYS or mistake in ACCOUNTS_FILE_ERRORS
    ],
)
def test_a_bad_account_setting_is_one_line_and_exit_2(
    in_tmp: Path, command: str, mistake: str
) -> None:
    """A broken accounts file, key or URL: exit 2 and one line naming the setting, for every
    command that acts for an account (never a traceback, never a cryptic codec error)."""
    env, name = _account_errors(in_tmp)[mistake]
    code, output = _run(in_tmp, command, env)
    assert name in one_error_line(output)
    assert code == 2, output


@pytest.mark.parametrize(
    ("options", "option"),
    [
        (["--interval", "-1"], "--interval"),
        (["--interval", "0"], "--interval"),
        (["--duration", "-1"], "--duration"),
        (["--reconcile-every", "-5"], "--reconcile-every"),
        (["--log-level", "LOUD"], "--log-level"),
    ],
)
def test_monitor_refuses_bad_option_values(in_tmp: Path, options: list[str], option: str) -> None:
    """`monitor --interval 0` no longer silently means 60, and negative times are refused: exit 2
    with one line naming the option, as ALPACA_UPDATE_INTERVAL=0 is refused."""
    env = {"ALPACA_API_KEY": "PKTESTKEY", "ALPACA_SECRET_KEY": "not-a-real-secret"}
    result = RUNNER.invoke(app, ["monitor", "--no-status", *options], env=env)
    assert option in one_error_line(result.output)
    assert result.exit_code == 2, result.output


def _alpacactl(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    clean.update(ALPACA_API_KEY="PKTESTKEY", ALPACA_SECRET_KEY="not-a-real-secret", **env)
    alpacactl = str(Path(sys.executable).parent / "alpacactl")
    return subprocess.run(
        [alpacactl, *args], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=90
    )


@pytest.mark.postgres
def test_monitor_with_postgresql_unreachable_at_start_is_one_line(tmp_path: Path) -> None:
    """The monitor started against a PostgreSQL nobody answers: exit 1, one line, no traceback."""
    result = _alpacactl(
        tmp_path,
        {"ALPACA_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/store"},
        "monitor",
        "--no-status",
        "--duration",
        "5",
    )
    line = one_error_line(result.stderr)
    assert "127.0.0.1:1" in line
    assert result.returncode == 1, result.stderr


@pytest.mark.postgres
def test_a_database_that_does_not_exist_is_a_configuration_error(
    tmp_path: Path, postgres_url: str
) -> None:
    """A PostgreSQL URL naming a database the server does not have: exit 2, one line naming
    ALPACA_DATABASE_URL and the fix."""
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database_for_alpacactl"
    result = _alpacactl(tmp_path, {"ALPACA_DATABASE_URL": missing}, "dq")
    line = one_error_line(result.stderr)
    assert "ALPACA_DATABASE_URL" in line
    assert "does not exist" in line
    assert result.returncode == 2, result.stderr


def test_a_broker_nobody_answers_is_one_line_and_exit_1(in_tmp: Path) -> None:
    """A base URL where nothing listens: the command fails at run time, exit 1, one line."""
    env = {"ALPACA_BASE_URL": "http://127.0.0.1:9"}
    code, output = _run(in_tmp, "clock", env)
    line = one_error_line(output)
    assert "no connection to the venue" in line, line
    assert code == 1, output


def test_the_exit_codes_are_in_the_help() -> None:
    """`alpacactl --help` lists the exit codes (the same rule the README documents)."""
    result = RUNNER.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for code in ("0 done", "1 a runtime failure", "2 bad input or configuration", "3 refused"):
        assert code in text
