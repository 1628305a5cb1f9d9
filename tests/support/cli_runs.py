"""Running alpacactl in-process the way a user would (Typer's CliRunner, the ALPACA_* environment
exported, no .env or accounts file around), for the end-to-end CLI tests."""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

from typer.testing import CliRunner

from alpaca_integration.cli.main import app
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY

__all__ = [
    "RUNNER",
    "child_env",
    "cli",
    "cli_json",
    "one_error_line",
    "typed",
    "user_env",
]

RUNNER = CliRunner()


def user_env(base_url: str, api_key: str, secret_key: str) -> dict[str, Any]:
    """The environment a user would export for the venue at ``base_url`` (no Redis, no accounts
    file, a wide terminal so tables are not cut)."""
    return {
        "ALPACA_API_KEY": api_key,
        "ALPACA_SECRET_KEY": secret_key,
        "ALPACA_BASE_URL": base_url,
        "ALPACA_REDIS_URL": None,
        "ALPACA_ACCOUNTS_FILE": None,
        "COLUMNS": "250",
    }


def child_env(base_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of an ``alpacactl`` child process aimed at the simulator at ``base_url``
    and the store at ``database_url``: this process's environment without any ALPACA_* variable,
    the simulator's keys, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    env.update(
        ALPACA_API_KEY=SIM_API_KEY,
        ALPACA_SECRET_KEY=SIM_SECRET_KEY,
        ALPACA_BASE_URL=base_url,
        ALPACA_DATABASE_URL=database_url,
        **extra,
    )
    return env


def cli(env: dict[str, Any], *args: str, code: int = 0) -> str:
    """The output of ``alpacactl ARGS``, which must exit with ``code``."""
    result = RUNNER.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def cli_json(env: dict[str, Any], *args: str) -> Any:
    """``alpacactl ARGS --json``, parsed."""
    return json.loads(cli(env, *args, "--json"))


def one_error_line(output: str) -> str:
    """The one ``error: ...`` line a refused command prints: no traceback, nothing else."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output, output
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


def typed(line: str) -> list[str]:
    """The arguments of a command line as a user types it (``order submit AAPL buy --qty 5``)."""
    return shlex.split(line)
