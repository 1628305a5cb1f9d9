"""One rule for how ``alpacactl`` ends: the exit codes, and the one place errors become one line.

Exit codes (the same for every command; also in ``alpacactl --help`` and the README):

* ``0`` done;
* ``1`` a runtime failure: the broker, the database, the cache or Prefect failed or could not be
  reached, or the venue refused the request (404, buying power, ...);
* ``2`` bad input or configuration: a setting, the accounts file, a risk table or a command-line
  option is wrong; nothing was attempted;
* ``3`` refused by a check: a pre-trade risk limit refused the order (nothing was sent),
  ``risk check`` says no, ``dq --strict`` found an error, ``demo`` found the store differs.

:class:`ErrorBoundary` is the root command group: whatever a command raises ends as one
``error: ...`` line on stderr and the code :func:`classify` gives, never a traceback. A command
that has something to say itself raises :func:`fail`. Only an error of no known kind (a bug)
keeps its traceback.

Imports only typer and the package's ``errors``; the drivers whose errors it classifies
(asyncpg, SQLAlchemy, redis, httpx, websockets) are recognised by the module of their class, so
``alpacactl --help`` loads none of them.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from alpaca_integration.errors import (
    AlpacaIntegrationError,
    ConfigError,
    OrderValidationError,
    RiskLimitError,
)

__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "ErrorBoundary",
    "bad_input",
    "classify",
    "fail",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 a runtime failure (the broker, the database, the cache or Prefect "
    "failed or could not be reached, or the venue refused the request); 2 bad input or "
    "configuration (nothing was attempted); 3 refused by a check (a risk limit, risk check, "
    "dq --strict, demo's comparison)."
)

# Packages whose exceptions mean a service failed or could not be reached.
_SERVICE_PACKAGES = frozenset(
    {"asyncpg", "sqlalchemy", "aiosqlite", "sqlite3", "redis", "httpx", "httpcore", "websockets"}
)
# Driver errors that mean the configured database URL itself is wrong (the server answered).
_BAD_DATABASE_URL = {
    "InvalidCatalogNameError": "names a database that does not exist on the server. Fix: "
    "create it (e.g. createdb) or point ALPACA_DATABASE_URL at an existing database",
    "InvalidPasswordError": "was refused by the server (user or password). Fix: correct the "
    "user and password in ALPACA_DATABASE_URL",
    "InvalidAuthorizationSpecificationError": "was refused by the server (no such role). Fix: "
    "correct the user in ALPACA_DATABASE_URL",
}


def fail(message: str, code: int = EXIT_FAILURE) -> typer.Exit:
    """Print ``error: message`` on stderr and return the ``typer.Exit`` to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=code)


def bad_input(option: str, reason: str) -> typer.Exit:
    """``fail`` for a command-line value: ``error: OPTION: reason``, exit 2."""
    return fail(f"{option}: {reason}", EXIT_USAGE)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _from_service(exc: BaseException) -> bool:
    return any(
        cls.__module__.split(".", 1)[0] in _SERVICE_PACKAGES for cls in type(exc).__mro__
    ) or isinstance(exc, OSError | TimeoutError)


def classify(exc: BaseException) -> tuple[int, str] | None:
    """The exit code and the one line for ``exc``; None for an error of no known kind (a bug,
    which keeps its traceback)."""
    if isinstance(exc, BaseExceptionGroup):
        # A task group's failure: the first error that is not a cancellation speaks for it.
        verdicts = [classify(inner) for inner in exc.exceptions]
        return next((v for v in verdicts if v is not None), None)
    if isinstance(exc, ConfigError):
        return EXIT_USAGE, str(exc)
    if isinstance(exc, OrderValidationError):
        return EXIT_USAGE, f"invalid order: {exc}"
    if isinstance(exc, RiskLimitError):
        return EXIT_REFUSED, f"RiskLimitError: {exc}"
    if isinstance(exc, AlpacaIntegrationError):
        return EXIT_FAILURE, f"{type(exc).__name__}: {exc}"
    bad_url = _BAD_DATABASE_URL.get(type(exc).__name__)
    if bad_url is not None:
        return EXIT_USAGE, f"ALPACA_DATABASE_URL {bad_url} ({_one_line(str(exc))})"
    if _from_service(exc):
        return EXIT_FAILURE, f"{type(exc).__name__}: {_one_line(str(exc)) or 'no detail'}"
    return None


class ErrorBoundary(TyperGroup):
    """The root group of ``alpacactl``: every command runs inside :meth:`invoke`, so every error
    ends the same way (one line, one code)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            # Typer's own endings: an exit code chosen on purpose, Ctrl-C, a usage error.
            raise
        except Exception as exc:
            verdict = classify(exc)
            if verdict is None:
                raise
            code, line = verdict
            raise fail(_one_line(line), code) from None
