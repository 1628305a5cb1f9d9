"""``alpacactl``: the root Typer app. Each command group lives in its own module with a
``register(app)`` function; nothing heavy is imported at start-up.

The root group is ``cli._errors.ErrorBoundary``: every command's errors end as one line and one
exit code (listed in the help's epilog and the README).
"""

from __future__ import annotations

import typer

from alpaca_integration.cli import correctness, db, ledger, monitor, options, sim, trading
from alpaca_integration.cli._errors import EXIT_CODES_HELP, ErrorBoundary

__all__ = ["app", "run"]

app = typer.Typer(
    name="alpacactl",
    help="Alpaca broker state in your own database: trade, sync, monitor, reconcile, simulate.",
    epilog=EXIT_CODES_HELP,
    cls=ErrorBoundary,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the package version."""
    from alpaca_integration import __version__

    typer.echo(__version__)


for _module in (trading, options, sim, db, monitor, correctness, ledger):
    _module.register(app)
__import__("alpaca_integration.cli.dashboard", fromlist=["register"]).register(app)


def run() -> None:
    """Console-script entry point."""
    app()
