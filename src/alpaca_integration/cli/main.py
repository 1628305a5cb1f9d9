"""``alpacactl``: the root Typer app. Each command group lives in its own module with a
``register(app)`` function; nothing heavy is imported at start-up."""

from __future__ import annotations

import typer

from alpaca_integration.cli import correctness, db, monitor, sim, trading

__all__ = ["app", "run"]

app = typer.Typer(
    name="alpacactl",
    help="Alpaca broker state in your own database: trade, sync, monitor, reconcile, simulate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the package version."""
    from alpaca_integration import __version__

    typer.echo(__version__)


for _module in (trading, sim, db, monitor, correctness):
    _module.register(app)
__import__("alpaca_integration.cli.dashboard", fromlist=["register"]).register(app)


def run() -> None:
    """Console-script entry point."""
    app()
